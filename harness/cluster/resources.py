"""Worker resources that stand for attached devices: a task measuring a device asks for the device's resource,
so Dask runs it on the worker of the host the device is attached to, and (count 1) one at a time.

A task whose resource no worker offers any more (the device's worker died) is never run again by Dask, which
waits for such a worker; :class:`ResourceWatch` notices from the scheduler's worker list, so the caller can stop
waiting after a bounded time instead of forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

UNHELD_TIMEOUT_S = 30.0  # when Dask's distributed.scheduler.no-workers-timeout is not set


def device_resource(target: str) -> str:
    """The resource a worker declares for the device attached as ``target``: ``dask worker ... --resources
    device:TARGET=1``."""
    return f"device:{target}"


@dataclass(frozen=True)
class Holder:
    """A worker offering a resource: its address and the host it runs on."""

    worker: str
    host: str


def holders(client: Client) -> dict[str, list[Holder]]:
    """Every resource the cluster's workers offer now, with the workers offering it."""
    found: dict[str, list[Holder]] = {}
    for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
        for resource in info.get("resources") or {}:
            found.setdefault(resource, []).append(Holder(address, str(info.get("host") or address)))
    return found


def unheld_timeout_s() -> float:
    """How long a task may wait for a worker offering its resource: Dask's own setting for tasks no worker can run
    (``distributed.scheduler.no-workers-timeout``, e.g. ``DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT=60s``)
    when it is set, else 30 s, time enough for a nanny to restart a worker that died."""
    import dask
    from dask.utils import parse_timedelta

    configured = dask.config.get("distributed.scheduler.no-workers-timeout", None)
    return float(parse_timedelta(configured, default="s")) if configured is not None else UNHELD_TIMEOUT_S


class ResourceWatch:
    """Polls the scheduler for the workers offering resources; remembers the last worker seen with each (to name it
    when it is gone) and since when none has offered it."""

    def __init__(self, client: Client, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.timeout_s, self.clock = client, timeout_s, clock
        self.last: dict[str, Holder] = {}
        self.since: dict[str, float] = {}
        self.offered: dict[str, list[Holder]] = {}

    def poll(self, resources: Iterable[str]) -> dict[str, float]:
        """Of ``resources``, those no worker has offered for longer than the timeout, with the seconds waited."""
        self.offered = holders(self.client)
        now = self.clock()
        gone: dict[str, float] = {}
        for resource in resources:
            if self.offered.get(resource):
                self.last[resource] = self.offered[resource][0]
                self.since.pop(resource, None)
                continue
            waited = now - self.since.setdefault(resource, now)
            if waited >= self.timeout_s:
                gone[resource] = waited
        return gone
