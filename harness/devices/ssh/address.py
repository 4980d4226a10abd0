"""An ``ssh://user@host[:port]?query`` link as a frozen record, validated with errors that name the target."""

from __future__ import annotations

import getpass
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from harness.core.errors import ConfigError

HOST_KEY_POLICIES = ("strict", "accept-new")
CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")  # taskset -c's list form
QUERY_KEYS = {
    "host_key": "strict (default: the key must be in known_hosts) or accept-new (record a key seen the first time)",
    "known_hosts": "the known_hosts file to verify against and record into (default ~/.ssh/known_hosts)",
    "key": "a private key file (default: the SSH agent and ~/.ssh/id_*)",
    "python": "the board's Python interpreter (default python3)",
    "dir": "the working folder on the board, relative to the login's home (default .cache/edge-harness)",
    "cpus": "pin the runner to these cores with taskset -c, e.g. 2,3 or 4-7 (default: no pinning)",
    "benchmark_model": "LiteRT's benchmark_model binary for the board's architecture, a path on this machine: "
                       "it times the model instead of the Python runner",
}


@dataclass(frozen=True)
class SshAddress:
    """Where a board is and how to trust and log in to it."""

    host: str
    port: int = 22
    user: str | None = None
    host_key: str = "strict"
    known_hosts: Path | None = None
    key: Path | None = None
    python: str = "python3"
    workdir: str = ".cache/edge-harness"
    benchmark_model: Path | None = None
    cpus: str | None = None

    @classmethod
    def parse(cls, url: str, target: str) -> SshAddress:
        where = f"target '{target}': link URL '{url}'"
        parts = urlsplit(url)
        if parts.scheme.lower() != "ssh" or not parts.hostname:
            raise ConfigError(f"{where} is not an SSH link", hint="ssh://user@host[:port][?host_key=accept-new]")
        try:
            port = parts.port or 22
        except ValueError:
            raise ConfigError(f"{where}: the port is not a number in 1-65535") from None
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(QUERY_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown query key(s) {', '.join(unknown)}",
                              hint="; ".join(f"{k}: {v}" for k, v in QUERY_KEYS.items()))
        value = {k: v[-1] for k, v in query.items()}
        policy = value.get("host_key", "strict")
        if policy not in HOST_KEY_POLICIES:
            raise ConfigError(f"{where}: host_key={policy!r}", hint=f"valid: {', '.join(HOST_KEY_POLICIES)}")
        cpus = value.get("cpus")
        if cpus is not None and not CPU_LIST.fullmatch(cpus):
            raise ConfigError(f"{where}: cpus={cpus!r} is not a core list", hint="e.g. cpus=2,3 or cpus=4-7")
        python = value.get("python", "python3")
        if not python.strip():
            raise ConfigError(f"{where}: python= is empty", hint="the board's interpreter, e.g. python3")
        return cls(host=parts.hostname, port=port, user=unquote(parts.username) if parts.username else None,
                   host_key=policy,
                   known_hosts=Path(value["known_hosts"]).expanduser() if value.get("known_hosts") else None,
                   key=Path(value["key"]).expanduser() if value.get("key") else None,
                   python=python, workdir=value.get("dir") or cls.workdir,
                   benchmark_model=Path(value["benchmark_model"]).expanduser() if value.get("benchmark_model")
                   else None, cpus=cpus)

    def pinned(self, command: str) -> str:
        """``command`` under ``taskset -c`` when the link pins the board's cores."""
        return f"taskset -c {self.cpus} {command}" if self.cpus else command

    @property
    def login(self) -> str:
        return self.user or getpass.getuser()

    @property
    def known_hosts_file(self) -> Path:
        return self.known_hosts or Path("~/.ssh/known_hosts").expanduser()

    @property
    def label(self) -> str:
        """``user@host:port`` in messages."""
        return f"{self.login}@{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The host as known_hosts names it (``[host]:port`` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def remote(self, name: str) -> str:
        """A file in the board's working folder, quoted for the shell."""
        return shlex.quote(f"{self.workdir}/{name}")
