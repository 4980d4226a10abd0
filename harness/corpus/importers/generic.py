"""A generic CSV/TSV/Parquet manifest: path, label, speaker, optional split, and any group columns."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from harness.core.errors import ConfigError
from harness.corpus.importers.base import Importer, Scan, SourceClip, not_this_format, register
from harness.corpus.importers.report import ImportReport
from harness.corpus.importers.tables import first_blank, missing_column, read_frame, require, text
from harness.corpus.importers.writer import PROVENANCE_COLUMNS

REQUIRED = ("path", "label", "speaker")
USED = ("clip_id", "split", "kind")  # optional columns with a fixed meaning
SUFFIXES = (".csv", ".tsv", ".parquet")

LAYOUT = """\
SRC = a manifest file (.csv, .tsv or .parquet), or a folder holding one manifest.csv|.tsv|.parquet
  required columns: path (relative to the manifest's folder, or absolute), label, speaker
  optional: split (default: every clip in split 'test'), clip_id, kind ('speech' or 'noise')
  every other column is a group column (accent, gender, age_band, noise, snr_db, device, room, ...);
  --group COL keeps only the named ones. Audio: any rate and channel count WAV, FLAC, MP3, Opus."""

PROVENANCE = (
    "A manifest supplied by the corpus's owner. Labels, speakers and group values are taken as given; "
    "this importer checks that every clip's audio exists and decodes, and converts it to 16 kHz mono."
)
LIMITS = [
    "Provenance, consent and labelling quality are whatever the manifest's owner documents; record them "
    "beside this datasheet.",
]


def scan(
    src: Path,
    report: ImportReport,
    *,
    splits: tuple[str, ...] = (),
    group_columns: tuple[str, ...] = (),
    default_split: str = "test",
) -> Scan:
    path = _manifest_file(src)
    base = path.parent
    table = read_frame(path, text_columns=(*REQUIRED, *USED))
    require(table, REQUIRED)
    source = path.name
    reserved = [c for c in table.columns if c in PROVENANCE_COLUMNS]
    if reserved:
        report.note(
            f"column(s) {', '.join(reserved)} are recomputed by the importer; the manifest's values "
            "are not kept"
        )
    others = [c for c in table.columns if c not in (*REQUIRED, *USED, *PROVENANCE_COLUMNS)]
    for column in group_columns:
        if column in (*REQUIRED, *USED, *PROVENANCE_COLUMNS):
            raise ConfigError(
                f"--group {column}: '{column}' has a fixed meaning in the manifest, not a group"
            )
        if column not in table.columns:
            raise missing_column(path, column, table.columns, " (asked for with --group)")
    groups = list(group_columns) or others
    if "split" not in table.columns:
        report.note(f"no 'split' column: every clip is in split '{default_split}'")

    clips: list[SourceClip] = []
    for line, row in table.rows:
        report.rows_read += 1
        rel, label, speaker = text(row["path"]), text(row["label"]), text(row["speaker"])
        problem = first_blank({"path": rel, "label": label, "speaker": speaker})
        if problem:
            report.skip(source, line, rel or f"row {line}", problem)
            continue
        split = text(row.get("split")) or default_split
        if "split" in table.columns and text(row.get("split")) is None:
            report.note(f"rows with an empty split are in split '{default_split}'")
        if splits and split not in splits:
            report.exclude(f"split '{split}' not selected")
            continue
        audio = Path(os.path.normpath(base / rel))
        clips.append(
            SourceClip(
                audio=audio,
                clip_id=text(row.get("clip_id")) or _clip_id(audio, base),
                origin=(source, line),
                label=label,
                split=split,
                speaker=speaker,
                kind=text(row.get("kind")) or "speech",
                groups={g: row[g] for g in groups},
            )
        )
    return Scan(clips, groups, PROVENANCE, LIMITS)


def _manifest_file(src: Path) -> Path:
    if src.is_file():
        if src.suffix.lower() not in SUFFIXES:
            raise not_this_format("manifest", LAYOUT, src, f"not a {', '.join(SUFFIXES)} file")
        return src
    found = [src / f"manifest{suffix}" for suffix in SUFFIXES if (src / f"manifest{suffix}").is_file()]
    if len(found) != 1:
        problem = (
            "no manifest.csv, manifest.tsv or manifest.parquet"
            if not found
            else f"several manifests ({', '.join(p.name for p in found)}); pass the file"
        )
        raise not_this_format("manifest", LAYOUT, src, problem)
    return found[0]


def _clip_id(audio: Path, base: Path) -> str:
    """The audio path without suffix, relative to the manifest's folder when inside it, else 'abs/...'."""
    stem = audio.with_suffix("")
    try:
        return stem.relative_to(Path(os.path.normpath(base))).as_posix()
    except ValueError:
        return str(PurePosixPath("abs", *stem.parts[1:]))


IMPORTER = register(Importer("manifest", "Generic CSV/Parquet manifest", LAYOUT, scan))
import_corpus = IMPORTER.import_corpus
