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
from numba import njit, uint64

from ..intrinsics import cycle_counter, prefetch_row
from ..kernel_sources import install
from .codes import (
    BUY,
    CANCELLED,
    FILLED,
    FOK,
    LIMIT,
    MARKET,
    NO_PRICE,
    POST_ONLY,
    REJECTED_ID,
    REJECTED_MARKET,
    REJECTED_PRICE,
    REJECTED_QTY,
    REJECTED_SIDE,
    REJECTED_TYPE,
    REJECTED_WOULD_TRADE,
    RESTING,
)
from .layout import (
    A_COUNT,
    A_LAST,
    A_VOLUME,
    K_BEST,
    K_WORST,
    L_NEXT,
    L_PREV,
    L_PRICE,
    L_TAIL,
    MAX_PRICE,
    MAX_QTY,
    O_GEN,
    O_LEVEL,
    O_NEXT,
    O_PREV,
    O_QTY,
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

install()  # before the first cached kernel: stamp them by every source they are made of (kernel_sources)

# No kernel allocates, so none needs numba's reference counting (NRT).  With it on, every helper
# call increfs and decrefs all 21 arrays of the Book tuple: measured at ~100 ns per call against
# ~1 ns without, the difference between 3M and 30M+ operations per second.
_kernel = njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]  # numba's stubs omit its private _nrt option
# Helpers (the functions named ``_...``) are only ever called from compiled code, which inlines them,
# so they get no Python wrapper (for a Book, code to unbox 11 arrays) and are not cached on their
# own: the kernels calling them are, with the helpers' code inside.  A fresh install compiles about
# a third faster for it (lxdex_capacity.kernel_cache).
_helper = njit(_nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)  # type: ignore[call-overload]

@_helper
def _row(index):
    # Unsigned row indices spare numba's negative-index wraparound on every access; callers only
    # pass indices already known to be valid rows.
    return uint64(index)


_GEN_MAX = 0x7FFFFFFF
_SLOT_MASK = 0xFFFFFFFF
_PRICE_MAX = np.iinfo(np.int64).max


@_helper
def _owner_code(owner):
    return -(2 + owner)


@_helper
def _order_id(book, slot):
    return (np.int64(book.orders[_row(slot), O_GEN]) << 32) | slot


@_helper
def _alloc_order(book):
    state = book.state
    slot = state[S_ORDER_FREE_HEAD]
    state[S_ORDER_FREE_HEAD] = book.orders[_row(slot), O_NEXT]
    return slot


@_helper
def _free_order(book, slot):
    # LIFO reuse keeps the hottest slot in play.  A slot whose generation is exhausted is retired
    # instead of reused, so an id is never issued twice (at a cost of 20 bytes per 2**31 frees).
    state = book.state
    book.orders[_row(slot), O_QTY] = 0
    gen = book.orders[_row(slot), O_GEN]
    if gen == _GEN_MAX:
        state[S_RETIRED_SLOTS] += 1
        return
    book.orders[_row(slot), O_GEN] = gen + 1
    book.orders[_row(slot), O_NEXT] = state[S_ORDER_FREE_HEAD]
    state[S_ORDER_FREE_HEAD] = slot


@_helper
def _alloc_level(book):
    state = book.state
    level = state[S_LEVEL_FREE_HEAD]
    state[S_LEVEL_FREE_HEAD] = book.levels[_row(level), L_NEXT]
    state[S_LIVE_LEVELS] += 1
    return level


@_helper
def _free_level(book, level):
    state = book.state
    book.levels[_row(level), L_NEXT] = state[S_LEVEL_FREE_HEAD]
    state[S_LEVEL_FREE_HEAD] = level
    state[S_LIVE_LEVELS] -= 1


@_helper
def _remove_level(book, level):
    """Unlink an empty level from its side's list, fixing best/worst through the owner codes."""
    prev = book.levels[_row(level), L_PREV]
    nxt = book.levels[_row(level), L_NEXT]
    if prev >= 0:
        book.levels[_row(prev), L_NEXT] = nxt
    else:
        book.links[_row(-prev - 2), K_BEST] = nxt if nxt >= 0 else -1
    if nxt >= 0:
        book.levels[_row(nxt), L_PREV] = prev
    else:
        book.links[_row(-nxt - 2), K_WORST] = prev if prev >= 0 else -1
    _free_level(book, level)


