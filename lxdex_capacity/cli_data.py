"""The real-data commands of the ``lxdex`` CLI: ``replay`` and ``calibrate`` (LOBSTER files).

Thin over :mod:`lxdex_capacity.replay`; registered on the main app by :mod:`lxdex_capacity.cli`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .console import err, out, si
from .errors import InputError

__all__ = ["replay", "calibrate"]


def replay(
    message_file: Path = typer.Argument(..., help="LOBSTER message file: CSV, or the published zip."),
    orderbook_file: Optional[Path] = typer.Option(None, "--orderbook", help="LOBSTER orderbook file (CSV or zip) to check the engine's top levels against after every message."),
    levels: Optional[int] = typer.Option(None, min=1, max=1000, help="Levels to check (default: all the orderbook file holds)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Replay a real exchange day (LOBSTER) through the engine: messages/s, resting orders, memory, and
    with --orderbook a check of the top levels after every message. Exit code 1 if any row disagrees."""
    from .replay.lobster import read_messages, read_orderbook
    from .replay.replay import replay as run_replay

    with err.status("reading the files"):
        messages = read_messages(message_file)
        orderbook = read_orderbook(orderbook_file, len(messages), levels) if orderbook_file is not None else None
    with err.status(f"replaying {len(messages):,} messages"):
        result = run_replay(messages, orderbook, levels)
    report = result.as_dict()
    if as_json:
        out.print_json(json.dumps(report, allow_nan=False))
    else:
        table = Table(title=f"replay of {result.source}")
        table.add_column("figure")
        table.add_column("value", justify="right")
        rows = [("messages", f"{result.messages:,}"),
                *((f"  {name}", f"{n:,}") for name, n in result.by_type.items()),
                ("applied to the book", f"{result.applied:,}"),
                ("not applicable (nothing to reduce, or an add that would cross)", f"{result.unapplied:,}"),
                ("no visible change (hidden executions, cross trades, halts)", f"{result.skipped:,}"),
                ("events on orders never seen (applied to injected quantity)", f"{result.unknown_ids:,}")]
        if orderbook is not None:
            rows += [(f"orderbook rows checked (top {result.levels} levels a side)", f"{result.checked_rows:,}"),
                     ("levels injected from unseen depth", f"{result.injections:,}"),
                     ("levels dropped on leaving the window", f"{result.dropped_levels:,}"),
                     ("disagreements", f"[{'red' if result.disagreements else 'green'}]{result.disagreements:,}[/]")]
        rows += [("parse time (separate)", f"{result.parse_seconds:,.3f} s"),
                 ("apply time" + (" incl. checks" if orderbook is not None else ""), f"{result.apply_seconds:,.4f} s"),
                 ("messages/s", si(result.messages_per_s, "msg/s")),
                 ("resting orders at the end", f"{result.resting_orders:,} on {result.price_levels:,} levels"),
                 ("engine bytes used / reserved", f"{result.engine_bytes_used:,} / {result.engine_bytes_reserved:,} B"),
                 ("bytes per resting order (all-in)", f"{result.bytes_per_resting_order:,.1f} B")]
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)
        if result.first_disagreement:
            out.print("first disagreement:")
            out.print_json(json.dumps(result.first_disagreement))
    if result.disagreements:
        raise typer.Exit(1)


def calibrate(
    message_file: Path = typer.Argument(..., help="LOBSTER message file: CSV, or the published zip (whose orderbook is then used too)."),
    out_file: Path = typer.Option(..., "--out", help="Scenario TOML to write (use it with 'lxdex simulate --scenario')."),
    orderbook_file: Optional[Path] = typer.Option(None, "--orderbook", help="LOBSTER orderbook file, for the mid before each message (default: the zip's own)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Fit the scenario's order sizes, maker distance, taker share and reach, and cancel rate to a real day."""
    import zipfile

    from .atomic import write_text_atomic
    from .replay.calibrate import FITTED_KEYS, calibrate as fit, to_toml
    from .replay.lobster import read_messages, read_orderbook
    from .replay.replay import replay as run_replay

    if orderbook_file is None:
        if not (message_file.exists() and zipfile.is_zipfile(message_file)):
            raise InputError("calibrate needs the orderbook for the mid before each message: pass --orderbook, or a LOBSTER zip")
        orderbook_file = message_file
    with err.status("reading and fitting"):
        messages = read_messages(message_file)
        orderbook = read_orderbook(orderbook_file, len(messages))
        replayed = run_replay(messages, orderbook)
        per_level = replayed.resting_orders / replayed.price_levels if replayed.price_levels else None
        result = fit(messages, orderbook, per_level)
    write_text_atomic(out_file, to_toml(result))
    if as_json:
        out.print_json(json.dumps(result.as_dict() | {"scenario_file": str(out_file)}))
        return
    table = Table(title=f"calibrated to {result.source}")
    for name in ("parameter", "fitted", "default", "how"):
        table.add_column(name, justify="right" if name in ("fitted", "default") else "left")
    how = {
        "pareto_alpha": f"Pareto MLE above min_qty; KS D {result.size_ks_distance:.3f}; {result.round_lot_share:.0%} round lots",
        "min_qty": f"Clauset x_min; {result.below_min_share:.0%} of sizes are below it", "max_qty": "99.9th percentile of sizes",
        "maker_distance_p": f"Geometric MLE; mean {result.maker_distance_mean_ticks:.2f} ticks from the mid",
        "taker_reach_p": f"Geometric MLE; mean reach {result.taker_reach_mean_ticks:.2f} ticks",
        "taker_share": f"{result.takers:,} takers / ({result.adds:,} adds + takers)",
        "cancel_rate": f"{result.cancels:,} cancels per flow order",
    }
    for key in FITTED_KEYS:
        table.add_row(key, f"{result.fitted[key]:g}", f"{result.defaults[key]:g}", how[key])
    out.print(table)
    per = "—" if result.orders_per_level is None else f"{result.orders_per_level:.2f}"
    out.print(f"orders per level (replayed engine at the close; injected depth counts as one order): {per}; "
              f"messages/s: {result.messages_per_s_mean:,.1f} mean, {result.messages_per_s_peak:,.0f} peak second. "
              f"Wrote {out_file}; run it with 'lxdex simulate --scenario {out_file}'.")
