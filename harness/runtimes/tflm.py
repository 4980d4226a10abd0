"""TensorFlow Lite Micro runtime (the Python build of TFLM's reference kernels) for .tflite models."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import ConfigError, ModelError
from harness.runtimes.base import Runtime, RuntimeOptions, TensorInfo, register_runtime
from harness.runtimes.checks import (
    CheckedSession,
    captured_native_output,
    format_shape,
    log_excerpt,
    read_model,
    require_tflite,
    tensor_info,
)

MIN_ARENA_BYTES = 64 * 1024
MAX_ARENA_BYTES = 64 * 1024 * 1024
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def _import_runtime() -> Any:
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def default_arena_bytes(model_bytes: int) -> int:
    """The first arena size tried when none is configured: max(64 KiB, 10 x model size)."""
    return max(MIN_ARENA_BYTES, 10 * model_bytes)


def _tensor_names(path: Path, data: bytes) -> tuple[list[str], list[str]]:
    """Names of the main subgraph's inputs and outputs, read from the flatbuffer."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    try:
        graph = schema.Model.GetRootAs(data, 0).Subgraphs(0)
        if graph is None:
            raise ValueError("the model has no subgraph")

        def name(index: int) -> str:
            raw = graph.Tensors(index).Name()
            return raw.decode("utf-8", errors="replace") if raw else f"tensor{index}"

        return ([name(graph.Inputs(i)) for i in range(graph.InputsLength())],
                [name(graph.Outputs(i)) for i in range(graph.OutputsLength())])
    except Exception as exc:  # a corrupt flatbuffer fails in arbitrary ways (struct.error, IndexError, ...)
        raise ModelError(f"{path}: not a readable TFLite model: {type(exc).__name__}: {exc}") from exc


def _doubling(start: int) -> list[int]:
    sizes = [start]
    while sizes[-1] * 2 <= MAX_ARENA_BYTES:
        sizes.append(sizes[-1] * 2)
    return sizes


def _attempt(runtime: Any, data: bytes, arena_size: int) -> tuple[Any, str, Exception | None]:
    """Build an interpreter with ``arena_size`` bytes; returns it (or None), TFLM's log and the failure."""
    interpreter = failure = None
    with captured_native_output() as out:
        try:
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena_size)
            interpreter.print_allocations()
        except Exception as exc:  # RuntimeError from TFLM; struct.error etc. for corrupt models
            interpreter, failure = None, exc
    return interpreter, out.text, failure


def _needs_more_arena(path: Path, runtime: Any, data: bytes, size: int, log: str, failure: Exception) -> int:
    """Bytes the model allocates in the largest arena, or ModelError if the arena was not the problem.

    TFLM reports a full arena and a broken model alike ("failed to allocate tensors"), so this
    asks the largest arena instead of parsing log text.
    """
    if isinstance(failure, RuntimeError) and size < MAX_ARENA_BYTES:
        _, roomy_log, roomy_failure = _attempt(runtime, data, MAX_ARENA_BYTES)
        if roomy_failure is None:
            return _arena_used(path, roomy_log)
    detail = log_excerpt(log) or f"{type(failure).__name__}: {failure}"
    raise ModelError(f"{path}: TFLite Micro cannot load the model: {detail}") from failure


def _arena_used(path: Path, log: str) -> int:
    match = _ARENA_TOTAL.search(log)
    if match is None:
        raise ModelError(f"{path}: TFLite Micro did not report its arena usage",
                         hint=f"print_allocations() wrote: {log_excerpt(log) or 'nothing'}")
    return int(match.group(1))


def minimum_arena_bytes(path: Path, granularity: int = 16) -> int:
    """The smallest arena (to ``granularity`` bytes) in which TFLite Micro can allocate the model.

    Larger than ``arena_bytes()``: the memory planner needs scratch space while it plans. Bisects
    with one interpreter build per step (~15 ms each for microWakeWord models); the alignment of
    the arena buffer can move the answer by a few bytes.
    """
    session = TFLMRuntime().load(Path(path), RuntimeOptions())
    runtime = _import_runtime()
    data = read_model(Path(path))
    low, high = session.arena_bytes() - 1, session.arena_size  # low fails (assumed), high works
    while high - low > granularity:
        middle = (low + high) // 2
        if _attempt(runtime, data, middle)[2] is None:
            high = middle
        else:
            low = middle
    return high


def _infos(path: Path, names: list[str], details: Any) -> list[TensorInfo]:
    return [
        tensor_info(path, name, d["shape"], d["dtype"], d.get("quantization_parameters"))
        for name, d in zip(names, (details(i) for i in range(len(names))), strict=True)
    ]


