"""The :class:`Engine`: the Python API over the numba kernels.

The facade validates and converts inputs, grows pools when a kernel asks for room, and shapes
results for users.  All order handling happens in ``_kernels``; all array layout in ``layout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CapacityError, InputError
from ..validation import check_int, check_int_array, check_same_length
from . import _kernels as k
from .codes import NO_PRICE
from .layout import (
    A_COUNT,
    A_LAST,
    A_VOLUME,
    MAX_ORDER_SLOTS,
    S_ACCEPTED_ORDERS,
    S_ACCEPTED_QTY,
    S_CANCELLED_QTY,
    S_LEVEL_FREE_HEAD,
    S_LIVE_LEVELS,
    S_LIVE_ORDERS,
    S_ORDER_FREE_HEAD,
    S_RETIRED_SLOTS,
    S_TRADES,
    TRADE_DTYPE,
    TRADE_RECORD,
    Book,
    component_bytes,
    grow_levels,
    grow_orders,
    new_book,
)

__all__ = ["cycles_per_ns", "Engine", "SubmitResult", "MemoryReport", "NO_PRICE", "TRADE_DTYPE", "LEVEL_DTYPE", "BOOK_ORDER_DTYPE"]

DEFAULT_TAPE_CAPACITY = 1 << 18  # 262,144 trades
GROWTH_FACTOR = 2
# The components whose size follows the resting orders (the rest is per market or fixed).
BOOK_COMPONENTS = ("orders", "price_levels", "indexes")
MIN_CAPACITY = 1024

LEVEL_DTYPE = np.dtype([("price", np.int64), ("qty", np.int64)])
BOOK_ORDER_DTYPE = np.dtype([("price", np.int64), ("order_id", np.int64), ("qty", np.int64)])


_cycles_per_ns: list[float] = []


def cycles_per_ns() -> float:
    """Ticks of the CPU's counter per nanosecond, calibrated once per process over 50 ms: the TSC's rate on x86-64,
    the generic timer's on aarch64 (24 MHz on Apple silicon: 0.024 ticks per ns), neither of them assumed."""
    if not _cycles_per_ns:
        import time

        c0, t0 = k.read_cycles(), time.perf_counter_ns()
        time.sleep(0.05)
        c1, t1 = k.read_cycles(), time.perf_counter_ns()
        _cycles_per_ns.append((c1 - c0) / (t1 - t0))
    return _cycles_per_ns[0]


@dataclass(frozen=True)
class SubmitResult:
    """Per-order outcome of one :meth:`Engine.submit` or :meth:`Engine.amend` batch (arrays aligned with the input)."""

    order_ids: np.ndarray  # int64; -1 where rejected
    filled: np.ndarray  # int64 quantity filled on arrival
    status: np.ndarray  # int8, see ``codes.Status``

    def __len__(self) -> int:
        return len(self.order_ids)


@dataclass(frozen=True)
class MemoryReport:
    """Engine-owned bytes per component, computed from the arrays (no sampling, no estimate)."""

    components: dict[str, tuple[int, int]]  # name -> (bytes_used, bytes_reserved)
    n_markets: int
    resting_orders: int
    price_levels: int
    trades_retained: int

    @property
    def bytes_used(self) -> int:
        return sum(used for used, _ in self.components.values())

    @property
    def bytes_reserved(self) -> int:
        return sum(reserved for _, reserved in self.components.values())

    @property
    def book_bytes_used(self) -> int:
        """Bytes used by what resting orders cost: order rows, price levels and the id index."""
        return sum(self.components[c][0] for c in BOOK_COMPONENTS)

    @property
    def book_bytes_reserved(self) -> int:
        return sum(self.components[c][1] for c in BOOK_COMPONENTS)

    @property
    def bytes_per_resting_order(self) -> float:
        """All-in bytes used per resting order (order row, its share of levels, id index)."""
        return self.book_bytes_used / max(self.resting_orders, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_used": self.bytes_used,
            "bytes_reserved": self.bytes_reserved,
            "components": {
                name: {"bytes_used": used, "bytes_reserved": reserved}
                for name, (used, reserved) in self.components.items()
            },
            "markets": self.n_markets,
            "resting_orders": self.resting_orders,
            "price_levels": self.price_levels,
            "trades_retained": self.trades_retained,
        }


