"""Timed loops over the engine's own order and cancel code (compiled code only; the API is :mod:`.harness`).

The loops call the engine's ``submit`` path (:func:`~lxdex_capacity.engine.kernel_api.submit_range`)
and its cancel helpers, so what is timed is exactly the untimed path's work: nothing is added to
``submit`` itself.  A stream's messages are orders, or cancels of an earlier order of the stream:
``cancel_of[i] = j >= 0`` makes message ``i`` cancel what order message ``j`` left resting (its
``markets``/``sides`` repeat the target's, so the prefetch of the queue behind warms the right book).

``delay_ticks`` adds a busy wait of that many counter ticks to every order's (or batch's) service:
a known delay the tests inject to show that the harness sees it.

While it waits for an arrival at least ``yield_ticks`` away, :func:`open_loop` returns ``-(i + 1)``
every ``yield_ticks`` (order ``i`` not yet taken), so that Python sees a Ctrl-C or SIGTERM within that
time however slow the offered rate; the caller calls again from ``i``.  Nothing is timed differently:
it returns only while the next arrival is still ``yield_ticks`` or more away.  It also returns
``-(i + 1)`` as soon as ``halt[0]`` is not 0, busy or waiting: another thread (the one that saw the
Ctrl-C) sets it, and the loop is left within one message.
"""

from __future__ import annotations

from ..engine.kernel_api import cancel_slot, helper, kernel, live_slot, submit_range
from ..intrinsics import cycle_counter

CANCEL_MISSED = -100  # out_status of a cancel message whose order no longer rested (filled or already gone)
CANCEL_DONE = 100  # out_status of a cancel message that removed its order


@helper
def _spin(ticks):
    """Busy-wait ``ticks`` counter ticks (the injected delay)."""
    if ticks > 0:
        until = cycle_counter() + ticks
        while cycle_counter() < until:
            pass


@helper
def _cancel_message(book, cancel_of, i, out_ids, out_filled, out_status):
    order_id = out_ids[cancel_of[i]]
    slot = live_slot(book, order_id)
    out_ids[i] = order_id
    out_filled[i] = 0
    if slot >= 0:
        cancel_slot(book, slot)
        out_status[i] = CANCEL_DONE
    else:
        out_status[i] = CANCEL_MISSED


@helper
def _wait(due, entered, yield_ticks, halt, gap_ticks, gap_start, gap_end, spun):
    """Spin until ``due``; False (without waiting) once ``yield_ticks`` have passed since ``entered`` and
    ``due`` is still ``yield_ticks`` away, or once ``halt[0]`` is set: the caller returns to Python.

    While it spins, every step between two reads longer than ``gap_ticks`` (the core was taken away: an
    interrupt, the hypervisor, another task) is recorded as ``gap_start[g]``..``gap_end[g]`` (counter
    ticks), ``g = spun[0]`` counting them (none past the arrays' end); ``spun[1]`` adds up the ticks spun."""
    now = cycle_counter()
    last = now
    while now < due:
        if (now - entered > yield_ticks and due - now > yield_ticks) or halt[0] != 0:
            spun[1] += now - last
            return False
        now = cycle_counter()
        if now - last > gap_ticks:
            g = spun[0]
            if g < len(gap_start):
                gap_start[g] = last
                gap_end[g] = now
                spun[0] = g + 1
        spun[1] += now - last
        last = now
    return halt[0] == 0


