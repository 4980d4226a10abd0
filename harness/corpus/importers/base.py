"""The importer interface and its registry: a format parses its layout, one writer does the rest."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import indent
from typing import Any

from harness.core.errors import ConfigError, DataError
from harness.core.progress import Progress
from harness.core.registry import Registry
from harness.corpus.importers.report import ImportReport


@dataclass(frozen=True)
class SourceClip:
    """One source row that names audio: where it is and what the manifest will say about it."""

    audio: Path
    clip_id: str  # unique; also the output path, clips/<clip_id>.wav
    origin: tuple[str, int | None]  # (source file, line) for messages
    label: str
    split: str | None
    speaker: str | None
    kind: str = "speech"  # "speech" or "noise" (long background recordings, not utterances)
    groups: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # other source columns worth keeping (not groups)


@dataclass
class Scan:
    """What a format's parser found: clips, their group columns, the datasheet's provenance and limits."""

    clips: list[SourceClip]
    group_columns: list[str]
    provenance: str
    limits: list[str]
    extra_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Importer:
    """A registered format. ``scan(src, report, *, splits, **options)`` parses the layout, recording skips."""

    name: str
    title: str  # "Google Speech Commands v2"
    layout: str  # the expected source layout, for --help and for errors
    scan: Callable[..., Scan]

    def options(self) -> list[str]:
        """Format-specific keyword options of ``scan``."""
        params = inspect.signature(self.scan).parameters.values()
        return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "splits"]

    def import_corpus(
        self,
        src: Path,
        out: Path,
        *,
        progress: Progress | None = None,
        splits: Sequence[str] | None = None,
        name: str | None = None,
        overwrite: bool = False,
        **options: Any,
    ) -> ImportReport:
        """Read ``src`` in this format and write a corpus directory at ``out``."""
        from harness.corpus.importers.writer import prepare_out, write_corpus

        unknown = sorted(set(options) - set(self.options()))
        if unknown:
            valid = ", ".join(self.options()) or "none"
            raise ConfigError(
                f"format '{self.name}' has no option {', '.join(unknown)}", hint=f"its options: {valid}"
            )
        src = Path(src)
        if not src.exists():
            raise DataError(
                f"{src}: no such file or folder", hint=f"{self.name} expects:\n{indent(self.layout, '    ')}"
            )
        prepare_out(Path(out), overwrite=overwrite)
        report = ImportReport(format=self.name, src=src, out=Path(out))
        scan = self.scan(src, report, splits=tuple(splits or ()), **options)
        write_corpus(
            self,
            scan,
            report,
            name=name or Path(out).name,
            options={"splits": list(splits or ()), **options},
            progress=progress,
        )
        return report


IMPORTERS: Registry[Importer] = Registry("corpus format", tuple(
    f"harness.corpus.importers.{m}" for m in ("common_voice", "generic", "mswc", "speech_commands")))
register = IMPORTERS.register(lambda importer: importer.name)


def importer_names() -> list[str]:
    return IMPORTERS.names()


def get_importer(name: str) -> Importer:
    return IMPORTERS.get(name)


def not_this_format(importer_name: str, layout: str, src: Path, problem: str) -> DataError:
    """The error for a source that does not look like the format: what was found, what was expected."""
    return DataError(
        f"{src}: does not look like {importer_name}: {problem}",
        hint=f"expected layout:\n{indent(layout, '    ')}",
    )
