"""Numba kernels of the counter-based generator: every random number is a hash of what it is for.

A value is ``hash2(key(seed, stream), counter)`` (:mod:`lxdex_capacity.hashing`): the stream names the attribute (a market's depth,
a flow order's side, ...), the counter names its owner (a market id, a flow order's index in the
run, a (market, n-th seed order) pair).  Nothing is drawn in sequence, so any worker can compute
the part of the run it holds, in any order, and get the numbers every other split gets: this is
what makes a simulation's result independent of how it is sharded.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from ..hashing import hash2, unit, unit_open0
from ..intrinsics import prefetch_row
from ..kernel_sources import install

install()  # before the first cached kernel: stamp them by every source they are made of (kernel_sources)
_kernel = njit(cache=True, nogil=True)
# Helpers called only from compiled code: no Python wrapper, not cached on their own (see engine._kernels).
_helper = njit(nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)  # type: ignore[call-overload]  # options numba's stubs omit

# Geometric draws are capped here: far beyond any price a book holds, and far from overflow.
_MAX_GEOMETRIC = 1 << 40


@_kernel
def stream_keys(seed, streams, out):
    """The key of each stream of a run seeded ``seed``: what every number of that stream is hashed under."""
    base = hash2(uint64(0x6C78646578), seed)  # "lxdex"
    for i in range(len(streams)):
        out[i] = hash2(base, streams[i])


@_helper
def geometric(h, p):
    """``k >= 1`` with P(k) = (1 - p)**(k - 1) * p, by inversion (numpy's ``geometric``)."""
    if p >= 1.0:
        return np.int64(1)
    k = 1.0 + np.floor(np.log(unit_open0(h)) / np.log1p(-p))
    return np.int64(min(k, _MAX_GEOMETRIC))


@_helper
def pareto_size(h, alpha, min_qty, max_qty):
    """Classical Pareto ``min_qty * U**(-1/alpha)`` (= ``min_qty * (1 + Lomax(alpha))``), capped."""
    size = min_qty * unit_open0(h) ** (-1.0 / alpha)
    return np.int64(min(size, float(max_qty)))


@_helper
def depth_of(key, market, tier_stops, tier_lows, tier_highs):
    """Seeded depth of ``market`` (its activity rank): uniform in its tier's ``low..high``; 0 past the table."""
    for t in range(len(tier_stops)):
        if market < tier_stops[t]:
            span = tier_highs[t] - tier_lows[t] + 1
            return tier_lows[t] + min(np.int64(unit(hash2(key, market)) * span), span - 1)
    return np.int64(0)


@_kernel
def depths(key, markets, tier_stops, tier_lows, tier_highs, out):
    for i in range(len(markets)):
        out[i] = depth_of(key, markets[i], tier_stops, tier_lows, tier_highs)


@_kernel
def mids(key, markets, log_low, log_high, out):
    """Mid price in ticks per market, log-uniform in [exp(log_low), exp(log_high))."""
    for i in range(len(markets)):
        out[i] = np.int64(np.exp(log_low + unit(hash2(key, markets[i])) * (log_high - log_low)))


@_kernel
def seed_orders(keys, markets, local, first_local, span, mids, maker_p, alpha, min_qty, max_qty, hazard,
                out_side, out_price, out_qty, out_due):
    """Attributes of seed orders arriving in the order of ``markets`` (global ids, one entry per order).

    The n-th seed order of a market gets the n-th numbers of that market whatever the interleaving:
    ``local`` holds each order's market as an index into ``mids``; ``local - first_local`` (below
    ``span``) indexes a counter of the market's orders seen so far.  ``keys``: side, distance, size and
    lifetime streams.  ``out_due``: the flow index at which the order is cancelled if it still rests
    (``hazard`` per flow order), or -1 without random cancels.  Seed orders rest on their own side
    of the mid, so none crosses."""
    counts = np.zeros(span, dtype=np.int64)
    for i in range(len(markets)):
        m = markets[i]
        slot = local[i] - first_local
        n = counts[slot]
        counts[slot] = n + 1
        side = np.int64(hash2(hash2(keys[0], m), n) >> uint64(63))
        distance = geometric(hash2(hash2(keys[1], m), n), maker_p)
        out_side[i] = side
        out_price[i] = mids[local[i]] - distance if side == 0 else mids[local[i]] + distance
        out_qty[i] = pareto_size(hash2(hash2(keys[2], m), n), alpha, min_qty, max_qty)
        out_due[i] = geometric(hash2(hash2(keys[3], m), n), hazard) if hazard > 0.0 else np.int64(-1)


_GROUP = 64  # orders whose markets are drawn together, their cache lines fetched before they are read


@_helper
def owner(market, shards, head_shard, head_local, head_count):
    """``(shard, local index)`` of ``market`` under a split (see ``generator.Part``)."""
    head = len(head_shard)
    if market < head:
        return head_shard[market], head_local[market]
    tail = market - head
    shard = tail % shards
    return shard, head_count[shard] + tail // shards


@_kernel
def flow_batch(keys, start, count, cdf, guide, shard, shards, head_shard, head_local, head_count, mids, taker_share,
               maker_p, taker_p, alpha, min_qty, max_qty, hazard, out_local, out_side, out_price, out_qty, out_type,
               out_index, out_due):
    """The flow orders of indices ``start .. start+count-1`` that fall on ``shard`` of ``shards``.

    Every order's market is drawn (the only work each shard repeats); the rest of an order is
    drawn only by the shard that holds its market (:func:`owner`), which writes the market's
    local index.  ``keys``: market, side, taker, distance, size, lifetime
    streams.  Returns how many orders were written.

    The draws of a group of orders are independent, so their memory accesses are issued together
    (group prefetching): first every guide bucket of the group, then the searched runs of the
    cumulative weights, then the mids; each pass reads what the one before fetched."""
    buckets = len(guide) - 1
    last = len(cdf) - 1
    u = np.empty(_GROUP, dtype=np.float64)
    j = np.empty(_GROUP, dtype=np.int64)
    mine = np.empty(_GROUP, dtype=np.int64)  # the local index, or -1 on another shard
    n = 0
    for g in range(start, start + count, _GROUP):
        size = min(_GROUP, start + count - g)
        for x in range(size):
            u[x] = unit(hash2(keys[0], g + x))
            j[x] = min(np.int64(u[x] * buckets), buckets - 1)
            prefetch_row(guide, j[x])
        for x in range(size):
            prefetch_row(cdf, guide[j[x]])
        for x in range(size):
            lo = np.int64(guide[j[x]])
            hi = min(np.int64(guide[j[x] + 1]), last)
            while lo < hi:
                mid = (lo + hi) >> 1
                if cdf[mid] > u[x]:
                    hi = mid
                else:
                    lo = mid + 1
            at, local = owner(lo, shards, head_shard, head_local, head_count)
            mine[x] = local if at == shard else -1
            if at == shard:
                prefetch_row(mids, local)
        for x in range(size):
            local = mine[x]
            if local < 0:
                continue
            i = g + x
            side = np.int64(hash2(keys[1], i) >> uint64(63))
            if unit(hash2(keys[2], i)) < taker_share:
                signed = geometric(hash2(keys[3], i), taker_p)
                out_type[n] = 2  # IOC (engine.codes)
                out_due[n] = -1
            else:
                signed = -geometric(hash2(keys[3], i), maker_p)
                out_type[n] = 0  # LIMIT
                out_due[n] = i + geometric(hash2(keys[5], i), hazard) if hazard > 0.0 else np.int64(-1)
            # Buys rest below the mid and reach above it; sells the reverse.
            out_price[n] = mids[local] + signed if side == 0 else mids[local] - signed
            out_local[n] = local
            out_side[n] = side
            out_qty[n] = pareto_size(hash2(keys[4], i), alpha, min_qty, max_qty)
            out_index[n] = i
            n += 1
    return n
