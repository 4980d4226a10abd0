"""Physical quantities as small immutable types, so mW, mJ, uJ and ms never mix silently.

Each type stores one SI value (seconds, joules, watts) and offers named constructors and
accessors for the units the lab uses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Duration:
    seconds: float

    @classmethod
    def from_ms(cls, ms: float) -> Duration:
        return cls(ms / 1e3)

    @classmethod
    def from_us(cls, us: float) -> Duration:
        return cls(us / 1e6)

    @property
    def ms(self) -> float:
        return self.seconds * 1e3

    @property
    def us(self) -> float:
        return self.seconds * 1e6

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0


@dataclass(frozen=True, order=True)
class Power:
    watts: float

    @classmethod
    def from_mw(cls, mw: float) -> Power:
        return cls(mw / 1e3)

    @property
    def mw(self) -> float:
        return self.watts * 1e3

    def __add__(self, other: Power) -> Power:
        return Power(self.watts + other.watts)

    def __mul__(self, duration: Duration) -> Energy:
        return Energy(self.watts * duration.seconds)


@dataclass(frozen=True, order=True)
class Energy:
    joules: float

    @classmethod
    def from_mj(cls, mj: float) -> Energy:
        return cls(mj / 1e3)

    @classmethod
    def from_uj(cls, uj: float) -> Energy:
        return cls(uj / 1e6)

    @classmethod
    def from_power_and_time(cls, power: Power, duration: Duration) -> Energy:
        return cls(power.watts * duration.seconds)

    @classmethod
    def from_kwh(cls, kwh: float) -> Energy:
        return cls(kwh * 3.6e6)

    @property
    def mj(self) -> float:
        return self.joules * 1e3

    @property
    def uj(self) -> float:
        return self.joules * 1e6

    @property
    def kwh(self) -> float:
        return self.joules / 3.6e6

    def __add__(self, other: Energy) -> Energy:
        return Energy(self.joules + other.joules)

    def __mul__(self, factor: float) -> Energy:
        return Energy(self.joules * factor)

    def __truediv__(self, duration: Duration) -> Power:
        return Power(self.joules / duration.seconds)


def co2e_kg(energy: Energy, grid_kg_per_kwh: float) -> float:
    """Carbon (kg CO2e) = energy (kWh) x grid intensity (kg/kWh)."""
    return energy.kwh * grid_kg_per_kwh
