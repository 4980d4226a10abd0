"""Model registry: YAML entries naming a sha256-pinned artifact and how to drive it.

An artifact is found inside an installed Python package (``package`` + ``path``), next to
the YAML file (``file``), or produced by one of the project's deterministic model builders
(``builder``). Its hash is verified before any use.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.core.errors import ConfigError, HarnessError, ModelError
from harness.core.hashing import sha256_file
from harness.registry.yamlio import read_yaml, validate

FORMATS = {".tflite": "tflite", ".onnx": "onnx"}


class Task(str, Enum):
    wake_word = "wake_word"
    kws = "kws"
    generic = "generic"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TensorSpec(_Strict):
    shape: list[int]
    dtype: str


class Artifact(_Strict):
    """Where a model file comes from, and the hash it must have."""

    package: str | None = None
    path: str | None = None
    file: str | None = None
    builder: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_origin(self) -> Artifact:
        origins = [self.package is not None, self.file is not None, self.builder is not None]
        if sum(origins) != 1:
            raise ValueError("give exactly one of 'package' (with 'path'), 'file' or 'builder'")
        if self.package is not None and not self.path:
            raise ValueError("'package' needs 'path', the file's path inside the package")
        return self

    def locate(self, base_dir: Path) -> Path:
        """Return the file's path (building it if it comes from a builder); no hash check."""
        if self.file is not None:
            p = Path(self.file).expanduser()
            return p if p.is_absolute() else base_dir / p
        if self.package is not None:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                raise ModelError(
                    f"package '{self.package}' is not installed",
                    hint=f"pip install {self.package.replace('_', '-')} (or 'make install')",
                )
            return Path(next(iter(spec.submodule_search_locations))) / str(self.path)
        from harness.modelgen import build_artifact  # deferred: builders import heavy libraries

        return build_artifact(str(self.builder))

    def resolve(self, base_dir: Path, entry: str) -> Path:
        """Locate the file and verify it exists and matches its pinned sha256."""
        path = self.locate(base_dir)
        if not path.is_file():
            raise ModelError(f"model '{entry}': artifact not found at {path}")
        if self.sha256 is not None:
            actual = sha256_file(path)
            if actual != self.sha256:
                raise ModelError(
                    f"model '{entry}': sha256 mismatch for {path}\n"
                    f"  expected {self.sha256}\n  actual   {actual}",
                    hint="the file changed since it was registered; update sha256 only if that is intended",
                )
        return path


class Stage(_Strict):
    """A model that runs before the main one in every inference step (e.g. a learned front end)."""

    name: str
    artifact: Artifact
    input: TensorSpec | None = None


class Decision(_Strict):
    cutoff: float = Field(ge=0, le=1)
    window: int = Field(default=1, ge=1, description="sliding mean over this many probabilities")
    refractory_s: float = Field(default=1.0, ge=0)


class ModelEntry(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    task: Task
    family: str = "generic"
    format: Literal["tflite", "onnx"]
    artifact: Artifact
    stages: list[Stage] = Field(default_factory=list)
    frontend: str = "none"
    streaming: bool = False
    input: TensorSpec | None = None
    output: TensorSpec | None = None
    step_ms: float | None = Field(default=None, gt=0, description="audio consumed per inference step")
    decision: Decision | None = None
    wake_phrase: str | None = None
    labels: list[str] | None = None
    trained_languages: list[str] = Field(default_factory=list)
    source: str
    license: str
    description: str = ""
    evaluate: bool = Field(default=True, description="false for reference workloads whose weights are untrained")
    source_file: str = ""

    @cached_property
    def base_dir(self) -> Path:
        return Path(self.source_file).parent if self.source_file else Path.cwd()

    def artifact_path(self) -> Path:
        """The verified main artifact."""
        return self.artifact.resolve(self.base_dir, self.name)

    def stage_paths(self) -> list[Path]:
        return [s.artifact.resolve(self.base_dir, f"{self.name}/{s.name}") for s in self.stages]

    def inference_rate_hz(self, default: float = 1.0) -> float:
        """Inferences per second when deployed: one per audio step for streaming models."""
        return self.inference_rate(default)[0]

    def inference_rate(self, default: float = 1.0) -> tuple[float, str]:
        """Inferences per second when deployed, and where that rate comes from (an assumption says so)."""
        if self.step_ms:
            return 1000.0 / self.step_ms, f"model step {self.step_ms:g} ms"
        return default, (f"assumed {default:g}/s (no step_ms in the model's entry; set it there, or --rate-hz / "
                         "the plan's reporting.default_rate_hz)")


def entry_from_yaml(path: Path) -> ModelEntry:
    """One registry entry from its YAML file; a relative ``artifact.file`` is relative to that file."""
    data: dict[str, Any] = read_yaml(path)
    data["source_file"] = str(path.resolve())
    return validate(ModelEntry, data, path)


def name_from_stem(stem: str) -> str:
    """A valid entry name from a file name: runs of spaces, brackets and the like become one '-'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-_.")
    return name or "model"


def entry_from_file(path: Path) -> ModelEntry:
    """An ad-hoc registry entry for a user's own model file (``--model path/to/model.tflite``)."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelError(
            f"{path}: unsupported model format '{path.suffix}'", hint=f"valid: {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    return ModelEntry(
        name=name_from_stem(path.stem),
        task=Task.generic,
        format=fmt,  # type: ignore[arg-type]
        artifact=Artifact(file=str(path.resolve()), sha256=sha256_file(path)),
        source=f"user file {path}",
        license="unknown",
        source_file=str(path.resolve()),
    )


