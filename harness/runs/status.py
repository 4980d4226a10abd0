"""``status.json`` of every run: running (with its pid and host), complete, failed (error, log, how to resume) or
interrupted, so a killed run leaves a partial result that says what it is."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from typing import Any

from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import Job


def command_of(job: Job) -> str:
    return "bench-device" if job.session is not None else "run"


def resume_hint(run: RunDirectory, job: Job) -> str:
    if job.session is not None and job.session.streams is not None:
        return f"harness bench-device --mode stream --board BOARD --model ... (the same options) --resume {run.path}"
    if job.session is not None:
        return f"harness bench-device --port PORT --model ... (the same options) --resume {run.path}"
    return f"harness run --resume {run.path}"


def write_status(run: RunDirectory, job: Job, status: str, **extra: Any) -> None:
    record: dict[str, Any] = {"status": status, "command": command_of(job)}
    if job.session is not None:
        attachment = job.attachment(job.targets[0])
        record["mode"] = job.session.mode
        record["rules"] = attachment.rules.label if attachment and attachment.rules else "mlperf"
    record.update(pid=os.getpid(), host=socket.gethostname(),
                  updated_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra)
    run.write_json(contract.STATUS, record)
