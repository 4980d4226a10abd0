"""A labgrid place held by this process: acquired through the coordinator's gRPC API, released in all cases.

The place's exported ``NetworkSerialPort`` (ser2net in RFC 2217 mode for a USB or raw serial port, or a
raw TCP port) becomes the pyserial URL the MLPerf Tiny DUT client opens. While a place is held, SIGTERM
and SIGHUP unwind like Ctrl-C, so the ``finally`` that releases it runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from labgrid.remote.client import ClientSession, start_session
from labgrid.remote.client import Error as LabgridError
from labgrid.remote.common import Place
from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

from harness.core.errors import ConfigError, DeviceError
from harness.core.progress import Progress
from harness.registry.places import DEFAULT_PORT, PlaceRef

POLL_S = 0.5
SYNC_WAIT_S = 10.0
EXPORT_WAIT_S = 15.0  # the exporter starts ser2net when the place is acquired, then publishes its port
T = TypeVar("T")
log = logging.getLogger("harness.devices.farm")


@dataclass(frozen=True)
class SerialEndpoint:
    """Where a place's serial port listens, as a pyserial URL, and the UART speed its exporter declares."""

    url: str
    speed: int
    resource: str  # exporter/group/class/name, for messages and the run's records


def coordinator_address(ref: PlaceRef) -> str:
    """The URL's coordinator, else ``$LG_COORDINATOR`` (labgrid's own variable), else 127.0.0.1."""
    return ref.coordinator or os.environ.get("LG_COORDINATOR") or f"127.0.0.1:{DEFAULT_PORT}"


def serial_url(params: dict[str, Any]) -> str:
    """A NetworkSerialPort's parameters as the URL the DUT client opens.

    RFC 2217 servers (ser2net) may not confirm every control-line change, so ``ign_set_control``;
    a raw port is a plain TCP stream.
    """
    host, port, protocol = params.get("host"), params.get("port"), params.get("protocol", "rfc2217")
    if protocol == "rfc2217":
        return f"rfc2217://{host}:{port}?ign_set_control"
    if protocol == "raw":
        return f"socket://{host}:{port}"
    raise DeviceError(f"NetworkSerialPort at {host}:{port} speaks '{protocol}'",
                      hint="the exporter's NetworkSerialPort protocol must be rfc2217 or raw")


class Lease:
    """A place acquired on a coordinator; ``release()`` gives it back (once; later calls do nothing)."""

    def __init__(self, ref: PlaceRef, session: ClientSession, place: str, endpoint: SerialEndpoint,
                 restore: Callable[[], None]) -> None:
        self.ref = ref
        self.session = session
        self.place = place
        self.endpoint = endpoint
        self.holder = holder_name(session)
        self.coordinator = session.address
        self._restore = restore
        self._released = False

    def record(self) -> dict[str, Any]:
        """The lease as a run's deployment details record it."""
        return {"labgrid_url": self.ref.url(), "labgrid_coordinator": self.coordinator,
                "labgrid_place": self.place, "labgrid_holder": self.holder,
                "labgrid_resource": self.endpoint.resource, "labgrid_speed": self.endpoint.speed}

    def release(self, strict: bool = True) -> None:
        """Release the place and close the session; ``strict=False`` (an error is already on its way) logs a
        failed release as a warning instead of letting it hide that error."""
        if self._released:
            return
        self._released = True
        try:
            _release(self.session, self.place, self.holder)
        except DeviceError as exc:
            if strict:
                raise
            log.warning("%s (%s)", exc.message, exc.hint)
        finally:
            _close(self.session)
            self._restore()


def holder_name(session: ClientSession) -> str:
    """``host/user``, as the coordinator records who holds a place (``LG_HOSTNAME`` / ``LG_USERNAME`` override)."""
    return f"{session.gethostname()}/{session.getuser()}"


def acquire(ref: PlaceRef, progress: Progress | None = None) -> Lease:
    """Acquire the place ``ref`` names (the first idle one of its tag), waiting up to ``ref.wait_s`` while
    every candidate is held; the error names who holds them."""
    restore = _unwind_on_termination()
    session: ClientSession | None = None
    tried: list[str] = []  # places asked for: on a failure, whichever of them became ours is given back
    try:
        session = _connect(ref)
        place = _acquire_place(session, ref, progress, tried)
        endpoint = _serial_endpoint(session, ref, place)
        return Lease(ref, session, place, endpoint, restore)
    except BaseException:
        if session is not None:
            _give_back(session, tried)
            _close(session)
        restore()
        raise


