"""Timed loops over the engine's submit kernel (compiled code only; the API is :mod:`.harness`).

Both call the engine's own ``submit`` kernel on the orders ``start..`` of a flow, so what is timed is
exactly the untimed path's work: nothing is added to ``submit`` itself.
"""

from __future__ import annotations

from ..engine import _kernels as engine
from ..engine.kernel_api import kernel
from ..intrinsics import cycle_counter


@kernel
def open_loop(book, markets, sides, prices, qtys, types, arrivals, batch, start, origin,
              out_ids, out_filled, out_status, out_done):
    """Orders arrive at ``origin + arrivals[i]`` counter ticks; take them ``batch`` at a time, each batch
    when its last order has arrived (busy-waiting on the counter), and write each order's completion
    tick to ``out_done``.  Returns ``len(markets)`` when done, or the index of the first order that
    needs a pool to grow (the orders before it are complete and stamped)."""
    n = len(markets)
    i = start
    while i < n:
        j = min(i + batch, n)
        due = origin + arrivals[j - 1]
        while cycle_counter() < due:
            pass
        reached = engine.submit(book, markets[:j], sides[:j], prices[:j], qtys[:j], types[:j], i,
                                out_ids, out_filled, out_status)
        done = cycle_counter()
        for k in range(i, reached):
            out_done[k] = done
        if reached < j:
            return reached
        i = j
    return n


@kernel
def service_times(book, markets, sides, prices, qtys, types, start, out_ids, out_filled, out_status, out_ticks):
    """Each order alone, back to back: the counter ticks ``submit`` takes for it.  Returns as
    :func:`open_loop` does when a pool must grow."""
    n = len(markets)
    for i in range(start, n):
        t0 = cycle_counter()
        reached = engine.submit(book, markets[:i + 1], sides[:i + 1], prices[:i + 1], qtys[:i + 1], types[:i + 1], i,
                                out_ids, out_filled, out_status)
        t1 = cycle_counter()
        if reached <= i:
            return i
        out_ticks[i] = t1 - t0
    return n


@kernel
def counter_granularity(reads):
    """The smallest non-zero step between back-to-back counter reads, over ``reads`` reads."""
    smallest = 1 << 62
    last = cycle_counter()
    for _ in range(reads):
        now = cycle_counter()
        step = now - last
        if step > 0 and step < smallest:
            smallest = step
        last = now
    return smallest
