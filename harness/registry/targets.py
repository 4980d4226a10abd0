"""Device profiles: the four target classes and concrete boards, each number with its source.

A board names its class; budgets it does not override come from the class profile. Profiles
live in ``targets/*.yaml`` and are validated once, at load, into :class:`TargetProfile`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.core.errors import ConfigError, HarnessError
from harness.registry.resources import Link, MonitorSpec
from harness.registry.yamlio import read_yaml, validate

CORES = (
    "cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m85", "xtensa-lx7",
    "cortex-a53", "cortex-a72", "cortex-a76", "cortex-a78", "cortex-x",
)
ACCELERATORS = ("mvp",)

STACKS = (
    "tflm-reference",
    "tflm-cmsis-nn",
    "x-cube-ai",
    "esp-nn",
    "litert-xnnpack",
)


class TargetClass(str, Enum):
    phone = "phone"
    mcu = "mcu"
    embedded_camera = "embedded_camera"
    wearable = "wearable"


class ProfileKind(str, Enum):
    cls = "class"
    board = "board"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Budgets(_Strict):
    latency_ms: float = Field(gt=0, le=3_600_000, description="Latency requirement per inference (at most an hour)")
    power_mw: float = Field(gt=0, le=1e6, description="Power budget of the device as deployed (at most 1 kW)")


class PowerSpec(_Strict):
    supply_v: float = Field(gt=0, le=60)
    active_mw: float = Field(gt=0, le=1e6, description="Average power while inferring with the default stack")
    idle_mw: float = Field(ge=0, le=1e6, description="Power between inferences (sleep or idle loop)")
    active_mw_by_stack: dict[str, Annotated[float, Field(gt=0, le=1e6)]] = Field(default_factory=dict)

    def active_for(self, stack: str) -> float:
        return self.active_mw_by_stack.get(stack, self.active_mw)


class TargetProfile(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: ProfileKind
    target_class: TargetClass = Field(alias="class")
    description: str
    core: str
    accelerator: str | None = Field(default=None, description="on-chip NN accelerator the stack uses, if any")
    clock_mhz: float = Field(gt=0, le=10_000, description="at most 10 GHz")
    sram_kb: float = Field(gt=0, le=2**32, description="at most 4 TiB")
    flash_kb: float = Field(gt=0, le=2**34, description="at most 16 TiB")
    stacks: list[str] = Field(min_length=1)
    default_stack: str
    threads: int = Field(default=1, ge=1, le=256)
    power: PowerSpec
    budgets: Budgets
    battery_mwh: float | None = Field(default=None, gt=0, le=1e9)
    link: Link
    power_monitor: MonitorSpec | None = None
    sources: dict[str, str] = Field(min_length=1)
    source_file: str = ""

    @field_validator("core")
    @classmethod
    def _known_core(cls, core: str) -> str:
        if core not in CORES:
            raise ValueError(f"unknown core '{core}'; valid: {', '.join(CORES)}")
        return core

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, accel: str | None) -> str | None:
        if accel is not None and accel not in ACCELERATORS:
            raise ValueError(f"unknown accelerator '{accel}'; valid: {', '.join(ACCELERATORS)}")
        return accel

    @field_validator("stacks")
    @classmethod
    def _known_stacks(cls, stacks: list[str]) -> list[str]:
        unknown = [s for s in stacks if s not in STACKS]
        if unknown:
            raise ValueError(f"unknown stack(s) {unknown}; valid: {', '.join(STACKS)}")
        return stacks

    @model_validator(mode="after")
    def _check(self) -> TargetProfile:
        if self.default_stack not in self.stacks:
            raise ValueError(f"default_stack '{self.default_stack}' is not in stacks {self.stacks}")
        missing = [f for f in _numeric_fields(self) if f not in self.sources]
        if missing:
            raise ValueError(f"every number needs a source; add 'sources' entries for: {', '.join(missing)}")
        return self

    @property
    def sram_bytes(self) -> int:
        return int(self.sram_kb * 1024)

    @property
    def flash_bytes(self) -> int:
        return int(self.flash_kb * 1024)

    @property
    def is_simulated(self) -> bool:
        return self.link.is_simulated

    def sha256(self) -> str:
        """The profile's content: not where its file lies (source_file) nor where the device is reached (link)."""
        content = self.model_dump_json(by_alias=True, exclude={"source_file", "link"})
        return hashlib.sha256(content.encode()).hexdigest()


_SOURCED = ("clock_mhz", "sram_kb", "flash_kb", "battery_mwh", "power.supply_v", "power.active_mw",
            "power.idle_mw", "budgets.latency_ms", "budgets.power_mw")


def _numeric_fields(profile: TargetProfile) -> list[str]:
    present = []
    for dotted in _SOURCED:
        obj: Any = profile
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
        if obj is not None:
            present.append(dotted)
    present += [f"power.active_mw_by_stack.{s}" for s in profile.power.active_mw_by_stack]
    return present