def _make_runner(
    interpreter: Any, n_inputs: int, n_outputs: int
) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    # A closure over bound methods: no attribute lookups per call and no loop for one input/one output.
    set_input, invoke, get_output = interpreter.set_input, interpreter.invoke, interpreter.get_output
    if n_inputs == 1 and n_outputs == 1:

        def run_single(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            set_input(inputs[0], 0)
            invoke()
            return [get_output(0)]

        return run_single
    input_positions, output_positions = tuple(range(n_inputs)), tuple(range(n_outputs))

    def run_any(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        for position, value in zip(input_positions, inputs, strict=False):
            set_input(value, position)
        invoke()
        return [get_output(position) for position in output_positions]

    return run_any


class TFLMSession(CheckedSession):
    """A .tflite model in a TFLite Micro interpreter with a fixed tensor arena."""

    runtime_name = "tflm"

    def __init__(self, path: Path, interpreter: Any, arena_size: int, arena_used: int,
                 input_names: list[str], output_names: list[str]) -> None:
        self.model_path = path
        self.arena_size = arena_size
        """Size of the arena handed to TFLM (bytes); ``arena_bytes()`` is how much of it the model used."""
        self._arena_used = arena_used
        self._interpreter = interpreter
        self.inputs = _infos(path, input_names, interpreter.get_input_details)
        self.outputs = _infos(path, output_names, interpreter.get_output_details)
        self._runner = _make_runner(interpreter, len(self.inputs), len(self.outputs))

    def reset(self) -> None:
        """Reset every variable (including resource variables) to its initial value."""
        self._interpreter.reset()

    def arena_bytes(self) -> int:
        """Arena bytes the model actually uses (head + tail, as TFLM's RecordingMicroAllocator reports)."""
        return self._arena_used

    def close(self) -> None:
        self._runner = None  # type: ignore[assignment]
        self._interpreter = None


@register_runtime
class TFLMRuntime(Runtime):
    """TFLite Micro on the host.

    With ``options.arena_bytes`` unset the arena starts at ``default_arena_bytes`` and doubles on
    allocation failure up to MAX_ARENA_BYTES; a configured arena is tried once, as on a device.
    ``session.arena_bytes()`` is what the model allocates; ``minimum_arena_bytes`` what it needs.
    """

    name = "tflm"
    formats = ("tflite",)

    @classmethod
    def version(cls) -> str | None:
        try:
            _import_runtime()
        except Exception:  # missing package or a native extension that fails to load
            return None
        try:
            return f"tflite-micro {metadata.version('tflite-micro')}"
        except metadata.PackageNotFoundError:
            return "tflite-micro unknown"

    def load(
        self, path: Path, options: RuntimeOptions, input_shapes: Sequence[Sequence[int]] | None = None
    ) -> TFLMSession:
        """Load a .tflite file; TFLM cannot resize inputs, so ``input_shapes`` must match the model."""
        path = Path(path)
        runtime = _import_runtime()
        data = read_model(path)
        require_tflite(path, data)
        input_names, output_names = _tensor_names(path, data)
        explicit = options.arena_bytes
        if explicit is not None and explicit <= 0:
            raise ConfigError(f"tflm: arena_bytes must be positive, got {explicit}")
        sizes = [explicit] if explicit is not None else _doubling(default_arena_bytes(len(data)))
        for attempt, size in enumerate(sizes):
            interpreter, log, failure = _attempt(runtime, data, size)
            if failure is None:
                used = _arena_used(path, log)
                session = TFLMSession(path, interpreter, size, used, input_names, output_names)
                self._check_shapes(session, input_shapes)
                return session
            if attempt == 0:
                needed = _needs_more_arena(path, runtime, data, size, log, failure)
            if explicit is not None:
                raise ModelError(
                    f"{path}: a TFLite Micro arena of {explicit} bytes is too small (the model allocates "
                    f"{needed} bytes, plus scratch while planning): {log_excerpt(log, 2)}",
                    hint="raise arena_bytes; minimum_arena_bytes() finds the smallest arena that works",
                )
        raise AssertionError("unreachable: the largest arena was shown to work")

    @staticmethod
    def _check_shapes(session: TFLMSession, input_shapes: Sequence[Sequence[int]] | None) -> None:
        if input_shapes is None:
            return
        wanted = [tuple(int(d) for d in s) for s in input_shapes]
        actual = [info.shape for info in session.inputs]
        if wanted != actual:
            have = ", ".join(format_shape(s) for s in actual)
            asked = ", ".join(format_shape(s) for s in wanted)
            raise ModelError(f"{session.model_path}: TFLite Micro cannot resize inputs; "
                             f"the model has {have}, asked for {asked}")