@_helper
def _unlink_order(book, slot):
    """Take a resting order out of its level's queue; drop the level if it empties."""
    level = book.orders[_row(slot), O_LEVEL]
    tail = book.levels[_row(level), L_TAIL]
    prev = book.orders[_row(slot), O_PREV]
    nxt = book.orders[_row(slot), O_NEXT]  # the head, when slot is the tail
    if slot == tail:
        if prev == -1:  # the only order
            book.levels[_row(level), L_TAIL] = -1
            _remove_level(book, level)
        else:
            book.levels[_row(level), L_TAIL] = prev
            book.orders[_row(prev), O_NEXT] = nxt
    elif prev == -1:  # the head, with orders behind it
        book.orders[_row(nxt), O_PREV] = -1
        book.orders[_row(tail), O_NEXT] = nxt
    else:
        book.orders[_row(prev), O_NEXT] = nxt
        book.orders[_row(nxt), O_PREV] = prev


@_helper
def _crosses(side, level_price, limit):
    # A buyer crosses asks priced at or below its limit; a seller crosses bids at or above.
    if side == BUY:
        return level_price <= limit
    return level_price >= limit


@_helper
def _better(side, a, b):
    # True when price a has priority over price b on this side of the book.
    if side == BUY:
        return a > b
    return a < b


@_helper
def _insert_level(book, owner, price, before, after):
    """A new empty level at ``price`` between ``before`` and ``after`` (levels or owner codes)."""
    level = _alloc_level(book)
    book.levels[_row(level), L_PRICE] = price
    book.levels[_row(level), L_TAIL] = -1
    book.levels[_row(level), L_PREV] = before
    book.levels[_row(level), L_NEXT] = after
    if before >= 0:
        book.levels[_row(before), L_NEXT] = level
    else:
        book.links[_row(owner), K_BEST] = level
    if after >= 0:
        book.levels[_row(after), L_PREV] = level
    else:
        book.links[_row(owner), K_WORST] = level
    return level


@_helper
def _find_or_add_level(book, market, side, price):
    """Return the level at ``price`` on (market, side), inserting it in price order if absent.

    The ends of the side are settled without a walk; a price strictly inside is walked to from
    whichever end is nearer in price.  New orders cluster near the touch, so walks are short.
    """
    owner = 2 * market + side
    code = _owner_code(owner)
    # Links are read as int64, as the owner code is, so that _insert_level is compiled for one
    # signature rather than for each mix of int32 and int64 arguments.
    best = np.int64(book.links[_row(owner), K_BEST])
    if best == -1:
        return _insert_level(book, owner, price, code, code)
    best_price = book.levels[_row(best), L_PRICE]
    if price == best_price:
        return best
    if _better(side, price, best_price):
        return _insert_level(book, owner, price, code, best)
    worst = np.int64(book.links[_row(owner), K_WORST])
    worst_price = book.levels[_row(worst), L_PRICE]
    if price == worst_price:
        return worst
    if _better(side, worst_price, price):
        return _insert_level(book, owner, price, worst, code)
    # best_price is better than price, which is better than worst_price: both walks stop inside.
    if abs(price - best_price) <= abs(worst_price - price):
        before = best
        cur = np.int64(book.levels[_row(best), L_NEXT])
        while _better(side, book.levels[_row(cur), L_PRICE], price):
            before = cur
            cur = np.int64(book.levels[_row(cur), L_NEXT])
        if book.levels[_row(cur), L_PRICE] == price:
            return cur
        return _insert_level(book, owner, price, before, cur)
    after = worst
    cur = np.int64(book.levels[_row(worst), L_PREV])
    while _better(side, price, book.levels[_row(cur), L_PRICE]):
        after = cur
        cur = np.int64(book.levels[_row(cur), L_PREV])
    if book.levels[_row(cur), L_PRICE] == price:
        return cur
    return _insert_level(book, owner, price, cur, after)


@_helper
def _append_order(book, level, slot, qty):
    # Only the tail's row is touched: the head is the tail's ``next`` and keeps its place.
    tail = book.levels[_row(level), L_TAIL]
    if tail == -1:
        book.orders[_row(slot), O_NEXT] = slot
    else:
        book.orders[_row(slot), O_NEXT] = book.orders[_row(tail), O_NEXT]
        book.orders[_row(tail), O_NEXT] = slot
    book.orders[_row(slot), O_PREV] = tail
    book.levels[_row(level), L_TAIL] = slot
    book.orders[_row(slot), O_LEVEL] = level
    book.orders[_row(slot), O_QTY] = qty


