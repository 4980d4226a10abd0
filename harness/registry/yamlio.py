"""Load YAML files and validate them into pydantic records with errors that name file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.core.errors import ConfigError, read_utf8

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, a syntax error or a non-mapping is a ConfigError, bytes that are
    not UTF-8 a DataError naming the line and byte offset."""
    try:
        text = read_utf8(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a YAML mapping of fields at the top level, got {type(data).__name__}"
        )
    return data


def validate(model: type[M], data: dict[str, Any], path: Path | str) -> M:
    """Validate ``data`` into ``model``; every problem is reported with its field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "<top level>"
            lines.append(f"  field '{field}': {err['msg']}")
        raise ConfigError(f"{path}: invalid {model.__name__}:\n" + "\n".join(lines)) from None


def load(model: type[M], path: Path, **extra: Any) -> M:
    """Read and validate one YAML file; ``extra`` fields are added before validation."""
    data = read_yaml(path)
    data.update(extra)
    return validate(model, data, path)
