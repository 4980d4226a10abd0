"""The run directory: one folder per run holding every input hash, raw sample and table."""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core.errors import DataError
from harness.core.files import write_atomic
from harness.core.hashing import sha256_file
from harness.rundir import contract

# Devices measured in threads write into one run directory: its writes happen one at a time.
_WRITING = threading.RLock()


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

    def file_hashes(self) -> dict[str, str]:
        """sha256 of every file the ledger hashes, by path relative to the run directory ('/'-separated)."""
        found = {}
        for path in sorted(p for p in self.path.rglob("*") if p.is_file()):
            relative = path.relative_to(self.path).as_posix()
            if contract.hashed(relative):
                found[relative] = sha256_file(path)
        return found

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory for this process: a second process refuses it while the first lives.

        The lock is an flock on ``.lock``, which the kernel releases when the holder exits, so a killed run
        never leaves it stale; ``status.json`` names the holder (pid, host) for the message.
        """
        handle = (self.path / contract.LOCK).open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = self.read_json(contract.STATUS) if (self.path / contract.STATUS).is_file() else {}
            raise DataError(f"{self.path}: in use by another harness process (pid {holder.get('pid', '?')} on "
                            f"{holder.get('host', '?')}, status {holder.get('status', '?')} since "
                            f"{holder.get('updated_utc', '?')})",
                            hint="one process measures into a run directory at a time: wait for that one to end, "
                                 "or start a new run") from None
        try:
            yield
        finally:
            (self.path / contract.LOCK).unlink(missing_ok=True)
            handle.close()

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with _WRITING:
            write_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with _WRITING:
            write_atomic(path, text)
        return path

    def write_bytes(self, name: str, data: bytes) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with _WRITING:
            write_atomic(path, data)
        return path

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def append_jsonl(self, name: str, record: dict[str, Any]) -> None:
        """Append one record and flush it to disk: measurements taken are never lost."""
        path = self.path / name
        with _WRITING, path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_jsonable) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def rewrite_jsonl(self, name: str, records: list[dict[str, Any]]) -> None:
        """Replace a JSONL file with ``records`` (drops a torn last line before appending resumes)."""
        with _WRITING:
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
