"""The firmware side of the MLPerf Tiny serial protocol as a state machine: bytes in, timed reply lines out.

It behaves as the reference API (mlcommons/tiny benchmark/api) does: commands end in ``%`` and are
split on spaces, the command buffer keeps 80 characters, every command ends with ``m-ready``. Time
is simulated, never read from the wall clock: each command costs a small handling time and each
inference the cost model's latency with seeded jitter. The world time (``now_s``) runs on across
resets and drives the wiring; the DUT's own microsecond timer restarts at every boot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from harness import __version__
from harness.core.errors import ConfigError
from harness.core.seeding import seeded_rng
from harness.costmodel.model import CostModel
from harness.dut.sim.db_buffer import DbBuffer
from harness.dut.sim.model import MODEL_IDS, DutModel, model_id_for
from harness.dut.sim.wire import READY, CommandBuffer, Reply, atoi
from harness.power.wiring import Wiring
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile

Mode = Literal["performance", "energy"]
MODES: tuple[Mode, ...] = ("performance", "energy")
CMD_SIZE = 80  # EE_CMD_SIZE: characters of a command the reference firmware keeps
TIMER_WRAP = 2**32  # m-lap-us is an unsigned long on a 32-bit MCU
DEFAULT_WARMUP = 10  # ee_profile_parse: `infer N` without W warms up 10 times
COMMAND_S = 100e-6  # simulated time to receive, parse and answer one command (a modelling choice)
INIT_S = 5e-3  # simulated time from reset to m-init-done (a modelling choice)


class SimulatedFirmware:
    """MLPerf Tiny firmware running ``model`` on a simulated ``target``, in performance or energy mode."""

    def __init__(self, target: TargetProfile, model: ModelEntry, *, mode: str = "performance", seed: int = 0,
                 wiring: Wiring | None = None, cost_model: CostModel | None = None, stack: str | None = None,
                 model_id: str | None = None, command_s: float = COMMAND_S) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown DUT mode '{mode}'", hint=f"valid: {', '.join(MODES)}")
        if model_id is not None and model_id not in MODEL_IDS:
            raise ConfigError(f"unknown MLPerf Tiny model id '{model_id}'", hint=f"valid: {', '.join(MODEL_IDS)}")
        self.target = target
        self.mode: Mode = mode  # type: ignore[assignment]
        self.seed = seed
        self.model = DutModel.load(target, model, stack, cost_model)
        self.model_id = model_id or model_id_for(model, self.model.input.shape)
        self.command_s = command_s
        self._wirings: list[Wiring] = [wiring] if wiring is not None else []
        self._latency_rng = seeded_rng(seed, model.name, target.name, "dut-latency")
        self._idle_w = target.power.idle_mw / 1e3
        self._active_w = target.power.active_for(self.model.prediction.stack) / 1e3
        self._now_s = 0.0
        self._boot_s = 0.0
        self._power_w: float | None = None
        self._cmd = CommandBuffer(CMD_SIZE)
        self._db_buffer = DbBuffer()
        self._output: np.ndarray | None = None
        self._out: list[Reply] = []
        self._commands: dict[str, Callable[[list[str]], None]] = {
            "name": self._name, "profile": self._profile, "timestamp": self._timestamp_command,
            "db": self._db, "infer": self._infer, "results": self._results,
        }

    # ---- identity and time ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """What ``name%`` reports: the backend and the target, so a transcript says it was simulated."""
        return f"sim:{self.target.name}"

    @property
    def firmware_id(self) -> str:
        return (f"edge-harness simulated MLPerf Tiny firmware {__version__} "
                f"({self.model.runtime_version}, {self.model.prediction.stack}, {self.model.entry.name})")

    @property
    def now_s(self) -> float:
        """Simulated world time in seconds (monotonic across resets)."""
        return self._now_s

    @property
    def timer_us(self) -> int:
        """The DUT's microsecond timer as ``m-lap-us`` prints it: from the last boot, wrapping at 2**32."""
        return int((self._now_s - self._boot_s) * 1e6) % TIMER_WRAP

    def connect_wiring(self, wiring: Wiring) -> None:
        """Also drive ``wiring``; it learns the present power draw at once."""
        self._wirings.append(wiring)
        if self._power_w is not None:
            wiring.power(self._now_s, self._power_w)

    # ---- the byte interface ---------------------------------------------------------------------

    def boot(self) -> list[Reply]:
        """Power-on or reset: forget the buffer, results and any partial command; print the banner."""
        self._out = []
        self._boot_s = self._now_s
        self._cmd.clear()
        self._db_buffer.clear()
        self._output = None
        self._set_power(self._idle_w)
        self._say(f"m-timestamp-mode-{self.mode}")
        self._timestamp()  # th_timestamp_initialize: sets the timestamp pin high with one timestamp
        self._now_s += INIT_S
        self._say("m-init-done")
        self._say(READY)
        return self._out

    reset = boot

    def crash(self, data: bytes) -> list[Reply]:
        """A reset while receiving ``data``: the command is lost, the banner is printed."""
        return self.boot()

    def feed(self, data: bytes) -> list[Reply]:
        """Bytes from the host; the replies of every command they complete."""
        return [reply for command in self._cmd.push(data) for reply in self.handle(command)]

    def handle(self, command: str) -> list[Reply]:
        """One command without its ``%``: its reply lines, the last being ``m-ready``."""
        self._out = []
        self._now_s += self.command_s
        tokens = [t for t in command.split(" ") if t]
        word = tokens[0] if tokens else ""
        handler = self._commands.get(word)
        if handler is None:
            self._say(f"e-[Unknown command: {word}]")
        else:
            handler(tokens[1:])
        self._say(READY)
        return self._out

    # ---- commands ---------------------------------------------------------------------------------

    def _name(self, args: list[str]) -> None:
        self._say(f"m-name-dut-[{self.name}]")

    def _profile(self, args: list[str]) -> None:
        self._say(f"m-profile-[{self.firmware_id}]")
        self._say(f"m-model-[{self.model_id}]")

    def _timestamp_command(self, args: list[str]) -> None:
        self._timestamp()

    def _db(self, args: list[str]) -> None:
        for line in self._db_buffer.command(args):
            self._say(line)

    def _infer(self, args: list[str]) -> None:
        n = atoi(args[0]) if args else 1
        warmup = atoi(args[1]) if len(args) > 1 else DEFAULT_WARMUP
        if n <= 0:
            self._say("e-[Inference iterations must be >0]")
            return
        if warmup < 0:
            self._say("e-[Inference warmup must be >=0]")
            return
        need = self.model.input_bytes
        buffer = self._db_buffer
        if len(buffer.data) != need or buffer.loaded != need:
            self._say(f"e-[Input buffer holds {buffer.loaded} of {len(buffer.data)} bytes; the model's input "
                      f"needs {need} (db load {need})]")
            return
        x = self.model.tensor(bytes(buffer.data))
        self._say(f"m-warmup-start-{warmup}")
        self._set_power(self._active_w)
        self._run(x, warmup)
        self._say("m-warmup-done")
        self._say(f"m-infer-start-{n}")
        self._timestamp()
        self._run(x, n)
        self._timestamp()
        self._set_power(self._idle_w)
        self._say("m-infer-done")
        self._results([])

    def _results(self, args: list[str]) -> None:
        if self._output is None:
            self._say("e-[No results: run 'infer' first]")
            return
        self._say("m-results-[" + ",".join(f"{v:.3f}" for v in self.model.scores(self._output)) + "]")

    # ---- effects ----------------------------------------------------------------------------------

    def latencies_s(self, n: int) -> np.ndarray:
        """The next ``n`` device latencies: predicted latency x lognormal jitter with mean 1 (as in devices/sim)."""
        prediction = self.model.prediction
        sigma = prediction.jitter_sigma
        z = self._latency_rng.standard_normal(n)
        return prediction.latency.seconds * np.exp(sigma * z - sigma**2 / 2)

    def _run(self, x: np.ndarray, n: int) -> None:
        for latency in self.latencies_s(n):
            self._output = self.model.run(x)
            self._now_s += float(latency)

    def _timestamp(self) -> None:
        """th_timestamp: print the timer in performance mode; a falling edge on the pin in energy mode."""
        if self.mode == "performance":
            self._say(f"m-lap-us-{self.timer_us}")
        else:
            for wiring in self._wirings:
                wiring.edge(self._now_s)

    def _set_power(self, watts: float) -> None:
        if watts != self._power_w:
            self._power_w = watts
            for wiring in self._wirings:
                wiring.power(self._now_s, watts)

    def _say(self, text: str) -> None:
        self._out.append(Reply(text, self._now_s))
