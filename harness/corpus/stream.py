"""Long sww01-style test streams per group of a corpus: 16 kHz 16-bit stereo WAVs and the runner's truth JSON.

Placement follows the MLPerf Tiny streaming wake-word test stream (mlcommons/tiny
benchmark/training/streaming_wakeword/build_long_wav_spec.py and build_long_wav.py): gaps drawn from an
exponential distribution (mean 7 s, gaps under 3 s dropped), rescaled so the last wake word starts at 47.5 %
of the stream; each word trimmed of leading and trailing samples under 5 % of its peak, scaled to unit RMS
and then by a gain drawn uniformly (0.51-0.75 in the published stream). The second half holds no wake word:
it is where false accepts are counted. Here it carries the group's other clips (confusables, sentences)
placed the same way, so a stream is made of one group's speakers and noise only. The mix is scaled to the
int16 range and the mono signal is copied to both channels, as the interface board plays only 2-channel WAVs.
"""

from __future__ import annotations

import json
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import ConfigError
from harness.corpus.audio import SAMPLE_RATE, read_corpus_wav
from harness.corpus.directory import Corpus

TRIM_RELATIVE = 0.05     # samples below 5 % of the peak at either end are trimmed
MEAN_GAP_S = 7.0
MIN_GAP_S = 3.0          # "intervals < 3 sec may mess up the counting"
WAKE_FRACTION = 0.475    # the last wake word starts at 47.5 % of the stream
FILLER_START_FRACTION = 0.5
GAIN_RANGE = (0.51, 0.75)
WORD_SEPARATION_S = 2    # no wake word inside the previous one's widest TP window ([start, end + 2 s])
ATTEMPTS = 100
FULL_SCALE = 32767


@dataclass(frozen=True)
class StreamSpec:
    """What to build: which label is the wake word, how long each stream is and how many words it holds."""

    wake_label: str
    attribute: str
    length_s: float = 1200.0
    n_words: int = 50
    seed: int = 0
    gain_range: tuple[float, float] = GAIN_RANGE


@dataclass(frozen=True)
class PlacedClip:
    clip_id: str
    start_sample: int
    n_samples: int
    gain: float
    wake_word: bool


@dataclass(frozen=True)
class BuiltStream:
    """One written stream: its WAV, the group it stands for, and every clip placed in it."""

    wav_path: Path
    attribute: str
    group: str
    length_s: float
    placed: tuple[PlacedClip, ...]

    @property
    def detection_windows(self) -> tuple[tuple[float, float], ...]:
        """[start_s, end_s] of each wake word: exactly where its trimmed samples are."""
        return tuple((p.start_sample / SAMPLE_RATE, (p.start_sample + p.n_samples) / SAMPLE_RATE)
                     for p in self.placed if p.wake_word)


def trim_and_normalize(samples: np.ndarray) -> np.ndarray:
    """The clip between its first and last sample above 5 % of its peak, scaled to unit RMS."""
    x = samples.astype(np.float64)
    loud = np.flatnonzero(np.abs(x) > TRIM_RELATIVE * np.abs(x).max()) if x.size and x.any() else np.array([])
    if loud.size == 0:
        return np.zeros(0)
    x = x[loud[0]: loud[-1] + 1]
    return x / np.sqrt(np.mean(x * x))


def onsets(rng: np.random.Generator, n: int, after_s: float, last_s: float) -> np.ndarray:
    """``n`` start times after ``after_s``: cumulative exponential gaps (gaps under 3 s dropped), scaled so the
    last one is at ``last_s`` (build_long_wav_spec.py, with ``after_s`` = 0)."""
    gaps = np.zeros(0)
    while gaps.size < n:
        draw = rng.exponential(MEAN_GAP_S, size=2 * n)
        gaps = np.concatenate([gaps, draw[draw > MIN_GAP_S]])
    times = np.cumsum(gaps[:n])
    return after_s + times * ((last_s - after_s) / times[-1])


