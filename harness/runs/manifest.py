"""The run manifest: everything needed to re-check a number (inputs' hashes, versions, host, seed)."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from typing import Any

from harness import __version__
from harness.core.hashing import sha256_file
from harness.core.paths import project_root
from harness.registry.models import ModelEntry, unpinned_artifacts
from harness.registry.plans import Plan
from harness.registry.targets import TargetProfile
from harness.runtimes import available_runtimes


def git_commit() -> str | None:
    """HEAD of the checkout the harness runs from, suffixed ``-dirty`` when it has local changes."""
    try:
        root = project_root()
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def host_info() -> dict[str, Any]:
    import os

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def model_record(entry: ModelEntry) -> dict[str, Any]:
    path = entry.artifact_path()
    return {
        "name": entry.name,
        "path": str(path),
        "format": entry.format,
        "sha256": sha256_file(path),
        "source": entry.source,
        "stages": [
            {"name": s.name, "path": str(p), "sha256": sha256_file(p)}
            for s, p in zip(entry.stages, entry.stage_paths(), strict=True)
        ],
    }


def unpinned_record(models: list[ModelEntry]) -> dict[str, Any]:
    """``allow_unpinned`` and which artifacts ran without a pinned sha256; empty when every one was pinned."""
    unpinned = {m.name: fields for m in models if (fields := unpinned_artifacts(m))}
    return {"allow_unpinned": True, "unpinned_artifacts": unpinned} if unpinned else {}


def build_manifest(
    run_id: str, plan: Plan, models: list[ModelEntry], targets: list[TargetProfile], extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "git_commit": git_commit(),
        "host": host_info(),
        "seed": plan.seed,
        "runtime_versions": available_runtimes(),
        "plan": plan.model_dump(exclude={"scheduler"} if plan.scheduler is None else None),
        "models": [model_record(m) for m in models],
        "targets": [
            {"name": t.name, "class": t.target_class.value, "sha256": t.sha256(), "link": t.link.url,
             "source_file": t.source_file}
            for t in targets
        ],
        "corpus": None,
        **unpinned_record(models),
        **extra,
    }
