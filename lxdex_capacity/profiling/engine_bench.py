"""The engine benchmark workloads: each builds its input untimed, times only engine calls, and
returns what it measured.

1. ``seeded_flow``: tiered books over many markets, then Zipf-concentrated maker/taker flow with
   Pareto sizes until a number of trades: orders/s through real matching.
2. ``cancel_heavy``: one market with a deep power-law book, a message stream of which 95% are
   cancels of resting orders and the rest new limit orders: messages/s.
3. ``lookups``: best bid and ask of random markets: lookups/s and ns per lookup.
4. ``footprint``: bytes per resting order (all-in) and per empty market, from ``engine.memory()``.
5. ``ColdAndCached``: one stretch of the scenario's flow on its tiered books of many markets ("cold"), and the
   same orders in the same batches replayed onto a few markets whose books stay in cache ("cached"): CPU
   seconds of ``Engine.submit`` for each (issue 25's share of the cached rate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from ..engine import NO_PRICE, Engine
from ..scenarios.config import Scenario
from ..scenarios.generator import Generator, SeedBatch

__all__ = ["SeededFlowResult", "seeded_flow", "ColdAndCached", "FlowRun", "flow_ns_per_order", "cancel_heavy", "lookups", "footprint", "warm_up"]


def warm_up() -> None:
    """Compile (or load from cache) every kernel the workloads use, outside any timed region
    (:data:`lxdex_capacity.kernel_cache.BENCH`; its two parts compile at once on a fresh install)."""
    warm_up_matching()
    warm_up_rest()


def warm_up_matching() -> None:
    """``submit``, the largest kernel."""
    eng = Engine(2, order_capacity=4, level_capacity=4, tape_capacity=4)
    eng.submit([0, 0, 1], [0, 1, 1], [10, 10, 12], [5, 2, 1], [0, 2, 0])


def warm_up_rest() -> None:
    """Every other kernel of the workloads: the generator's, and the engine's on an empty book."""
    gen, mids, _ = _tiered_orders(2, 0)
    gen.flow(0, 8, mids)
    eng = Engine(2, order_capacity=4, level_capacity=4, tape_capacity=4)
    ids = np.arange(3, dtype=np.int64)
    eng.cancel(ids)
    eng.reduce(ids, [1, 1, 1])
    eng.best_bid(np.arange(2))
    eng.best_ask(np.arange(2))
    eng.depth(0, 0, 3)
    eng.market_stats()


@dataclass
class SeededFlowResult:
    markets: int
    seeded_orders: int
    seed_s: float
    flow_orders: int
    flow_trades: int
    flow_s: float
    resting_after: int
    bytes_used_after: int

    @property
    def orders_per_s(self) -> float:
        return self.flow_orders / self.flow_s

    @property
    def seed_orders_per_s(self) -> float:
        return self.seeded_orders / self.seed_s

    def as_dict(self) -> dict[str, float]:
        out = asdict(self)
        out.update(orders_per_s=self.orders_per_s, seed_orders_per_s=self.seed_orders_per_s)
        return out


def _tiered_orders(n_markets: int, seed: int) -> tuple[Generator, np.ndarray, SeedBatch]:
    """The scenario's generator, each market's mid, and the resting orders that fill the tiered books."""
    gen = Generator(Scenario(markets=n_markets, seed=seed))
    markets = gen.global_ids()
    mids = gen.mids(markets)
    return gen, mids, gen.seed_orders(0, gen.depths(markets), mids)


def _seeded_engine(n_markets: int, seed: int) -> Engine:
    """An engine whose books are filled per the tier table (seeding untimed)."""
    _, _, orders = _tiered_orders(n_markets, seed)
    eng = Engine(n_markets)
    eng.submit(orders.markets, orders.sides, orders.prices, orders.qtys)
    return eng


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def seeded_flow(n_markets: int = 21_000, target_trades: int = 1_000_000, seed: int = 0, batch: int = 1 << 16,
                threads: int = 1) -> SeededFlowResult:
    """Orders/s through matching: the scenario's Zipf flow on its tiered books (no trimming, no
    bookkeeping: only ``Engine.submit`` is timed) until ``target_trades`` trades; with ``threads``, the
    markets partitioned across that many threads as a threaded simulation partitions them."""
    from ..simulation.assignment import thread_partitions

    gen, mids, seeds = _tiered_orders(n_markets, seed)
    eng = Engine(n_markets, threads=threads, partition_of=thread_partitions(gen.scenario, gen.global_ids(), threads))
    seed_time = _timed(lambda: eng.submit(seeds.markets, seeds.sides, seeds.prices, seeds.qtys))
    seeded = eng.resting_orders
    start_trades = eng.trade_count
    flow_time = 0.0
    flow_count = 0
    while eng.trade_count - start_trades < target_trades:
        orders = gen.flow(flow_count, batch, mids).orders
        flow_time += _timed(partial(eng.submit, *orders))
        flow_count += batch
    return SeededFlowResult(
        markets=n_markets,
        seeded_orders=seeded,
        seed_s=seed_time,
        flow_orders=flow_count,
        flow_trades=eng.trade_count - start_trades,
        flow_s=flow_time,
        resting_after=eng.resting_orders,
        bytes_used_after=eng.memory().bytes_used,
    )


def flow_ns_per_order(n_markets: int, orders: int = 1 << 20, seed: int = 0, batch: int = 1 << 16) -> tuple[float, int]:
    """Nanoseconds per order of the scenario's flow on its tiered books of ``n_markets`` markets, over ``orders``
    orders (only ``Engine.submit`` timed), and the engine's bytes used after: one working set of the sweep's
    per-core rate model (:mod:`lxdex_capacity.capacity.core_rate`)."""
    gen, mids, seeds = _tiered_orders(n_markets, seed)
    eng = Engine(n_markets)
    eng.submit(seeds.markets, seeds.sides, seeds.prices, seeds.qtys)
    elapsed, done = 0.0, 0
    while done < orders:
        flow = gen.flow(done, batch, mids).orders
        elapsed += _timed(partial(eng.submit, *flow))
        done += batch
    return 1e9 * elapsed / done, eng.memory().bytes_used


@dataclass(frozen=True)
class FlowRun:
    """One engine's run of a stretch of flow: the CPU seconds of its ``Engine.submit`` calls (this thread's CPU time,
    ``time.thread_time``: what another process's work on the same core does not add), and what it did."""

    orders: int
    cpu_s: float
    trades: int
    resting_after: int

    @property
    def ns_per_order(self) -> float:
        return 1e9 * self.cpu_s / self.orders

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.cpu_s if self.cpu_s > 0 else float("inf")


