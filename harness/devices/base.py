"""The Device: a guarded lifecycle (idle -> deployed -> measuring -> deployed) and the capabilities it declares."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import numpy as np

from harness.analysis.profile import ModelProfile
from harness.core.errors import ConfigError, DeviceError
from harness.devices.capabilities import CAPABILITIES, Capability
from harness.power.integrate import EnergyMeasurement
from harness.power.trace import Trace
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile

C = TypeVar("C", bound=Capability)
F = TypeVar("F", bound=Callable[..., Any])


class DeviceState(str, Enum):
    idle = "idle"
    deployed = "deployed"
    measuring = "measuring"


@dataclass(frozen=True)
class Deployment:
    """What is on the device: the model, its static profile, and the stack it runs on."""

    model: ModelEntry
    profile: ModelProfile
    stack: str
    arena_bytes: int | None
    runtime: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Measurement:
    """One measurement of timed inferences.

    ``summary`` is the device's own account of it (a DUT's MLPerf windows and verdict), and ``row_fields``
    the columns it adds to the efficiency row; both are empty for a device with nothing to add.
    """

    device_latency_s: np.ndarray  # per inference, as the device timed it
    host_latency_s: np.ndarray | None  # per inference, host wall time of the real runtime (sim only)
    energy: EnergyMeasurement | None
    trace: Trace | None
    outputs: list[np.ndarray]  # outputs of the last inference
    backend: str
    summary: dict[str, Any] = field(default_factory=dict)
    row_fields: dict[str, Any] = field(default_factory=dict)


def measuring(method: F) -> F:
    """Guard a capability method: the device must be deployed, and is ``measuring`` while it runs."""

    @functools.wraps(method)
    def guarded(self: Device, *args: Any, **kwargs: Any) -> Any:
        self._require(method.__name__, DeviceState.deployed)
        self.state = DeviceState.measuring
        try:
            return method(self, *args, **kwargs)
        finally:
            self.state = DeviceState.deployed

    return cast(F, guarded)


def check_counts(runs: int, warmup: int) -> None:
    if runs < 1 or warmup < 0:
        raise DeviceError(f"a measurement needs runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")


class Device(ABC):
    """A device under test. Subclasses implement ``_do_deploy`` and the capabilities they support."""

    backend: ClassVar[str]

    def __init__(self, target: TargetProfile) -> None:
        self.target = target
        self.state = DeviceState.idle
        self.deployment: Deployment | None = None

    @property
    def where(self) -> str:
        """The device in messages: its target and link."""
        return f"target '{self.target.name}' ({self.target.link.url})"

    def _require(self, call: str, *allowed: DeviceState) -> None:
        if self.state not in allowed:
            raise DeviceError(
                f"{type(self).__name__}.{call}() called in state '{self.state.value}'; "
                f"it needs {' or '.join(s.value for s in allowed)}"
            )

    @property
    def resets(self) -> int:
        """Device restarts survived so far (a DUT that rebooted mid-run and was reloaded)."""
        return 0

    @property
    def log_path(self) -> Path | None:
        """The log that device errors cite (a DUT's transcript), if the device keeps one."""
        return None

    def capabilities(self) -> list[type[Capability]]:
        """What this device can do as configured (by default: every capability its class implements)."""
        return [c for c in CAPABILITIES if isinstance(self, c)]

    def lacking(self, capability: type[Capability]) -> str | None:
        """What would give this device ``capability`` (a hint for the error when it is missing)."""
        return None

    def require(self, capability: type[C]) -> C:
        """This device as ``capability``, or a ConfigError naming the device and what it can do instead."""
        offered = self.capabilities()
        if capability in offered:
            return cast(C, self)
        can = ", ".join(c.title for c in offered) or "nothing"
        raise ConfigError(f"{self.where} cannot {capability.title} (it can: {can})", hint=self.lacking(capability))

    def deploy(self, model: ModelEntry, stack: str) -> Deployment:
        self._require("deploy", DeviceState.idle, DeviceState.deployed)
        self.deployment = self._do_deploy(model, stack)
        self.state = DeviceState.deployed
        return self.deployment

    def close(self) -> None:
        if self.state != DeviceState.idle:
            self._do_close()
        self.state = DeviceState.idle
        self.deployment = None

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _do_deploy(self, model: ModelEntry, stack: str) -> Deployment: ...

    def _do_close(self) -> None:  # noqa: B027 - optional hook
        pass
