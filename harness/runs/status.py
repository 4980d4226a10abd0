"""``status.json`` of a bench session: running (with its pid), complete, failed (error, log, how to resume) or
interrupted, so a killed session leaves a partial result that says what it is."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import Job


def write_status(run: RunDirectory, job: Job, status: str, **extra: Any) -> None:
    assert job.session is not None
    attachment = job.attachment(job.targets[0])
    rules = attachment.rules.label if attachment and attachment.rules else "mlperf"
    run.write_json(contract.STATUS, {"status": status, "mode": job.session.mode, "rules": rules, "pid": os.getpid(),
                                     "updated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra})
