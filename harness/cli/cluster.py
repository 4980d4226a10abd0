"""``harness cluster``: a Dask cluster on this machine, to try the distributed paths (``--scheduler``)."""

from __future__ import annotations

import signal
import threading

import click

from harness.cluster.local import DEFAULT_PORT, start_local_cluster


@click.group("cluster")
def command() -> None:
    """A Dask cluster to evaluate and measure on (harness eval/run --scheduler).

    \b
    On one machine:   harness cluster up --workers 2
    In a lab, on the scheduler's host:   dask scheduler --host HOST
              on each worker host:       dask worker tcp://HOST:8786 --nthreads 1 --nworkers N
              a host with a device:      dask worker tcp://HOST:8786 --nthreads 1 --resources device:TARGET=1
    """


@command.command("up")
@click.option("--workers", type=click.IntRange(1, 256), default=2, show_default=True,
              help="Worker processes (one thread each: every worker loads the models once).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the scheduler and workers listen on; another host's workers need one they can reach.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Scheduler port (0: any free one).")
@click.option("--device", "devices", multiple=True, metavar="TARGET",
              help="Add a worker holding the resource of the device attached here as TARGET (repeatable): "
                   "its measurements run on that worker, one at a time.")
def up(workers: int, host: str, port: int, devices: tuple[str, ...]) -> None:
    """Start a scheduler and worker processes here; print the scheduler's address; run until Ctrl-C."""
    cluster = start_local_cluster(workers, host=host, port=port, devices=devices)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        extra = f" and {len(devices)} device worker(s)" if devices else ""
        click.echo(f"Dask scheduler with {workers} worker(s){extra}; Ctrl-C stops it. Use it with:\n"
                   f"  harness eval --corpus DIR --scheduler {cluster.scheduler_address}", err=True)
        click.echo(cluster.scheduler_address)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
