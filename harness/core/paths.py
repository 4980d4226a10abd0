"""Where the harness finds its shipped data and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout holding ``targets/``, ``models/`` and ``plans/`` (override: HARNESS_HOME)."""
    env = os.environ.get("HARNESS_HOME")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    if (here / "targets").is_dir():
        return here
    return Path.cwd()


def targets_dir() -> Path:
    return project_root() / "targets"


def models_dir() -> Path:
    return project_root() / "models"


def plans_dir() -> Path:
    return project_root() / "plans"


def results_dir() -> Path:
    return Path(os.environ.get("HARNESS_RESULTS", project_root() / "results"))


def cache_dir(kind: str) -> Path:
    """A cache folder for generated artifacts (override root: HARNESS_CACHE)."""
    root = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "edge-harness"))
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
