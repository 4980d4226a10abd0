"""Score one clip with one model: front end, model invocations, decision, per-clip prediction row.

A scorer owns the model's runtime sessions. Front-end features depend only on the front end, so
``feature_key`` lets the engine compute them once per clip for every model that shares them (the
four microWakeWord models share the micro front end; the openWakeWord heads share the embedding).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.signature import signature
from harness.core.errors import ConfigError
from harness.evaluation.streaming import StreamingRules, smooth
from harness.frontends import get_frontend
from harness.frontends.base import FrontEnd
from harness.registry.models import ModelEntry, Task
from harness.runtimes import RuntimeOptions, Session, TensorInfo, get_runtime
from harness.runtimes.base import HOST_RUNTIME

SAMPLE_RATE = 16_000


def dequantize(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.quantized:
        return (values.astype(np.float32) - info.zero_point) * np.float32(info.scale)
    return values.astype(np.float32)


class Scorer(ABC):
    """One model ready to score clips."""

    def __init__(self, entry: ModelEntry, options: RuntimeOptions) -> None:
        self.entry = entry
        runtime = get_runtime(HOST_RUNTIME[entry.format])
        stage_paths = entry.stage_paths()
        self.stages: list[Session] = [
            runtime.load(p, options, input_shapes=[s.input.shape] if s.input else None)
            for s, p in zip(entry.stages, stage_paths, strict=True)
        ]
        dynamic = entry.input is not None and any(t.dynamic for t in signature(entry.artifact_path())[0][:1])
        self.session = runtime.load(entry.artifact_path(), options,
                                    input_shapes=[entry.input.shape] if dynamic and entry.input else None)
        self.frontend = self._frontend()
        self.feature_key = (entry.frontend, *(str(p) for p in stage_paths))

    def _frontend(self) -> FrontEnd:
        if self.entry.frontend == "none":
            raise ConfigError(f"model '{self.entry.name}' names no front end, so it cannot score audio",
                              hint=f"set 'frontend' in {self.entry.source_file}")
        if self.entry.frontend == "oww_melspec":
            return get_frontend("oww_melspec", mel_session=self.stages[0], emb_session=self.stages[1])
        return get_frontend(self.entry.frontend)

    def features(self, audio: np.ndarray) -> np.ndarray:
        return self.frontend.features(audio)

    @abstractmethod
    def score(self, features: np.ndarray, clip: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
        """The prediction row fields for one clip, and the per-step scores kept for DET curves."""

    def close(self) -> None:
        for s in [*self.stages, self.session]:
            s.close()


def wake_label(entry: ModelEntry) -> str:
    """The corpus label of this model's wake phrase (``hey jarvis`` -> ``hey_jarvis``)."""
    return (entry.wake_phrase or "").strip().lower().replace(" ", "_")