@kernel
def open_loop(book, markets, sides, prices, qtys, types, cancel_of, arrivals, batch, look_ahead, delay_ticks, yield_ticks, halt, start,
              origin, out_ids, out_filled, out_status, out_done, gap_ticks, gap_start, gap_end, spun):
    """Messages arrive at ``origin + arrivals[i]`` counter ticks and are taken in arrival order.

    ``batch == 1``: each message as soon as it has arrived, stamped when it completes; with
    ``look_ahead`` the engine's prefetch sees the messages that have arrived behind it (as an
    engine reading a queue does), without it each message is alone.  ``batch > 1``: ``batch``
    messages at a time, when the batch's last one has arrived, all stamped when the batch completes
    (a batch's orders wait for the batch).  Writes each message's completion tick to ``out_done``;
    returns ``len(markets)``, or the index of the first order that needs a pool to grow (the
    messages before it are complete and stamped), or ``-(i + 1)`` to let Python see signals (see the module).
    While waiting for arrivals it records the core's interruptions (``gap_*``, ``spun``: see ``_wait``)."""
    n = len(markets)
    i = start
    visible = start
    entered = cycle_counter()
    while i < n:
        if batch == 1:
            if not _wait(origin + arrivals[i], entered, yield_ticks, halt, gap_ticks, gap_start, gap_end, spun):
                return -(i + 1)
            now = cycle_counter()
            horizon = i + 1
            if look_ahead:
                if visible < horizon:
                    visible = horizon
                while visible < n and origin + arrivals[visible] <= now:
                    visible += 1
                horizon = visible
            if cancel_of[i] >= 0:
                _cancel_message(book, cancel_of, i, out_ids, out_filled, out_status)
            elif submit_range(book, markets[:horizon], sides[:horizon], prices[:horizon], qtys[:horizon], types[:horizon], i, i + 1,
                              out_ids, out_filled, out_status) == i:
                return i
            _spin(delay_ticks)
            out_done[i] = cycle_counter()
            i += 1
            continue
        j = min(i + batch, n)
        if not _wait(origin + arrivals[j - 1], entered, yield_ticks, halt, gap_ticks, gap_start, gap_end, spun):
            return -(i + 1)
        k = i
        while k < j:
            if cancel_of[k] >= 0:
                _cancel_message(book, cancel_of, k, out_ids, out_filled, out_status)
                k += 1
                continue
            stop = k + 1
            while stop < j and cancel_of[stop] < 0:
                stop += 1
            reached = submit_range(book, markets[:j], sides[:j], prices[:j], qtys[:j], types[:j], k, stop, out_ids, out_filled, out_status)
            if reached < stop:
                _spin(delay_ticks)
                done = cycle_counter()
                for m in range(i, reached):
                    out_done[m] = done
                return reached
            k = stop
        _spin(delay_ticks)
        done = cycle_counter()
        for m in range(i, j):
            out_done[m] = done
        i = j
    return n


@kernel
def service_times(book, markets, sides, prices, qtys, types, start, delay_ticks, out_ids, out_filled, out_status, out_ticks):
    """Each order alone, back to back (nothing of the next is visible): the counter ticks it takes.
    Returns as :func:`open_loop` does when a pool must grow."""
    n = len(markets)
    for i in range(start, n):
        t0 = cycle_counter()
        reached = submit_range(book, markets[:i + 1], sides[:i + 1], prices[:i + 1], qtys[:i + 1], types[:i + 1], i, i + 1,
                               out_ids, out_filled, out_status)
        _spin(delay_ticks)
        t1 = cycle_counter()
        if reached <= i:
            return i
        out_ticks[i] = t1 - t0
    return n


@kernel
def cancel_times(book, order_ids, delay_ticks, out_ok, out_ticks):
    """Each cancel alone, back to back: the counter ticks it takes (found or not)."""
    for i in range(len(order_ids)):
        t0 = cycle_counter()
        slot = live_slot(book, order_ids[i])
        if slot >= 0:
            cancel_slot(book, slot)
        _spin(delay_ticks)
        t1 = cycle_counter()
        out_ok[i] = slot >= 0
        out_ticks[i] = t1 - t0


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


@kernel
def interruptions(duration, threshold, out_at, out_gap):
    """Spin on the counter for ``duration`` ticks, recording each gap above ``threshold`` ticks between
    back-to-back reads (when the core was taken away: an interrupt, the hypervisor) as its start
    tick (from the first read) and length; returns how many (at most ``len(out_gap)``)."""
    first = cycle_counter()
    last = first
    found = 0
    while last - first < duration:
        now = cycle_counter()
        if now - last > threshold and found < len(out_gap):
            out_at[found] = last - first
            out_gap[found] = now - last
            found += 1
        last = now
    return found
