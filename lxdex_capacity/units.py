"""Number formats, one definition each: the CLI's tables and the written report both use these.

Rates use decimal prefixes (``12.35M orders/s``); bytes are spelled out with their unit: MB and
GB are decimal (10^6, 10^9), GiB is binary (2^30).  Pure functions of numbers to text, with no
console, so library code (:mod:`lxdex_capacity.reporting`) imports them directly;
:mod:`lxdex_capacity.console` re-exports them for the CLI.
"""

from __future__ import annotations

import math

__all__ = ["si", "mb", "gib", "binary_bytes", "quantity", "price", "duration_text", "rate_text", "duration_words", "NS_UNITS"]

_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "K"))
NS_UNITS = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"))  # durations given in nanoseconds


def si(value: float, unit: str = "") -> str:
    """``12.35M orders/s``: decimal prefixes, as rates are counted (``12.35M`` without a unit)."""
    suffix = f" {unit}" if unit else ""
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor:
            return f"{value / factor:,.2f}{prefix}{suffix}"
    return f"{value:,.2f}{suffix}"


def mb(n: float) -> str:
    """Decimal megabytes (10^6 bytes), as the published report counted."""
    return f"{n / 1e6:,.2f} MB"


def gib(n: float, digits: int = 2) -> str:
    """Binary gibibytes (2^30 bytes), as memory is sold."""
    return f"{n / 2**30:,.{digits}f} GiB"


def binary_bytes(n: float) -> str:
    """A cache's or a working set's size in the largest binary unit it reaches, three significant figures and no
    exponent: ``19.6 KiB``, ``24 MiB``, ``2,250 MiB`` is ``2.2 GiB``."""
    for factor, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            value = n / factor
            return f"{value:.3g} {unit}" if abs(value) < 1000 else f"{value:,.0f} {unit}"
    return f"{n:,.0f} B"


def quantity(value: float, unit: str) -> str:
    """A claim's or a measurement's figure in its own unit: bytes as MB or GB (decimal), ``ns``
    with one decimal, anything else (a rate) with :func:`si`."""
    if unit == "B":
        return f"{value / 1e9:,.3f} GB" if value >= 1e9 else f"{value / 1e6:,.4g} MB"
    if unit == "ns":
        return f"{value:,.1f} ns"
    return si(value, unit)


def price(usd: float | None, usd_per_hour: float | None) -> str:
    """A machine's price: its launch price (``$1,999``), else its hourly price (``$3.06/h``), else ``quote``."""
    if usd is not None:
        return f"${usd:,.0f}"
    return f"${usd_per_hour:,.2f}/h" if usd_per_hour is not None else "quote"


def duration_text(ns: float) -> str:
    """A duration given in nanoseconds, in the largest unit it reaches: ``531 ns``, ``13.5 µs``, ``2.84 ms``, ``1.2 s``."""
    for factor, unit in NS_UNITS:
        if abs(ns) >= factor:
            return f"{_three_digits(ns / factor)} {unit}"
    return f"{ns:,.0f} ns"


def _three_digits(value: float) -> str:
    """``value`` with three significant digits, no exponent (``2.84``, ``13.5``, ``531``, ``1,234``)."""
    decimals = max(0, 2 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{value:,.{decimals}f}"


def rate_text(value: float) -> str:
    """A rate with a decimal prefix and at most three significant digits, no trailing zeros (``200K``, ``1M``, ``1.55M``)."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def duration_words(seconds: float) -> str:
    """A wall-clock duration in the largest unit it reaches, two significant figures: ``45 s``, ``12 min``, ``2.8 h``,
    ``3.5 days``, ``1.2e+04 years``."""
    if not math.isfinite(seconds):
        return "forever"
    for factor, unit in ((365 * 86_400.0, "years"), (86_400.0, "days"), (3600.0, "h"), (60.0, "min"), (1.0, "s")):
        if seconds >= factor or unit == "s":
            return f"{_two_figures(seconds / factor)} {unit}"
    raise AssertionError("unreachable")


def _two_figures(value: float) -> str:
    """``value`` to two significant figures without an exponent below 10,000 (``0.13``, ``2.8``, ``45``, ``500``)."""
    if value >= 1e4:
        return f"{value:.1e}"
    if value >= 10:
        return f"{float(f'{value:.2g}'):,.0f}"
    return f"{value:.2g}"
