"""A job: a plan with its models and targets resolved, targets attached on the bench, and what to run on them.

``harness run`` builds a job from a plan; ``harness bench-device`` builds a one-device job (a bench
session). Both go through the same runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.devices.host_timing import HostTimings
from harness.dut.modes import Rules
from harness.registry.models import ModelEntry
from harness.registry.plans import Plan
from harness.registry.resources import Link, MonitorSpec
from harness.registry.targets import TargetProfile


@dataclass(frozen=True)
class Attachment:
    """A target on the bench for this run: ``link`` and ``monitor`` replace its profile's.

    ``rules`` sets a bench session's MLPerf window rules (None: MLPerf rules with the plan's runs and
    warm-up); ``inputs`` is an MLPerf Tiny dataset folder fed to the windows (None: seeded inputs).
    """

    link: Link
    monitor: MonitorSpec | None = None
    rules: Rules | None = None
    inputs: Path | None = None

    def apply(self, target: TargetProfile) -> TargetProfile:
        return target.model_copy(update={"link": self.link, "power_monitor": self.monitor})


@dataclass(frozen=True)
class DeviceAccuracy:
    """Accuracy measured on the device: each input through the deployed model, compared with the host's scores.

    Inputs are the clips of ``corpus`` (kws models: per-group fairness tables from the device's scores),
    or an MLPerf Tiny dataset folder ``inputs``, or ``count`` seeded inputs.
    """

    count: int = 20
    inputs: Path | None = None
    corpus: str | None = None


@dataclass(frozen=True)
class DeviceStreams:
    """Streaming wake-word (MLPerf Tiny sww01) on a device: each stream of ``streams`` (a folder or
    ``builtin:<size>``) played by the interface board at ``board`` into the DUT, whose commands go through the
    board's pass-through or to its own port ``dut``; pass/fail is decided under ``verdict_rule``."""

    streams: str
    board: str
    dut: str | None = None
    verdict_rule: str = "code"


@dataclass(frozen=True)
class Session:
    """A bench session (``harness bench-device``): one model on one attached target in one ``mode``.

    It writes ``status.json`` and ``<mode>.json``, and records ``settings`` in the manifest as ``bench_device``.
    """

    mode: str
    settings: dict[str, Any]
    accuracy: DeviceAccuracy | None = None
    streams: DeviceStreams | None = None


@dataclass(frozen=True)
class PairResult:
    """What a measured pair leaves besides its row: the device's summary and the resets it survived."""

    summary: dict[str, Any]
    resets: int


@dataclass(frozen=True)
class Job:
    plan: Plan
    models: Sequence[ModelEntry]
    targets: Sequence[TargetProfile]  # with their attachments applied
    attachments: dict[str, Attachment] = field(default_factory=dict)
    session: Session | None = None
    # one host timing per model, shared by the run's simulated targets; execute() gives every run a fresh one
    host_timings: HostTimings = field(default_factory=HostTimings, compare=False, repr=False)

    @property
    def run_name(self) -> str:
        return f"device-{self.session.mode}" if self.session else self.plan.name

    def attachment(self, target: TargetProfile) -> Attachment | None:
        return self.attachments.get(target.name)
