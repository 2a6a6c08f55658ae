"""The scenario's random markets and order flow, drawn so that any split of the work draws the same.

:class:`Generator` turns a :class:`~lxdex_capacity.scenarios.config.Scenario` into numbers:

* per market (its id is its activity rank): the seeded depth (uniform within its tier) and a mid
  price (log-uniform);
* per market and n-th seed order: side, distance from the mid (geometric), size (Pareto) and, with
  ``cancel_rate``, a lifetime;
* per flow order ``i`` of the run: its market (Zipf by rank), side, maker or IOC taker, distance or
  reach (geometric), size (Pareto) and a maker's lifetime.

Each number is a hash of (seed, what it is, whose it is), computed by the kernels in
``_kernels``, never a draw from a sequential stream.  So a shard holding some of the markets (its
:class:`Part` of the split) computes exactly the numbers the single-process run computes for
those markets, without computing the others', and the result of a run does not depend on how
it is split.

Random cancels: with ``cancel_rate = r``, every resting order is cancelled after a geometric
number of flow orders with hazard ``h = r / E[resting orders]`` per flow order (the Santa Fe model
of order flow's constant cancellation rate), so the books see about ``r`` cancels per flow order.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from . import _kernels as k
from .activity import zipf_cdf, zipf_exponent_for_share
from .config import Scenario
from .tiers import expected_orders, tier_table

__all__ = ["Generator", "Part", "FlowBatch", "SeedBatch"]

# Streams: what a number is for.  Changing one changes every run's checksums.
_DEPTH, _MID = 1, 2
_SEED = (3, 4, 5, 6)  # side, distance, size, lifetime
_FLOW = (7, 8, 9, 10, 11, 12)  # market, side, taker, distance or reach, size, lifetime
_INTERLEAVE = 13


def _keys(seed: int, *streams: int) -> np.ndarray:
    out = np.empty(len(streams), dtype=np.uint64)
    k.stream_keys(np.uint64(seed), np.array(streams, dtype=np.int64), out)
    return out


@dataclass(frozen=True)
class SeedBatch:
    """Seed orders of a run of consecutive local markets, interleaved as they would arrive."""

    markets: np.ndarray  # int64 local market index
    sides: np.ndarray
    prices: np.ndarray
    qtys: np.ndarray
    due: np.ndarray  # flow index at which the order is cancelled if still resting (-1: never)

    def __len__(self) -> int:
        return len(self.markets)


@dataclass(frozen=True)
class FlowBatch(SeedBatch):
    """One shard's flow orders of a range of flow indices, in arrival order (``due``: -1 for takers)."""

    types: np.ndarray
    index: np.ndarray  # the order's index in the run's flow

    @property
    def orders(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(markets, sides, prices, qtys, types)``, as :meth:`Engine.submit` takes them."""
        return self.markets, self.sides, self.prices, self.qtys, self.types


@dataclass(frozen=True)
class Part:
    """The markets one shard of a split holds, by activity rank, each with its local index there.

    The first ``len(head_shard)`` ranks (the busiest) are placed one by one: rank ``r`` on shard
    ``head_shard[r]`` as its local market ``head_local[r]``.  The others are strided: rank
    ``r >= head`` on shard ``(r - head) % shards`` as its local market
    ``head_count[shard] + (r - head) // shards``.  A shard's local indices follow its ranks in order,
    so any range of ranks (a tier) is a range of local indices.  ``Part.whole()``: no split."""

    shard: int
    shards: int
    head_shard: np.ndarray  # int64 per head rank
    head_local: np.ndarray  # int64 per head rank
    head_count: np.ndarray  # int64 per shard: head markets it holds

    @classmethod
    def whole(cls) -> Part:
        empty = np.empty(0, dtype=np.int64)
        return cls(0, 1, empty, empty, np.zeros(1, dtype=np.int64))

    def of_shard(self, shard: int) -> Part:
        """The part of another shard of the same split."""
        return Part(shard, self.shards, self.head_shard, self.head_local, self.head_count)

    def ranks(self, n_markets: int) -> np.ndarray:
        """The ranks (global market ids) this shard holds, ascending: local market ``l`` is ``ranks[l]``."""
        head = len(self.head_shard)
        mine = np.flatnonzero(self.head_shard == self.shard).astype(np.int64)
        return np.concatenate([mine, np.arange(head + self.shard, n_markets, self.shards, dtype=np.int64)])


class Generator:
    """The numbers of one scenario, for the markets ``part`` holds (every market by default)."""

    def __init__(self, scenario: Scenario, part: Part | None = None) -> None:
        self.scenario = scenario
        self.part = part or Part.whole()
        self.shard, self.shards = self.part.shard, self.part.shards
        self._ranks = self.part.ranks(scenario.markets)
        self.zipf_exponent = zipf_exponent_for_share(scenario.markets, scenario.flow_share, scenario.market_share)
        self._stops, self._lows, self._highs = tier_table(scenario.tiers)
        self.expected_resting = expected_orders(scenario.tiers, scenario.markets)
        # Random cancels per flow order, per resting order: r cancels per flow order at the expected depth.
        self.hazard = min(1.0, scenario.cancel_rate / self.expected_resting) if scenario.cancel_rate > 0 and self.expected_resting else 0.0
        self._cdf: np.ndarray | None = None
        self._guide: np.ndarray | None = None

    def for_shard(self, shard: int) -> Generator:
        """The generator of another shard of the same split, sharing this one's activity tables."""
        other = copy.copy(self)  # the exponent, tier table and activity tables are the split's, not the shard's
        other._cdf, other._guide = self._activity()
        other.part = self.part.of_shard(shard)
        other.shard = shard
        other._ranks = other.part.ranks(self.scenario.markets)
        return other

    @property
    def local_markets(self) -> int:
        """How many markets this shard holds."""
        return len(self._ranks)

    def global_ids(self, first_local: int = 0, stop_local: int | None = None) -> np.ndarray:
        """Global market ids (activity ranks) of local markets ``first_local .. stop_local - 1``."""
        return self._ranks[first_local:stop_local]

    def local_range(self, start_rank: int, stop_rank: int) -> tuple[int, int]:
        """Local indices of this shard's markets whose rank is in ``start_rank .. stop_rank - 1``."""
        lo, hi = np.searchsorted(self._ranks, [start_rank, stop_rank])
        return int(lo), int(hi)

    def depths(self, markets: np.ndarray) -> np.ndarray:
        """Seeded depth (resting orders) of each global market id."""
        out = np.empty(len(markets), dtype=np.int64)
        k.depths(_keys(self.scenario.seed, _DEPTH)[0], markets, self._stops, self._lows, self._highs, out)
        return out

    def mids(self, markets: np.ndarray) -> np.ndarray:
        """Mid price in ticks of each global market id, log-uniform between the scenario's bounds."""
        flow = self.scenario.flow
        out = np.empty(len(markets), dtype=np.int64)
        k.mids(_keys(self.scenario.seed, _MID)[0], markets, np.log(flow.min_mid), np.log(flow.max_mid), out)
        return out

    def seed_orders(self, first_local: int, depths: np.ndarray, mids: np.ndarray) -> SeedBatch:
        """Seed orders of local markets ``first_local ..`` (``depths`` of each), interleaved at random.

        ``mids`` is indexed by local market.  The interleaving only decides which order id and pool
        slot each order gets: every market's own orders keep their sequence, so books are the same."""
        local = np.repeat(np.arange(first_local, first_local + len(depths), dtype=np.int64), depths)
        rng = np.random.default_rng([self.scenario.seed, _INTERLEAVE, self.shard, self.shards, first_local])
        rng.shuffle(local)
        markets = self._ranks[local]
        n = len(local)
        sides, prices, qtys, due = (np.empty(n, dtype=np.int64) for _ in range(4))
        flow = self.scenario.flow
        keys = _keys(self.scenario.seed, *_SEED)
        k.seed_orders(keys, markets, local, first_local, max(len(depths), 1), mids, flow.maker_distance_p, flow.pareto_alpha,
                      flow.min_qty, flow.max_qty, self.hazard, sides, prices, qtys, due)
        return SeedBatch(local, sides, prices, qtys, due)

    def _activity(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cdf is None or self._guide is None:
            n = self.scenario.markets
            self._cdf = zipf_cdf(n, self.zipf_exponent)
            # One guide bucket per market keeps every search within a couple of cache lines.
            self._guide = np.searchsorted(self._cdf, np.arange(n + 1) / n, side="right").astype(np.int32)
        return self._cdf, self._guide

    def flow(self, start: int, count: int, mids: np.ndarray) -> FlowBatch:
        """This shard's orders among flow indices ``start .. start + count - 1`` (``mids`` by local market)."""
        cdf, guide = self._activity()
        flow = self.scenario.flow
        cols = [np.empty(count, dtype=np.int64) for _ in range(7)]
        keys = _keys(self.scenario.seed, *_FLOW)
        part = self.part
        n = k.flow_batch(keys, start, count, cdf, guide, part.shard, part.shards, part.head_shard, part.head_local,
                         part.head_count, mids, flow.taker_share,
                         flow.maker_distance_p, flow.taker_reach_p, flow.pareto_alpha, flow.min_qty, flow.max_qty,
                         self.hazard, *cols)
        markets, sides, prices, qtys, types, index, due = (c[:n] for c in cols)
        return FlowBatch(markets=markets, sides=sides, prices=prices, qtys=qtys, due=due, types=types, index=index)
