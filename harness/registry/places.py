"""A labgrid place as a link URL names it: ``labgrid://COORDINATOR/PLACE`` or ``labgrid://COORDINATOR/?tag=KEY=VALUE``.

Parsing needs no labgrid, so a profile with a farm link validates on any install; acquiring the place
does (``harness.devices.farm``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from harness.core.errors import ConfigError

SCHEME = "labgrid"
DEFAULT_PORT = 20408  # labgrid-coordinator's default gRPC port
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_FORMS = ("labgrid://HOST[:PORT]/PLACE, labgrid://HOST[:PORT]/?tag=KEY=VALUE[&tag=...], optional &wait=SECONDS "
          "(wait for a held place) and &port=NAME (one of several serial ports); an empty HOST means "
          "$LG_COORDINATOR or 127.0.0.1")


@dataclass(frozen=True)
class PlaceRef:
    """Which place to acquire on which coordinator, how long to wait for it, and which of its serial ports to use."""

    coordinator: str  # HOST:PORT, or "" for $LG_COORDINATOR / 127.0.0.1:20408
    name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    wait_s: float = 0.0
    port_name: str | None = None

    @property
    def label(self) -> str:
        """The place in messages."""
        if self.name:
            return f"place '{self.name}'"
        return "a place tagged " + ", ".join(f"{k}={v}" for k, v in self.tags)

    def url(self) -> str:
        query = [f"tag={quote(k)}={quote(v)}" for k, v in self.tags]
        if self.wait_s:
            query.append(f"wait={self.wait_s:g}")
        if self.port_name:
            query.append(f"port={quote(self.port_name)}")
        return f"{SCHEME}://{self.coordinator}/{self.name or ''}" + ("?" + "&".join(query) if query else "")


def is_place_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() == SCHEME


def parse_place_url(url: str) -> PlaceRef:
    """The place ``url`` names; a ConfigError says which part is wrong and what the valid forms are."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SCHEME:
        raise ConfigError(f"'{url}' is not a labgrid URL", hint=f"valid: {_FORMS}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"'{url}': the coordinator port is not a number from 1 to 65535",
                          hint=f"valid: {_FORMS}") from None
    host = parts.hostname or ""
    if port is not None and not host:
        raise ConfigError(f"'{url}': a coordinator port needs a host", hint=f"valid: {_FORMS}")
    coordinator = f"{host}:{port or DEFAULT_PORT}" if host else ""
    name = parts.path.strip("/") or None
    if name is not None and not _NAME.match(name):
        raise ConfigError(f"'{url}': '{name}' is not a place name", hint="a place name has letters, digits, '_', "
                                                                           f"'.' and '-'; {_FORMS}")
    tags: list[tuple[str, str]] = []
    wait_s, port_name = 0.0, None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "tag":
            tag_key, sep, tag_value = value.partition("=")
            if not sep or not _NAME.match(tag_key) or not _NAME.match(tag_value):
                raise ConfigError(f"'{url}': tag '{value}' is not KEY=VALUE", hint=f"e.g. tag=board=nucleo; {_FORMS}")
            tags.append((tag_key, tag_value))
        elif key == "wait":
            try:
                wait_s = float(value)
            except ValueError:
                wait_s = math.nan
            if not math.isfinite(wait_s) or wait_s < 0:
                raise ConfigError(f"'{url}': wait={value} is not a number of seconds >= 0",
                                  hint="e.g. wait=600 (0: fail at once when the place is held)")
        elif key == "port":
            port_name = value
        else:
            raise ConfigError(f"'{url}': unknown query key '{key}'", hint=f"valid keys: tag, wait, port; {_FORMS}")
    if (name is None) == (not tags):
        raise ConfigError(f"'{url}' names {'both a place and tags' if name else 'no place and no tag'}",
                          hint=f"give one: {_FORMS}")
    return PlaceRef(coordinator, name, tuple(tags), wait_s, port_name)
