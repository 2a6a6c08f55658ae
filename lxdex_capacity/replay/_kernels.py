"""numba kernels that apply LOBSTER messages to an engine's market 0, and check its top levels.

Kept apart from the Python facade (:mod:`lxdex_capacity.replay.replay`), like the engine's own
kernels, whose helpers (:mod:`lxdex_capacity.engine.kernel_api`) they call so that a replayed order is stored exactly as a submitted one.
"""

from __future__ import annotations

import numpy as np

from ..engine.kernel_api import (
    alloc_order,
    append_order,
    better,
    cancel_slot,
    crosses,
    depth,
    find_or_add_level,
    helper,
    kernel,
    live_slot,
    order_id,
    reduce_slot,
    row_index,
)
from ..engine.layout import (
    K_BEST,
    L_NEXT,
    L_PRICE,
    L_TAIL,
    O_NEXT,
    O_QTY,
    S_ACCEPTED_ORDERS,
    S_ACCEPTED_QTY,
    S_LIVE_LEVELS,
    S_LIVE_ORDERS,
    S_RETIRED_SLOTS,
)

# Counters filled by ``replay`` (indexes into its int64 ``counters`` array).
C_APPLIED = 0  # messages that changed the book as the file says
C_UNAPPLIED = 1  # book events that could not be applied (nothing left at that price to reduce, or a crossing add)
C_SKIPPED = 2  # hidden executions, cross trades, halts: no visible book change
C_UNKNOWN_IDS = 3  # events on orders the engine never saw, applied to injected quantity
C_CHECKED = 4  # orderbook rows compared
C_INJECTIONS = 5  # levels entering the window from unseen depth
C_DROPPED = 6  # levels leaving the window (no longer reported): removed
C_DISAGREEMENTS = 7  # rows whose top levels differ after the rules above
C_FIRST_BAD = 8  # index of the first disagreeing row, -1 if none
N_COUNTERS = 9

MARKET = 0


@helper
def _find_level(book, side, price):
    """The level at ``price`` on ``side`` of market 0, or -1."""
    level = book.links[row_index(2 * MARKET + side), K_BEST]
    while level >= 0:
        p = book.levels[row_index(level), L_PRICE]
        if p == price:
            return level
        if better(side, price, p):
            return -1
        level = book.levels[row_index(level), L_NEXT]
    return -1


@helper
def _place(book, side, price, qty, injected, is_injected):
    """Rest a new order without matching; return its engine id."""
    state = book.state
    slot = alloc_order(book)
    level = find_or_add_level(book, MARKET, side, price)
    append_order(book, level, slot, qty)
    state[S_LIVE_ORDERS] += 1
    state[S_ACCEPTED_ORDERS] += 1
    state[S_ACCEPTED_QTY] += qty
    is_injected[slot] = injected
    return order_id(book, slot)


@helper
def _reduce_injected(book, side, price, qty, is_injected):
    """Take ``qty`` from the injected quantity at ``price``, oldest first; return what could not be taken."""
    remaining = qty
    while remaining > 0:
        level = _find_level(book, side, price)
        if level < 0:
            return remaining
        tail = book.levels[row_index(level), L_TAIL]
        slot = book.orders[row_index(tail), O_NEXT]
        found = -1
        while True:
            if is_injected[slot]:
                found = slot
                break
            if slot == tail:
                break
            slot = book.orders[row_index(slot), O_NEXT]
        if found < 0:
            return remaining
        have = book.orders[row_index(found), O_QTY]
        take = have if have < remaining else remaining
        reduce_slot(book, found, take)
        remaining -= take
    return 0


@helper
def _clear_level(book, level):
    """Cancel every order of a level (which then disappears)."""
    while True:
        tail = book.levels[row_index(level), L_TAIL]
        if tail < 0:
            return
        only = book.orders[row_index(tail), O_NEXT] == tail
        cancel_slot(book, tail)
        if only:
            return


@helper
def _in_window(row, side, levels, price):
    col = 2 if side == 0 else 0
    for j in range(levels):
        if row[4 * j + col + 1] > 0 and row[4 * j + col] == price:
            return True
    return False


