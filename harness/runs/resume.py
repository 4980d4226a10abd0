"""Resume is a continuation, never a new run: the run directory's frozen plan, models, targets and corpus must be
what this command would measure, or it refuses and says what differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError
from harness.corpus.directory import Corpus
from harness.registry.plans import Plan
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import Job
from harness.runs.manifest import model_record

# Plan fields that change nothing measured: a resumed run may differ in them.
NOT_MEASURED = {("description",), ("source_file",), ("evaluation", "workers"), ("scheduler",)}
# Bench options that say where the device is, not what is measured on it.
WHERE = {"port", "baud", "timeout_s", "dut"}


def frozen_plan(run_dir: Path) -> Plan:
    """The plan a run directory was started with, as its manifest froze it."""
    manifest = RunDirectory.open(run_dir).read_json(contract.MANIFEST)
    if not isinstance(manifest.get("plan"), dict):
        raise ConfigError(f"{run_dir / contract.MANIFEST}: no 'plan' record to resume from",
                          hint="this run was written by another tool or an old version; start a new run")
    return Plan.model_validate(manifest["plan"])


def frozen_device_urls(run_dir: Path) -> dict[str, str]:
    """The targets a run measured on the bench (a link other than ``sim://``), as their link URLs."""
    manifest = RunDirectory.open(run_dir).read_json(contract.MANIFEST)
    return {t["name"]: t["link"] for t in manifest.get("targets") or []
            if isinstance(t, dict) and t.get("link") and not str(t["link"]).startswith("sim://")}


def check_continuation(run: RunDirectory, job: Job, corpus: Corpus | None, content_sha256: str | None) -> None:
    """ConfigError listing every difference between the run as started and what ``job`` would measure."""
    manifest = run.read_json(contract.MANIFEST)
    found = _differences(manifest.get("plan") or {}, _plain(job.plan.model_dump()), ())
    before = {m["name"]: m.get("sha256") for m in manifest.get("models") or []}
    now = {m.name: model_record(m)["sha256"] for m in job.models}
    found += _mapping_differences("model", before, now)
    before = {t["name"]: t.get("sha256") for t in manifest.get("targets") or []}
    found += _mapping_differences("target profile", before, {t.name: t.sha256() for t in job.targets})
    recorded = (manifest.get("corpus") or {}).get("content_sha256")
    if corpus is not None and recorded != content_sha256:
        found.append(f"corpus {corpus.name}: its clips or labels changed since the run began "
                     f"(content sha256 {recorded} then, {content_sha256} now)")
    if job.session is not None:
        started = manifest.get("bench_device") or {}
        found += [f"--{key.replace('_', '-')}: the run has {started.get(key)!r}, this command gives {value!r}"
                  for key, value in job.session.settings.items() if key not in WHERE and started.get(key) != value]
    if found:
        raise ConfigError(f"{run.path}: --resume continues the run as it began, and this command would change it:\n  "
                          + "\n  ".join(found),
                          hint="resume with no plan options (the run's own plan is used), or start a new run")


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _differences(before: Any, now: Any, path: tuple[str, ...]) -> list[str]:
    if path in NOT_MEASURED:
        return []
    if isinstance(before, dict) and isinstance(now, dict):
        return [d for key in sorted(set(before) | set(now)) for d in _differences(before.get(key), now.get(key),
                                                                                   (*path, key))]
    if before != now:
        return [f"plan field '{'.'.join(path)}': the run has {before!r}, this command gives {now!r}"]
    return []


def _mapping_differences(kind: str, before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    found = [f"{kind} '{n}' is not in the run" for n in now if n not in before]
    found += [f"{kind} '{n}' of the run is missing here" for n in before if n not in now]
    found += [f"{kind} '{n}' changed since the run began (sha256 {before[n]} then, {now[n]} now)"
              for n in now if n in before and before[n] != now[n]]
    return found
