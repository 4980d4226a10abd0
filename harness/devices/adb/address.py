"""An ``adb://[SERIAL | HOST:PORT][?query]`` link as a frozen record, validated with errors that name the target.

``adb://`` is the only device the adb server lists, ``adb://SERIAL`` one device by its serial, and
``adb://HOST:PORT`` a phone in adb-over-TCP mode (``adb tcpip``), which the server is asked to connect
to first. The query names the user's LiteRT ``benchmark_model`` binary (the harness never downloads it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from harness.core.errors import ConfigError

DELEGATES = ("xnnpack", "cpu", "gpu", "nnapi")
DEFAULT_SERVER = ("127.0.0.1", 5037)  # adb's own default (ANDROID_ADB_SERVER_HOST / _PORT override it)
QUERY_KEYS = {
    "benchmark_model": "the LiteRT benchmark_model binary for the phone's ABI (arm64-v8a), a path on this machine",
    "delegate": f"{', '.join(DELEGATES)} (default: xnnpack when the plan enables it, else cpu)",
    "server": "the adb server as HOST:PORT (default ANDROID_ADB_SERVER_HOST:ANDROID_ADB_SERVER_PORT or "
              "127.0.0.1:5037)",
    "dir": "the working folder on the phone (default /data/local/tmp/edge-harness)",
    "supply": "the power_supply the battery is under /sys/class/power_supply (default battery)",
}


def default_server() -> tuple[str, int]:
    """The adb server the ``adb`` tool would use."""
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or DEFAULT_SERVER[0]
    port = os.environ.get("ANDROID_ADB_SERVER_PORT")
    return host, int(port) if port and port.isdigit() else DEFAULT_SERVER[1]


@dataclass(frozen=True)
class AdbAddress:
    """Which phone, through which adb server, and what to run on it."""

    serial: str | None = None  # None: the only device attached
    tcp: bool = False  # serial is HOST:PORT of a phone in adb-over-TCP mode
    server_host: str = DEFAULT_SERVER[0]
    server_port: int = DEFAULT_SERVER[1]
    benchmark_model: Path | None = None
    delegate: str | None = None
    workdir: str = "/data/local/tmp/edge-harness"
    supply: str = "battery"

    @classmethod
    def parse(cls, url: str, target: str) -> AdbAddress:
        where = f"target '{target}': link URL '{url}'"
        parts = urlsplit(url)
        if parts.scheme.lower() != "adb":
            raise ConfigError(f"{where} is not an adb link", hint="adb://, adb://SERIAL or adb://HOST:PORT")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(QUERY_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown query key(s) {', '.join(unknown)}",
                              hint="; ".join(f"{k}: {v}" for k, v in QUERY_KEYS.items()))
        value = {k: v[-1] for k, v in query.items()}
        serial = unquote(parts.netloc) or None  # netloc keeps the serial's case (hostname would lower it)
        tcp = False
        if serial and ":" in serial:
            host, _, port = serial.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{where}: '{serial}' is neither a serial nor HOST:PORT with a port in 1-65535")
            tcp = True
        delegate = value.get("delegate") or None
        if delegate is not None and delegate not in DELEGATES:
            raise ConfigError(f"{where}: delegate={delegate!r}", hint=f"valid: {', '.join(DELEGATES)}")
        server_host, server_port = default_server()
        if value.get("server"):
            host, _, port = value["server"].rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"{where}: server={value['server']!r} is not HOST:PORT", hint="e.g. 127.0.0.1:5037")
            server_host, server_port = host, int(port)
        binary = Path(value["benchmark_model"]).expanduser() if value.get("benchmark_model") else None
        workdir = value.get("dir") or cls.workdir
        if not workdir.startswith("/"):
            raise ConfigError(f"{where}: dir={workdir!r} must be an absolute path on the phone",
                              hint="e.g. /data/local/tmp/edge-harness")
        return cls(serial=serial, tcp=tcp, server_host=server_host, server_port=server_port,
                   benchmark_model=binary, delegate=delegate, workdir=workdir.rstrip("/"),
                   supply=value.get("supply") or cls.supply)

    @property
    def label(self) -> str:
        """The phone in messages."""
        return f"adb device {self.serial}" if self.serial else "the only adb device"

    @property
    def server(self) -> str:
        return f"{self.server_host}:{self.server_port}"

    def remote(self, name: str) -> str:
        return f"{self.workdir}/{name}"
