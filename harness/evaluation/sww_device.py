"""A host wake-word scorer as the detector inside the simulated sww DUT, so the device flow and the host's
streaming evaluation run the same model, front end and counting rules on the same stream.

Per-frame device time comes from the calibrated cost model: a prediction, and labelled as one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

import numpy as np

from harness.analysis import analyze
from harness.analysis.profile import ModelProfile
from harness.core.errors import ConfigError
from harness.costmodel.model import CostModel, default_cost_model
from harness.dut.sim.faults import FaultPlan
from harness.dut.sim.links import SocketListener, open_listener
from harness.dut.sim.wiring_stream import WiringStreamer
from harness.dut.sww.sim import SimBoardServer, SimInterfaceBoard, SimSwwDut
from harness.evaluation.scoring import SAMPLE_RATE, WakeWordScorer
from harness.power.wiring import WiringLog
from harness.registry.models import ModelEntry, Task
from harness.registry.targets import TargetProfile
from harness.runtimes import RuntimeOptions


def host_detection_times(scorer: WakeWordScorer, audio: np.ndarray) -> np.ndarray:
    """The host streaming evaluation of one stream: detection times (s) under the model's rules."""
    return scorer.rules.detections(scorer.probabilities(scorer.features(audio)))


@dataclass
class ScorerDetector:
    """``harness.dut.sww.sim.StreamDetector`` backed by a ``WakeWordScorer`` (the real runtime, every step)."""

    scorer: WakeWordScorer
    latency_s: float
    latency_source: str
    stack: str = ""

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
        """Per-frame latency as the cost model predicts one step on ``target``: the model, and a front end that is
        itself a model run every step (openWakeWord's mel-spectrogram and embedding stages). A DSP front end (LFBE,
        the TFLite Micro front end) is not in the cost model, so then the figure is a lower bound of the
        processing-pin time, and its source says so."""
        entry = scorer.entry
        profile = ModelProfile.combine([analyze(p) for p in [*entry.stage_paths(), entry.artifact_path()]])
        prediction = (cost_model or default_cost_model()).predict(profile, target, stack)
        covers = (f"model and front-end stages ({', '.join(s.name for s in entry.stages)})" if entry.stages
                  else f"model only (front end {entry.frontend} not in the cost model)")
        source = f"predicted by the cost model for {target.name} ({prediction.stack}), {covers}"
        return cls(scorer, prediction.latency.seconds, source, prediction.stack)


class SimSwwRig:
    """A simulated interface board and sww DUT running ``entry`` on ``target``, served on 127.0.0.1 sockets.

    ``board_url`` is the board's port, ``dut_url`` the DUT's own UART (the same DUT), ``wiring_url`` its power
    draw in simulated time for a ``sim:`` power monitor. The host's streaming evaluation of a stream is
    ``host_detection_times(rig.scorer, audio)``: the DUT runs that scorer, with the same cutoff.
    """

    def __init__(self, entry: ModelEntry, target: TargetProfile, sd_card: Path, *, stack: str | None = None,
                 cutoff: float | None = None, faults: FaultPlan | None = None, listen: str = "socket://127.0.0.1:0",
                 dut_listen: str = "socket://127.0.0.1:0", wiring_listen: str = "socket://127.0.0.1:0",
                 cost_model: CostModel | None = None) -> None:
        if entry.task != Task.wake_word:
            raise ConfigError(f"model '{entry.name}' has task '{entry.task.value}'; the sww DUT runs wake-word models",
                              hint="e.g. --model mlperf-sww01, mww-alexa or oww-alexa")
        if not sd_card.is_dir():
            raise ConfigError(f"{sd_card}: the SD-card folder does not exist",
                              hint="give a folder of 2-channel 16 kHz WAVs, e.g. one 'harness corpus stream' wrote")
        self.scorer = WakeWordScorer(entry, RuntimeOptions())
        if cutoff is not None:
            self.scorer.rules = replace(self.scorer.rules, cutoff=cutoff)
        self.detector = ScorerDetector.predicted(self.scorer, target, stack, cost_model)
        frame_s = self.detector.frame_samples / SAMPLE_RATE
        if self.detector.latency_s >= frame_s:
            self.scorer.close()
            per_frame_ms = self.detector.latency_s * 1e3
            raise ConfigError(f"a {target.name} DUT cannot keep up with {entry.name}: {per_frame_ms:.1f} ms per "
                              f"{frame_s * 1e3:g} ms frame ({self.detector.latency_source})",
                              hint="a real DUT would drop frames; pick a faster target or stack "
                                   f"(harness predict --model {entry.name} --target T)")
        self.wiring = WiringLog()
        power = target.power
        self.dut = SimSwwDut(self.detector, name=f"sim:{target.name}", wirings=[self.wiring],
                             idle_w=power.idle_mw / 1e3,
                             active_w=power.active_for(self.detector.stack) / 1e3)
        self.board = SimInterfaceBoard(sd_card, self.dut)
        self.board_server = SimBoardServer(self.board, listen, faults, name="sim-sww-board")
        self.dut_server = SimBoardServer(self.dut, dut_listen, name="sim-sww-dut")
        self._wiring_listen = wiring_listen
        self._streamer: WiringStreamer | None = None

    @property
    def board_url(self) -> str:
        return self.board_server.url

    @property
    def dut_url(self) -> str:
        return self.dut_server.url

    @property
    def wiring_url(self) -> str:
        return self._streamer.url if self._streamer else ""

    def start(self) -> SimSwwRig:
        listener = open_listener(self._wiring_listen)
        if not isinstance(listener, SocketListener):
            listener.close()
            raise ConfigError(f"the wiring stream needs a socket, not '{self._wiring_listen}'",
                              hint="valid: socket://HOST:PORT")
        self._streamer = WiringStreamer(self.wiring, listener)
        self.dut.wiring = _Both(self.wiring, self._streamer)
        self._streamer.start()
        self.board_server.start()
        self.dut_server.start()
        return self

    def stop(self) -> None:
        self.board_server.stop()
        self.dut_server.stop()
        if self._streamer is not None:
            self._streamer.stop()
        self.scorer.close()

    def __enter__(self) -> SimSwwRig:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


@dataclass
class _Both:
    """Record in the log, then wake the streamer's readers."""

    log: WiringLog
    streamer: WiringStreamer

    def power(self, t_s: float, watts: float) -> None:
        self.log.power(t_s, watts)
        self.streamer.power(t_s, watts)

    def edge(self, t_s: float) -> None:
        self.log.edge(t_s)
        self.streamer.edge(t_s)
