"""The ledger lines of a run: the sha256 of every file it wrote, chained to the line before; later writes into the
run (a re-run sign-off, a new report) are amendment lines naming the command, so ``verify`` tells them from
tampering. Paths are relative to the ledger's folder, so a copied results folder verifies on its own contents."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from harness.ledger import chain
from harness.rundir import contract
from harness.rundir.directory import RunDirectory


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_run(run: RunDirectory, command: str) -> dict:
    """The run's line in the ledger of the folder it lives in (an amendment if the run is there already)."""
    ledger = run.path.parent / contract.LEDGER
    if any(e.get("run_id") == run.run_id for e in chain.entries(ledger)):
        return amend(run, command)
    return chain.append(ledger, {"run_id": run.run_id, "run_dir": run.run_id, "command": command, "utc": _now(),
                                 "files": run.file_hashes()})


def amend(run: RunDirectory, command: str) -> dict:
    """An amendment line: every file whose hash differs from what the ledger holds for the run (or is new), and
    the files gone since; nothing is appended when nothing changed or the run is not in a ledger."""
    ledger = run.path.parent / contract.LEDGER
    lines = [e for e in chain.entries(ledger) if e.get("run_id") == run.run_id]
    if not lines:
        return {}
    known: dict[str, str] = {}
    for line in lines:
        known.update(line.get("files") or {})
        for name in line.get("removed") or []:
            known.pop(name, None)
    now = run.file_hashes()
    changed = {name: sha for name, sha in now.items() if known.get(name) != sha}
    removed = sorted(set(known) - set(now))
    if not changed and not removed:
        return {}
    return chain.append(ledger, {"run_id": run.run_id, "run_dir": run.run_id, "amends": run.run_id,
                                 "command": command, "utc": _now(), "files": changed, "removed": removed})


def amend_dir(run_dir: Path, command: str) -> dict:
    """``amend`` for a run directory named on the command line (``harness signoff``, ``harness report``)."""
    return amend(RunDirectory(run_dir.resolve()), command)
