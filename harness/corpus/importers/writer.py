"""Write a corpus directory from scanned clips: WAVs, manifest.parquet, corpus.json, datasheet.md.

The directory is built beside ``out`` and renamed into place at the end, so an interrupted import never
leaves a half-written corpus behind.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness import __version__
from harness.core.errors import ConfigError
from harness.corpus.audio import SAMPLE_RATE, AudioError, load_conformed, write_wav
from harness.corpus.directory import content_sha256
from harness.corpus.importers.datasheet import render_datasheet
from harness.corpus.importers.report import ImportReport

if TYPE_CHECKING:
    from harness.core.progress import Progress
    from harness.corpus.importers.base import Importer, Scan, SourceClip

CORE_COLUMNS = ["clip_id", "path", "label", "split", "speaker", "kind"]
PROVENANCE_COLUMNS = ["source_path", "source_rate", "source_channels", "source_format", "duration_s"]
STANDARD_GROUPS = ("accent", "accent_group", "gender", "age_band", "language", "noise", "snr_db", "room")


def prepare_out(out: Path, *, overwrite: bool) -> None:
    """Refuse an ``out`` that would lose data: a non-empty folder is replaced only if it is a corpus."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"--out {out}: folder exists and is not empty",
                hint="choose a new folder, or pass --force to replace a corpus directory",
            )
        if not (out / "corpus.json").is_file():
            raise ConfigError(f"--out {out}: not a corpus directory (no corpus.json); refusing to replace it")


def write_corpus(
    importer: Importer,
    scan: Scan,
    report: ImportReport,
    *,
    name: str,
    options: dict[str, Any],
    progress: Progress | None = None,
) -> Path:
    """Convert every scanned clip, then write the manifest, corpus.json, skipped.csv and datasheet.md."""
    out = report.out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        rows = _write_clips(scan.clips, staging, report, progress)
        report.group_columns = list(scan.group_columns)
        absent = [g for g in STANDARD_GROUPS if g not in report.group_columns]
        if absent:
            report.note(f"group columns absent: {', '.join(absent)} (metrics cannot be split by them)")
        manifest = _manifest(rows, report.group_columns + scan.extra_columns)
        manifest.to_parquet(staging / "manifest.parquet", index=False)
        info = {
            "name": name,
            "source_format": importer.name,
            "source_title": importer.title,
            "source": str(report.src.resolve()),
            "options": options,
            "n_clips": len(manifest),
            "n_speakers": int(manifest["speaker"].nunique()),
            "sample_rate": SAMPLE_RATE,
            "group_columns": report.group_columns,
            "harness_version": __version__,
            "content_sha256": content_sha256(staging, manifest),
            "import": {
                "rows_read": report.rows_read,
                "clips_written": report.clips_written,
                "rows_skipped": len(report.skipped),
                "rows_excluded": dict(report.excluded),
                "resampled_from_hz": {str(k): v for k, v in sorted(report.resampled.items())},
                "downmixed_from_channels": {str(k): v for k, v in sorted(report.downmixed.items())},
                "converted_from_format": dict(sorted(report.reformatted.items())),
                "clipped": report.clipped,
            },
        }
        (staging / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
        if report.skipped:
            _write_skipped(staging / "skipped.csv", report)
        (staging / "datasheet.md").write_text(render_datasheet(importer, scan, report, manifest, info))
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_clips(
    clips: list[SourceClip], staging: Path, report: ImportReport, progress: Progress | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    first_seen: dict[str, str] = {}
    base = report.src if report.src.is_dir() else report.src.parent
    for done, clip in enumerate(clips, 1):
        if progress:
            progress(clip.clip_id, done, len(clips))
        source, line = clip.origin
        where = f"{source}:{line}" if line is not None else source
        if clip.clip_id in first_seen:
            report.skip(source, line, clip.clip_id, f"duplicate clip (first at {first_seen[clip.clip_id]})")
            continue
        first_seen[clip.clip_id] = where
        parts = PurePosixPath(clip.clip_id).parts
        if not parts or PurePosixPath(clip.clip_id).is_absolute() or {".", ".."} & set(parts):
            report.skip(source, line, clip.clip_id, "clip id is not a relative path inside the corpus")
            continue
        if not clip.audio.is_file():
            report.skip(source, line, _display(clip.audio, base), "missing file")
            continue
        try:
            audio = load_conformed(clip.audio)
        except AudioError as exc:
            report.skip(source, line, _display(clip.audio, base), f"unreadable audio: {exc.reason}")
            continue
        if audio.resampled:
            report.resampled[audio.source_rate] += 1
        if audio.downmixed:
            report.downmixed[audio.source_channels] += 1
        if audio.reformatted:
            report.reformatted[audio.source_format] += 1
        report.clipped += audio.clipped
        rel = f"clips/{clip.clip_id}.wav"
        write_wav(staging / rel, audio.samples)
        report.clips_written += 1
        rows.append(
            {
                "clip_id": clip.clip_id,
                "path": rel,
                "label": clip.label,
                "split": clip.split,
                "speaker": clip.speaker,
                "kind": clip.kind,
                **clip.groups,
                **clip.extra,
                "source_path": _display(clip.audio, base),
                "source_rate": audio.source_rate,
                "source_channels": audio.source_channels,
                "source_format": audio.source_format,
                "duration_s": len(audio.samples) / SAMPLE_RATE,
            }
        )
    return rows


def _display(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _manifest(rows: list[dict[str, Any]], columns_between: list[str]) -> pd.DataFrame:
    columns = CORE_COLUMNS + columns_between + PROVENANCE_COLUMNS
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values("path", kind="stable", ignore_index=True)


def _write_skipped(path: Path, report: ImportReport) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "line", "item", "reason"])
        for row in report.skipped:
            writer.writerow([row.source, "" if row.line is None else row.line, row.item, row.reason])


def _publish(staging: Path, out: Path) -> None:
    if out.exists():  # prepare_out allowed it: empty, or a corpus directory with --force
        shutil.rmtree(out)
    staging.rename(out)
