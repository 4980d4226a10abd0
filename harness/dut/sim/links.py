"""The serial transports a simulated DUT listens on: a TCP socket (``socket://``) or a pseudo terminal.

Either gives a URL that ``serial.serial_for_url`` opens, so host code drives the simulation exactly
as it drives a board on USB.
"""

from __future__ import annotations

import os
import select
import socket
import tty
from typing import Protocol
from urllib.parse import urlsplit

from harness.core.errors import ConfigError

POLL_S = 0.05  # how often blocked reads look at the stop flag
LISTEN_FORMS = "socket://HOST:PORT (port 0 picks a free one) or pty"


class Link(Protocol):
    """One connected host: bytes in and out."""

    def recv(self) -> bytes | None:
        """Bytes received (b"" if none arrived within POLL_S); None once the host has gone."""

    def send(self, data: bytes) -> bool:
        """Write every byte; False if the host has gone."""

    def close(self) -> None: ...


class Listener(Protocol):
    url: str

    def accept(self) -> Link | None:
        """The next host to serve, or None if none connected within POLL_S."""

    def close(self) -> None: ...


class SocketLink:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.settimeout(POLL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv(self) -> bytes | None:
        try:
            data = self._sock.recv(4096)
        except TimeoutError:
            return b""
        except OSError:
            return None
        return data or None

    def send(self, data: bytes) -> bool:
        try:
            self._sock.sendall(data)
        except OSError:
            return False
        return True

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


class SocketListener:
    """A TCP port that serves one host at a time; the next waits in the backlog until it is free."""

    def __init__(self, host: str, port: int) -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(POLL_S)
        bound_host, bound_port = self._server.getsockname()[:2]
        self.url = f"socket://{bound_host}:{bound_port}"

    def accept(self) -> Link | None:
        try:
            sock, _ = self._server.accept()
        except (TimeoutError, OSError):
            return None
        return SocketLink(sock)

    def close(self) -> None:
        self._server.close()


class PtyLink:
    """The master side of a pseudo terminal; the host opens the slave path like any serial port."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: bytes pass as on a UART
        self.path = os.ttyname(self._slave)  # the slave stays open here, so a host may close and reopen it

    def recv(self) -> bytes | None:
        try:
            ready, _, _ = select.select([self._master], [], [], POLL_S)
            return os.read(self._master, 4096) if ready else b""
        except OSError:
            return None

    def send(self, data: bytes) -> bool:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._master, view):]
        except OSError:
            return False
        return True

    def close(self) -> None:
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class PtyListener:
    """A pseudo terminal is always connected: accept hands out its one link."""

    def __init__(self) -> None:
        self._link = PtyLink()
        self.url = self._link.path
        self._given = False

    def accept(self) -> Link | None:
        if self._given:
            return None
        self._given = True
        return self._link

    def close(self) -> None:
        self._link.close()


def open_listener(listen: str) -> Listener:
    """A listener for ``socket://HOST:PORT`` or ``pty``; ConfigError names the valid forms."""
    if listen == "pty":
        return PtyListener()
    parts = urlsplit(listen)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "socket" or not parts.hostname or port is None:
        raise ConfigError(f"cannot listen on '{listen}'", hint=f"valid: {LISTEN_FORMS}")
    try:
        return SocketListener(parts.hostname, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on '{listen}': {exc.strerror or exc}",
                          hint="choose another port, or port 0 for a free one") from exc
