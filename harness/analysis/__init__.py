"""Static model analysis: parameters, bytes, op histogram, MACs per op, activation memory.

``analyze`` reads a .tflite or .onnx file without running it. Conventions shared by both formats:

* ``params`` counts the elements of constant tensors (weights, biases, shape constants).
* MACs are derived from tensor shapes for convolution, depthwise convolution, fully connected
  and matrix-multiply ops; every other op counts 0 MACs.
* ``output_elements`` is the element count of an op's first output (0 when it has none).
* ``peak_activation_bytes`` comes from :func:`peak_live_bytes` over the ops in file order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from harness.analysis.profile import ModelProfile, OpCost
from harness.core.errors import ModelError

SUFFIXES = (".tflite", ".onnx")

__all__ = ["SUFFIXES", "ModelProfile", "OpCost", "analyze", "peak_live_bytes"]


def analyze(path: Path) -> ModelProfile:
    """The static profile of a .tflite or .onnx model file.

    Raises ModelError when the file is missing, has another suffix, or is not a valid model.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelError(
            f"{path}: unsupported model format '{path.suffix}'", hint=f"valid: {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    stat = path.stat()
    return _analyze_file(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _analyze_file(path: Path, size: int, mtime_ns: int) -> ModelProfile:
    """``analyze`` once per file version: a run deploys the same model on every target, and parsing a
    .tflite file into flatbuffer objects takes a large part of a second for the openWakeWord stages.
    The profile is frozen, so sharing it is safe; size and mtime make an edited file a new entry."""
    if path.suffix.lower() == ".tflite":
        from harness.analysis.tflite import analyze_tflite

        return analyze_tflite(path)
    from harness.analysis.onnx import analyze_onnx

    return analyze_onnx(path)


def peak_live_bytes(
    steps: Sequence[tuple[Iterable[Hashable], Iterable[Hashable]]],
    sizes: Mapping[Hashable, int],
    inputs: Iterable[Hashable] = (),
    outputs: Iterable[Hashable] = (),
) -> int:
    """Largest total size of simultaneously live tensors when ``steps`` run in order.

    ``steps`` holds each op's (inputs, outputs); only tensors in ``sizes`` (the non-constant
    ones) count. A tensor is live from the step that produces it until the last step that
    consumes it, both inclusive, so an op's inputs and outputs are live together; one produced
    and never consumed is live during its own step. Graph ``inputs`` (and tensors consumed
    before any step produces them) are live from the start, graph ``outputs`` to the end; pass
    persistent state in both.
    """
    n = len(steps)
    start: dict[Hashable, int] = {t: 0 for t in inputs if t in sizes}
    end: dict[Hashable, int] = dict(start)
    for i, (ins, outs) in enumerate(steps):
        for t in outs:
            if t in sizes:
                start.setdefault(t, i)
                end[t] = max(end.get(t, i), i)
        for t in ins:
            if t in sizes:
                start.setdefault(t, 0)
                end[t] = i
    for t in outputs:
        if t in sizes:
            start.setdefault(t, 0)
            end[t] = n
    delta = [0] * (n + 2)
    for t, s in start.items():
        delta[s] += sizes[t]
        delta[end[t] + 1] -= sizes[t]
    peak = live = 0
    for d in delta:
        live += d
        peak = max(peak, live)
    return peak
