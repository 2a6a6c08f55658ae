"""Tiered book depth: how many resting orders each market holds, by activity rank.

The default table is the published methodology's: the 20 most active markets hold 1000-5000
resting orders, the next 80 500-1000, the next 900 100-500, the next 4000 20-100, the rest 5-20.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, NamedTuple, Protocol, TypeVar

import numpy as np
from pydantic import Field

from ..schema import FileModel, at_least

__all__ = ["Tier", "Depth", "DEFAULT_TIERS", "tier_ranges", "tier_table", "expected_orders", "scaled_depths", "scaled_tiers", "MAX_MARKETS",
           "MAX_DEPTH"]

MAX_MARKETS = 100_000_000  # the simulator's largest universe
MAX_DEPTH = 1_000_000_000  # resting orders one market may be seeded with (an engine holds at most 2**31 - 1 in all)


class Tier(FileModel):
    """Markets of ranks below ``up_to_rank`` (and above the previous tier) hold ``low..high`` orders."""

    up_to_rank: Annotated[int, Field(ge=1, le=MAX_MARKETS)] | None = None  # None: every remaining market
    low: Annotated[int, Field(ge=0, le=MAX_DEPTH)]
    high: Annotated[int, Field(ge=0, le=MAX_DEPTH)]

    _high_at_least_low = at_least("high", than="low")


class Depth(NamedTuple):
    """A tier as plain numbers, without a scenario's limits: a plan may ask for books deeper than a scenario may seed."""

    up_to_rank: int | None
    low: int
    high: int


class _TierShape(Protocol):
    """What the functions below read of a tier: a :class:`Tier` or a :class:`Depth`."""

    @property
    def up_to_rank(self) -> int | None: ...
    @property
    def low(self) -> int: ...
    @property
    def high(self) -> int: ...


T = TypeVar("T", bound=_TierShape)


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier(up_to_rank=20, low=1000, high=5000),
    Tier(up_to_rank=100, low=500, high=1000),
    Tier(up_to_rank=1000, low=100, high=500),
    Tier(up_to_rank=5000, low=20, high=100),
    Tier(up_to_rank=None, low=5, high=20),
)


def tier_ranges(tiers: Sequence[T], n_markets: int) -> Iterator[tuple[T, int, int]]:
    """``(tier, first rank, stop rank)`` for every tier that holds at least one of ``n_markets``."""
    start = 0
    for tier in tiers:
        stop = n_markets if tier.up_to_rank is None else min(tier.up_to_rank, n_markets)
        if stop > start:
            yield tier, start, stop
        start = max(start, stop)


def expected_orders(tiers: Sequence[_TierShape], n_markets: int) -> float:
    """Mean total resting orders the table gives ``n_markets`` markets (uniform depth within a tier)."""
    return sum((stop - start) * (t.low + t.high) / 2 for t, start, stop in tier_ranges(tiers, n_markets))


def scaled_depths(tiers: Sequence[_TierShape], n_markets: int, resting_orders: float) -> tuple[Depth, ...]:
    """``tiers`` with every depth scaled so that ``n_markets`` markets rest about ``resting_orders`` in all
    (each tier keeps its share; depths round to whole orders, at least 1 where the table had any), as plain numbers."""
    expected = expected_orders(tiers, n_markets)
    if expected <= 0 or resting_orders == expected:
        return tuple(Depth(t.up_to_rank, t.low, t.high) for t in tiers)
    scale = resting_orders / expected

    def depth(d: int) -> int:
        return max(round(d * scale), 1 if d and resting_orders > 0 else 0)

    return tuple(Depth(t.up_to_rank, depth(t.low), max(depth(t.high), depth(t.low))) for t in tiers)


def scaled_tiers(tiers: tuple[Tier, ...], n_markets: int, resting_orders: float) -> tuple[Tier, ...]:
    """:func:`scaled_depths` as a scenario's tiers (validated: a depth beyond :data:`MAX_DEPTH` is refused)."""
    expected = expected_orders(tiers, n_markets)
    if expected <= 0 or resting_orders == expected:
        return tiers
    return tuple(Tier(up_to_rank=d.up_to_rank, low=d.low, high=d.high) for d in scaled_depths(tiers, n_markets, resting_orders))


def tier_table(tiers: tuple[Tier, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(stops, lows, highs)`` as int64 arrays for the kernels: ranks below ``stops[t]`` (and at or
    above the previous stop) hold ``lows[t]..highs[t]`` orders; an open last tier stops at int64's max."""
    stops = np.array([np.iinfo(np.int64).max if t.up_to_rank is None else t.up_to_rank for t in tiers], dtype=np.int64)
    return stops, np.array([t.low for t in tiers], dtype=np.int64), np.array([t.high for t in tiers], dtype=np.int64)
