"""``lxdex bench``: the engine benchmarks (:mod:`lxdex_capacity.profiling.report`)."""

from __future__ import annotations

import typer

from ..console import tick_progress
from .app import app
from .options import json_option
from .render import print_json
from .render.bench import print_bench


@app.command()
def bench(
    markets: int = typer.Option(21_000, min=1, help="Markets in the seeded-flow, lookup and footprint workloads."),
    trades: int = typer.Option(1_000_000, min=1, help="Trades the seeded flow runs until."),
    repeat: int = typer.Option(3, min=1, help="Runs per workload; figures are medians."),
    seed: int = typer.Option(0, help="Seed of the first run (run i uses seed+i)."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes, one run: a smoke test, not a measurement."),
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Benchmark the engine: orders/s through matching, cancel-heavy messages/s, lookups/s, bytes."""
    from ..profiling.report import BenchConfig, pin_to_one_core, run_benchmarks

    config = BenchConfig.quick() if quick else BenchConfig(markets=markets, trades=trades, repeat=repeat, seed=seed)
    pinned = pin_to_one_core()
    with tick_progress("compiling kernels", total=4 * (config.warmup + config.repeat)) as tick:
        report = run_benchmarks(config, advance=tick)
    report["machine"]["pinning"] = pinned
    if as_json:
        print_json(report)
    else:
        print_bench(report)
