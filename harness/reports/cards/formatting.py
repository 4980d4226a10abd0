"""How a card writes a metric: rates in percent, FA/h as a rate, intervals in brackets or as "x ± y"."""

from __future__ import annotations

import math

from harness.reports import numbers

RATE_METRICS = frozenset({"detection_rate", "frr", "fpr", "accuracy", "keyword_fpr"})

LABELS = {
    "detection_rate": "detection rate (%)",
    "frr": "false rejection rate (%)",
    "fa_per_hour": "false accepts per hour",
    "fpr": "negative clips with a false accept (%)",
    "accuracy": "top-1 accuracy (%)",
    "keyword_fpr": "non-keyword clips classified as a keyword (%)",
}

DEFINITIONS = {
    "detection_rate": "positive clips (the wake phrase was spoken) with a detection from the phrase start to "
                      "the tolerance after its end, over all positive clips",
    "frr": "positive clips without such a detection, over all positive clips (1 - detection rate)",
    "fa_per_hour": "detections on clips without the wake phrase, per hour of that audio",
    "fpr": "clips without the wake phrase that got at least one detection, over all such clips",
    "accuracy": "clips whose top-1 class is the expected class, over all clips",
    "keyword_fpr": "clips that hold no keyword but were classified as one, over all such clips",
}


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def scale(metric: str) -> float:
    """Rates are shown in percent; FA/h as is."""
    return 100.0 if metric in RATE_METRICS else 1.0


def number(value: float) -> str:
    """A displayed number: three significant digits, thousands separators, never scientific notation."""
    return numbers.significant(value, 3)


def shown(metric: str, value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if metric in RATE_METRICS:
        return f"{value * 100.0:.1f}"
    return number(value)


def bracket(metric: str, value: float, low: float, high: float) -> str:
    """``91.7 [64.6, 98.5]``: the estimate and its interval in display units."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{shown(metric, value)} [{shown(metric, low)}, {shown(metric, high)}]"


def plus_minus(metric: str, value: float, low: float, high: float) -> str:
    """``91.7 ± 27.1``: the ± is the larger distance from the estimate to a bound (intervals are asymmetric)."""
    if value is None or math.isnan(value):
        return "n/a"
    half = max(value - low, high - value) if not (math.isnan(low) or math.isnan(high)) else float("nan")
    return f"{shown(metric, value)} ± {shown(metric, half)}"

