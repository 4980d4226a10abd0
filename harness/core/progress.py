"""The one progress callback every long step takes: ``progress(label, done, total)``."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
