"""Arrival processes for open-loop latency runs: when each order arrives, in nanoseconds from the start.

* **poisson**: independent exponential gaps at the offered rate;
* **bursty**: a two-state Markov-modulated Poisson process (on/off): during "on" periods orders arrive
  at ``burst`` times the offered rate, during "off" periods at a low rate, the periods' lengths
  exponential, so that the long-run rate is the offered one;
* **lobster**: the gaps between the messages of a real trading day, scaled to the offered rate.

The same seed gives the same arrivals.
"""

from __future__ import annotations

import numpy as np

__all__ = ["poisson", "bursty", "scaled_gaps", "check_day", "KINDS"]

KINDS = ("poisson", "bursty", "lobster")
_NS = 1e9


def poisson(rate_per_s: float, n: int, seed: int) -> np.ndarray:
    """``n`` arrival times (int64 ns, non-decreasing) of a Poisson process at ``rate_per_s``."""
    gaps = np.random.default_rng([seed, 0x9017]).exponential(_NS / rate_per_s, n)
    return np.cumsum(gaps).astype(np.int64)


def bursty(rate_per_s: float, n: int, seed: int, burst: float = 4.0, on_share: float = 0.2, period_orders: float = 250.0) -> np.ndarray:
    """``n`` arrival times of an on/off Markov-modulated Poisson process with long-run rate ``rate_per_s``:
    ``on_share`` of the time at ``burst`` x the rate, the rest at the rate that makes up the mean;
    an on period lasts ``period_orders`` orders' worth of time at the mean rate, on average."""
    if not burst * on_share < 1.0:
        raise ValueError("burst x on_share must be below 1 (the off periods keep some rate)")
    rng = np.random.default_rng([seed, 0xB0257])
    off_rate = rate_per_s * (1.0 - burst * on_share) / (1.0 - on_share)
    on_rate = rate_per_s * burst
    mean_on = period_orders / rate_per_s  # seconds
    mean_off = mean_on * (1.0 - on_share) / on_share
    out = np.empty(n, dtype=np.float64)
    t, k, on = 0.0, 0, False
    while k < n:
        length = rng.exponential(mean_on if on else mean_off)
        rate = on_rate if on else off_rate
        count = rng.poisson(rate * length)
        take = min(count, n - k)
        if take:
            out[k:k + take] = t + np.sort(rng.uniform(0.0, length, take))
            k += take
        t += length
        on = not on
    return (out[:n] * _NS).astype(np.int64)


def check_day(times_s: np.ndarray, n: int) -> None:
    """Refuse a day whose gaps cannot pace ``n`` arrivals: no time between its messages, or none in the
    window of ``n`` gaps that :func:`scaled_gaps` uses (the day repeated when shorter)."""
    from ..errors import InputError

    gaps = np.diff(np.asarray(times_s, dtype=np.float64))
    gaps = gaps[gaps >= 0]
    if len(gaps) == 0 or gaps.sum() <= 0:
        raise InputError(f"the day's {len(times_s):,} messages carry no time between them: their gaps cannot pace arrivals")
    window = np.tile(gaps, -(-n // len(gaps)))[:n]
    if window.sum() <= 0:
        raise InputError(f"the day's first {n:,} gaps carry no time (they all fall at one instant): they cannot pace "
                         f"{n:,} arrivals at a rate; use more messages per rate or another day")


def scaled_gaps(times_s: np.ndarray, rate_per_s: float, n: int) -> np.ndarray:
    """``n`` arrival times following the gaps of ``times_s`` (a day's message times, seconds, non-decreasing),
    scaled so that their mean rate is ``rate_per_s``; the day repeats if ``n`` is longer."""
    gaps = np.diff(np.asarray(times_s, dtype=np.float64))
    gaps = gaps[gaps >= 0]
    if len(gaps) == 0 or gaps.sum() <= 0:
        raise ValueError("the day's messages carry no time between them")
    reps = -(-n // len(gaps))
    g = np.tile(gaps, reps)[:n]
    g *= (n / rate_per_s) / g.sum() if g.sum() > 0 else 0.0
    return (np.cumsum(g) * _NS).astype(np.int64)