class TargetRegistry:
    """All profiles in one or more directories, boards resolved against their class profile.

    Later directories add profiles (a user's boards may name a shipped class); a name defined twice is an
    error of that name. A broken profile does not break the others: it is reported, by its file, only when
    a command asks for that target (``get``), and ``broken`` lists every broken file for ``targets list``.
    """

    def __init__(self, directory: Path | Sequence[Path]) -> None:
        directories = [directory] if isinstance(directory, Path) else list(directory)
        self.directory = directories[0]
        self.directories = directories
        raw: dict[str, tuple[Path, dict[str, Any]]] = {}
        self._broken: dict[str, ConfigError] = {}  # target name (or file stem) -> why it cannot be used
        duplicated: dict[str, Path] = {}
        for folder in directories:
            if not folder.is_dir():
                raise ConfigError(f"{folder}: target profile directory not found")
            for path in sorted(folder.glob("*.yaml")):
                try:
                    data = read_yaml(path)
                except HarnessError as exc:
                    self._broken[path.stem] = _as_config_error(exc)
                    continue
                name = str(data.get("name", path.stem))
                if name in raw or name in duplicated:
                    first = raw.pop(name)[0] if name in raw else duplicated[name]
                    duplicated[name] = first
                    self._broken[name] = ConfigError(f"{path}: target '{name}' is already defined in {first}",
                                                     hint="each profile needs a name of its own")
                    continue
                raw[name] = (path, data)
        self._raw = raw
        self._profiles: dict[str, TargetProfile] = {}
        classes = {n: pd for n, pd in raw.items() if pd[1].get("kind") != ProfileKind.board.value}
        self._inherits_broken: dict[str, str] = {}  # board -> its broken class
        for name, (path, data) in [*classes.items(), *((n, pd) for n, pd in raw.items() if n not in classes)]:
            try:
                self._profiles[name] = _resolve(path, data, raw, self._broken)
            except ConfigError as exc:
                self._broken[name] = exc
                if data.get("class") in self._broken and name not in classes:
                    self._inherits_broken[name] = str(data["class"])
        self._profiles = {n: self._profiles[n] for n in raw if n in self._profiles}  # file order, as listed

    def names(self) -> list[str]:
        return list(self._profiles)

    def all(self) -> list[TargetProfile]:
        return list(self._profiles.values())

    @property
    def broken(self) -> dict[str, ConfigError]:
        """Targets (by name, or file stem when the file cannot be read) that failed validation, and why."""
        return dict(self._broken)

    def broken_class_of(self, name: str) -> str | None:
        """The broken class profile a board failed through, if that is why it is broken."""
        return self._inherits_broken.get(name)

    def get(self, name_or_path: str) -> TargetProfile:
        """A profile by name, or a profile file of the user's own (``--target path/to/board.yaml``)."""
        if name_or_path in self._profiles:
            return self._profiles[name_or_path]
        if name_or_path in self._broken:
            raise self._broken[name_or_path]
        path = Path(name_or_path).expanduser()
        if path.suffix.lower() in (".yaml", ".yml"):
            return self._from_file(path)
        broken = f"; broken profiles: {', '.join(sorted(self._broken))}" if self._broken else ""
        raise ConfigError(
            f"unknown target '{name_or_path}'",
            hint=f"known targets: {', '.join(sorted(self._profiles))} (see 'harness targets list'), "
            "or a path to a profile .yaml of your own (same fields as targets/*.yaml; see docs/targets.md)" + broken,
        )

    def _from_file(self, path: Path) -> TargetProfile:
        if not path.is_file():
            raise ConfigError(f"{path}: target profile file not found")
        data = read_yaml(path)
        name = str(data.get("name", path.stem))
        known = self._raw.get(name)
        if known is not None and known[0].resolve() != path.resolve():
            raise ConfigError(f"{path}: target '{name}' is already defined in {known[0]}",
                              hint="give the profile its own 'name'")
        profile = _resolve(path, data, {**self._raw, name: (path, data)}, self._broken)
        self._profiles[name] = profile
        return profile


def _as_config_error(exc: HarnessError) -> ConfigError:
    return exc if isinstance(exc, ConfigError) else ConfigError(exc.message, hint=exc.hint)


def _resolve(path: Path, data: dict[str, Any], raw: dict[str, tuple[Path, dict[str, Any]]],
             broken: dict[str, ConfigError]) -> TargetProfile:
    """Fill a board's missing budgets and battery (with sources) from its class profile; validate.

    A class profile is validated before its boards, so a bad inherited number is blamed on the class file.
    """
    merged = dict(data)
    merged.setdefault("name", path.stem)
    merged.setdefault("link", {"url": f"sim://{merged['name']}"})
    merged["source_file"] = str(path)
    if merged.get("kind") == ProfileKind.board.value:
        cls_name = merged.get("class")
        if cls_name in broken:
            raise ConfigError(
                f"{path}: field 'class': its class profile '{cls_name}' is invalid, so this board cannot "
                f"inherit from it:\n{broken[cls_name].message}",
                hint=f"fix the class profile first{'; ' + broken[cls_name].hint if broken[cls_name].hint else ''}",
            )
        if not isinstance(cls_name, str) or raw.get(cls_name, (path, {}))[1].get("kind") != ProfileKind.cls.value:
            raise ConfigError(
                f"{path}: field 'class': no class profile named '{cls_name}'",
                hint=f"valid: {', '.join(c.value for c in TargetClass)}",
            )
        cls_path, cls_data = raw[cls_name]
        budgets = dict(_mapping(cls_data.get("budgets"), cls_path, "budgets"))
        budgets.update(_mapping(merged.get("budgets"), path, "budgets"))
        merged["budgets"] = budgets
        inherited = ["budgets."]
        if "battery_mwh" not in merged and "battery_mwh" in cls_data:
            merged["battery_mwh"] = cls_data["battery_mwh"]
            inherited.append("battery_mwh")
        sources = {k: f"{v} (inherited from {cls_path.name})"
                   for k, v in _mapping(cls_data.get("sources"), cls_path, "sources").items()
                   if any(str(k).startswith(prefix) for prefix in inherited)}
        sources.update(_mapping(merged.get("sources"), path, "sources"))
        merged["sources"] = sources
    return validate(TargetProfile, merged, path)


def _mapping(value: Any, path: Path, field: str) -> dict[str, Any]:
    """A sub-mapping of a profile (absent: empty); anything else is a ConfigError naming the field."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: field '{field}': expected a mapping of names to values, got "
                          f"{type(value).__name__}")
    return value
