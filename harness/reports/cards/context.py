"""What every card of one run shares: the run's identity, corpus, datasheet, evaluation settings and verdict."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from harness.reports.run_tables import RunTables


@dataclass(frozen=True)
class CardContext:
    run_id: str
    created_utc: str
    harness_version: str
    git_commit: str
    backends: tuple[str, ...]
    corpus: dict[str, Any] | None
    datasheet: str | None
    datasheet_note: str
    confidence: float
    min_clips: int
    min_speakers: int
    verdict: str | None
    has_carbon: bool

    @property
    def corpus_name(self) -> str:
        return str((self.corpus or {}).get("name", "no corpus"))


def file_name(path: str | None) -> str:
    """Only the last part of a local path: a public card names no folder of the machine that wrote it."""
    return PurePath(str(path or "")).name or "not recorded"


def published_file(path: str | Path) -> str:
    """``name.yaml (sha256 ...)``: a local file as a public card names it, by file name and content hash."""
    local = Path(path)
    if not local.is_file():
        return f"`{local.name}`"
    return f"`{local.name}` (sha256 `{hashlib.sha256(local.read_bytes()).hexdigest()}`)"


def demote(markdown: str, levels: int) -> str:
    """Push every ATX heading down ``levels`` levels so an embedded document nests under a card section."""
    return re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + levels) + " ", markdown, flags=re.M)


def card_context(tables: RunTables) -> CardContext:
    manifest = tables.manifest
    corpus = manifest.get("corpus")
    datasheet, note = None, "this run evaluated no corpus"
    if corpus:
        path = Path(str(corpus.get("path", ""))) / "datasheet.md"
        if path.is_file():
            datasheet, note = path.read_text(encoding="utf-8"), f"the corpus's {published_file(path)}, below"
        else:
            note = "the corpus's datasheet.md is not where manifest.json records the corpus on this machine (moved, " \
                   "or the corpus has none)"
    settings = tables.evaluation_settings()
    return CardContext(
        run_id=tables.run_id,
        created_utc=str(manifest.get("created_utc", "not recorded")),
        harness_version=str(manifest.get("harness_version", "not recorded")),
        git_commit=str(manifest.get("git_commit") or "not recorded"),
        backends=tuple(str(b) for b in manifest.get("backend", [])),
        corpus=corpus,
        datasheet=datasheet,
        datasheet_note=note,
        confidence=float(settings.get("confidence", 0.95)),
        min_clips=int(settings.get("min_clips", 30)),
        min_speakers=int(settings.get("min_speakers", 5)),
        verdict=(tables.signoff or {}).get("verdict"),
        has_carbon=tables.carbon is not None,
    )
