"""Tiered book depth: how many resting orders each market holds, by activity rank.

The default table is the published methodology's: the 20 most active markets hold 1000-5000
resting orders, the next 80 500-1000, the next 900 100-500, the next 4000 20-100, the rest 5-20.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Tier", "DEFAULT_TIERS", "tier_ranges", "tier_table", "expected_orders"]


@dataclass(frozen=True)
class Tier:
    """Markets of ranks below ``up_to_rank`` (and above the previous tier) hold ``low..high`` orders."""

    up_to_rank: int | None  # None: every remaining market
    low: int
    high: int


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier(20, 1000, 5000),
    Tier(100, 500, 1000),
    Tier(1000, 100, 500),
    Tier(5000, 20, 100),
    Tier(None, 5, 20),
)


def tier_ranges(tiers: tuple[Tier, ...], n_markets: int) -> Iterator[tuple[Tier, int, int]]:
    """``(tier, first rank, stop rank)`` for every tier that holds at least one of ``n_markets``."""
    start = 0
    for tier in tiers:
        stop = n_markets if tier.up_to_rank is None else min(tier.up_to_rank, n_markets)
        if stop > start:
            yield tier, start, stop
        start = max(start, stop)


def expected_orders(tiers: tuple[Tier, ...], n_markets: int) -> float:
    """Mean total resting orders the table gives ``n_markets`` markets (uniform depth within a tier)."""
    return sum((stop - start) * (t.low + t.high) / 2 for t, start, stop in tier_ranges(tiers, n_markets))


def tier_table(tiers: tuple[Tier, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(stops, lows, highs)`` as int64 arrays for the kernels: ranks below ``stops[t]`` (and at or
    above the previous stop) hold ``lows[t]..highs[t]`` orders; an open last tier stops at int64's max."""
    stops = np.array([np.iinfo(np.int64).max if t.up_to_rank is None else t.up_to_rank for t in tiers], dtype=np.int64)
    return stops, np.array([t.low for t in tiers], dtype=np.int64), np.array([t.high for t in tiers], dtype=np.int64)
