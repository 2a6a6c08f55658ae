"""``lxdex latency``: per-order latency percentiles against offered rate (:mod:`lxdex_capacity.latency`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..console import compile_step, step_progress, warn_unsteady
from ..engine.partitioned import MAX_THREADS
from ..errors import InputError
from ..latency.statistics import DEFAULT_BUDGET_S
from ..machine import usable_cores
from .app import app
from .options import (
    FORCE,
    MARKETS,
    MAX_TIME,
    SCENARIO,
    SEED,
    json_option,
    max_time_allowed,
    offered_rates,
    repeat_policy,
    repeats_option,
    scenario_from_options,
    time_budget_option,
)
from .render import print_json
from .render.latency import print_latency

DEFAULT_RATES = "200000,1000000,3000000"



@app.command()
def latency(
    markets: int | None = MARKETS,
    scenario_file: Path | None = SCENARIO,
    seed: int | None = SEED,
    rates: str = typer.Option(DEFAULT_RATES, help="Comma-separated offered rates, orders per second."),
    arrivals: str = typer.Option("poisson", help="Arrival process: poisson, bursty (on/off bursts at 4x the rate), or lobster (with --day)."),
    day: Path | None = typer.Option(None, "--day", help="LOBSTER message file (CSV or zip) whose gaps, scaled to each rate, are the arrivals."),
    batch: int = typer.Option(1, min=1, max=1 << 20, help="Orders taken at a time (a batch starts when its last order has arrived)."),
    reserve: bool = typer.Option(False, "--reserve", help="Size the pools before timing, so no run stalls while a pool doubles."),
    look_ahead: bool = typer.Option(True, "--look-ahead/--no-look-ahead",
                                    help="With --batch 1: the engine sees the orders queued behind the one it works on (its prefetch warms their books)."),
    cancels: float | None = typer.Option(None, "--cancels", min=0.0, max=10.0,
                                         help="Cancels mixed into the stream per order, each of an earlier order (default: the scenario's cancel_rate)."),
    orders_per_rate: int = typer.Option(200_000, min=1_000, max=100_000_000, help="Orders offered at each rate."),
    threads: int = typer.Option(1, min=1, max=MAX_THREADS,
                                help="Partition the markets across this many threads, each taking its own markets' messages on its own core."),
    repeats: int | None = repeats_option("Offered runs at each rate (and service-time runs)"),
    time_budget: float = time_budget_option(DEFAULT_BUDGET_S, "each offered rate"),
    out: Path | None = typer.Option(None, "--out", help="Write the chart (percentiles against offered rate, capacity marked) here: .png or .svg."),
    force: bool = FORCE,
    max_time: str = MAX_TIME,
    as_json: bool = json_option(),
) -> None:
    """Per-order latency (queueing + service, open loop, one core per thread) at each offered rate: p50 to p99.99 and max."""
    from ..latency import measure_latency
    from ..latency.arrivals import KINDS
    from ..latency.harness import MAX_CANCELS_PER_ORDER, check_offer, estimate_latency, latency_memory
    from ..memory_guard import refuse_unless_it_fits
    from ..simulation.run import check_memory
    from ..time_guard import check as check_time
    from ..time_guard import shown

    allowed = max_time_allowed(max_time)
    offered = offered_rates(rates, "--rates", DEFAULT_RATES)
    for rate in offered:  # a run that would take hours is refused before anything is seeded
        check_offer(rate, orders_per_rate, "--rates")
    if batch > orders_per_rate:
        raise InputError(f"--batch={batch:,}: more than the {orders_per_rate:,} orders offered per rate (--orders-per-rate)")
    if batch > 1 and not look_ahead:
        raise InputError("--no-look-ahead applies to --batch 1 (a batch's orders are all seen at once)")
    cancels = abs(cancels) if cancels is not None else None  # -0.0 is 0
    if out is not None:
        from ..atomic import check_output_file
        from ..reporting.latency_chart import CHART_SUFFIXES

        if out.suffix.lower() not in CHART_SUFFIXES:
            raise InputError(f"--out={str(out)!r}: the chart is written as {' or '.join(CHART_SUFFIXES)}; name the file so")
        check_output_file(out, "--out", inputs=(day,) if day is not None else ())
    if arrivals not in KINDS:  # the library's own check, named by the option
        raise InputError(f"--arrivals={arrivals!r}: must be {', '.join(KINDS[:-1])} or {KINDS[-1]}")
    if (arrivals == "lobster") != (day is not None):
        raise InputError("--arrivals lobster needs --day FILE (a LOBSTER message file), and --day needs --arrivals lobster")
    scenario = scenario_from_options(scenario_file, markets=markets, seed=seed)
    if threads > scenario.markets:
        raise InputError(f"--threads={threads}: more threads than markets ({scenario.markets:,}); at most one thread per market")
    if threads > usable_cores() and not force:
        raise InputError(f"--threads={threads}: this process may use {usable_cores()} cores; each thread waits for its arrivals "
                         "spinning on a core of its own, so more threads would time their turns on the cores (--force to do it anyway)")
    if cancels is None and scenario.cancel_rate > MAX_CANCELS_PER_ORDER:
        raise InputError(f"{scenario_file}: cancel_rate={scenario.cancel_rate:g}: a latency run mixes in at most "
                         f"{MAX_CANCELS_PER_ORDER:g} cancels per order; give --cancels")
    policy = repeat_policy(repeats, time_budget)
    estimate = estimate_latency(scenario, offered, orders_per_rate, policy, threads, cancels)
    if day is not None:  # its arrivals are read from the day first
        from ..replay.lobster import locate
        from ..time_guard import REPLAY_BYTES_PER_S, Estimate
        from ..units import mb

        size = locate(day, "message").size
        estimate = Estimate(estimate.seconds + size / REPLAY_BYTES_PER_S, f"reading {mb(size)} of --day, then {estimate.basis}")
    check_time(estimate, f"latency --rates {shown(rates)}", allowed)
    check_memory(scenario, force, threads=threads)
    refuse_unless_it_fits(latency_memory(scenario, orders_per_rate, reserve, threads),
                          f"{scenario.markets:,} markets and {orders_per_rate:,} messages per rate need", "use fewer --orders-per-rate or markets",
                          force)
    day_times = None
    if day is not None:
        from ..latency.arrivals import check_day
        from ..replay.lobster import read_messages

        day_times = read_messages(day).time
        try:
            check_day(day_times, orders_per_rate)
        except InputError as exc:
            raise InputError(f"--day {day}: {exc}") from None
    compile_step("latency")
    with step_progress("latency") as advance:
        result = measure_latency(scenario, offered, arrivals, batch, reserve, orders_per_rate, day_times, advance,
                                 look_ahead=look_ahead, cancels_per_order=cancels, force=force, threads=threads,
                                 policy=policy)
    if out is not None:
        from ..reporting.latency_chart import write_latency_chart

        write_latency_chart(result.as_dict(), out)
    warn_unsteady(result.figures)
    if as_json:
        print_json(result.as_dict())
    else:
        print_latency(result)
