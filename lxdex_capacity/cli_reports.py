"""The reporting commands of the ``lxdex`` CLI: ``report`` and ``audit``.

Thin over :mod:`lxdex_capacity.reporting`; registered on the main app by :mod:`lxdex_capacity.cli`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli_capacity import HARDWARE_FILE, MODEL_FILE, ORDER_RATE, ORDERS_PER_MARKET, OS_RESERVE, SAFETY, TRADES_RETAINED
from .console import err, out, si, step_progress

__all__ = ["report", "audit"]


def _quantity(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 1e9:,.3f} GB" if value >= 1e9 else f"{value / 1e6:,.4g} MB"
    if unit == "ns":
        return f"{value:,.1f} ns"
    return si(value, unit)


def audit(
    claims_file: Optional[Path] = typer.Argument(None, help="Claims TOML file (default: the published LX DEX report's claims)."),
    max_measure: int = typer.Option(1_000_000, min=1, help="Measure loads up to this many markets; larger ones are predicted by the model."),
    seed: int = typer.Option(0, min=0, help="Seed of the simulation runs."),
    model_file: Optional[Path] = MODEL_FILE,
    force: bool = typer.Option(False, "--force", help="Run even if a load's memory estimate exceeds available memory."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Check a report's claims (memory, per-market memory, orders/s, lookups/s, random access) against measurement."""
    from .capacity.model import load_model
    from .reporting.audit import audit as run_audit
    from .reporting.audit import load_claims, published_claims_path
    from .simulation import simulate

    source, claims = load_claims(claims_file)
    model = load_model(model_file)
    with step_progress("audit") as advance:
        verdicts = run_audit(claims, lambda scenario: simulate(scenario, force=force).as_dict(), model,
                             max_measure=max_measure, seed=seed, advance=advance)
    report = {
        "claims_file": str(claims_file or published_claims_path()),
        "source": source,
        "claims": [v.as_dict() for v in verdicts],
        "holds": sum(v.holds for v in verdicts),
        "fails": sum(not v.holds for v in verdicts),
    }
    if as_json:
        out.print_json(json.dumps(report, allow_nan=False))
        return
    table = Table(title=f"audit of {source.get('title', report['claims_file'])}: {report['holds']} hold, {report['fails']} fail")
    for name in ("claim", "claimed", "measured", "verdict", "measured/claimed", "how"):
        table.add_column(name, justify="right" if name in ("claimed", "measured", "measured/claimed") else "left")
    for v in verdicts:
        bound = "≤ " if v.bound == "at_most" else "≥ "
        measured = _quantity(v.measured, v.unit)
        if v.low is not None:
            measured += f"\n({_quantity(v.low, v.unit)} – {_quantity(v.high, v.unit)})"
        table.add_row(v.text, bound + _quantity(v.claimed, v.unit), measured, "[green]holds[/]" if v.holds else "[red]fails[/]",
                      "—" if v.ratio is None else f"{v.ratio:,.3g}x", v.basis)
    out.print(table)
    out.print("Memory is the engine's own bytes in use unless a claim names another measure; MB and GB are decimal. "
              "Rates are one core of this machine.")


def report(
    markets: Optional[int] = typer.Option(None, min=1, max=100_000_000, help="Markets to simulate (default 21,000 or the scenario file's)."),
    trades: Optional[int] = typer.Option(None, min=0, help="Fills the traded phase runs until (default 1,000,000)."),
    seed: Optional[int] = typer.Option(None, min=0, help="Random seed."),
    scenario_file: Optional[Path] = typer.Option(None, "--scenario", help="Scenario TOML file."),
    simulate_file: Optional[Path] = typer.Option(None, "--simulate", help="Use a saved simulate.json ('lxdex simulate --out') instead of running."),
    results_file: Optional[Path] = typer.Option(None, "--results", help="Re-render a saved results.json without running anything."),
    sharded_file: Optional[Path] = typer.Option(None, "--sharded", help="Add a saved sharded run ('lxdex simulate --shards K --out', sharded.json) with its per-shard figures."),
    out_dir: Path = typer.Option(..., "--out", help="Directory to write report.md, report.html, results.json and charts/ into."),
    orders_per_market: Optional[float] = ORDERS_PER_MARKET,
    trades_retained: int = TRADES_RETAINED,
    order_rate: float = ORDER_RATE,
    safety: float = SAFETY,
    os_reserve: float = OS_RESERVE,
    model_file: Optional[Path] = MODEL_FILE,
    hardware_file: Optional[Path] = HARDWARE_FILE,
    force: bool = typer.Option(False, "--force", help="Run even if the memory estimate exceeds available memory."),
    as_json: bool = typer.Option(False, "--json", help="Print the results (every figure) as JSON."),
) -> None:
    """Write a capacity report: Markdown, self-contained HTML, results.json and charts (PNG, SVG)."""
    import shlex

    from .capacity.hardware import load_profiles
    from .capacity.model import load_model
    from .capacity.plan import PlanRequest
    from .cli import _phase_progress, _scenario_from_options
    from .reporting.report import collect, load_results, load_sharded, load_simulation, write_report
    from .simulation import simulate

    if results_file is not None:
        results = load_results(results_file)
    else:
        if simulate_file is not None:
            simulation = load_simulation(simulate_file)
        else:
            scenario = _scenario_from_options(scenario_file, markets=markets, trades=trades, seed=seed)
            with _phase_progress() as advance:
                simulation = simulate(scenario, progress=advance, force=force).as_dict()
        request = PlanRequest(markets=simulation["markets"], orders_per_market=orders_per_market, trades_retained=trades_retained,
                              safety=safety, os_reserve_gib=os_reserve, order_rate=order_rate)
        command = "lxdex " + shlex.join(["report", *sys.argv[2:]]) if len(sys.argv) > 1 and sys.argv[1] == "report" else "lxdex report"
        sharded = load_sharded(sharded_file) if sharded_file is not None else None
        results = collect(simulation, load_model(model_file), load_profiles(hardware_file), request, command, sharded)
    with err.status("drawing charts and writing the report"):
        written = write_report(results, out_dir)
    if as_json:
        out.print_json(json.dumps(results, allow_nan=False))
        return
    for name in ("report.md", "report.html", "results.json"):
        out.print(f"wrote {written[name]}")
    out.print(f"wrote {len(written) - 3} chart files under {Path(out_dir) / 'charts'}")
