"""Deployed power: what a device draws on average when a model runs at its rate, the one formula behind the
efficiency table, battery life and the fleet's carbon, so they can never disagree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deployed:
    """``requested_hz`` inferences per second asked for; ``achieved_hz`` what the device manages (at most back to
    back); ``duty`` the fraction of time inferring at the requested rate (> 1: it cannot keep up)."""

    requested_hz: float
    achieved_hz: float
    duty: float
    power_mw: float

    @property
    def keeps_up(self) -> bool:
        return self.duty <= 1.0


def deployed_power(energy_mj: float, latency_s: float, rate_hz: float, idle_mw: float) -> Deployed:
    """Energy per inference x the achievable rate, plus idle power for the time left over."""
    duty = latency_s * rate_hz
    achieved = min(rate_hz, 1.0 / latency_s)
    return Deployed(rate_hz, achieved, duty, energy_mj * achieved + idle_mw * max(0.0, 1.0 - duty))