class ColdAndCached:
    """The scenario's flow on ``n_markets`` markets ("cold": the tiered books of every market) and the same flow on
    ``cached`` markets whose books stay in cache, order for order.

    :meth:`draw` gives the next ``orders`` orders of the flow in batches of ``batch`` (untimed, as
    :func:`seeded_flow` draws them).  :meth:`run_cold` submits them to a fresh engine of every market, seeded
    (untimed) with the tiered books, so every run starts from the same books: repeats of the same batches are
    repeats of the same work (books carried on from run to run would grow, the flow having no cancels, and
    their pools double now and then).  :meth:`run_cached` submits the same batches to a fresh engine of
    ``cached`` markets, seeded with the tiered books of markets ``0 .. cached - 1``, each order's market mapped to
    ``market % cached`` and its price moved by the difference of the two markets' mids (so it stands where it
    stood against its own book; at least one tick).  Same orders, same sides, sizes and types, same batch
    sizes: only the working set differs.  Each run returns a :class:`FlowRun` (the CPU time of ``submit`` only).
    The seed orders are drawn once and kept (about 32 bytes per resting order)."""

    def __init__(self, n_markets: int, cached: int = 10, seed: int = 0, batch: int = 1 << 16) -> None:
        if not 1 <= cached <= n_markets:
            raise ValueError(f"cached={cached}: from 1 to n_markets ({n_markets:,})")
        if batch < 1:
            raise ValueError(f"batch={batch}: at least 1")
        self.n_markets, self.cached, self.batch = n_markets, cached, batch
        self.generator, self.mids, seeds = _tiered_orders(n_markets, seed)
        self._seeds = (seeds.markets, seeds.sides, seeds.prices, seeds.qtys)
        self.seeded_orders = len(seeds)  # seed orders rest on their own side of the mid: every one rests
        del seeds
        gen = self.generator
        cached_seeds = gen.seed_orders(0, gen.depths(gen.global_ids(0, cached)), self.mids)
        self._cached_seeds = (cached_seeds.markets, cached_seeds.sides, cached_seeds.prices, cached_seeds.qtys)
        self._next = 0  # the next flow index

    def draw(self, orders: int) -> list[tuple[np.ndarray, ...]]:
        """The next ``orders`` orders of the flow (whole batches, at least one), as ``submit``'s columns, batch by batch."""
        out: list[tuple[np.ndarray, ...]] = []
        done = 0
        while done < orders:
            out.append(self.generator.flow(self._next, self.batch, self.mids).orders)
            self._next += self.batch
            done += self.batch
        return out

    def mapped(self, batch: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """``batch`` as the cached engine takes it: markets ``% cached``, prices moved to those markets' mids."""
        markets, sides, prices, qtys, types = batch
        to = markets % self.cached
        moved = np.maximum(prices - self.mids[markets] + self.mids[to], 1)
        return to, sides, moved, qtys, types

    def run_cold(self, batches: list[tuple[np.ndarray, ...]]) -> FlowRun:
        """``batches`` through a fresh engine of every market, seeded with the tiered books (untimed)."""
        eng = Engine(self.n_markets)
        eng.submit(*self._seeds)
        return _cpu_run(eng, batches)

    def run_cached(self, batches: list[tuple[np.ndarray, ...]]) -> FlowRun:
        """``batches`` (mapped untimed) through a fresh cached engine seeded with markets ``0 .. cached - 1``'s books."""
        eng = Engine(self.cached)
        eng.submit(*self._cached_seeds)
        return _cpu_run(eng, [self.mapped(b) for b in batches])


def _cpu_run(eng: Engine, batches: list[tuple[np.ndarray, ...]]) -> FlowRun:
    before = eng.trade_count
    cpu = 0.0
    for columns in batches:
        start = time.thread_time()
        eng.submit(*columns)
        cpu += time.thread_time() - start
    return FlowRun(orders=sum(len(b[0]) for b in batches), cpu_s=cpu, trades=eng.trade_count - before, resting_after=eng.resting_orders)


def cancel_heavy(n_messages: int = 4_000_000, cancel_share: float = 0.95, seed: int = 0, chunk: int = 20_000) -> dict[str, float]:
    """Messages/s on one market where ``cancel_share`` of messages cancel resting orders.

    The book is seeded deep enough that every cancel finds a live order (so the stream never
    degenerates into no-op cancels); the stream alternates chunks of cancels and new orders in
    the given proportion.  New orders are the scenario's flow (makers and takers) on that market.
    """
    rng = np.random.default_rng(seed)
    n_cancels = int(n_messages * cancel_share)
    n_new = n_messages - n_cancels
    gen = Generator(Scenario(markets=1, seed=seed))
    mids = np.array([100_000], dtype=np.int64)
    eng = Engine(1, order_capacity=1 << 21)
    book = gen.seed_orders(0, np.array([n_cancels + n_new], dtype=np.int64), mids)
    ids = eng.submit(book.markets, book.sides, book.prices, book.qtys).order_ids
    targets = rng.permutation(ids)[:n_cancels]
    new_markets, new_sides, new_prices, new_qtys, new_types = gen.flow(0, n_new, mids).orders
    per_chunk_new = max(1, round(chunk * (1 - cancel_share)))
    per_chunk_cancel = chunk - per_chunk_new
    cancelled = added = 0
    ci = ni = 0
    start = time.perf_counter()
    while ci < n_cancels or ni < n_new:
        c = targets[ci : ci + per_chunk_cancel]
        ok = eng.cancel(c)
        cancelled += int(ok.sum())
        ci += len(c)
        sl = slice(ni, ni + per_chunk_new)
        eng.submit(new_markets[sl], new_sides[sl], new_prices[sl], new_qtys[sl], new_types[sl])
        added += len(new_markets[sl])
        ni += per_chunk_new
    elapsed = time.perf_counter() - start
    return {
        "messages": ci + added,
        "cancels": ci,
        "cancels_effective": cancelled,
        "new_orders": added,
        "seconds": elapsed,
        "messages_per_s": (ci + added) / elapsed,
        "resting_at_start": len(ids),
        "resting_at_end": eng.resting_orders,
    }


def lookups(n_markets: int = 21_000, n_lookups: int = 10_000_000, seed: int = 0) -> dict[str, float]:
    """Best bid + best ask of uniformly random markets on a seeded tiered book."""
    eng = _seeded_engine(n_markets, seed)
    rng = np.random.default_rng(seed + 1)
    markets = rng.integers(0, n_markets, size=n_lookups)
    start = time.perf_counter()
    bids = eng.best_bid(markets)
    asks = eng.best_ask(markets)
    elapsed = time.perf_counter() - start
    two_sided = (bids != NO_PRICE) & (asks != NO_PRICE)
    if not (bids[two_sided] < asks[two_sided]).all():  # also keeps the results live
        raise AssertionError("a seeded book is crossed")
    count = 2 * n_lookups
    return {"lookups": count, "seconds": elapsed, "lookups_per_s": count / elapsed, "ns_per_lookup": elapsed / count * 1e9}


def footprint(n_markets: int = 21_000, seed: int = 0) -> dict[str, float]:
    """Bytes per empty market, and all-in bytes per resting order on the seeded tiered books."""
    empty = Engine(n_markets).memory()
    per_market = empty.components["market_state"][0] / n_markets
    eng = _seeded_engine(n_markets, seed)
    mem = eng.memory()
    return {
        "markets": n_markets,
        "bytes_per_empty_market": per_market,
        "resting_orders": mem.resting_orders,
        "price_levels": mem.price_levels,
        "orders_per_level": mem.resting_orders / mem.price_levels,
        "bytes_per_order_used": mem.bytes_per_resting_order,
        "bytes_per_order_reserved": mem.book_bytes_reserved / mem.resting_orders,
        "engine_bytes_used": mem.bytes_used,
        "engine_bytes_reserved": mem.bytes_reserved,
    }


