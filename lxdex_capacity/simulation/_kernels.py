"""Numba kernels of the simulation's bookkeeping: per-market digests and split-proof checksums.

A run's checksums must not depend on how its markets were split across shards, so they are built
from per-market values combined by addition modulo 2**64 (a multiset hash, as in Bellare and
Micciancio's AdHash): every shard adds up its own markets, and the sums of all shards add up to
the one-process sum whatever the split.  Four independent lanes make 256 bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from ..hashing import hash2, mix
from ..kernel_sources import install

install()  # before the first cached kernel: stamp them by every source they are made of (kernel_sources)
_kernel = njit(cache=True, nogil=True)

LANES = 4
_LANE_KEYS = np.array([0x243F6A8885A308D3, 0x13198A2E03707344, 0x299F31D0082EFA98, 0x452821E638D01377], dtype=np.uint64)


@_kernel
def digest_orders(digest, markets, status, filled):
    """Fold each order's outcome (status, quantity filled on arrival) into its market's digest, in arrival order."""
    for i in range(len(markets)):
        m = markets[i]
        digest[m] = hash2(digest[m], (np.int64(status[i]) << 40) ^ filled[i])


@_kernel
def digest_counts(digest, first, second):
    """Fold two counts per market into its digest (``digest``, ``first`` and ``second`` aligned)."""
    for m in range(len(digest)):
        digest[m] = hash2(hash2(digest[m], first[m]), second[m])


@_kernel
def digest_trades(digest, markets, prices, qtys, sides):
    """Fold each trade (price, quantity, aggressor side) into its market's digest, in print order."""
    for i in range(len(markets)):
        m = markets[i]
        digest[m] = hash2(digest[m], (np.int64(prices[i]) << 33) ^ (np.int64(qtys[i]) << 1) ^ np.int64(sides[i]))


@_kernel
def add_multiset(lanes, global_ids, columns, salt):
    """Add every market's row of ``columns`` (int64, markets x fields), keyed by its global id, to ``lanes``."""
    for i in range(len(global_ids)):
        h = hash2(salt, global_ids[i])
        for c in range(columns.shape[1]):
            h = hash2(h, columns[i, c])
        for lane in range(LANES):
            lanes[lane] += mix(h ^ uint64(_LANE_KEYS[lane]))


@_kernel
def least_loaded_first(flow, depth, order, flow_load, depth_load, out_shard):
    """Place items ``order[0], order[1], ...`` (heaviest first) each on the shard whose larger load,
    flow or depth, stays smallest once the item is added (ties: the smaller sum, then the lower
    shard): LPT on two loads at once.  O(shards) per item."""
    shards = len(flow_load)
    for item in order:
        best, best_max, best_sum = 0, np.inf, np.inf
        for s in range(shards):
            f = flow_load[s] + flow[item]
            d = depth_load[s] + depth[item]
            worst = max(f, d)
            if worst < best_max or (worst == best_max and f + d < best_sum):
                best, best_max, best_sum = s, worst, f + d
        out_shard[item] = best
        flow_load[best] += flow[item]
        depth_load[best] += depth[item]