def _slug(value: object) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(value)).strip("-").lower() or "none"


def _separated(starts: np.ndarray, lengths: list[int], samples: int, gap: int) -> bool:
    ends = starts + np.asarray(lengths)
    return bool(ends[-1] <= samples and np.all(starts[1:] >= ends[:-1] + gap))


def _place_words(rng: np.random.Generator, words: list[tuple[str, np.ndarray]], last_s: float,
                 gains: tuple[float, float], mix: np.ndarray, group: str) -> list[PlacedClip]:
    """Wake words: redrawn until each starts at least 2 s (the widest TP window) after the previous one ends."""
    lengths = [a.size for _, a in words]
    for _ in range(ATTEMPTS):
        starts = (onsets(rng, len(words), 0.0, last_s) * SAMPLE_RATE).astype(np.int64)
        if _separated(starts, lengths, mix.size, WORD_SEPARATION_S * SAMPLE_RATE):
            break
    else:
        raise ConfigError(f"group '{group}': {len(words)} wake words do not fit in the first {last_s:.1f} s "
                          f"with {WORD_SEPARATION_S:g} s between them ({ATTEMPTS} draws tried)",
                          hint="use a longer stream (length_s) or fewer wake words (n_words)")
    return _mix_in(rng, words, starts, gains, True, mix)


def _place_fillers(rng: np.random.Generator, fillers: list[tuple[str, np.ndarray]], after_s: float,
                   last_s: float, gains: tuple[float, float], mix: np.ndarray) -> list[PlacedClip]:
    """Other clips in the wake-word-free stretch; one that would overlap its neighbour is left out."""
    starts = (onsets(rng, len(fillers), after_s, last_s) * SAMPLE_RATE).astype(np.int64)
    keep, end = [], 0
    for i, ((_, audio), start) in enumerate(zip(fillers, starts, strict=True)):
        if start >= end and start + audio.size <= mix.size:
            keep.append(i)
            end = start + audio.size
    return _mix_in(rng, [fillers[i] for i in keep], starts[keep], gains, False, mix)


def _mix_in(rng: np.random.Generator, clips: list[tuple[str, np.ndarray]], starts: np.ndarray,
            gains: tuple[float, float], wake_word: bool, mix: np.ndarray) -> list[PlacedClip]:
    placed = []
    for (clip_id, audio), start in zip(clips, starts, strict=True):
        gain = float(rng.uniform(*gains))
        mix[start: start + audio.size] += gain * audio
        placed.append(PlacedClip(clip_id, int(start), int(audio.size), gain, wake_word))
    return placed


