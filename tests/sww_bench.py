"""A simulated sww01 bench for tests, every part on a 127.0.0.1 socket: the interface board (its SD card a stream
folder), the DUT running a real wake-word model (optionally on its own port too), and the wiring a simulated power
monitor reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.dut.sim.links import SocketListener
from harness.dut.sim.wiring_stream import WiringStreamer
from harness.dut.sww.sim import SimBoardServer, SimInterfaceBoard, SimSwwDut
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.sww_device import ScorerDetector
from harness.power.wiring import WiringLog
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.runtimes import RuntimeOptions


@dataclass
class SwwBench:
    board: SimInterfaceBoard
    board_url: str
    wiring_url: str
    wiring: WiringLog
    detector: ScorerDetector
    dut_url: str | None = None

    @property
    def monitor(self) -> str:
        return f"sim:{self.wiring_url}"


@contextmanager
def sww_bench(sd_card: Path, model: ModelEntry, target: TargetProfile, dut_port: bool = False,
              **faults: object) -> Iterator[SwwBench]:
    scorer = WakeWordScorer(model, RuntimeOptions())
    with ExitStack() as stack:
        stack.callback(scorer.close)
        log = WiringLog()
        streamer = WiringStreamer(log, SocketListener("127.0.0.1", 0))
        streamer.start()
        stack.callback(streamer.stop)
        detector = ScorerDetector.predicted(scorer, target)
        dut = SimSwwDut(detector, wirings=[log, streamer], idle_w=target.power.idle_mw / 1e3,
                        active_w=target.power.active_mw / 1e3)
        board = SimInterfaceBoard(sd_card, dut, **faults)  # type: ignore[arg-type]
        server = stack.enter_context(SimBoardServer(board))
        dut_url = stack.enter_context(SimBoardServer(dut)).url if dut_port else None
        yield SwwBench(board, server.url, streamer.url, log, detector, dut_url)
