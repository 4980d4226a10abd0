"""Audit a results folder: the ledger's hash chain, line by line, and every file of every recorded run.

Unlike ``chain.verify`` it does not stop at the first problem: it lists every broken link, missing run,
changed, missing or unrecorded file with the expected and actual hash, so a reviewer sees exactly what
was altered. A run directory is found beside the ledger (``<results>/<run_id>``), whatever path a line
holds, so a copied or moved results folder is judged on its own contents. Amendment lines (a re-run
sign-off, a new report) update what a run should hold and are reported as amendments, not tampering.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import DataError, read_utf8
from harness.ledger.chain import GENESIS
from harness.rundir import contract
from harness.rundir.directory import RunDirectory

# Lines written before every file was hashed: key -> file.
LEGACY = {contract.legacy_key(name): name for name in contract.LEGACY_RECORDED}


@dataclass(frozen=True)
class Finding:
    where: str
    message: str
    expected: str | None = None
    actual: str | None = None
    tampering: bool = True


@dataclass
class RunRecord:
    """What the ledger says a run holds: each file's latest hash, and the amendments that changed it."""

    files: dict[str, str] = field(default_factory=dict)
    complete: bool = True  # False for legacy lines, which hashed a few files only
    amendments: list[str] = field(default_factory=list)

    def apply(self, entry: dict[str, Any], where: str) -> list[Finding]:
        unknown = []
        if "files" in entry:
            self.files.update(entry["files"])
            for name in entry.get("removed") or []:
                self.files.pop(name, None)
        else:
            self.complete = False
            for key, sha in entry.items():
                if key.endswith("_sha256") and key != "prev_sha256":
                    if key in LEGACY:
                        self.files[LEGACY[key]] = sha
                    else:
                        unknown.append(Finding(where, f"unknown recorded hash '{key}'", tampering=False))
        if entry.get("amends"):
            self.amendments.append(f"{entry.get('command', '?')} at {entry.get('utc', '?')} ({where})")
        return unknown


@dataclass
class Audit:
    ledger: Path
    entries: int = 0
    files_checked: int = 0
    head_sha256: str = GENESIS
    findings: list[Finding] = field(default_factory=list)
    amended: dict[str, list[str]] = field(default_factory=dict)

    @property
    def tampered(self) -> bool:
        return any(f.tampering for f in self.findings)

    @property
    def state(self) -> str:
        if self.tampered:
            return "TAMPERED"
        return f"intact, {len(self.amended)} run(s) amended" if self.amended else "intact"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def audit(results: Path) -> Audit:
    ledger = results / contract.LEDGER
    if not ledger.is_file():
        raise DataError(f"{results}: no ledger.jsonl, so there is nothing to verify",
                        hint="pass the results folder that `harness run` wrote to (default results/)")
    report = Audit(ledger)
    prev = GENESIS
    runs: dict[str, RunRecord] = {}
    for number, line in enumerate(read_utf8(ledger).splitlines(), start=1):
        if not line:
            continue
        report.entries += 1
        where = f"{ledger}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            report.findings.append(Finding(where, "line is not JSON"))
            prev = _sha(line)
            continue
        run_id = str(entry.get("run_id", "?"))
        if entry.get("prev_sha256") != prev:
            report.findings.append(Finding(
                f"{where} (run {run_id})", f"chain broken: line {number} records the previous line's hash, but line "
                f"{number - 1} now hashes differently: line {number - 1} was edited, or lines were removed, "
                "inserted or reordered before this one", expected=entry.get("prev_sha256"), actual=prev))
        prev = _sha(line)
        report.findings += runs.setdefault(run_id, RunRecord()).apply(entry, f"{where} (run {run_id})")
    report.head_sha256 = prev
    for run_id, record in runs.items():
        _check_run(report, results / run_id, run_id, record)
    _unrecorded_runs(report, results, set(runs))
    return report


def _check_run(report: Audit, run_dir: Path, run_id: str, record: RunRecord) -> None:
    if record.amendments:
        report.amended[run_id] = record.amendments
        for amendment in record.amendments:
            report.findings.append(Finding(f"run {run_id}", f"amended by {amendment}", tampering=False))
    actual = RunDirectory(run_dir).file_hashes() if run_dir.is_dir() else {}
    for name, expected in sorted(record.files.items()):
        path = run_dir / name
        if name not in actual:
            report.findings.append(Finding(f"run {run_id}: {path}", "recorded file is missing", expected=expected))
            continue
        report.files_checked += 1
        if actual[name] != expected:
            report.findings.append(Finding(f"run {run_id}: {path}", "file changed since the run recorded it",
                                           expected=expected, actual=actual[name]))
    if record.complete:
        for name in sorted(set(actual) - set(record.files)):
            report.findings.append(Finding(f"run {run_id}: {run_dir / name}", "file added after the run, and no "
                                           "ledger line records it", actual=actual[name]))


def _unrecorded_runs(report: Audit, results: Path, recorded: set[str]) -> None:
    for manifest in sorted(results.glob(f"*/{contract.MANIFEST}")):
        run_dir = manifest.parent
        if run_dir.name in recorded:
            continue
        status = _status(run_dir)
        if status in ("failed", "interrupted", "running"):
            message = f"a {status} run, not in the ledger (resume it to finish it)"
        else:
            message = "run directory not in the ledger (an interrupted run, or one copied in)"
        report.findings.append(Finding(str(run_dir), message, tampering=False))


def _status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / contract.STATUS).read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
