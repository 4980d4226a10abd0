"""Cross-runtime parity: the same clips through LiteRT, TFLite Micro and ONNX Runtime for each variant of a
keyword spotter, with top-1 agreement and the largest score difference per pair of (variant, runtime) runs, and
every disagreement explained (a near tie flipped by kernel arithmetic or by quantization, or a real divergence).

Each clip's front-end features are computed once; each variant gets them typed and quantized for its own input,
exactly as the evaluation feeds it (``ClassifierScorer.model_input``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from harness.core.errors import ConfigError
from harness.corpus.directory import Corpus
from harness.evaluation.engine import clip_records, read_clip
from harness.evaluation.scoring import ClassifierScorer, dequantize
from harness.registry.models import ModelEntry, Task
from harness.runtimes import RuntimeOptions, get_runtime

RUNTIMES = {"tflite": ("litert", "tflm"), "onnx": ("onnxruntime",)}
FLOAT_TOLERANCE = 1e-4  # float kernels may sum in another order: differences beyond this are not rounding
NEAR_TIE_MAX_DIFF = 0.1  # a probability moved further than this by quantization is a divergence, not a near tie


@dataclass(frozen=True)
class RuntimeScores:
    model: str
    runtime: str
    quantized_output: bool
    output_step: float  # one output quantization step (0 for float outputs)
    scores: np.ndarray  # [clips, classes], dequantized


@dataclass
class PairParity:
    a: str  # "model@runtime"
    b: str
    n: int
    top1_agreement: float
    max_abs_diff: float
    tolerance: float | None  # None: two variants, whose difference is reported, not bounded
    cause: str  # what may make the two differ at all
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def within_tolerance(self) -> bool | None:
        return None if self.tolerance is None else self.max_abs_diff <= self.tolerance

    def record(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n": self.n, "top1_agreement": self.top1_agreement,
                "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance,
                "within_tolerance": self.within_tolerance, "cause": self.cause, "disagreements": self.disagreements}


def slice_clips(corpus: Corpus, n: int) -> list[dict[str, Any]]:
    """The first ``n`` clips in manifest order: a fixed slice, the same on every machine."""
    return clip_records(corpus.manifest.reset_index(drop=True).head(n))


def run_everywhere(entry: ModelEntry, corpus: Corpus, clips: list[dict[str, Any]]) -> list[RuntimeScores]:
    """The model's dequantized scores for every clip in every runtime installed here that reads its format."""
    if entry.task != Task.kws:
        raise ConfigError(f"model '{entry.name}' has task '{entry.task.value}'; runtime parity compares kws "
                          "classifiers (one tensor in, class scores out)")
    scorer = ClassifierScorer(entry, RuntimeOptions(reference_kernels=True))
    try:
        inputs = [scorer.model_input(scorer.features(read_clip(corpus.path, clip))) for clip in clips]
    finally:
        scorer.close()
    out = []
    for name in RUNTIMES[entry.format]:
        session = get_runtime(name).load(entry.artifact_path(), RuntimeOptions(reference_kernels=True))
        try:
            info = session.outputs[0]
            scores = np.stack([dequantize(session.run([x])[0].reshape(-1), info) for x in inputs]).astype(np.float64)
        finally:
            session.close()
        out.append(RuntimeScores(entry.name, name, info.quantized, float(info.scale), scores))
    return out


def _cause(a: RuntimeScores, b: RuntimeScores) -> str:
    if a.model == b.model:
        return (f"one model in two runtimes: only kernel arithmetic differs ({a.runtime} vs {b.runtime}); int8 "
                "reference kernels are bit-exact, float kernels may sum in another order")
    if a.quantized_output or b.quantized_output:
        return (f"two variants of the network: {a.model} vs {b.model} differ by quantization (output step "
                f"{max(a.output_step, b.output_step):.4g}) besides any kernel arithmetic")
    return f"two float variants of the network ({a.model} vs {b.model}): weights and summation order"


def _tolerance(a: RuntimeScores, b: RuntimeScores) -> float | None:
    """The largest score difference that is rounding for one model in two runtimes: one output step (int8) or
    FLOAT_TOLERANCE; None across variants, whose quantization difference is the finding, not an error."""
    if a.model != b.model:
        return None
    return a.output_step if a.quantized_output else FLOAT_TOLERANCE


def _explain(clip_id: str, a: RuntimeScores, b: RuntimeScores, i: int, labels: list[str]) -> dict[str, Any]:
    """Why one clip's top-1 differs: a near tie (a top-two margin within twice a small score difference) that
    rounding or quantization flips, or a divergence (scores further apart than NEAR_TIE_MAX_DIFF)."""
    sa, sb = a.scores[i], b.scores[i]
    diff = float(np.max(np.abs(sa - sb)))
    margins = [float(np.diff(np.sort(s)[-2:])[0]) for s in (sa, sb)]
    top_a, top_b = int(np.argmax(sa)), int(np.argmax(sb))
    near = min(margins) <= 2 * diff and diff <= NEAR_TIE_MAX_DIFF
    if near:
        why = (f"near tie: the top-two margin ({min(margins):.4g}) is within twice the largest score difference "
               f"({diff:.4g}), so the small difference between the runs flips the order")
    elif diff > NEAR_TIE_MAX_DIFF:
        cause = (f"{a.model} and {b.model} are different variants, so their quantization or conversion changes this "
                 "clip's decision (harness compare-models counts such clips per group)" if a.model != b.model else
                 "one model in two runtimes should not differ so: check the conversion and the input quantization")
        why = (f"not a near tie: the scores differ by {diff:.4g}, more than rounding or quantization moves a score "
               f"({NEAR_TIE_MAX_DIFF}): the runs compute different functions here; {cause}")
    else:
        why = (f"not a near tie (margins {margins[0]:.4g} / {margins[1]:.4g} against a difference of {diff:.4g}): "
               "check the conversion and the input quantization")
    return {"clip_id": clip_id, "top1_a": labels[top_a], "top1_b": labels[top_b],
            "score_a": float(sa[top_a]), "score_b": float(sb[top_b]), "max_abs_diff": diff, "near_tie": near,
            "explanation": why}


def parity(entries: list[ModelEntry], corpus: Corpus, n_clips: int = 16) -> list[PairParity]:
    """Every pair of (variant, runtime) runs on the first ``n_clips`` clips of ``corpus``; variants must share
    their labels (they are one network)."""
    labels = [list(e.labels or []) for e in entries]
    if any(lab != labels[0] for lab in labels):
        raise ConfigError("runtime parity compares variants of one network, but the models' labels differ: "
                          + "; ".join(f"{e.name}: {e.labels}" for e in entries))
    clips = slice_clips(corpus, n_clips)
    runs = [r for e in entries for r in run_everywhere(e, corpus, clips)]
    out = []
    for a, b in combinations(runs, 2):
        agree = np.argmax(a.scores, axis=1) == np.argmax(b.scores, axis=1)
        tolerance = _tolerance(a, b)
        pair = PairParity(f"{a.model}@{a.runtime}", f"{b.model}@{b.runtime}", len(clips), float(agree.mean()),
                          float(np.max(np.abs(a.scores - b.scores))), tolerance, _cause(a, b))
        pair.disagreements = [_explain(str(clips[i]["clip_id"]), a, b, i, labels[0])
                              for i in np.flatnonzero(~agree)]
        out.append(pair)
    return out