class WakeWordScorer(Scorer):
    """Streaming wake-word detection under the shared counting rules."""

    def __init__(self, entry: ModelEntry, options: RuntimeOptions) -> None:
        super().__init__(entry, options)
        if entry.decision is None or entry.step_ms is None:
            raise ConfigError(f"wake-word model '{entry.name}' needs 'decision' and 'step_ms'",
                              hint=f"add them to {entry.source_file}")
        self.input = self.session.inputs[0]
        self.output = self.session.outputs[0]
        self.label = wake_label(entry)
        step_s = entry.step_ms / 1000.0
        first_end = float(self.frontend.step_end_samples(1, self.input)[0]) / SAMPLE_RATE
        self.rules = StreamingRules(window=entry.decision.window, cutoff=entry.decision.cutoff, step_s=step_s,
                                    refractory_s=entry.decision.refractory_s, offset_s=first_end - step_s)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        steps = self.frontend.model_inputs(features, self.input)
        if self.entry.streaming:
            self.session.reset()
            out = self.session.run_sequence(steps).reshape(len(steps), -1)[:, 0]
        elif len(steps):  # frame-independent: every step in batches, the same outputs (runtimes/base.py)
            rows = steps.reshape(len(steps), *self.input.shape[1:])
            out = self.session.run_rows(rows).reshape(len(steps), -1)[:, 0]
        else:
            out = np.empty(0, dtype=self.output.dtype)
        return dequantize(out, self.output) if self.output.quantized else out.astype(np.float32, copy=False)

    def score(self, features: np.ndarray, clip: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
        probs = self.probabilities(features)
        smoothed = smooth(probs, self.rules.window)
        detections = self.rules.detect_smoothed(smoothed)
        positive = clip["label"] == self.label
        tp, extra = self.rules.count(detections, positive, clip.get("phrase_start_s"), clip.get("phrase_end_s"))
        row = {
            "is_positive": positive,
            "score": float(smoothed.max()) if smoothed.size else 0.0,
            "predicted": bool(len(detections)),
            "detected": bool(tp),
            "false_accepts": int(extra),
            "correct": bool(tp) if positive else extra == 0,
            "n_steps": int(len(probs)),
            "first_detection_s": float(detections[0]) if len(detections) else float("nan"),
        }
        return row, probs


UNKNOWN = "_unknown_"
SILENCE = "_silence_"


@dataclass(frozen=True)
class KwsClasses:
    """A multi-class model's output labels, and how its scores and a clip's label become one prediction row.

    Session-free, so scores printed by a device are counted exactly as the host's are.
    """

    labels: tuple[str, ...]

    @classmethod
    def of(cls, entry: ModelEntry) -> KwsClasses:
        if not entry.labels:
            raise ConfigError(f"kws model '{entry.name}' needs 'labels' (its output classes in order)",
                              hint=f"add them to {entry.source_file}")
        return cls(tuple(entry.labels))

    @property
    def keywords(self) -> set[str]:
        return {lab for lab in self.labels if not lab.startswith("_")}

    def expected(self, label: str) -> str:
        """The class a clip should get: its word, or _unknown_ for words the model does not know."""
        if label in self.labels:
            return label
        return SILENCE if label == SILENCE else UNKNOWN

    def prediction(self, scores: np.ndarray, label: str) -> dict[str, Any]:
        """The prediction row fields for a clip labelled ``label`` whose class scores are ``scores``."""
        top = int(np.argmax(scores))
        predicted = self.labels[top]
        expected = self.expected(label)
        keywords = self.keywords
        return {
            "expected": expected,
            "predicted_label": predicted,
            "score": float(scores[top]),
            "correct": predicted == expected,
            "is_keyword": expected in keywords,
            "predicted_keyword": predicted in keywords,
        }


class ClassifierScorer(Scorer):
    """Multi-class keyword spotting: one invocation per clip, top-1 of the model's labels."""

    UNKNOWN = UNKNOWN
    SILENCE = SILENCE

    def __init__(self, entry: ModelEntry, options: RuntimeOptions) -> None:
        super().__init__(entry, options)
        self.classes = KwsClasses.of(entry)
        self.labels = list(self.classes.labels)
        self.keywords = self.classes.keywords
        self.input = self.session.inputs[0]
        self.output = self.session.outputs[0]

    def expected(self, label: str) -> str:
        """The class a clip should get: its word, or _unknown_ for words the model does not know."""
        return self.classes.expected(label)

    def model_input(self, features: np.ndarray) -> np.ndarray:
        """The one tensor a clip becomes: the front end's first step, typed and quantized for the model's input."""
        return self.frontend.model_inputs(features, self.input)[0]

    def score(self, features: np.ndarray, clip: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
        scores = dequantize(self.session.run([self.model_input(features)])[0].reshape(-1), self.output)
        return self.classes.prediction(scores, str(clip["label"])), scores


def make_scorer(entry: ModelEntry, options: RuntimeOptions) -> Scorer:
    if entry.task == Task.wake_word:
        return WakeWordScorer(entry, options)
    if entry.task == Task.kws:
        return ClassifierScorer(entry, options)
    raise ConfigError(f"model '{entry.name}' has task '{entry.task.value}'; evaluation needs wake_word or kws")
