"""Predict on-device latency, and an interval around it, from a model's static profile and a target.

    cycles = sum over MAC ops of  macs(op) * cpm[kind(op)] * dtype_factor[type(op) on this core and stack]
                                  * core_factor * stack_factor (if the stack optimises that type)
                                  * accel_factor (if the accelerator runs that type)
           + sum over other ops of output_elements(op) * elementwise_cycles * core, stack and accel factors
           + ops * dispatch_cycles[stack]
    latency = cycles / (clock * parallel_speedup(threads))

``cpm`` (cycles per int8 MAC by op kind), ``dispatch_cycles`` and the core, stack and accelerator
factors are fitted to published MLPerf Tiny results (see ``calibration.py`` and docs/calibration.md);
factors without a published row are documented estimates with a prior range. The interval multiplies
the leave-one-out error band of the fit by the estimates' ranges: each estimate moved to either end of
its range changes the latency by a log-ratio, and these combine in quadrature (independent errors). A model whose format
or types the stack cannot run is flagged: its prediction says why it is not deployable, and reports show
no figures for it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from harness.analysis.profile import ModelProfile
from harness.core.errors import ConfigError
from harness.core.units import Duration
from harness.registry.targets import TargetProfile

OP_KINDS: dict[str, str] = {
    "CONV_2D": "conv",
    "TRANSPOSE_CONV": "conv",
    "CONV_3D": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "fc",
    "BATCH_MATMUL": "fc",
}

# Ops that only allocate or alias memory: no per-element work on a device.
_FREE_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "VAR_HANDLE", "CALL_ONCE"})


@dataclass(frozen=True)
class Work:
    """The cost-relevant totals of a profile: MACs by (op kind, compute type), elements of MAC-free ops, ops."""

    typed_macs: dict[tuple[str, str], float]
    elements: float
    n_ops: int

    @classmethod
    def of(cls, profile: ModelProfile) -> Work:
        typed: dict[tuple[str, str], float] = {}
        elements = 0.0
        n_ops = 0
        for op in profile.ops:
            if op.op_type in _FREE_OPS or op.fused:
                continue
            n_ops += 1
            kind = OP_KINDS.get(op.op_type)
            if kind is None:
                elements += op.output_elements
            elif op.macs:
                key = (kind, op.dtype or "int8")
                typed[key] = typed.get(key, 0.0) + op.macs
        return cls(typed, elements, n_ops)

    @property
    def macs(self) -> dict[str, float]:
        """MACs by op kind, whatever their type."""
        out = dict.fromkeys(("conv", "depthwise", "fc"), 0.0)
        for (kind, _), m in self.typed_macs.items():
            out[kind] += m
        return out

    @property
    def conv_macs(self) -> float:
        """Regular-convolution and fully connected MACs (they share one calibrated cycles-per-MAC)."""
        return self.macs["conv"] + self.macs["fc"]

    @property
    def dw_macs(self) -> float:
        return self.macs["depthwise"]

    @property
    def dtypes(self) -> set[str]:
        return {dtype for _, dtype in self.typed_macs}


@dataclass(frozen=True)
class Parameter:
    """A cost-model number, where it comes from, and for an estimate the range it could plausibly take."""

    value: float
    source: str
    fitted: bool = False
    range: tuple[float, float] | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Parameter:
        low_high = data.get("range")
        return cls(float(data["value"]), data["source"], bool(data.get("fitted", False)),
                   (float(low_high[0]), float(low_high[1])) if low_high else None)


@dataclass(frozen=True)
class StackSupport:
    """What a software stack can run: model formats, and the compute types its optimised kernels cover."""

    formats: tuple[str, ...]
    optimized_dtypes: tuple[str, ...]
    float_kernels: str  # "optimized", or "reference" when float ops fall back to plain C kernels
    source: str


@dataclass(frozen=True)
class AcceleratorSupport:
    """The compute types an accelerator runs, and whether other types fall back to the CPU."""

    dtypes: tuple[str, ...]
    cpu_fallback: bool
    source: str


@dataclass(frozen=True)
class ErrorBand:
    """published / predicted latency: the range leave-one-out cross-validation of the fit found."""

    low: float
    high: float
    source: str


@dataclass(frozen=True)
class CostModel:
    cycles_per_mac: dict[str, Parameter]
    elementwise_cycles: Parameter
    dispatch_cycles: dict[str, Parameter]
    core_factor: dict[str, Parameter]
    stack_factor: dict[str, Parameter]
    accelerator_factor: dict[str, Parameter]
    thread_efficiency: Parameter
    jitter_sigma: dict[str, Parameter]
    dtype_factor: dict[str, Parameter]
    stacks: dict[str, StackSupport]
    accelerators: dict[str, AcceleratorSupport]
    cores_without_fpu: tuple[str, ...]
    error_band: ErrorBand
    calibrated_on: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostModel:
        def params(d: dict[str, Any]) -> dict[str, Parameter]:
            return {k: Parameter.parse(v) for k, v in d.items()}

        support = data["support"]
        band = data["error_band"]
        return cls(
            cycles_per_mac=params(data["cycles_per_mac"]),
            elementwise_cycles=Parameter.parse(data["elementwise_cycles"]),
            dispatch_cycles=params(data["dispatch_cycles"]),
            core_factor=params(data["core_factor"]),
            stack_factor=params(data["stack_factor"]),
            accelerator_factor=params(data["accelerator_factor"]),
            thread_efficiency=Parameter.parse(data["thread_efficiency"]),
            jitter_sigma=params(data["jitter_sigma"]),
            dtype_factor=params(data["dtype_factor"]),
            stacks={k: StackSupport(tuple(v["formats"]), tuple(v["optimized_dtypes"]), v["float_kernels"],
                                    v["source"]) for k, v in support["stacks"].items()},
            accelerators={k: AcceleratorSupport(tuple(v["dtypes"]), bool(v["cpu_fallback"]), v["source"])
                          for k, v in support["accelerators"].items()},
            cores_without_fpu=tuple(support["cores_without_fpu"]["cores"]),
            error_band=ErrorBand(float(band["low"]), float(band["high"]), band["source"]),
            calibrated_on=list(data.get("calibrated_on", [])),
        )

    def _lookup(self, table: dict[str, Any], key: str, what: str) -> Any:
        try:
            return table[key]
        except KeyError:
            raise ConfigError(
                f"the cost model has no {what} for '{key}'", hint=f"valid: {', '.join(sorted(table))}"
            ) from None

    def dtype_key(self, dtype: str, core: str, stack: str) -> str:
        """The dtype_factor entry for MACs of ``dtype`` on ``core`` with ``stack``."""
        if dtype != "float32":
            return dtype
        if core in self.cores_without_fpu:
            return "float32-soft"
        return f"float32-{self._lookup(self.stacks, stack, 'stack support').float_kernels}"

    def not_deployable(self, profile: ModelProfile, target: TargetProfile, stack: str) -> str:
        """Why ``stack`` on ``target`` cannot run the model at all, or "" when it can."""
        support = self._lookup(self.stacks, stack, "stack support")
        formats = sorted(set(profile.format.split("+")) - set(support.formats))
        if formats:
            return (f"{' and '.join(formats)} model: the {stack} stack runs {', '.join(support.formats)} models only "
                    f"({support.source}); convert the model or pick a stack that runs it")
        if target.accelerator and stack != "tflm-reference":
            accel = self._lookup(self.accelerators, target.accelerator, "accelerator support")
            foreign = sorted(Work.of(profile).dtypes - set(accel.dtypes))
            if foreign and not accel.cpu_fallback:
                return (f"{', '.join(foreign)} MACs: the {target.accelerator} accelerator runs "
                        f"{', '.join(accel.dtypes)} only and has no CPU fallback ({accel.source}); quantize the model")
        return ""

    def predict(self, profile: ModelProfile, target: TargetProfile, stack: str | None = None) -> Prediction:
        stack = stack or target.default_stack
        if stack not in target.stacks:
            raise ConfigError(
                f"target '{target.name}' does not support stack '{stack}'",
                hint=f"valid for {target.name}: {', '.join(target.stacks)}",
            )
        jitter = self._lookup(self.jitter_sigma, target.target_class.value, "jitter").value
        work = Work.of(profile)
        equation = _Equation(self, work, target, stack)
        nominal = {k: p.value for k, p in equation.used.items()}
        point = equation.seconds(nominal)
        down = up = 0.0  # squared log-ratios of the estimates' effects, combined in quadrature
        for key, p in equation.used.items():
            if p.fitted or p.range is None:
                continue
            logs = [math.log(equation.seconds({**nominal, key: v}) / point) for v in p.range]
            down += min(0.0, *logs) ** 2
            up += max(0.0, *logs) ** 2
        band = self.error_band
        estimates = sorted(k for k, p in equation.used.items() if not p.fitted)
        fitted = sorted(k for k, p in equation.used.items() if p.fitted)
        return Prediction(
            latency=Duration(point),
            cycles=equation.cycles(nominal),
            stack=stack,
            jitter_sigma=jitter,
            estimated_parameters=estimates,
            calibrated_parameters=fitted,
            latency_low=Duration(point * math.exp(-math.sqrt(down)) * band.low),
            latency_high=Duration(point * math.exp(math.sqrt(up)) * band.high),
            not_deployable=self.not_deployable(profile, target, stack),
        )


class _Equation:
    """The latency equation of one (model, target, stack), as a function of the parameters it uses."""

    def __init__(self, model: CostModel, work: Work, target: TargetProfile, stack: str) -> None:
        self.work, self.target, self.stack = work, target, stack
        # Reference kernels are plain C: only optimised stacks drive an on-chip accelerator.
        self.accel = target.accelerator if target.accelerator and stack != "tflm-reference" else "none"
        support = model.stacks[stack]
        accel_types = model.accelerators[self.accel].dtypes if self.accel != "none" else ()
        lookup = model._lookup
        used: dict[str, Parameter] = {
            f"core_factor.{target.core}": lookup(model.core_factor, target.core, "core factor"),
            f"stack_factor.{stack}": lookup(model.stack_factor, stack, "stack factor"),
            f"accelerator_factor.{self.accel}": lookup(model.accelerator_factor, self.accel, "accelerator factor"),
            f"dispatch_cycles.{stack}": lookup(model.dispatch_cycles, stack, "dispatch cost"),
        }
        self.terms: list[tuple[float, str, str, bool, bool]] = []  # macs, cpm key, dtype key, stack?, accel?
        for (kind, dtype), macs in sorted(work.typed_macs.items()):
            dkey = model.dtype_key(dtype, target.core, stack)
            used[f"cycles_per_mac.{kind}"] = lookup(model.cycles_per_mac, kind, "cycles per MAC")
            used[f"dtype_factor.{dkey}"] = lookup(model.dtype_factor, dkey, "type factor")
            self.terms.append((macs, f"cycles_per_mac.{kind}", f"dtype_factor.{dkey}",
                               dtype in support.optimized_dtypes, dtype in accel_types))
        if work.elements:
            used["elementwise_cycles"] = model.elementwise_cycles
        if target.threads > 1:
            used["thread_efficiency"] = model.thread_efficiency
        self.used = used

    def cycles(self, v: dict[str, float]) -> float:
        core = v[f"core_factor.{self.target.core}"]
        stack = v[f"stack_factor.{self.stack}"]
        accel = v[f"accelerator_factor.{self.accel}"]
        total = sum(macs * v[cpm] * v[dkey] * core * (stack if optimized else 1.0) * (accel if accelerated else 1.0)
                    for macs, cpm, dkey, optimized, accelerated in self.terms)
        if self.work.elements:
            total += self.work.elements * v["elementwise_cycles"] * core * stack * accel
        return total + self.work.n_ops * v[f"dispatch_cycles.{self.stack}"]

    def seconds(self, v: dict[str, float]) -> float:
        speedup = 1.0 + (self.target.threads - 1) * v.get("thread_efficiency", 0.0)
        return self.cycles(v) / (self.target.clock_mhz * 1e6) / speedup


@dataclass(frozen=True)
class Prediction:
    """A predicted device latency with its interval. When ``not_deployable`` says why the stack cannot run the
    model, the figures are what the equation gives and must not be reported as the device's."""

    latency: Duration
    cycles: float
    stack: str
    jitter_sigma: float
    estimated_parameters: list[str]
    calibrated_parameters: list[str] = field(default_factory=list)
    latency_low: Duration = Duration(float("nan"))
    latency_high: Duration = Duration(float("nan"))
    not_deployable: str = ""

    @property
    def deployable(self) -> bool:
        return not self.not_deployable


@lru_cache(maxsize=1)
def default_cost_model() -> CostModel:
    """The calibrated cost model shipped with the harness (``harness/costmodel/cost_model.json``)."""
    text = resources.files("harness.costmodel").joinpath("cost_model.json").read_text(encoding="utf-8")
    return CostModel.from_dict(json.loads(text))
