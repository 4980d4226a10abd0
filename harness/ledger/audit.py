"""Audit a results folder: the ledger's hash chain, line by line, and every file hash each run recorded.

Unlike ``chain.verify`` it does not stop at the first problem: it lists every broken link, missing run or
changed file with the expected and actual hash, so a reviewer sees exactly what was altered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import DataError, read_utf8
from harness.core.hashing import sha256_file
from harness.ledger.chain import GENESIS
from harness.rundir import contract

# What each ledger line may hash (the run-directory contract's list): key -> file.
RECORDED = {contract.recorded_key(name): name for name in contract.RECORDED}


@dataclass(frozen=True)
class Finding:
    where: str
    message: str
    expected: str | None = None
    actual: str | None = None
    tampering: bool = True


@dataclass
class Audit:
    ledger: Path
    entries: int = 0
    files_checked: int = 0
    head_sha256: str = GENESIS
    findings: list[Finding] = field(default_factory=list)

    @property
    def tampered(self) -> bool:
        return any(f.tampering for f in self.findings)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def audit(results: Path) -> Audit:
    ledger = results / contract.LEDGER
    if not ledger.is_file():
        raise DataError(f"{results}: no ledger.jsonl, so there is nothing to verify",
                        hint="pass the results folder that `harness run` wrote to (default results/)")
    report = Audit(ledger)
    prev = GENESIS
    recorded_runs = set()
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
        run_id = entry.get("run_id", "?")
        recorded_runs.add(run_id)
        if entry.get("prev_sha256") != prev:
            report.findings.append(Finding(
                f"{where} (run {run_id})", f"chain broken: line {number} records the previous line's hash, but line "
                f"{number - 1} now hashes differently: line {number - 1} was edited, or lines were removed, "
                "inserted or reordered before this one", expected=entry.get("prev_sha256"), actual=prev))
        prev = _sha(line)
        _check_files(report, results, entry, where)
    report.head_sha256 = prev
    for manifest in sorted(results.glob("*/manifest.json")):
        if manifest.parent.name not in recorded_runs:
            report.findings.append(Finding(str(manifest.parent), "run directory not in the ledger (an interrupted "
                                           "run, or one copied in)", tampering=False))
    return report


def _check_files(report: Audit, results: Path, entry: dict, where: str) -> None:
    run_id = entry.get("run_id", "?")
    run_dir = Path(entry.get("run_dir", ""))
    if not run_dir.is_dir():
        run_dir = results / run_id  # the results folder may have moved since the run
    for key, expected in sorted(entry.items()):
        if not key.endswith("_sha256") or key == "prev_sha256":
            continue
        name = RECORDED.get(key)
        if name is None:
            report.findings.append(Finding(f"{where} (run {run_id})", f"unknown recorded hash '{key}'",
                                           tampering=False))
            continue
        path = run_dir / name
        if not path.is_file():
            report.findings.append(Finding(f"run {run_id}: {path}", "recorded file is missing", expected=expected))
            continue
        report.files_checked += 1
        actual = sha256_file(path)
        if actual != expected:
            report.findings.append(Finding(f"run {run_id}: {path}", "file changed since the run recorded it",
                                           expected=expected, actual=actual))
