"""``lxdex replay`` and ``lxdex calibrate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ...console import Table, out, si

if TYPE_CHECKING:
    from ...replay.calibrate import Calibration
    from ...replay.replay import ReplayResult

__all__ = ["print_replay", "print_calibration"]


def print_replay(result: ReplayResult, checked: bool) -> None:
    """A replay's figures; with the orderbook check's figures and the
    first disagreement if the replay was ``checked`` against an orderbook file."""
    table = Table(title=f"replay of {result.source}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [("messages", f"{result.messages:,}"),
            *((f"  {name}", f"{n:,}") for name, n in result.by_type.items()),
            ("applied to the book", f"{result.applied:,}"),
            ("not applicable (nothing to reduce, or an add that would cross)", f"{result.unapplied:,}"),
            ("no visible change (hidden executions, cross trades, halts)", f"{result.skipped:,}"),
            ("events on orders never seen (applied to injected quantity)", f"{result.unknown_ids:,}")]
    if checked:
        rows += [(f"orderbook rows checked (top {result.levels} levels a side)", f"{result.checked_rows:,}"),
                 ("levels injected from unseen depth", f"{result.injections:,}"),
                 ("levels dropped on leaving the window", f"{result.dropped_levels:,}"),
                 ("disagreements", f"[{'red' if result.disagreements else 'green'}]{result.disagreements:,}[/]")]
    rows += [("parse time (separate)", f"{result.parse_seconds:,.3f} s"),
             ("apply time" + (" incl. checks" if checked else ""), f"{result.apply_seconds:,.4f} s"),
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


def _figure(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_calibration(result: Calibration, out_file: Path) -> None:
    """A calibration: fitted values beside the defaults, how each was fitted (or why it could not
    be, when the default stays), and the scenario file written to ``out_file``."""
    from ...replay.calibrate import FITTED_KEYS

    table = Table(title=f"calibrated to {result.source}")
    for name in ("parameter", "fitted", "default", "how"):
        table.add_column(name, justify="right" if name in ("fitted", "default") else "left", key=name == "parameter")
    how = {
        "pareto_alpha": f"Pareto MLE above min_qty; KS D {_figure(result.size_ks_distance, '.3f')}; "
                        f"{result.round_lot_share:.0%} round lots",
        "min_qty": f"Clauset x_min; {result.below_min_share:.0%} of sizes are below it", "max_qty": "99.9th percentile of sizes",
        "maker_distance_p": f"Geometric MLE; mean {_figure(result.maker_distance_mean_ticks, '.2f')} ticks from the mid",
        "taker_reach_p": f"Geometric MLE; mean reach {_figure(result.taker_reach_mean_ticks, '.2f')} ticks",
        "taker_share": f"{result.takers:,} takers / {result.flow_orders:,} flow orders ({result.adds:,} adds + takers)",
        "cancel_rate": f"{result.cancels:,} cancels and deletions / {result.flow_orders:,} flow orders",
    }
    for key in FITTED_KEYS:
        if key in result.fitted:
            table.add_row(key, f"{result.fitted[key]:g}", f"{result.defaults[key]:g}", how[key])
        else:
            table.add_row(key, "[yellow]not fitted[/]", f"{result.defaults[key]:g}",
                          f"{result.not_fitted.get(key, '')}: the default stays")
    out.print(table)
    per = "—" if result.orders_per_level is None else f"{result.orders_per_level:.2f}"
    rate = ("—" if result.messages_per_s_mean is None else f"{result.messages_per_s_mean:,.1f}")
    out.print(f"orders per level (replayed engine at the close; injected depth counts as one order): {per}; "
              f"messages/s: {rate} mean, {result.messages_per_s_peak:,.0f} peak second. "
              f"Wrote {out_file}; run it with 'lxdex simulate --scenario {out_file}'.")
