"""One shard of a simulation: an engine holding the markets of its part of the split (:mod:`.assignment`).

A :class:`Shard` seeds its markets' books and then takes the run's flow one batch at a time:
:meth:`Shard.step` draws its own orders among flow indices ``start .. start + count - 1``
(:class:`~lxdex_capacity.scenarios.generator.Generator`), submits them, and keeps its books where
the scenario wants them.  Everything it does to a market depends only on that market's orders, so
a market ends the same whether one shard holds every market or many shards share them.

Bookkeeping after each batch, per market, in this order:

1. resting orders are counted exactly (plus the batch's orders that rested, minus the makers its
   trades used up, found on the tape), never by walking the books;
2. with ``cancel_rate``, orders whose lifetime ended within the batch are cancelled;
3. when the scenario is stationary, each market the batch touched is cut back to its seeded depth
   by :meth:`Engine.cancel_furthest`.

Each market also folds every flow order's outcome and every trade into a 64-bit digest (its seed
orders as how many rested and how many were rejected), from which the run's ``tape_checksum`` is
built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..engine import Engine, MemoryReport, Status, SubmitResult
from ..errors import CapacityError
from ..scenarios.generator import FlowBatch, Generator
from ..scenarios.tiers import tier_ranges
from . import _kernels as k
from .assignment import thread_partitions

__all__ = ["Shard", "ShardCounters", "SEED_CHUNK_MARKETS"]

SEED_CHUNK_MARKETS = 1 << 18
_MARKET_SALT, _TAPE_SALT = 0x6D61726B6574, 0x74617065  # "market", "tape"


class _CancelSchedule:
    """Resting orders' cancel times (flow indices), bucketed so that a batch takes only what is due."""

    BUCKET = 1 << 16

    def __init__(self) -> None:
        self._buckets: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._next = 0  # buckets below this are empty
        self.size = 0

    def add(self, due: np.ndarray, ids: np.ndarray, markets: np.ndarray) -> None:
        if not len(due):
            return
        buckets = due // self.BUCKET
        order = np.argsort(buckets, kind="stable")
        due, ids, markets, buckets = due[order], ids[order], markets[order], buckets[order]
        cuts = np.flatnonzero(np.diff(buckets)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(due)], strict=True):
            self._buckets.setdefault(int(buckets[lo]), []).append((due[lo:hi], ids[lo:hi], markets[lo:hi]))
        self.size += len(due)

    def take(self, before: int) -> tuple[np.ndarray, np.ndarray]:
        """Remove and return ``(ids, markets)`` of every order due before flow index ``before``."""
        ids, markets = [], []
        last = (before - 1) // self.BUCKET
        for bucket in range(self._next, last + 1):
            parts = self._buckets.pop(bucket, [])
            if not parts:
                continue
            due = np.concatenate([p[0] for p in parts])
            bucket_ids = np.concatenate([p[1] for p in parts])
            bucket_markets = np.concatenate([p[2] for p in parts])
            now = due < before
            ids.append(bucket_ids[now])
            markets.append(bucket_markets[now])
            if not now.all():
                self._buckets[bucket] = [(due[~now], bucket_ids[~now], bucket_markets[~now])]
        self._next = max(self._next, last)
        taken = (np.concatenate(ids), np.concatenate(markets)) if ids else (np.empty(0, np.int64), np.empty(0, np.int64))
        self.size -= len(taken[0])
        return taken

    @property
    def nbytes(self) -> int:
        return self.size * 24


@dataclass
class ShardCounters:
    """What a shard did in its traded phase."""

    flow_orders: int = 0
    flow_seconds: float = 0.0  # in Engine.submit only
    cancels: int = 0  # random cancels and stationary trims
    cancel_seconds: float = 0.0  # bookkeeping and cancels after each batch
    batches: int = 0
    batch_orders: list[int] = field(default_factory=list)  # each batch's flow orders, in order
    batch_seconds: list[float] = field(default_factory=list)  # each batch's seconds in Engine.submit


