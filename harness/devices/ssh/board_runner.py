"""The on-board runner: copied to a Linux board over SFTP and run there with the board's own Python.

It needs only the standard library, numpy and one runtime (``ai_edge_litert``, ``tflite_runtime`` or
``onnxruntime``), and talks to the host in JSON lines on stdout:

    python3 board_runner.py facts
    python3 board_runner.py load --model M --threads T [--xnnpack]      (facts, then the model loaded once)
    python3 board_runner.py bench --model M --runs N --warmup W --threads T [--xnnpack] [--seed S]
                                  [--rails-ms P --idle-ms I]   (sample the on-board power rails every P ms)
    python3 board_runner.py serve --model M --threads T [--xnnpack] [--streaming]   (inputs as JSON lines on stdin)

Every line is one object with an ``event``: ``facts``, ``loaded``, ``warmup`` (one per untimed invoke),
``latency`` (one per timed invoke, ns on the board's monotonic clock), ``window`` and ``rails`` (with
``--rails-ms``: the timed loop's clock edges, and the raw rail files read at ``t_ns``), ``done``,
``scores``, or ``error`` (then the exit status is 3). The board's facts come from ``/proc`` and ``/sys`` under
``$EDGE_HARNESS_SYSROOT`` (default ``/``).
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time

ERROR_EXIT = 3
LITERT_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


_EMITTING = threading.Lock()  # the rail sampler writes from its own thread


def emit(event: str, **fields: object) -> None:
    line = json.dumps(dict(event=event, **fields)) + "\n"
    with _EMITTING:
        sys.stdout.write(line)
        sys.stdout.flush()


class BoardError(Exception):
    """A failure the host reports by ``kind``: runtime-missing, model, input."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# ---- the board's facts ---------------------------------------------------------------------------------------

def _root() -> str:
    return os.environ.get("EDGE_HARNESS_SYSROOT", "/")


def _read(path: str) -> str | None:
    try:
        with open(os.path.join(_root(), path.lstrip("/")), encoding="utf-8", errors="replace") as f:
            return f.read().strip().rstrip("\x00")
    except OSError:
        return None


def _cpu_list(text: str | None) -> list[int]:
    """``0-3,6`` as [0, 1, 2, 3, 6] (the kernel's cpu list format)."""
    cores: list[int] = []
    for part in (text or "").split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-")
            cores.extend(range(int(lo), int(hi) + 1))
        elif part:
            cores.append(int(part))
    return cores


def _cpu_model() -> str | None:
    fields: dict[str, str] = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    tree = _read("/proc/device-tree/model")
    return tree or fields.get("model name") or fields.get("model") or fields.get("hardware") or platform.machine()


def _temperatures() -> dict[str, float]:
    """Degrees C per thermal zone (sysfs gives millidegrees)."""
    temps: dict[str, float] = {}
    for zone in sorted(glob.glob(os.path.join(_root(), "sys/class/thermal/thermal_zone*"))):
        name = os.path.basename(zone)
        raw = _read(f"/sys/class/thermal/{name}/temp")
        if raw and raw.lstrip("-").isdigit():
            temps[f"{name}:{_read(f'/sys/class/thermal/{name}/type') or 'unknown'}"] = int(raw) / 1000.0
    return temps


def _trip_points() -> dict[str, dict[str, float]]:
    """Degrees C of each zone's critical and hot trip points (the kernel powers off at critical)."""
    trips: dict[str, dict[str, float]] = {}
    for zone in sorted(glob.glob(os.path.join(_root(), "sys/class/thermal/thermal_zone*"))):
        name = os.path.basename(zone)
        for path in sorted(glob.glob(os.path.join(zone, "trip_point_*_type"))):
            kind = _read(os.path.relpath(path, _root()))
            raw = _read(os.path.relpath(path, _root())[:-len("type")] + "temp")
            if kind in ("critical", "hot") and raw and raw.lstrip("-").isdigit():
                key = f"{name}:{_read(f'/sys/class/thermal/{name}/type') or 'unknown'}"
                trips.setdefault(key, {})[kind] = int(raw) / 1000.0
    return trips


def _throttling() -> dict[str, object]:
    """What the board says about throttling: the Raspberry Pi firmware's flags, x86 throttle counters."""
    found: dict[str, object] = {}
    flags = _read("/sys/devices/platform/soc/soc:firmware/get_throttled")
    if flags is None and _root() == "/" and shutil.which("vcgencmd"):
        try:
            out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5).stdout
            flags = out.strip().partition("=")[2] or None
        except (OSError, subprocess.SubprocessError):
            flags = None
    if flags is not None:
        found["rpi_get_throttled"] = flags
    counts = [_read(f"/sys/devices/system/cpu/cpu{c}/thermal_throttle/core_throttle_count")
              for c in _cpu_list(_read("/sys/devices/system/cpu/online"))]
    if any(c is not None for c in counts):
        found["core_throttle_count"] = sum(int(c) for c in counts if c and c.isdigit())
    return found


