"""A Dask cluster on this machine (``harness cluster up``): a scheduler and worker processes, for trying the
distributed paths or using one machine's cores; a lab runs ``dask scheduler`` and ``dask worker`` instead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.cluster.client import require_distributed
from harness.cluster.resources import device_resource
from harness.core.errors import ConfigError

if TYPE_CHECKING:
    from distributed import LocalCluster

DEFAULT_PORT = 8786  # Dask's own default scheduler port


def start_local_cluster(workers: int, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                        devices: Sequence[str] = ()) -> LocalCluster:
    """Scheduler and ``workers`` single-threaded worker processes bound to ``host``, plus one worker per name in
    ``devices`` holding that device's resource (count 1: the device's lock). The caller closes it."""
    require_distributed()
    from distributed import LocalCluster, Nanny

    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=host,
                               scheduler_port=port, dashboard_address=None)
    except (OSError, RuntimeError) as exc:
        cause = _os_error(exc)
        if cause is not None:
            raise ConfigError(f"could not start a Dask scheduler on {host}:{port}: {cause}",
                              hint="another program (a scheduler?) holds the port: choose another with --port "
                                   "(0: any free one)") from None
        raise ConfigError(f"the Dask cluster did not start: {exc}",
                          hint="Dask's log lines above say why (memory, a broken install)") from None
    if devices:
        options = cluster.new_spec["options"]
        for name in devices:
            cluster.worker_spec[f"device-{name}"] = {
                "cls": Nanny, "options": {**options, "resources": {device_resource(name): 1}}}
        cluster.sync(cluster._correct_state)
        cluster.wait_for_workers(workers + len(devices))
    return cluster


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError (a port in use, an address not on this host) behind Dask's 'failed to start', if any."""
    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    return exc
