"""Numbers for humans, the same in Markdown, HTML and the terminal: thousands separators, SI prefixes, binary
units for bytes, never scientific notation, and as many digits as an interval's width supports."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

MISSING = "n/a"
INFINITY = "∞"
BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
SI_PREFIXES = {-12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}
DIGITS = 4
SCIENTIFIC = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?[eE][+-]?\d+(?![\w.])")


def real(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing (None, NaN, not a number)."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fixed(value: float, decimals: int, *, strip: bool) -> str:
    """``value`` rounded to ``decimals`` places (negative: to tens, hundreds, ...) with thousands separators."""
    if decimals < 0:
        value = round(value, decimals)
    text = f"{value:,.{max(decimals, 0)}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") or set(text) <= {"-", "0", ".", ","} else text


def significant(value: Any, digits: int = DIGITS) -> str:
    """``value`` to ``digits`` significant digits in plain decimal notation (``8,389,000``, ``0.0003289``)."""
    number = real(value)
    if number is None:
        return MISSING
    if math.isinf(number):
        return INFINITY if number > 0 else "-" + INFINITY
    if number == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(number)))
    return _fixed(number, decimals, strip=True)


def interval_decimals(low: Any, high: Any) -> int | None:
    """Decimal places that show an interval's width with two significant digits; None without a finite width."""
    lo, hi = real(low), real(high)
    if lo is None or hi is None or math.isinf(lo) or math.isinf(hi) or hi <= lo:
        return None
    return 1 - math.floor(math.log10(hi - lo))


def with_interval(value: Any, low: Any, high: Any, digits: int = DIGITS) -> str:
    """``2.9 [1.8, 5.7]``: the estimate and its bounds to the precision the interval's width supports, the bounds
    rounded outward (never a narrower interval than the one computed).

    A degenerate interval (both bounds equal the value) is left out; an unbounded side shows as ∞."""
    number, lo, hi = real(value), real(low), real(high)
    if number is None:
        return MISSING
    if lo is None and hi is None or lo == hi == number:
        return significant(number, digits)
    decimals = interval_decimals(lo, hi)
    if decimals is None:
        return f"{significant(number, digits)} [{significant(lo, digits)}, {significant(hi, digits)}]"
    low_shown, high_shown = _outward(lo, decimals, up=False), _outward(hi, decimals, up=True)
    parts = [_fixed(x, decimals, strip=False) for x in (number, low_shown, high_shown)]
    return f"{parts[0]} [{parts[1]}, {parts[2]}]"


def _outward(bound: float, decimals: int, *, up: bool) -> float:
    """A bound rounded away from the estimate, so rounding never narrows an interval."""
    scale = 10.0 ** decimals
    scaled = bound * scale
    step = math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9)  # slack: 5.7 stays 5.7, not 5.8
    return step / scale


def binary_bytes(value: Any, digits: int = DIGITS) -> str:
    """A byte count in binary units: ``812 B``, ``25.3 KiB``, ``8 MiB``."""
    number = real(value)
    if number is None:
        return MISSING
    power = 0
    while abs(number) >= 1024 and power < len(BINARY_UNITS) - 1:
        number /= 1024
        power += 1
    return f"{significant(number, digits)} {BINARY_UNITS[power]}"


def bytes_interval(value: Any, low: Any, high: Any) -> str:
    """A byte count with its interval in the unit of the value (degenerate intervals left out)."""
    number, lo, hi = real(value), real(low), real(high)
    if number is None:
        return MISSING
    if lo is None or hi is None or lo == hi == number:
        return binary_bytes(number)
    text = binary_bytes(number)
    unit = text.rsplit(" ", 1)[1]
    scale = 1024 ** BINARY_UNITS.index(unit)
    return f"{with_interval(number / scale, lo / scale, hi / scale)} {unit}"


def value_and_interval(value: Any, low: Any, high: Any, unit: str = "") -> tuple[str, str]:
    """(value, "[low, high]") to the interval's precision, bytes in binary units; "" for a missing or point interval."""
    if real(value) is None:
        return MISSING, ""
    in_bytes = unit in ("bytes", "B")
    if real(low) is None and real(high) is None or low == high == value:
        return (binary_bytes(value) if in_bytes else significant(value)), ""
    text = bytes_interval(value, low, high) if in_bytes else with_interval(value, low, high)
    if " [" not in text:
        return text, ""
    shown, bounds = text.split(" [", 1)
    suffix = f" {text.rsplit(' ', 1)[1]}" if in_bytes else ""
    return shown + suffix, "[" + bounds


def si(value: Any, unit: str, digits: int = DIGITS) -> str:
    """A value in base units with an SI prefix that keeps the mantissa in [1, 1000): ``19.77 µJ``, ``3.9 mW``."""
    number = real(value)
    if number is None:
        return MISSING
    if number == 0 or math.isinf(number):
        return f"{significant(number, digits)} {unit}"
    exponent = max(min(3 * math.floor(math.log10(abs(number)) / 3), 12), -12)
    mantissa = number / 10.0 ** exponent
    if abs(float(significant(mantissa, digits).replace(",", ""))) >= 1000 and exponent < 12:
        exponent, mantissa = exponent + 3, mantissa / 1000  # 999.96 rounds up to the next prefix
    return f"{significant(mantissa, digits)} {SI_PREFIXES[exponent]}{unit}"


def plain(value: Any, digits: int = DIGITS) -> str:
    """Any table value: missing as n/a, booleans as yes/no, whole numbers with separators, other floats via
    ``significant``."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"  # a whole number is exact: rounding it would only lose digits
        return significant(value, digits)
    return str(value)


def in_text(text: str, digits: int = DIGITS) -> str:
    """``text`` with every number in scientific notation (``1.169e+06``) rewritten in plain decimals."""
    return SCIENTIFIC.sub(lambda m: significant(float(m.group(0)), digits), text)