class Engine:
    """A price-time-priority matching engine for ``n_markets`` independent markets.

    ``order_capacity`` and ``level_capacity`` only size the first allocation; pools double when
    full and reuse freed slots.  ``tape_capacity`` (a power of two) bounds the trade ring.
    ``threads=k`` (k > 1) partitions the markets across k threads (``partition_of``, default
    ``market % k``): a :class:`~lxdex_capacity.engine.partitioned.PartitionedEngine`, same API, same
    per-order results.
    """

    def __new__(cls, n_markets: int, *, threads: int = 1, **options: Any) -> Engine:
        # Engine(n, threads=k) with k > 1 is a PartitionedEngine (a subclass, so its __init__ then runs).
        if cls is Engine and threads != 1:
            from .partitioned import PartitionedEngine

            return super().__new__(PartitionedEngine)
        return super().__new__(cls)

    def __init__(
        self,
        n_markets: int,
        *,
        threads: int = 1,
        partition_of: Any = None,
        order_capacity: int = MIN_CAPACITY,
        level_capacity: int = MIN_CAPACITY,
        tape_capacity: int = DEFAULT_TAPE_CAPACITY,
    ) -> None:
        self.n_markets = check_int("n_markets", n_markets, min_value=1, max_value=np.iinfo(np.int32).max // 2)
        self.threads = 1
        if partition_of is not None and np.any(check_int_array("partition_of", partition_of)):
            raise InputError("partition_of: an engine of one thread has one partition, 0")
        order_capacity = check_int("order_capacity", order_capacity, min_value=1, max_value=MAX_ORDER_SLOTS)
        level_capacity = check_int("level_capacity", level_capacity, min_value=1, max_value=MAX_ORDER_SLOTS)
        tape_capacity = check_int("tape_capacity", tape_capacity, min_value=1)
        if tape_capacity & (tape_capacity - 1):
            raise InputError(f"tape_capacity={tape_capacity} must be a power of two")
        self._book: Book = new_book(self.n_markets, order_capacity, level_capacity, tape_capacity)

    # ------------------------------------------------------------------ orders
    def submit(self, markets: Any, sides: Any, prices: Any, qtys: Any, types: Any = None) -> SubmitResult:
        """Process a batch of orders in array order, as if they had arrived one by one."""
        markets = check_int_array("markets", markets)
        sides = check_int_array("sides", sides)
        prices = check_int_array("prices", prices)
        qtys = check_int_array("qtys", qtys)
        types = np.zeros(len(markets), dtype=np.int64) if types is None else check_int_array("types", types)
        n = check_same_length(markets=markets, sides=sides, prices=prices, qtys=qtys, types=types)
        order_ids = np.empty(n, dtype=np.int64)
        filled = np.empty(n, dtype=np.int64)
        status = np.empty(n, dtype=np.int8)
        start = 0
        while True:
            start = k.submit(self._book, markets, sides, prices, qtys, types, start, order_ids, filled, status)
            if start == n:
                return SubmitResult(order_ids, filled, status)
            self._grow()

    def cancel(self, order_ids: Any) -> np.ndarray:
        """Cancel resting orders; ``False`` where the id is unknown, filled or already cancelled."""
        ids = check_int_array("order_ids", order_ids)
        ok = np.empty(len(ids), dtype=np.bool_)
        k.cancel(self._book, ids, ok)
        return ok

    def reduce(self, order_ids: Any, qtys: Any) -> np.ndarray:
        """Remove ``qtys`` lots from resting orders keeping their queue place.

        Reducing by the whole remaining quantity (or more) cancels the order.  ``False`` where the
        id is not resting or the quantity is not positive.
        """
        ids = check_int_array("order_ids", order_ids)
        qtys = check_int_array("qtys", qtys)
        check_same_length(order_ids=ids, qtys=qtys)
        ok = np.empty(len(ids), dtype=np.bool_)
        k.reduce(self._book, ids, qtys, ok)
        return ok

    def amend(self, order_ids: Any, prices: Any, qtys: Any) -> SubmitResult:
        """Change resting orders' limit price and open quantity; one batch, processed in array order.

        ``qtys`` is the new open (remaining) quantity, ``prices`` the new limit price (the order's
        market and side stay).  Per amend (a :class:`SubmitResult`): the order's id after the amend,
        the quantity filled by it, and a status:

        * same price, smaller quantity: reduced in place, keeping its queue place and id (RESTING);
          the same price and quantity changes nothing (RESTING, same id);
        * a new price or a larger quantity: cancel-replace.  The order leaves its level as a cancel
          would (its id ends) and a LIMIT order of the new price and quantity enters as ``submit``
          would enter it (whatever the order's type was): it trades if it crosses, at the makers'
          prices, and rests at the back of its level under a NEW id (RESTING) or is FILLED; its
          id, fill and status are those ``submit`` would return;
        * an id not resting (unknown, filled, cancelled, already replaced), a quantity <= 0 or
          above 2**31 - 1, or a price outside 1..2**31 - 1: REJECTED_ID, REJECTED_QTY or
          REJECTED_PRICE (checked in that order), id -1, nothing changes.

        Counters move as the equivalent operations would move them: in place, the quantity taken
        off counts as cancelled (as :meth:`reduce`); a cancel-replace counts the old open quantity as
        cancelled, then one accepted order of the new quantity, its trades and its rest (as
        :meth:`cancel` then :meth:`submit`).
        """
        ids = check_int_array("order_ids", order_ids)
        prices = check_int_array("prices", prices)
        qtys = check_int_array("qtys", qtys)
        n = check_same_length(order_ids=ids, prices=prices, qtys=qtys)
        new_ids = np.empty(n, dtype=np.int64)
        filled = np.empty(n, dtype=np.int64)
        status = np.empty(n, dtype=np.int8)
        start = 0
        while True:
            start = k.amend(self._book, ids, prices, qtys, start, new_ids, filled, status)
            if start == n:
                return SubmitResult(new_ids, filled, status)
            self._grow()

    def _per_market_args(self, markets: Any, name: str, values: Any) -> tuple[np.ndarray, np.ndarray]:
        """(markets, non-negative ``name`` per market), validated."""
        array, _ = self._markets_arg(markets)
        values = check_int_array(name, values)
        check_same_length(markets=array, **{name: values})
        if values.size and values.min() < 0:
            raise InputError(f"{name}={int(values.min())} must be at least 0")
        return array, values

    def _cancel_per_market(self, kernel: Any, markets: Any, name: str, values: Any) -> np.ndarray:
        """Validate (:meth:`_per_market_args`), run ``kernel``, return its counts."""
        array, values = self._per_market_args(markets, name, values)
        out = np.empty(len(array), dtype=np.int64)
        kernel(self._book, array, values, out)
        return out

    def trim(self, markets: Any, max_orders: Any) -> np.ndarray:
        """Cancel orders until each market holds at most ``max_orders`` resting orders.

        Each cancel takes, from the side holding more orders, the newest order at its worst
        price.  Returns how many orders were cancelled per market.
        """
        return self._cancel_per_market(k.trim, markets, "max_orders", max_orders)

    def cancel_furthest(self, markets: Any, counts: Any) -> np.ndarray:
        """Cancel ``counts`` orders per market, each the newest order at the worst price of the side
        whose worst price is furthest from its best; O(1) per cancel.  Returns cancels per market
        (fewer than asked where a market runs out of orders)."""
        return self._cancel_per_market(k.cancel_furthest, markets, "counts", counts)

    def open_qty(self, order_ids: Any) -> np.ndarray:
        """Remaining quantity of each order: 0 unless it is resting (filled, cancelled, unknown)."""
        ids = check_int_array("order_ids", order_ids)
        out = np.empty(len(ids), dtype=np.int64)
        k.open_qty(self._book, ids, out)
        return out

    def reserve(self, free_orders: int, free_levels: int) -> None:
        """Grow the pools until at least ``free_orders`` order slots and ``free_levels`` levels are free.

        Kernels that place orders one by one (replay) call this first instead of stopping when a
        pool runs dry."""
        book = self._book
        state = book.state
        while len(book.orders) - state[S_LIVE_ORDERS] - state[S_RETIRED_SLOTS] < free_orders:
            cap = len(book.orders)
            if cap >= MAX_ORDER_SLOTS:
                raise CapacityError(f"order pool is at its limit of {MAX_ORDER_SLOTS} slots")
            book = grow_orders(book, min(max(cap * GROWTH_FACTOR, MIN_CAPACITY), MAX_ORDER_SLOTS))
            state = book.state
        while len(book.levels) - state[S_LIVE_LEVELS] < free_levels:
            book = grow_levels(book, min(max(len(book.levels) * GROWTH_FACTOR, MIN_CAPACITY), MAX_ORDER_SLOTS))
            state = book.state
        self._book = book

    def _grow(self) -> None:
        book = self._book
        if book.state[S_ORDER_FREE_HEAD] == -1:
            cap = len(book.orders)
            if cap >= MAX_ORDER_SLOTS:
                raise CapacityError(f"order pool is at its limit of {MAX_ORDER_SLOTS} slots")
            book = grow_orders(book, min(max(cap * GROWTH_FACTOR, MIN_CAPACITY), MAX_ORDER_SLOTS))
        if book.state[S_LEVEL_FREE_HEAD] == -1:
            cap = len(book.levels)
            book = grow_levels(book, min(max(cap * GROWTH_FACTOR, MIN_CAPACITY), MAX_ORDER_SLOTS))
        self._book = book

    @property
    def book(self) -> Book:
        """The engine's arrays, for compiled code built on :mod:`~lxdex_capacity.engine.kernel_api`.

        Valid until the pools next grow (a submit or :meth:`reserve` may replace the arrays)."""
        return self._book

    # ------------------------------------------------------------------ queries
    def _markets_arg(self, markets: Any) -> tuple[np.ndarray, bool]:
        scalar = np.ndim(markets) == 0
        array = check_int_array("markets", markets)
        if array.size and (array.min() < 0 or array.max() >= self.n_markets):
            bad = array[(array < 0) | (array >= self.n_markets)][0]
            raise InputError(f"market={bad} must be in 0..{self.n_markets - 1}")
        return array, scalar

    def _best(self, markets: Any, side: int) -> Any:
        array, scalar = self._markets_arg(markets)
        out = np.empty(len(array), dtype=np.int64)
        k.best_prices(self._book, array, side, out)
        return int(out[0]) if scalar else out

    def best_bid(self, markets: Any) -> Any:
        """Highest bid per market; ``NO_PRICE`` (0) where no bid rests.  Scalar in, scalar out."""
        return self._best(markets, 0)

    def best_ask(self, markets: Any) -> Any:
        """Lowest ask per market; ``NO_PRICE`` (0) where no ask rests.  Scalar in, scalar out."""
        return self._best(markets, 1)

    def _market_side(self, market: Any, side: Any) -> tuple[int, int]:
        market = check_int("market", market, min_value=0, max_value=self.n_markets - 1)
        side = check_int("side", side, min_value=0, max_value=1)
        return market, side

    def depth(self, market: int, side: int, n_levels: int = 10) -> np.ndarray:
        """Aggregated levels of one side, best first: structured array of (price, qty)."""
        market, side = self._market_side(market, side)
        n_levels = check_int("n_levels", n_levels, min_value=0)
        n_levels = min(n_levels, int(self._book.state[S_LIVE_LEVELS]))
        prices = np.empty(n_levels, dtype=np.int64)
        qtys = np.empty(n_levels, dtype=np.int64)
        found = k.depth(self._book, market, side, n_levels, prices, qtys)
        out = np.empty(found, dtype=LEVEL_DTYPE)
        out["price"] = prices[:found]
        out["qty"] = qtys[:found]
        return out

    def book_orders(self, market: int, side: int) -> np.ndarray:
        """Every resting order of one side in priority order: structured (price, order_id, qty)."""
        market, side = self._market_side(market, side)
        _, count = k.count_side(self._book, market, side)
        prices = np.empty(count, dtype=np.int64)
        ids = np.empty(count, dtype=np.int64)
        qtys = np.empty(count, dtype=np.int64)
        k.book_orders(self._book, market, side, prices, ids, qtys)
        out = np.empty(count, dtype=BOOK_ORDER_DTYPE)
        out["price"], out["order_id"], out["qty"] = prices, ids, qtys
        return out

    def trades(self, last: int | None = None) -> np.ndarray:
        """The trade ring's contents, oldest first (structured array, see ``TRADE_DTYPE``); with
        ``last``, only the newest ``last`` of them."""
        book = self._book
        total = int(book.state[S_TRADES])
        cap = len(book.t_price)
        count = min(total, cap)
        if last is not None:
            count = min(count, check_int("last", last, min_value=0))
        # The newest trade sits just before where the next one will go.
        order = (np.arange(total - count, total)) % cap
        out = np.empty(count, dtype=TRADE_DTYPE)
        for name, array, _ in TRADE_RECORD:
            out[name] = getattr(book, array)[order]
        return out

    def market_stats(self) -> dict[str, np.ndarray]:
        """Per-market figures: price levels, last trade price (0 if none), traded volume, trade count,
        resting orders and resting quantity."""
        book = self._book
        orders = np.empty(self.n_markets, dtype=np.int64)
        qty = np.empty(self.n_markets, dtype=np.int64)
        levels = np.empty(self.n_markets, dtype=np.int64)
        k.resting_per_market(book, orders, qty, levels)
        return {
            "price_levels": levels,
            "last_price": book.aggs[:, A_LAST].copy(),
            "volume": book.aggs[:, A_VOLUME].copy(),
            "trade_count": book.aggs[:, A_COUNT].copy(),
            "resting_orders": orders,
            "resting_qty": qty,
        }

    def lookup_latency_ns(self, markets: Any, group: int = 16) -> np.ndarray:
        """Nanoseconds per dependent best-bid lookup, one figure per run of ``group`` lookups on ``markets``.

        Each lookup's market is offset by the previous lookup's result, so they cannot overlap: a
        run takes ``group`` memory-access latencies back to back, timed by the CPU's cycle counter
        (a virtual machine's counter may tick too coarsely to time one access)."""
        array, _ = self._markets_arg(markets)
        group = check_int("group", group, min_value=1)
        runs = np.empty(len(array) // group, dtype=np.int64)
        k.lookup_latency(self._book, array[: 2 * group], group, runs[: min(2, len(runs))])  # warm the code path
        k.lookup_latency(self._book, array, group, runs)
        return runs / group / cycles_per_ns()

    @property
    def resting_orders(self) -> int:
        return int(self._book.state[S_LIVE_ORDERS])

    @property
    def price_levels(self) -> int:
        return int(self._book.state[S_LIVE_LEVELS])

    @property
    def trade_count(self) -> int:
        """Trades printed since the engine was created (the ring keeps only the latest)."""
        return int(self._book.state[S_TRADES])

    @property
    def tape_capacity(self) -> int:
        return len(self._book.t_price)

    def totals(self) -> dict[str, int]:
        """Engine-wide counters: accepted orders and quantity, quantity cancelled without trading."""
        state = self._book.state
        return {
            "accepted_orders": int(state[S_ACCEPTED_ORDERS]),
            "accepted_qty": int(state[S_ACCEPTED_QTY]),
            "cancelled_qty": int(state[S_CANCELLED_QTY]),
            "traded_qty": int(self._book.aggs[:, A_VOLUME].sum()),
            "trades": int(state[S_TRADES]),
            "resting_orders": int(state[S_LIVE_ORDERS]),
        }

    def memory(self) -> MemoryReport:
        """Bytes used and reserved per component, computed exactly from the arrays."""
        book = self._book
        return MemoryReport(
            components=component_bytes(book),
            n_markets=self.n_markets,
            resting_orders=self.resting_orders,
            price_levels=self.price_levels,
            trades_retained=min(self.trade_count, self.tape_capacity),
        )

    def __repr__(self) -> str:
        return (
            f"Engine(n_markets={self.n_markets}, resting_orders={self.resting_orders}, "
            f"price_levels={self.price_levels}, trades={self.trade_count})"
        )

