"""An engine whose markets are partitioned across worker threads: ``Engine(n_markets, threads=k)``.

Markets match independently, so k partitions, each a plain :class:`~lxdex_capacity.engine.core.Engine`
over its own markets with its own pools, can work at once: the compiled kernels release the GIL.

* **Markets**: ``partition_of[m]`` names market ``m``'s partition (default: ``m % k``; the
  simulation passes the sharded run's balanced assignment, :mod:`lxdex_capacity.simulation.assignment`);
  each partition numbers its markets 0.. in global order.
* **Orders**: :meth:`submit` splits a batch by partition keeping each market's orders in arrival
  order, runs the partitions at once, and returns per-order results in the batch's order: for every
  order the same status and fill as one engine (each market sees the same orders in the same order).
* **Order ids**: a partition's id ``i`` is ``i * k + partition`` here, so ids stay unique and
  :meth:`cancel`, :meth:`reduce`, :meth:`amend` and :meth:`open_qty` route by ``id % k``.
* **Amends**: :meth:`amend` groups a batch by the ids' partitions, each group in batch order, and runs
  the partitions at once as :meth:`submit` does: an amend touches only its own order's market, so every
  amend gets one engine's result and every market one engine's trades.
* **Trades**: each partition keeps its own ring of ``tape_capacity`` trades (so the engine retains up to
  k x ``tape_capacity``), each trade with a global sequence number: the arrival number of its taker
  order (orders and amends are numbered together across every submit and amend).  :meth:`trades` merges the rings by it, so trades
  come in arrival order, and each market's trades exactly as one engine prints them.
"""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_int, check_int_array, check_same_length
from . import _kernels as k
from .core import BOOK_ORDER_DTYPE, DEFAULT_TAPE_CAPACITY, MIN_CAPACITY, Engine, MemoryReport, SubmitResult
from .layout import TRADE_DTYPE

__all__ = ["PartitionedEngine", "MAX_THREADS", "round_robin"]

MAX_THREADS = 256


def round_robin(n_markets: int, threads: int) -> np.ndarray:
    """The default partition of each market: ``market % threads``."""
    return np.arange(n_markets, dtype=np.int64) % threads


