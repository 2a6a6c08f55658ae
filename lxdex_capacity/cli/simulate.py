"""``lxdex simulate`` (in one process, or ``--shards`` on Dask) and ``lxdex profile``: one simulation
run (:mod:`lxdex_capacity.simulation`), its figures printed, ``--out`` saving them."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..atomic import check_output_folder, make_folder, strict_json, write_text_atomic
from ..console import compile_step, phase_progress, warn_unsteady
from ..engine.partitioned import MAX_THREADS
from ..errors import CheckFailed, InputError
from ..simulation.results import MAX_SHARDS
from .app import app
from .options import (
    FORCE,
    MARKETS,
    MAX_TIME,
    SCENARIO,
    SEED,
    TRADES,
    json_option,
    max_time_allowed,
    output_path,
    scenario_from_options,
)
from .render import print_json
from .render.simulation import print_profile, print_simulation, warn_stalled

if TYPE_CHECKING:
    from ..scenarios.config import Scenario
    from ..simulation.results import SimulationResult


@app.command()
def simulate(
    markets: int | None = MARKETS,
    trades: int | None = TRADES,
    seed: int | None = SEED,
    scenario_file: Path | None = SCENARIO,
    out_dir: Path | None = typer.Option(None, "--out", parser=output_path, help="Also write simulate.json into this folder (created if missing; written whole or not at all)."),
    force: bool = FORCE,
    shards: int | None = typer.Option(None, min=1, max=MAX_SHARDS, help="Split the markets into this many shards, each an engine on a Dask worker (a local cluster of that many workers unless --scheduler); the result is the same run, whatever the count."),
    scheduler: str | None = typer.Option(None, help="Run the shards on the Dask cluster at this scheduler address."),
    threads: int = typer.Option(1, min=1, max=MAX_THREADS, help="Partition each engine's markets across this many threads (balanced by expected load); every order's result is the same, whatever the count."),
    max_time: str = MAX_TIME,
    as_json: bool = json_option(),
) -> None:
    """Build the markets, seed their books, trade, and report each phase's memory and the throughput."""
    allowed = max_time_allowed(max_time)
    scenario = scenario_from_options(scenario_file, markets=markets, trades=trades, seed=seed)
    if out_dir is not None:
        check_output_folder(out_dir)
    if threads > scenario.markets:
        raise InputError(f"--threads={threads}: more threads than markets ({scenario.markets:,}); at most one thread per market")
    _check_time(scenario, "simulate", allowed, shards or 1, threads, remote=scheduler is not None)
    result = _run(scenario, shards or 1, scheduler, force, threads)
    if result.stalled:
        warn_stalled(result.traded.trades, scenario.trades, scenario.taker_share)
    if result.throughput.batches is not None:
        warn_unsteady([result.throughput.batches])
    text = strict_json(result.to_dict())
    if out_dir is not None:
        write_text_atomic(make_folder(out_dir) / "simulate.json", text + "\n")
    if as_json:
        print_json(text)
    else:
        print_simulation(result)
    if result.failed_shards:
        raise CheckFailed("; ".join(f"shard {s.shard} failed: {s.error}" for s in result.shards if s.error))


# profile's look at the layout: pympler over 20,000 sampled orders, twice (seconds on the reference machine).
LAYOUT_SECONDS = 10.0


def _check_time(scenario: Scenario, command: str, allowed: float | None, shards: int = 1, threads: int = 1, remote: bool = False,
                extra_s: float = 0.0) -> None:
    """Refuse (``--max-time``) a run of ``scenario`` estimated to take longer than ``allowed`` seconds, before
    anything is compiled or started: its shards and threads share this machine's cores (a remote cluster's, each its own)."""
    from ..machine import usable_cores
    from ..time_guard import check, simulation_estimate

    estimate = simulation_estimate(scenario, shards, threads, cores=None if remote else usable_cores())
    check(replace(estimate, seconds=estimate.seconds + extra_s), command, allowed)


def _run(scenario: Scenario, shards: int, scheduler: str | None, force: bool, threads: int = 1) -> SimulationResult:
    """The run in this process (one shard, no scheduler), or its shards on Dask workers: a local
    cluster of ``shards`` workers unless ``scheduler``."""
    from ..simulation import check_memory
    from ..simulation import simulate as run_simulation

    if scheduler is None:  # this machine holds the run (the local workers together): refuse before compiling or starting them
        check_memory(scenario, force, shards=shards, threads=threads)
    compile_step()  # a fresh install's first run: the local workers then load the kernels from numba's cache
    with ExitStack() as stack:
        client = None
        if shards > 1 or scheduler is not None:
            from ..distributed import dask_client

            client = stack.enter_context(dask_client(None if scheduler else shards, scheduler))
        advance = stack.enter_context(phase_progress())
        return run_simulation(scenario, progress=advance, force=force, shards=shards, client=client, threads=threads)


@app.command()
def profile(
    markets: int | None = MARKETS,
    trades: int | None = TRADES,
    seed: int | None = SEED,
    scenario_file: Path | None = SCENARIO,
    force: bool = FORCE,
    max_time: str = MAX_TIME,
    as_json: bool = json_option(),
) -> None:
    """Where the bytes go: per-market memory by component (averaged and per tier) after trading,
    and the compact order record against naive object-per-order designs (pympler)."""
    from ..profiling.breakdown import layout_comparison
    from ..simulation import check_memory
    from ..simulation import simulate as run_simulation

    allowed = max_time_allowed(max_time)
    scenario = scenario_from_options(scenario_file, markets=markets, trades=trades, seed=seed)
    found: dict[str, Any] = {}
    _check_time(scenario, "profile", allowed, extra_s=LAYOUT_SECONDS)
    check_memory(scenario, force)  # refuse before compiling
    compile_step("profile")
    with phase_progress() as advance:

        def inspect(engine: Any) -> None:
            found["layout"] = layout_comparison(engine, seed=scenario.seed, progress=advance)

        result = run_simulation(scenario, progress=advance, force=force, inspect=inspect)
    b, layout, traded = result.breakdown, found["layout"], result.traded.trades
    if as_json:
        print_json({"markets": scenario.markets, "seed": scenario.seed, "trades": traded, **b, "layout": layout})
    else:
        print_profile(b, layout, traded)
