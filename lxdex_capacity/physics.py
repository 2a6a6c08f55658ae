"""The physical limits every figure lxdex reads back from a file is held to, defined once.

A saved result (simulate.json, a report's results.json, a model file) is checked by its schema
(:mod:`lxdex_capacity.schema`) for types and ranges, and by rules between its keys; the limits here
are what no machine reaches, so that a figure edited past them (5 billion orders/s on one core, a
0 ns memory access, a process of 1 byte holding 10 MB of arrays, 100,000 cores) is refused with one
line naming the file and the key, as any other bad figure is.  Each limit says why it is where it is:
far enough from any real measurement that noise never reaches it, close enough to catch an edit.

Imports nothing of the package: ``lxdex compare`` and ``lxdex plan`` read files without loading the
engine.  The machine limits equal :data:`lxdex_capacity.capacity.hardware.LIMITS`' (a test holds them
equal): a saved run can not come from a machine a hardware file may not describe.
"""

from __future__ import annotations

import math

__all__ = ["keyed", "MAX_CLOCK_GHZ", "MIN_CYCLES_PER_ORDER", "MIN_NS_PER_ORDER", "MAX_ORDERS_PER_S_PER_CORE", "MIN_ACCESS_NS",
           "MAX_LOOKUPS_PER_S", "MAX_CORES", "MAX_LOGICAL_CPUS", "MAX_MEMORY_BYTES", "MIN_PROCESS_RSS_BYTES", "SUM_TOLERANCE",
           "too_many_orders", "too_fast_an_order", "too_fast_an_access", "too_small_a_process", "RATE_UNITS", "figure_problem", "orders_per_s_problem", "ns_per_order_problem",
           "access_ns_problem", "rss_problem", "sums_to", "percent_error",
           "error_pct_problem"]

# --- time: what one core can do -------------------------------------------------------------------------------------
# The fastest clock a hardware file may give a core (hardware.LIMITS["clock_ghz"]): record overclocks under liquid
# nitrogen reach ~9 GHz; no core ships above 6.
MAX_CLOCK_GHZ = 10.0
# Matching one order decodes it, finds its market's row, compares it with the best price level, fills or queues it and
# writes the tape: tens of instructions and several dependent loads (the engine touches ~7 cache lines an order,
# core_rate.LINES_TOUCHED_PER_ORDER).  The widest cores retire about 8 instructions a cycle, and a dependent L1d load
# alone takes 4-5 cycles, so no order costs fewer than 10 cycles (this engine measures ~500-1,000 a core).
MIN_CYCLES_PER_ORDER = 10.0
MIN_NS_PER_ORDER = MIN_CYCLES_PER_ORDER / MAX_CLOCK_GHZ  # 1 ns
# One core's orders per second: 1 billion.  ``threads`` cores (an engine partitioned across threads, shards each on
# their core) sustain at most that many times it.
MAX_ORDERS_PER_S_PER_CORE = 1e9 / MIN_NS_PER_ORDER
# A random access answers no faster than an L1d hit (4 cycles at 4-5 GHz, ~1 ns); 0.1 ns is below any cache at any
# clock a core runs, and the resolution of the counters the latency is timed with (hardware.MIN_CACHE_LATENCY_NS).
MIN_ACCESS_NS = 0.1
MAX_LOOKUPS_PER_S = 1e9 / MIN_ACCESS_NS  # lookups of random markets per second, one core: 10 billion

# --- space: what one machine holds ----------------------------------------------------------------------------------
# Physical cores: hardware.LIMITS' most performance cores plus most efficiency cores (4,096 each).
MAX_CORES = 8192
MAX_LOGICAL_CPUS = MAX_CORES * 8  # 8 hardware threads a core (IBM POWER's SMT8), the most any core runs
MAX_MEMORY_BYTES = 65_536 << 30  # 64 TiB, hardware.LIMITS["memory_gib"]'s most
# A process's resident set: CPython alone keeps ~8-10 MiB resident, with numpy and numba over 100 MiB; no process that
# ran a simulation or a sweep point holds fewer than 4 MiB.
MIN_PROCESS_RSS_BYTES = 4 << 20

# --- consistency ----------------------------------------------------------------------------------------------------
# Relative tolerance of a float total against the sum of its parts (or a mean times its count): float rounding over
# millions of terms stays below 1e-9; an edited figure moves by far more.
SUM_TOLERANCE = 1e-6


def _cores(cores: int) -> str:
    return f"{cores:,} core{'s' if cores != 1 else ''}"


def keyed(key: str, value: object, why: str | None) -> str | None:
    """``key=value: why`` (a problem named by the key it was found at), or None when there is no ``why``."""
    return f"{key}={value!r}: {why}" if why else None


