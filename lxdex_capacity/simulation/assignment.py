"""Which shard holds which market: balanced by expected load, a pure function of (markets, K, scenario).

Market ids are activity ranks (0 = the busiest), so contiguous blocks would hand the Zipf head and
the deepest books to the first shard.  Each market's expected load is its share of the flow (its
Zipf weight) and its share of the resting orders (its tier's mean depth over the table's total).
The tail, every rank from ``head`` on, is strided (rank ``r`` on shard ``(r - head) % K``): its
markets are many and light, so striding spreads them evenly.  The ``head`` busiest markets, whose
loads differ most, are then placed one by one, heaviest first, each on the shard whose larger
load (flow or depth) stays smallest, tail included: the LPT rule of Graham (1969) on two loads.
The shards end within about one light market's load of each other on both.  :func:`split` returns every shard's
:class:`~lxdex_capacity.scenarios.generator.Part`; :func:`expected_load` what each carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scenarios.activity import zipf_exponent_for_share, zipf_weights
from ..scenarios.config import Scenario
from ..scenarios.generator import Part
from ..scenarios.tiers import tier_ranges
from . import _kernels as k

__all__ = ["ASSIGNMENT", "ShardLoad", "head_size", "split", "expected_load", "thread_partitions"]

ASSIGNMENT = ("balanced by expected load (flow share + resting-order share): the busiest markets placed heaviest "
              "first on the least-loaded shard, the rest strided by activity rank")
HEAD_PER_SHARD = 256
MAX_HEAD = 1 << 16  # placing costs head x K steps


@dataclass(frozen=True)
class ShardLoad:
    shard: int
    markets: int
    flow_share: float  # expected share of the run's flow orders
    resting_orders: float  # expected seeded resting orders


def head_size(markets: int, shards: int) -> int:
    return min(markets, HEAD_PER_SHARD * shards, MAX_HEAD) if shards > 1 else 0


def _loads(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Per rank: expected flow share and expected resting orders."""
    n = scenario.markets
    weights = zipf_weights(n, zipf_exponent_for_share(n, scenario.flow_share, scenario.market_share))
    depth = np.zeros(n, dtype=np.float64)
    for tier, start, stop in tier_ranges(scenario.tiers, n):
        depth[start:stop] = (tier.low + tier.high) / 2
    return weights, depth


def split(scenario: Scenario, shards: int) -> list[Part]:
    """Every shard's part of ``scenario``'s markets (one part, the whole, for one shard)."""
    if shards == 1:
        return [Part.whole()]
    n = scenario.markets
    head = head_size(n, shards)
    weights, depth = _loads(scenario)
    flow = weights / weights.sum()
    depth = depth / depth.sum() if depth.sum() else depth
    tail_shard = (np.arange(head, n) - head) % shards
    flow_load = np.bincount(tail_shard, weights=flow[head:], minlength=shards).astype(np.float64)
    depth_load = np.bincount(tail_shard, weights=depth[head:], minlength=shards).astype(np.float64)
    order = np.argsort(-(flow[:head] + depth[:head]), kind="stable")
    head_shard = np.empty(head, dtype=np.int64)
    k.least_loaded_first(flow[:head], depth[:head], order, flow_load, depth_load, head_shard)
    head_local = np.empty(head, dtype=np.int64)
    head_count = np.zeros(shards, dtype=np.int64)
    for rank in range(head):  # local indices follow ranks within each shard
        s = head_shard[rank]
        head_local[rank] = head_count[s]
        head_count[s] += 1
    first = Part(0, shards, head_shard, head_local, head_count)
    return [first.of_shard(s) for s in range(shards)]


def expected_load(scenario: Scenario, parts: list[Part]) -> list[ShardLoad]:
    """What each shard of the split ``parts`` (from :func:`split`) is expected to carry."""
    weights, depth = _loads(scenario)
    out = []
    for part in parts:
        ranks = part.ranks(scenario.markets)
        out.append(ShardLoad(part.shard, len(ranks), float(weights[ranks].sum()), float(depth[ranks].sum())))
    return out


def thread_partitions(scenario: Scenario, ranks: np.ndarray, threads: int) -> np.ndarray | None:
    """The partition of each of ``ranks`` (a shard's markets) across ``threads`` threads of its engine: the
    shard the same split would give it (:func:`split` into ``threads`` shards), so that threads balance by
    expected load as shards do.  ``None`` with one thread; round-robin over the shard's own markets when
    the split would leave a thread none of them (a small shard of a sharded run)."""
    if threads == 1:
        return None
    first = split(scenario, threads)[0]
    head = len(first.head_shard)
    partition = np.where(ranks < head, first.head_shard[np.minimum(ranks, max(head - 1, 0))] if head else 0, (ranks - head) % threads)
    if len(np.unique(partition)) < threads:
        return np.arange(len(ranks), dtype=np.int64) % threads
    return partition.astype(np.int64)

