"""Confidence intervals for proportions (k of n) and for Poisson rates (count per exposure), and the design
effect of clips clustered by speaker that turns n into an effective sample size.

Every interval function broadcasts over numpy arrays and returns plain floats for scalar inputs. An empty
sample (n == 0, exposure == 0) gives NaN bounds rather than an exception, so a table of groups can
carry a group with no clips.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

Bound = float | np.ndarray


def _alpha(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return 1.0 - confidence


def _counts(k: ArrayLike, n: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError("counts must satisfy 0 <= k <= n")
    return k_arr, n_arr


def _out(*arrays: np.ndarray) -> tuple[Bound, ...]:
    return tuple(float(a) if a.ndim == 0 else a for a in arrays)


def wilson(k: ArrayLike, n: ArrayLike, confidence: float = 0.95) -> tuple[Bound, Bound]:
    """Wilson score interval for a binomial proportion k/n (no continuity correction)."""
    z = stats.norm.ppf(1.0 - _alpha(confidence) / 2.0)
    k_arr, n_arr = _counts(k, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (k_arr + z * z / 2.0) / (n_arr + z * z)
        half = z / (n_arr + z * z) * np.sqrt(k_arr * (n_arr - k_arr) / n_arr + z * z / 4.0)
    low = np.where(n_arr > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n_arr > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # At k == 0 (k == n) the bound is 0 (1) algebraically; pin it against rounding.
    low = np.where(k_arr == 0, np.where(n_arr > 0, 0.0, np.nan), low)
    high = np.where((k_arr == n_arr) & (n_arr > 0), 1.0, high)
    return _out(low, high)


def clopper_pearson(k: ArrayLike, n: ArrayLike, confidence: float = 0.95) -> tuple[Bound, Bound]:
    """Exact (Clopper-Pearson) interval for k/n from beta quantiles."""
    alpha = _alpha(confidence)
    k_arr, n_arr = _counts(k, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = stats.beta.ppf(alpha / 2.0, k_arr, n_arr - k_arr + 1.0)
        high = stats.beta.ppf(1.0 - alpha / 2.0, k_arr + 1.0, n_arr - k_arr)
    empty = n_arr <= 0
    low = np.where(empty, np.nan, np.where(k_arr == 0, 0.0, low))
    high = np.where(empty, np.nan, np.where(k_arr == n_arr, 1.0, high))
    return _out(low, high)


def poisson_rate(
    count: ArrayLike, exposure: ArrayLike, confidence: float = 0.95
) -> tuple[Bound, Bound, Bound]:
    """Rate count/exposure with its exact (Garwood, chi-square) interval.

    With exposure in hours this is false accepts per hour and its interval.
    """
    alpha = _alpha(confidence)
    c, e = np.broadcast_arrays(np.asarray(count, dtype=float), np.asarray(exposure, dtype=float))
    if np.any(c < 0) or np.any(e < 0):
        raise ValueError("count and exposure must be non-negative")
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_low = np.where(c > 0, stats.chi2.ppf(alpha / 2.0, 2.0 * c) / 2.0, 0.0)
        mu_high = stats.chi2.ppf(1.0 - alpha / 2.0, 2.0 * c + 2.0) / 2.0
        valid = e > 0
        rate = np.where(valid, c / e, np.nan)
        low = np.where(valid, mu_low / e, np.nan)
        high = np.where(valid, mu_high / e, np.nan)
    return _out(rate, low, high)


def design_effect(k: ArrayLike, e: ArrayLike, poisson: bool = False) -> float:
    """Kish's design effect of a proportion (or Poisson rate) summed over clusters (speakers), floored at 1.

    ``k[j]`` and ``e[j]`` are cluster j's numerator and exposure (its clips for a proportion, its hours for
    a rate). deff = (cluster-robust variance of the ratio K/E: sum_j (k_j - p e_j)^2 / E^2) / (the binomial
    p(1 - p)/E, or the Poisson K/E^2). It is 1 when no variance can be apportioned (p is 0 or 1) and with a
    single cluster, whose between-cluster variance cannot be estimated (the speaker minimum guards such a
    group); NaN without exposure.
    """
    k_arr, e_arr = np.asarray(k, dtype=float), np.asarray(e, dtype=float)
    k_sum, e_sum = float(k_arr.sum()), float(e_arr.sum())
    if e_sum <= 0:
        return float("nan")
    p = k_sum / e_sum
    model = k_sum / e_sum**2 if poisson else p * (1.0 - p) / e_sum
    if model <= 0 or np.count_nonzero(e_arr > 0) < 2:
        return 1.0
    clustered = float(np.sum((k_arr - p * e_arr) ** 2)) / e_sum**2
    return max(1.0, clustered / model)
