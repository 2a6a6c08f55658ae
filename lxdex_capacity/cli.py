"""The ``lxdex`` command line: thin commands over the library API.

Data goes to stdout (a rich table, or one JSON object with ``--json``); progress bars and
errors go to stderr.  Every error the user can cause is one line and exit code 2.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, cli_capacity, cli_data, cli_reports
from .console import err, mb, out, si
from .errors import LxdexError

if TYPE_CHECKING:
    from .scenarios.config import Scenario

app = typer.Typer(
    name="lxdex",
    help="Measured memory and speed of a real multi-market matching engine, and the machines that hold it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"lxdex-capacity {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """lxdex-capacity: how much memory and speed a multi-market matching engine needs."""


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
        ("seeded flow", f"{sf['flow_orders']:,} orders through matching on {sf['markets']:,} tiered markets, {sf['flow_trades']:,} trades", si(sf["orders_per_s"], "orders/s"), "seeded_flow.orders_per_s"),
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


def _fail(message: str, code: int) -> None:
    err.print(f"lxdex: error: {message}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


def _scenario_from_options(scenario_file: Optional[Path], **overrides: Any) -> "Scenario":
    from .scenarios.config import Scenario, load_scenario

    scenario = load_scenario(scenario_file) if scenario_file else Scenario()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return scenario.replace(**changes) if changes else scenario


@contextmanager
def _phase_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per simulation phase on stderr; yields the callback ``simulate`` calls."""
    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def advance(phase: str, completed: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=completed)

        yield advance


MARKETS_HELP = "Markets to simulate (1 to 100,000,000); default 21,000 or the scenario file's."


