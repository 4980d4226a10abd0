"""Whether a board that went silent had overheated: its last temperature reading against its trip points.

The board runner reports every thermal zone's temperature and its ``critical`` and ``hot`` trip points
(``/sys/class/thermal``); at the critical trip the kernel powers the board off. A connection lost right
after a reading at or over a trip point is therefore most likely a thermal shutdown.
"""

from __future__ import annotations

from typing import Any


def overheated(facts: dict[str, Any] | None) -> str | None:
    """The zone, its reading and the trip point it reached, as a sentence; None when no zone was at a trip."""
    if not facts:
        return None
    temps = facts.get("temperatures_c") or {}
    trips = facts.get("trip_points_c") or {}
    for zone, reading in sorted(temps.items(), key=lambda item: -item[1]):
        for kind in ("critical", "hot"):
            trip = trips.get(zone, {}).get(kind)
            if trip is not None and reading >= trip:
                return f"{zone} read {reading:.1f} C, at or over its {kind} trip point of {trip:.1f} C"
    return None