@_helper
def _available(book, market, side, limit, wanted):
    """Quantity resting on the opposite side within ``limit``, counted up to ``wanted``."""
    level = book.links[_row(2 * market + 1 - side), K_BEST]
    total = 0
    while level >= 0 and _crosses(side, book.levels[_row(level), L_PRICE], limit):
        tail = book.levels[_row(level), L_TAIL]
        slot = tail
        while True:
            slot = book.orders[_row(slot), O_NEXT]
            total += book.orders[_row(slot), O_QTY]
            if total >= wanted:
                return total
            if slot == tail:
                break
        level = book.levels[_row(level), L_NEXT]
    return total


@_helper
def _match(book, market, side, limit, qty, taker_id):
    """Fill up to ``qty`` against the opposite side within ``limit``; return the unfilled rest."""
    owner = 2 * market + 1 - side
    state = book.state
    mask = len(book.t_price) - 1
    level = book.links[_row(owner), K_BEST]
    while qty > 0 and level >= 0:
        price = book.levels[_row(level), L_PRICE]
        if not _crosses(side, price, limit):
            break
        tail = book.levels[_row(level), L_TAIL]
        slot = np.int64(book.orders[_row(tail), O_NEXT])  # int64 slots, as submit's: one compile of each helper
        while qty > 0:
            maker_qty = book.orders[_row(slot), O_QTY]
            fill = maker_qty if maker_qty < qty else qty
            k = state[S_TRADES] & mask
            book.t_market[k] = market
            book.t_price[k] = price
            book.t_qty[k] = fill
            book.t_maker[k] = _order_id(book, slot)
            book.t_taker[k] = taker_id
            book.t_side[k] = side
            state[S_TRADES] += 1
            book.aggs[_row(market), A_LAST] = price
            book.aggs[_row(market), A_VOLUME] += fill
            book.aggs[_row(market), A_COUNT] += 1
            qty -= fill
            if fill < maker_qty:
                book.orders[_row(slot), O_QTY] = maker_qty - fill
                break
            nxt = np.int64(book.orders[_row(slot), O_NEXT])
            _free_order(book, slot)
            state[S_LIVE_ORDERS] -= 1
            if slot == tail:
                book.levels[_row(level), L_TAIL] = -1
                break
            book.orders[_row(nxt), O_PREV] = -1
            book.orders[_row(tail), O_NEXT] = nxt
            slot = nxt
        if book.levels[_row(level), L_TAIL] != -1:
            break
        nxt_level = book.levels[_row(level), L_NEXT]
        _remove_level(book, level)
        level = nxt_level
    return qty


# How many orders ahead each stage of the prefetch pipeline looks.  Each stage reads only lines
# an earlier stage fetched: the market's level links, then its best (and worst) levels, then the
# queue tails (where makers append) and the next level, then the head a taker will hit.
_AHEAD_LINKS = 16
_AHEAD_LEVELS = 8
_AHEAD_TAIL = 4
_AHEAD_HEAD = 2


@_helper
def _owners_ahead(markets, sides, j, n, n_markets):
    """(own owner, opposite owner) of order ``j``, or (-1, -1) past the batch or for a bad order."""
    if j >= n:
        return -1, -1
    market = markets[j]
    side = sides[j]
    if market < 0 or market >= n_markets or side < 0 or side > 1:
        return -1, -1
    return 2 * market + side, 2 * market + 1 - side


