"""``lxdex bench``: the engine benchmarks (:mod:`lxdex_capacity.profiling.report`)."""

from __future__ import annotations

from dataclasses import replace

import typer

from ..console import compile_step, step_progress, warn_unsteady
from ..engine.partitioned import MAX_THREADS
from ..errors import InputError
from ..profiling.report import DEFAULT_BUDGET_S
from .app import app
from .options import FORCE, json_option, repeats_option, time_budget_option
from .render import print_json
from .render.bench import print_bench


@app.command()
def bench(
    markets: int | None = typer.Option(None, min=1, max=100_000_000, help="Markets in the seeded-flow, lookup and footprint workloads (default 21,000; 2,000 with --quick)."),
    trades: int | None = typer.Option(None, min=1, max=10**12, help="Trades the seeded flow runs until (default 1,000,000; 50,000 with --quick)."),
    repeats: int | None = repeats_option("Runs of each timed workload", "adaptive; 1 with --quick"),
    time_budget: float = time_budget_option(DEFAULT_BUDGET_S, "each workload"),
    seed: int | None = typer.Option(None, min=0, max=2**63 - 1 - 2000, help="Seed of the first run (run i uses seed+i; default 0)."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes, one run: a smoke test, not a measurement (options given still apply)."),
    threads: int = typer.Option(1, min=1, max=MAX_THREADS, help="The seeded flow's engine partitions its markets across this many threads (pinned to as many cores)."),
    force: bool = FORCE,
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Benchmark the engine: orders/s through matching, cancel-heavy messages/s, lookups/s, bytes.

    Each timed figure is the median of its runs with the interval of that median, its spread, and whether the machine
    was quiet while it was taken (stable, noisy or disturbed); each target holds, fails, or is too noisy to call."""
    from ..profiling.report import BenchConfig, pin_to_cores, run_benchmarks
    from ..scenarios.config import Scenario
    from ..simulation import check_memory

    config = BenchConfig.quick() if quick else BenchConfig(budget_s=time_budget)
    given = {"markets": markets, "trades": trades, "repeats": repeats, "seed": seed, "threads": threads}
    config = replace(config, **{key: value for key, value in given.items() if value is not None})
    # The seeded-flow workload holds the largest engine: refuse before building it, as simulate does.
    check_memory(Scenario(markets=config.markets, seed=config.seed), force, threads=config.threads)
    compile_step("bench")  # before pinning: a fresh install compiles on two cores
    if config.threads > config.markets:
        raise InputError(f"--threads={config.threads}: more threads than markets ({config.markets:,})")
    pinned = pin_to_cores(config.threads)
    with step_progress("seeded_flow") as advance:
        report = run_benchmarks(config, advance=advance)
    report["machine"]["pinning"] = pinned
    warn_unsteady(report["figures"])
    if as_json:
        print_json(report)
    else:
        print_bench(report)
