"""The sww01 device flow end to end over a socket: the host driver plays a stream on the simulated interface
board, the simulated DUT runs a real wake-word model on it, and its detections equal the host's streaming
evaluation of the same stream; plus the board's faults."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import DeviceError, DeviceTimeout, MeasurementError
from harness.core.paths import models_dir, targets_dir
from harness.core.transcript import Transcript
from harness.corpus.directory import load_corpus
from harness.corpus.stream import StreamSpec, build_streams, write_stereo_wav
from harness.corpus.synth import synthesize_corpus
from harness.dut.sww.board import InterfaceBoard
from harness.dut.sww.session import play_stream
from harness.dut.sww.sim import SimBoardServer, SimInterfaceBoard, SimSwwDut
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.sww import StreamTruth, WindowRule, score_stream
from harness.evaluation.sww_device import ScorerDetector
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry
from harness.runtimes import RuntimeOptions


@pytest.fixture(scope="module")
def scorer() -> Iterator[WakeWordScorer]:
    s = WakeWordScorer(ModelRegistry(models_dir()).get("mww-alexa"), RuntimeOptions())
    yield s
    s.close()


@pytest.fixture(scope="module")
def sd_card(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    corpus = load_corpus(synthesize_corpus(tmp_path_factory.mktemp("corpus") / "tiny", size="tiny", seed=0))
    card = tmp_path_factory.mktemp("sd")
    stream = build_streams(corpus, StreamSpec("alexa", "accent", length_s=40.0, n_words=3, seed=1), card)[0]
    write_stereo_wav(card / "silence.wav", np.zeros(16000 * 5))
    write_stereo_wav(card / "short.wav", np.ones(3200))
    with wave.open(str(card / "mono.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(np.zeros(1600, "<i2").tobytes())
    return card, {"wav_file": stream.wav_path.name, "windows": stream.detection_windows, "length_s": 40.0}


def left_slot(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as f:
        return np.frombuffer(f.readframes(f.getnframes()), "<i2").reshape(-1, 2)[:, 0].copy()


def test_the_simulated_dut_detects_what_the_host_evaluation_detects(scorer, sd_card, tmp_path: Path) -> None:
    card, stream = sd_card
    target = TargetRegistry(targets_dir()).get("esp32-s3")
    detector = ScorerDetector.predicted(scorer, target)
    assert "predicted by the cost model" in detector.latency_source and detector.latency_s > 0
    board = SimInterfaceBoard(card, SimSwwDut(detector))
    with SimBoardServer(board) as server, InterfaceBoard(server.url, Transcript(tmp_path / "t.log")) as host:
        host.name()
        assert stream["wav_file"] in host.ls()
        assert host.dut_model() == "sww01"
        assert host.dut_name() == "m-name-dut-[sim-sww]"
        capture = play_stream(host, stream["wav_file"], stream["length_s"], settle_s=0)
    assert capture.dut_stop_lines == ("Streaming stopped.", "m-ready")
    assert capture.transcript == tmp_path / "t.log"
    stamps, duty = list(capture.detections_ms), capture.duty

    # the host's streaming evaluation of the same stream, same model and threshold
    audio = left_slot(card / stream["wav_file"])
    host_times = scorer.rules.detections(scorer.probabilities(scorer.features(audio)))
    assert host_times.size >= 1  # the real model hears the synthetic "alexa"
    # the DUT pulses once its frame (480 samples = 30 ms) has arrived plus its latency; the board stamps ms
    # of 10 us ticks, relative to the first-frame marker (which fires when the first frame arrives)
    latency_ticks = round(detector.latency_s * 100_000)
    frame_ticks = 480 * 100_000 // 16000
    arrived = [-(-round(t * 16000) // 480) * 480 for t in host_times]
    expected = [(a * 100_000 // 16000 + latency_ticks) // 100 - frame_ticks // 100 for a in arrived]
    assert [s - stamps[0] for s in stamps[1:]] == expected
    assert stamps[0] == frame_ticks // 100
    assert duty.period_s == pytest.approx(0.030)
    assert duty.processing_s == pytest.approx(latency_ticks * 10e-6)
    assert duty.start_s.size == 100
    result = score_stream(stamps, _truth(stream))
    assert result.counts[WindowRule.CODE].tp + result.counts[WindowRule.CODE].fn == 3
    assert f"play {stream['wav_file']}%" in (tmp_path / "t.log").read_text()


def _truth(stream: dict) -> StreamTruth:
    return StreamTruth(stream["wav_file"], 16000, stream["length_s"], stream["windows"])


def test_silence_gives_only_the_marker_a_valid_empty_result(scorer, sd_card, tmp_path: Path) -> None:
    card, _ = sd_card
    board = SimInterfaceBoard(card, SimSwwDut(ScorerDetector(scorer, 0.004, "given")))
    with SimBoardServer(board) as server, InterfaceBoard(server.url, Transcript(tmp_path / "t.log")) as host:
        host.start()
        host.record_detections()
        host.play("silence.wav", 5.0)
        stamps = host.print_detections()
        host.stop()
        host.record_detections()
        host.play("silence.wav", 5.0)  # never started: the DUT stays silent, not even a marker
        assert host.print_detections() == []
    assert stamps == [30]  # the first-frame marker alone: the first 30 ms frame has arrived
    with pytest.raises(MeasurementError, match="first-frame marker is missing"):
        score_stream([], StreamTruth("silence.wav", 16000, 5.0, ((1.0, 1.5),)))
    result = score_stream(stamps, StreamTruth("silence.wav", 16000, 5.0, ((1.0, 1.5),)))
    assert (result.counts[WindowRule.CODE].tp, result.counts[WindowRule.CODE].fn,
            result.counts[WindowRule.CODE].fp) == (0, 1, 0)


def test_a_play_that_never_finishes_is_a_device_error_naming_the_transcript(scorer, sd_card, tmp_path) -> None:
    card, _ = sd_card
    board = SimInterfaceBoard(card, SimSwwDut(ScorerDetector(scorer, 0.004, "given")), hang_play=True)
    transcript = tmp_path / "board.log"
    with SimBoardServer(board) as server, InterfaceBoard(server.url, Transcript(transcript)) as host:
        with pytest.raises(DeviceTimeout, match="did not finish 'play short.wav' within 0.5 s") as caught:
            host.play("short.wav", 0.2, margin_s=0.3)
    assert caught.value.log_path == transcript
    assert "play short.wav%" in transcript.read_text()


def test_the_board_refuses_what_it_cannot_play(scorer, sd_card, tmp_path: Path) -> None:
    card, _ = sd_card
    board = SimInterfaceBoard(card, SimSwwDut(ScorerDetector(scorer, 0.004, "given")))
    with SimBoardServer(board) as server, InterfaceBoard(server.url, Transcript(tmp_path / "t.log")) as host:
        with pytest.raises(DeviceError, match="2-channel"):
            host.play("mono.wav", 0.1)
        with pytest.raises(DeviceError, match="not found"):
            host.play("absent.wav", 0.1)
        with pytest.raises(DeviceError, match="malformed duty-cycle"):
            host.print_dutycycle()  # nothing streamed yet: no processing edges


def test_an_unreachable_board_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="cannot open the interface board"):
        InterfaceBoard("socket://127.0.0.1:1", Transcript(tmp_path / "t.log")).open()
