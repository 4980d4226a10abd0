"""The sign-off policy: which gates a run must pass and at what thresholds, loaded from YAML with
errors that name the file, the line and the field."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.core.errors import ConfigError
from harness.core.paths import plans_dir
from harness.registry.yamlio import read_yaml

DEFAULT_POLICY = "policy-default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """Efficiency thresholds for a target class or a board; unset fields keep the run's recorded budget."""

    latency_ms: float | None = Field(default=None, gt=0)
    power_mw: float | None = Field(default=None, gt=0)
    max_energy_mj: float | None = Field(default=None, gt=0, description="energy per inference; unset: not gated")
    sram_bytes: int | None = Field(default=None, gt=0)
    flash_bytes: int | None = Field(default=None, gt=0)
    evidence: Literal["any", "measured"] | None = Field(
        default=None, description="measured: a gate decided on a cost-model prediction is INSUFFICIENT_EVIDENCE")


class Efficiency(_Strict):
    latency_percentile: Literal[50, 90, 99] = 90
    targets: dict[str, Budget] = Field(default_factory=dict, description="target class or board -> budget")

    def budget_for(self, target: str, target_class: str) -> Budget:
        """The board's entry over its class's entry, field by field."""
        merged: dict[str, Any] = {}
        for key in (target_class, target):
            if key in self.targets:
                merged.update(self.targets[key].model_dump(exclude_none=True))
        return Budget(**merged)


class Accuracy(_Strict):
    """Whole-corpus accuracy thresholds of one model (unset: not gated)."""

    max_frr: float | None = Field(default=None, ge=0, le=1)
    max_fa_per_hour: float | None = Field(default=None, ge=0)
    min_accuracy: float | None = Field(default=None, ge=0, le=1)


class Fairness(_Strict):
    attributes: list[str] = Field(default_factory=lambda: ["accent_group", "accent", "noise", "gender"])
    max_error_ratio: float = Field(default=1.25, gt=0)
    max_difference: float = Field(default=0.05, ge=0, le=1)
    min_four_fifths: float = Field(default=0.8, gt=0, le=1)
    max_fa_per_hour_difference: float = Field(default=0.5, ge=0)
    min_clips: int = Field(default=30, ge=1)
    min_speakers: int = Field(default=5, ge=1)


class Quantization(_Strict):
    """How much a variant (e.g. the int8 deployment) may worsen any group against its paired baseline."""

    max_group_drop_points: float | None = Field(
        default=None, gt=0, le=100, description="percentage points; decided on the paired interval; unset: not gated")
    metrics: list[Literal["accuracy", "detection_rate"]] = Field(
        default_factory=lambda: ["accuracy", "detection_rate"], description="rates whose drop is gated")
    attributes: list[str] | None = Field(
        default=None, description="group attributes gated besides overall; unset: the fairness attributes")


class Evidence(_Strict):
    power: float = Field(default=0.8, gt=0, lt=1, description="power of the extra-samples estimate")


class Publication(_Strict):
    min_group_size: int = Field(default=30, ge=1, description="smaller groups are suppressed from public cards")


class Waiver(_Strict):
    """An accepted exception: who, why, until when. It never hides the measured value."""

    gate: str = Field(min_length=1, description="a gate id, or a glob over gate ids such as 'latency_p90/*/mcu'")
    owner: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date


class RiskAcceptance(_Strict):
    owner: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date


class ChecklistItem(_Strict):
    """One pre-deployment checklist item, recorded as a gate."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str = Field(min_length=1)
    priority: Literal["critical", "high"]
    requires_files: list[str] = Field(default_factory=list, description="run files that are its evidence")
    evidence: str | None = Field(default=None, description="a document (path or URL) that records it")
    risk_acceptance: RiskAcceptance | None = None

    @model_validator(mode="after")
    def _critical_is_never_accepted(self) -> ChecklistItem:
        if self.priority == "critical" and self.risk_acceptance is not None:
            raise ValueError("a critical-path item blocks deployment and cannot be risk-accepted")
        return self


class Policy(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    efficiency: Efficiency = Efficiency()
    accuracy: Accuracy = Accuracy()
    models: dict[str, Accuracy] = Field(default_factory=dict, description="model -> thresholds over the defaults")
    fairness: Fairness = Fairness()
    quantization: Quantization = Quantization()
    evidence: Evidence = Evidence()
    publication: Publication = Publication()
    checklist: list[ChecklistItem] = Field(default_factory=list)
    waivers: list[Waiver] = Field(default_factory=list)
    source_file: str = ""

    def accuracy_for(self, model: str) -> Accuracy:
        merged = self.accuracy.model_dump(exclude_none=True)
        if model in self.models:
            merged.update(self.models[model].model_dump(exclude_none=True))
        return Accuracy(**merged)


def default_policy_path() -> Path:
    return plans_dir() / DEFAULT_POLICY


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file (default plans/policy-default.yaml)."""
    path = path or default_policy_path()
    data = read_yaml(path)
    data["source_file"] = str(path)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = list(err["loc"])
            field = ".".join(str(p) for p in loc) or "<top level>"
            line = _line_of(path, loc)
            where = f"line {line}: " if line else ""
            lines.append(f"  {where}field '{field}': {err['msg']}")
        raise ConfigError(f"{path}: invalid sign-off policy:\n" + "\n".join(lines),
                          hint=f"see {default_policy_path()} for every field with its default") from None


def _line_of(path: Path, loc: list[Any]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (the field itself, or its parent if absent)."""
    node = yaml.compose(path.read_text(encoding="utf-8"))
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line
