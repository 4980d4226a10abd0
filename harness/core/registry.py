"""Named backends of one kind (runtimes, front ends, importers, power monitors, model builders).

Backends register by name, usually as a class decorator in the module that defines them; the
registry imports those modules on first use. Registering a name twice is an error, and asking for
an unknown name says which names are valid.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from harness.core.errors import ConfigError

T = TypeVar("T")
# Registrations are imported by one thread at a time; another thread asking meanwhile waits for them.
_IMPORTING = threading.RLock()


class Registry(Generic[T]):
    """``kind`` names what is registered in messages ("runtime", "power monitor", ...); ``modules`` are
    imported on first lookup for their registrations."""

    def __init__(self, kind: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._modules = modules
        self._items: dict[str, T] = {}
        self._loaded = not modules
        self._importing = False

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ConfigError(f"{self.kind} '{name}' is registered twice",
                              hint="two backends claim one name: rename one of them")
        self._items[name] = item
        return item

    def register(self, name_of: Callable[[T], str]) -> Callable[[T], T]:
        """A decorator registering what it decorates under ``name_of(it)`` (e.g. a class attribute)."""
        return lambda item: self.add(name_of(item), item)

    def _load(self) -> None:
        if self._loaded:
            return
        with _IMPORTING:
            if self._loaded or self._importing:  # a registering module looking itself up: what is there so far
                return
            self._importing = True
            try:
                for module in self._modules:
                    importlib.import_module(module)
            finally:
                self._importing, self._loaded = False, True

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} '{name}'", hint=f"valid: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return sorted(self._items.items())
