"""Intervals on the difference between two runs: Newcombe's hybrid score interval for two proportions, a
bootstrap interval for a latency percentile, and Welch's t interval for mean energy per inference."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from harness.evaluation.intervals import wilson


def newcombe(k_a: float, n_a: float, k_b: float, n_b: float, confidence: float) -> tuple[float, float, float]:
    """p_b - p_a with Newcombe's (1998) method 10: the square-and-add of the two Wilson intervals. Counts may be
    effective (k / deff of n / deff for clips clustered by speaker): the rates stay k/n, the intervals widen."""
    p_a, p_b = k_a / n_a, k_b / n_b
    l_a, u_a = wilson(k_a, n_a, confidence)
    l_b, u_b = wilson(k_b, n_b, confidence)
    d = p_b - p_a
    return d, d - math.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2), d + math.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)


def percentile_delta(a: np.ndarray, b: np.ndarray, q: float, confidence: float, n_boot: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
    """Percentile ``q`` (0-100) of b minus that of a, with a percentile-bootstrap interval (each run resampled)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    boot_a = np.percentile(a[rng.integers(0, len(a), size=(n_boot, len(a)))], q, axis=1)
    boot_b = np.percentile(b[rng.integers(0, len(b), size=(n_boot, len(b)))], q, axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(boot_b - boot_a, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(np.percentile(b, q) - np.percentile(a, q)), float(low), float(high)


def mean_delta(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """mean(b) - mean(a) with Welch's t interval; a zero-variance pair gives a zero-width interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = float(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return d, d, d
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, dof)) * se
    return d, d - half, d + half
