"""The streams a streaming wake-word session plays: a folder as ``harness corpus stream`` writes it (or any folder
with the runner's truth file), or ``builtin:<size>``: per-accent and per-noise streams of the built-in corpus for
the model's wake phrase, built once into the cache.

A folder is what goes on the interface board's SD card: its WAVs, ``sww_streams.json`` (the runner's truth file)
and ``sww_streams_index*.json`` (which group each stream stands for and which clips it holds).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, DataError
from harness.core.hashing import sha256_file
from harness.core.paths import cache_dir
from harness.core.progress import Progress
from harness.corpus.audio import SAMPLE_RATE
from harness.corpus.stream import INDEX_FILE, TRUTH_FILE, StreamSpec, build_streams, write_stream_set
from harness.evaluation.scoring import wake_label
from harness.evaluation.sww import StreamTruth, read_truth, write_truth
from harness.evaluation.sww_groups import StreamGroup
from harness.registry.models import ModelEntry
from harness.runs.evaluation import BUILTIN, resolve_corpus

BUILTIN_ATTRIBUTES = ("accent", "noise")
# per size: seconds per stream and wake words per stream (the tiny corpus has 2-3 of a phrase per group)
BUILTIN_SHAPE = {"tiny": (40.0, 3), "demo": (120.0, 10), "full": (1200.0, 50)}


@dataclass(frozen=True)
class PlayedStream:
    """One stream of a set: its truth entry and the group it stands for."""

    truth: StreamTruth
    group: StreamGroup


@dataclass(frozen=True)
class StreamSet:
    folder: Path
    streams: tuple[PlayedStream, ...]

    def record(self, spec: str) -> dict[str, object]:
        """What the manifest keeps: the set as named, its folder, and its truth file's and WAVs' sha256."""
        wavs = {p.truth.wav_file: sha256_file(self.folder / p.truth.wav_file) for p in self.streams}
        return {"spec": spec, "folder": str(self.folder), "truth_sha256": sha256_file(self.folder / TRUTH_FILE),
                "wav_sha256": wavs}


def load_stream_set(spec: str, model: ModelEntry, seed: int = 0, progress: Progress | None = None) -> StreamSet:
    """The streams ``spec`` names (a folder, or ``builtin:tiny|demo|full``), in truth-file order."""
    folder = builtin_streams(spec, model, seed, progress) if spec.startswith(BUILTIN) else Path(spec)
    truth_path = folder / TRUTH_FILE
    if not truth_path.is_file():
        raise ConfigError(f"--streams {spec}: no {TRUTH_FILE} in {folder}",
                          hint="build streams with 'harness corpus stream CORPUS --out DIR', or use builtin:tiny")
    truths = read_truth(truth_path)
    groups = read_groups(folder)
    played = []
    for truth in truths:
        if not (folder / truth.wav_file).is_file():
            raise DataError(f"{truth_path}: stream '{truth.wav_file}' is not in {folder}",
                            hint="keep the WAVs beside the truth file, as on the board's SD card")
        group = groups.get(truth.wav_file, StreamGroup("stream", Path(truth.wav_file).stem))
        played.append(PlayedStream(truth, group))
    if not played:
        raise DataError(f"{truth_path}: lists no stream", hint="a truth file lists at least one stream")
    return StreamSet(folder, tuple(played))


def read_groups(folder: Path) -> dict[str, StreamGroup]:
    """wav file -> group, from every index file in ``folder`` (speakers when the index names its corpus's)."""
    groups: dict[str, StreamGroup] = {}
    for path in sorted(folder.glob("sww_streams_index*.json")):
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            attribute = str(index["attribute"])
            for stream in index["streams"]:
                speakers = stream.get("speakers")
                groups[str(stream["wav_file"])] = StreamGroup(attribute, str(stream["group"]),
                                                              tuple(speakers) if speakers is not None else None,
                                                              _wake_word_speakers(stream.get("clips", [])))
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a stream index ({type(exc).__name__}: {exc})",
                            hint="an index as 'harness corpus stream' writes it: attribute, streams[{wav_file, "
                                 "group}]") from None
    return groups


def _wake_word_speakers(clips: list[dict[str, Any]]) -> tuple[tuple[float, str], ...] | None:
    """(start s, speaker) of each wake word an index lists, or None unless it names every one's speaker."""
    words = [c for c in clips if c.get("wake_word")]
    if not words or any(c.get("speaker") is None for c in words):
        return None
    return tuple((int(c["start_sample"]) / SAMPLE_RATE, str(c["speaker"])) for c in words)


def builtin_streams(spec: str, model: ModelEntry, seed: int, progress: Progress | None = None) -> Path:
    """Per-accent and per-noise streams of the built-in corpus for ``model``'s wake phrase (cached)."""
    size = spec[len(BUILTIN):]
    if size not in BUILTIN_SHAPE:
        raise ConfigError(f"--streams {spec}: unknown built-in size",
                          hint="valid: " + ", ".join(f"builtin:{size}" for size in BUILTIN_SHAPE))
    label = wake_label(model)
    folder = cache_dir("streams") / f"synthetic-{size}-seed{seed}-{label}"
    if (folder / TRUTH_FILE).is_file():
        if all(group.wake_word_speakers is not None for group in read_groups(folder).values()):
            return folder
        shutil.rmtree(folder)  # built before indexes named each wake word's speaker: build it again
    corpus = resolve_corpus(spec, seed, progress)
    if label not in set(corpus.manifest["label"].astype(str)):
        raise ConfigError(f"the built-in corpus has no '{label}' clip for model '{model.name}'",
                          hint="use a model whose wake phrase the built-in corpus speaks (mww-alexa, oww-hey-jarvis)")
    length_s, n_words = BUILTIN_SHAPE[size]
    staging = folder.with_name(folder.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    speakers = corpus.manifest.set_index("clip_id")["speaker"].astype(str)
    truths: list[StreamTruth] = []
    for attribute in BUILTIN_ATTRIBUTES:
        if progress:
            progress(f"streams by {attribute}", 0, 1)
        stream_spec = StreamSpec(label, attribute, length_s=length_s, n_words=n_words, seed=seed)
        built = build_streams(corpus, stream_spec, staging)
        write_stream_set(built, stream_spec, staging)
        index_path = staging / INDEX_FILE
        index = json.loads(index_path.read_text(encoding="utf-8"))
        for stream in index["streams"]:
            stream["speakers"] = sorted({speakers[c["clip_id"]] for c in stream["clips"] if c["wake_word"]})
            for clip in stream["clips"]:
                clip["speaker"] = speakers[clip["clip_id"]]
        (staging / f"sww_streams_index_{attribute}.json").write_text(json.dumps(index, indent=2) + "\n",
                                                                    encoding="utf-8")
        index_path.unlink()
        truths += read_truth(staging / TRUTH_FILE)
    write_truth(staging / TRUTH_FILE, truths)
    staging.rename(folder)
    return folder