class Shard:
    """The engine, books and bookkeeping of shard ``shard`` of ``shards`` of one scenario's run."""

    def __init__(self, generator: Generator, threads: int = 1) -> None:
        self.generator = generator
        self.scenario = generator.scenario
        self.shard, self.shards = generator.shard, generator.shards
        self.markets = generator.local_markets
        if self.markets < 1:
            raise CapacityError(f"shard {self.shard} of {self.shards} holds no market of {self.scenario.markets:,}")
        self.engine = Engine(self.markets, tape_capacity=self.scenario.trades_retained, threads=threads,
                             partition_of=thread_partitions(self.scenario, generator.global_ids(), threads))
        self.mids = generator.mids(generator.global_ids())
        self.targets = np.zeros(self.markets, dtype=np.int64)  # seeded depth per market
        self.resting = np.zeros(self.markets, dtype=np.int64)  # resting orders per market, kept exactly
        self.digest = np.zeros(self.markets, dtype=np.uint64)  # every order's outcome and trade, per market
        self.schedule = _CancelSchedule() if generator.hazard > 0 else None
        self.counters = ShardCounters()

    # ------------------------------------------------------------------ phases
    def seed(self, first_local: int, stop_local: int) -> int:
        """Seed local markets ``first_local .. stop_local - 1`` to their tier depth; returns the orders placed."""
        gen = self.generator
        depths = gen.depths(gen.global_ids(first_local, stop_local))
        orders = gen.seed_orders(first_local, depths, self.mids)
        res = self.engine.submit(orders.markets, orders.sides, orders.prices, orders.qtys)
        self.targets[first_local:stop_local] = depths
        # Seed orders rest on their own side of the mid, so every accepted one rests (a price out
        # of the engine's range is rejected).  Counted per market in one sequential pass, and
        # folded into each market's digest as (orders resting, orders rejected): interleaved
        # arrival makes an order-by-order fold a random access per order, the seeding's main cost.
        span = stop_local - first_local
        rested = res.status == Status.RESTING
        resting = np.bincount(orders.markets[rested] - first_local, minlength=span)
        rejected = depths - resting
        self.resting[first_local:stop_local] += resting
        k.digest_counts(self.digest[first_local:stop_local], resting, rejected)
        if self.schedule is not None:
            self.schedule.add(orders.due[rested], res.order_ids[rested], orders.markets[rested])
        return len(orders)

    def step(self, start: int, count: int, record: list[np.ndarray] | None = None) -> int:
        """Take flow indices ``start .. start + count - 1``; returns the trades this shard printed.

        ``record``, if given, receives each order's (flow index, status, quantity filled) as one
        ``(n, 3)`` int64 array: what tests compare between executions."""
        eng = self.engine
        batch = self.generator.flow(start, count, self.mids)
        before = eng.trade_count
        began = time.perf_counter()
        res = eng.submit(*batch.orders)
        submitted = time.perf_counter()
        trades = eng.trade_count - before
        if trades > eng.tape_capacity:
            raise CapacityError(f"a batch of {count:,} flow orders printed {trades:,} trades on shard {self.shard}, more than "
                                f"the tape's {eng.tape_capacity:,}: raise trades_retained or lower batch")
        if record is not None:
            record.append(np.stack([batch.index, res.status.astype(np.int64), res.filled], axis=1))
        cancels = self.settle(batch, res, trades, start + count)
        c = self.counters
        c.flow_orders += len(batch)
        c.flow_seconds += submitted - began
        c.batch_orders.append(len(batch))
        c.batch_seconds.append(submitted - began)
        c.cancels += cancels
        c.cancel_seconds += time.perf_counter() - submitted
        c.batches += 1
        return trades

    def settle(self, batch: FlowBatch, res: SubmitResult, trades: int, until: int) -> int:
        """The bookkeeping after ``batch`` was submitted with outcome ``res``, printing ``trades``
        trades (see the module's docstring), with random cancels due before flow index ``until``;
        returns the orders it cancelled."""
        eng = self.engine
        markets = batch.markets
        rested = res.status == Status.RESTING
        np.add.at(self.resting, markets[rested], 1)
        tape = eng.trades(last=trades)
        k.digest_orders(self.digest, markets, res.status, res.filled)
        # Contiguous copies: a structured array's fields are strided views, except when empty, and
        # numba would compile the kernel once for each layout.
        k.digest_trades(self.digest, *(np.ascontiguousarray(tape[f]) for f in ("market", "price", "qty", "taker_side")))
        makers, first_seen = np.unique(tape["maker_id"], return_index=True)
        np.add.at(self.resting, tape["market"][first_seen][eng.open_qty(makers) == 0], -1)
        cancels = 0
        if self.schedule is not None:
            self.schedule.add(batch.due[rested], res.order_ids[rested], markets[rested])
            ids, due_markets = self.schedule.take(until)
            ok = eng.cancel(ids)
            np.add.at(self.resting, due_markets[ok], -1)
            cancels += int(ok.sum())
        if self.scenario.stationary and len(markets):
            touched = np.unique(markets)
            excess = self.resting[touched] - self.targets[touched]
            over = excess > 0
            done = eng.cancel_furthest(touched[over], excess[over])
            self.resting[touched[over]] -= done
            cancels += int(done.sum())
        return cancels

    # ------------------------------------------------------------------ figures
    def memory(self) -> MemoryReport:
        return self.engine.memory()

    def checksum_lanes(self) -> tuple[list[int], list[int]]:
        """This shard's additions to the run's market and tape checksums (see ``_kernels``)."""
        stats = self.engine.market_stats()
        ids = self.generator.global_ids()
        columns = np.stack([stats[c] for c in ("trade_count", "volume", "last_price", "resting_orders", "resting_qty",
                                              "price_levels")], axis=1).astype(np.int64)
        market = np.zeros(k.LANES, dtype=np.uint64)
        k.add_multiset(market, ids, columns, np.uint64(_MARKET_SALT))
        tape = np.zeros(k.LANES, dtype=np.uint64)
        k.add_multiset(tape, ids, self.digest.view(np.int64).reshape(-1, 1), np.uint64(_TAPE_SALT))
        return [int(v) for v in market], [int(v) for v in tape]

    def tier_slices(self) -> list[tuple[int, int]]:
        """Local index range of each tier of the scenario's table (by global rank)."""
        return [self.generator.local_range(start, stop) for _, start, stop in tier_ranges(self.scenario.tiers, self.scenario.markets)]
