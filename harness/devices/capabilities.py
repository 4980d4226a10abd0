"""What a device can do, one small interface per capability (labgrid's protocols).

A device class implements the capabilities it supports; ``Device.capabilities()`` says which of
them it offers as configured (a serial DUT measures energy only with a power monitor), and the
runner asks for one with ``device.require(EnergyMeter)``, which names the device, the capability
and what would add it when it is missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from harness.devices.base import Measurement
    from harness.runtimes.inputs import ModelInput


class Capability(ABC):  # noqa: B024 - a marker: the capabilities below add the abstract methods
    """One thing a device can do; ``title`` names it in messages ("measure energy per inference")."""

    title: ClassVar[str]


class LatencyMeter(Capability):
    """Times ``runs`` inferences of the deployed model after ``warmup`` untimed ones, on the device's clock."""

    title = "measure latency"

    @abstractmethod
    def measure_latency(self, runs: int, warmup: int) -> Measurement: ...


class EnergyMeter(Capability):
    """Measures latency and energy per inference together, from a power trace between timestamp events."""

    title = "measure energy per inference"

    @abstractmethod
    def measure_energy(self, runs: int, warmup: int) -> Measurement: ...


class Inference(Capability):
    """Runs the deployed model on given input bytes and returns its output scores as the device reports them."""

    title = "run inference on given inputs"

    @abstractmethod
    def infer(self, x: ModelInput) -> np.ndarray: ...


CAPABILITIES: tuple[type[Capability], ...] = (LatencyMeter, EnergyMeter, Inference)
