"""Boards in a labgrid farm: a ``labgrid://`` link names a place, which is acquired for the device's lifetime.

labgrid is the ``[farm]`` extra; it is imported only when such a link is opened, so every other link
works without it and a farm link without it is a ConfigError saying what to install.
"""

from __future__ import annotations

from importlib.util import find_spec

from harness.core.errors import ConfigError

INSTALL_HINT = "pip install 'edge-harness[farm]' (labgrid >= 24, which talks gRPC to labgrid-coordinator)"


def require_labgrid(url: str) -> None:
    """A ConfigError naming the extra when labgrid is not installed."""
    if find_spec("labgrid") is None:
        raise ConfigError(f"link '{url}' names a labgrid place, but labgrid is not installed", hint=INSTALL_HINT)
