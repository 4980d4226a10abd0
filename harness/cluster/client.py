"""Connect to a Dask scheduler: an address that does not answer is a clear error, never a traceback.

Dask distributed is an optional extra (``[cluster]``); it is imported only when a scheduler is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from harness.core.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"  # --scheduler local: this machine, no cluster (resumes a cluster run here)
START_HINT = ("start one with 'harness cluster up --workers 2', or on the lab's hosts 'dask scheduler' and "
              "'dask worker tcp://SCHEDULER:8786' (README: Evaluating on a Dask cluster)")


def scheduler_or_none(address: str | None) -> str | None:
    """None for no address or ``local``."""
    return None if address in (None, "", LOCAL) else address


def require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError("a Dask scheduler was given, but Dask distributed is not installed",
                          hint="pip install 'edge-harness[cluster]'") from None


@contextmanager
def connected(address: str, workers_timeout_s: float = 30.0) -> Iterator[Client]:
    """A client of the scheduler at ``address`` that has at least one worker; closed on leaving."""
    require_distributed()
    from distributed import Client

    try:
        client = Client(address, set_as_default=False)
    except ValueError as exc:
        raise ConfigError(f"scheduler address '{address}': {exc}",
                          hint="give it as tcp://HOST:PORT (a Dask scheduler listens on port 8786 by default)") \
            from None
    except OSError as exc:
        raise ConfigError(f"no Dask scheduler answers at {address}: {exc}",
                          hint=f"{START_HINT}; or compute on this machine: --scheduler local") from None
    try:
        try:
            client.wait_for_workers(1, timeout=workers_timeout_s)
        except TimeoutError:
            raise ConfigError(f"the Dask scheduler at {address} has no worker (waited {workers_timeout_s:g} s)",
                              hint=f"start workers: dask worker {address} --nthreads 1") from None
        yield client
    finally:
        client.close()


def check_scheduler(address: str) -> None:
    """ConfigError now, before anything is measured, if the scheduler does not answer or has no worker."""
    with connected(address):
        pass