def _connect(ref: PlaceRef) -> ClientSession:
    address = coordinator_address(ref)
    try:
        return start_session(address)
    except (LabgridError, grpc.RpcError, OSError) as exc:
        raise DeviceError(f"cannot reach the labgrid coordinator at {address} for {ref.label}: {exc}",
                          hint="start it with 'labgrid-coordinator --listen HOST:PORT', or name the right one "
                               "(labgrid://HOST:PORT/..., --coordinator, $LG_COORDINATOR)") from None


def _run(session: ClientSession, awaitable: Awaitable[T]) -> T:
    return session.loop.run_until_complete(awaitable)


def _sync(session: ClientSession) -> None:
    """Wait until the coordinator's updates so far have arrived (bounded; skipped once the stream has ended,
    where labgrid's own wait would never return)."""
    if session.stopping.is_set():
        return
    try:
        _run(session, asyncio.wait_for(session.sync_with_coordinator(), SYNC_WAIT_S))
    except asyncio.TimeoutError:
        log.warning("the coordinator at %s did not answer a sync within %g s", session.address, SYNC_WAIT_S)


def _candidates(session: ClientSession, ref: PlaceRef) -> list[Place]:
    places: dict[str, Place] = session.places
    if ref.name is not None:
        if ref.name not in places:
            known = ", ".join(sorted(places)) or "none"
            raise ConfigError(f"the coordinator at {session.address} has no place '{ref.name}' (places: {known})",
                              hint=f"create it: labgrid-client -x {session.address} -p {ref.name} create, "
                                   "then add-match EXPORTER/GROUP/NetworkSerialPort")
        return [places[ref.name]]
    wanted = dict(ref.tags)
    found = [p for _, p in sorted(places.items()) if all(p.tags.get(k) == v for k, v in wanted.items())]
    if not found:
        raise ConfigError(f"no place on the coordinator at {session.address} is tagged "
                          + ", ".join(f"{k}={v}" for k, v in ref.tags),
                          hint="tag one: labgrid-client -p PLACE set-tags KEY=VALUE")
    return found


def _state(place: Place, me: str, refused: dict[str, str]) -> str:
    """Why ``place`` is not ours: who holds it since when, its reservation, or what the coordinator said."""
    if place.acquired:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(place.changed))
        yours = " (you: another harness session, or your own 'labgrid-client acquire')" if place.acquired == me else ""
        return f"'{place.name}' is held by {place.acquired}{yours} since {since}"
    if place.reservation:
        return f"'{place.name}' is reserved (token {place.reservation})"
    return f"'{place.name}': {refused.get(place.name, 'busy')}"  # e.g. a resource it matches is in another place


def _acquire_place(session: ClientSession, ref: PlaceRef, progress: Progress | None, tried: list[str]) -> str:
    deadline = time.monotonic() + ref.wait_s
    refused: dict[str, str] = {}
    while True:
        candidates = _candidates(session, ref)
        for place in candidates:
            if place.acquired or place.reservation:
                continue
            tried.append(place.name)
            try:
                _run(session, session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=place.name)))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                    raise DeviceError(f"the coordinator at {session.address} refused to acquire '{place.name}': "
                                      f"{exc.details()}") from None
                refused[place.name] = exc.details() or str(exc.code())  # taken meanwhile, or a resource is busy
                continue
            _sync(session)
            return place.name
        busy = "; ".join(_state(p, holder_name(session), refused) for p in candidates)
        if time.monotonic() >= deadline:
            waited = f" after waiting {ref.wait_s:g} s" if ref.wait_s else ""
            raise DeviceError(f"{ref.label} on {session.address} is not free{waited}: {busy}",
                              hint="wait for it (--place-wait SECONDS, or wait=SECONDS in the labgrid URL), or ask "
                                   "the holder to run 'labgrid-client -p PLACE release'")
        if progress:
            progress(f"waiting for {ref.label}: {busy}", 0, 1)
        _run(session, asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic()))))


