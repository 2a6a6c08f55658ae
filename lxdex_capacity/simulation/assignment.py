"""Which shard holds which market: strided by activity rank, so every shard gets its share of the
busy markets.

Market ids are activity ranks (0 = the busiest), so contiguous blocks would hand the Zipf head and
the deepest books to the first shard.  Striding gives shard ``k`` of ``K`` the markets
``k, k+K, k+2K, ...``: every shard holds every K-th rank of every tier, its expected flow share and
expected resting orders within one market's worth of ``1/K``.  The assignment is a pure function
of (markets, K); :func:`expected_load` says what each shard should carry under a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scenarios.activity import zipf_weights
from ..scenarios.config import Scenario
from ..scenarios.generator import Generator
from ..scenarios.tiers import tier_ranges

__all__ = ["ASSIGNMENT", "ShardLoad", "shard_of", "local_index", "expected_load"]

ASSIGNMENT = "strided by activity rank: market m on shard m mod K, as its local market m div K"


@dataclass(frozen=True)
class ShardLoad:
    shard: int
    markets: int
    flow_share: float  # expected share of the run's flow orders
    resting_orders: float  # expected seeded resting orders


def shard_of(markets: np.ndarray, shards: int) -> np.ndarray:
    return np.asarray(markets) % shards


def local_index(markets: np.ndarray, shards: int) -> np.ndarray:
    return np.asarray(markets) // shards


def _count_in(start: int, stop: int, shard: int, shards: int) -> int:
    """How many ranks in ``start .. stop - 1`` are ``shard`` mod ``shards``."""
    return len(range(start + (shard - start) % shards, stop, shards))


def expected_load(scenario: Scenario, shards: int) -> list[ShardLoad]:
    n = scenario.markets
    weights = zipf_weights(n, Generator(scenario).zipf_exponent)
    return [
        ShardLoad(
            shard=k,
            markets=len(range(k, n, shards)),
            flow_share=float(weights[k::shards].sum()),
            resting_orders=float(sum(_count_in(start, stop, k, shards) * (t.low + t.high) / 2
                                     for t, start, stop in tier_ranges(scenario.tiers, n))),
        )
        for k in range(shards)
    ]
