"""The ledger line of a run: the sha256 of every recorded file it wrote, chained to the line before."""

from __future__ import annotations

from pathlib import Path

from harness.core.hashing import sha256_file
from harness.ledger import chain
from harness.rundir import contract
from harness.rundir.directory import RunDirectory


def record_run(run: RunDirectory, results: Path) -> None:
    record = {"run_id": run.run_id, "run_dir": str(run.path)}
    for name in contract.RECORDED:
        if (run.path / name).is_file():
            record[contract.recorded_key(name)] = sha256_file(run.path / name)
    chain.append(results / contract.LEDGER, record)
