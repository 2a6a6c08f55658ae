"""``lxdex latency``: the service time and a row per offered rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from ...console import out, si

if TYPE_CHECKING:  # the harness imports the engine (numba): not at every command's start
    from ...latency import LatencyResult

__all__ = ["print_latency"]


def _ns(value: float) -> str:
    return f"{value:,.0f} ns" if value < 10_000 else f"{value / 1000:,.1f} µs" if value < 1_000_000 else f"{value / 1e6:,.1f} ms"


def print_latency(r: LatencyResult) -> None:
    s = r.service
    out.print(f"{r.markets:,} markets, {r.arrivals} arrivals, batches of {r.batch}, pools {'reserved' if r.reserve else 'growing'}; "
              f"{r.orders_per_rate:,} orders per rate; cycle counter steps {r.counter_ns:.1f} ns")
    out.print(f"service time, each order alone: p50 {_ns(s.p50_ns)}, p99 {_ns(s.p99_ns)}, p99.9 {_ns(s.p999_ns)}, max {_ns(s.max_ns)} "
              f"({s.samples:,} orders); capacity (one over the mean) {si(r.capacity_per_s, ' orders/s')}")
    table = Table(title="latency = completion - arrival (queueing + service), open loop, one core")
    for name in ("offered/s", "achieved/s", "p50", "p90", "p99", "p99.9", "p99.99", "max", "samples", "stalls"):
        table.add_column(name, justify="right")
    for p in r.rates:
        q = p.latency
        table.add_row(si(p.offered_per_s), si(p.achieved_per_s), _ns(q.p50_ns), _ns(q.p90_ns), _ns(q.p99_ns), _ns(q.p999_ns),
                      _ns(q.p9999_ns), _ns(q.max_ns), f"{q.samples:,}", str(p.stalls))
    out.print(table)
