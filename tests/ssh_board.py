"""A Linux board for tests: a real SSH server (asyncssh) on 127.0.0.1 that runs commands as real subprocesses.

The "board" is this machine: the board runner runs in this Python with the real LiteRT, in a home
folder under tmp_path that SFTP is rooted at. Host and client keys and a known_hosts file are made
fresh in tmp_path. Faults are made at the transport: a full disk (SFTP writes fail with ENOSPC as a
full filesystem's would), a connection dropped after some output lines of a command (``drop_on`` names
it by a part of its text; 0 lines drops it as it starts), and a reboot: the drop, then connections
refused for ``reboot_s`` seconds until sshd listens again on the same port. Tests may change the fault
fields between commands (a fault cleared before ``--resume``).
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import asyncssh


def kill_group(child: asyncio.subprocess.Process) -> None:
    """End a command and everything it started (a shell's children hold its pipes open)."""
    if child.returncode is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class FullDiskSftp(asyncssh.SFTPServer):
    """SFTP whose writes fail as on a full filesystem."""

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class BoardServer:
    """Start with ``with BoardServer(tmp_path) as board:``; ``board.url()`` is the link to it."""

    def __init__(self, root: Path, *, env: dict[str, str] | None = None, disk_full: bool = False,
                 drop_after_lines: int | None = None, drop_on: str | None = " bench ",
                 reboot_s: float | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = env or {}
        self.disk_full = disk_full
        self.drop_after_lines = drop_after_lines
        self.drop_on = drop_on
        self.reboot_s = reboot_s
        self.reboots = 0
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = root / "id_ed25519"
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key.write_private_key(str(self.client_key_path))
        self.authorized_keys = root / "authorized_keys"
        client_key.write_public_key(str(self.authorized_keys))
        self.known_hosts = root / "known_hosts"
        self.commands: list[str] = []
        self._children: list[asyncio.subprocess.Process] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None
        self.port = 0

    def __enter__(self) -> BoardServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {self.public_host_key()}\n")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
            for child in self._children:
                kill_group(child)
                await asyncio.wait_for(child.wait(), 10)
                child._transport.close()  # type: ignore[attr-defined]  # a dropped command's pipes may still be open
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def public_host_key(self) -> str:
        """``algorithm base64`` as a known_hosts entry holds it."""
        return " ".join(self.host_key.export_public_key("openssh").decode().split()[:2])

    def url(self, **query: str) -> str:
        query = {"key": str(self.client_key_path), "known_hosts": str(self.known_hosts), **query}
        return f"ssh://{getpass.getuser()}@127.0.0.1:{self.port}?" + "&".join(f"{k}={v}" for k, v in query.items())

    async def _start(self) -> Any:
        sftp = FullDiskSftp if self.disk_full else asyncssh.SFTPServer
        home = str(self.home).encode()
        return await asyncssh.create_server(
            asyncssh.SSHServer, "127.0.0.1", self.port, server_host_keys=[self.host_key],
            authorized_client_keys=str(self.authorized_keys), process_factory=self._handle,
            sftp_factory=lambda chan: sftp(chan, chroot=home), encoding=None)

    def _drops(self, command: str, lines: int) -> bool:
        return self.drop_after_lines is not None and self.drop_on is not None and self.drop_on in command \
            and lines >= self.drop_after_lines

    def _drop(self, process: asyncssh.SSHServerProcess) -> None:
        """Abort the connection; on a reboot, refuse connections for ``reboot_s`` then listen again."""
        process.channel.get_connection().abort()
        if self.reboot_s is None:
            return
        self.reboots += 1
        self._server.close()
        asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        await self._server.wait_closed()
        await asyncio.sleep(self.reboot_s or 0.0)
        self._server = await self._start()

    async def _handle(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        self.commands.append(command)
        if self._drops(command, 0):
            self._drop(process)
            return
        env = {**os.environ, "HOME": str(self.home), **self.env,
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        child = await asyncio.create_subprocess_shell(command, cwd=self.home, env=env, stdin=asyncio.subprocess.PIPE,
                                                      stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                      start_new_session=True)
        self._children.append(child)
        feeding = asyncio.ensure_future(self._feed(process, child))
        dropped = await asyncio.gather(self._copy(child, child.stdout, process.stdout, process, command),
                                       self._copy(child, child.stderr, process.stderr, process, None))
        if any(dropped):
            feeding.cancel()
            return
        status = await child.wait()
        feeding.cancel()
        process.exit(status)

    async def _feed(self, process: asyncssh.SSHServerProcess, child: asyncio.subprocess.Process) -> None:
        assert child.stdin is not None
        try:
            while data := await process.stdin.read(65536):
                child.stdin.write(data)
                await child.stdin.drain()
        except (asyncssh.Error, BrokenPipeError, ConnectionResetError):
            pass
        finally:
            child.stdin.close()

    async def _copy(self, child: asyncio.subprocess.Process, source: asyncio.StreamReader | None, sink: Any,
                    process: asyncssh.SSHServerProcess, command: str | None) -> bool:
        """Copy lines; True when the connection was dropped on purpose mid-output."""
        assert source is not None
        lines = 0
        while line := await source.readline():
            sink.write(line)
            lines += 1
            if command and self._drops(command, lines):
                self._drop(process)
                kill_group(child)
                return True
        return False
