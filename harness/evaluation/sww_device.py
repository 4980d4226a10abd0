"""A host wake-word scorer as the detector inside the simulated sww DUT, so the device flow and the host's
streaming evaluation run the same model, front end and counting rules on the same stream.

Per-frame device time comes from the calibrated cost model: a prediction, and labelled as one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.analysis import analyze
from harness.costmodel.model import CostModel, default_cost_model
from harness.evaluation.scoring import SAMPLE_RATE, WakeWordScorer
from harness.registry.targets import TargetProfile


def host_detection_times(scorer: WakeWordScorer, audio: np.ndarray) -> np.ndarray:
    """The host streaming evaluation of one stream: detection times (s) under the model's rules."""
    return scorer.rules.detections(scorer.probabilities(scorer.features(audio)))


@dataclass
class ScorerDetector:
    """``harness.dut.sww.sim.StreamDetector`` backed by a ``WakeWordScorer`` (the real runtime, every step)."""

    scorer: WakeWordScorer
    latency_s: float
    latency_source: str

    @property
    def frame_samples(self) -> int:
        return round(self.scorer.rules.step_s * SAMPLE_RATE)

    @property
    def description(self) -> str:
        return f"{self.scorer.entry.name} (front end {self.scorer.entry.frontend})"

    def detections(self, audio: np.ndarray) -> np.ndarray:
        return np.round(host_detection_times(self.scorer, audio) * SAMPLE_RATE).astype(np.int64)

    @classmethod
    def predicted(cls, scorer: WakeWordScorer, target: TargetProfile, stack: str | None = None,
                  cost_model: CostModel | None = None) -> ScorerDetector:
        """Per-frame latency as the cost model predicts the model's inference on ``target`` (the front end is
        not in the cost model, so this is a lower bound of the processing-pin time)."""
        prediction = (cost_model or default_cost_model()).predict(analyze(scorer.entry.artifact_path()), target,
                                                                   stack)
        source = f"predicted by the cost model for {target.name} ({prediction.stack}), model only"
        return cls(scorer, prediction.latency.seconds, source)
