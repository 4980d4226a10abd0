"""A plan: which models run on which targets, how they are measured, and what is reported."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.registry.yamlio import load

MAX_RUNS = 1_000_000        # timed inferences per window: beyond this a window would take days on an MCU
MAX_WARMUP = 100_000
MAX_SEED = 2**63 - 1        # seeds are non-negative (numpy SeedSequence) and fit a JSON integer
MAX_THREADS = 256
MAX_WORKERS = 1024
MAX_BOOT = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Measure(_Strict):
    warmup: int = Field(default=20, ge=0, le=MAX_WARMUP, description="untimed inferences before each window")
    runs: int = Field(default=200, ge=1, le=MAX_RUNS, description="timed inferences per window")


class RuntimeChoice(_Strict):
    xnnpack: bool = Field(default=False, description="LiteRT's XNNPACK delegate (off = reference kernels)")
    threads: int = Field(default=1, ge=1, le=MAX_THREADS)


class Reporting(_Strict):
    grid_kg_per_kwh: float = Field(default=0.4, gt=0, description="grid carbon intensity for CO2e")
    default_rate_hz: float = Field(default=1.0, gt=0, description="inference rate of non-streaming models")


class Evaluation(_Strict):
    workers: int = Field(default=0, ge=0, le=MAX_WORKERS, description="worker processes; 0 = one per CPU core")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    min_clips: int = Field(default=30, ge=1, description="fewer clips in a group: insufficient evidence")
    min_speakers: int = Field(default=5, ge=1, description="fewer speakers in a group: insufficient evidence")
    n_boot: int = Field(default=1000, ge=2, le=MAX_BOOT,
                        description="speaker-bootstrap replicates for disparity intervals")


class Region(_Strict):
    grid_kg_per_kwh: float = Field(gt=0, description="grid carbon intensity in this region")
    price_per_kwh: float | None = Field(default=None, ge=0, description="unset: the fleet's price")


class Fleet(_Strict):
    devices: int = Field(default=1000, ge=1, le=10**12, description="devices running each model, for carbon.csv")
    inference_rate_hz: float | None = Field(default=None, gt=0, description="per device; unset: each model's own")
    price_per_kwh: float | None = Field(default=None, ge=0, description="electricity price; unset: no cost column")
    currency: str = "USD"
    regions: dict[str, Region] = Field(default_factory=dict, description="region -> grid intensity (and price)")


class Plan(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    models: list[str] = Field(min_length=1)
    targets: list[str] = Field(default_factory=list, description="empty: evaluation only")
    stacks: dict[str, str] = Field(default_factory=dict, description="target -> stack overriding its default")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    measure: Measure = Measure()
    runtime: RuntimeChoice = RuntimeChoice()
    reporting: Reporting = Reporting()
    input_shapes: dict[str, list[int]] = Field(
        default_factory=dict, description="model -> the input shape to run a model whose input has dynamic "
                                          "dimensions with (--input-shape)")
    corpus: str | None = Field(default=None, description="a corpus directory, or builtin:<tiny|demo|full>")
    evaluation: Evaluation = Evaluation()
    fleet: Fleet = Fleet()
    scheduler: str | None = Field(default=None, description="a Dask scheduler (tcp://HOST:8786): shard the corpus "
                                  "over its workers and measure attached devices on their hosts; unset: this machine")
    policy: str | None = Field(default=None, description="sign-off policy YAML, relative to the plan; "
                               "unset: plans/policy-default.yaml")
    paired_baseline: str | None = Field(
        default=None, description="a model of the plan (e.g. the float32 original) every other evaluated model is "
                                  "compared with clip by clip (model_comparison.csv); unset: no paired comparison")
    source_file: str = ""

    @field_validator("models", "targets")
    @classmethod
    def _each_once(cls, names: list[str]) -> list[str]:
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)} (each pair would be measured twice)")
        return names

    @model_validator(mode="after")
    def _baseline_is_a_model(self) -> Plan:
        if self.paired_baseline is not None and self.paired_baseline not in self.models:
            raise ValueError(f"paired_baseline '{self.paired_baseline}' is not one of the plan's models "
                             f"({', '.join(self.models)})")
        return self

    def policy_path(self) -> Path | None:
        """The policy file, resolved against the plan's folder (None: the default policy)."""
        if self.policy is None:
            return None
        path = Path(self.policy).expanduser()
        if not path.is_absolute() and self.source_file:
            path = Path(self.source_file).parent / path
        return path


def load_plan(path: Path) -> Plan:
    return load(Plan, path, source_file=str(path))
