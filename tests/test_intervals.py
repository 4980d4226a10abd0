import math

import numpy as np
import pytest
from scipy import stats

from harness.evaluation.intervals import clopper_pearson, design_effect, poisson_rate, wilson

CASES = [(0, 10), (1, 10), (5, 10), (10, 10), (3, 47), (97, 100), (412, 1000)]


@pytest.mark.parametrize("k,n", CASES)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson(k, n, confidence)
    assert low == pytest.approx(ref.low, abs=1e-12)
    assert high == pytest.approx(ref.high, abs=1e-12)


def test_wilson_closed_form_for_zero_successes() -> None:
    # k = 0: upper bound z^2 / (n + z^2)
    z = stats.norm.ppf(0.975)
    low, high = wilson(0, 20)
    assert low == 0.0
    assert high == pytest.approx(z * z / (20 + z * z), rel=1e-12)


@pytest.mark.parametrize("k,n", CASES)
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_clopper_pearson_matches_scipy(k: int, n: int, confidence: float) -> None:
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    low, high = clopper_pearson(k, n, confidence)
    assert low == pytest.approx(ref.low, abs=1e-10)
    assert high == pytest.approx(ref.high, abs=1e-10)


def test_clopper_pearson_closed_form_edges() -> None:
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n)
    assert clopper_pearson(0, 30) == (0.0, pytest.approx(1 - 0.025 ** (1 / 30), rel=1e-10))
    assert clopper_pearson(30, 30) == (pytest.approx(0.025 ** (1 / 30), rel=1e-10), 1.0)


def test_proportions_vectorise_and_empty_is_nan() -> None:
    k = np.array([0, 3, 0, 412])
    n = np.array([10, 47, 0, 1000])
    for method, name in ((wilson, "wilson"), (clopper_pearson, "exact")):
        low, high = method(k, n)
        assert isinstance(low, np.ndarray) and low.shape == (4,)
        assert np.isnan(low[2]) and np.isnan(high[2])
        for i in (0, 1, 3):
            ref = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(method=name)
            assert low[i] == pytest.approx(ref.low, abs=1e-10)
            assert high[i] == pytest.approx(ref.high, abs=1e-10)
    assert all(math.isnan(x) for x in wilson(0, 0))
    assert all(math.isnan(x) for x in clopper_pearson(0, 0))


def test_invalid_counts_raise() -> None:
    with pytest.raises(ValueError):
        wilson(5, 4)
    with pytest.raises(ValueError):
        clopper_pearson(-1, 4)
    with pytest.raises(ValueError):
        wilson(1, 4, confidence=1.0)


def test_poisson_zero_count_closed_form() -> None:
    # 0 events in 10 h: upper bound -ln(alpha/2) / T
    rate, low, high = poisson_rate(0, 10.0)
    assert (rate, low) == (0.0, 0.0)
    assert high == pytest.approx(-math.log(0.025) / 10.0, rel=1e-10)


def test_poisson_one_count_closed_form() -> None:
    # 1 event: lower mu solves 1 - exp(-mu) = alpha/2, i.e. mu = -ln(1 - alpha/2)
    rate, low, high = poisson_rate(1, 2.0, confidence=0.9)
    assert rate == 0.5
    assert low == pytest.approx(-math.log(0.95) / 2.0, rel=1e-10)
    # upper mu solves (1 + mu) exp(-mu) = alpha/2
    mu_high = high * 2.0
    assert (1 + mu_high) * math.exp(-mu_high) == pytest.approx(0.05, rel=1e-9)


@pytest.mark.parametrize("count", [2, 7, 40])
def test_poisson_bounds_are_exact_tail_inversions(count: int) -> None:
    exposure = 3.5
    rate, low, high = poisson_rate(count, exposure, confidence=0.95)
    assert rate == pytest.approx(count / exposure)
    # P(X >= count | mu_low) = alpha/2 and P(X <= count | mu_high) = alpha/2
    assert stats.poisson.sf(count - 1, low * exposure) == pytest.approx(0.025, rel=1e-8)
    assert stats.poisson.cdf(count, high * exposure) == pytest.approx(0.025, rel=1e-8)


def test_poisson_vectorised_and_zero_exposure_is_nan() -> None:
    rate, low, high = poisson_rate(np.array([0, 3]), np.array([0.0, 1.5]))
    assert np.isnan(rate[0]) and np.isnan(low[0]) and np.isnan(high[0])
    assert rate[1] == 2.0
    assert stats.poisson.cdf(3, high[1] * 1.5) == pytest.approx(0.025, rel=1e-8)
    with pytest.raises(ValueError):
        poisson_rate(-1, 1.0)


def test_design_effect_edges_and_vectorised() -> None:
    """deff = (spread / E^2) / (p (1 - p) / E): 3 of 6 with spread 4.5 is (4.5/36)/(0.25/6) = 3; a single
    cluster or p in {0, 1} cannot apportion variance (1); below 1 is floored; no exposure is NaN."""
    assert design_effect(3, 6, 4.5, 3) == pytest.approx(3.0)
    assert design_effect(3, 6, 4.5, 1) == 1.0 and design_effect(0, 6, 0.0, 3) == 1.0
    assert design_effect(3, 6, 0.1, 3) == 1.0
    assert np.isnan(design_effect(0, 0, 0.0, 0))
    # Poisson: K / E^2 = 4 / 9 against spread / E^2 = (96 / 9) / 9
    assert design_effect(4, 3, 96 / 9, 3, poisson=True) == pytest.approx(8 / 3)
    both = design_effect([3, 3], [6, 6], [4.5, 0.1], [3, 3])
    assert both == pytest.approx([3.0, 1.0])