def build_stream(corpus: Corpus, spec: StreamSpec, group: str, out_dir: Path) -> BuiltStream:
    """Write the stream of one group (a value of ``spec.attribute``) to ``out_dir``."""
    manifest = corpus.manifest
    rows = manifest[manifest[spec.attribute].astype(str) == group].sort_values("clip_id", kind="stable")
    rng = np.random.default_rng([spec.seed, *map(ord, f"{spec.attribute}={group}")])

    def load(frame) -> list[tuple[str, np.ndarray]]:  # type: ignore[no-untyped-def]
        clips = [(str(r.clip_id), trim_and_normalize(read_corpus_wav(corpus.audio_path(str(r.path)))))
                 for r in frame.itertuples()]
        return [c for c in clips if c[1].size]

    positives = rows[rows["label"] == spec.wake_label]
    if positives.empty:
        raise ConfigError(f"group {spec.attribute}='{group}' of corpus {corpus.path} has no '{spec.wake_label}' "
                          "clip", hint=f"labels there: {sorted(rows['label'].astype(str).unique())}")
    chosen = positives.iloc[np.sort(rng.permutation(len(positives))[:spec.n_words])]
    words = load(chosen)
    fillers = load(rows[rows["label"] != spec.wake_label])
    mix = np.zeros(int(round(spec.length_s * SAMPLE_RATE)))
    wake_last_s = WAKE_FRACTION * spec.length_s
    placed = _place_words(rng, words, wake_last_s, spec.gain_range, mix, group)
    longest = max((a.size for _, a in fillers), default=0) / SAMPLE_RATE
    last_word_end = (placed[-1].start_sample + placed[-1].n_samples) / SAMPLE_RATE
    filler_first = max(FILLER_START_FRACTION * spec.length_s, last_word_end + WORD_SEPARATION_S)
    filler_last = spec.length_s - longest - 0.1
    fit = int((filler_last - filler_first) // (longest + MIN_GAP_S)) + 1 if filler_last > filler_first else 0
    if fillers and fit > 0:
        fillers = [fillers[i] for i in np.sort(rng.permutation(len(fillers))[:fit])]
        placed += _place_fillers(rng, fillers, filler_first, filler_last, spec.gain_range, mix)
    path = out_dir / f"sww_{_slug(spec.attribute)}_{_slug(group)}.wav"
    write_stereo_wav(path, mix)
    return BuiltStream(path, spec.attribute, group, spec.length_s, tuple(placed))


def write_stereo_wav(path: Path, mix: np.ndarray) -> None:
    """Scale to the int16 range and write 16 kHz 16-bit PCM with the mono signal in both channels."""
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    samples = np.round(mix * (FULL_SCALE / peak)).astype(np.int16) if peak else np.zeros(mix.size, np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(np.repeat(samples, 2).astype("<i2").tobytes())


def build_streams(corpus: Corpus, spec: StreamSpec, out_dir: Path) -> list[BuiltStream]:
    """One stream per value of ``spec.attribute`` that has at least one wake word, in sorted order."""
    if spec.attribute not in corpus.manifest.columns:
        raise ConfigError(f"corpus {corpus.path} has no column '{spec.attribute}'",
                          hint=f"group columns: {', '.join(corpus.group_columns) or 'none'}")
    if spec.length_s <= 2 * MEAN_GAP_S or spec.n_words < 1:
        raise ConfigError(f"a stream needs length_s > {2 * MEAN_GAP_S:g} and n_words >= 1, got "
                          f"{spec.length_s:g} s and {spec.n_words}", hint="the benchmark's: 1200 s and 50 words")
    manifest = corpus.manifest
    with_words = manifest.loc[manifest["label"] == spec.wake_label, spec.attribute].dropna().astype(str)
    return [build_stream(corpus, spec, group, out_dir) for group in sorted(with_words.unique())]


TRUTH_FILE = "sww_streams.json"
INDEX_FILE = "sww_streams_index.json"


def truth_entry(stream: BuiltStream) -> dict[str, object]:
    """The runner's truth-file entry (as in sww_long_test.json): file name, rate, length, windows."""
    return {"wav_file": stream.wav_path.name, "sample_rate": SAMPLE_RATE, "length_sec": stream.length_s,
            "detection_windows": [[start, end] for start, end in stream.detection_windows]}


def write_stream_set(streams: list[BuiltStream], spec: StreamSpec, out_dir: Path) -> Path:
    """Write the truth file a board's runner reads, and an index of which group and clips each stream holds."""
    truth = out_dir / TRUTH_FILE
    truth.write_text(json.dumps([truth_entry(s) for s in streams], indent=2) + "\n", encoding="utf-8")
    index = {"wake_label": spec.wake_label, "attribute": spec.attribute, "seed": spec.seed,
             "length_s": spec.length_s, "n_words": spec.n_words, "gain_range": list(spec.gain_range),
             "streams": [{"wav_file": s.wav_path.name, "group": s.group,
                          "clips": [{"clip_id": p.clip_id, "start_sample": p.start_sample, "n_samples": p.n_samples,
                                     "gain": p.gain, "wake_word": p.wake_word} for p in s.placed]}
                         for s in streams]}
    (out_dir / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return truth
