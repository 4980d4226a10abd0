"""Numbers for humans (harness.reports.numbers): exact strings for the cases the documents met."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from harness.reports import numbers
from harness.reports.tables import format_cell, to_markdown


@pytest.mark.parametrize(("value", "text"), [
    (8388608.5, "8,389,000"), (32390.47, "32,390"), (2.922309, "2.922"), (0.1183895, "0.1184"),
    (3.288596e-05, "0.00003289"), (-0.0456789, "-0.04568"), (0.0, "0"), (float("inf"), "∞"), (float("nan"), "n/a"),
    (None, "n/a"), (9.99996, "10"),
])
def test_significant_digits_without_scientific_notation(value, text) -> None:
    assert numbers.significant(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (812, "812 B"), (1024, "1 KiB"), (25904, "25.3 KiB"), (80824, "78.93 KiB"), (8388608, "8 MiB"),
    (1169408, "1.115 MiB"), (3 * 1024 ** 3, "3 GiB"),
])
def test_bytes_in_binary_units(value, text) -> None:
    assert numbers.binary_bytes(value) == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (1.977e-5, "J", "19.77 µJ"), (0.003948, "W", "3.948 mW"), (0.0029223, "s", "2.922 ms"), (1500.0, "W", "1.5 kW"),
    (0.9999999, "W", "1 W"), (0.0, "J", "0 J"),
])
def test_si_prefixes(value, unit, text) -> None:
    assert numbers.si(value, unit) == text


@pytest.mark.parametrize(("value", "low", "high", "text"), [
    (2.922309, 1.818082, 5.682886, "2.9 [1.8, 5.7]"),          # width 3.9: two significant digits of the width
    (0.1183895, 0.07365467, 0.2302268, "0.12 [0.07, 0.24]"),    # width 0.16; bounds rounded outward
    (1663.2, 1200.0, 4500.0, "1,700 [1,200, 4,500]"),           # width 3,300: rounded to hundreds
    (0.83, 0.55, 0.95, "0.83 [0.55, 0.95]"),
    (0.0, 0.0, 274.0397, "0 [0, 280]"),                          # an upper bound is never rounded down
    (195.6, 132.3, math.inf, "195.6 [132.3, ∞]"),              # an unbounded side: 4 significant digits each
    (80820.0, 80820.0, 80820.0, "80,820"),                      # a point interval says nothing: left out
    (5.0, None, None, "5"),
])
def test_intervals_set_the_digits(value, low, high, text) -> None:
    assert numbers.with_interval(value, low, high) == text


def test_a_byte_interval_is_written_in_the_unit_of_its_value() -> None:
    assert numbers.bytes_interval(80824, 80824, 80824) == "78.93 KiB"
    assert numbers.bytes_interval(2097152, 1572864, 3145728) == "2.0 [1.5, 3.0] MiB"


def test_scientific_numbers_inside_text_are_rewritten() -> None:
    text = "tensor arena vs SRAM 1.169e+06 [1.169e+06, 8.389e+06] B; hash 6e1f and id run-2e5"
    assert numbers.in_text(text) == "tensor arena vs SRAM 1,169,000 [1,169,000, 8,389,000] B; hash 6e1f and id run-2e5"


def test_no_magnitude_comes_out_in_scientific_notation() -> None:
    for value in np.concatenate([np.logspace(-9, 15, 200), -np.logspace(-9, 15, 50)]):
        for text in (numbers.significant(value), numbers.si(value, "W"), numbers.binary_bytes(abs(value)),
                     numbers.with_interval(value, value * 0.9, value * 1.1 + 1e-12)):
            assert not re.search(r"\d[eE][+-]?\d", text), (value, text)


def test_markdown_cells_use_the_same_numbers() -> None:
    assert format_cell(8388608, "sram_bytes") == "8 MiB"
    assert format_cell(True) == "yes" and format_cell(False) == "**no**"
    assert format_cell(32390.47) == "32,390" and format_cell(31557600.0) == "31,557,600"
    frame = pd.DataFrame({"latency_ms_p50": [2.922309, 4.0], "latency_ms_p50_low": [1.818082, np.nan],
                          "latency_ms_p50_high": [5.682886, np.nan], "arena_bytes": [25904, 80824]})
    lines = to_markdown(frame, {"latency_ms_p50": "p50 ms", "arena_bytes": "arena"}).splitlines()
    assert lines[2:] == ["| 2.9 [1.8, 5.7] | 25.3 KiB |", "| 4 | 78.93 KiB |"]


def test_value_and_interval_split_for_tables() -> None:
    assert numbers.value_and_interval(0.83, 0.55, 0.95) == ("0.83", "[0.55, 0.95]")
    assert numbers.value_and_interval(80820, 80820, 80820, "bytes") == ("78.93 KiB", "")
    assert numbers.value_and_interval(2097152, 1572864, 3145728, "bytes") == ("2.0 MiB", "[1.5, 3.0] MiB")
    assert numbers.value_and_interval(None, 1, 2) == ("n/a", "")
