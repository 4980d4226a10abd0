"""The run directory: one folder per run holding every input hash, raw sample and table."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core.errors import DataError
from harness.core.files import write_atomic
from harness.rundir import contract


def new_run_id(plan_name: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", plan_name)[:40]
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{slug}"


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    @classmethod
    def create(cls, results: Path, run_id: str) -> RunDirectory:
        path = results / run_id
        (path / contract.RAW).mkdir(parents=True, exist_ok=False)
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        if not (path / contract.MANIFEST).is_file():
            raise DataError(f"{path}: not a run directory (no manifest.json)", hint="pass a results/<run_id> folder")
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def raw(self) -> Path:
        return self.path / contract.RAW

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        return path

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def append_jsonl(self, name: str, record: dict[str, Any]) -> None:
        """Append one record and flush it to disk: measurements taken are never lost."""
        path = self.path / name
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_jsonable) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def rewrite_jsonl(self, name: str, records: list[dict[str, Any]]) -> None:
        """Replace a JSONL file with ``records`` (drops a torn last line before appending resumes)."""
        write_atomic(self.path / name, "".join(json.dumps(r, default=_jsonable) + "\n" for r in records))

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        path = self.path / name
        if not path.is_file():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from an interrupted write; everything before it is intact
        return records


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
