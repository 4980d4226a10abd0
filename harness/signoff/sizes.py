"""Intervals the run tables lack (quantiles, batch means) and how many more samples would decide a gate.

The extra-samples figures are power estimates: the sample size at which, if the point estimate stayed
where it is, the interval drawn at the inflated level z(1 - alpha/2) + z(power) would exclude the threshold,
so a new measurement decides the gate with probability about ``power``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from harness.core.verdict import Verdict
from harness.evaluation.intervals import poisson_rate, wilson
from harness.signoff.gates import Op, decide

LIMIT = 10**9


def z_of(confidence: float) -> float:
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def planning_confidence(confidence: float, power: float) -> float:
    """The two-sided level whose z is z(confidence) + z(power)."""
    return float(2.0 * stats.norm.cdf(z_of(confidence) + stats.norm.ppf(power)) - 1.0)


def smallest(decides: Callable[[int], bool], start: int, limit: int = LIMIT) -> int | None:
    """Smallest n >= start with ``decides(n)`` for a monotone predicate; None beyond ``limit``."""
    start = max(start, 1)
    if decides(start):
        return start
    low, high = start, start * 2
    while not decides(high):
        if high > limit:
            return None
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if decides(mid) else (mid, high)
    return high


def order_indices(n: int, q: float, confidence: float) -> tuple[int, int]:
    """1-based order statistics (l, u) with P(x_(l) <= quantile_q <= x_(u)) >= confidence; l = 0 or u = n + 1
    means the interval is unbounded on that side (too few samples)."""
    alpha = 1.0 - confidence
    low = int(stats.binom.ppf(alpha / 2.0, n, q))
    high = int(stats.binom.ppf(1.0 - alpha / 2.0, n, q)) + 1
    return low, high


def quantile_interval(samples: np.ndarray, q: float, confidence: float) -> tuple[float, float, float]:
    """Quantile ``q`` (0-1) of the samples and its distribution-free (binomial order-statistic) interval."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    low, high = order_indices(n, q, confidence)
    lo = float(x[low - 1]) if low >= 1 else -math.inf
    hi = float(x[high - 1]) if high <= n else math.inf
    return float(np.percentile(x, q * 100.0)), lo, hi


def quantile_extra(samples: np.ndarray, q: float, threshold: float, confidence: float, power: float) -> int | None:
    """Extra samples until the order-statistic interval excludes ``threshold``, the empirical CDF held fixed."""
    x = np.asarray(samples, dtype=float)
    below = float(np.mean(x <= threshold))
    conf = planning_confidence(confidence, power)

    def decides(m: int) -> bool:
        low, high = order_indices(m, q, conf)
        count = math.floor(m * below + 1e-9)
        return (high <= m and high <= count) or (low >= 1 and low > count)

    total = smallest(decides, len(x) + 1)
    return None if total is None else total - len(x)


def proportion_extra(k: float, n: float, threshold: float, op: Op, confidence: float, power: float,
                     deff: float = 1.0) -> int | None:
    """Extra trials until the Wilson interval at the observed rate k/n, drawn at the effective size m / deff
    (the design effect held fixed), excludes ``threshold``."""
    if n <= 0:
        return None
    p = k / n
    if p == threshold:
        return None
    conf = planning_confidence(confidence, power)

    def decides(m: int) -> bool:
        low, high = wilson(p * m / deff, m / deff, conf)
        return decide(low, high, threshold, op) != Verdict.INSUFFICIENT

    total = smallest(decides, int(n) + 1)
    return None if total is None else total - int(n)


def poisson_extra(count: float, hours: float, threshold: float, op: Op, confidence: float, power: float,
                  step_h: float = 0.1, deff: float = 1.0) -> float | None:
    """Extra hours of exposure until the exact Poisson interval at the observed rate, drawn at the effective
    exposure (hours / deff), excludes ``threshold``."""
    if hours <= 0:
        return None
    rate = count / hours
    if rate == threshold:
        return None
    conf = planning_confidence(confidence, power)

    def decides(m: int) -> bool:
        t = m * step_h
        _, low, high = poisson_rate(rate * t / deff, t / deff, conf)
        return decide(low, high, threshold, op) != Verdict.INSUFFICIENT

    total = smallest(decides, math.floor(hours / step_h) + 1)
    return None if total is None else round(total * step_h - hours, 6)


def scaled_extra(value: float, low: float, high: float, threshold: float, n_now: int, confidence: float,
                 power: float) -> int | None:
    """Extra samples for an interval whose half-width shrinks as 1/sqrt(n) (bootstrap and t intervals):
    n_needed = n * (half-width facing the threshold, inflated for power / distance to the threshold)^2."""
    half = (high - value) if threshold > value else (value - low)
    distance = abs(threshold - value)
    if distance == 0 or not math.isfinite(half) or n_now <= 0:
        return None
    inflate = (z_of(confidence) + float(stats.norm.ppf(power))) / z_of(confidence)
    needed = math.ceil(n_now * (half * inflate / distance) ** 2)
    return max(1, needed - n_now)


def mean_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean of ``values`` with its Student-t interval."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(1.0 - (1.0 - confidence) / 2.0, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half
