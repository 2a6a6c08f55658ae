"""``lxdex latency``: the service times, the core's own interruptions and a row per offered rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...console import Table, out, si
from ...latency.statistics import PERCENTILES, resolved
from ...units import duration_text
from .figures import status_cell, value_with_interval

if TYPE_CHECKING:  # the harness imports the engine (numba): not at every command's start
    from ...latency import LatencyResult, Percentiles

__all__ = ["print_latency"]


def _spread(p: Percentiles) -> str:
    return (f"p50 {duration_text(p.p50_ns)}, p99 {duration_text(p.p99_ns)}, p99.9 {duration_text(p.p999_ns)}, "
            f"max {duration_text(p.max_ns)} ({p.samples:,})")


def _resolved(ns: float, percentile: float, samples: int) -> str:
    """A percentile's cell, or "—" when no sample lies beyond it (it is only the max, of too few samples)."""
    return duration_text(ns) if resolved(percentile, samples) else "—"


def _cores(threads: int) -> str:
    return "one core" if threads == 1 else f"{threads} threads, a core each"


def print_latency(r: LatencyResult) -> None:
    taken = (f"batches of {r.batch}" if r.batch > 1 else
             "one at a time, seeing the queue behind" if r.look_ahead else "one at a time, nothing of the queue seen")
    mix = f", {r.cancels_per_order:g} cancels per order" if r.cancels_per_order else ""
    cores = f", {r.threads} threads (each its markets' messages, on its own core)" if r.threads > 1 else ""
    out.print(f"{r.markets:,} markets{cores}, {r.arrivals} arrivals{mix}, {taken}, pools {'reserved' if r.reserve else 'growing'}; "
              f"{r.orders_per_rate:,} messages per rate; cycle counter steps {r.counter_ns:.1f} ns")
    out.print(f"service time, each order alone: {_spread(r.service)}")
    if r.cancel_service is not None and r.cancel_service.samples:
        out.print(f"service time, each cancel alone: {_spread(r.cancel_service)}")
    if r.capacity is None:
        out.print(f"capacity (one over the mean service time of {r.capacity_basis}): {si(r.capacity_per_s, 'messages/s')}")
    if r.injected_delay_ns:
        out.print(f"injected delay: {duration_text(r.injected_delay_ns)} added to every order's service")
    if r.capacity is not None:
        out.print(f"capacity (one over the mean service time of {r.capacity_basis}), median of {r.capacity.repeats} runs: "
                  f"{value_with_interval(r.capacity, si, 'messages/s')}, {r.capacity.status} ({r.capacity.reason})", highlight=False)
    if r.platform is not None:
        f = r.platform
        out.print(f"this core's own interruptions, seen while the runs waited for arrivals ({f.seconds:.3g} s of waiting): "
                  f"{f.per_s:,.0f}/s, median {duration_text(f.median_ns)}, {f.lost_share:.1%} of that time", highlight=False)
    table = Table(title=f"latency = completion - arrival (queueing + service), open loop, {_cores(r.threads)}; medians of the runs at "
                        "each rate (the p99's interval)",
                  caption="— : a percentile no sample lies beyond (too few samples: it would be the max); floor p99: the p99 of what "
                          "the core's own interruptions alone made each message wait, in the same runs (never above the p99)")
    columns = ["offered/s", "achieved/s", "p50", "p90", "p99", "p99.9", "p99.99", "max", "floor p99", "runs × samples", "stalls"]
    with_cancels = any(p.cancels for p in r.rates)
    for name in columns + (["cancels"] if with_cancels else []) + ["status"]:
        table.add_column(name, justify="left" if name == "status" else "right", key=name == "offered/s")
    for p in r.rates:
        q = p.latency
        p99 = p.figures.get("p99_ns")
        cells = []
        for key, share in PERCENTILES:
            cell = _resolved(getattr(q, key), share, q.samples)
            if key == "p99_ns" and p99 is not None and cell != "—":
                cell = value_with_interval(p99, duration_text)
            cells.append(cell)
        floor = duration_text(p.floor.p99_ns) if p.floor is not None and resolved(99.0, p.floor.samples) else "—"
        row = [si(p.offered_per_s), si(p.achieved_per_s), *cells, duration_text(q.max_ns), floor, f"{len(p.runs)} × {q.samples:,}",
               str(p.stalls)]
        status = status_cell(p99) if p99 is not None else ""
        table.add_row(*row, *([f"{p.cancels:,}"] if with_cancels else []), status)
    out.print(table)
    stops = sorted({p.stop for p in r.rates if p.stop and p.stop not in r.policy})
    if r.policy:
        out.print(f"repeats: {r.policy}" + (f"; {'; '.join(stops)}" if stops else ""), highlight=False)