@_helper
def _prefetch_ahead(book, markets, sides, i, n, n_markets):
    own, opposite = _owners_ahead(markets, sides, i + _AHEAD_LINKS, n, n_markets)
    if own >= 0:
        prefetch_row(book.links, own)
        prefetch_row(book.aggs, own // 2)
    own, opposite = _owners_ahead(markets, sides, i + _AHEAD_LEVELS, n, n_markets)
    if own >= 0:
        best = book.links[_row(opposite), K_BEST]
        if best >= 0:
            prefetch_row(book.levels, best)
        best = book.links[_row(own), K_BEST]
        if best >= 0:
            prefetch_row(book.levels, best)
            prefetch_row(book.levels, book.links[_row(own), K_WORST])
    own, opposite = _owners_ahead(markets, sides, i + _AHEAD_TAIL, n, n_markets)
    if own >= 0:
        best = book.links[_row(opposite), K_BEST]
        if best >= 0:
            prefetch_row(book.orders, book.levels[_row(best), L_TAIL])
        best = book.links[_row(own), K_BEST]
        if best >= 0:
            prefetch_row(book.orders, book.levels[_row(best), L_TAIL])
            second = book.levels[_row(best), L_NEXT]
            if second >= 0:
                prefetch_row(book.levels, second)
    own, opposite = _owners_ahead(markets, sides, i + _AHEAD_HEAD, n, n_markets)
    if own >= 0:
        best = book.links[_row(opposite), K_BEST]
        if best >= 0:
            prefetch_row(book.orders, book.orders[_row(book.levels[_row(best), L_TAIL]), O_NEXT])


@_kernel
def submit(book, markets, sides, prices, qtys, types, start, out_ids, out_filled, out_status):
    """Process orders ``start..`` in array order; return the index reached.

    Returns ``len(markets)`` when the batch is done, or the index of the first order that needs a
    free order slot or level when a pool is exhausted (nothing of that order has happened yet).
    """
    return _submit_range(book, markets, sides, prices, qtys, types, start, len(markets), out_ids, out_filled, out_status)


@_helper
def _submit_range(book, markets, sides, prices, qtys, types, start, stop, out_ids, out_filled, out_status):
    """:func:`submit` of orders ``start .. stop - 1``, prefetching for the orders up to ``len(markets)``:
    an engine that takes one order at a time still sees the orders queued behind it (the latency
    harness).  Returns ``stop``, or the index of the first order that needs a pool to grow."""
    state = book.state
    n_markets = len(book.aggs)
    n = len(markets)
    for i in range(start, stop):
        _prefetch_ahead(book, markets, sides, i, n, n_markets)
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
        elif kind != MARKET and (price <= 0 or price > MAX_PRICE):
            status = REJECTED_PRICE
        if status != RESTING:
            out_ids[i] = -1
            out_filled[i] = 0
            out_status[i] = status
            continue
        limit = (_PRICE_MAX if side == BUY else 0) if kind == MARKET else price
        if kind == POST_ONLY:
            best = book.links[_row(2 * market + 1 - side), K_BEST]
            if best >= 0 and _crosses(side, book.levels[_row(best), L_PRICE], limit):
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
        elif kind in (LIMIT, POST_ONLY):
            level = _find_or_add_level(book, market, side, price)
            _append_order(book, level, slot, rest)
            state[S_LIVE_ORDERS] += 1
            out_status[i] = RESTING
        else:
            _free_order(book, slot)
            state[S_CANCELLED_QTY] += rest
            out_status[i] = CANCELLED
    return stop


@_helper
def _live_slot(book, order_id):
    """The slot of a resting order with this id, or -1."""
    if order_id < 0:
        return -1
    slot = order_id & _SLOT_MASK
    if slot >= len(book.orders):
        return -1
    if book.orders[_row(slot), O_GEN] != (order_id >> 32) or book.orders[_row(slot), O_QTY] <= 0:
        return -1
    return slot


@_helper
def _cancel_slot(book, slot):
    state = book.state
    state[S_CANCELLED_QTY] += book.orders[_row(slot), O_QTY]
    _unlink_order(book, slot)
    _free_order(book, slot)
    state[S_LIVE_ORDERS] -= 1


@_helper
def _reduce_slot(book, slot, qty):
    """Remove ``qty`` lots from a resting order in place; all of it (or more) cancels the order."""
    if qty >= book.orders[_row(slot), O_QTY]:
        _cancel_slot(book, slot)
    else:
        book.orders[_row(slot), O_QTY] -= qty
        book.state[S_CANCELLED_QTY] += qty


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
        _reduce_slot(book, slot, qty)


@_helper
def _owner_of_level(book, level):
    """The owner ``2*market + side`` of a live level, read from the owner code at the nearer end of its list.

    Levels store no market (16 bytes a level, and bytes per resting order are a target), so the walk
    goes both ways at once and stops at whichever end it reaches first: as many hops as the level's
    distance from the best or the worst price, whichever is less.  Amends cluster near the touch."""
    up = np.int64(level)
    down = np.int64(level)
    while True:
        prev = np.int64(book.levels[_row(up), L_PREV])
        if prev < 0:
            return -prev - 2
        nxt = np.int64(book.levels[_row(down), L_NEXT])
        if nxt < 0:
            return -nxt - 2
        up = prev
        down = nxt


@_kernel
def amend(book, order_ids, prices, qtys, start, out_ids, out_filled, out_status):
    """Amend resting orders ``start..`` in array order (semantics: :meth:`Engine.amend`); return the index reached.

    An amend that keeps its price and does not grow is done in place (the order keeps its queue place
    and id).  Any other is a cancel followed by a LIMIT order entering exactly as ``submit`` enters one
    (the same steps, so the same trades, ids and counters).  As ``submit``, returns ``len(order_ids)``
    when done or the index of the first cancel-replace that needs a pool to grow (nothing of it has
    happened yet): the check is made before the cancel, whose freed slot and level are not counted on.
    """
    state = book.state
    for i in range(start, len(order_ids)):
        order_id = order_ids[i]
        price = prices[i]
        qty = qtys[i]
        slot = _live_slot(book, order_id)
        status = RESTING
        if slot < 0:
            status = REJECTED_ID
        elif qty <= 0 or qty > MAX_QTY:
            status = REJECTED_QTY
        elif price <= 0 or price > MAX_PRICE:
            status = REJECTED_PRICE
        if status != RESTING:
            out_ids[i] = -1
            out_filled[i] = 0
            out_status[i] = status
            continue
        level = book.orders[_row(slot), O_LEVEL]
        open_qty = book.orders[_row(slot), O_QTY]
        if price == book.levels[_row(level), L_PRICE] and qty <= open_qty:
            # In place, as ``reduce`` by the difference (nothing at all when the quantity is the same).
            book.orders[_row(slot), O_QTY] = qty
            state[S_CANCELLED_QTY] += open_qty - qty
            out_ids[i] = order_id
            out_filled[i] = 0
            out_status[i] = RESTING
            continue
        if state[S_ORDER_FREE_HEAD] == -1 or state[S_LEVEL_FREE_HEAD] == -1:
            return i
        owner = _owner_of_level(book, level)
        market = owner >> 1
        side = owner & 1
        _cancel_slot(book, slot)
        # The replacement: submit's steps for a LIMIT order.
        slot = _alloc_order(book)
        new_id = _order_id(book, slot)
        state[S_ACCEPTED_ORDERS] += 1
        state[S_ACCEPTED_QTY] += qty
        rest = _match(book, market, side, price, qty, new_id)
        out_ids[i] = new_id
        out_filled[i] = qty - rest
        if rest == 0:
            _free_order(book, slot)
            out_status[i] = FILLED
        else:
            _append_order(book, _find_or_add_level(book, market, side, price), slot, rest)
            state[S_LIVE_ORDERS] += 1
            out_status[i] = RESTING
    return len(order_ids)


@_kernel
def best_prices(book, markets, side, out):
    for i in range(len(markets)):
        level = book.links[_row(2 * markets[i] + side), K_BEST]
        out[i] = book.levels[_row(level), L_PRICE] if level >= 0 else NO_PRICE


@_kernel
def depth(book, market, side, n_levels, out_price, out_qty):
    """Fill the aggregated top ``n_levels`` levels, best first; return how many exist."""
    return _depth(book, market, side, n_levels, out_price, out_qty)


@_helper
def _depth(book, market, side, n_levels, out_price, out_qty):
    """:func:`depth`'s work, inlined where other compiled code needs it (a call to the cached kernel from
    compiled code would compile it there too, outside the warm-up that names it)."""
    level = book.links[_row(2 * market + side), K_BEST]
    k = 0
    while level >= 0 and k < n_levels:
        tail = book.levels[_row(level), L_TAIL]
        total = 0
        slot = tail
        while True:
            slot = book.orders[_row(slot), O_NEXT]
            total += book.orders[_row(slot), O_QTY]
            if slot == tail:
                break
        out_price[k] = book.levels[_row(level), L_PRICE]
        out_qty[k] = total
        k += 1
        level = book.levels[_row(level), L_NEXT]
    return k


@_kernel
def count_side(book, market, side):
    """(levels, orders) resting on one side of one market."""
    level = book.links[_row(2 * market + side), K_BEST]
    n_levels = 0
    n_orders = 0
    while level >= 0:
        n_levels += 1
        tail = book.levels[_row(level), L_TAIL]
        slot = tail
        while True:
            slot = book.orders[_row(slot), O_NEXT]
            n_orders += 1
            if slot == tail:
                break
        level = book.levels[_row(level), L_NEXT]
    return n_levels, n_orders


@_kernel
def book_orders(book, market, side, out_price, out_id, out_qty):
    """Every resting order of one side in priority order (price, then time); return the count."""
    level = book.links[_row(2 * market + side), K_BEST]
    k = 0
    while level >= 0:
        tail = book.levels[_row(level), L_TAIL]
        slot = tail
        while True:
            slot = book.orders[_row(slot), O_NEXT]
            out_price[k] = book.levels[_row(level), L_PRICE]
            out_id[k] = _order_id(book, np.int64(slot))
            out_qty[k] = book.orders[_row(slot), O_QTY]
            k += 1
            if slot == tail:
                break
        level = book.levels[_row(level), L_NEXT]
    return k


@_kernel
def resting_per_market(book, out_orders, out_qty, out_levels):
    """Resting order count, resting quantity and price levels of every market (both sides)."""
    for market in range(len(out_orders)):
        n = 0
        q = 0
        levels = 0
        for side in range(2):
            level = book.links[_row(2 * market + side), K_BEST]
            while level >= 0:
                levels += 1
                tail = book.levels[_row(level), L_TAIL]
                slot = tail
                while True:
                    slot = book.orders[_row(slot), O_NEXT]
                    n += 1
                    q += book.orders[_row(slot), O_QTY]
                    if slot == tail:
                        break
                level = book.levels[_row(level), L_NEXT]
        out_orders[market] = n
        out_qty[market] = q
        out_levels[market] = levels

@_kernel
def open_qty(book, order_ids, out):
    """Remaining quantity of each order id: 0 unless it is resting."""
    for i in range(len(order_ids)):
        slot = _live_slot(book, order_ids[i])
        out[i] = book.orders[_row(slot), O_QTY] if slot >= 0 else 0


@_kernel
def read_cycles():
    return cycle_counter()


@_kernel
def lookup_latency(book, markets, group, out_cycles):
    """Counter ticks taken by each run of ``group`` best-bid lookups on the random ``markets``.

    Each lookup's market is offset by the previous lookup's result, so lookups cannot overlap and
    a run's time is ``group`` access latencies back to back, not a share of pipelined throughput.
    Runs rather than single lookups are timed because a virtual machine's counter may tick too
    coarsely (here every 26 cycles) to time one access.
    """
    n_markets = len(book.aggs)
    price = 0
    seen = 0  # returned, so the compiler cannot drop the lookups as unused
    for g in range(len(out_cycles)):
        start = cycle_counter()
        for j in range(g * group, (g + 1) * group):
            market = (markets[j] + (price & 1)) % n_markets
            level = book.links[_row(2 * market), K_BEST]
            price = book.levels[_row(level), L_PRICE] if level >= 0 else 0
            seen += price
        out_cycles[g] = cycle_counter() - start
    return seen


@_helper
def _cancel_newest_worst(book, market, side):
    """Cancel the newest order at the worst price of one side (which must not be empty)."""
    level = book.links[_row(2 * market + side), K_WORST]
    _cancel_slot(book, np.int64(book.levels[_row(level), L_TAIL]))  # int64, as cancel's slots


@_kernel
def trim(book, markets, max_orders, out_cancelled):
    """Cancel orders until each market holds at most ``max_orders[i]`` resting orders.

    Takes from the side holding more orders, the newest order at its worst price: the order
    least likely to trade soon, as a trader cutting a book back to size would.
    """
    for i in range(len(markets)):
        market = markets[i]
        _, bids = count_side(book, market, 0)
        _, asks = count_side(book, market, 1)
        cancelled = 0
        while bids + asks > max_orders[i]:
            side = 0 if bids >= asks else 1
            _cancel_newest_worst(book, market, side)
            cancelled += 1
            if side == 0:
                bids -= 1
            else:
                asks -= 1
        out_cancelled[i] = cancelled


@_kernel
def cancel_furthest(book, markets, counts, out_cancelled):
    """Cancel ``counts[i]`` orders of each market (fewer if it runs out), each the newest order at
    the worst price of the side whose worst price lies furthest, in ticks, from that side's best.
    O(1) per cancel: no book is counted or walked."""
    for i in range(len(markets)):
        market = markets[i]
        cancelled = 0
        while cancelled < counts[i]:
            bid_best = book.links[_row(2 * market), K_BEST]
            ask_best = book.links[_row(2 * market + 1), K_BEST]
            if bid_best < 0 and ask_best < 0:
                break
            if ask_best < 0:
                side = 0
            elif bid_best < 0:
                side = 1
            else:
                bid_span = book.levels[_row(bid_best), L_PRICE] - book.levels[_row(book.links[_row(2 * market), K_WORST]), L_PRICE]
                ask_span = book.levels[_row(book.links[_row(2 * market + 1), K_WORST]), L_PRICE] - book.levels[_row(ask_best), L_PRICE]
                side = 0 if bid_span >= ask_span else 1
            _cancel_newest_worst(book, market, side)
            cancelled += 1
        out_cancelled[i] = cancelled



# ---------------------------------------------------------------------- partitions (Engine(threads=k))
@_kernel
def split_by_partition(markets, partition_of, local_of, out_order, out_local, out_bounds):
    """A batch's orders grouped by partition, each group in arrival order (a counting sort): group ``p`` is
    ``out_order[out_bounds[p]:out_bounds[p + 1]]``; ``out_local[j]`` is the local market of order
    ``out_order[j]``.  An order for no market goes to partition 0 as market -1 (rejected there as one
    engine rejects it)."""
    n_markets = len(partition_of)
    parts = len(out_bounds) - 1
    for p in range(parts + 1):
        out_bounds[p] = 0
    for i in range(len(markets)):
        m = markets[i]
        p = partition_of[m] if 0 <= m < n_markets else 0
        out_bounds[p + 1] += 1
    for p in range(parts):
        out_bounds[p + 1] += out_bounds[p]
    for i in range(len(markets)):
        m = markets[i]
        valid = 0 <= m < n_markets
        p = partition_of[m] if valid else 0
        j = out_bounds[p]
        out_order[j] = i
        out_local[j] = local_of[m] if valid else -1
        out_bounds[p] = j + 1
    for p in range(parts, 0, -1):  # the placement advanced each start to the next group's: shift back
        out_bounds[p] = out_bounds[p - 1]
    out_bounds[0] = 0


@_kernel
def number_trades(t_taker, first, count, ids, arrival, out_sequence):
    """Give the ``count`` trades from ring position ``first`` (mod the ring) the arrival number of their
    taker: ``ids`` are the batch's orders of this partition in arrival order, ``arrival`` their numbers.
    A taker's trades are consecutive and takers trade in arrival order, so one pass over both suffices."""
    mask = len(t_taker) - 1
    j = 0
    for t in range(first, first + count):
        taker = t_taker[t & mask]
        while ids[j] != taker:
            j += 1
        out_sequence[t & mask] = arrival[j]


@_kernel
def group_by_partition(which, out_order, out_bounds):
    """Indices ``0..len(which)-1`` grouped by ``which[i]`` (a partition, 0..len(out_bounds)-2), each group in
    index order (a counting sort): group ``p`` is ``out_order[out_bounds[p]:out_bounds[p + 1]]``."""
    parts = len(out_bounds) - 1
    for p in range(parts + 1):
        out_bounds[p] = 0
    for i in range(len(which)):
        out_bounds[which[i] + 1] += 1
    for p in range(parts):
        out_bounds[p + 1] += out_bounds[p]
    for i in range(len(which)):
        p = which[i]
        out_order[out_bounds[p]] = i
        out_bounds[p] += 1
    for p in range(parts, 0, -1):
        out_bounds[p] = out_bounds[p - 1]
    out_bounds[0] = 0


@_kernel
def gather_orders(order, sides, prices, qtys, types, out_sides, out_prices, out_qtys, out_types):
    """One partition's orders (``order``: their places in the batch, in arrival order), gathered contiguously."""
    for j in range(len(order)):
        i = order[j]
        out_sides[j] = sides[i]
        out_prices[j] = prices[i]
        out_qtys[j] = qtys[i]
        out_types[j] = types[i]


@_kernel
def scatter_results(order, partition, threads, ids, filled, status, out_ids, out_filled, out_status):
    """A partition's per-order results put back at the orders' places in the batch, ids made global
    (``local * threads + partition``; -1 stays -1)."""
    for j in range(len(order)):
        i = order[j]
        out_ids[i] = ids[j] * threads + partition if ids[j] >= 0 else -1
        out_filled[i] = filled[j]
        out_status[i] = status[j]
