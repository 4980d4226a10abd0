"""Worker resources that stand for attached devices: a task measuring a device asks for the device's resource,
so Dask runs it on the worker of the host the device is attached to, and (count 1) one at a time."""

from __future__ import annotations


def device_resource(target: str) -> str:
    """The resource a worker declares for the device attached as ``target``: ``dask worker ... --resources
    device:TARGET=1``."""
    return f"device:{target}"
