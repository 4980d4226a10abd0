"""``results/ledger.jsonl``: one line per run (or amendment), each holding the sha256 of the line before it.

Editing or deleting any earlier line breaks every later link, which ``verify`` reports. Appends hold an
exclusive lock on the ledger, so concurrent runs writing to one results folder keep the chain whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from harness.core.errors import DataError, read_utf8

GENESIS = "0" * 64


def _sha(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in read_utf8(path).splitlines() if line]


def append(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Append ``record`` chained to the current last line, under an exclusive lock; return what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes
        f.seek(0)
        lines = [line for line in f.read().splitlines() if line]
        entry = {**record, "prev_sha256": _sha(lines[-1]) if lines else GENESIS}
        f.seek(0, os.SEEK_END)
        f.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return entry


def entries(path: Path) -> list[dict[str, Any]]:
    """Every line that parses, in order (``verify`` and ``audit`` report the ones that do not)."""
    found = []
    for line in _lines(path):
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def verify(path: Path) -> int:
    """Check every link; return the number of entries or raise DataError at the first broken one."""
    lines = _lines(path)
    prev = GENESIS
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}: line {number} is not JSON") from None
        if entry.get("prev_sha256") != prev:
            raise DataError(
                f"{path}: chain broken at line {number} (run {entry.get('run_id', '?')}): it records "
                f"prev_sha256 {entry.get('prev_sha256')} but the previous line hashes to {prev}",
                hint="an earlier line was edited, removed or reordered",
            )
        prev = _sha(line)
    return len(lines)
