"""Where things are: frozen records that say how a device or a power monitor is reached.

Drivers act on these records (labgrid's split of resources and drivers); a target profile holds
them, and the command line builds them from ``--port`` and ``--monitor``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.core.errors import ConfigError
from harness.registry.places import is_place_url, parse_place_url


class BoardLink(BaseModel):
    """An MLPerf Tiny enhanced interface board wired to the target's DUT (streaming wake-word, sww01): its pyserial
    ``url``, the ``streams`` on its SD card (a folder from ``harness corpus stream``, or ``builtin:<size>``), and
    the window rule pass/fail is decided under."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    url: str
    streams: str
    verdict_rule: Literal["code", "readme"] = "code"


class Link(BaseModel):
    """Where a device is reached; the URL scheme selects the backend: ``sim://`` (simulated), ``ssh://`` (a Linux
    board), ``adb://`` (an Android phone), ``labgrid://`` (a DUT in a labgrid place, acquired for the run), or a
    serial port / pyserial URL (a DUT running MLPerf Tiny firmware)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    url: str
    baud: int = Field(default=115200, gt=0)
    timeout_s: float = Field(default=10.0, gt=0, le=86_400)
    io_manager: bool = Field(default=False, description="the DUT's UART goes through an MLPerf Tiny IO manager "
                                                        "(energy mode: the power monitor supplies the DUT)")
    board: BoardLink | None = Field(default=None, description="an interface board playing streams into the DUT: "
                                    "'harness run' adds a streaming step; url is then the DUT's own port, or the "
                                    "board's when DUT commands go through its pass-through")

    @field_validator("url")
    @classmethod
    def _place_url(cls, url: str) -> str:
        if is_place_url(url):
            try:
                parse_place_url(url)
            except ConfigError as exc:
                raise ValueError(f"{exc.message} ({exc.hint})") from None
        return url

    @property
    def is_simulated(self) -> bool:
        return self.url.startswith("sim://")


class MonitorSpec(BaseModel):
    """Where a power monitor is: a registered driver ``kind`` (YAML key ``model``), an optional ``url``
    (port, socket or serial number) and the supply voltage it sets or assumes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    kind: str = Field(alias="model", description="lpm01a, joulescope, ppk2 or sim")
    url: str | None = None
    voltage: float | None = Field(default=None, gt=0, le=60)

    def __str__(self) -> str:
        return f"{self.kind}:{self.url}" if self.url else self.kind