def facts() -> dict[str, object]:
    online = _cpu_list(_read("/sys/devices/system/cpu/online")) or list(range(os.cpu_count() or 1))
    governors = {c: _read(f"/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor") for c in online}
    freqs = {c: _read(f"/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_cur_freq") for c in online}
    uname = platform.uname()
    return {
        "hostname": uname.node,
        "kernel": f"{uname.system} {uname.release} {uname.version}",
        "machine": uname.machine,
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "online_cores": online,
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "governors": sorted({g for g in governors.values() if g}),
        "cur_freq_khz": {str(c): int(f) for c, f in freqs.items() if f and f.isdigit()},
        "temperatures_c": _temperatures(),
        "trip_points_c": _trip_points(),
        "throttling": _throttling(),
        "time_ns": time.monotonic_ns(),
    }


# ---- the model -------------------------------------------------------------------------------------------------

class Model:
    """A .tflite model in LiteRT (or tflite_runtime), or an .onnx model in ONNX Runtime."""

    def __init__(self, path: str, threads: int, xnnpack: bool) -> None:
        try:
            import numpy as np
        except ImportError as e:
            raise BoardError("runtime-missing", f"numpy is not installed for {sys.executable}: {e}") from e
        self.np = np
        if path.endswith(".onnx"):
            self._load_onnx(path, threads)
        else:
            self._load_tflite(path, threads, xnnpack)

    def _load_tflite(self, path: str, threads: int, xnnpack: bool) -> None:
        module, failures = None, []
        for name in LITERT_MODULES:
            try:
                module = __import__(name, fromlist=["Interpreter"])
                break
            except ImportError as e:
                failures.append(f"{name.split('.')[0]}: {e}")
        if module is None:
            raise BoardError("runtime-missing", f"no LiteRT runtime for {sys.executable} ({'; '.join(failures)})")
        package = module.__name__.split(".")[0]
        self.runtime = f"{package} {_version(package)}"
        kinds = getattr(module, "OpResolverType", None)
        kwargs: dict[str, object] = {"num_threads": threads}
        if kinds is not None:
            kwargs["experimental_op_resolver_type"] = kinds.AUTO if xnnpack else kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interpreter = module.Interpreter(model_path=path, **kwargs)
            interpreter.allocate_tensors()
        except Exception as e:  # ValueError for a corrupt file, RuntimeError for a missing op
            raise BoardError("model", f"{self.runtime} cannot load {path}: {e}") from e
        self.interpreter = interpreter
        self.inputs = interpreter.get_input_details()
        self.outputs = interpreter.get_output_details()
        self.input_specs = [(d["shape"].tolist(), self.np.dtype(d["dtype"]).name) for d in self.inputs]
        self.onnx = None

    def _load_onnx(self, path: str, threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BoardError("runtime-missing", f"onnxruntime is not installed for {sys.executable}: {e}") from e
        self.runtime = f"onnxruntime {ort.__version__}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.onnx = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise BoardError("model", f"{self.runtime} cannot load {path}: {e}") from e
        dtypes = {"tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(float)": "float32",
                  "tensor(int16)": "int16", "tensor(int32)": "int32", "tensor(int64)": "int64"}
        self.input_specs = [([d if isinstance(d, int) else 1 for d in i.shape], dtypes.get(i.type, "float32"))
                            for i in self.onnx.get_inputs()]

    def run(self, xs: list) -> list:
        if self.onnx is not None:
            names = [i.name for i in self.onnx.get_inputs()]
            return self.onnx.run(None, dict(zip(names, xs)))  # noqa: B905 - zip(strict=) needs Python 3.10; boards may be older
        for detail, x in zip(self.inputs, xs):  # noqa: B905 - as above
            self.interpreter.set_tensor(detail["index"], x)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]) for d in self.outputs]

    def reset(self) -> None:
        if self.onnx is None:
            self.interpreter.reset_all_variables()

    def scores(self, out: object) -> list[float]:
        """The first output dequantized to float (scale and zero point from the model), flattened."""
        np = self.np
        values = np.asarray(out).reshape(-1).astype(np.float64)
        if self.onnx is None:
            scale, zero = self.outputs[0].get("quantization", (0.0, 0))
            if scale:
                values = (values - zero) * scale
        return values.tolist()

    def random_inputs(self, seed: int) -> list:
        np = self.np
        rng = np.random.default_rng(seed)
        xs = []
        for shape, dtype in self.input_specs:
            if np.issubdtype(np.dtype(dtype), np.integer):
                info = np.iinfo(dtype)
                xs.append(rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype))
            else:
                xs.append(rng.standard_normal(shape).astype(dtype))
        return xs


