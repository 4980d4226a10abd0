"""Deterministic model builders: named recipes that write the same model bytes on every machine.

``build_artifact(name)`` builds a registered model once into the cache (``HARNESS_CACHE``/models)
and returns its path. A builder's ``revision`` is part of the file name: bump it whenever the
builder's output changes, so stale cached files are never reused.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.core.paths import cache_dir
from harness.core.registry import Registry


@dataclass(frozen=True)
class Builder:
    build: Callable[[], bytes]
    suffix: str  # ".tflite" or ".onnx"
    revision: int = 1

    def filename(self, name: str) -> str:
        return f"{name}.r{self.revision}{self.suffix}"


# each builder module registers its recipes when first needed
BUILDERS: Registry[Builder] = Registry("model builder", ("harness.modelgen.mlperf", "harness.modelgen.mlperf_sww",
                                                     "harness.modelgen.onnx_builder"))


def builder_names() -> list[str]:
    return BUILDERS.names()


def build_artifact(name: str) -> Path:
    """The path of the model built by builder ``name``, building it into the cache if needed."""
    builder = BUILDERS.get(name)
    directory = cache_dir("models")
    path = directory / builder.filename(name)
    if not path.is_file():
        _write_atomically(path, builder.build())
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; the cache is ordinary readable data
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
