"""A phone for tests: a real TCP server on 127.0.0.1 speaking the adb host protocol, as an adb server with one device.

adbutils connects to it as to ``adb start-server``'s server: 4-hex-digit-length requests (``host:version``,
``host:devices[-l]``, ``host:connect:``, ``host-serial:S:features``, ``host:tport:serial:S``,
``host:transport:S``), then a device service (``shell,v2:`` with its stdout/stderr/exit packets, ``shell:``,
``sync:`` with STAT, SEND, RECV). Behind it sits a phone: a file store, ``getprop``, ``dumpsys`` and
``/sys/class/power_supply`` answers, and a ``benchmark_model`` that prints what LiteRT's tool prints, in the
format of one of several builds, with latencies taken from given lists. With ``--output_filepath`` it runs the
pushed model on the pushed input with the real LiteRT on this machine, as the phone's tool would. Faults are made
at the transport: a connection dropped mid-command, a phone that disappears (reboot), a full disk, a binary of
the wrong architecture, and a rising thermal status.
"""

from __future__ import annotations

import math
import shlex
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

SERIAL = "R5CT1234ABC"
VERSION = 41
PROPS = {
    "ro.product.model": "Pixel 7", "ro.product.manufacturer": "Google", "ro.soc.model": "GS201",
    "ro.soc.manufacturer": "Google", "ro.board.platform": "gs201", "ro.hardware": "panther",
    "ro.build.version.release": "14", "ro.build.version.sdk": "34", "ro.product.cpu.abi": "arm64-v8a",
    "ro.build.fingerprint": "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
}
# builds of benchmark_model: no percentiles + the peak memory line; a large model (timings 1000x, so averages
# print in scientific notation) + the delta line; percentiles + the delta and periodic lines, with a log prefix
SCALE = {"peak-line": 1, "delta-scientific": 1000, "percentiles": 1}
BUILDS = tuple(SCALE)
MEMORY_MB = 9.60938


def cpp(value: float) -> str:
    """A double as a C++ ostream prints it by default (6 significant digits, like %g)."""
    return f"{value:g}"


def stat_line(values: list[int], percentiles: bool) -> str:
    """tensorflow::Stat / StatWithPercentiles::OutputToStream for these samples (avg a double, the rest int64)."""
    if not values:
        return "count=0"
    if min(values) == max(values):
        return f"count={len(values)} curr={values[-1]}" + ("(all same)" if len(values) > 1 else "")
    avg = sum(values) / len(values)
    std = int(math.sqrt(sum(v * v for v in values) / len(values) - avg * avg))
    line = (f"count={len(values)} first={values[0]} curr={values[-1]} min={min(values)} max={max(values)} "
            f"avg={cpp(avg)} std={std}")
    if percentiles:
        line += " " + " ".join(f"{k}={v}" for k, v in percentile_values(values).items())
    return line


