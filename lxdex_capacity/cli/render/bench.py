"""``lxdex bench``: the benchmark table, each figure with its interval, status and verdict against its target
(also ``bench/engine_bench.py``'s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table

from ...console import out, si
from .figures import stability_caption, status_cell, value_with_interval, verdict_cell

__all__ = ["print_bench"]


def print_bench(report: dict[str, Any]) -> None:
    """:func:`lxdex_capacity.profiling.report.run_benchmarks`' report: each figure with what it measured."""
    r = {name: res["median"] for name, res in report["results"].items()}
    figures = report["figures"]
    cfg = report["config"]
    table = Table(title=f"lxdex engine benchmark — {cfg['policy']}, after {cfg['warmup']} warm-up, {report['machine']['pinning']}",
                  caption=stability_caption(figures))
    table.add_column("workload")
    table.add_column("what was measured")
    table.add_column("figure", justify="right")
    table.add_column("status")
    table.add_column("target", justify="right")
    table.add_column("verdict")
    sf, ch, lk, fp = r["seeded_flow"], r["cancel_heavy"], r["lookups"], r["footprint"]
    targets = report["targets"]
    threads = cfg.get("threads", 1)
    across = f", markets across {threads} threads" if threads > 1 else ""

    rows: list[tuple[str, str, str, Callable[[float], str], str]] = [
        ("seeded flow", f"{sf['flow_orders']:,.0f} orders through matching on {sf['markets']:,.0f} tiered markets{across}, "
         f"{sf['flow_trades']:,.0f} trades", "seeded_flow.orders_per_s", si, "orders/s"),
        ("seeding", f"{sf['seeded_orders']:,.0f} resting orders placed", "seeded_flow.seed_orders_per_s", si, "orders/s"),
        ("cancel-heavy", f"{ch['messages']:,.0f} messages on one market, {ch['cancels'] / ch['messages']:.0%} cancels",
         "cancel_heavy.messages_per_s", si, "msg/s"),
        ("lookups", f"{lk['lookups']:,.0f} best bid/ask on random markets", "lookups.lookups_per_s", si, "lookups/s"),
        ("", "time per lookup", "lookups.ns_per_lookup", lambda v: f"{v:.2f}", "ns"),
        ("footprint", f"all-in per resting order ({fp['resting_orders']:,.0f} orders, {fp['orders_per_level']:.2f} per level)",
         "footprint.bytes_per_order_used", lambda v: f"{v:.2f}", "B"),
        ("", "per empty market", "footprint.bytes_per_empty_market", lambda v: f"{v:.2f}", "B"),
    ]
    for workload, what, key, fmt, unit in rows:
        figure = figures[key]
        target = targets.get(key)
        table.add_row(workload, what, value_with_interval(figure, fmt, unit), status_cell(figure),
                      f"{target['op']} {si(target['target'], target['unit'])}" if target else "",
                      verdict_cell(target["verdict"]) if target else "")
    table.add_row("", "per resting order incl. reserved growth room", f"{fp['bytes_per_order_reserved']:.2f} B", "exact", "", "")
    out.print(table)
    stops = [f"{name}: {result['stop']}" for name, result in report["results"].items() if result.get("stop") and name != "footprint"]
    if stops:
        out.print("repeats: " + "; ".join(stops), highlight=False)
