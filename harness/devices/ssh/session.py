"""A logged SSH session to one board (asyncssh on a private event loop behind a blocking API).

Host keys are verified against known_hosts; ``host_key=accept-new`` records a key the file has no
entry for (OpenSSH's StrictHostKeyChecking=accept-new) and still refuses a changed one. Every
command, stdin line and output line goes to the transcript; every failure is a DeviceError that
names the board and cites the transcript.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from harness.core.errors import ConfigError, DeviceError, DeviceTimeout
from harness.core.transcript import Transcript
from harness.devices.benchmark_model.tool import ShellResult
from harness.devices.ssh.address import SshAddress
from harness.devices.ssh.thermal import overheated

try:
    import asyncssh
except ImportError:  # the optional [boards] extra
    asyncssh = None

T = TypeVar("T")
MISSING_COMMAND = 127  # the shell's status for a command it cannot find


class SshSession:
    """One connection; ``run`` a command, ``put`` a file, ``stream`` JSON lines, or keep a ``process`` open."""

    def __init__(self, address: SshAddress, transcript: Transcript, where: str, timeout_s: float = 10.0) -> None:
        if asyncssh is None:
            raise ConfigError(f"{where}: SSH links need asyncssh", hint="pip install 'edge-harness[boards]'")
        self.address = address
        self.transcript = transcript
        self.where = where
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._conn: Any = None
        self._process: Any = None
        self.last_facts: dict[str, Any] | None = None  # the board runner's latest facts (temperatures)

    # ---- plumbing -------------------------------------------------------------------------------------------

    def error(self, message: str, hint: str | None = None, cls: type[DeviceError] = DeviceError) -> DeviceError:
        self.transcript.note(f"error: {message}")
        return cls(f"{self.where} ({self.address.label}): {message}", hint=hint, log_path=self.transcript.path)

    def _do(self, step: str, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the session's loop; transport failures become DeviceErrors naming ``step``."""
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout_s))
        except asyncio.TimeoutError:
            raise self.error(f"{step}: no answer within {timeout_s:g} s", cls=DeviceTimeout,
                              hint="check the board is up; raise link.timeout_s for slow boards") from None
        except asyncssh.PermissionDenied as e:
            raise self.error(f"authentication as '{self.address.login}' failed ({e.reason})",
                              hint="load the key into your agent (ssh-add) or name it with ?key=PATH, and put "
                                   "its public half in the board's ~/.ssh/authorized_keys") from None
        except asyncssh.HostKeyNotVerifiable as e:
            raise self.error(f"the board's host key is not trusted by {self.address.known_hosts_file} ({e.reason})",
                              hint="if the board is new, add ?host_key=accept-new to the link (or ssh to it once); "
                                   "if its key changed, find out why before removing the old entry") from None
        except (asyncssh.DisconnectError, asyncssh.ChannelOpenError, BrokenPipeError, ConnectionResetError) as e:
            raise self._lost(step, e) from None
        except OSError as e:
            raise self.error(f"{step}: cannot reach the board: {e.strerror or e}",
                              hint="check host, port and that sshd runs on the board") from None

    def _lost(self, step: str, cause: BaseException) -> DeviceError:
        """A dropped connection, explained by the board's last temperature or by whether it still accepts one."""
        heat = overheated(self.last_facts)
        if heat is not None:
            return self.error(f"connection lost during {step}: the board likely shut down for heat (its last "
                               f"temperature reading: {heat})",
                               hint="let the board cool and improve its cooling (heatsink, fan, airflow); after it "
                                    "boots, `journalctl -k -b -1` shows the thermal shutdown; then continue with "
                                    "--resume")
        if not self._accepts_connections():
            return self.error(f"connection lost during {step} ({cause}), and the board now refuses new connections: "
                               "it is likely rebooting, or it lost power",
                               hint="wait until ssh reaches it again (check its power supply; after it boots, "
                                    "`journalctl -b -1` shows why it went down), then continue with --resume")
        return self.error(f"connection lost during {step}: {cause}",
                           hint="check the board's power and network; the transcript shows the last line seen; "
                                "then continue with --resume")

    def _accepts_connections(self) -> bool:
        """One TCP connection to the board's SSH port right after a drop (nothing sent)."""
        try:
            socket.create_connection((self.address.host, self.address.port), timeout=min(self.timeout_s, 5.0)).close()
            return True
        except OSError:
            return False

    # ---- connection -----------------------------------------------------------------------------------------

    def open(self) -> None:
        self.transcript.note(f"connect {self.address.label} (host key {self.address.host_key}, "
                             f"known_hosts {self.address.known_hosts_file})")
        if self.address.host_key == "accept-new":
            self._do("reading the host key", self._accept_new(), self.timeout_s)
        known = self.address.known_hosts_file
        if not known.is_file():
            raise self.error(f"no known_hosts file at {known}, so the board's host key cannot be verified",
                              hint="add ?host_key=accept-new to the link to record the key on first contact")
        options: dict[str, Any] = {"known_hosts": str(known), "username": self.address.login,
                                   "connect_timeout": self.timeout_s}
        if self.address.key is not None:
            if not self.address.key.is_file():
                raise self.error(f"key file {self.address.key} does not exist", hint="fix ?key= in the link")
            options.update(client_keys=[str(self.address.key)], agent_path=None)
        self._conn = self._do("connecting", asyncssh.connect(self.address.host, self.address.port, **options),
                              self.timeout_s * 2)
        self.transcript.note("connected")

    async def _accept_new(self) -> None:
        known = self.address.known_hosts_file
        if known.is_file():
            trusted = asyncssh.match_known_hosts(str(known), self.address.host, self.address.host, self.address.port)
            if trusted[0] or trusted[1]:
                return  # known (a changed key is then refused by the strict check)
        key = await asyncssh.get_server_host_key(self.address.host, self.address.port)
        if key is None:
            raise self.error("the board offered no host key")
        algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
        entry = f"{self.address.known_hosts_name} {algorithm} {blob}"
        known.parent.mkdir(parents=True, exist_ok=True)
        with known.open("a", encoding="ascii") as f:
            f.write(entry + "\n")
        self.transcript.note(f"accept-new: recorded {key.get_algorithm()} host key "
                             f"{key.get_fingerprint()} of {self.address.known_hosts_name} in {known}")

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            if self._process is not None:
                self._process.stdin.write_eof()
                self._loop.run_until_complete(asyncio.wait_for(self._process.wait(), self.timeout_s))
        except (asyncssh.Error, OSError, asyncio.TimeoutError):
            pass
        if self._conn is not None:
            self._conn.close()
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._conn.wait_closed(), self.timeout_s))
            except (asyncssh.Error, OSError, asyncio.TimeoutError):
                pass
        self._loop.close()
        self.transcript.note("closed")

    # ---- commands -------------------------------------------------------------------------------------------

    def run(self, command: str, step: str) -> str:
        """Run ``command``; its stdout, or a DeviceError with its stderr when it fails."""
        result = self.execute(command, step)
        self._check_status(step, result.status, result.stderr, logged=True)
        return result.stdout

    def execute(self, command: str, step: str, timeout_s: float | None = None) -> ShellResult:
        """Run ``command`` to its end and return its status and output, whatever the status (all logged)."""
        self.transcript.sent(command.encode() + b"\n")
        result = self._do(step, self._finished(command), timeout_s or self.timeout_s * 6)
        for line in result.stdout.splitlines():
            self.transcript.received(line.encode())
        for line in result.stderr.splitlines():
            self.transcript.note(f"stderr: {line}")
        self.transcript.note(f"exit status {result.status}")
        return result

    async def _finished(self, command: str) -> ShellResult:
        result = await self._conn.run(command)
        if result.exit_status is None and result.exit_signal is None:
            raise asyncssh.ConnectionLost("the command ended without an exit status")
        status = result.exit_status if result.exit_status is not None else -1
        return ShellResult(status, _text(result.stdout), _text(result.stderr))

    def _check_status(self, step: str, status: int | None, stderr: str, logged: bool = False) -> None:
        if not logged:
            for line in stderr.splitlines():
                self.transcript.note(f"stderr: {line}")
        if status == MISSING_COMMAND:
            raise self.error(f"{step}: the board cannot run '{self.address.python}' ({stderr.strip()[-200:]})",
                              hint="install Python 3 on the board or name its interpreter with ?python=")
        if status not in (0, None):
            lowered = stderr.lower()
            hint = "free space on the board (df -h)" if "no space left" in lowered else None
            raise self.error(f"{step} failed with exit status {status}: {stderr.strip()[-400:]}", hint=hint)

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Copy ``local`` to ``remote`` (relative to the login's home) over SFTP, then set ``mode`` if given."""
        self.transcript.note(f"sftp put {local} -> {remote} ({local.stat().st_size} bytes"
                             + (f", mode {mode:o})" if mode is not None else ")"))
        try:
            self._do(f"copying {local.name}", self._put(local, remote, mode), self.timeout_s * 6)
        except asyncssh.SFTPError as e:
            full = e.code in (asyncssh.FX_NO_SPACE_ON_FILESYSTEM, asyncssh.FX_QUOTA_EXCEEDED) or \
                "space" in str(e.reason).lower()
            raise self.error(f"copying {local.name} to {remote} failed: {e.reason}",
                              hint="the board's disk is full: free space (df -h) or point ?dir= at another "
                                   "filesystem" if full else "check the board's folder permissions") from None

    async def _put(self, local: Path, remote: str, mode: int | None) -> None:
        async with self._conn.start_sftp_client() as sftp:
            await sftp.put(str(local), remote)
            if mode is not None:
                await sftp.chmod(remote, mode)

    def stream(self, command: str, step: str, on_line: Callable[[dict[str, Any]], None] | None = None,
               timeout_s: float | None = None) -> list[dict[str, Any]]:
        """Run ``command`` and collect its JSON-line events as they arrive (each logged, then ``on_line``)."""
        self.transcript.sent(command.encode() + b"\n")
        return self._do(step, self._stream(command, step, on_line), timeout_s)

    async def _stream(self, command: str, step: str,
                      on_line: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
        events = []
        async with self._conn.create_process(command) as process:
            while line := await self._line(process, step):
                event = self._event(line, step)
                if event is not None:
                    events.append(event)
                    if on_line is not None:
                        on_line(event)
            result = await process.wait()
        if result.exit_status is None and result.exit_signal is None:
            raise asyncssh.ConnectionLost("the command ended without an exit status")
        errors = [e for e in events if e.get("event") == "error"]
        if errors:
            raise self._runner_error(step, errors[0])
        self._check_status(step, result.exit_status, result.stderr or "")
        return events

    async def _line(self, process: Any, step: str) -> str:
        """The next output line; the runner prints one per invoke, so silence this long means the board hangs."""
        try:
            return await asyncio.wait_for(process.stdout.readline(), self.line_timeout_s)
        except asyncio.TimeoutError:
            raise self.error(f"{step}: the board runner printed nothing for {self.line_timeout_s:g} s",
                              cls=DeviceTimeout, hint="check the board (load, temperature); raise link.timeout_s "
                                                      "for a model slower than this per inference") from None

    @property
    def line_timeout_s(self) -> float:
        return self.timeout_s * 6

    @property
    def serving(self) -> bool:
        """A long-running process (``start``) is open."""
        return self._process is not None

    def _event(self, line: str, step: str) -> dict[str, Any] | None:
        self.transcript.received(line.rstrip("\n").encode())
        if not line.strip():
            return None
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise self.error(f"{step}: the board runner printed a line that is not JSON: {line.strip()[:200]!r}",
                              hint="another program writes to stdout on the board (a login banner?)") from None
        if not isinstance(event, dict):
            return None
        if event.get("event") == "facts":
            self.last_facts = event
        return event

    def _runner_error(self, step: str, event: dict[str, Any]) -> DeviceError:
        kind, message = event.get("kind"), event.get("message", "")
        if kind == "runtime-missing":
            return self.error(f"{step}: {message}",
                               hint="on the board: python3 -m pip install ai-edge-litert numpy (or tflite-runtime, "
                                    "or onnxruntime for .onnx models)")
        return self.error(f"{step}: {message}")

    # ---- a long-running process -----------------------------------------------------------------------------

    @contextmanager
    def _reading(self, step: str) -> Iterator[None]:
        try:
            yield
        except DeviceError:
            self._process = None
            raise

    def start(self, command: str, step: str) -> dict[str, Any]:
        """Start ``command`` with stdin open; returns its first event."""
        self.transcript.sent(command.encode() + b"\n")
        self._process = self._do(step, self._conn.create_process(command), self.timeout_s)
        return self.request(None, step)

    def request(self, payload: dict[str, Any] | None, step: str) -> dict[str, Any]:
        """Send one JSON line (if any) to the running process and read its next event."""
        with self._reading(step):
            if payload is not None:
                line = json.dumps(payload)
                self.transcript.sent(line.encode()[:200] + b"\n")
                self._process.stdin.write(line + "\n")
            line = self._do(step, self._process.stdout.readline(), self.line_timeout_s)
            if not line:
                stderr = self._do(step, self._process.stderr.read(), self.timeout_s)
                status = self._do(step, self._process.wait(), self.timeout_s).exit_status
                self._check_status(step, status, stderr)
                raise self.error(f"{step}: the board runner ended without answering")
            event = self._event(line, step)
            if event is None:
                raise self.error(f"{step}: the board runner sent an empty line")
            if event.get("event") == "error":
                raise self._runner_error(step, event)
            return event


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    return output or ""
