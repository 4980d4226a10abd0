"""Which faults the simulated DUT's serial link injects: the field problems a host must survive.

A plan is parsed from a short spec, e.g. ``drop=0.001,corrupt=0.0005,delay=0.3@0.05,reset=40,stall=25:5,
noise=0.2,seed=7``; ``harness.dut.sim.injector`` applies it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from harness.core.errors import ConfigError

GRAMMAR = {
    "drop": "P: drop each byte with probability P, both directions (drop_in: host->DUT only, drop_out: DUT->host)",
    "corrupt": "P: flip one bit of each byte with probability P (corrupt_in, corrupt_out: one direction)",
    "delay": "S[@P]: hold a reply S seconds, with probability P per command (default 1)",
    "reset": "K: the DUT resets on receiving the K-th command and prints its boot banner instead of a reply",
    "stall": "K[:S]: from the K-th command on, the DUT answers nothing for S seconds (no S: forever)",
    "noise": "P: with probability P per command, a '[debug] ...' line follows m-ready",
    "seed": "N: seed of the fault streams (default 0)",
}
EXAMPLE = "drop=0.001,corrupt=0.0005,delay=0.3@0.05,reset=40,stall=25:5,noise=0.2,seed=7"


@dataclass(frozen=True)
class FaultPlan:
    """Which faults to inject and how often; the default plan injects none."""

    drop_in: float = 0.0
    drop_out: float = 0.0
    corrupt_in: float = 0.0
    corrupt_out: float = 0.0
    delay_s: float = 0.0
    delay_p: float = 0.0
    reset_at: int | None = None
    stall_at: int | None = None
    stall_s: float = math.inf
    noise: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """A plan from ``key=value`` items separated by commas (see GRAMMAR); ConfigError names a bad item."""
        values: dict[str, Any] = {}
        seen: set[str] = set()
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            key, eq, value = item.partition("=")
            key = key.strip()
            parser = _PARSERS.get(key)
            if parser is None or not eq:
                problem = f"unknown key '{key}'" if parser is None else f"'{key}' needs a value ('{key}=...')"
                raise _error(spec, problem)
            if key in seen:
                raise _error(spec, f"key '{key}' is given twice")
            seen.add(key)
            try:
                values.update(parser(value.strip()))
            except ValueError as exc:
                raise _error(spec, f"'{item}': {exc}; {key}={GRAMMAR[key.split('_')[0]]}") from None
        return replace(cls(), **values)

    @property
    def active(self) -> bool:
        return self != replace(FaultPlan(), seed=self.seed)

    def describe(self) -> str:
        """The plan's non-default fields, for logs."""
        default = FaultPlan()
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                         if getattr(self, f.name) != getattr(default, f.name)) or "no faults"


def _error(spec: str, problem: str) -> ConfigError:
    return ConfigError(f"--faults '{spec}': {problem}",
                       hint=f"valid keys: {', '.join(_PARSERS)} (see 'harness sim-dut --help'); e.g. {EXAMPLE}")


def _probability(text: str) -> float:
    p = float(text)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {text} is outside 0..1")
    return p


def _seconds(text: str) -> float:
    s = float(text)
    if not 0.0 <= s < math.inf:
        raise ValueError(f"duration {text} must be a finite number of seconds >= 0")
    return s


def _command_index(text: str) -> int:
    k = int(text)
    if k < 1:
        raise ValueError(f"command number {text} must be >= 1 (1 is the first command)")
    return k


def _delay(text: str) -> dict[str, Any]:
    seconds, _, p = text.partition("@")
    return {"delay_s": _seconds(seconds), "delay_p": _probability(p) if p else 1.0}


def _stall(text: str) -> dict[str, Any]:
    k, _, seconds = text.partition(":")
    return {"stall_at": _command_index(k), "stall_s": _seconds(seconds) if seconds else math.inf}


_PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "drop": lambda v: dict.fromkeys(("drop_in", "drop_out"), _probability(v)),
    "drop_in": lambda v: {"drop_in": _probability(v)},
    "drop_out": lambda v: {"drop_out": _probability(v)},
    "corrupt": lambda v: dict.fromkeys(("corrupt_in", "corrupt_out"), _probability(v)),
    "corrupt_in": lambda v: {"corrupt_in": _probability(v)},
    "corrupt_out": lambda v: {"corrupt_out": _probability(v)},
    "delay": _delay,
    "reset": lambda v: {"reset_at": _command_index(v)},
    "stall": _stall,
    "noise": lambda v: {"noise": _probability(v)},
    "seed": lambda v: {"seed": int(v)},
}