class PartitionedEngine(Engine):
    """The markets of one engine split across ``threads`` partitions run by as many threads (see the module)."""

    def __init__(self, n_markets: int, *, threads: int, partition_of: Any = None, order_capacity: int = MIN_CAPACITY,
                 level_capacity: int = MIN_CAPACITY, tape_capacity: int = DEFAULT_TAPE_CAPACITY) -> None:
        self.n_markets = check_int("n_markets", n_markets, min_value=1, max_value=np.iinfo(np.int32).max // 2)
        self.threads = check_int("threads", threads, min_value=1, max_value=MAX_THREADS)
        part = round_robin(self.n_markets, self.threads) if partition_of is None else check_int_array("partition_of", partition_of)
        if len(part) != self.n_markets:
            raise InputError(f"partition_of has {len(part):,} entries for {self.n_markets:,} markets")
        if part.size and (part.min() < 0 or part.max() >= self.threads):
            raise InputError(f"partition_of: {int(part[(part < 0) | (part >= self.threads)][0])} is not a partition of 0..{self.threads - 1}")
        counts = np.bincount(part, minlength=self.threads)
        if (counts == 0).any():
            raise InputError(f"partition {int(np.flatnonzero(counts == 0)[0])} of {self.threads} holds no market "
                             f"({self.n_markets:,} markets): use fewer threads")
        self._partition_of = part
        self._markets_of = [np.flatnonzero(part == p) for p in range(self.threads)]  # local market -> global
        self._local_of = np.empty(self.n_markets, dtype=np.int64)
        for markets in self._markets_of:
            self._local_of[markets] = np.arange(len(markets))
        self._parts = [Engine(len(m), order_capacity=order_capacity, level_capacity=level_capacity, tape_capacity=tape_capacity)
                       for m in self._markets_of]
        self._sequence = [np.full(tape_capacity, -1, dtype=np.int64) for _ in self._parts]  # each ring slot's taker arrival number
        self._arrivals = 0  # orders and amends so far: the next one's arrival number
        self._pool = ThreadPoolExecutor(max(self.threads - 1, 1), thread_name_prefix="lxdex-partition")  # the caller works one partition
        weakref.finalize(self, self._pool.shutdown, wait=False)

    # ------------------------------------------------------------------ layout
    @property
    def partitions(self) -> list[Engine]:
        """Each partition's engine (its markets numbered 0.. in global order: :meth:`markets_of`)."""
        return list(self._parts)

    @property
    def partition_of(self) -> np.ndarray:
        """Each global market's partition (read-only)."""
        view = self._partition_of.view()
        view.flags.writeable = False
        return view

    @property
    def local_markets(self) -> np.ndarray:
        """Each global market's number within its partition (read-only)."""
        view = self._local_of.view()
        view.flags.writeable = False
        return view

    def markets_of(self, partition: int) -> np.ndarray:
        """The global markets of ``partition``, in its local order."""
        return self._markets_of[check_int("partition", partition, min_value=0, max_value=self.threads - 1)]

    @property
    def book(self) -> Any:
        raise InputError(f"an engine of {self.threads} partitions has one book per partition: use .partitions[i].book")

    def close(self) -> None:
        """Stop the worker threads (also done when the engine is collected)."""
        self._pool.shutdown(wait=True)

    def _each(self, work: Any, items: list[Any]) -> list[Any]:
        """``work(partition, item)`` for every partition with an item, at once; results by partition.

        The first busy partition works in the calling thread, the others in the pool's: measured in a
        threaded simulation, handing every partition to the pool left the calling thread idle and
        started the second partition ~1.4 ms late per batch (waking a pool thread, then the GIL)."""
        todo = [(p, item) for p, item in enumerate(items) if item is not None]
        out: list[Any] = [None] * len(items)
        if not todo:
            return out
        futures = {p: self._pool.submit(work, p, item) for p, item in todo[1:]}
        first, item = todo[0]
        try:
            out[first] = work(first, item)
        finally:  # the pool's partitions are done (or failed) before anything else touches the engine
            wait(futures.values())
        for p, future in futures.items():
            out[p] = future.result()  # re-raises a pool partition's error
        return out

    def _by_partition(self, which: np.ndarray) -> list[np.ndarray | None]:
        """The indices of ``which`` (a partition per element) grouped by partition, each in its original order."""
        order, bounds = np.empty(len(which), np.int64), np.empty(self.threads + 1, np.int64)
        k.group_by_partition(np.ascontiguousarray(which, dtype=np.int64), order, bounds)
        return [order[bounds[p]:bounds[p + 1]] if bounds[p + 1] > bounds[p] else None for p in range(self.threads)]

    def global_ids(self, local: np.ndarray, partition: int) -> np.ndarray:
        """``partition``'s own order ids (``-1``: none) as this engine numbers them: ``local * threads + partition``."""
        return np.where(local >= 0, local * self.threads + partition, -1)

    def _route_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(partition, local id) of each global id; a negative id goes to partition 0 as -1 (found nowhere)."""
        valid = ids >= 0
        return np.where(valid, ids % self.threads, 0), np.where(valid, ids // self.threads, -1)

    # ------------------------------------------------------------------ orders
    def submit(self, markets: Any, sides: Any, prices: Any, qtys: Any, types: Any = None) -> SubmitResult:
        """Process a batch of orders as if they had arrived one by one; the partitions work at once."""
        markets = check_int_array("markets", markets)
        sides = check_int_array("sides", sides)
        prices = check_int_array("prices", prices)
        qtys = check_int_array("qtys", qtys)
        types = np.zeros(len(markets), dtype=np.int64) if types is None else check_int_array("types", types)
        n = check_same_length(markets=markets, sides=sides, prices=prices, qtys=qtys, types=types)
        order, local, bounds = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(self.threads + 1, np.int64)
        k.split_by_partition(markets, self._partition_of, self._local_of, order, local, bounds)
        groups = [order[bounds[p]:bounds[p + 1]] if bounds[p + 1] > bounds[p] else None for p in range(self.threads)]
        order_ids, filled, status = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int8)
        arrivals = self._arrivals

        def work(p: int, idx: np.ndarray) -> None:
            # Everything per order happens here, in compiled code that releases the GIL: the partitions overlap.
            part, m = self._parts[p], len(idx)
            cols = [np.empty(m, np.int64) for _ in range(4)]
            k.gather_orders(idx, sides, prices, qtys, types, *cols)
            before = part.trade_count
            res = part.submit(local[bounds[p]:bounds[p + 1]], *cols)
            k.scatter_results(idx, p, self.threads, res.order_ids, res.filled, res.status, order_ids, filled, status)
            printed = part.trade_count - before
            if printed > 0:  # each of this batch's trades gets its taker's arrival number
                kept = min(printed, part.tape_capacity)
                k.number_trades(part.book.t_taker, part.trade_count - kept, kept, res.order_ids, idx + arrivals, self._sequence[p])

        try:
            self._each(work, groups)
        finally:  # the partitions that finished kept their orders and numbered their trades: these numbers are taken
            self._arrivals += n
        return SubmitResult(order_ids, filled, status)

    def cancel(self, order_ids: Any) -> np.ndarray:
        """Cancel resting orders; ``False`` where the id is unknown, filled or already cancelled."""
        ids = check_int_array("order_ids", order_ids)
        return self._by_id(ids, lambda part, local, idx: part.cancel(local), np.bool_)

    def reduce(self, order_ids: Any, qtys: Any) -> np.ndarray:
        """Remove ``qtys`` lots from resting orders keeping their queue place (see :meth:`Engine.reduce`)."""
        ids = check_int_array("order_ids", order_ids)
        qtys = check_int_array("qtys", qtys)
        check_same_length(order_ids=ids, qtys=qtys)
        return self._by_id(ids, lambda part, local, idx: part.reduce(local, qtys[idx]), np.bool_)

    def amend(self, order_ids: Any, prices: Any, qtys: Any) -> SubmitResult:
        """Amend resting orders (see :meth:`Engine.amend`); each id's partition amends it, the partitions at once.

        New ids are global ones; a replacement's trades get the amend's arrival number, so :meth:`trades`
        merges them where one engine prints them."""
        ids = check_int_array("order_ids", order_ids)
        prices = check_int_array("prices", prices)
        qtys = check_int_array("qtys", qtys)
        n = check_same_length(order_ids=ids, prices=prices, qtys=qtys)
        which, local = self._route_ids(ids)
        new_ids, filled, status = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int8)
        arrivals = self._arrivals

        def work(p: int, idx: np.ndarray) -> None:
            part = self._parts[p]
            before = part.trade_count
            res = part.amend(local[idx], prices[idx], qtys[idx])
            k.scatter_results(idx, p, self.threads, res.order_ids, res.filled, res.status, new_ids, filled, status)
            printed = part.trade_count - before
            if printed > 0:  # a replacement's trades get its amend's arrival number, as a submitted order's
                kept = min(printed, part.tape_capacity)
                k.number_trades(part.book.t_taker, part.trade_count - kept, kept, res.order_ids, idx + arrivals, self._sequence[p])

        try:
            self._each(work, self._by_partition(which))
        finally:
            self._arrivals += n
        return SubmitResult(new_ids, filled, status)

    def open_qty(self, order_ids: Any) -> np.ndarray:
        ids = check_int_array("order_ids", order_ids)
        return self._by_id(ids, lambda part, local, idx: part.open_qty(local), np.int64)

    def _by_id(self, ids: np.ndarray, work: Any, dtype: Any) -> np.ndarray:
        which, local = self._route_ids(ids)
        out = np.empty(len(ids), dtype=dtype)
        for p, idx in enumerate(self._by_partition(which)):
            if idx is not None:
                out[idx] = work(self._parts[p], local[idx], idx)
        return out

    def _per_market(self, markets: Any, name: str, values: Any, work: Any) -> np.ndarray:
        array, values = self._per_market_args(markets, name, values)
        out = np.empty(len(array), dtype=np.int64)
        for p, idx in enumerate(self._by_partition(self._partition_of[array])):
            if idx is not None:
                out[idx] = work(self._parts[p], self._local_of[array[idx]], values[idx])
        return out

    def trim(self, markets: Any, max_orders: Any) -> np.ndarray:
        return self._per_market(markets, "max_orders", max_orders, lambda part, m, v: part.trim(m, v))

    def cancel_furthest(self, markets: Any, counts: Any) -> np.ndarray:
        return self._per_market(markets, "counts", counts, lambda part, m, v: part.cancel_furthest(m, v))

    def reserve(self, free_orders: int, free_levels: int) -> None:
        """Grow every partition's pools until each has ``free_orders`` order slots and ``free_levels`` levels free
        (where the orders will go is not known, so each partition gets room for all of them)."""
        for part in self._parts:
            part.reserve(free_orders, free_levels)

    # ------------------------------------------------------------------ queries
    def _best(self, markets: Any, side: int) -> Any:
        array, scalar = self._markets_arg(markets)
        out = np.empty(len(array), dtype=np.int64)
        for p, idx in enumerate(self._by_partition(self._partition_of[array])):
            if idx is not None:
                out[idx] = self._parts[p]._best(self._local_of[array[idx]], side)
        return int(out[0]) if scalar else out

    def _locate(self, market: Any, side: Any) -> tuple[Engine, int, int, int]:
        market, side = self._market_side(market, side)
        p = int(self._partition_of[market])
        return self._parts[p], p, int(self._local_of[market]), side

    def depth(self, market: int, side: int, n_levels: int = 10) -> np.ndarray:
        part, _, local, side = self._locate(market, side)
        return part.depth(local, side, n_levels)

    def book_orders(self, market: int, side: int) -> np.ndarray:
        part, p, local, side = self._locate(market, side)
        out = part.book_orders(local, side)
        result = np.empty(len(out), dtype=BOOK_ORDER_DTYPE)
        result["price"], result["qty"] = out["price"], out["qty"]
        result["order_id"] = self.global_ids(out["order_id"], p)
        return result

    def trades(self, last: int | None = None) -> np.ndarray:
        """Every partition's retained trades merged in arrival order (by their takers' arrival numbers), in
        global market and order ids; with ``last``, the newest ``last`` of them."""
        pieces, sequence = [], []
        for p, part in enumerate(self._parts):
            tape = part.trades(last)  # the newest ``last`` overall are among each partition's newest ``last``
            if not len(tape):
                continue
            ring = self._sequence[p]
            slots = np.arange(part.trade_count - len(tape), part.trade_count) % len(ring)
            tape["market"] = self._markets_of[p][tape["market"]]
            tape["maker_id"] = self.global_ids(tape["maker_id"], p)
            tape["taker_id"] = self.global_ids(tape["taker_id"], p)
            pieces.append(tape)
            sequence.append(ring[slots])
        if not pieces:
            return np.empty(0, dtype=TRADE_DTYPE)
        merged = np.concatenate(pieces)[np.argsort(np.concatenate(sequence), kind="stable")]
        if last is not None:
            count = min(len(merged), check_int("last", last, min_value=0))
            merged = merged[len(merged) - count:]
        return merged

    def market_stats(self) -> dict[str, np.ndarray]:
        stats: dict[str, np.ndarray] = {}
        for p, part in enumerate(self._parts):
            for name, values in part.market_stats().items():
                stats.setdefault(name, np.zeros(self.n_markets, dtype=values.dtype))[self._markets_of[p]] = values
        return stats

    def lookup_latency_ns(self, markets: Any, group: int = 16) -> np.ndarray:
        """As :meth:`Engine.lookup_latency_ns`, on the first partition (a dependent chain stays in one book):
        ``markets`` are taken modulo its market count."""
        array, _ = self._markets_arg(markets)
        first = self._parts[0]
        return first.lookup_latency_ns(array % first.n_markets, group)

    @property
    def resting_orders(self) -> int:
        return sum(part.resting_orders for part in self._parts)

    @property
    def price_levels(self) -> int:
        return sum(part.price_levels for part in self._parts)

    @property
    def trade_count(self) -> int:
        return sum(part.trade_count for part in self._parts)

    @property
    def tape_capacity(self) -> int:
        """Trades each partition's ring keeps (the engine keeps up to ``threads`` times this)."""
        return self._parts[0].tape_capacity

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in self._parts:
            for name, value in part.totals().items():
                out[name] = out.get(name, 0) + value
        return out

    def memory(self) -> MemoryReport:
        """Bytes used and reserved per component, summed over the partitions (their trades' arrival numbers in ``trade_tape``)."""
        components: dict[str, tuple[int, int]] = {}
        for part in self._parts:
            for name, (used, reserved) in part.memory().components.items():
                u, r = components.get(name, (0, 0))
                components[name] = (u + used, r + reserved)
        used, reserved = components["trade_tape"]  # each retained trade's arrival number: 8 bytes more
        components["trade_tape"] = (used + sum(8 * min(p.trade_count, p.tape_capacity) for p in self._parts),
                                    reserved + sum(ring.nbytes for ring in self._sequence))
        return MemoryReport(components=components, n_markets=self.n_markets, resting_orders=self.resting_orders,
                            price_levels=self.price_levels,
                            trades_retained=sum(min(p.trade_count, p.tape_capacity) for p in self._parts))

    def __repr__(self) -> str:
        return (f"Engine(n_markets={self.n_markets}, threads={self.threads}, resting_orders={self.resting_orders}, "
                f"price_levels={self.price_levels}, trades={self.trade_count})")
