"""Numba kernels of the matching engine: the hot loops, and nothing that talks to users.

Every kernel takes the whole :class:`~lxdex_capacity.engine.layout.Book` and works in place.
Kernels never allocate pool slots beyond what exists: ``submit`` stops before an order when no
free order slot or level remains and returns that order's index, the facade grows the pools and
calls again from there, so a batch behaves exactly as if it ran in one pass.

Link conventions (see ``layout``): -1 is "none" for pool links; a negative value below -1 at the
outer end of a level list is an owner code ``-(2 + owner)`` with ``owner = 2*market + side``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .codes import (
    BUY,
    CANCELLED,
    FILLED,
    FOK,
    IOC,
    LIMIT,
    MARKET,
    NO_PRICE,
    POST_ONLY,
    REJECTED_MARKET,
    REJECTED_PRICE,
    REJECTED_QTY,
    REJECTED_SIDE,
    REJECTED_TYPE,
    REJECTED_WOULD_TRADE,
    RESTING,
)
from .layout import (
    MAX_QTY,
    S_ACCEPTED_ORDERS,
    S_ACCEPTED_QTY,
    S_CANCELLED_QTY,
    S_LEVEL_FREE_HEAD,
    S_LIVE_LEVELS,
    S_LIVE_ORDERS,
    S_ORDER_FREE_HEAD,
    S_RETIRED_SLOTS,
    S_TRADES,
)

# No kernel allocates, so none needs numba's reference counting (NRT).  With it on, every helper
# call increfs and decrefs all 21 arrays of the Book tuple: measured at ~100 ns per call against
# ~1 ns without, the difference between 3M and 30M+ operations per second.
_kernel = njit(cache=True, _nrt=False)

_GEN_MAX = 0x7FFFFFFF
_SLOT_MASK = 0xFFFFFFFF
_PRICE_MAX = np.iinfo(np.int64).max


@_kernel
def _owner_code(owner):
    return -(2 + owner)


@_kernel
def _order_id(book, slot):
    return (np.int64(book.o_gen[slot]) << 32) | slot


@_kernel
def _alloc_order(book):
    state = book.state
    slot = state[S_ORDER_FREE_HEAD]
    state[S_ORDER_FREE_HEAD] = book.o_next[slot]
    return slot


@_kernel
def _free_order(book, slot):
    # LIFO reuse keeps the hottest slot in play.  A slot whose generation is exhausted is retired
    # instead of reused, so an id is never issued twice (at a cost of 20 bytes per 2**31 frees).
    state = book.state
    book.o_qty[slot] = 0
    gen = book.o_gen[slot]
    if gen == _GEN_MAX:
        state[S_RETIRED_SLOTS] += 1
        return
    book.o_gen[slot] = gen + 1
    book.o_next[slot] = state[S_ORDER_FREE_HEAD]
    state[S_ORDER_FREE_HEAD] = slot


@_kernel
def _alloc_level(book):
    state = book.state
    level = state[S_LEVEL_FREE_HEAD]
    state[S_LEVEL_FREE_HEAD] = book.l_next[level]
    state[S_LIVE_LEVELS] += 1
    return level


@_kernel
def _free_level(book, level):
    state = book.state
    book.l_next[level] = state[S_LEVEL_FREE_HEAD]
    state[S_LEVEL_FREE_HEAD] = level
    state[S_LIVE_LEVELS] -= 1


@_kernel
def _remove_level(book, level):
    """Unlink an empty level from its side's list, fixing best/worst through the owner codes."""
    prev = book.l_prev[level]
    nxt = book.l_next[level]
    if prev >= 0:
        book.l_next[prev] = nxt
    else:
        book.m_best[-prev - 2] = nxt if nxt >= 0 else -1
    if nxt >= 0:
        book.l_prev[nxt] = prev
    else:
        book.m_worst[-nxt - 2] = prev if prev >= 0 else -1
    _free_level(book, level)


@_kernel
def _unlink_order(book, slot):
    """Take a resting order out of its level's FIFO ring; drop the level if it empties."""
    level = book.o_level[slot]
    nxt = book.o_next[slot]
    if nxt == slot:
        book.l_head[level] = -1
        _remove_level(book, level)
    else:
        prev = book.o_prev[slot]
        book.o_next[prev] = nxt
        book.o_prev[nxt] = prev
        if book.l_head[level] == slot:
            book.l_head[level] = nxt


@_kernel
def _crosses(side, level_price, limit):
    # A buyer crosses asks priced at or below its limit; a seller crosses bids at or above.
    if side == BUY:
        return level_price <= limit
    return level_price >= limit


@_kernel
def _better(side, a, b):
    # True when price a has priority over price b on this side of the book.
    if side == BUY:
        return a > b
    return a < b


