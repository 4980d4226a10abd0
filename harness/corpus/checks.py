"""Validation of a corpus directory at load: manifest rows, corpus.json and every clip's WAV header.

Each check raises one ``DataError`` naming the file, the row (clip_id and line) and the field, and saying
what would be valid, so that a bad corpus stops ``harness eval`` before any clip is scored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pandas as pd

from harness.core.errors import DataError
from harness.corpus.audio import SAMPLE_RATE, AudioError, check_corpus_wav

SHOWN = 5  # problems listed in one message; the rest are counted
_SHA256 = re.compile(r"[0-9a-f]{64}")


def read_info(info_file: Path) -> dict[str, Any]:
    """corpus.json as a dict (``{}`` when absent); anything but a JSON object is refused."""
    if not info_file.is_file():
        return {}
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{info_file}: not valid JSON ({exc})",
                        hint="corpus.json is a JSON object such as {\"name\": \"my-corpus\"}; "
                             "'harness corpus import' writes it") from None
    if not isinstance(info, dict):
        raise DataError(f"{info_file}: must be a JSON object, found {type(info).__name__}",
                        hint="e.g. {\"name\": \"my-corpus\", \"group_columns\": [\"accent\"]}")
    return info


def row_label(manifest_file: Path, manifest: pd.DataFrame, position: int) -> str:
    """How a message names a row: its CSV line (header is line 1) or parquet row, and its clip_id."""
    where = f"line {position + 2}" if manifest_file.suffix == ".csv" else f"row {position + 1}"
    clip_id = manifest["clip_id"].iloc[position] if "clip_id" in manifest.columns else None
    return where if _blank(clip_id) else f"{where} (clip_id '{clip_id}')"


def check_manifest(manifest_file: Path, manifest: pd.DataFrame, required: tuple[str, ...]) -> None:
    """Rows present; required columns present and filled; clip_id unique; paths relative and inside the corpus."""
    if manifest.empty:
        skipped = manifest_file.parent / "skipped.csv"
        raise DataError(f"{manifest_file}: the manifest has no rows",
                        hint=f"an import that skipped every row lists why in {skipped}" if skipped.is_file()
                        else "a corpus needs at least one clip: one row per WAV")
    missing = [c for c in required if c not in manifest.columns]
    if missing:
        raise DataError(f"{manifest_file}: missing column(s) {', '.join(missing)}",
                        hint=f"required: {', '.join(required)}; found: {', '.join(map(str, manifest.columns))}")
    for column in required:
        blank = [i for i, v in enumerate(manifest[column]) if _blank(v)]
        if blank:
            hint = ("every clip needs a speaker id (speaker intervals resample speakers); if a speaker is "
                    "unknown, give the clip an id of its own, e.g. 'unknown-<clip_id>'"
                    if column == "speaker" else f"every row needs a non-empty '{column}'")
            _raise(manifest_file, manifest, blank, f"field '{column}' is empty", hint)
    seen: dict[str, int] = {}
    duplicates = []
    for i, clip_id in enumerate(manifest["clip_id"].astype(str)):
        if clip_id in seen:
            duplicates.append(i)
        else:
            seen.setdefault(clip_id, i)
    if duplicates:
        first = seen[str(manifest["clip_id"].iloc[duplicates[0]])]
        _raise(manifest_file, manifest, duplicates, "field 'clip_id' repeats an earlier row",
               f"clip_id must be unique (the first repeat was first used at "
               f"{row_label(manifest_file, manifest, first)})")
    outside = [i for i, p in enumerate(manifest["path"]) if not _confined(str(p))]
    if outside:
        _raise(manifest_file, manifest, outside, "field 'path' is not a relative path inside the corpus folder",
               "write paths relative to the corpus folder, with '/' and no '..' (e.g. clips/a.wav)")


def check_info(info_file: Path, info: dict[str, Any], manifest: pd.DataFrame) -> None:
    """The corpus.json fields evaluation reads: name, group_columns, n_clips, content_sha256 (all optional)."""
    name = info.get("name")
    if "name" in info and (not isinstance(name, str) or not name.strip()):
        raise DataError(f"{info_file}: field 'name' must be a non-empty string, found {name!r}")
    groups = info.get("group_columns")
    if "group_columns" in info:
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise DataError(f"{info_file}: field 'group_columns' must be a list of column names, found {groups!r}")
        absent = [g for g in groups if g not in manifest.columns]
        if absent:
            raise DataError(f"{info_file}: field 'group_columns' names {', '.join(absent)}, not in the manifest",
                            hint=f"manifest columns: {', '.join(map(str, manifest.columns))}")
    n_clips = info.get("n_clips")
    if "n_clips" in info and (not isinstance(n_clips, int) or isinstance(n_clips, bool) or n_clips != len(manifest)):
        raise DataError(f"{info_file}: field 'n_clips' is {n_clips!r} but the manifest has {len(manifest)} rows",
                        hint="the manifest was edited after the corpus was built: rebuild it, or fix n_clips")
    digest = info.get("content_sha256")
    if "content_sha256" in info and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        raise DataError(f"{info_file}: field 'content_sha256' must be 64 lowercase hex digits, found {digest!r}")


def check_clips(corpus_dir: Path, manifest_file: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Every row's WAV exists and is a complete 16 kHz mono int16 WAV (header check; no samples are read).

    Returns the manifest with ``duration_s`` measured from the WAVs when it has no such column (evaluation
    needs it for false accepts per hour); a ``duration_s`` it has must be non-negative numbers.
    """
    frames = []
    for i, rel in enumerate(manifest["path"]):
        path = corpus_dir / str(rel)
        if not path.is_file():
            raise DataError(f"{manifest_file}: {row_label(manifest_file, manifest, i)}: field 'path' names a missing "
                            f"file {path}")
        try:
            frames.append(check_corpus_wav(path))
        except AudioError as exc:
            raise DataError(f"{manifest_file}: {row_label(manifest_file, manifest, i)}: field 'path': {path}: "
                            f"{exc.reason}", hint=exc.hint) from None
    if "duration_s" not in manifest.columns:
        return manifest.assign(duration_s=[n / SAMPLE_RATE for n in frames])
    duration = pd.to_numeric(manifest["duration_s"], errors="coerce")
    bad = [i for i, v in enumerate(duration) if not v >= 0]
    if bad:
        _raise(manifest_file, manifest, bad, "field 'duration_s' is not a non-negative number",
               "give the clip length in seconds, or drop the column to have it measured from the WAVs")
    return manifest


def _raise(manifest_file: Path, manifest: pd.DataFrame, rows: list[int], problem: str, hint: str) -> None:
    named = "; ".join(row_label(manifest_file, manifest, i) for i in rows[:SHOWN])
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    raise DataError(f"{manifest_file}: {problem} at {named}{more}", hint=hint)


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array value is not blank
        return False


def _confined(path: str) -> bool:
    """Relative, '/'-separated, no '..' or drive: it cannot leave the corpus folder by its spelling."""
    if "\\" in path or PureWindowsPath(path).drive:
        return False
    posix = PurePosixPath(path)
    return bool(posix.parts) and not posix.is_absolute() and ".." not in posix.parts