def percentile_values(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    return {k: ordered[min(len(ordered) - 1, len(ordered) * p // 100)] for k, p in
            (("p5", 5), ("median", 50), ("p95", 95))}


@dataclass
class Phone:
    """What the phone answers; tests set the fields, read ``files`` and ``commands``."""

    serial: str = SERIAL
    build: str = "percentiles"
    singles_us: list[int] = field(default_factory=lambda: [1510, 1432, 1618, 1475, 1702, 1390, 1544, 1499])
    loop_us: list[int] = field(default_factory=lambda: [1400, 1450, 1380, 1520, 1610, 1405])
    init_us: int = 18342
    free_bytes: int = 8 * 2**30
    thermal: list[int] = field(default_factory=lambda: [0])
    battery_temperature: list[int] = field(default_factory=lambda: [281])
    current_idle: int = -250_000  # uA, negative while discharging (the kernel ABI)
    current_active: int = -650_000
    voltage: int = 3_900_000  # uV
    status: str = "Discharging"
    wrong_arch: str | None = None  # the shell's message when the binary is for another architecture
    drop_at_benchmark: int | None = None  # the Nth benchmark_model command loses the connection
    vanish_at_benchmark: int | None = None  # the Nth benchmark_model command: the phone reboots and is gone
    files: dict[str, bytes] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    online: bool = True
    state: str = "device"  # as the server lists it: device, unauthorized, offline
    running: bool = False
    benchmarks: int = 0

    def battery_dump(self) -> str:
        t = self.battery_temperature.pop(0) if len(self.battery_temperature) > 1 else self.battery_temperature[0]
        return ("Current Battery Service state:\n  AC powered: false\n  USB powered: false\n"
                "  Wireless powered: false\n  Max charging current: 0\n  status: 3\n  health: 2\n  present: true\n"
                f"  level: 81\n  scale: 100\n  voltage: {self.voltage // 1000}\n  temperature: {t}\n"
                "  technology: Li-ion\n")

    def thermal_dump(self) -> str:
        status = self.thermal.pop(0) if len(self.thermal) > 1 else self.thermal[0]
        return (f"IsStatusOverride: false\nThermal Status: {status}\nCached temperatures:\n"
                "\tTemperature{mValue=33.5, mType=0, mName=CPU0, mStatus=0}\nHAL Ready: true\n")


class Drop(Exception):
    """The connection goes away without an answer."""


class AdbStandIn:
    """Start with ``with AdbStandIn(phone) as adb:``; ``adb.url(...)`` is a link to the phone through it."""

    def __init__(self, phone: Phone | None = None) -> None:
        self.phone = phone or Phone()
        self.requests: list[str] = []
        stand_in = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    stand_in._serve(self.request)
                except (Drop, ConnectionError, OSError):
                    pass

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=True)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> AdbStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, serial: str | None = SERIAL, **query: str) -> str:
        query = {"server": f"127.0.0.1:{self.port}", **query}
        return f"adb://{serial or ''}?" + "&".join(f"{k}={v}" for k, v in query.items())

    # ---- host protocol --------------------------------------------------------------------------------------

    @staticmethod
    def _read(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise Drop()
            data += chunk
        return data

    def _request(self, sock: socket.socket) -> str:
        size = int(self._read(sock, 4), 16)
        request = self._read(sock, size).decode()
        self.requests.append(request)
        return request

    @staticmethod
    def _okay(sock: socket.socket, block: str | None = None) -> None:
        payload = b"OKAY"
        if block is not None:
            data = block.encode()
            payload += f"{len(data):04x}".encode() + data
        sock.sendall(payload)

    @staticmethod
    def _fail(sock: socket.socket, message: str) -> None:
        data = message.encode()
        sock.sendall(b"FAIL" + f"{len(data):04x}".encode() + data)

    def _known(self, serial: str) -> bool:
        return self.phone.online and serial == self.phone.serial

    def _serve(self, sock: socket.socket) -> None:
        request = self._request(sock)
        phone = self.phone
        if request == "host:version":
            return self._okay(sock, f"{VERSION:04x}")
        if request in ("host:devices", "host:devices-l"):
            extra = " product:panther model:Pixel_7 device:panther transport_id:1" if request.endswith("-l") else ""
            return self._okay(sock, f"{phone.serial}\t{phone.state}{extra}\n" if phone.online else "")
        if request.startswith("host:connect:"):
            address = request[len("host:connect:"):]
            phone.serial = address
            return self._okay(sock, f"connected to {address}")
        if request.startswith("host-serial:"):
            serial, _, command = request[len("host-serial:"):].rpartition(":")
            if not self._known(serial):
                return self._fail(sock, f"device '{serial}' not found")
            return self._okay(sock, {"features": "shell_v2,cmd,stat_v2,ls_v2", "get-state": "device"}[command])
        if request.startswith("host:tport:serial:") or request.startswith("host:transport:"):
            serial = request.removeprefix("host:tport:serial:").removeprefix("host:transport:")
            if not self._known(serial):
                return self._fail(sock, f"device '{serial}' not found")
            sock.sendall(b"OKAY" + (struct.pack("<Q", 1) if "tport" in request else b""))
            return self._service(sock, self._request(sock))
        return self._fail(sock, f"unknown host service '{request}'")

    def _service(self, sock: socket.socket, request: str) -> None:
        if request.startswith("shell,v2:"):
            sock.sendall(b"OKAY")
            status, out, err = self._shell(request[len("shell,v2:"):], sock)
            packets = b""
            if out:
                packets += b"\x01" + struct.pack("<I", len(out)) + out
            if err:
                packets += b"\x02" + struct.pack("<I", len(err)) + err
            sock.sendall(packets + b"\x03" + struct.pack("<I", 1) + bytes([status]))
        elif request.startswith("shell:"):
            sock.sendall(b"OKAY")
            status, out, err = self._shell(request[len("shell:"):], sock)
            sock.sendall(out + err)
        elif request == "sync:":
            sock.sendall(b"OKAY")
            self._sync(sock)
        else:
            self._fail(sock, f"unknown device service '{request}'")

    # ---- sync -----------------------------------------------------------------------------------------------

    def _sync(self, sock: socket.socket) -> None:
        while True:
            kind = self._read(sock, 4).decode()
            size = struct.unpack("<I", self._read(sock, 4))[0]
            arg = self._read(sock, size).decode() if kind in ("STAT", "SEND", "RECV", "LIST") else ""
            if kind == "QUIT":
                return
            if kind == "STAT":
                exists = arg in self.phone.files
                folder = any(p.startswith(arg.rstrip("/") + "/") for p in self.phone.files) or arg == "/data/local/tmp"
                mode = 0o100644 if exists else (0o40771 if folder else 0)
                sock.sendall(b"STAT" + struct.pack("<III", mode, len(self.phone.files.get(arg, b"")), 0))
            elif kind == "SEND":
                path = arg.rsplit(",", 1)[0]
                data = b""
                while True:
                    chunk_kind = self._read(sock, 4)
                    n = struct.unpack("<I", self._read(sock, 4))[0]
                    if chunk_kind == b"DONE":
                        break
                    data += self._read(sock, n)
                if len(data) > self.phone.free_bytes:
                    message = f"write failed: {path}: No space left on device".encode()
                    sock.sendall(b"FAIL" + struct.pack("<I", len(message)) + message)
                    return
                self.phone.files[path] = data
                self.phone.free_bytes -= len(data)
                sock.sendall(b"OKAY" + struct.pack("<I", 0))
            elif kind == "RECV":
                if arg not in self.phone.files:
                    message = f"open failed: {arg}: No such file or directory".encode()
                    sock.sendall(b"FAIL" + struct.pack("<I", len(message)) + message)
                    return
                data = self.phone.files[arg]
                for start in range(0, len(data), 65536):
                    chunk = data[start:start + 65536]
                    sock.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                sock.sendall(b"DONE" + struct.pack("<I", 0))
            else:
                return

    # ---- the phone's shell ----------------------------------------------------------------------------------

    def _shell(self, command: str, sock: socket.socket) -> tuple[int, bytes, bytes]:
        phone = self.phone
        phone.commands.append(command)
        argv = shlex.split(command)
        if argv == ["getprop"]:
            return 0, "".join(f"[{k}]: [{v}]\n" for k, v in PROPS.items()).encode(), b""
        if argv == ["dumpsys", "thermalservice"]:
            return 0, phone.thermal_dump().encode(), b""
        if argv == ["dumpsys", "battery"]:
            return 0, phone.battery_dump().encode(), b""
        if argv[:2] == ["mkdir", "-p"]:
            return 0, b"", b""
        if argv[:2] == ["df", "-k"]:
            free_kb = phone.free_bytes // 1024
            return 0, (f"Filesystem     1K-blocks     Used Available Use% Mounted on\n"
                       f"/dev/block/dm-46 114337400 {114337400 - free_kb} {free_kb}  99% /data\n").encode(), b""
        if argv and argv[0] == "cat" and all("/sys/class/power_supply/" in a for a in argv[1:]):
            values = {"current_now": phone.current_active if phone.running else phone.current_idle,
                      "voltage_now": phone.voltage, "status": phone.status}
            return 0, "".join(f"{values[a.rsplit('/', 1)[1]]}\n" for a in argv[1:]).encode(), b""
        if argv and argv[0].endswith("/benchmark_model"):
            return self._benchmark(argv, sock)
        return 127, b"", f"/system/bin/sh: {argv[0] if argv else ''}: inaccessible or not found\n".encode()

    def _benchmark(self, argv: list[str], sock: socket.socket) -> tuple[int, bytes, bytes]:
        phone = self.phone
        phone.benchmarks += 1
        if phone.drop_at_benchmark == phone.benchmarks:
            sock.close()
            raise Drop()
        if phone.vanish_at_benchmark == phone.benchmarks:
            phone.online = False
            sock.close()
            raise Drop()
        if argv[0] not in phone.files:
            return 127, b"", f"/system/bin/sh: {argv[0]}: inaccessible or not found\n".encode()
        if phone.wrong_arch:
            return 126, b"", f"/system/bin/sh: {argv[0]}: {phone.wrong_arch}\n".encode()
        flags = dict(a[2:].split("=", 1) for a in argv[1:])
        graph = flags["graph"]
        if graph not in phone.files:
            return 1, b"", f"ERROR: Could not open '{graph}'.\nERROR: Failed to load model\n".encode()
        runs, warmup, min_secs = int(flags["num_runs"]), int(flags["warmup_runs"]), float(flags["min_secs"])
        phone.running = True
        if "output_filepath" in flags:
            self._infer(flags)
            timed = [phone.loop_us[0]]
        elif runs == 1:
            timed = [phone.singles_us.pop(0)] if len(phone.singles_us) > 1 else [phone.singles_us[0]]
        else:
            per = sum(phone.loop_us) / len(phone.loop_us)
            count = max(runs, math.ceil(min_secs * 1e6 / per))  # --min_secs adds runs, as the tool does
            timed = [phone.loop_us[i % len(phone.loop_us)] for i in range(count)]
        warm = [phone.loop_us[i % len(phone.loop_us)] + 300 for i in range(warmup)]
        if min_secs > 0:
            time.sleep(min_secs)
        phone.running = False
        scale = SCALE[phone.build]
        return 0, self._output(graph, flags, [v * scale for v in warm], [v * scale for v in timed]).encode(), b""

    def _output(self, graph: str, flags: dict[str, str], warm: list[int], timed: list[int]) -> str:
        """The tool's log in this build's format: percentiles or not, which memory line, a log prefix."""
        build = self.phone.build
        percentiles = build == "percentiles"

        def avg(values: list[int]) -> str:
            return cpp(sum(values) / len(values)) if values else "0"

        lines = ["STARTING!", "Log parameter values verbosely: [0]", f"Num threads: [{flags['num_threads']}]",
                 f"Graph: [{graph}]", f"Use xnnpack: [{1 if flags.get('use_xnnpack') == 'true' else 0}]",
                 f"The input model file size (MB): {cpp(len(self.phone.files[graph]) / 1e6)}",
                 f"Initialized session in {cpp(self.phone.init_us / 1e3)}ms."]
        for phase in (warm, timed):
            lines += ["Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if "
                      "exceeding 150 seconds.", stat_line(phase, percentiles), ""]
        lines.append(f"Inference timings in us: Init: {self.phone.init_us}, First inference: "
                     f"{warm[0] if warm else 0}, Warmup (avg): {avg(warm)}, Inference (avg): {avg(timed)}")
        if flags.get("report_peak_memory_footprint") == "true":
            lines.append("Note: as the benchmark tool itself affects memory footprint, the following is only "
                         "APPROXIMATE to the actual memory footprint of the model at runtime. Take the information "
                         "at your discretion.")
            if build == "peak-line":
                lines.append(f"Peak memory footprint (MB): init=3.42188 overall={MEMORY_MB}")
            else:
                lines.append(f"Memory footprint delta from the start of the tool (MB): init=4.21094 "
                             f"overall={MEMORY_MB}")
            if percentiles:
                lines.append("Overall peak memory footprint (MB) via periodic monitoring: 11.25")
        prefix = "INFO: " if percentiles else ""
        return "\n".join(prefix + line if line else line for line in lines) + "\n"

    def _infer(self, flags: dict[str, str]) -> None:
        """The model on the input file with the real LiteRT (XNNPACK only with --use_xnnpack=true, as the tool),
        the outputs' raw bytes to the output file."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kernels = OpResolverType.AUTO if flags.get("use_xnnpack") == "true" else \
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        interpreter = Interpreter(model_content=self.phone.files[flags["graph"]],
                                  experimental_op_resolver_type=kernels)
        interpreter.allocate_tensors()
        name_file = flags["input_layer_value_files"]
        path = name_file.rsplit(":", 1)[1]
        detail = interpreter.get_input_details()[0]
        data = np.frombuffer(self.phone.files[path], dtype=detail["dtype"]).reshape(detail["shape"])
        interpreter.set_tensor(detail["index"], data)
        interpreter.invoke()
        out = b"".join(interpreter.get_tensor(o["index"]).tobytes() for o in interpreter.get_output_details())
        self.phone.files[flags["output_filepath"]] = out
