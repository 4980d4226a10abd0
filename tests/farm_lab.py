"""A labgrid farm for tests: a real ``labgrid-coordinator`` and ``labgrid-exporter`` on 127.0.0.1 exporting
simulated DUTs (``harness sim-dut``), driven with the real ``labgrid-client``.

Every process binds to 127.0.0.1. labgrid's exporter runs ser2net for a serial port (a pty here) and ser2net
listens on every interface, so that path runs only inside a network namespace that has nothing but
loopback: ``python tests/farm_lab.py pty RESULTS`` is that scenario, run by the test under ``unshare --net``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
DEADLINE_S = 30.0


def tool(name: str) -> str:
    """A console script installed beside this Python (the venv's labgrid-* and harness)."""
    path = BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def ser2net() -> str | None:
    """ser2net as labgrid's exporter finds it."""
    found = shutil.which("ser2net")
    return found or ("/usr/sbin/ser2net" if os.path.isfile("/usr/sbin/ser2net") else None)


def _read_line(proc: subprocess.Popen[str], pattern: str, what: str) -> re.Match[str]:
    """The first stdout line of ``proc`` matching ``pattern`` (its other lines are skipped)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        found = re.search(pattern, line)
        if found:
            return found
    proc.kill()
    raise RuntimeError(f"{what} did not start (exit {proc.wait()})")


class Lab:
    """Start with ``with Lab(folder) as lab:``; every process it started is stopped on exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[str]] = []
        self.coordinator = ""
        self.duts: list[str] = []

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

    def _spawn(self, args: Sequence[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        err = open(self.folder / log, "w")  # noqa: SIM115 - the child writes to it until it stops
        proc = subprocess.Popen(list(args), cwd=self.folder, stdout=subprocess.PIPE, stderr=err, text=True,
                                env={**os.environ, **(env or {})})
        err.close()
        self.procs.append(proc)
        return proc

    def start_coordinator(self) -> str:
        """``HOST:PORT`` of a fresh coordinator (its places live in this lab's folder)."""
        proc = self._spawn([tool("labgrid-coordinator"), "--listen", "127.0.0.1:0"], "coordinator.log")
        port = _read_line(proc, r"listening on .*:(\d+)", "labgrid-coordinator")[1]
        self.coordinator = f"127.0.0.1:{port}"
        return self.coordinator

    def start_dut(self, listen: str = "socket://127.0.0.1:0", target: str = "nucleo-l4r5zi",
                  model: str = "mlperf-dscnn-kws") -> str:
        """The URL (``socket://127.0.0.1:PORT`` or ``/dev/pts/N``) of a simulated DUT in its own process."""
        proc = self._spawn([tool("harness"), "sim-dut", "--target", target, "--model", model, "--listen", listen],
                           f"sim-dut-{len(self.procs)}.log")
        self.duts.append(_read_line(proc, r"^dut: (\S+)", "harness sim-dut")[1])
        return self.duts[-1]

    def start_exporter(self, name: str, config: str) -> subprocess.Popen[str]:
        """An exporter publishing the resources of ``config`` (exporter YAML) under 127.0.0.1."""
        path = self.folder / f"exporter-{name}.yaml"
        path.write_text(config)
        proc = self._spawn([tool("labgrid-exporter"), "-c", self.coordinator, "--name", name,
                            "--hostname", "127.0.0.1", str(path)], f"exporter-{name}.log")
        self.wait_for(lambda: f"{name}/" in self.client("resources").stdout, f"exporter {name}'s resources")
        return proc

    def client(self, *args: str, user: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        """``labgrid-client -x COORDINATOR ARGS`` (as ``user``, on host ``bench2``, when given)."""
        env = {**os.environ, "LG_USERNAME": user, "LG_HOSTNAME": "bench2"} if user else None
        return subprocess.run([tool("labgrid-client"), "-x", self.coordinator, *args], capture_output=True,
                              text=True, timeout=DEADLINE_S, check=check, env=env)

    def add_place(self, name: str, match: str, tags: str | None = None) -> None:
        self.client("-p", name, "create", check=True)
        self.client("-p", name, "add-match", match, check=True)
        if tags:
            self.client("-p", name, "set-tags", tags, check=True)

    def holder(self, place: str) -> str | None:
        """Who holds ``place`` as the coordinator reports it (None: nobody)."""
        found = re.search(r"^\s*acquired: (\S+)", self.client("-p", place, "show", check=True).stdout, re.M)
        assert found, f"no 'acquired:' line for place {place}"
        return None if found[1] == "None" else found[1]

    @staticmethod
    def wait_for(ready: object, what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not ready():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.2)


def descendants(pids: Sequence[int]) -> set[int]:
    """``pids`` and every process they started (read from /proc)."""
    parent_of: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(pids), set(pids)
    while frontier:
        frontier = {pid for pid, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def listening_addresses(pids: Sequence[int]) -> list[str]:
    """Local addresses of the TCP sockets that ``pids`` (and their children) listen on (``ss -ltnpH``)."""
    tree = descendants(pids)
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines()
            if {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & tree]


def is_loopback(address: str) -> bool:
    """``127.x.x.x:PORT``, ``[::ffff:127.x.x.x]:PORT`` or ``[::1]:PORT``."""
    host = address.rsplit(":", 1)[0].strip("[]")
    return host.startswith(("127.", "::ffff:127.")) or host == "::1"


def _loopback_only() -> None:
    """Bring up lo in a fresh network namespace (its only interface), with a second loopback address.

    ser2net resolves its listening address with getaddrinfo's AI_ADDRCONFIG, which finds nothing while
    127.0.0.1 is the only IPv4 address (glibc does not count it); 127.0.0.2 on lo is counted and is loopback.
    """
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True)


def interfaces() -> list[str]:
    """The network interfaces of this namespace, with their addresses (``ip -br addr``)."""
    out = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True, check=True).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def listeners() -> list[str]:
    """Every listening TCP address in this network namespace (``ss -ltnH``'s local address column)."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def pty_scenario(results: Path) -> int:
    """In a loopback-only namespace: a simulated DUT on a pty exported as a RawSerialPort (ser2net, RFC 2217),
    measured through ``harness bench-device --place``; prints the run directory and the listeners."""
    _loopback_only()
    with Lab(results / "lab") as lab:
        lab.start_coordinator()
        pty = lab.start_dut("pty")
        lab.start_exporter("exp-pty", f"dut:\n  RawSerialPort:\n    port: {pty}\n    speed: 115200\n")
        lab.add_place("nucleo-pty", "exp-pty/dut/NetworkSerialPort")
        run = subprocess.run([tool("harness"), "bench-device", "--place", "nucleo-pty", "--coordinator",
                              lab.coordinator, "--model", "mlperf-dscnn-kws", "--target", "nucleo-l4r5zi",
                              "--quick"], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "HARNESS_RESULTS": str(results)})
        sys.stderr.write(run.stderr)
        print(f"exit: {run.returncode}")
        print(f"run: {run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ''}")
        print(f"holder after: {lab.holder('nucleo-pty')}")
        print(f"listeners: {' '.join(listeners())}")
        print(f"interfaces: {'; '.join(interfaces())}")
    return 0


if __name__ == "__main__":
    sys.exit(pty_scenario(Path(sys.argv[2])) if sys.argv[1:2] == ["pty"] else 2)
