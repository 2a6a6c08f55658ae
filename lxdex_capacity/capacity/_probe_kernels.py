"""Numba kernels of the memory-hierarchy probe (:mod:`.hierarchy`): pointer chases and a dependent
multiply chain.  Each loop's next step depends on the load (or product) before it, so no compiler or
core can overlap them: the time per step is the latency itself."""

from __future__ import annotations

from numba import njit

from ..kernel_sources import install

install()  # before the first cached kernel: stamp them by every source they are made of (kernel_sources)
_kernel = njit(cache=True, nogil=True)


@_kernel
def chase(next_index, start, steps):
    """Follow ``next_index`` from ``start`` for ``steps`` loads, each the address of the next; returns
    where it stopped (so the loop is not optimised away)."""
    i = start
    for _ in range(steps):
        i = next_index[i]
    return i


@_kernel
def chase_chains(next_index, starts, steps):
    """``len(starts)`` independent chases at once, one step of each per round: how many misses one
    core keeps in flight.  Returns the sum of where they stopped."""
    where = starts.copy()
    for _ in range(steps):
        for j in range(len(where)):
            where[j] = next_index[where[j]]
    total = 0
    for j in range(len(where)):
        total += where[j]
    return total


@_kernel
def multiply_chain(seed, steps):
    """``steps`` dependent 64-bit multiplies, nothing else in the chain (an odd number squared stays odd, so never 0):
    3 cycles each on the x86-64 and Arm cores this tool plans for, so the core's clock as the code sees it."""
    x = seed | 1
    for _ in range(steps):
        x = x * x
    return x
