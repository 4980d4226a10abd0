"""Open the device a target's link URL names: the URL scheme selects the backend, as pyserial's URLs select a transport.

``sim://<profile>`` is the simulated device; ``ssh://user@host[:port]`` a Linux board over SSH;
``adb://[SERIAL | HOST:PORT]`` an Android phone through the adb server; any other
``labgrid://COORDINATOR/PLACE`` a serial DUT in a labgrid place (acquired while open); any other
URL (``/dev/ttyACM0``, ``COM3``, ``socket://``, ``rfc2217://``, ``spy://``, ``loop://``) is a serial DUT
running MLPerf Tiny firmware. A new kind of device registers an opener for its scheme here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import ConfigError
from harness.core.progress import Progress
from harness.core.registry import Registry
from harness.devices.base import Device
from harness.devices.host_timing import HostTimings
from harness.devices.serial_dut import SerialDutDevice
from harness.devices.sim import SimulatedDevice
from harness.dut.modes import MLPERF, Rules
from harness.registry.places import SCHEME
from harness.registry.targets import TargetProfile
from harness.rundir.directory import RunDirectory
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import ModelInput


@dataclass(frozen=True)
class DeviceSettings:
    """How the run drives its devices: seed, host runtime options, a DUT's window rules and inputs, progress."""

    seed: int = 0
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    rules: Rules = MLPERF
    inputs: Sequence[ModelInput] | None = None
    progress: Progress | None = None
    verify_loads: bool = False  # a DUT reads every loaded input back (db print): for links that corrupt bytes
    own_logs: bool = False  # a DUT's transcript and monitor log named by its target: devices measured at once
    host_timings: HostTimings | None = None  # the run's: simulated targets share one host timing per model


Opener = Callable[[TargetProfile, RunDirectory, DeviceSettings], Device]
BACKENDS: Registry[Opener] = Registry("device link scheme")
BACKENDS.add("sim", lambda target, run, s: SimulatedDevice(target, seed=s.seed, options=s.options,
                                                           host_timings=s.host_timings))


def _ssh(target: TargetProfile, run: RunDirectory, s: DeviceSettings) -> Device:
    """A Linux board over SSH (imported when a run has one: asyncssh takes a tenth of a second to import)."""
    from harness.devices.ssh.device import SshDevice

    return SshDevice(target, run, seed=s.seed, options=s.options, progress=s.progress)


def _adb(target: TargetProfile, run: RunDirectory, s: DeviceSettings) -> Device:
    """An Android phone through the adb server (imported when a run has one)."""
    from harness.devices.adb.device import AdbDevice

    return AdbDevice(target, run, options=s.options, progress=s.progress)


BACKENDS.add("ssh", _ssh)
BACKENDS.add("adb", _adb)


def _serial_options(target: TargetProfile, s: DeviceSettings) -> dict[str, Any]:
    return {"seed": s.seed, "rules": s.rules, "monitor": target.power_monitor, "inputs": s.inputs,
            "progress": s.progress, "verify_loads": s.verify_loads, "own_logs": s.own_logs}


def _serial(target: TargetProfile, run: RunDirectory, s: DeviceSettings) -> Device:
    return SerialDutDevice(target, run, **_serial_options(target, s))


def _farm(target: TargetProfile, run: RunDirectory, s: DeviceSettings) -> Device:
    """A serial DUT in a labgrid place (the ``[farm]`` extra, imported only for such a link)."""
    from harness.devices.farm import require_labgrid

    require_labgrid(target.link.url)
    from harness.devices.farm.device import open_place

    return open_place(target, run, **_serial_options(target, s))


BACKENDS.add(SCHEME, _farm)


def serial_scheme(scheme: str) -> bool:
    """A port path (no scheme) or one of pyserial's URL handlers (``serial.urlhandler.protocol_<scheme>``)."""
    if not scheme or len(scheme) == 1:  # a path, or a Windows drive letter
        return True
    return importlib.util.find_spec(f"serial.urlhandler.protocol_{scheme}") is not None


def serial_link(url: str) -> bool:
    """The link reaches an MLPerf Tiny DUT over serial: a port, a pyserial URL, or a labgrid place's serial port."""
    scheme = urlsplit(url).scheme.lower()
    return scheme == SCHEME or (scheme not in BACKENDS and serial_scheme(scheme))


def open_device(target: TargetProfile, run: RunDirectory, settings: DeviceSettings) -> Device:
    """The device behind ``target.link``; its logs and resumable windows go to ``run``."""
    scheme = urlsplit(target.link.url).scheme.lower()
    if scheme in BACKENDS:
        return BACKENDS.get(scheme)(target, run, settings)
    if serial_scheme(scheme):
        return _serial(target, run, settings)
    raise ConfigError(f"target '{target.name}': link URL '{target.link.url}' has an unknown scheme '{scheme}'",
                      hint=f"valid: {', '.join(f'{s}://' for s in BACKENDS.names())}, a serial port (/dev/ttyACM0, "
                           "COM3) or a pyserial URL (socket://, rfc2217://, spy://, loop://)")
