"""What an import read, wrote, converted and left out, row by row: nothing is dropped silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SkippedRow:
    """A source row that produced no clip, and why."""

    source: str  # the file (or folder) the row came from, relative to the import source
    line: int | None  # 1-based line in that file; None for files found by listing a folder
    item: str  # the audio path or id the row names
    reason: str

    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@dataclass
class ImportReport:
    """Counts of one import; ``rows_read == clips_written + len(skipped) + sum(excluded.values())``."""

    format: str
    src: Path
    out: Path
    rows_read: int = 0
    clips_written: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)  # left out on purpose by an option
    resampled: Counter[int] = field(default_factory=Counter)  # original sample rate -> clips
    downmixed: Counter[int] = field(default_factory=Counter)  # original channel count -> clips
    reformatted: Counter[str] = field(default_factory=Counter)  # original sample format (not int16) -> clips
    clipped: int = 0  # clips with samples clipped to int16 after downmix or resampling
    notes: list[str] = field(default_factory=list)
    group_columns: list[str] = field(default_factory=list)

    def skip(self, source: str, line: int | None, item: str, reason: str) -> None:
        self.skipped.append(SkippedRow(source, line, item, reason))

    def exclude(self, reason: str) -> None:
        self.excluded[reason] += 1

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def skipped_by_reason(self) -> Counter[str]:
        return Counter(_reason_kind(row.reason) for row in self.skipped)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.clips_written + len(self.skipped) + sum(self.excluded.values())

    def summary_lines(self, max_skipped: int = 20) -> list[str]:
        """The report as lines: counts, conversions, notes, then skipped rows (at most ``max_skipped``)."""
        lines = [
            f"format: {self.format}",
            f"rows read: {self.rows_read}",
            f"clips written: {self.clips_written}",
            f"rows skipped: {len(self.skipped)}",
        ]
        lines += [f"  {count} x {reason}" for reason, count in sorted(self.skipped_by_reason().items())]
        if self.excluded:
            lines.append(f"rows excluded by options: {sum(self.excluded.values())}")
            lines += [f"  {count} x {reason}" for reason, count in sorted(self.excluded.items())]
        lines += [
            f"resampled to 16 kHz: {n} clips at {rate} Hz" for rate, n in sorted(self.resampled.items())
        ]
        lines += [
            f"downmixed to mono: {n} clips with {ch} channels" for ch, n in sorted(self.downmixed.items())
        ]
        lines += [
            f"converted to int16: {n} clips of {fmt}" for fmt, n in sorted(self.reformatted.items())
        ]
        if self.clipped:
            lines.append(f"clipped to int16 after conversion: {self.clipped} clips")
        lines += [f"note: {note}" for note in self.notes]
        if max_skipped:
            lines += [f"skipped {r.where()}: {r.item}: {r.reason}" for r in self.skipped[:max_skipped]]
            if len(self.skipped) > max_skipped:
                lines.append(f"... {len(self.skipped) - max_skipped} more skipped rows (all in skipped.csv)")
        return lines


def _reason_kind(reason: str) -> str:
    """The reason without its per-row detail (what follows the first ' (' or ': ')."""
    for sep in (" (", ": "):
        reason = reason.split(sep, 1)[0]
    return reason
