"""LiteRT (TensorFlow Lite) runtime for .tflite models, via ai-edge-litert or the legacy tflite-runtime."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from harness.core.errors import ConfigError, ModelError
from harness.runtimes.base import Runtime, RuntimeOptions, TensorInfo, register_runtime, same_outputs
from harness.runtimes.checks import (
    CheckedSession,
    captured_native_output,
    format_shape,
    log_excerpt,
    read_model,
    require_tflite,
    tensor_info,
)

# Preference order: (distribution name, import name).
BACKENDS: tuple[tuple[str, str], ...] = (
    ("ai-edge-litert", "ai_edge_litert"),
    ("tflite-runtime", "tflite_runtime"),
)

# A valid 172-byte TFLite model: one float32 tensor [1] that is both input and output, no operators.
# Constructing an interpreter from it is the cheapest way to find out whether a backend really works:
# tflite-runtime built against NumPy 1.x imports fine under NumPy 2 and only fails here.
_PROBE_MODEL = bytes.fromhex(
    "1800000054464c3300000e00140010000c000800000004000e000000100000001c000000840000000300000001000000"
    "08000000040004000400000001000000100000000c00140010000c00080004000c000000100000001000000014000000"
    "18000000000000000100000000000000010000000000000001000000100000000c000c0008000000000004000c000000"
    "080000000c0000000100000078000000010000000100000000000000"
)


@dataclass(frozen=True)
class BackendStatus:
    """Whether one LiteRT Python package works here; ``error`` says why not."""

    distribution: str
    module: str
    version: str | None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.error is None


def _describe_failure(exc: BaseException, log: str) -> str:
    chain: list[BaseException] = [exc]
    while len(chain) < 5 and (chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    root = chain[-1]  # the innermost exception names the actual cause
    message = f"{type(root).__name__}: {root}"
    if "_ARRAY_API" in log or "NumPy 1.x" in log:
        message += f" (built against NumPy 1.x, cannot run with NumPy {np.__version__})"
    return message


@cache
def _probe(distribution: str, module_name: str) -> tuple[BackendStatus, ModuleType | None]:
    try:
        version: str | None = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        version = None
    try:
        module = importlib.import_module(f"{module_name}.interpreter")
    except Exception as exc:  # ImportError, or anything a broken native extension throws
        return BackendStatus(distribution, module_name, version, f"import failed: {exc}"), None
    with captured_native_output() as out:
        try:
            interpreter = module.Interpreter(model_content=_PROBE_MODEL)
            interpreter.allocate_tensors()
            failure = None
        except Exception as exc:
            failure = exc
    if failure is not None:
        return BackendStatus(distribution, module_name, version, _describe_failure(failure, out.text)), None
    return BackendStatus(distribution, module_name, version), module


def backend_status() -> list[BackendStatus]:
    """Every known LiteRT Python package, in preference order, with whether it works here."""
    return [_probe(distribution, module)[0] for distribution, module in BACKENDS]


def _first_usable() -> tuple[BackendStatus, ModuleType] | None:
    for distribution, module_name in BACKENDS:
        status, module = _probe(distribution, module_name)
        if module is not None:
            return status, module
    return None


def op_resolver(module: ModuleType, xnnpack: bool, reference_kernels: bool) -> Any:
    """The OpResolverType for the requested kernels.

    ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` runs LiteRT's optimised builtin kernels without XNNPACK;
    ``BUILTIN_REF`` runs the reference kernels, the ones TFLite Micro's Python build uses.
    """
    kinds = module.OpResolverType
    if reference_kernels:
        if xnnpack:
            raise ConfigError("litert: xnnpack and reference kernels are mutually exclusive",
                              hint="set xnnpack: false to run the reference kernels")
        return kinds.BUILTIN_REF
    return kinds.AUTO if xnnpack else kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _make_runner(
    set_tensor: Callable[[int, np.ndarray], None],
    invoke: Callable[[], None],
    get_tensor: Callable[[int], np.ndarray],
    input_indices: tuple[int, ...],
    output_indices: tuple[int, ...],
) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    # A closure over bound methods and constant indices: no attribute or dict lookups per call, and no
    # loop for the common one-input/one-output model (each saves a few hundred ns per invoke).
    if len(input_indices) == 1 and len(output_indices) == 1:
        (input_index,), (output_index,) = input_indices, output_indices

        def run_single(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            set_tensor(input_index, inputs[0])
            invoke()
            return [get_tensor(output_index)]

        return run_single

    def run_any(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        for index, value in zip(input_indices, inputs, strict=False):
            set_tensor(index, value)
        invoke()
        return [get_tensor(index) for index in output_indices]

    return run_any


def _info(path: Path, detail: dict[str, Any]) -> TensorInfo:
    quantization = detail.get("quantization_parameters")
    return tensor_info(path, detail["name"], detail["shape"], detail["dtype"], quantization)


class LiteRTSession(CheckedSession):
    """A .tflite model in a LiteRT interpreter; tensor indices and bound methods are resolved at load."""

    runtime_name = "litert"

    def __init__(
        self,
        path: Path,
        data: bytes,
        module: ModuleType,
        resolver: Any,
        threads: int,
        input_shapes: Sequence[Sequence[int]] | None,
        max_batch: int = 1,
    ) -> None:
        self.model_path = path
        self._data = data
        self._module = module
        self._resolver = resolver
        self._threads = threads
        self._input_shapes = [tuple(int(d) for d in s) for s in input_shapes] if input_shapes else None
        self.max_batch = max_batch
        self._batched: dict[int, Callable[[Sequence[np.ndarray]], list[np.ndarray]] | None] = {}
        self._reshaped: dict[tuple[int, ...], Callable[[Sequence[np.ndarray]], list[np.ndarray]] | None] = {}
        self._build()

    def _build(self) -> None:
        path = self.model_path
        # LiteRT prints to stderr from C++ (e.g. when it applies XNNPACK during allocation); keep it for errors.
        with captured_native_output() as log:
            try:
                interpreter = self._module.Interpreter(
                    model_content=self._data,
                    experimental_op_resolver_type=self._resolver,
                    num_threads=self._threads,
                )
            except Exception as exc:  # ValueError for corrupt models, RuntimeError for missing ops
                failure: Exception | None = exc
            else:
                failure = None
                details = interpreter.get_input_details()
                if self._input_shapes is not None:
                    self._resize(interpreter, details)
                try:
                    interpreter.allocate_tensors()
                except Exception as exc:
                    raise self._allocation_error(details, exc) from exc
        if failure is not None:
            detail = log_excerpt(log.text) or str(failure)
            raise ModelError(f"{path}: LiteRT cannot load the model: {detail}") from failure
        inputs = interpreter.get_input_details()
        outputs = interpreter.get_output_details()
        self.inputs = [_info(path, d) for d in inputs]
        self.outputs = [_info(path, d) for d in outputs]
        self._interpreter = interpreter
        self._input_indices = tuple(int(d["index"]) for d in inputs)
        self._output_indices = tuple(int(d["index"]) for d in outputs)
        self._runner = _make_runner(interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor,
                                    self._input_indices, self._output_indices)

    def _allocation_error(self, details: list[dict[str, Any]], exc: Exception) -> ModelError:
        dynamic = [
            f"input {i} '{d['name']}' {format_shape(d.get('shape_signature', d['shape']))}"
            for i, d in enumerate(details)
            if min(d.get("shape_signature", d["shape"]), default=0) < 0
        ]
        hint = None
        if dynamic and self._input_shapes is None:
            hint = (f"{', '.join(dynamic)} has dynamic dimensions: give the shape to run it with, "
                    "--input-shape 1,16000 on the command line or 'input: {shape: [...], dtype: ...}' in the "
                    "model's entry YAML (docs/models.md)")
        return ModelError(f"{self.model_path}: LiteRT cannot allocate tensors: {exc}", hint=hint)

    def _resize(self, interpreter: Any, details: list[dict[str, Any]]) -> None:
        assert self._input_shapes is not None
        if len(self._input_shapes) != len(details):
            raise ModelError(f"{self.model_path}: input_shapes has {len(self._input_shapes)} shape(s), "
                             f"the model has {len(details)} input(s)")
        for index, (detail, shape) in enumerate(zip(details, self._input_shapes, strict=True)):
            if tuple(int(d) for d in detail["shape"]) == shape:
                continue
            try:
                interpreter.resize_tensor_input(detail["index"], list(shape), strict=True)
            except Exception as exc:
                signature = format_shape(detail.get("shape_signature", detail["shape"]))
                raise ModelError(
                    f"{self.model_path}: cannot resize input {index} '{detail['name']}' "
                    f"to {format_shape(shape)}; its signature is {signature} (only -1 dimensions can change)"
                ) from exc

    def run_rows(self, rows: np.ndarray) -> np.ndarray:
        """Invoke batches of up to ``max_batch`` rows, each size a power of two (so no row is padding and
        at most log2(max_batch) + 1 interpreters exist). The first batch of each size is compared with
        the step-by-step path; a model that cannot batch, or batches differently, runs row by row."""
        if self.max_batch <= 1 or len(self.inputs) != 1 or len(self.outputs) != 1 or len(rows) <= 1:
            return self.run_each(rows)
        out = np.empty((len(rows), *self.outputs[0].shape[1:]), dtype=self.outputs[0].dtype)
        start = 0
        while start < len(rows):
            size = min(self.max_batch, 1 << ((len(rows) - start).bit_length() - 1))
            part = rows[start:start + size]
            if size == 1:
                out[start:start + 1] = self.run_each(part)
            elif size not in self._batched:
                out[start:start + size] = self._first_batch(part)
            elif (runner := self._batched[size]) is None:
                out[start:start + size] = self.run_each(part)
            else:
                out[start:start + size] = runner([part])[0].reshape(size, *out.shape[1:])
            start += size
        return out

    def _first_batch(self, rows: np.ndarray) -> np.ndarray:
        """Build the interpreter for ``len(rows)`` rows and keep it only if it gives the step-by-step outputs."""
        expected = self.run_each(rows)
        runner = self._batch_runner(len(rows))
        if runner is not None:
            batched = runner([np.ascontiguousarray(rows)])[0]
            if batched.size != expected.size or not same_outputs(batched.reshape(expected.shape), expected):
                runner = None
        self._batched[len(rows)] = runner
        return expected

    def run_sequence(self, steps: np.ndarray) -> np.ndarray:
        if len(self.inputs) != 1 or not len(steps):
            return super().run_sequence(steps)
        interpreter = self._interpreter
        set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
        (input_index,), output_index = self._input_indices, self._output_indices[0]
        out = np.empty((len(steps), *self.outputs[0].shape), dtype=self.outputs[0].dtype)
        try:
            for i in range(len(steps)):  # the loop a streaming model spends its evaluation in: nothing else in it
                set_tensor(input_index, steps[i])
                invoke()
                out[i] = get_tensor(output_index)
        except (ValueError, RuntimeError, TypeError, IndexError) as exc:
            raise self._run_error([steps[0]], exc) from exc
        return out

    def run_reshaped(self, x: np.ndarray) -> np.ndarray | None:
        if len(self.inputs) != 1 or len(self.outputs) != 1:
            return None
        shape = tuple(int(d) for d in x.shape)
        if shape not in self._reshaped:
            self._reshaped[shape] = self._resized_runner(shape)
        runner = self._reshaped[shape]
        return None if runner is None else runner([np.ascontiguousarray(x, dtype=self.inputs[0].dtype)])[0]

    def _batch_runner(self, size: int) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]] | None:
        return self._resized_runner((size, *self.inputs[0].shape[1:]))

    def _resized_runner(self, shape: tuple[int, ...]) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]] | None:
        """A runner on its own interpreter whose input 0 is resized to ``shape``, or None if LiteRT refuses."""
        with captured_native_output():
            try:
                interpreter = self._module.Interpreter(
                    model_content=self._data, experimental_op_resolver_type=self._resolver, num_threads=self._threads)
                detail = interpreter.get_input_details()[0]
                interpreter.resize_tensor_input(detail["index"], list(shape), strict=False)
                interpreter.allocate_tensors()
            except Exception:  # a model with a fixed batch somewhere inside (e.g. a reshape to [1, ...])
                return None
        output = interpreter.get_output_details()[0]
        return _make_runner(interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor,
                            (int(detail["index"]),), (int(output["index"]),))

    def reset(self) -> None:
        """Recreate the interpreter: LiteRT's ``reset_all_variables`` leaves resource variables alone.

        A streaming model resets once per clip, so without XNNPACK (whose delegate logs to stderr) only the
        interpreter and its runner are rebuilt: the model loaded before, so its tensors are the same.
        """
        if self._resolver == self._module.OpResolverType.AUTO:
            self._build()
            return
        try:
            interpreter = self._module.Interpreter(
                model_content=self._data, experimental_op_resolver_type=self._resolver, num_threads=self._threads)
            if self._input_shapes is not None:
                self._resize(interpreter, interpreter.get_input_details())
            interpreter.allocate_tensors()
        except Exception:  # noqa: BLE001 - the full build reports the failure with LiteRT's own log
            self._build()
            return
        self._interpreter = interpreter
        self._runner = _make_runner(interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor,
                                    self._input_indices, self._output_indices)

    def close(self) -> None:
        self._runner = None  # type: ignore[assignment]
        self._interpreter = None


@register_runtime
class LiteRTRuntime(Runtime):
    """LiteRT on the host CPU.

    ``options.xnnpack`` False runs the optimised builtin kernels without delegates, True applies the
    default XNNPACK delegate. ``options.reference_kernels`` runs the reference kernels instead, which are
    bit-exact with TFLite Micro's reference kernels (the optimised int8 depthwise convolution is not).
    """

    name = "litert"
    formats = ("tflite",)

    @classmethod
    def version(cls) -> str | None:
        found = _first_usable()
        if found is None:
            return None
        status = found[0]
        return f"{status.distribution} {status.version or 'unknown'}"

    def load(
        self, path: Path, options: RuntimeOptions, input_shapes: Sequence[Sequence[int]] | None = None
    ) -> LiteRTSession:
        """Load a .tflite file; ``input_shapes`` resizes dynamic (-1) input dimensions before allocation."""
        path = Path(path)
        found = _first_usable()
        if found is None:
            reasons = "; ".join(f"{s.distribution}: {s.error}" for s in backend_status())
            raise ConfigError(f"runtime 'litert' is not usable here ({reasons})", hint="run 'make install'")
        if options.threads < 1:
            raise ConfigError(f"litert: threads must be >= 1, got {options.threads}")
        module = found[1]
        data = read_model(path)
        require_tflite(path, data)
        resolver = op_resolver(module, options.xnnpack, options.reference_kernels)
        return LiteRTSession(path, data, module, resolver, options.threads, input_shapes, options.max_batch)
