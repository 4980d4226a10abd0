"""Confidence intervals for proportions (k of n) and for Poisson rates (count per exposure), and the design
effect of clips clustered by speaker that turns n into an effective sample size.

Every interval function broadcasts over numpy arrays and returns plain floats for scalar inputs. An empty
sample (n == 0, exposure == 0) gives NaN bounds rather than an exception, so a table of groups can
carry a group with no clips.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike

Bound = float | np.ndarray


def _stats() -> ModuleType:
    """scipy.stats, imported on first use: it is half a second of imports that a process drawing figures (which
    imports the group metrics for their names) never needs."""
    from scipy import stats

    return stats


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
    z = _stats().norm.ppf(1.0 - _alpha(confidence) / 2.0)
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
        beta = _stats().beta
        low = beta.ppf(alpha / 2.0, k_arr, n_arr - k_arr + 1.0)
        high = beta.ppf(1.0 - alpha / 2.0, k_arr + 1.0, n_arr - k_arr)
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
        chi2 = _stats().chi2
        mu_low = np.where(c > 0, chi2.ppf(alpha / 2.0, 2.0 * c) / 2.0, 0.0)
        mu_high = chi2.ppf(1.0 - alpha / 2.0, 2.0 * c + 2.0) / 2.0
        valid = e > 0
        rate = np.where(valid, c / e, np.nan)
        low = np.where(valid, mu_low / e, np.nan)
        high = np.where(valid, mu_high / e, np.nan)
    return _out(rate, low, high)



def design_effect(k: ArrayLike, e: ArrayLike, spread: ArrayLike, clusters: ArrayLike, poisson: bool = False) -> Bound:
    """Kish's design effect of a proportion (or Poisson rate) K/E summed over clusters (speakers), floored at 1.

    ``k``, ``e``: the totals K and E; ``spread``: sum over clusters of (k_j - (K/E) e_j)^2; ``clusters``: how
    many clusters have exposure. deff = (the cluster-robust variance of K/E, spread / E^2) / (the binomial
    p(1 - p)/E, or the Poisson K/E^2). It is 1 when no variance can be apportioned (p is 0 or 1) and with a
    single cluster, whose between-cluster variance cannot be estimated (the speaker minimum guards such a
    group); NaN without exposure.
    """
    k_arr, e_arr, s_arr, c_arr = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (k, e, spread, clusters)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = k_arr / e_arr
        model = k_arr / e_arr**2 if poisson else rate * (1.0 - rate) / e_arr
        deff = np.maximum(1.0, (s_arr / e_arr**2) / model)
    deff = np.where((model > 0) & (c_arr >= 2), deff, 1.0)
    return _out(np.where(e_arr > 0, deff, np.nan))[0]