@app.command()
def simulate(
    markets: Optional[int] = typer.Option(None, min=1, max=100_000_000, help=MARKETS_HELP),
    trades: Optional[int] = typer.Option(None, min=0, help="Fills the traded phase runs until (default 1,000,000)."),
    seed: Optional[int] = typer.Option(None, min=0, help="Random seed: the same seed gives the same trades."),
    scenario_file: Optional[Path] = typer.Option(None, "--scenario", help="Scenario TOML file (see 'lxdex scenario show')."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Also write simulate.json into this directory."),
    force: bool = typer.Option(False, "--force", help="Run even if the memory estimate exceeds available memory."),
    shards: Optional[int] = typer.Option(None, min=1, max=4096, help="Split the markets into this many shards, each run by a Dask worker (a local cluster unless --scheduler); results do not depend on the count."),
    scheduler: Optional[str] = typer.Option(None, help="With --shards: run the shards on the Dask cluster at this scheduler address."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Build the markets, seed their books, trade, and report each phase's memory and the throughput."""
    from .atomic import ensure_dir, write_text_atomic
    from .simulation import simulate as run_simulation

    scenario = _scenario_from_options(scenario_file, markets=markets, trades=trades, seed=seed)
    if out_dir is not None:
        out_dir = ensure_dir(out_dir)
    if shards is not None or scheduler is not None:
        from .cli_capacity import simulate_sharded_command

        simulate_sharded_command(scenario, shards or 1, scheduler, out_dir, force, as_json)
        return
    with _phase_progress() as advance:
        result = run_simulation(scenario, progress=advance, force=force)
    report = result.as_dict()
    if result.stalled:
        err.print(f"lxdex: warning: the flow stopped producing fills after {result.phase('traded').trades:,} of "
                  f"{scenario.trades:,} trades (taker_share={scenario.taker_share}); figures cover what ran")
    text = json.dumps(report, indent=2)
    if out_dir is not None:
        write_text_atomic(out_dir / "simulate.json", text + "\n")
    if as_json:
        out.print_json(text)
        return
    _print_simulation(report)


def _print_simulation(r: dict[str, Any]) -> None:
    table = Table(title=f"lxdex simulate — {r['markets']:,} markets ({r['universe']['securities']:,} securities, "
                  f"{r['universe']['crypto']:,} crypto), seed {r['seed']}")
    table.add_column("phase")
    for name in ("markets", "resting orders", "trades", "engine MB", "reserved MB", "numpy MB", "RSS MB", "B/market", "B/order"):
        table.add_column(name, justify="right")
    for p in r["phases"]:
        per_order = f"{p['book_bytes_per_order']:,.1f}" if p["resting_orders"] else "—"
        table.add_row(p["name"], f"{p['markets']:,}", f"{p['resting_orders']:,}", f"{p['trades']:,}", f"{p['engine_bytes_used'] / 1e6:,.2f}",
                      f"{p['engine_bytes_reserved'] / 1e6:,.2f}", f"{p['traced_bytes'] / 1e6:,.2f}",
                      f"{p['rss_bytes'] / 1e6:,.1f}", f"{p['engine_bytes_used'] / p['markets']:,.1f}", per_order)
    out.print(table)
    out.print(f"MB = 10^6 bytes. Engine: bytes the engine's arrays use (live rows) and reserve; numpy: "
              f"traced by tracemalloc; process baseline before the engine: RSS {mb(r['baseline']['rss_bytes'])}, "
              f"USS {mb(r['baseline']['uss_bytes'])}.")
    t = r["throughput"]
    perf = Table(title="performance (one core)")
    perf.add_column("figure")
    perf.add_column("value", justify="right")
    perf.add_row("orders through matching (traded phase)", si(t["orders_per_s"], "orders/s"))
    perf.add_row("cancels keeping books at their seeded depth", f"{t['cancels']:,} in {t['cancel_seconds']:.2f} s (with bookkeeping)")
    perf.add_row("best bid/ask lookups, random markets", si(t["lookups_per_s"], "lookups/s"))
    perf.add_row("random access latency p50", f"{t['random_access_ns_p50']:.1f} ns")
    perf.add_row("random access latency p99", f"{t['random_access_ns_p99']:.1f} ns")
    out.print(perf)
    out.print(f"elapsed {r['elapsed_s']:.1f} s; market checksum {r['market_checksum']}")


@app.command()
def profile(
    markets: Optional[int] = typer.Option(None, min=1, max=100_000_000, help=MARKETS_HELP),
    trades: Optional[int] = typer.Option(None, min=0, help="Fills the traded phase runs until (default 1,000,000)."),
    seed: Optional[int] = typer.Option(None, min=0, help="Random seed."),
    scenario_file: Optional[Path] = typer.Option(None, "--scenario", help="Scenario TOML file."),
    force: bool = typer.Option(False, "--force", help="Run even if the memory estimate exceeds available memory."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Where the bytes go: per-market memory by component (averaged and per tier) after trading,
    and the compact order record against naive object-per-order designs (pympler)."""
    from .profiling.breakdown import COMPONENT_LABELS, breakdown, breakdown_as_dict, layout_comparison
    from .simulation import simulate as run_simulation

    scenario = _scenario_from_options(scenario_file, markets=markets, trades=trades, seed=seed)
    found: dict[str, Any] = {}

    def inspect(engine: Any) -> None:
        found["breakdown"] = breakdown(engine, scenario.tiers)
        found["layout"] = layout_comparison(engine, seed=scenario.seed)

    with _phase_progress() as advance:
        result = run_simulation(scenario, progress=advance, force=force, inspect=inspect)
    b, layout = found["breakdown"], found["layout"]
    if as_json:
        report = {
            "markets": scenario.markets,
            "seed": scenario.seed,
            "trades": result.phase("traded").trades,
            **breakdown_as_dict(b),
            "layout": layout,
        }
        out.print_json(json.dumps(report))
        return
    table = Table(title=f"memory breakdown per market after {result.phase('traded').trades:,} trades — bytes used, mean per market")
    table.add_column("component")
    rows = [b["all"], *b["tiers"]]
    for row in rows:
        table.add_column(row.name, justify="right")
    for key, label in COMPONENT_LABELS.items():
        table.add_row(label, *(f"{row.bytes_mean[key]:,.1f}" for row in rows))
    table.add_row("[bold]total[/]", *(f"[bold]{row.total_mean:,.1f}[/]" for row in rows))
    table.add_row("resting orders", *(f"{row.resting_orders_mean:,.1f}" for row in rows))
    table.add_row("price levels", *(f"{row.price_levels_mean:,.1f}" for row in rows))
    out.print(table)
    out.print(f"Engine: {mb(b['engine_bytes_used'])} used, {mb(b['engine_bytes_reserved'])} reserved "
              f"({b['spare_pool_bytes_per_market']:,.1f} B per market of spare pool room for growth).")
    c, naive = layout["compact"], layout["naive"]
    lay = Table(title="bytes per resting order: compact records vs naive Python objects")
    lay.add_column("design")
    lay.add_column("bytes per order", justify="right")
    lay.add_column("what is counted")
    fields = ", ".join(f["name"] for f in c["order_fields"])
    lay.add_row("compact order row", f"{c['order_record_bytes']}", f"int32 {fields}; no padding")
    lay.add_row("compact, all-in", f"{c['all_in_bytes_per_order']:,.1f}", "order rows + shared 16 B level rows + id index, from engine.memory()")
    lay.add_row("object per order", f"{naive['object_per_order_bytes']:,.1f}", f"pympler: objects, id dict, deque per level ({naive['sample_orders']:,} real orders)")
    lay.add_row("object per order, __slots__", f"{naive['slotted_object_per_order_bytes']:,.1f}", "the same with slotted objects")
    out.print(lay)


app.command()(cli_capacity.sweep)
app.command()(cli_capacity.plan)
app.command()(cli_reports.report)
app.command()(cli_reports.audit)
app.command()(cli_data.replay)
app.command()(cli_data.calibrate)
app.add_typer(cli_capacity.hardware_app, name="hardware")

scenario_app = typer.Typer(help="Scenario parameters.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("show")
def scenario_show(
    scenario_file: Optional[Path] = typer.Option(None, "--scenario", help="Scenario TOML file to read."),
    markets: Optional[int] = typer.Option(None, min=1, max=100_000_000, help=MARKETS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Print the effective scenario parameters, with what they imply (activity exponent, depth, memory)."""
    from .scenarios import zipf_exponent_for_share
    from .scenarios.universe import Universe
    from .simulation.run import estimate_memory, expected_resting

    scenario = _scenario_from_options(scenario_file, markets=markets)
    universe = Universe(scenario.markets, scenario.securities_share)
    derived = {
        "zipf_exponent": zipf_exponent_for_share(scenario.markets, scenario.flow_share, scenario.market_share),
        "expected_resting_orders": expected_resting(scenario),
        "securities": universe.securities,
        "crypto": universe.crypto,
        "estimate_bytes": estimate_memory(scenario),
        "sample_symbols": [universe.symbol(m) for m in range(min(scenario.markets, 8))],
    }
    if as_json:
        out.print_json(json.dumps({"scenario": scenario.as_dict(), "derived": derived}))
        return
    table = Table(title="scenario" + (f" from {scenario_file}" if scenario_file else " (defaults)"))
    table.add_column("parameter")
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
              f"memory estimate {derived['estimate_bytes'] / 2**30:.2f} GiB; "
              f"most active symbols: {', '.join(derived['sample_symbols'])}")


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