def _version(package: str) -> str:
    try:
        from importlib import metadata

        return metadata.version(package.replace("_", "-"))
    except Exception:
        return "unknown"


# ---- power rails the board measures itself -----------------------------------------------------------------

RAIL_FILES = re.compile(r"^(name|label|in\d+_(input|label|enable)|curr\d+_input|power\d+_(input|label)|"
                        r"energy\d+_input|rail_name_\d+|in_(power|voltage|current)\d+_input)$")
RAIL_DIRS = ("sys/class/hwmon/hwmon*", "sys/bus/i2c/drivers/ina3221x/*/iio:device*")


class RailSampler:
    """Reads the rail files every ``period_s`` on its own thread and emits them raw (the host parses them)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        folders = [f for pattern in RAIL_DIRS for f in glob.glob(os.path.join(_root(), pattern))]
        paths = [p for folder in folders for p in glob.glob(os.path.join(folder, "*"))]
        self.files = sorted(os.path.relpath(p, _root()) for p in paths if RAIL_FILES.match(os.path.basename(p)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter_ns()
            emit("rails", t_ns=t, files={f: _read(f) for f in self.files})
            self._stop.wait(self.period_s)

    def __enter__(self) -> RailSampler:
        if not self.files:
            raise BoardError("rails", f"no power rail files under {_root()} ({', '.join(RAIL_DIRS)})")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench(args: argparse.Namespace) -> None:
    emit("facts", when="before", **facts())
    model = Model(args.model, args.threads, args.xnnpack)
    emit("loaded", runtime=model.runtime, inputs=model.input_specs)
    xs = model.random_inputs(args.seed)
    for i in range(args.warmup):
        model.run(xs)
        emit("warmup", i=i)
    if args.rails_ms:
        with RailSampler(args.rails_ms / 1e3):
            time.sleep(args.idle_ms / 1e3)
            out = timed_window(model, xs, args.runs)
            time.sleep(args.idle_ms / 1e3)
    else:
        clock = time.perf_counter_ns
        out = []
        for i in range(args.runs):
            start = clock()
            out = model.run(xs)
            emit("latency", i=i, ns=clock() - start)
    emit("facts", when="after", **facts())
    emit("done", runs=args.runs, warmup=args.warmup, scores=model.scores(out[0]))


def timed_window(model: Model, xs: list, runs: int) -> list:
    """Back-to-back invokes between two clock edges; latencies are printed after the window, not inside it."""
    clock = time.perf_counter_ns
    laps = []
    out: list = []
    start = clock()
    for _ in range(runs):
        t0 = clock()
        out = model.run(xs)
        laps.append(clock() - t0)
    end = clock()
    emit("window", start_ns=start, end_ns=end)
    for i, ns in enumerate(laps):
        emit("latency", i=i, ns=ns)
    return out


def serve(args: argparse.Namespace) -> None:
    model = Model(args.model, args.threads, args.xnnpack)
    np = model.np
    emit("loaded", runtime=model.runtime, inputs=model.input_specs)
    shape, dtype = model.input_specs[0]
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        data = base64.b64decode(request["data"])
        expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if len(data) != expected:
            emit("error", kind="input", message=f"input '{request['id']}' has {len(data)} bytes; the model's "
                                                f"input {shape} {dtype} holds {expected}")
            continue
        if args.streaming:
            model.reset()
        out = model.run([np.frombuffer(data, dtype=dtype).reshape(shape)])
        emit("scores", id=request["id"], scores=model.scores(out[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="board_runner.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("facts")
    for name in ("load", "bench", "serve"):
        p = commands.add_parser(name)
        p.add_argument("--model", required=True)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--xnnpack", action="store_true")
        if name == "bench":
            p.add_argument("--runs", type=int, required=True)
            p.add_argument("--warmup", type=int, default=0)
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--rails-ms", type=float, default=0.0, help="sample the board's power rails this often")
            p.add_argument("--idle-ms", type=float, default=500.0, help="idle time sampled before and after")
        elif name == "serve":
            p.add_argument("--streaming", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "facts":
            emit("facts", when="deploy", **facts())
        elif args.command == "load":
            emit("facts", when="deploy", **facts())
            model = Model(args.model, args.threads, args.xnnpack)
            emit("loaded", runtime=model.runtime, inputs=model.input_specs)
        elif args.command == "bench":
            bench(args)
        else:
            serve(args)
    except BoardError as e:
        emit("error", kind=e.kind, message=str(e))
        return ERROR_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
