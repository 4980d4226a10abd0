"""Where the harness finds its data (shipped, or the user's own folders) and where it writes.

The target profiles, model entries, plans and the default policy ship inside the package
(``harness/data/``); the checkout's top-level ``targets/``, ``models/`` and ``plans/`` point there.
A user adds folders of their own in a ``[tool.edge-harness]`` table of the nearest pyproject.toml
above the working directory (or with ``--targets-dir`` on the command line).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SHIPPED = Path(__file__).resolve().parents[1] / "data"
CONFIG_TABLE = "edge-harness"
CONFIG_KEYS = ("targets", "models", "plans")

def data_home() -> Path:
    """The folder holding ``targets/``, ``models/`` and ``plans/``: $HARNESS_HOME, else the shipped data."""
    env = os.environ.get("HARNESS_HOME")
    return Path(env).expanduser() if env else SHIPPED


def checkout_root() -> Path | None:
    """The source checkout the package runs from (an editable install), or None for an installed wheel."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() and (here / "harness").is_dir() else None


def project_root() -> Path:
    """The checkout when running from one, else the working directory (git commit, docs/ for calibrate)."""
    return checkout_root() or Path.cwd()


def targets_dir() -> Path:
    return data_home() / "targets"


def models_dir() -> Path:
    return data_home() / "models"


def plans_dir() -> Path:
    return data_home() / "plans"


def target_dirs(extra: tuple[Path, ...] | list[Path] = ()) -> list[Path]:
    """The shipped (or $HARNESS_HOME) profiles, then the project's own folders, then ``extra`` (--targets-dir)."""
    return [targets_dir(), *user_dirs("targets"), *(Path(p) for p in extra)]


def model_dirs() -> list[Path]:
    return [models_dir(), *user_dirs("models")]


def plan_dirs() -> list[Path]:
    return [plans_dir(), *user_dirs("plans")]


def results_dir() -> Path:
    """$HARNESS_RESULTS, else ``results/`` under the working directory."""
    env = os.environ.get("HARNESS_RESULTS")
    return Path(env).expanduser() if env else Path.cwd() / "results"


def cache_dir(kind: str) -> Path:
    """A cache folder for generated artifacts (override root: HARNESS_CACHE)."""
    root = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "edge-harness"))
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_dirs(kind: str) -> list[Path]:
    """The folders of ``kind`` named in the user's ``[tool.edge-harness]`` table, relative to its pyproject.toml."""
    found = project_config(Path.cwd())
    if found is None:
        return []
    path, table = found
    value = table.get(kind, [])
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ConfigError(f"{path}: field 'tool.{CONFIG_TABLE}.{kind}' must be a folder or a list of folders",
                          hint=f'e.g. {kind} = ["{kind}"] (relative to {path.parent})')
    folders = [(path.parent / e).expanduser() for e in entries]
    missing = [f for f in folders if not f.is_dir()]
    if missing:
        raise ConfigError(f"{path}: field 'tool.{CONFIG_TABLE}.{kind}': folder not found: {missing[0]}",
                          hint=f"create it or remove it from the [tool.{CONFIG_TABLE}] table")
    return folders


def project_config(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest pyproject.toml at or above ``start`` holding a ``[tool.edge-harness]`` table, and the table."""
    start = start.resolve()
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not readable as TOML: {exc}") from None
        table = data.get("tool", {}).get(CONFIG_TABLE)
        if table is None:
            continue
        unknown = sorted(set(table) - set(CONFIG_KEYS))
        if unknown:
            raise ConfigError(f"{path}: unknown field 'tool.{CONFIG_TABLE}.{unknown[0]}'",
                              hint=f"valid: {', '.join(CONFIG_KEYS)}")
        return path, table
    return None
