"""Mozilla Common Voice: one TSV per split naming MP3s under clips/, with self-reported demographics."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

from harness.core.errors import DataError
from harness.corpus.importers.base import Importer, Scan, SourceClip, not_this_format, register
from harness.corpus.importers.report import ImportReport
from harness.corpus.importers.tables import (
    Table,
    first_blank,
    normalise_sentence,
    read_delimited,
    require,
    text,
)

DEFAULT_SPLITS = ("train", "dev", "test")
REQUIRED = ("client_id", "path", "sentence")
SINGLE_WORDS = frozenset("zero one two three four five six seven eight nine yes no hey firefox".split())
# group column -> source columns, first found wins (releases before ~2022 call 'accents' 'accent')
GROUP_SOURCES = {
    "accent": ("accents", "accent"),
    "gender": ("gender",),
    "age_band": ("age",),
    "language": ("locale",),
    "variant": ("variant",),
}
AGE_BANDS = {
    "teens": "<20",
    "twenties": "20-29",
    "thirties": "30-39",
    "fourties": "40-49",
    "forties": "40-49",
    "fifties": "50-59",
    "sixties": "60-69",
    "seventies": "70-79",
    "eighties": "80-89",
    "nineties": "90-99",
}

LAYOUT = """\
SRC/                       one language of a release, e.g. cv-corpus-17.0-2024-03-15/en/
  train.tsv dev.tsv test.tsv   (also validated.tsv, other.tsv, ...: pick with --split NAME)
      tab-separated, header: client_id path sentence_id sentence sentence_domain up_votes down_votes
      age gender accents variant locale segment (required: client_id, path, sentence; older
      releases lack some of the others, or call 'accents' 'accent')
  clips/<path>             the MP3 each row's 'path' names
Default splits: the train, dev and test TSVs present (validated.tsv overlaps them)."""

PROVENANCE = (
    "Mozilla Common Voice: crowd-sourced read speech. speaker = client_id; accent = the free-text "
    "`accents` field (whitespace normalised, otherwise as given); gender as given; age_band from the "
    "`age` decade; language from `locale`; label = the sentence, NFKC lower-cased without punctuation."
)
LIMITS = [
    "Demographics are self-reported and optional: many clips have no accent, gender or age (see the "
    "'(none)' rows in Composition); the clips that have them are not a random sample of speakers.",
    "Accent is free text: one accent can have several spellings and a speaker can list several accents.",
    "Audio is MP3 (lossy compression) recorded on contributors' own devices; it was decoded and resampled "
    "to 16 kHz.",
    "Most labels are full sentences, not keywords; --single-word keeps only the Single Word Target Segment "
    "words (zero-nine, yes, no, hey, firefox).",
]


def scan(src: Path, report: ImportReport, *, splits: tuple[str, ...] = (), single_word: bool = False) -> Scan:
    tsvs = _choose_tsvs(src, splits)
    clips_dir = src / "clips"
    if not clips_dir.is_dir():
        raise not_this_format("common_voice", LAYOUT, src, "no clips/ folder")
    tables = [
        read_delimited(src / f"{name}.tsv", report, f"{name}.tsv", delimiter="\t", quoting=csv.QUOTE_NONE)
        for name in tsvs
    ]
    for table in tables:
        require(table, REQUIRED)
    sources = _group_sources(tables, report)
    group_columns = [g for g in GROUP_SOURCES if any(sources[t.path.name].get(g) for t in tables)]

    clips: list[SourceClip] = []
    for name, table in zip(tsvs, tables, strict=True):
        present = sources[table.path.name]
        for line, row in table.rows:
            report.rows_read += 1
            origin = (table.path.name, line)
            rel, speaker = (row["path"] or "").strip(), text(row["client_id"])
            label = normalise_sentence(row["sentence"] or "")
            problem = first_blank({"path": rel, "client_id": speaker, "sentence": label})
            if problem:
                report.skip(*origin, rel or f"row {line}", problem)
                continue
            if single_word and label not in SINGLE_WORDS:
                report.exclude("not a Single Word Target Segment word (--single-word)")
                continue
            groups = {
                g: _group_value(g, row.get(present[g]) if present.get(g) else None, report)
                for g in group_columns
            }
            clips.append(
                SourceClip(
                    audio=_audio_path(clips_dir, rel),
                    clip_id=PurePosixPath(rel).stem,
                    origin=origin,
                    label=label,
                    split=name,
                    speaker=speaker,
                    groups=groups,
                )
            )
    return Scan(clips, group_columns, PROVENANCE, LIMITS)


def _choose_tsvs(src: Path, splits: tuple[str, ...]) -> list[str]:
    if not src.is_dir():
        raise not_this_format("common_voice", LAYOUT, src, "not a folder")
    available = sorted(p.stem for p in src.glob("*.tsv"))
    if not available:
        nested = sorted(p.parent.name for p in src.glob("*/train.tsv"))
        extra = f" (language folders inside: {', '.join(nested)}; pass one of them)" if nested else ""
        raise not_this_format("common_voice", LAYOUT, src, f"no .tsv files{extra}")
    if splits:
        missing = [s for s in splits if s not in available]
        if missing:
            raise DataError(
                f"{src}: no {', '.join(m + '.tsv' for m in missing)}",
                hint=f"TSVs found: {', '.join(available)}",
            )
        return list(dict.fromkeys(splits))
    chosen = [s for s in DEFAULT_SPLITS if s in available]
    if not chosen:
        raise not_this_format(
            "common_voice",
            LAYOUT,
            src,
            f"no train.tsv, dev.tsv or test.tsv (found: "
            f"{', '.join(a + '.tsv' for a in available)}; choose one with --split NAME)",
        )
    return chosen


def _group_sources(tables: list[Table], report: ImportReport) -> dict[str, dict[str, str | None]]:
    """Per TSV: group column -> the source column that feeds it (None when the TSV lacks it)."""
    sources: dict[str, dict[str, str | None]] = {}
    for table in tables:
        sources[table.path.name] = {
            g: next((c for c in cols if c in table.columns), None) for g, cols in GROUP_SOURCES.items()
        }
    for group, cols in GROUP_SOURCES.items():
        lacking = [name for name, found in sources.items() if found[group] is None]
        if len(lacking) == len(tables):
            report.note(f"no '{cols[0]}' column in any TSV: '{group}' is absent")
        elif lacking:
            report.note(f"{', '.join(lacking)}: no '{cols[0]}' column: '{group}' is empty for those rows")
    return sources


def _group_value(group: str, raw: str | None, report: ImportReport) -> str | None:
    value = text(raw)
    if value is None:
        return None
    if group == "gender":
        return value.lower()
    if group == "age_band":
        band = AGE_BANDS.get(value.lower())
        if band is None:
            report.note(f"age value '{value}' is not a known Common Voice decade: kept as given")
        return band or value
    return value


def _audio_path(clips_dir: Path, rel: str) -> Path:
    path = clips_dir / rel
    if not path.suffix and not path.exists():  # the oldest releases omit the extension
        return path.with_suffix(".mp3")
    return path


IMPORTER = register(Importer("common_voice", "Mozilla Common Voice", LAYOUT, scan))
import_corpus = IMPORTER.import_corpus
