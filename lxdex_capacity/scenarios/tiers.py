"""Tiered book depth: how many resting orders each market holds, by activity rank.

The default table is the published methodology's: the 20 most active markets hold 1000-5000
resting orders, the next 80 500-1000, the next 900 100-500, the next 4000 20-100, the rest 5-20.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

__all__ = ["Tier", "DEFAULT_TIERS", "tier_ranges", "expected_orders", "draw_depths"]


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


def draw_depths(n_markets: int, rng: np.random.Generator, tiers: tuple[Tier, ...] = DEFAULT_TIERS) -> np.ndarray:
    """Resting-order count per market (market id = activity rank), uniform within each tier.

    Markets past a table without an open-ended last tier hold no orders."""
    depths = np.zeros(n_markets, dtype=np.int64)
    for tier, start, stop in tier_ranges(tiers, n_markets):
        depths[start:stop] = rng.integers(tier.low, tier.high + 1, size=stop - start)
    return depths
