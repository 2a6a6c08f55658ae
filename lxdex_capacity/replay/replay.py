"""Replay a LOBSTER day through the engine (``lxdex replay``), optionally checking its top levels.

Each message is applied to market 0 by the exchange's order id: adds rest (without matching; an add
that would cross is counted as not applicable), partial cancels and visible executions reduce the
order, deletions remove it; hidden executions, cross trades and halts change no visible book.

With an orderbook file the engine's top ``levels`` are compared with the file after every message.
LOBSTER reports only the requested levels, so: the first row initialises the book; a level that
enters the window from unseen depth is injected; a level that leaves the window is dropped (its
later changes are not reported); events on orders the engine never saw reduce the injected
quantity at their price.  Messages/s time the kernel only; parsing is timed separately.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..engine import Engine
from ..errors import InputError
from . import _kernels as k
from .lobster import MESSAGE_TYPES, Messages

__all__ = ["ReplayResult", "replay", "warm_up"]


@dataclass(frozen=True)
class ReplayResult:
    source: str
    messages: int
    by_type: dict[str, int]
    applied: int
    unapplied: int  # book events that could not be applied
    skipped: int  # hidden executions, cross trades, halts
    unknown_ids: int
    checked_rows: int
    levels: int
    injections: int
    dropped_levels: int
    disagreements: int
    first_disagreement: dict[str, Any] | None
    parse_seconds: float
    apply_seconds: float
    messages_per_s: float
    resting_orders: int
    price_levels: int
    engine_bytes_used: int
    engine_bytes_reserved: int
    bytes_per_resting_order: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Run:
    """An engine, its injected-slot flags and the id map for one replay."""

    def __init__(self, messages: Messages, levels: int):
        self.engine = Engine(1, order_capacity=1 << 12, level_capacity=1 << 10, tape_capacity=1 << 10)
        self.engine_ids = np.full(max(messages.n_ids, 1), -1, dtype=np.int64)
        self.is_injected = np.zeros(len(self.engine.book.orders), dtype=np.bool_)
        self.counters = k.new_counters()
        self.scratch_price = np.zeros(max(levels, 1), dtype=np.int64)
        self.scratch_qty = np.zeros(max(levels, 1), dtype=np.int64)

    def run(self, m: Messages, orderbook: np.ndarray, levels: int, check: bool, stop: int) -> None:
        empty_row = np.zeros(orderbook.shape[1], dtype=np.int64)
        start = 0
        need = 1 + 2 * levels
        while start < stop:
            start = k.replay(self.engine.book, m.type, m.order_index, m.size, m.price, m.side, self.engine_ids,
                             self.is_injected, start, stop, check, orderbook, levels, empty_row, self.scratch_price,
                             self.scratch_qty, self.counters)
            if start < stop:
                self.engine.reserve(2 * need + len(self.engine.book.orders) // 2, 2 * need + len(self.engine.book.levels) // 2)
                grown = np.zeros(len(self.engine.book.orders), dtype=np.bool_)
                grown[: len(self.is_injected)] = self.is_injected
                self.is_injected = grown


def warm_up() -> None:
    """Compile the kernel (or load it from the cache) before anything is timed
    (:data:`lxdex_capacity.kernel_cache.REPLAY`)."""
    tiny = Messages(time=np.zeros(1), type=np.ones(1, np.int8), order_id=np.zeros(1, np.int64), order_index=np.zeros(1, np.int64),
                    n_ids=1, size=np.ones(1, np.int64), price=np.ones(1, np.int64), side=np.zeros(1, np.int8), source="", parse_seconds=0.0)
    _Run(tiny, 1).run(tiny, np.zeros((1, 4), np.int64), 1, True, 1)


def replay(messages: Messages, orderbook: np.ndarray | None = None, levels: int | None = None) -> ReplayResult:
    """Apply every message; with ``orderbook`` (rows x 4*levels), check the top ``levels`` after each."""
    check = orderbook is not None
    if levels is None:
        levels = orderbook.shape[1] // 4 if orderbook is not None else 1
    # The kernel indexes without bounds checks: the orderbook's shape must be right.
    if orderbook is not None and (orderbook.ndim != 2 or len(orderbook) != len(messages) or orderbook.shape[1] < 4 * levels):
        raise InputError(f"the orderbook ({' x '.join(map(str, orderbook.shape))}) must have one row per message "
                         f"({len(messages):,}) and 4 columns per level ({levels} level{'' if levels == 1 else 's'})")
    book_rows = orderbook[:, : 4 * levels] if orderbook is not None else np.zeros((1, 4 * levels), dtype=np.int64)
    book_rows = np.ascontiguousarray(book_rows, dtype=np.int64)
    warm_up()
    run = _Run(messages, levels)
    started = time.perf_counter()
    run.run(messages, book_rows, levels, check, len(messages))
    seconds = time.perf_counter() - started
    c = run.counters
    first = int(c[k.C_FIRST_BAD])
    memory = run.engine.memory()
    by_type = {MESSAGE_TYPES[t]: int(n) for t, n in zip(*np.unique(messages.type, return_counts=True), strict=True)}
    return ReplayResult(
        source=messages.source,
        messages=len(messages),
        by_type=by_type,
        applied=int(c[k.C_APPLIED]),
        unapplied=int(c[k.C_UNAPPLIED]),
        skipped=int(c[k.C_SKIPPED]),
        unknown_ids=int(c[k.C_UNKNOWN_IDS]),
        checked_rows=int(c[k.C_CHECKED]),
        levels=levels if check else 0,
        injections=int(c[k.C_INJECTIONS]),
        dropped_levels=int(c[k.C_DROPPED]),
        disagreements=int(c[k.C_DISAGREEMENTS]),
        first_disagreement=_describe(messages, book_rows, levels, first) if first >= 0 else None,
        parse_seconds=messages.parse_seconds,
        apply_seconds=seconds,
        messages_per_s=len(messages) / seconds if seconds > 0 else 0.0,
        resting_orders=memory.resting_orders,
        price_levels=memory.price_levels,
        engine_bytes_used=memory.bytes_used,
        engine_bytes_reserved=memory.bytes_reserved,
        bytes_per_resting_order=memory.bytes_per_resting_order,
    )


def _levels_of(row: np.ndarray, levels: int) -> dict[str, list[list[int]]]:
    asks = [[int(row[4 * j]), int(row[4 * j + 1])] for j in range(levels) if row[4 * j + 1] > 0]
    bids = [[int(row[4 * j + 2]), int(row[4 * j + 3])] for j in range(levels) if row[4 * j + 3] > 0]
    return {"asks": asks, "bids": bids}


def _describe(m: Messages, orderbook: np.ndarray, levels: int, i: int) -> dict[str, Any]:
    """The first disagreement in full: the message, the file's levels and the engine's (replayed again up to it)."""
    again = _Run(m, levels)
    again.run(m, orderbook, levels, True, i + 1)
    eng = again.engine
    engine_levels = {}
    for name, side in (("asks", 1), ("bids", 0)):
        d = eng.depth(0, side, levels)
        engine_levels[name] = [[int(p), int(q)] for p, q in zip(d["price"], d["qty"], strict=True)]
    return {
        "message_index": i,
        "line": i + 1,
        "message": {"time": float(m.time[i]), "type": int(m.type[i]), "type_name": MESSAGE_TYPES[int(m.type[i])],
                    "order_id": int(m.order_id[i]), "size": int(m.size[i]), "price": int(m.price[i]),
                    "direction": 1 if m.side[i] == 0 else -1},
        "expected": _levels_of(orderbook[i], levels),
        "engine": engine_levels,
    }