class ModelRegistry:
    """All entries in ``models/*.yaml`` (and the user's model folders); each file holds one entry.

    Every artifact an entry names must be pinned by ``sha256`` unless ``allow_unpinned`` is set (a run
    records that it was); a user's entry file may not take the name of a registered model. A broken
    entry is reported, by its file, only when a command asks for it; ``broken`` lists them all.
    """

    def __init__(self, directory: Path | Sequence[Path], *, allow_unpinned: bool = False) -> None:
        directories = [directory] if isinstance(directory, Path) else list(directory)
        self.directory = directories[0]
        self.allow_unpinned = allow_unpinned
        self._entries: dict[str, ModelEntry] = {}
        self._broken: dict[str, HarnessError] = {}  # entry name (file stem when unreadable) -> why
        for folder in directories:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: model registry directory not found")
            for path in sorted(folder.glob("*.yaml")):
                try:
                    entry = entry_from_yaml(path)
                except HarnessError as exc:
                    self._broken[path.stem] = exc
                    continue
                if entry.name in self._entries or entry.name in self._broken:
                    first = self._entries.pop(entry.name).source_file if entry.name in self._entries \
                        else "another file"
                    self._broken[entry.name] = ConfigError(f"{path}: model '{entry.name}' is already defined in "
                                                           f"{first}", hint="each entry needs a name of its own")
                    continue
                self._entries[entry.name] = entry

    @property
    def broken(self) -> dict[str, HarnessError]:
        """Registered entries (by name, or file stem when unreadable) that failed validation, and why."""
        return dict(self._broken)

    def names(self) -> list[str]:
        return list(self._entries)

    def known_artifact(self, adhoc: ModelEntry) -> ModelEntry:
        """A user's file that is a registered model's artifact gets that entry's description under its own name."""
        sha = adhoc.artifact.sha256
        known = next((e for e in self._entries.values() if e.artifact.sha256 == sha and not e.stages), None)
        if known is None:
            return adhoc
        return known.model_copy(update={"name": adhoc.name, "artifact": adhoc.artifact,
                                        "source": f"{adhoc.source} (byte for byte the artifact of registered "
                                                  f"model '{known.name}', whose entry describes it)",
                                        "source_file": adhoc.source_file})

    def all(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def get(self, name_or_path: str) -> ModelEntry:
        """A registered entry by name, or an ad-hoc entry for a path to a model file (which keeps the step,
        decision and task of a registered entry whose artifact it is, byte for byte)."""
        if name_or_path in self._entries:
            return self._pinned(self._entries[name_or_path])
        if name_or_path in self._broken:
            raise self._broken[name_or_path]
        path = Path(name_or_path)
        if path.suffix.lower() in FORMATS:
            return self.known_artifact(entry_from_file(path))
        if path.suffix.lower() in (".yaml", ".yml"):
            if not path.is_file():
                raise ConfigError(f"{path}: model entry file not found")
            entry = entry_from_yaml(path)
            registered = self._entries.get(entry.name)
            if registered is not None and Path(registered.source_file) != path.resolve():
                raise ConfigError(
                    f"{path}: field 'name': '{entry.name}' is already a registered model ({registered.source_file})",
                    hint="give your entry a name of its own; registered names: "
                    f"{', '.join(sorted(self._entries))}",
                )
            return self._pinned(entry)
        raise ConfigError(
            f"unknown model '{name_or_path}'",
            hint=f"known models: {', '.join(sorted(self._entries))}, a path to a .tflite/.onnx file, "
            "or a path to an entry .yaml of your own (same fields as models/*.yaml; see docs/models.md)",
        )

    def _pinned(self, entry: ModelEntry) -> ModelEntry:
        """The entry, if every artifact it names is pinned by sha256 (or unpinned ones are allowed)."""
        unpinned = unpinned_artifacts(entry)
        if unpinned and not self.allow_unpinned:
            raise ConfigError(
                f"{entry.source_file or entry.name}: field '{unpinned[0]}.sha256' is missing: model "
                f"'{entry.name}' is not pinned to a file hash, so a changed file would go unnoticed",
                hint="add 'sha256: <64 hex digits>' (sha256sum FILE), or pass --allow-unpinned to run it "
                "anyway (the run manifest records that)",
            )
        return entry


def unpinned_artifacts(entry: ModelEntry) -> list[str]:
    """The fields (``artifact``, ``stages.N.artifact``) of an entry whose artifact has no sha256."""
    fields = ["artifact"] if entry.artifact.sha256 is None else []
    return fields + [f"stages.{i}.artifact" for i, s in enumerate(entry.stages) if s.artifact.sha256 is None]
