"""Process-level memory measurements: what the operating system and the allocator see.

``engine.memory()`` counts the engine's own arrays exactly; these figures check it from outside:
RSS and USS (psutil) after several garbage-collection passes, as the median of repeated samples,
and the bytes numpy allocated as traced by tracemalloc (numpy reports its buffers in a domain of
their own, 389047).
"""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from dataclasses import dataclass

import psutil

__all__ = ["NUMPY_TRACE_DOMAIN", "ProcessMemory", "settle", "sample_process", "numpy_traced_bytes"]

NUMPY_TRACE_DOMAIN = 389047
GC_PASSES = 3
SAMPLES = 5


@dataclass(frozen=True)
class ProcessMemory:
    rss_bytes: int
    uss_bytes: int


def settle(passes: int = GC_PASSES) -> None:
    """Collect garbage until a pass finds none, at most ``passes`` times: objects freed by one pass (their
    finalizers run) can make others unreachable, but a pass that found nothing leaves nothing for the next."""
    for _ in range(passes):
        if gc.collect() == 0:
            break


def sample_process(samples: int = SAMPLES) -> ProcessMemory:
    """Median RSS and USS of this process over ``samples`` readings, after settling."""
    settle()
    process = psutil.Process()
    rss, uss = [], []
    for _ in range(samples):
        info = process.memory_full_info()
        rss.append(info.rss)
        uss.append(getattr(info, "uss", info.rss))  # USS: /proc/PID/smaps on Linux, the task's pages on macOS
    return ProcessMemory(int(statistics.median(rss)), int(statistics.median(uss)))


def numpy_traced_bytes() -> int:
    """Bytes of live numpy buffers allocated since tracemalloc started (0 if it is not tracing)."""
    if not tracemalloc.is_tracing():
        return 0
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, NUMPY_TRACE_DOMAIN)])
    return sum(trace.size for trace in snapshot.traces)
