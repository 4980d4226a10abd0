"""Multilingual Spoken Words Corpus (MSWC): split CSVs naming 48 kHz Opus clips, one folder per word."""

from __future__ import annotations

import csv
import re
from pathlib import Path, PurePosixPath

from harness.core.errors import DataError
from harness.corpus.importers.base import Importer, Scan, SourceClip, not_this_format, register
from harness.corpus.importers.report import ImportReport
from harness.corpus.importers.tables import first_blank, missing_column, read_delimited, require, text

REQUIRED = ("LINK", "WORD", "SPEAKER")
_SPLIT_FILE = re.compile(r"^(?:(?P<lang>[a-z]{2,3}(?:-[A-Za-z]+)?)_)?(?P<split>splits|train|dev|test)$")
_NO_GENDER = {"nan", "none", "unknown", "n/a"}

LAYOUT = """\
SRC/                       one language, e.g. mswc/en/
  <lang>_splits.csv        header SET,LINK,WORD,VALID,SPEAKER,GENDER; SET is TRAIN, DEV or TEST
                           (or <lang>_train.csv, <lang>_dev.csv, <lang>_test.csv without SET:
                           the split then comes from the file name)
  clips/<LINK>             48 kHz Opus per word, e.g. clips/aachen/common_voice_en_18833718.opus
Required columns: LINK, WORD, SPEAKER (and SET unless the file name gives the split)."""

PROVENANCE = (
    "Multilingual Spoken Words Corpus (Mazumder et al. 2021): single words cut by forced alignment from "
    "Common Voice sentences. label = WORD; speaker = SPEAKER (a Common Voice client id); gender from "
    "GENDER; language from the CSV's file-name prefix; VALID is kept as the column 'valid'."
)
LIMITS = [
    "No accent labels: MSWC does not carry Common Voice's accent field.",
    "Words were extracted by forced alignment: some clips are cut early or late, or hold the wrong word.",
    "Audio is 48 kHz Opus (lossy) from contributors' own devices, resampled to 16 kHz.",
]


def scan(src: Path, report: ImportReport, *, splits: tuple[str, ...] = ()) -> Scan:
    files = _choose_csvs(src, report)
    clips_dir = src / "clips"
    if not clips_dir.is_dir():
        raise not_this_format("mswc", LAYOUT, src, "no clips/ folder")
    tables = []
    for path, split_from_name, language in files:
        table = read_delimited(path, report, path.name)
        require(table, REQUIRED)
        tables.append((table, split_from_name, language))
    has_gender = any("GENDER" in t.columns for t, _, _ in tables)
    has_language = any(language for _, _, language in tables)
    groups = [g for g, present in {"gender": has_gender, "language": has_language}.items() if present]
    if "gender" not in groups:
        report.note("no GENDER column: 'gender' is absent")
    wanted = {s.lower() for s in splits}
    clips: list[SourceClip] = []
    for table, split_from_name, language in tables:
        source = table.path.name
        for line, row in table.rows:
            report.rows_read += 1
            link, word, speaker = (row["LINK"] or "").strip(), text(row["WORD"]), text(row["SPEAKER"])
            split = (split_from_name or text(row.get("SET")) or "").lower() or None
            problem = first_blank({"LINK": link, "WORD": word, "SPEAKER": speaker, "SET": split})
            if problem:
                report.skip(source, line, link or f"row {line}", problem)
                continue
            if wanted and split not in wanted:
                report.exclude(f"split '{split}' not selected")
                continue
            gender = (text(row.get("GENDER")) or "").lower()
            values = {"gender": None if gender in _NO_GENDER or not gender else gender, "language": language}
            clips.append(
                SourceClip(
                    audio=clips_dir / link,
                    clip_id=str(PurePosixPath(link).with_suffix("")),
                    origin=(source, line),
                    label=word,
                    split=split,
                    speaker=speaker,
                    groups={g: values[g] for g in groups},
                    extra={"valid": text(row.get("VALID"))},
                )
            )
    return Scan(clips, groups, PROVENANCE, LIMITS, extra_columns=["valid"])


def _choose_csvs(src: Path, report: ImportReport) -> list[tuple[Path, str | None, str | None]]:
    """(csv, split named by the file or None, language prefix or None) for the CSVs to read."""
    if not src.is_dir():
        raise not_this_format("mswc", LAYOUT, src, "not a folder")
    paths = sorted(src.glob("*.csv"))
    if not paths:
        raise not_this_format("mswc", LAYOUT, src, "no .csv split files")
    combined, per_split = [], []
    for path in paths:
        header = _header(path)
        match = _SPLIT_FILE.match(path.stem)
        language = match["lang"] if match else None
        if "SET" in header:
            combined.append((path, None, language))
        elif match and match["split"] != "splits":
            per_split.append((path, match["split"], language))
        else:
            raise missing_column(
                path,
                "SET",
                header,
                " (and the file name names no split: *_train.csv, *_dev.csv or *_test.csv)",
            )
    if combined and per_split:
        names = ", ".join(p.name for p, _, _ in per_split)
        report.note(f"read the CSVs with a SET column only; {names} not read (their rows repeat them)")
        return combined
    return combined or per_split


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip() for name in next(csv.reader(handle), [])]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from exc


IMPORTER = register(Importer("mswc", "Multilingual Spoken Words Corpus", LAYOUT, scan))
import_corpus = IMPORTER.import_corpus