@_kernel
def _find_or_add_level(book, market, side, price):
    """Return the level at ``price`` on (market, side), inserting it in price order if absent.

    Walks from whichever end of the side (best or worst price) is nearer to ``price``: new orders
    cluster near the touch, so the walk is short in practice.
    """
    owner = 2 * market + side
    code = _owner_code(owner)
    best = book.m_best[owner]
    if best == -1:
        level = _alloc_level(book)
        book.l_price[level] = price
        book.l_head[level] = -1
        book.l_prev[level] = code
        book.l_next[level] = code
        book.m_best[owner] = level
        book.m_worst[owner] = level
        return level
    worst = book.m_worst[owner]
    if abs(price - book.l_price[best]) <= abs(book.l_price[worst] - price):
        before = code
        cur = best
        while cur >= 0 and _better(side, book.l_price[cur], price):
            before = cur
            cur = book.l_next[cur]
        if cur >= 0 and book.l_price[cur] == price:
            return cur
        after = cur
    else:
        after = code
        cur = worst
        while cur >= 0 and _better(side, price, book.l_price[cur]):
            after = cur
            cur = book.l_prev[cur]
        if cur >= 0 and book.l_price[cur] == price:
            return cur
        before = cur
    level = _alloc_level(book)
    book.l_price[level] = price
    book.l_head[level] = -1
    book.l_prev[level] = before
    book.l_next[level] = after
    if before >= 0:
        book.l_next[before] = level
    else:
        book.m_best[owner] = level
    if after >= 0:
        book.l_prev[after] = level
    else:
        book.m_worst[owner] = level
    return level


@_kernel
def _append_order(book, level, slot, qty):
    head = book.l_head[level]
    if head == -1:
        book.l_head[level] = slot
        book.o_next[slot] = slot
        book.o_prev[slot] = slot
    else:
        tail = book.o_prev[head]
        book.o_next[tail] = slot
        book.o_prev[slot] = tail
        book.o_next[slot] = head
        book.o_prev[head] = slot
    book.o_level[slot] = level
    book.o_qty[slot] = qty


@_kernel
def _available(book, market, side, limit, wanted):
    """Quantity resting on the opposite side within ``limit``, counted up to ``wanted``."""
    level = book.m_best[2 * market + 1 - side]
    total = 0
    while level >= 0 and _crosses(side, book.l_price[level], limit):
        head = book.l_head[level]
        slot = head
        while True:
            total += book.o_qty[slot]
            if total >= wanted:
                return total
            slot = book.o_next[slot]
            if slot == head:
                break
        level = book.l_next[level]
    return total


@_kernel
def _match(book, market, side, limit, qty, taker_id):
    """Fill up to ``qty`` against the opposite side within ``limit``; return the unfilled rest."""
    owner = 2 * market + 1 - side
    state = book.state
    mask = len(book.t_price) - 1
    level = book.m_best[owner]
    while qty > 0 and level >= 0:
        price = book.l_price[level]
        if not _crosses(side, price, limit):
            break
        slot = book.l_head[level]
        while qty > 0:
            maker_qty = book.o_qty[slot]
            fill = maker_qty if maker_qty < qty else qty
            k = state[S_TRADES] & mask
            book.t_market[k] = market
            book.t_price[k] = price
            book.t_qty[k] = fill
            book.t_maker[k] = _order_id(book, slot)
            book.t_taker[k] = taker_id
            book.t_side[k] = side
            state[S_TRADES] += 1
            book.m_last_price[market] = price
            book.m_volume[market] += fill
            book.m_trade_count[market] += 1
            qty -= fill
            if fill < maker_qty:
                book.o_qty[slot] = maker_qty - fill
                break
            nxt = book.o_next[slot]
            _free_order(book, slot)
            state[S_LIVE_ORDERS] -= 1
            if nxt == slot:
                book.l_head[level] = -1
                break
            prev = book.o_prev[slot]
            book.o_next[prev] = nxt
            book.o_prev[nxt] = prev
            book.l_head[level] = nxt
            slot = nxt
        if book.l_head[level] != -1:
            break
        nxt_level = book.l_next[level]
        _remove_level(book, level)
        level = nxt_level
    return qty