@helper
def _apply(book, kind, index, size, price, side, engine_ids, is_injected, counters):
    if kind == 1:
        best = book.links[row_index(2 * MARKET + 1 - side), K_BEST]
        if best >= 0 and crosses(side, book.levels[row_index(best), L_PRICE], price):
            counters[C_UNAPPLIED] += 1  # an add that would trade: the book the engine holds is not the exchange's
            return
        engine_ids[index] = _place(book, side, price, size, False, is_injected)
        counters[C_APPLIED] += 1
    elif kind <= 4:
        known = engine_ids[index]
        slot = live_slot(book, known) if known >= 0 else -1
        if slot >= 0:
            reduce_slot(book, slot, book.orders[row_index(slot), O_QTY] if kind == 3 else size)
            counters[C_APPLIED] += 1
        else:
            counters[C_UNKNOWN_IDS] += 1
            if _reduce_injected(book, side, price, size, is_injected) > 0:
                counters[C_UNAPPLIED] += 1
            else:
                counters[C_APPLIED] += 1
    else:
        counters[C_SKIPPED] += 1


@helper
def _sync_window(book, i, kinds, prices, sides, row, prev, levels, is_injected, counters):
    """Apply the window rules for orderbook row ``i``: drop levels that left it, inject levels that
    entered it from unseen depth.  ``prev`` is the previous row (or a row of empty levels)."""
    for side in range(2):
        col = 2 if side == 0 else 0
        valid = 0
        last_price = 0
        for j in range(levels):
            if row[4 * j + col + 1] > 0:
                valid += 1
                last_price = row[4 * j + col]
        if valid == levels:
            # Levels beyond a full window are no longer reported: drop them.
            level = book.links[row_index(2 * MARKET + side), K_BEST]
            while level >= 0:
                p = book.levels[row_index(level), L_PRICE]
                nxt = book.levels[row_index(level), L_NEXT]
                if better(side, last_price, p):
                    _clear_level(book, level)
                    counters[C_DROPPED] += 1
                level = nxt
        for j in range(levels):
            q = row[4 * j + col + 1]
            if q <= 0:
                continue
            p = row[4 * j + col]
            if _in_window(prev, side, levels, p):
                continue
            # New to the window: whatever the engine lacks there came from unseen depth.
            level = _find_level(book, side, p)
            have = 0
            if level >= 0:
                tail = book.levels[row_index(level), L_TAIL]
                slot = book.orders[row_index(tail), O_NEXT]
                while True:
                    have += book.orders[row_index(slot), O_QTY]
                    if slot == tail:
                        break
                    slot = book.orders[row_index(slot), O_NEXT]
            if have < q:
                _place(book, side, p, q - have, True, is_injected)
                counters[C_INJECTIONS] += 1


@helper
def _agrees(book, row, levels, scratch_price, scratch_qty):
    for side in range(2):
        col = 2 if side == 0 else 0
        k = depth(book, MARKET, side, levels, scratch_price, scratch_qty)
        valid = 0
        for j in range(levels):
            if row[4 * j + col + 1] > 0:
                if j >= k or scratch_price[j] != row[4 * j + col] or scratch_qty[j] != row[4 * j + col + 1]:
                    return False
                valid += 1
        if k != valid:
            return False
    return True


@kernel
def replay(book, kinds, indexes, sizes, prices, sides, engine_ids, is_injected, start, stop, check, orderbook, levels,
           empty_row, scratch_price, scratch_qty, counters):
    """Apply messages ``start..stop-1``; with ``check``, sync and compare each against its orderbook row.

    Row 0 of a checked replay is the initial book: it is injected whole and message 0 is not
    applied again.  Returns the index reached: ``stop``, or the first message for which a pool
    lacks room (the caller grows it and calls again from there).
    """
    state = book.state
    need = 1 + 2 * levels  # one add, or the injections of a row
    for i in range(start, stop):
        if (len(book.orders) - state[S_LIVE_ORDERS] - state[S_RETIRED_SLOTS] < need
                or len(book.levels) - state[S_LIVE_LEVELS] < need):
            return i
        if check and i == 0:
            _sync_window(book, i, kinds, prices, sides, orderbook[0], empty_row, levels, is_injected, counters)
        else:
            _apply(book, kinds[i], indexes[i], sizes[i], prices[i], sides[i], engine_ids, is_injected, counters)
            if check:
                _sync_window(book, i, kinds, prices, sides, orderbook[i], orderbook[i - 1], levels, is_injected, counters)
        if check:
            counters[C_CHECKED] += 1
            if not _agrees(book, orderbook[i], levels, scratch_price, scratch_qty):
                counters[C_DISAGREEMENTS] += 1
                if counters[C_FIRST_BAD] < 0:
                    counters[C_FIRST_BAD] = i
    return stop


def new_counters() -> np.ndarray:
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[C_FIRST_BAD] = -1
    return counters
