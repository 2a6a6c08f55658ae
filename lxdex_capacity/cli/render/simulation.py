"""``lxdex simulate`` (one process, and sharded), ``lxdex profile`` and ``lxdex scenario show``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...console import Table, err, gib, mb, out, si
from .figures import status_cell, value_with_interval

if TYPE_CHECKING:
    from ...scenarios.config import Scenario
    from ...simulation.results import SimulationResult

__all__ = ["print_simulation", "warn_stalled", "print_profile", "print_scenario"]


def print_simulation(result: SimulationResult) -> None:
    """A simulation: memory per phase, the shards (if any), then the performance figures."""
    r, scenario = result, result.scenario
    execution = result.execution
    how = "one process" if execution.mode == "process" else (
        f"{execution.shards} shards " + ("on Dask workers" if execution.mode == "dask" else "in one process"))
    if execution.threads > 1:
        how += f", each engine's markets across {execution.threads} threads"
    table = Table(title=f"lxdex simulate — {scenario.markets:,} markets ({r.universe['securities']:,} securities, "
                  f"{r.universe['crypto']:,} crypto), seed {scenario.seed}, {how}")
    table.add_column("phase", key=True)
    for name in ("markets", "resting orders", "trades", "engine MB", "reserved MB", "numpy MB", "RSS MB", "B/market", "B/order"):
        table.add_column(name, justify="right")
    for p in r.phases:
        per_order = f"{p.book_bytes_per_order:,.1f}" if p.resting_orders else "—"
        table.add_row(p.name, f"{p.markets:,}", f"{p.resting_orders:,}", f"{p.trades:,}", f"{p.engine_bytes_used / 1e6:,.2f}",
                      f"{p.engine_bytes_reserved / 1e6:,.2f}", f"{p.traced_bytes / 1e6:,.2f}",
                      f"{p.rss_bytes / 1e6:,.1f}", f"{p.engine_bytes_used / p.markets:,.1f}", per_order)
    out.print(table)
    processes = "the process" if execution.mode != "dask" else "the shards' worker processes, summed"
    out.print(f"MB = 10^6 bytes. Engine: bytes the engines' arrays use (live rows) and reserve; numpy: traced by "
              f"tracemalloc; RSS: {processes}; baseline of this process before any engine: RSS {mb(r.baseline.rss_bytes)}, "
              f"USS {mb(r.baseline.uss_bytes)}.")
    if r.shards:
        shards = Table(title=f"shards — {execution.assignment}")
        for name in ("shard", "markets", "expected flow", "resting orders", "trades", "engine MB", "RSS MB", "peak RSS MB", "orders/s"):
            shards.add_column(name, justify="right", key=name == "shard")
        for s in r.shards:
            if s.error:
                shards.add_row(str(s.shard), f"{s.markets:,}", f"{s.expected_flow_share:.1%}", f"[red]failed: {s.error}[/]", *[""] * 5)
                continue
            shards.add_row(str(s.shard), f"{s.markets:,}", f"{s.expected_flow_share:.1%}", f"{s.resting_orders:,}", f"{s.trades:,}",
                           f"{s.engine_bytes_used / 1e6:,.1f}", f"{s.rss_bytes / 1e6:,.1f}" if s.rss_bytes else "—",
                           f"{s.peak_rss_bytes / 1e6:,.1f}" if s.peak_rss_bytes else "—", si(s.orders_per_s, "orders/s"))
        out.print(shards)
    t = r.throughput
    threads = r.execution.threads
    engine = "one core" if threads == 1 else f"{threads} threads"  # what one engine's matching ran on (threads are not pinned)
    perf = Table(title=f"performance ({engine})" if not r.shards else f"performance (per engine: {engine}; and every shard at once)")
    perf.add_column("figure")
    perf.add_column("value", justify="right")
    perf.add_row(f"orders through matching (traded phase), {engine}", si(t.orders_per_s, "orders/s"))
    if t.batches is not None:
        b = t.batches
        perf.add_row(f"  batch by batch: median of {b['repeats']} batches (interval of the median), spread",
                     f"{value_with_interval(b, si, 'orders/s')}, CV {b['cv']:.1%}, {status_cell(b)}")
    if r.shards:
        perf.add_row(f"every shard matching at once, {'a core' if threads == 1 else f'{threads} threads'} each",
                     si(t.parallel_orders_per_s, "orders/s"))
    perf.add_row("cancels (random and keeping books at their seeded depth)", f"{t.cancels:,} in {t.cancel_seconds:.2f} s (with bookkeeping)")
    perf.add_row("best bid/ask lookups, random markets", si(t.lookups_per_s, "lookups/s"))
    perf.add_row("random access latency p50", f"{t.random_access_ns_p50:.1f} ns")
    perf.add_row("random access latency p99", f"{t.random_access_ns_p99:.1f} ns")
    out.print(perf)
    out.print(f"elapsed {r.elapsed_s:.1f} s; market checksum {r.market_checksum or '— (a shard failed)'}; "
              f"tape checksum {r.tape_checksum or '—'}")


def warn_stalled(traded: int, trades: int, taker_share: float) -> None:
    """On stderr: the flow stopped producing fills after ``traded`` of the ``trades`` asked for."""
    err.print(f"lxdex: warning: the flow stopped producing fills after {traded:,} of "
              f"{trades:,} trades (taker_share={taker_share}); figures cover what ran")


def print_profile(b: dict[str, Any], layout: dict[str, Any], trades: int) -> None:
    """``profile``: the per-market breakdown (a simulation's ``breakdown``) after ``trades`` trades, and
    the layout comparison (:func:`~lxdex_capacity.profiling.breakdown.layout_comparison`)."""
    from ...profiling.breakdown import COMPONENT_LABELS

    table = Table(title=f"memory breakdown per market after {trades:,} trades — bytes used, mean per market")
    table.add_column("component", key=True)
    rows = [b["all"], *b["tiers"]]
    for row in rows:
        table.add_column(row["name"], justify="right")
    for key, label in COMPONENT_LABELS.items():
        table.add_row(label, *(f"{row['bytes_mean'][key]:,.1f}" for row in rows))
    table.add_row("[bold]total[/]", *(f"[bold]{row['total_mean']:,.1f}[/]" for row in rows))
    table.add_row("resting orders", *(f"{row['resting_orders_mean']:,.1f}" for row in rows))
    table.add_row("price levels", *(f"{row['price_levels_mean']:,.1f}" for row in rows))
    out.print(table)
    out.print(f"Engine: {mb(b['engine_bytes_used'])} used, {mb(b['engine_bytes_reserved'])} reserved "
              f"({b['spare_pool_bytes_per_market']:,.1f} B per market of spare pool room for growth).")
    c, naive = layout["compact"], layout["naive"]
    lay = Table(title="bytes per resting order: compact records vs naive Python objects")
    lay.add_column("design", key=True)
    lay.add_column("bytes per order", justify="right")
    lay.add_column("what is counted")
    fields = ", ".join(f["name"] for f in c["order_fields"])
    lay.add_row("compact order row", f"{c['order_record_bytes']}", f"int32 {fields}; no padding")
    lay.add_row("compact, all-in", f"{c['all_in_bytes_per_order']:,.1f}", "order rows + shared 16 B level rows + id index, from engine.memory()")
    lay.add_row("object per order", f"{naive['object_per_order_bytes']:,.1f}", f"pympler: objects, id dict, deque per level ({naive['sample_orders']:,} real orders)")
    lay.add_row("object per order, __slots__", f"{naive['slotted_object_per_order_bytes']:,.1f}", "the same with slotted objects")
    out.print(lay)


def print_scenario(scenario: Scenario, derived: dict[str, Any], source: Path | None) -> None:
    """``scenario show``: the effective parameters (read from ``source``, or the defaults), the tier
    table, and what they imply (``derived``)."""
    table = Table(title="scenario" + (f" from {source}" if source else " (defaults)"))
    table.add_column("parameter", key=True)
    table.add_column("value", justify="right")
    for key, value in scenario.as_dict().items():
        if key != "tiers":
            table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    out.print(table)
    tiers = Table(title="tiers (market rank -> resting orders)")
    for name in ("up to rank", "low", "high"):
        tiers.add_column(name, justify="right")
    for tier in scenario.tiers:
        tiers.add_row("all the rest" if tier.up_to_rank is None else f"{tier.up_to_rank:,}", f"{tier.low:,}", f"{tier.high:,}")
    out.print(tiers)
    out.print(f"Zipf exponent {derived['zipf_exponent']:.4f}; expected resting orders {derived['expected_resting_orders']:,.0f}; "
              f"{derived['securities']:,} securities + {derived['crypto']:,} crypto; "
              f"most active symbols: {', '.join(derived['sample_symbols'])}")
    e = derived["estimate"]
    memory = Table(title="predicted by the capacity estimator (lxdex plan --check compares them with a run)")
    for name in ("figure", "bytes", "range"):
        memory.add_column(name, justify="left" if name == "figure" else "right", key=name == "figure")
    for key in ("engine_bytes_used", "engine_bytes_reserved", "process_rss", "simulate_peak"):
        f = e[key]
        memory.add_row(f["predicts"], mb(f["bytes"]), f"{mb(f['low'])} – {mb(f['high'])}")
    out.print(memory)
    out.print(f"memory guard: simulate refuses to start unless {gib(derived['estimate_bytes'])} (its peak) is available")
    if derived["engines_needed"] > 1:
        out.print(f"[yellow]one engine addresses at most 2^31 - 1 order slots: this scenario needs at least "
                  f"{derived['engines_needed']:,} engines (simulate --shards {derived['engines_needed']:,})[/]")
