"""Training data for the DS-CNN: the "clean studio" KWS12 corpus, speaker-disjoint splits, MFCC features.

The corpus is ``harness corpus synth --size studio --phrases kws12``: the native-English accents only,
clean audio and mild noise (white, pink, babble at 20 and 15 dB). Other accents and harsh noise are
never seen. Splits are by speaker: in each accent, speakers in seeded-shuffled order go 5 to train,
1 to validation and 2 to test. Features are the harness's own MLPerf MFCC front end, so training and
evaluation see the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.corpus.audio import read_corpus_wav
from harness.corpus.directory import load_corpus
from harness.corpus.synth import synthesize_corpus
from harness.corpus.vocabulary import KWS12, KWS12_LABELS, SILENCE_LABEL, UNKNOWN_LABEL
from harness.frontends.mfcc import features

SIZE = "studio"
SPLIT_OF_RANK = ("train",) * 5 + ("val", "test", "test")
SHIFT_S = 0.1  # augmentation: the clip shifted by up to this much, either way, zero-filled


@dataclass
class Split:
    x: np.ndarray          # [n, 1, 49, 10] float32 MFCCs
    y: np.ndarray          # [n] class index into KWS12_LABELS
    clips: pd.DataFrame    # the manifest rows, in the order of x


def class_index(label: str) -> int:
    """A corpus label as a KWS12 class: the word, _silence_, or _unknown_ for any other word."""
    if label in KWS12_LABELS:
        return KWS12_LABELS.index(label)
    return KWS12_LABELS.index(SILENCE_LABEL if label == SILENCE_LABEL else UNKNOWN_LABEL)


def build_corpus(out_dir: Path, seed: int, workers: int | None = None, size: str = SIZE) -> Path:
    return synthesize_corpus(out_dir, size=size, seed=seed, workers=workers, vocabulary=KWS12)


def assign_splits(manifest: pd.DataFrame, seed: int, ranks: tuple[str, ...] = SPLIT_OF_RANK) -> pd.Series:
    """The split of each clip, by speaker: accent by accent, a seeded shuffle of its speakers takes the next
    entries of ``ranks`` (cycling), so 8 speakers per accent and 8 ranks give every accent the same split."""
    rng = np.random.default_rng([seed, 0x5b1])
    split_of: dict[str, str] = {}
    for accent in sorted(manifest["accent"].unique()):
        speakers = sorted(manifest.loc[manifest["accent"] == accent, "speaker"].unique())
        for i in rng.permutation(len(speakers)):
            split_of[speakers[i]] = ranks[len(split_of) % len(ranks)]
    return manifest["speaker"].map(split_of)


def _shifted(audio: np.ndarray, shift: int) -> np.ndarray:
    out = np.zeros_like(audio)
    if shift >= 0:
        out[shift:] = audio[:audio.size - shift]
    else:
        out[:shift] = audio[-shift:]
    return out


def load_splits(corpus_dir: Path, seed: int, augment: int, ranks: tuple[str, ...] = SPLIT_OF_RANK,
                ) -> dict[str, Split]:
    """Features per split; each training clip also appears ``augment`` more times, randomly time-shifted."""
    corpus = load_corpus(corpus_dir)
    manifest = corpus.manifest.reset_index(drop=True).assign(
        split=lambda m: assign_splits(m, seed, ranks)).sort_values("clip_id", kind="stable")
    rng = np.random.default_rng([seed, 0xa06])
    max_shift = int(SHIFT_S * 16_000)
    out: dict[str, Split] = {}
    for split in ("train", "val", "test"):
        rows = manifest[manifest["split"] == split]
        xs, ys, keep = [], [], []
        for _, clip in rows.iterrows():
            audio = read_corpus_wav(corpus.path / str(clip["path"]))
            label = class_index(str(clip["label"]))
            copies = [audio] + ([_shifted(audio, int(rng.integers(-max_shift, max_shift + 1)))
                                 for _ in range(augment)] if split == "train" else [])
            for a in copies:
                xs.append(features(a))
                ys.append(label)
                keep.append(clip)
        out[split] = Split(np.stack(xs)[:, None].astype(np.float32) if xs else np.zeros((0, 1, 49, 10), np.float32),
                           np.asarray(ys, dtype=np.int64), pd.DataFrame(keep))
    return out
