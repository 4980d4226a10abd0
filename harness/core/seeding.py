"""Seeded random generators named by what they are for, so a run is reproducible from its seed."""

from __future__ import annotations

import zlib

import numpy as np


def seeded_rng(seed: int, *names: str) -> np.random.Generator:
    """A generator determined by the run seed and the names of what it is for."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])
