"""``lxdex bench``: the benchmark table, each figure beside its target (also ``bench/engine_bench.py``'s)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ...console import out, si

__all__ = ["print_bench"]


def print_bench(report: dict[str, Any]) -> None:
    """The medians of :func:`lxdex_capacity.profiling.report.run_benchmarks`' report, with what each measured."""
    r = {name: res["median"] for name, res in report["results"].items()}
    cfg = report["config"]
    table = Table(
        title=f"lxdex engine benchmark — medians of {cfg['repeat']} run(s) after {cfg['warmup']} warm-up, "
        f"{report['machine']['pinning']}"
    )
    table.add_column("workload")
    table.add_column("what was measured")
    table.add_column("figure", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met")
    sf, ch, lk, fp = r["seeded_flow"], r["cancel_heavy"], r["lookups"], r["footprint"]
    targets = report["targets"]
    threads = report["config"].get("threads", 1)
    across = f", markets across {threads} threads" if threads > 1 else ""
    rows = [
        ("seeded flow", f"{sf['flow_orders']:,} orders through matching on {sf['markets']:,} tiered markets{across}, {sf['flow_trades']:,} trades",
         si(sf["orders_per_s"], "orders/s"), "seeded_flow.orders_per_s"),
        ("seeding", f"{sf['seeded_orders']:,} resting orders placed", si(sf["seed_orders_per_s"], "orders/s"), None),
        ("cancel-heavy", f"{ch['messages']:,} messages on one market, {ch['cancels'] / ch['messages']:.0%} cancels", si(ch["messages_per_s"], "msg/s"), "cancel_heavy.messages_per_s"),
        ("lookups", f"{lk['lookups']:,} best bid/ask on random markets", si(lk["lookups_per_s"], "lookups/s"), "lookups.lookups_per_s"),
        ("", "time per lookup", f"{lk['ns_per_lookup']:.2f} ns", None),
        ("footprint", f"all-in per resting order ({fp['resting_orders']:,} orders, {fp['orders_per_level']:.2f} per level)", f"{fp['bytes_per_order_used']:.2f} B", "footprint.bytes_per_order_used"),
        ("", "per resting order incl. reserved growth room", f"{fp['bytes_per_order_reserved']:.2f} B", None),
        ("", "per empty market", f"{fp['bytes_per_empty_market']:.2f} B", "footprint.bytes_per_empty_market"),
    ]
    for workload, what, figure, key in rows:
        if key:
            t = targets[key]
            target = f"{t['op']} {si(t['target'], t['unit'])}"
            table.add_row(workload, what, figure, target, "[green]yes[/]" if t["met"] else "[red]no[/]")
        else:
            table.add_row(workload, what, figure, "", "")
    out.print(table)
