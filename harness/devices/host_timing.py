"""One host timing per model within a run, given to every simulated target of that run.

A simulated target's host columns time the real model on this host, which is the same loop whatever target
is simulated: the run times each model once (same files, runtime options, runs and warm-up), on the seeded
inputs of the first target measured, and every simulated target reports that measurement. The memo belongs
to one run (the runner gives each execution a fresh one) and never leaves its process with its contents, so
measurements cannot mix runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


class HostTimings:
    """Host latency samples by what was timed; ``timed`` measures a key once and returns the same samples after."""

    def __init__(self) -> None:
        self._samples: dict[Hashable, np.ndarray] = {}
        self._lock = threading.Lock()

    def timed(self, key: Hashable, measure: Callable[[], np.ndarray]) -> np.ndarray:
        """The samples recorded under ``key``, measured now (under the lock: one timing loop at a time) if new."""
        with self._lock:
            if key not in self._samples:
                samples = np.asarray(measure())
                samples.flags.writeable = False  # shared by every target: no caller may change it
                self._samples[key] = samples
            return self._samples[key]

    def __len__(self) -> int:
        return len(self._samples)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (a job sent to a Dask worker), it arrives empty: another process times for itself."""
        return (HostTimings, ())
