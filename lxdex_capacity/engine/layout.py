"""Data layout of the engine: every array, its dtype, how pools grow, and how bytes are counted.

The engine is a structure of arrays.  Everything the numba kernels touch lives in one
:class:`Book` namedtuple so that growth (which replaces arrays) and byte accounting (which sums
them) are done here and nowhere else.

Records, in bytes per row:

* order   (16 B): ``qty, next, prev, level`` int32.  Orders of one price level form a circular
  doubly-linked FIFO list (``head.prev`` is the tail), so appends, fills and cancels are O(1).
* id index (4 B): ``gen`` int32 per order slot.  An order id is ``gen << 32 | slot``; the slot's
  generation advances whenever an order leaves it, so a stale id never matches a new order.
* level   (20 B): ``price`` int64, ``head, next, prev`` int32.  Levels of one (market, side) form a
  doubly-linked list from best to worst; the outer links of the best and worst levels hold the
  negative *owner code* ``-(2 + 2*market + side)`` instead of -1, so a level emptied by a cancel
  finds its market without storing one.
* market  (40 B): best and worst level per side (int32) and the aggregates last price, traded
  volume and trade count (int64).
* trade   (33 B): ring of the most recent trades: market int32, price int64, qty int32, maker and
  taker id int64, taker side int8.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Book",
    "new_book",
    "grow_orders",
    "grow_levels",
    "component_bytes",
    "ORDER_FIELDS",
    "INDEX_FIELDS",
    "LEVEL_FIELDS",
    "MARKET_FIELDS",
    "TRADE_FIELDS",
    "record_bytes",
    "MAX_QTY",
    "MAX_ORDER_SLOTS",
    "S_ORDER_FREE_HEAD",
    "S_RETIRED_SLOTS",
    "S_LEVEL_FREE_HEAD",
    "S_LIVE_ORDERS",
    "S_LIVE_LEVELS",
    "S_TRADES",
    "S_ACCEPTED_QTY",
    "S_CANCELLED_QTY",
    "S_ACCEPTED_ORDERS",
    "N_STATE",
]

# Largest quantity one order may carry: quantities are stored as int32.
MAX_QTY = np.iinfo(np.int32).max
# Slots are addressed by int32 links; ids keep the slot in their low 32 bits.
MAX_ORDER_SLOTS = np.iinfo(np.int32).max

# Field name -> dtype, per component.  Order matters only for documentation.
ORDER_FIELDS: dict[str, type] = {"o_qty": np.int32, "o_next": np.int32, "o_prev": np.int32, "o_level": np.int32}
INDEX_FIELDS: dict[str, type] = {"o_gen": np.int32}
LEVEL_FIELDS: dict[str, type] = {"l_price": np.int64, "l_head": np.int32, "l_next": np.int32, "l_prev": np.int32}
# m_best and m_worst have two entries per market (indexed by owner = 2*market + side).
MARKET_FIELDS: dict[str, type] = {
    "m_best": np.int32,
    "m_worst": np.int32,
    "m_last_price": np.int64,
    "m_volume": np.int64,
    "m_trade_count": np.int64,
}
_MARKET_ENTRIES = {"m_best": 2, "m_worst": 2}
TRADE_FIELDS: dict[str, type] = {
    "t_market": np.int32,
    "t_price": np.int64,
    "t_qty": np.int32,
    "t_maker": np.int64,
    "t_taker": np.int64,
    "t_side": np.int8,
}

# Indexes into the int64 scalar-state array shared with the kernels.
S_ORDER_FREE_HEAD = 0
S_RETIRED_SLOTS = 1  # order slots whose id generations ran out; never reused
S_LEVEL_FREE_HEAD = 2
S_LIVE_ORDERS = 3
S_LIVE_LEVELS = 4
S_TRADES = 5  # trades ever printed; the ring holds the last min(S_TRADES, capacity)
S_ACCEPTED_QTY = 6
S_CANCELLED_QTY = 7  # removed without trading: cancels, reduces, IOC/MARKET remainders, FOK kills
S_ACCEPTED_ORDERS = 8
N_STATE = 16


def record_bytes(fields: dict[str, type], entries: dict[str, int] | None = None) -> int:
    """Bytes one row of a component occupies across all its arrays."""
    entries = entries or {}
    return sum(np.dtype(dt).itemsize * entries.get(name, 1) for name, dt in fields.items())


class Book(NamedTuple):
    """Every array of an engine.  Passed whole to the numba kernels."""

    state: np.ndarray
    o_qty: np.ndarray
    o_next: np.ndarray
    o_prev: np.ndarray
    o_level: np.ndarray
    o_gen: np.ndarray
    l_price: np.ndarray
    l_head: np.ndarray
    l_next: np.ndarray
    l_prev: np.ndarray
    m_best: np.ndarray
    m_worst: np.ndarray
    m_last_price: np.ndarray
    m_volume: np.ndarray
    m_trade_count: np.ndarray
    t_market: np.ndarray
    t_price: np.ndarray
    t_qty: np.ndarray
    t_maker: np.ndarray
    t_taker: np.ndarray
    t_side: np.ndarray


def _chain(next_links: np.ndarray, start: int, stop: int) -> None:
    """Link slots ``start..stop-1`` into a free list ending in -1."""
    next_links[start : stop - 1] = np.arange(start + 1, stop, dtype=next_links.dtype)
    next_links[stop - 1] = -1


def new_book(n_markets: int, order_capacity: int, level_capacity: int, tape_capacity: int) -> Book:
    """Allocate an empty engine.  ``tape_capacity`` must be a power of two (the ring uses a mask)."""
    state = np.zeros(N_STATE, dtype=np.int64)
    orders = {name: np.zeros(order_capacity, dtype=dt) for name, dt in {**ORDER_FIELDS, **INDEX_FIELDS}.items()}
    levels = {name: np.zeros(level_capacity, dtype=dt) for name, dt in LEVEL_FIELDS.items()}
    markets = {
        name: np.zeros(n_markets * _MARKET_ENTRIES.get(name, 1), dtype=dt) for name, dt in MARKET_FIELDS.items()
    }
    markets["m_best"][:] = -1
    markets["m_worst"][:] = -1
    tape = {name: np.zeros(tape_capacity, dtype=dt) for name, dt in TRADE_FIELDS.items()}
    _chain(orders["o_next"], 0, order_capacity)
    _chain(levels["l_next"], 0, level_capacity)
    state[S_ORDER_FREE_HEAD] = 0
    state[S_LEVEL_FREE_HEAD] = 0
    return Book(state=state, **orders, **levels, **markets, **tape)


def _grown(array: np.ndarray, new_len: int) -> np.ndarray:
    out = np.zeros(new_len, dtype=array.dtype)
    out[: len(array)] = array
    return out


def grow_orders(book: Book, new_capacity: int) -> Book:
    """Return ``book`` with the order pool (and id index) grown to ``new_capacity`` free-linked slots."""
    old = len(book.o_qty)
    fields = {name: _grown(getattr(book, name), new_capacity) for name in {**ORDER_FIELDS, **INDEX_FIELDS}}
    _chain(fields["o_next"], old, new_capacity)
    fields["o_next"][new_capacity - 1] = book.state[S_ORDER_FREE_HEAD]
    book.state[S_ORDER_FREE_HEAD] = old
    return book._replace(**fields)


def grow_levels(book: Book, new_capacity: int) -> Book:
    """Return ``book`` with the level pool grown to ``new_capacity`` free-linked slots."""
    old = len(book.l_price)
    fields = {name: _grown(getattr(book, name), new_capacity) for name in LEVEL_FIELDS}
    _chain(fields["l_next"], old, new_capacity)
    fields["l_next"][new_capacity - 1] = book.state[S_LEVEL_FREE_HEAD]
    book.state[S_LEVEL_FREE_HEAD] = old
    return book._replace(**fields)


def component_bytes(book: Book) -> dict[str, tuple[int, int]]:
    """``{component: (bytes_used, bytes_reserved)}``, computed from the arrays themselves.

    *Used* counts the rows holding live data (live orders, live levels, every market, the trades
    in the ring); *reserved* is the arrays' ``nbytes``, including free slots kept for growth.
    """
    state = book.state
    live_orders = int(state[S_LIVE_ORDERS])
    live_levels = int(state[S_LIVE_LEVELS])
    in_ring = min(int(state[S_TRADES]), len(book.t_price))

    def nbytes(fields: dict[str, type]) -> int:
        return sum(getattr(book, name).nbytes for name in fields)

    return {
        "orders": (live_orders * record_bytes(ORDER_FIELDS), nbytes(ORDER_FIELDS)),
        "price_levels": (live_levels * record_bytes(LEVEL_FIELDS), nbytes(LEVEL_FIELDS)),
        "market_state": (nbytes(MARKET_FIELDS), nbytes(MARKET_FIELDS)),
        "trade_tape": (in_ring * record_bytes(TRADE_FIELDS), nbytes(TRADE_FIELDS)),
        "indexes": (live_orders * record_bytes(INDEX_FIELDS) + state.nbytes, nbytes(INDEX_FIELDS) + state.nbytes),
    }
