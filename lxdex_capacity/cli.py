"""The ``lxdex`` command line: thin commands over the library API.

Data goes to stdout (a rich table, or one JSON object with ``--json``); progress bars and
errors go to stderr.  Every error the user can cause is one line and exit code 2.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .errors import LxdexError

app = typer.Typer(
    name="lxdex",
    help="Measured memory and speed of a real multi-market matching engine, and the machines that hold it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"lxdex-capacity {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """lxdex-capacity: how much memory and speed a multi-market matching engine needs."""


def _si(value: float, unit: str) -> str:
    """``12.35M orders/s``: decimal prefixes, as rates are counted (bytes use ``B`` unprefixed here)."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor and unit != "B":
            return f"{value / factor:,.2f}{prefix} {unit}"
    return f"{value:,.2f} {unit}"


@app.command()
def bench(
    markets: int = typer.Option(21_000, min=1, help="Markets in the seeded-flow, lookup and footprint workloads."),
    trades: int = typer.Option(1_000_000, min=1, help="Trades the seeded flow runs until."),
    repeat: int = typer.Option(3, min=1, help="Runs per workload; figures are medians."),
    seed: int = typer.Option(0, help="Seed of the first run (run i uses seed+i)."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes, one run: a smoke test, not a measurement."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Benchmark the engine: orders/s through matching, cancel-heavy messages/s, lookups/s, bytes."""
    from .profiling.report import BenchConfig, pin_to_one_core, run_benchmarks

    config = BenchConfig.quick() if quick else BenchConfig(markets=markets, trades=trades, repeat=repeat, seed=seed)
    pinned = pin_to_one_core()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True) as progress:
        task = progress.add_task("compiling kernels", total=4 * (config.warmup + config.repeat))
        report = run_benchmarks(config, advance=lambda name: progress.update(task, advance=1, description=name))
    report["machine"]["pinning"] = pinned
    if as_json:
        out.print_json(json.dumps(report))
        return
    _print_bench(report)


def _print_bench(report: dict[str, Any]) -> None:
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
    rows = [
        ("seeded flow", f"{sf['flow_orders']:,} orders through matching on {sf['markets']:,} tiered markets, {sf['flow_trades']:,} trades", _si(sf["orders_per_s"], "orders/s"), "seeded_flow.orders_per_s"),
        ("seeding", f"{sf['seeded_orders']:,} resting orders placed", _si(sf["seed_orders_per_s"], "orders/s"), None),
        ("cancel-heavy", f"{ch['messages']:,} messages on one market, {ch['cancels'] / ch['messages']:.0%} cancels", _si(ch["messages_per_s"], "msg/s"), "cancel_heavy.messages_per_s"),
        ("lookups", f"{lk['lookups']:,} best bid/ask on random markets", _si(lk["lookups_per_s"], "lookups/s"), "lookups.lookups_per_s"),
        ("", "time per lookup", f"{lk['ns_per_lookup']:.2f} ns", None),
        ("footprint", f"all-in per resting order ({fp['resting_orders']:,} orders, {fp['orders_per_level']:.2f} per level)", f"{fp['bytes_per_order_used']:.2f} B", "footprint.bytes_per_order_used"),
        ("", "per resting order incl. reserved growth room", f"{fp['bytes_per_order_reserved']:.2f} B", None),
        ("", "per empty market", f"{fp['bytes_per_empty_market']:.2f} B", "footprint.bytes_per_empty_market"),
    ]
    for workload, what, figure, key in rows:
        if key:
            t = targets[key]
            target = f"{t['op']} {_si(t['target'], t['unit'])}"
            table.add_row(workload, what, figure, target, "[green]yes[/]" if t["met"] else "[red]no[/]")
        else:
            table.add_row(workload, what, figure, "", "")
    out.print(table)


def _fail(message: str, code: int) -> None:
    err.print(f"lxdex: error: {message}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: usage and library errors become one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="lxdex", standalone_mode=False)
    except LxdexError as exc:
        _fail(str(exc), 2)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except Exception as exc:
        # Usage errors: click's ClickException, vendored inside newer typer; matched by shape so
        # that neither click nor typer internals are imported.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``lxdex``: show help, as --help does
            ctx = getattr(exc, "ctx", None)
            out.print(ctx.get_help() if ctx else "")
            sys.exit(0)
        _fail(exc.format_message(), exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
