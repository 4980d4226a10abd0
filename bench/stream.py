"""``sww_stream_realtime_factor``: seconds of audio per wall second through the simulated sww board and DUT.

A 20-minute sww01-style stream built from the built-in corpus (``harness.corpus.stream``, as ``harness corpus
stream`` builds them) is played the way the field runner plays it (``play_stream``: DUT stop/start,
record_detections, play, stop, print_detections, print_dutycycle) over a socket into ``SimSwwRig``: the DUT runs
the front end and the model on every frame in the real runtime. Model loading and corpus building stay outside the
timed span. A factor above 1 simulates faster than the stream plays; a 20-minute stream takes 1200 / factor seconds.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness.core.paths import models_dir, targets_dir
from harness.core.transcript import Transcript
from harness.corpus.directory import load_corpus
from harness.corpus.stream import StreamSpec, build_streams
from harness.corpus.synth import synthesize_corpus
from harness.dut.sww.board import InterfaceBoard
from harness.dut.sww.session import play_stream
from harness.evaluation.sww_device import SimSwwRig
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry

LENGTH_S = 1200.0  # the benchmark's stream
PAIRS = (("mlperf-sww01", "nucleo-l4r5zi"), ("mww-alexa", "esp32-s3"))


def stream_figures(length_s: float = LENGTH_S) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as work:
        corpus = load_corpus(synthesize_corpus(Path(work) / "corpus", size="tiny", seed=0))
        card = Path(work) / "sd"
        stream = build_streams(corpus, StreamSpec("alexa", "accent", length_s=length_s, seed=0), card)[0]
        for model, target in PAIRS:
            entry = ModelRegistry(models_dir()).get(model)
            with SimSwwRig(entry, TargetRegistry(targets_dir()).get(target), card) as rig, \
                    InterfaceBoard(rig.board_url, Transcript(Path(work) / f"{model}.log")) as board:
                board.name()  # connection and first-command costs stay out of the figure
                start = time.perf_counter()
                capture = play_stream(board, stream.wav_path.name, length_s, settle_s=0)
                wall = time.perf_counter() - start
            figures[f"sww_stream_realtime_factor_{model}"] = {
                "value": round(length_s / wall, 1), "unit": "s of audio / wall s", "limit": 1.0,
                "wall_s": round(wall, 2), "stream_s": length_s, "detections": len(capture.detections_ms) - 1,
                "method": f"a {length_s:g} s stream of the built-in corpus played through the simulated interface "
                          f"board into the simulated DUT running {model} on {target}, every frame, over a socket",
                "command": "python -m bench.run --only stream"}
    return figures
