"""A shard and what is measured of it: what the coordinator drives, in this process or as a Dask actor.

Every method takes and returns plain data (numbers, lists, dataclasses of them), so a
:class:`ShardWorker` can live on a Dask worker and be called through an actor handle exactly as it
is called in process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import Status, SubmitResult
from ..machine import peak_rss_bytes
from ..profiling.breakdown import TierSums, tier_names, tier_sums
from ..profiling.distributions import sample_ranks, value_counts
from ..profiling.memory import ProcessMemory, sample_process
from ..scenarios.config import Scenario, scenario_from_dict
from ..scenarios.generator import Generator, Part
from .assignment import split
from .shard import SEED_CHUNK_MARKETS, Shard

__all__ = ["ShardWorker", "ShardPhase", "ShardProbes", "ShardSummary", "warm_up_kernels"]


def warm_up_kernels() -> None:
    """Compile (or load from numba's cache) every kernel a run uses, so that no phase times it; on
    two cores when the cache does not hold them (:data:`lxdex_capacity.kernel_cache.SIMULATION`)."""
    from ..kernel_cache import SIMULATION, compile_kernels

    compile_kernels(SIMULATION)


# The warm-ups of lxdex_capacity.kernel_cache: every kernel a run calls, called once on a tiny shard
# (warm_up_run), and the same split in two parts that compile at the same time on a fresh install:
# submit, the largest kernel, with the seeding and the lookups (warm_up_matching), and the flow's
# kernels with the rest (warm_up_flow, in a child process, which spends its first second importing).

def _tiny_shard(threads: int = 1) -> Shard:
    return Shard(Generator(Scenario(markets=2, trades=8, batch=8, trades_retained=1024, cancel_rate=0.5)), threads)


def _warm_up_threads() -> None:
    """What an engine of several threads adds: splitting a batch by partition, numbering its trades."""
    tiny = _tiny_shard(threads=2)
    tiny.seed(0, tiny.markets)
    tiny.step(0, 8)


def warm_up_run() -> None:
    tiny = _tiny_shard()
    tiny.seed(0, tiny.markets)
    tiny.step(0, 8)
    tiny.checksum_lanes()
    tiny.engine.best_bid(np.arange(tiny.markets))
    tiny.engine.lookup_latency_ns([0] * 32)
    split(tiny.scenario, 2)
    _warm_up_threads()


def warm_up_matching() -> None:
    tiny = _tiny_shard()
    tiny.seed(0, tiny.markets)
    tiny.engine.best_bid(np.arange(tiny.markets))
    tiny.engine.lookup_latency_ns([0] * 32)
    _warm_up_threads()


def warm_up_flow() -> None:
    tiny = _tiny_shard()
    batch = tiny.generator.flow(0, 8, tiny.mids)
    n = len(batch)
    rested = SubmitResult(np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64), np.full(n, Status.RESTING, dtype=np.int8))
    tiny.settle(batch, rested, 0, 8)  # a batch's bookkeeping, as if every order had rested (ids -1: none is found)
    tiny.checksum_lanes()
    split(tiny.scenario, 2)


def _warm_up_books() -> None:
    """What ``lxdex profile`` adds to a run: every resting order of a book (its layout comparison)."""
    _tiny_shard().engine.book_orders(0, 0)


def warm_up_profile() -> None:
    warm_up_run()
    _warm_up_books()


def warm_up_flow_and_books() -> None:
    warm_up_flow()
    _warm_up_books()


@dataclass(frozen=True)
class ShardPhase:
    """One shard's engine after a phase, and its process if it has one of its own."""

    resting_orders: int
    price_levels: int
    trades: int
    trades_retained: int
    engine_bytes_used: int
    engine_bytes_reserved: int
    book_bytes_used: int
    components: dict[str, tuple[int, int]]
    process: ProcessMemory | None
    traced_bytes: int


@dataclass(frozen=True)
class ShardProbes:
    lookups: int
    lookup_seconds: float  # median of three passes
    latency_ns: np.ndarray  # per dependent lookup, one figure per run of LATENCY_GROUP


@dataclass(frozen=True)
class ShardSummary:
    """What the coordinator adds up after trading."""

    market_lanes: list[int]
    tape_lanes: list[int]
    tier_sums: list[TierSums]
    trade_counts: tuple[np.ndarray, np.ndarray]  # value counts of trades per market
    depth_samples: dict[int, int]  # sampled global rank -> resting orders
    flow_orders: int
    flow_seconds: float
    cancels: int
    cancel_seconds: float
    peak_rss_bytes: int
    elapsed_s: float
    batch_orders: tuple[int, ...] = ()  # each traded batch's flow orders and seconds in Engine.submit, in order
    batch_seconds: tuple[float, ...] = ()


class ShardWorker:
    """The shard holding ``part`` of the scenario ``scenario`` (a dict, as it crosses processes).

    ``own_process``: the worker is alone in its process (a Dask worker): it compiles its kernels
    before any phase and measures the process's memory itself.  It does not trace numpy's
    allocations (``traced_bytes`` is 0): tracemalloc in a Dask worker traces the worker's own
    machinery too, slowing every step several-fold."""

    def __init__(self, scenario: dict[str, Any] | Scenario, part: Part, own_process: bool = False,
                 generator: Generator | None = None, threads: int = 1) -> None:
        self.began = time.perf_counter()
        self.own_process = own_process
        if own_process:
            warm_up_kernels()
        scenario = scenario if isinstance(scenario, Scenario) else scenario_from_dict(scenario)
        self.scenario = scenario
        self.shard = Shard(generator or Generator(scenario, part), threads)

    def seed_chunks(self) -> list[tuple[int, int]]:
        """Ranges of local markets seeded in one go (bounded, so the seed orders' arrays stay small)."""
        n = self.shard.markets
        return [(lo, min(lo + SEED_CHUNK_MARKETS, n)) for lo in range(0, n, SEED_CHUNK_MARKETS)]

    def seed(self, lo: int | None = None, hi: int | None = None) -> int:
        """Seed local markets ``lo .. hi - 1`` (all of them by default); returns the orders placed."""
        if lo is None or hi is None:
            return sum(self.shard.seed(a, b) for a, b in self.seed_chunks())
        return self.shard.seed(lo, hi)

    def step(self, start: int, count: int) -> int:
        return self.shard.step(start, count)

    def measure(self) -> ShardPhase:
        memory = self.shard.memory()
        eng = self.shard.engine
        return ShardPhase(
            resting_orders=memory.resting_orders,
            price_levels=memory.price_levels,
            trades=eng.trade_count,
            trades_retained=memory.trades_retained,
            engine_bytes_used=memory.bytes_used,
            engine_bytes_reserved=memory.bytes_reserved,
            book_bytes_used=memory.book_bytes_used,
            components=dict(memory.components),
            process=sample_process() if self.own_process else None,
            traced_bytes=0,
        )

    def probes(self, lookups: int, latency_lookups: int, group: int) -> ShardProbes:
        """Best-bid/ask lookups on random markets of this shard, and dependent-lookup latency."""
        eng = self.shard.engine
        rng = np.random.default_rng([self.scenario.seed, self.shard.shard, self.shard.shards])
        markets = rng.integers(0, eng.n_markets, size=lookups)
        eng.best_bid(markets[:16])
        passes = []
        for _ in range(3):
            start = time.perf_counter()
            eng.best_bid(markets)
            eng.best_ask(markets)
            passes.append(time.perf_counter() - start)
        targets = rng.integers(0, eng.n_markets, size=latency_lookups)
        return ShardProbes(2 * lookups, float(np.median(passes)), eng.lookup_latency_ns(targets, group))

    def summary(self) -> ShardSummary:
        shard = self.shard
        stats = shard.engine.market_stats()
        market_lanes, tape_lanes = shard.checksum_lanes()
        n = self.scenario.markets
        ids = shard.generator.global_ids()
        sampled = sample_ranks(n) - 1  # as market ids
        local = np.minimum(np.searchsorted(ids, sampled), len(ids) - 1)
        owned = ids[local] == sampled
        c = shard.counters
        return ShardSummary(
            market_lanes=market_lanes,
            tape_lanes=tape_lanes,
            tier_sums=tier_sums(shard.engine, tier_names(self.scenario.tiers, n), shard.tier_slices()),
            trade_counts=value_counts(stats["trade_count"]),
            depth_samples={int(m) + 1: int(stats["resting_orders"][i]) for m, i in zip(sampled[owned], local[owned], strict=True)},
            flow_orders=c.flow_orders,
            flow_seconds=c.flow_seconds,
            cancels=c.cancels,
            cancel_seconds=c.cancel_seconds,
            peak_rss_bytes=peak_rss_bytes(),  # ru_maxrss: kilobytes on Linux, bytes on macOS
            elapsed_s=time.perf_counter() - self.began,
            batch_orders=tuple(c.batch_orders),
            batch_seconds=tuple(c.batch_seconds),
        )

    @property
    def engine(self) -> Any:
        return self.shard.engine