def _serial_endpoint(session: ClientSession, ref: PlaceRef, place_name: str) -> SerialEndpoint:
    """The place's NetworkSerialPort once its exporter has published where it listens."""
    deadline = time.monotonic() + EXPORT_WAIT_S
    while True:
        place = session.places[place_name]
        try:
            resources = session.get_target_resources(place)
        except LabgridError as exc:
            raise DeviceError(f"place '{place_name}' on {session.address}: {exc}") from None
        ports = {name: entry for (name, cls), entry in resources.items() if cls == "NetworkSerialPort"}
        if not ports:
            matched = ", ".join("/".join(path) for path in place.acquired_resources) or "no resource"
            raise ConfigError(f"place '{place_name}' has no serial port (it matches {matched})",
                              hint=f"labgrid-client -p {place_name} add-match EXPORTER/GROUP/NetworkSerialPort "
                                   "(a USBSerialPort or RawSerialPort is exported as one)")
        if ref.port_name is not None:
            if ref.port_name not in ports:
                raise ConfigError(f"place '{place_name}' has no serial port '{ref.port_name}' "
                                  f"(it has: {', '.join(sorted(ports))})", hint="fix port= in the labgrid URL")
            name = ref.port_name
        elif len(ports) > 1:
            raise ConfigError(f"place '{place_name}' has several serial ports: {', '.join(sorted(ports))}",
                              hint="choose one with &port=NAME in the labgrid URL")
        else:
            name = next(iter(ports))
        entry = ports[name]
        params = entry.params
        if (params.get("extra") or {}).get("proxy_required"):
            raise ConfigError(f"place '{place_name}': the exporter runs isolated (its ports are reached only "
                              "through an SSH proxy)", hint="run the exporter without --isolated on a network the "
                                                            "harness host can reach")
        if entry.avail and params.get("port"):
            return SerialEndpoint(serial_url(params), int(params.get("speed", 115200)), _path(place, name))
        if time.monotonic() >= deadline:
            state = "unavailable (board unplugged, or ser2net failed)" if not entry.avail else "not yet listening"
            raise DeviceError(f"place '{place_name}': serial port '{name}' is {state} after {EXPORT_WAIT_S:g} s",
                              hint="check the exporter's log on the host that has the board")
        _run(session, asyncio.sleep(POLL_S))


def _path(place: Place, name: str) -> str:
    """exporter/group/class/name of the acquired resource the place calls ``name``."""
    for path in place.acquired_resources:
        match = place.getmatch(tuple(path))
        if (match.rename if match and match.rename else path[3]) == name:
            return "/".join(path)
    return name


def _give_back(session: ClientSession, tried: list[str]) -> None:
    """Release each place in ``tried`` that this session's identity now holds (best effort: already failing)."""
    try:
        _sync(session)
        me = holder_name(session)
        for name in dict.fromkeys(tried):
            place = session.places.get(name)
            if place is not None and place.acquired == me:
                _release(session, name, me)
    except BaseException as exc:  # noqa: BLE001 - the error that brought us here is the one to report
        log.warning("while giving back %s: %s", ", ".join(tried), exc)


def _release(session: ClientSession, place: str, holder: str) -> None:
    """Release ``place`` if ``holder`` still holds it (the coordinator leaves it alone otherwise)."""
    try:
        _run(session, session.stub.ReleasePlace(pb.ReleasePlaceRequest(placename=place, fromuser=holder)))
        _sync(session)
    except (grpc.RpcError, LabgridError) as exc:
        raise DeviceError(f"could not release place '{place}' on {session.address}: {exc}",
                          hint=f"release it by hand: labgrid-client -x {session.address} -p {place} release") from None


def _close(session: ClientSession) -> None:
    try:
        _run(session, session.stop())
        _run(session, session.close())
    except BaseException:  # noqa: BLE001 - the coordinator may be gone; nothing is left to give back
        pass


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _unwind_on_termination() -> Callable[[], None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt while a place is held (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


@contextmanager
def held(ref: PlaceRef, progress: Progress | None = None) -> Iterator[Lease]:
    """``with held(ref) as lease:`` the place is released however the block ends."""
    lease = acquire(ref, progress)
    ok = False
    try:
        yield lease
        ok = True
    finally:
        lease.release(strict=ok)
