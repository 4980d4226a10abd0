"""A bench session (``harness bench-device``) as a one-device job: the options become a plan, an attachment and a
session, and the one runner does the rest.

Performance and energy modes produce an efficiency row (backend ``device``) with the MLPerf Tiny
verdict beside it; accuracy mode produces per-input rows and device/host parity, and over a corpus
the fairness tables ``harness eval`` writes, from the DUT's scores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from harness.core.errors import ConfigError
from harness.core.progress import Progress
from harness.devices.factory import serial_link
from harness.dut.modes import MLPERF, QUICK
from harness.evaluation.kws_inputs import require_kws
from harness.power.monitor import parse_monitor
from harness.registry.models import ModelEntry, Task
from harness.registry.places import SCHEME, parse_place_url
from harness.registry.plans import Evaluation, Plan
from harness.registry.resources import Link
from harness.registry.targets import TargetProfile
from harness.runs.job import Attachment, DeviceAccuracy, DeviceStreams, Job, Session
from harness.runs.runner import execute

MODES = ("performance", "accuracy", "energy", "stream")


@dataclass(frozen=True)
class BenchSettings:
    """What ``harness bench-device`` was asked to do."""

    port: str
    model: str
    target: str = "mcu"
    mode: str = "performance"
    monitor: str | None = None
    quick: bool = False
    baud: int = 115200
    timeout_s: float = 10.0
    inputs: Path | None = None
    count: int = 20
    seed: int = 0
    corpus: str | None = None
    min_clips: int = Evaluation().min_clips
    min_speakers: int = Evaluation().min_speakers
    dut: str | None = None       # stream mode: the DUT's own port (else its commands go through the board)
    streams: str | None = None   # stream mode: a stream folder or builtin:<size>
    verdict_rule: str = "code"   # stream mode: the window rule pass/fail is decided under

    def check(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode '{self.mode}'", hint=f"valid: {', '.join(MODES)}")
        if self.mode == "stream" or self.streams or self.dut:
            self._check_stream()
            return
        if self.mode == "energy" and not self.monitor:
            raise ConfigError("energy mode needs a power monitor",
                              hint="add --monitor sim:URL, lpm01a:URL, joulescope or ppk2:URL (an SSH board: "
                                   "board-rails:jetson or board-rails:hwmon:LABEL; a phone: android-battery)")
        if self.monitor and self.mode != "energy":
            raise ConfigError(f"--monitor is for energy mode, not {self.mode}", hint="add --mode energy")
        if self.corpus and self.mode != "accuracy":
            raise ConfigError(f"--corpus is for accuracy mode, not {self.mode}", hint="add --mode accuracy")
        if self.corpus and self.inputs:
            raise ConfigError("--corpus and --inputs both name accuracy inputs", hint="give one of them")
        if self.port.startswith("sim://"):
            raise ConfigError(f"--port {self.port}: sim:// targets run with 'harness run'",
                              hint="start 'harness sim-dut' and pass the socket:// URL it prints")

    def _check_stream(self) -> None:
        if self.mode != "stream":
            raise ConfigError(f"--streams and --dut are for stream mode, not {self.mode}", hint="add --mode stream")
        if not self.streams:
            raise ConfigError("stream mode needs the streams to play",
                              hint="add --streams DIR (from 'harness corpus stream') or --streams builtin:tiny")
        if self.corpus or self.inputs:
            raise ConfigError("stream mode plays --streams; --corpus and --inputs are for accuracy mode",
                              hint="build streams from a corpus with 'harness corpus stream', then --streams DIR")
        if self.verdict_rule not in ("code", "readme"):
            raise ConfigError(f"--verdict-rule {self.verdict_rule}: unknown window rule", hint="valid: code, readme")
        for url in (self.port, self.dut):
            if url and url.startswith("sim://"):
                raise ConfigError(f"{url}: stream mode drives an interface board over serial",
                                  hint="start the simulated board and pass the socket:// URL it prints")

    def record(self) -> dict[str, object]:
        """The options as the manifest records them (``bench_device``); stream options only in stream mode."""
        stream_only = {"dut", "streams", "verdict_rule"}
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()
                if self.mode == "stream" or k not in stream_only}


def place_port(port: str | None, place: str | None, coordinator: str | None, wait_s: float) -> str:
    """The DUT's URL from ``--port`` or from ``--place NAME|KEY=VALUE,...`` (a ``labgrid://`` URL)."""
    if (port is None) == (place is None):
        raise ConfigError("give the DUT as --port URL or as --place NAME (a labgrid place), one of them",
                          hint="e.g. --port /dev/ttyACM0, or --place nucleo-1 --coordinator HOST:20408")
    if place is None:
        if coordinator is not None or wait_s:
            raise ConfigError("--coordinator and --place-wait go with --place", hint="add --place NAME")
        return str(port)
    query = [f"tag={pair}" for pair in place.split(",")] if "=" in place else []
    query += [f"wait={wait_s:g}"] if wait_s else []
    url = f"{SCHEME}://{coordinator or ''}/{'' if '=' in place else place}" + ("?" + "&".join(query) if query else "")
    try:
        return parse_place_url(url).url()
    except ConfigError as exc:
        raise ConfigError(f"--place {place}" + (f" --coordinator {coordinator}" if coordinator else "")
                          + f": {exc.message}", hint=exc.hint) from None


def bench_job(settings: BenchSettings, model: ModelEntry, target: TargetProfile) -> Job:
    """One model on ``target`` attached at ``settings.port``, measured in ``settings.mode``."""
    settings.check()
    if settings.corpus:
        require_kws(model)
    if settings.mode == "stream" and model.task != Task.wake_word:
        raise ConfigError(f"model '{model.name}' is a {model.task.value} model; stream mode plays wake-word streams",
                          hint="give a wake_word model (mww-alexa, oww-hey-jarvis, ...)")
    monitor = parse_monitor(settings.monitor) if settings.monitor else None
    link = Link(url=settings.port, baud=settings.baud, timeout_s=settings.timeout_s,
                io_manager=settings.mode == "energy")
    # MLPerf window rules belong to the serial protocol; a board over SSH times the plan's runs instead
    rules = (QUICK if settings.quick else MLPERF) if serial_link(settings.port) else None
    attachment = Attachment(link=link, monitor=monitor, rules=rules,
                            inputs=settings.inputs if settings.mode != "accuracy" else None)
    plan = Plan(name="bench-device", description=f"harness bench-device --mode {settings.mode} --port {settings.port}",
                models=[model.name], targets=[target.name], seed=settings.seed,
                evaluation=Evaluation(min_clips=settings.min_clips, min_speakers=settings.min_speakers))
    accuracy = DeviceAccuracy(count=settings.count, inputs=settings.inputs, corpus=settings.corpus) \
        if settings.mode == "accuracy" else None
    streams = DeviceStreams(settings.streams, settings.port, settings.dut, settings.verdict_rule) \
        if settings.mode == "stream" and settings.streams else None
    return Job(plan, [model], [attachment.apply(target)], {target.name: attachment},
               Session(settings.mode, settings.record(), accuracy, streams))


def bench_device(settings: BenchSettings, model: ModelEntry, target: TargetProfile, results: Path,
                 resume: Path | None = None, progress: Progress | None = None) -> Path:
    """Run the session and return the run directory (also on failure: its status.json says what happened)."""
    return execute(bench_job(settings, model, target), results, progress, resume)