@_kernel
def submit(book, markets, sides, prices, qtys, types, start, out_ids, out_filled, out_status):
    """Process orders ``start..`` in array order; return the index reached.

    Returns ``len(markets)`` when the batch is done, or the index of the first order that needs a
    free order slot or level when a pool is exhausted (nothing of that order has happened yet).
    """
    state = book.state
    n_markets = len(book.m_last_price)
    n = len(markets)
    for i in range(start, n):
        market = markets[i]
        side = sides[i]
        price = prices[i]
        qty = qtys[i]
        kind = types[i]
        status = RESTING
        if kind < LIMIT or kind > POST_ONLY:
            status = REJECTED_TYPE
        elif market < 0 or market >= n_markets:
            status = REJECTED_MARKET
        elif side != 0 and side != 1:
            status = REJECTED_SIDE
        elif qty <= 0 or qty > MAX_QTY:
            status = REJECTED_QTY
        elif kind != MARKET and price <= 0:
            status = REJECTED_PRICE
        if status != RESTING:
            out_ids[i] = -1
            out_filled[i] = 0
            out_status[i] = status
            continue
        if kind == MARKET:
            limit = _PRICE_MAX if side == BUY else 0
        else:
            limit = price
        if kind == POST_ONLY:
            best = book.m_best[2 * market + 1 - side]
            if best >= 0 and _crosses(side, book.l_price[best], limit):
                out_ids[i] = -1
                out_filled[i] = 0
                out_status[i] = REJECTED_WOULD_TRADE
                continue
        if state[S_ORDER_FREE_HEAD] == -1 or state[S_LEVEL_FREE_HEAD] == -1:
            return i
        slot = _alloc_order(book)
        order_id = _order_id(book, slot)
        state[S_ACCEPTED_ORDERS] += 1
        state[S_ACCEPTED_QTY] += qty
        rest = qty
        if kind != FOK or _available(book, market, side, limit, qty) >= qty:
            rest = _match(book, market, side, limit, qty, order_id)
        out_ids[i] = order_id
        out_filled[i] = qty - rest
        if rest == 0:
            _free_order(book, slot)
            out_status[i] = FILLED
        elif kind == LIMIT or kind == POST_ONLY:
            level = _find_or_add_level(book, market, side, price)
            _append_order(book, level, slot, rest)
            state[S_LIVE_ORDERS] += 1
            out_status[i] = RESTING
        else:
            _free_order(book, slot)
            state[S_CANCELLED_QTY] += rest
            out_status[i] = CANCELLED
    return n


@_kernel
def _live_slot(book, order_id):
    """The slot of a resting order with this id, or -1."""
    if order_id < 0:
        return -1
    slot = order_id & _SLOT_MASK
    if slot >= len(book.o_qty):
        return -1
    if book.o_gen[slot] != (order_id >> 32) or book.o_qty[slot] <= 0:
        return -1
    return slot


@_kernel
def _cancel_slot(book, slot):
    state = book.state
    state[S_CANCELLED_QTY] += book.o_qty[slot]
    _unlink_order(book, slot)
    _free_order(book, slot)
    state[S_LIVE_ORDERS] -= 1


@_kernel
def cancel(book, order_ids, out_ok):
    for i in range(len(order_ids)):
        slot = _live_slot(book, order_ids[i])
        out_ok[i] = slot >= 0
        if slot >= 0:
            _cancel_slot(book, slot)


@_kernel
def reduce(book, order_ids, qtys, out_ok):
    """Remove ``qtys[i]`` lots from resting orders in place; reducing to nothing cancels."""
    for i in range(len(order_ids)):
        slot = _live_slot(book, order_ids[i])
        qty = qtys[i]
        if slot < 0 or qty <= 0:
            out_ok[i] = False
            continue
        out_ok[i] = True
        if qty >= book.o_qty[slot]:
            _cancel_slot(book, slot)
        else:
            book.o_qty[slot] -= qty
            book.state[S_CANCELLED_QTY] += qty


@_kernel
def best_prices(book, markets, side, out):
    for i in range(len(markets)):
        level = book.m_best[2 * markets[i] + side]
        out[i] = book.l_price[level] if level >= 0 else NO_PRICE


@_kernel
def depth(book, market, side, n_levels, out_price, out_qty):
    """Fill the aggregated top ``n_levels`` levels, best first; return how many exist."""
    level = book.m_best[2 * market + side]
    k = 0
    while level >= 0 and k < n_levels:
        head = book.l_head[level]
        total = 0
        slot = head
        while True:
            total += book.o_qty[slot]
            slot = book.o_next[slot]
            if slot == head:
                break
        out_price[k] = book.l_price[level]
        out_qty[k] = total
        k += 1
        level = book.l_next[level]
    return k


@_kernel
def count_side(book, market, side):
    """(levels, orders) resting on one side of one market."""
    level = book.m_best[2 * market + side]
    n_levels = 0
    n_orders = 0
    while level >= 0:
        n_levels += 1
        head = book.l_head[level]
        slot = head
        while True:
            n_orders += 1
            slot = book.o_next[slot]
            if slot == head:
                break
        level = book.l_next[level]
    return n_levels, n_orders


@_kernel
def book_orders(book, market, side, out_price, out_id, out_qty):
    """Every resting order of one side in priority order (price, then time); return the count."""
    level = book.m_best[2 * market + side]
    k = 0
    while level >= 0:
        head = book.l_head[level]
        slot = head
        while True:
            out_price[k] = book.l_price[level]
            out_id[k] = _order_id(book, slot)
            out_qty[k] = book.o_qty[slot]
            k += 1
            slot = book.o_next[slot]
            if slot == head:
                break
        level = book.l_next[level]
    return k


@_kernel
def resting_per_market(book, out_orders, out_qty):
    """Resting order count and quantity of every market (both sides)."""
    for market in range(len(out_orders)):
        n = 0
        q = 0
        for side in range(2):
            level = book.m_best[2 * market + side]
            while level >= 0:
                head = book.l_head[level]
                slot = head
                while True:
                    n += 1
                    q += book.o_qty[slot]
                    slot = book.o_next[slot]
                    if slot == head:
                        break
                level = book.l_next[level]
        out_orders[market] = n
        out_qty[market] = q