def too_many_orders(value: float, cores: int = 1) -> str | None:
    """Why ``value`` orders/s is more than ``cores`` cores match, or None."""
    limit = MAX_ORDERS_PER_S_PER_CORE * max(cores, 1)
    if value > limit:
        return (f"more orders/s than {_cores(cores)} can match ({limit:,.0f}: an order costs at least "
                f"{MIN_CYCLES_PER_ORDER:g} cycles at {MAX_CLOCK_GHZ:g} GHz)")
    return None


def orders_per_s_problem(key: str, value: float, cores: int = 1) -> str | None:
    """``key=value: ...`` when ``value`` orders/s is more than ``cores`` cores reach, else None."""
    return keyed(key, value, too_many_orders(value, cores))


def too_fast_an_order(value: float, cores: int = 1) -> str | None:
    """Why ``value`` ns an order is faster than ``cores`` cores match one, or None."""
    floor = MIN_NS_PER_ORDER / max(cores, 1)
    if value < floor:
        return (f"faster than {_cores(cores)} can match an order ({floor:g} ns at least: "
                f"{MIN_CYCLES_PER_ORDER:g} cycles at {MAX_CLOCK_GHZ:g} GHz)")
    return None


def ns_per_order_problem(key: str, value: float, cores: int = 1) -> str | None:
    """``key=value: ...`` when ``value`` ns an order is faster than ``cores`` cores match one, else None."""
    return keyed(key, value, too_fast_an_order(value, cores))


def too_fast_an_access(value: float) -> str | None:
    """Why a measured random access of ``value`` ns is faster than any cache answers, or None."""
    if value < MIN_ACCESS_NS:
        return f"faster than any cache answers a random access ({MIN_ACCESS_NS:g} ns at least)"
    return None


def access_ns_problem(key: str, value: float) -> str | None:
    """``key=value: ...`` when a measured random access of ``value`` ns is faster than any cache answers, else None."""
    return keyed(key, value, too_fast_an_access(value))


def too_small_a_process(rss_bytes: int, engine_bytes: int, engine_key: str = "engine_bytes_used") -> str | None:
    """Why a measured resident set of ``rss_bytes`` is smaller than a process holds, or than the engine's arrays it holds
    (``engine_bytes``: rows written are resident), or None."""
    if rss_bytes < MIN_PROCESS_RSS_BYTES:
        return f"smaller than any process's resident set ({MIN_PROCESS_RSS_BYTES:,} bytes at least)"
    if rss_bytes < engine_bytes:
        return f"less than the {engine_key}={engine_bytes:,} it holds (the engine's rows are resident)"
    return None


def rss_problem(key: str, rss_bytes: int, engine_bytes: int, engine_key: str = "engine_bytes_used") -> str | None:
    """``key=value: ...`` when :func:`too_small_a_process` says why, else None."""
    return keyed(key, rss_bytes, too_small_a_process(rss_bytes, engine_bytes, engine_key))


RATE_UNITS = ("orders/s", "msg/s", "messages/s")  # the units a figure of messages matched per second is in


def figure_problem(unit: str, value: float, cores: int = 1) -> str | None:
    """Why a measured figure of ``value`` in ``unit`` is beyond what ``cores`` cores do, or None (also for a unit these
    limits do not speak of: bytes, latencies)."""
    if unit in RATE_UNITS:
        return too_many_orders(value, cores)
    if unit == "ns/order":
        return too_fast_an_order(value, cores)
    if unit == "lookups/s" and value > MAX_LOOKUPS_PER_S * max(cores, 1):
        return f"more random lookups a second than {_cores(cores)} make ({MAX_LOOKUPS_PER_S * max(cores, 1):,.0f})"
    return None


def sums_to(total: float, parts: float, exact: bool = False) -> bool:
    """``total`` is ``parts`` (a sum, or a mean times its count): exactly for counts, up to :data:`SUM_TOLERANCE` else."""
    return total == parts if exact else math.isclose(total, parts, rel_tol=SUM_TOLERANCE, abs_tol=1e-9)


def percent_error(predicted: float, measured: float) -> float:
    """100 x (predicted - measured) / measured: how far a prediction missed, in percent of what was measured."""
    return 100.0 * (predicted - measured) / measured


def error_pct_problem(key: str, error_pct: float, predicted: float, measured: float) -> str | None:
    """``key=value: ...`` unless ``error_pct`` is :func:`percent_error` of ``predicted`` and ``measured`` (up to
    rounding), else None."""
    expected = percent_error(predicted, measured)
    if not math.isclose(error_pct, expected, rel_tol=1e-6, abs_tol=1e-6):
        return f"{key}={error_pct!r}: not 100 x (predicted - measured) / measured ({expected!r})"
    return None
