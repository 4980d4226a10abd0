"""Predict on-device latency from a model's static profile and a target's core, clock and stack.

    cycles = sum over ops of  macs(op) * cpm[kind(op)] * core_factor * stack_factor * accel_factor
                            + dispatch_cycles[stack]
                            + output_elements(op) * elementwise_cycles * (the same three factors)
                              for ops without MACs
    latency = cycles / (clock * parallel_speedup(threads))

``cpm`` (cycles per MAC by op kind), ``dispatch_cycles`` and the core, stack and accelerator
factors are fitted to published MLPerf Tiny results (see ``calibration.py`` and
docs/calibration.md); factors without a published row are documented estimates. Every
prediction carries the names of the parameters it used so reports can say which were estimates.
"""

from __future__ import annotations

import json
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
    """The cost-relevant totals of a profile: MACs by op kind, elements of MAC-free ops, ops dispatched."""

    macs: dict[str, float]
    elements: float
    n_ops: int

    @classmethod
    def of(cls, profile: ModelProfile) -> Work:
        macs = dict.fromkeys(("conv", "depthwise", "fc"), 0.0)
        elements = 0.0
        n_ops = 0
        for op in profile.ops:
            if op.op_type in _FREE_OPS:
                continue
            n_ops += 1
            kind = OP_KINDS.get(op.op_type)
            if kind is None:
                elements += op.output_elements
            else:
                macs[kind] += op.macs
        return cls(macs, elements, n_ops)

    @property
    def conv_macs(self) -> float:
        """Regular-convolution and fully connected MACs (they share one calibrated cycles-per-MAC)."""
        return self.macs["conv"] + self.macs["fc"]

    @property
    def dw_macs(self) -> float:
        return self.macs["depthwise"]


@dataclass(frozen=True)
class Parameter:
    value: float
    source: str
    fitted: bool = False


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
    calibrated_on: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostModel:
        def params(d: dict[str, Any]) -> dict[str, Parameter]:
            return {k: Parameter(**v) for k, v in d.items()}

        return cls(
            cycles_per_mac=params(data["cycles_per_mac"]),
            elementwise_cycles=Parameter(**data["elementwise_cycles"]),
            dispatch_cycles=params(data["dispatch_cycles"]),
            core_factor=params(data["core_factor"]),
            stack_factor=params(data["stack_factor"]),
            accelerator_factor=params(data["accelerator_factor"]),
            thread_efficiency=Parameter(**data["thread_efficiency"]),
            jitter_sigma=params(data["jitter_sigma"]),
            calibrated_on=list(data.get("calibrated_on", [])),
        )

    def _lookup(self, table: dict[str, Parameter], key: str, what: str) -> Parameter:
        try:
            return table[key]
        except KeyError:
            raise ConfigError(
                f"the cost model has no {what} for '{key}'", hint=f"valid: {', '.join(sorted(table))}"
            ) from None

    def predict(self, profile: ModelProfile, target: TargetProfile, stack: str | None = None) -> Prediction:
        stack = stack or target.default_stack
        if stack not in target.stacks:
            raise ConfigError(
                f"target '{target.name}' does not support stack '{stack}'",
                hint=f"valid for {target.name}: {', '.join(target.stacks)}",
            )
        core = self._lookup(self.core_factor, target.core, "core factor")
        stk = self._lookup(self.stack_factor, stack, "stack factor")
        # Reference kernels are plain C: only optimised stacks drive an on-chip accelerator.
        accel_name = target.accelerator if target.accelerator and stack != "tflm-reference" else "none"
        accel = self._lookup(self.accelerator_factor, accel_name, "accelerator factor")
        dispatch = self._lookup(self.dispatch_cycles, stack, "dispatch cost")
        scale = core.value * stk.value * accel.value
        work = Work.of(profile)
        per_element = sum(m * self.cycles_per_mac[k].value for k, m in work.macs.items())
        per_element += work.elements * self.elementwise_cycles.value
        cycles = per_element * scale + work.n_ops * dispatch.value
        speedup = 1.0 + (target.threads - 1) * self.thread_efficiency.value
        seconds = cycles / (target.clock_mhz * 1e6) / speedup
        used = {
            f"core_factor.{target.core}": core,
            f"stack_factor.{stack}": stk,
            f"accelerator_factor.{accel_name}": accel,
            f"dispatch_cycles.{stack}": dispatch,
        }
        estimates = sorted(k for k, p in used.items() if not p.fitted)
        jitter = self._lookup(self.jitter_sigma, target.target_class.value, "jitter").value
        return Prediction(Duration(seconds), cycles, stack, jitter, estimates)


@dataclass(frozen=True)
class Prediction:
    latency: Duration
    cycles: float
    stack: str
    jitter_sigma: float
    estimated_parameters: list[str]


@lru_cache(maxsize=1)
def default_cost_model() -> CostModel:
    """The calibrated cost model shipped with the harness (``harness/costmodel/cost_model.json``)."""
    text = resources.files("harness.costmodel").joinpath("cost_model.json").read_text(encoding="utf-8")
    return CostModel.from_dict(json.loads(text))
