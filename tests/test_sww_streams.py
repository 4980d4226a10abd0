"""sww-style streams per group: the WAV and truth JSON read the way the field runner and interface board read
them, every wake word's window is exactly where its samples are, and the build is deterministic from a seed."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import ConfigError
from harness.corpus.directory import Corpus, load_corpus
from harness.corpus.stream import INDEX_FILE, StreamSpec, build_streams, onsets, write_stream_set
from harness.corpus.synth import synthesize_corpus
from harness.evaluation.sww import read_truth


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return load_corpus(synthesize_corpus(tmp_path_factory.mktemp("corpus") / "tiny", size="tiny", seed=0))


def board_reads(path: Path) -> np.ndarray:
    """What the interface board accepts: 2-channel 16 kHz 16-bit PCM; the DUT keeps the left slot."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getcomptype()) == (2, 16000, 2, "NONE")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(frames[:, 0], frames[:, 1])
    return frames[:, 0]


def runner_reads(truth: Path) -> list[dict]:
    """The fields the runner's stream step and calc_detection_stats take from each truth-file entry."""
    entries = json.loads(truth.read_text())
    assert isinstance(entries, list)
    return [{"wav_file": e["wav_file"], "length_sec": e["length_sec"],
             "detection_windows": [(float(a), float(b)) for a, b in e["detection_windows"]]} for e in entries]


def test_streams_per_accent_parse_like_the_runner_and_windows_match_samples(corpus: Corpus, tmp_path: Path) -> None:
    spec = StreamSpec(wake_label="alexa", attribute="accent", length_s=40.0, n_words=3, seed=7)
    streams = build_streams(corpus, spec, tmp_path)
    truth = write_stream_set(streams, spec, tmp_path)
    expected_groups = sorted(corpus.manifest.loc[corpus.manifest["label"] == "alexa", "accent"].unique())
    assert [s.group for s in streams] == expected_groups
    entries = runner_reads(truth)
    assert [e["wav_file"] for e in entries] == [s.wav_path.name for s in streams]
    assert read_truth(truth)[0].detection_windows == streams[0].detection_windows
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    for entry, meta in zip(entries, index["streams"], strict=True):
        left = board_reads(tmp_path / entry["wav_file"])
        assert left.size == entry["length_sec"] * 16000
        assert np.abs(left).max() == 32767
        clips = meta["clips"]
        words = [c for c in clips if c["wake_word"]]
        assert len(words) == len(entry["detection_windows"]) == 3
        occupied = np.zeros(left.size, bool)
        for c in clips:
            occupied[c["start_sample"]: c["start_sample"] + c["n_samples"]] = True
        assert not left[~occupied].any()  # no background: silence wherever no clip was placed
        for (start_s, end_s), word in zip(entry["detection_windows"], words, strict=True):
            start, end = round(start_s * 16000), round(end_s * 16000)
            assert (start, end - start) == (word["start_sample"], word["n_samples"])
            # trimmed at 5 % of the peak: the word's first and last samples are sound, its neighbours silence
            assert left[start] != 0 and left[end - 1] != 0 and left[start - 1] == 0 and left[end] == 0
            assert start_s <= 0.475 * 40.0 + 1e-9
        last_word_end = words[-1]["start_sample"] + words[-1]["n_samples"]
        fillers = [c for c in clips if not c["wake_word"]]
        assert fillers and all(c["start_sample"] >= max(20.0 * 16000, last_word_end + 2 * 16000) for c in fillers)
        for before, after in zip(words[:-1], words[1:], strict=True):  # not in the previous widest TP window
            assert after["start_sample"] >= before["start_sample"] + before["n_samples"] + 2 * 16000


def test_the_same_seed_gives_the_same_bytes(corpus: Corpus, tmp_path: Path) -> None:
    spec = StreamSpec(wake_label="alexa", attribute="noise", length_s=30.0, n_words=2, seed=3)
    first = build_streams(corpus, spec, tmp_path / "a")
    again = build_streams(corpus, spec, tmp_path / "b")
    other = build_streams(corpus, StreamSpec("alexa", "noise", 30.0, 2, seed=4), tmp_path / "c")
    assert [s.group for s in first] == sorted(corpus.manifest["noise"].astype(str).unique())
    for a, b, c in zip(first, again, other, strict=True):
        assert a.wav_path.read_bytes() == b.wav_path.read_bytes()
        assert a.placed != c.placed


def test_onsets_follow_the_spec_and_bad_requests_are_clear(corpus: Corpus, tmp_path: Path) -> None:
    times = onsets(np.random.default_rng(0), 50, 0.0, 570.0)
    assert times[0] > 0 and times[-1] == pytest.approx(570.0) and np.all(np.diff(times) > 0)
    with pytest.raises(ConfigError, match="no column 'dialect'"):
        build_streams(corpus, StreamSpec("alexa", "dialect", 40.0, 3), tmp_path)
    with pytest.raises(ConfigError, match="do not fit"):
        build_streams(corpus, StreamSpec("alexa", "accent", 15.0, 3), tmp_path)
