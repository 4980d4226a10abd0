"""A logged connection to one phone through the adb server (adbutils behind a small blocking API).

Every command, its output and every file copied go to the transcript; every failure is a DeviceError
that names the phone and cites the transcript. The harness never starts an adb server itself
(adbutils would launch one when the port is closed): a closed port is reported as such.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from harness.core.errors import ConfigError, DeviceError, DeviceTimeout
from harness.core.transcript import Transcript
from harness.devices.adb.address import AdbAddress
from harness.devices.benchmark_model.tool import NO_SPACE, ShellResult, wrong_architecture

try:
    import adbutils
except ImportError:  # the optional [boards] extra
    adbutils = None

T = TypeVar("T")
GONE_HINT = ("the phone left the adb server (rebooted, unplugged, its USB or Wi-Fi link dropped, or it shut down); "
             "check `adb devices`, then continue with --resume")


def server_listening(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether something accepts connections at the adb server's address (one TCP connect, nothing sent)."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


class AdbSession:
    """One phone: ``shell`` a command, ``push`` a file, ``read`` a file back."""

    def __init__(self, address: AdbAddress, transcript: Transcript, where: str, timeout_s: float = 10.0) -> None:
        if adbutils is None:
            raise ConfigError(f"{where}: adb links need adbutils", hint="pip install 'edge-harness[boards]'")
        self.address = address
        self.transcript = transcript
        self.where = where
        self.timeout_s = timeout_s
        self.client = adbutils.AdbClient(host=address.server_host, port=address.server_port,
                                         socket_timeout=timeout_s * 6)
        self.device: Any = None
        self.serial = address.serial or ""

    @property
    def label(self) -> str:
        return f"{self.where} ({self.serial or self.address.label} via adb server {self.address.server})"

    def error(self, message: str, hint: str | None = None, cls: type[DeviceError] = DeviceError) -> DeviceError:
        self.transcript.note(f"error: {message}")
        return cls(f"{self.label}: {message}", hint=hint, log_path=self.transcript.path)

    @contextmanager
    def _adb(self, step: str) -> Iterator[None]:
        """Transport failures of ``step`` as DeviceErrors; a closed server port is checked first (see module)."""
        if not server_listening(self.address.server_host, self.address.server_port, self.timeout_s):
            raise self.error(f"{step}: no adb server answers at {self.address.server}",
                             hint="start it with `adb start-server` (the harness does not start one); "
                                  "an adb server that died mid-run lost the phone's connection")
        try:
            yield
        except DeviceError:
            raise
        except adbutils.AdbTimeout as e:
            raise self.error(f"{step}: no answer within the timeout ({e})", cls=DeviceTimeout,
                             hint="check the phone is awake and attached; raise link.timeout_s for slow models") \
                from None
        except adbutils.AdbError as e:
            text = str(e)
            gone = "not found" in text or "offline" in text or "closed" in text or "no devices" in text.lower()
            raise self.error(f"{step}: {text or type(e).__name__}", hint=GONE_HINT if gone else None) from None
        except (OSError, EOFError) as e:
            raise self.error(f"connection lost during {step}: {e or type(e).__name__}{self._still_listed()}",
                             hint=GONE_HINT) from None

    def _still_listed(self) -> str:
        """After a lost connection: whether the server still lists the phone (a reboot or unplug removes it)."""
        if not self.serial or not server_listening(self.address.server_host, self.address.server_port, 1.0):
            return "; the adb server is gone too"
        try:
            listed = {info.serial: info.state for info in self.client.list()}
        except (adbutils.AdbError, OSError, EOFError):
            return ""
        state = listed.get(self.serial)
        if state is None:
            return f"; the adb server no longer lists '{self.serial}' (the phone rebooted, shut down or was unplugged)"
        return f"; the adb server still lists '{self.serial}' as {state}"

    # ---- connection -----------------------------------------------------------------------------------------

    def open(self) -> None:
        """Find the phone (connecting over TCP first for HOST:PORT) and check it is online."""
        self.transcript.note(f"adb server {self.address.server}, device {self.address.serial or '(the only one)'}")
        with self._adb("finding the phone"):
            if self.address.tcp:
                answer = self.client.connect(self.address.serial, timeout=self.timeout_s)
                self.transcript.note(f"host:connect {self.address.serial}: {answer}")
                if "connected" not in answer or "unable" in answer or "failed" in answer:
                    raise self.error(f"the adb server could not connect to {self.address.serial}: {answer}",
                                     hint="on the phone: enable adb over Wi-Fi (adb tcpip 5555) and check the address")
            listed = {info.serial: info.state for info in self.client.list()}
            self.transcript.note(f"devices: {listed or 'none'}")
            if self.address.serial is None:
                online = [s for s, state in listed.items() if state == "device"]
                if len(online) != 1:
                    raise self.error(f"adb:// needs exactly one online device, the server lists "
                                     f"{len(online)} ({', '.join(online) or 'none'})",
                                     hint="name one with adb://SERIAL (serials: `adb devices`)")
                self.serial = online[0]
            state = listed.get(self.serial)
            if state is None:
                raise self.error(f"the adb server lists no device '{self.serial}' "
                                 f"(it lists: {', '.join(listed) or 'none'})", hint=GONE_HINT)
            if state != "device":
                hint = "accept the USB debugging prompt on the phone" if state == "unauthorized" else GONE_HINT
                raise self.error(f"device '{self.serial}' is {state}, not online", hint=hint)
            self.device = self.client.device(serial=self.serial)

    # ---- commands -------------------------------------------------------------------------------------------

    def shell(self, command: str, step: str, timeout_s: float | None = None, check: bool = True) -> ShellResult:
        """Run ``command`` with the shell v2 protocol (separate stderr and the exit status)."""
        self.transcript.sent(command.encode() + b"\n")
        with self._adb(step):
            result = self.device.shell2(command, timeout=timeout_s or self.timeout_s * 6, v2=True)
        out = ShellResult(int(result.returncode), result.stdout or "", result.stderr or "")
        for line in out.stdout.splitlines():
            self.transcript.received(line.encode())
        for line in out.stderr.splitlines():
            self.transcript.note(f"stderr: {line}")
        self.transcript.note(f"exit status {out.status}")
        if check and out.status != 0:
            raise self.failed(step, out)
        return out

    def failed(self, step: str, result: ShellResult) -> DeviceError:
        """The error for a command that failed, with the cause when the output names a known one."""
        text = f"{result.stderr}\n{result.stdout}".strip()
        lowered = text.lower()
        last = " | ".join(text.splitlines()[-3:])[-400:]
        if wrong_architecture(result):
            return self.error(f"{step}: the phone cannot execute the binary ({last})",
                              hint="benchmark_model was built for another architecture: use the android_arm64 "
                                   "build for arm64-v8a phones (bazel build --config=android_arm64 ...)")
        if NO_SPACE in lowered:
            return self.error(f"{step}: the phone's storage is full ({last})",
                              hint="free space on the phone (adb shell df -h /data) or point ?dir= elsewhere")
        return self.error(f"{step} failed with exit status {result.status}: {last}")

    def push(self, local: Path, remote: str, mode: int = 0o644) -> None:
        """Copy ``local`` to ``remote`` with the sync protocol; a refused copy is explained from ``df``."""
        size = local.stat().st_size
        self.transcript.note(f"push {local} -> {remote} ({size} bytes, mode {mode:o})")
        try:
            with self._adb(f"copying {local.name}"):
                self.device.sync.push(local, remote, mode=mode, check=True)
        except DeviceError as e:
            free = self.free_bytes(remote.rsplit("/", 1)[0])
            if free is not None and free < size:
                raise self.error(f"copying {local.name} ({size} bytes) to {remote}: no space left on device "
                                 f"({free} bytes free)", hint="free space on the phone (adb shell df -h /data) "
                                                              "or point ?dir= at another filesystem") from None
            raise e

    def free_bytes(self, folder: str) -> int | None:
        """Bytes available in ``folder`` per ``df -k`` (None when df says nothing usable)."""
        try:
            out = self.shell(f"df -k {folder}", "checking free space", check=False)
        except DeviceError:
            return None
        rows = [line.split() for line in out.stdout.splitlines()[1:] if line.split()]
        try:
            return int(rows[-1][3]) * 1024
        except (IndexError, ValueError):
            return None

    def read(self, remote: str, step: str) -> bytes:
        with self._adb(step):
            data = self.device.sync.read_bytes(remote)
        self.transcript.note(f"pull {remote} ({len(data)} bytes)")
        return data

    def poll(self, command: str, step: str, until: Callable[[], bool], period_s: float,
             minimum_s: float = 0.0) -> list[tuple[float, ShellResult]]:
        """Run ``command`` every ``period_s`` (host monotonic time) until ``until()`` and ``minimum_s`` elapsed."""
        samples = []
        start = time.monotonic()
        while True:
            t = time.monotonic()
            samples.append((t, self.shell(command, step)))
            if until() and t - start >= minimum_s:
                return samples
            time.sleep(max(0.0, period_s - (time.monotonic() - t)))

    def close(self) -> None:
        self.device = None
        self.transcript.note("closed")
