"""``lxdex bench``: the engine benchmarks (:mod:`lxdex_capacity.profiling.report`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import typer

from ..console import compile_step, step_progress, warn_unsteady
from ..engine.partitioned import MAX_THREADS
from ..errors import InputError
from ..profiling.report import DEFAULT_BUDGET_S
from .app import app
from .options import FORCE, MAX_TIME, json_option, max_time_allowed, repeats_option, time_budget_option
from .render import print_json
from .render.bench import print_bench

if TYPE_CHECKING:
    from ..profiling.report import BenchConfig
    from ..time_guard import Estimate


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
    max_time: str = MAX_TIME,
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Benchmark the engine: orders/s through matching, cancel-heavy messages/s, lookups/s, bytes.

    Each timed figure is the median of its runs with the interval of that median, its spread, and whether the machine
    was quiet while it was taken (stable, noisy or disturbed); each target holds, fails, or is too noisy to call."""
    from ..profiling.report import BenchConfig, pin_to_cores, run_benchmarks
    from ..scenarios.config import Scenario
    from ..simulation import check_memory
    from ..time_guard import check

    allowed = max_time_allowed(max_time)
    config = BenchConfig.quick() if quick else BenchConfig(budget_s=time_budget)
    given = {"markets": markets, "trades": trades, "repeats": repeats, "seed": seed, "threads": threads}
    config = replace(config, **{key: value for key, value in given.items() if value is not None})
    check(_estimate(config), "bench", allowed)
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


# The cancel-heavy and lookup workloads' cost per message and per lookup on the reference machine (the engine's
# figures, with generating the messages): lookups are ~15 ns, a cancel-heavy message ~100 ns with its generation.
CANCEL_HEAVY_NS = 300.0
LOOKUP_NS = 50.0


def _estimate(config: BenchConfig) -> Estimate:
    """The whole benchmark's :class:`~lxdex_capacity.time_guard.Estimate`: each timed workload's runs
    (:func:`~lxdex_capacity.time_guard.runs_of` its policy), the seeded flow's a simulation's seeding and trading
    (:func:`~lxdex_capacity.time_guard.simulation_estimate` without its fixed start), the footprint's one seeding."""
    from ..scenarios.config import Scenario
    from ..time_guard import SIMULATION_COSTS, Estimate, clock_scale, runs_of, seeding_seconds, simulation_estimate

    policy = config.policy()
    scenario = Scenario(markets=config.markets, trades=min(config.trades, 10**12), seed=0)
    flow = simulation_estimate(scenario, threads=config.threads)
    flow_run = flow.seconds - SIMULATION_COSTS.fixed_s
    cancel_run = config.cancel_messages * CANCEL_HEAVY_NS * clock_scale() / 1e9
    lookup_run = seeding_seconds(scenario) + config.lookups * LOOKUP_NS * clock_scale() / 1e9
    flow_runs = runs_of(policy, flow_run)
    seconds = (SIMULATION_COSTS.fixed_s + flow_runs * flow_run + runs_of(policy, cancel_run) * cancel_run
               + runs_of(policy, lookup_run) * lookup_run + seeding_seconds(scenario))
    return Estimate(seconds, f"benchmarking ({flow_runs} runs of the seeded flow, each {flow.basis.removeprefix('simulating ')})")
