"""A corpus directory: 16 kHz mono WAVs, ``manifest.parquet`` (or .csv), ``datasheet.md``, ``corpus.json``.

One definition of the content hash and one reader, shared by the synthetic corpus, the importers
and evaluation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import DataError
from harness.corpus.checks import check_clips, check_info, check_manifest, read_info

MANIFESTS = ("manifest.parquet", "manifest.csv")
CORPUS_JSON = "corpus.json"
REQUIRED_COLUMNS = ("clip_id", "path", "label", "speaker")
KNOWN_GROUP_COLUMNS = ("accent", "accent_group", "language", "gender", "age_band", "noise", "snr_db", "room")


def content_sha256(corpus_dir: Path, manifest: pd.DataFrame) -> str:
    """sha256 over the column names, then per row in path order: the row as JSON and its WAV's sha256.

    A row is a JSON list of its values in sorted-column order (NaN/NA as null); each WAV contributes
    its own digest, so file boundaries are unambiguous.
    """
    columns = sorted(str(c) for c in manifest.columns)
    digest = hashlib.sha256(json.dumps(columns).encode())
    ordered = manifest.sort_values("path", kind="stable")[columns].astype(object)
    rows = zip(*(_plain_column(ordered[c]) for c in columns), strict=True)  # a column at a time: no per-cell isna
    clip_ids = ordered["clip_id"].tolist() if "clip_id" in columns else [None] * len(ordered)
    for values, rel, clip_id in zip(rows, ordered["path"].tolist(), clip_ids, strict=True):
        digest.update(json.dumps(list(values), ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        path = corpus_dir / str(rel)
        if not path.is_file():
            raise DataError(f"{corpus_dir}: manifest row '{clip_id}' names missing file {path}")
        wav = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                wav.update(chunk)
        digest.update(wav.digest())
    return digest.hexdigest()


def _plain_column(column: pd.Series) -> list[Any]:
    """A column's values as JSON takes them: missing (None, NaN, NA) as None, numpy scalars as Python values."""
    return [None if missing else value.item() if hasattr(value, "item") else value
            for value, missing in zip(column.tolist(), column.isna().tolist(), strict=True)]


@dataclass(frozen=True)
class Corpus:
    path: Path
    manifest: pd.DataFrame
    info: dict[str, Any]
    manifest_file: Path

    @property
    def name(self) -> str:
        return str(self.info.get("name", self.path.name))

    @property
    def group_columns(self) -> list[str]:
        """Group columns: those corpus.json lists, else the known ones present in the manifest."""
        listed = self.info.get("group_columns")
        cols = listed if listed else [c for c in KNOWN_GROUP_COLUMNS if c in self.manifest.columns]
        return [c for c in cols if c in self.manifest.columns]

    def audio_path(self, relative: str) -> Path:
        return self.path / relative

    def record(self) -> dict[str, Any]:
        """What a run manifest records about this corpus."""
        with self.manifest_file.open("rb") as f:
            manifest_sha = hashlib.sha256(f.read()).hexdigest()
        return {
            "name": self.name,
            "path": str(self.path.resolve()),
            "manifest_sha256": manifest_sha,
            "content_sha256": self.info.get("content_sha256"),
            "n_clips": int(len(self.manifest)),
        }


def load_corpus(path: Path) -> Corpus:
    """Read a corpus directory and validate it whole, before anything is scored (``harness.corpus.checks``)."""
    if not path.is_dir():
        raise DataError(f"{path}: corpus directory not found",
                        hint="create one with 'harness corpus synth --out DIR' or 'harness corpus import'")
    manifest_file = next((path / m for m in MANIFESTS if (path / m).is_file()), None)
    if manifest_file is None:
        raise DataError(f"{path}: no {' or '.join(MANIFESTS)} in the corpus directory")
    try:
        manifest = (pd.read_parquet(manifest_file) if manifest_file.suffix == ".parquet"
                    else pd.read_csv(manifest_file))
    except pd.errors.EmptyDataError:
        raise DataError(f"{manifest_file}: the manifest is empty",
                        hint=f"a manifest has a header row with {', '.join(REQUIRED_COLUMNS)} and one row per clip"
                        ) from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is a malformed file for the user
        raise DataError(f"{manifest_file}: cannot read manifest: {exc}") from None
    info = read_info(path / CORPUS_JSON)
    check_manifest(manifest_file, manifest, REQUIRED_COLUMNS)
    check_info(path / CORPUS_JSON, info, manifest)
    manifest = check_clips(path, manifest_file, manifest)
    return Corpus(path=path, manifest=manifest, info=info, manifest_file=manifest_file)
