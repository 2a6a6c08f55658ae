"""``lxdex sweep``, ``lxdex plan`` and ``lxdex hardware list/show/compare``: the cost model and the
machines (:mod:`lxdex_capacity.capacity`)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..capacity.sweep import HELD_OUT_WORKING_SETS, WORKING_SETS
from ..console import compile_step, err, step_progress, warn_unsteady
from ..engine.partitioned import MAX_THREADS
from ..errors import CheckFailed, InputError
from ..latency.slo import DEFAULT_MESSAGES_PER_RUN as DEFAULT_SLO_MESSAGES
from ..machine import usable_cores
from ..scenarios.config import MAX_MARKETS
from .app import HelpGroup, app
from .options import (
    HARDWARE_FILE,
    MAX_TIME,
    MODEL_FILE,
    ORDER_RATE,
    ORDERS_PER_MARKET,
    OS_RESERVE,
    SAFETY,
    TRADES_RETAINED,
    json_option,
    max_time_allowed,
    output_file_path,
    plan_request,
)
from .render import print_json
from .render.capacity import (
    print_check,
    print_hardware_compare,
    print_hardware_list,
    print_hardware_show,
    print_plan,
    print_sweep,
)

if TYPE_CHECKING:
    from ..capacity.estimator import Estimator
    from ..capacity.model import CapacityModel
    from ..capacity.plan import PlanRequest
    from ..latency.slo import LatencySLO, SLOSearch

DEFAULT_SIZES = "1000,5000,21000,100000"


MAX_LISTED = 100  # sizes, or working sets, in one sweep: each is a measurement of its own (and a sweep of 100 takes hours)


def _count_listed(text: str, option: str) -> None:
    """Refuse a list of more than :data:`MAX_LISTED` values, counted before any is read (a list of millions is refused
    at once, not estimated)."""
    if text.count(",") >= MAX_LISTED:
        raise InputError(f"{option}: {text.count(',') + 1:,} values; at most {MAX_LISTED} in one sweep")


def _parse_sizes(text: str) -> list[int]:
    _count_listed(text, "--markets")
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or int(part) < 1:
            raise InputError(f"markets={text!r} must be comma-separated positive integers, e.g. {DEFAULT_SIZES}")
        sizes.append(int(part))
    if len(set(sizes)) < 2:
        raise InputError(f"markets={text!r} must name at least two different sizes to fit a model")
    return sorted(set(sizes))


def _parse_list(text: str, option: str) -> list[int]:
    """Comma-separated market counts, each 1 to the simulator's largest universe."""
    _count_listed(text, option)
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(not 1 <= v <= MAX_MARKETS for v in values):
        raise InputError(f"{option} {text!r}: must be comma-separated market counts from 1 to {MAX_MARKETS:,}, or 'none'")
    return values


def _check_fit(model: CapacityModel) -> None:
    """The fitted model as ``plan --model`` will read it: a fit the model schema refuses (a negative bytes per
    trade, say, when the sizes swept do not separate the terms) fails the sweep's own check (exit 1), and is
    not written."""
    import json

    from ..capacity.model import CapacityModel

    try:
        CapacityModel.from_dict(json.loads(model.to_json()), "the fitted model")
    except InputError as exc:
        raise CheckFailed(f"{exc}; the sizes swept do not pin the model down: sweep more, and larger, sizes") from None


@app.command()
def sweep(
    markets: str = typer.Option(DEFAULT_SIZES, help="Comma-separated market counts; each point runs in a fresh process."),
    repeat: int = typer.Option(2, min=1, max=100, help="Runs per size and design variant (seeds seed, seed+1, ...)."),
    fit_up_to: int | None = typer.Option(None, min=1, help="Fit the validation model on sizes up to this; larger sizes are held out and predicted (default: all but the largest)."),
    trades: int = typer.Option(1_000_000, min=1, help="Fills each point's traded phase runs until."),
    trades_retained: int = typer.Option(1 << 18, min=1024, max=1 << 28, help="Tape length (a power of two) of the default variant; the long-tape variant keeps 4x."),
    seed: int = typer.Option(0, min=0, help="Seed of the first repeat."),
    threads_up_to: int | None = typer.Option(
        None, "--threads-up-to", min=1, max=MAX_THREADS,
        help="Also measure the order rate with 1, 2, ... this many threads (each pinned to its own core, --repeat runs each, "
             "interleaved), for plan's scaling curve (default: every core this process may use; 1 skips it)."),
    scaling_markets: int | None = typer.Option(
        None, "--scaling-markets", min=1, max=MAX_MARKETS,
        help="Markets the scaling with threads is measured at (default: the largest fitted size, --fit-up-to)."),
    working_sets: str = typer.Option(
        ",".join(map(str, WORKING_SETS)), "--working-sets",
        help="Markets of one engine at which the per-core rate model times the engine (every line cached to most from DRAM), "
             "after measuring this machine's memory hierarchy; 'none' skips the per-core rate model."),
    held_out_working_sets: str = typer.Option(
        ",".join(map(str, HELD_OUT_WORKING_SETS)), "--held-out-working-sets",
        help="Working sets left out of the per-core rate model's fit and predicted, with the error (two, say; 'none': none)."),
    out_file: Path = typer.Option("lxdex-model.json", "--out", parser=output_file_path, help="Where to write the fitted model (JSON, for 'lxdex plan --model'); written whole or not at all."),
    force: bool = typer.Option(False, "--force", help="Run even if the largest point's memory estimate exceeds available memory."),
    workers: int | None = typer.Option(None, min=1, max=1024, help="Run points in parallel on a local Dask cluster of this many worker processes (needs the 'distributed' extra)."),
    scheduler: str | None = typer.Option(None, help="Run points on an existing Dask cluster at this scheduler address (e.g. tcp://10.0.0.5:8786)."),
    max_time: str = MAX_TIME,
    as_json: bool = json_option("Print one JSON object (points, model, validation) instead of tables."),
) -> None:
    """Measure engine bytes at several sizes, fit bytes = base + a*markets + b*orders + c*trades, validate, measure
    the order rate's scaling with threads, save."""
    from ..atomic import check_output_file, write_text_atomic
    from ..capacity.sweep import estimate_sweep, run_sweep
    from ..scenarios.config import Scenario
    from ..time_guard import check as check_time

    allowed = max_time_allowed(max_time)
    sizes = _parse_sizes(markets)
    sets = [] if working_sets.strip().lower() == "none" else _parse_list(working_sets, "--working-sets")
    held = [] if held_out_working_sets.strip().lower() == "none" else _parse_list(held_out_working_sets, "--held-out-working-sets")
    if not sets and held_out_working_sets != ",".join(map(str, HELD_OUT_WORKING_SETS)) and held:
        raise InputError(f"--held-out-working-sets {held_out_working_sets}: no working set is measured (--working-sets none)")
    if sets and (set(held) - set(sets)):
        raise InputError(f"--held-out-working-sets {','.join(map(str, sorted(set(held) - set(sets))))}: not among --working-sets "
                         f"({','.join(map(str, sets))}); a held-out working set is one measured and left out of the fit")
    if sets and len(set(sets) - set(held)) < 3:
        raise InputError(f"--working-sets {working_sets}: {len(set(sets) - set(held))} working set(s) left to fit the per-core rate "
                         "model's two coefficients; give at least 3 besides the held-out ones, or 'none'")
    check_output_file(out_file)  # found out now, not after the sweep has run
    if threads_up_to is not None and threads_up_to > usable_cores():
        raise InputError(f"--threads-up-to={threads_up_to}: this process may run on {usable_cores()} core(s), and a thread without "
                         "a core of its own measures the scheduler, not the engine")
    if scaling_markets is not None and (threads_up_to == 1 or (threads_up_to is None and usable_cores() == 1)):
        raise InputError(f"--scaling-markets={scaling_markets:,}: no scaling is measured with one thread (--threads-up-to 1, "
                         "or one usable core)")
    measured_at = scaling_markets or fit_up_to or (sizes[-2] if len(sizes) > 1 else sizes[-1])  # run_sweep's default
    if threads_up_to is not None and threads_up_to > measured_at:
        raise InputError(f"--threads-up-to={threads_up_to}: more threads than the {measured_at:,} market(s) the scaling is measured "
                         "at (--scaling-markets, by default --fit-up-to): at most one thread per market")
    if fit_up_to is not None and fit_up_to < sizes[0]:
        raise InputError(f"fit_up_to={fit_up_to} must be at least the smallest size ({sizes[0]:,})")
    base = Scenario(trades=trades, seed=seed, trades_retained=trades_retained)
    check_time(estimate_sweep(sizes, repeat, base, fit_up_to, 0 if scheduler else (workers or 1), threads_up_to, scaling_markets,
                              sorted(set(sets))), "sweep", allowed)
    if scheduler is None:
        compile_step()  # every point's fresh process, here or on a local worker, then loads the kernels from numba's cache
    with ExitStack() as stack:
        client = None
        if workers is not None or scheduler is not None:
            from ..distributed import dask_client

            client = stack.enter_context(dask_client(workers, scheduler))
        advance = stack.enter_context(step_progress("sweep"))
        result = run_sweep(sizes, repeat=repeat, base=base, fit_up_to=fit_up_to, advance=advance, force=force,
                           client=client, concurrent=0 if scheduler else (workers or 1), threads_up_to=threads_up_to,
                           scaling_markets=scaling_markets, working_sets=sorted(set(sets)), held_out_working_sets=held)
    _check_fit(result.model)
    warn_unsteady(result.figures)
    if skipped := result.model.provenance.get("core_rate_skipped"):
        err.print(f"lxdex: warning: {skipped}", highlight=False, markup=False, soft_wrap=True)
    write_text_atomic(out_file, result.model.to_json())
    report = result.as_dict() | {"model_file": str(out_file)}
    if as_json:
        print_json(report)
    else:
        print_sweep(report)


@app.command()
def plan(
    markets: int = typer.Option(21_000, min=1, max=10**12, help="Markets the exchange lists."),
    orders_per_market: float | None = ORDERS_PER_MARKET,
    trades_retained: int | None = TRADES_RETAINED,
    order_rate: float = ORDER_RATE,
    safety: float = SAFETY,
    os_reserve: float = OS_RESERVE,
    engines: int | None = typer.Option(None, min=1, max=1 << 20, help="Engines per machine (default: the fewest that address the load and sustain its rate, one per core at most)."),
    model_file: Path | None = MODEL_FILE,
    hardware_file: Path | None = HARDWARE_FILE,
    profile_names: list[str] | None = typer.Option(None, "--profile", help="Plan only for these profiles (repeatable)."),
    check: bool = typer.Option(False, "--check", help="Run the planned load here (or the most of it this machine holds) and print "
                               "predicted against measured, with the error; exit 1 if a prediction misses its target."),
    latency_slo: str | None = typer.Option(
        None, "--latency-slo", metavar="SLO",
        help="Plan order capacity at the highest rate per core whose latency meets this SLO, e.g. 'p99<=1us' (p50, p90, p99, "
             "p99.9, p99.99 or max; <= or <; ns, us, ms or s), searched here on one core holding the planned books (or the most "
             "of them this machine holds), open loop, Poisson arrivals: every profile is then planned at that rate per core. "
             "When no rate meets it, the plan is still printed, with order capacity unmet, and the command exits 1."),
    slo_orders: int = typer.Option(DEFAULT_SLO_MESSAGES, "--slo-orders", min=1_000, max=10_000_000,
                                   help="Messages offered in each run of the --latency-slo search; enough for its statistic "
                                        "(one sample beyond it: p99.9 needs 1,000, p99.99 10,000), and long enough (~0.1 s) "
                                        "that one stall of the machine does not decide a run's percentile."),
    slo_repeats: int = typer.Option(5, "--slo-repeats", min=1, max=15,
                                    help="Runs per rate in the --latency-slo search, at least: the interval of their median decides, "
                                         "and more runs are made (up to 15, 10 s a rate) until it does."),
    max_time: str = MAX_TIME,
    as_json: bool = json_option(),
) -> None:
    """Which machine holds the load: memory required vs usable, headroom, engines, order rate, N+1 clusters, and a recommendation.

    Exit 1 when --check finds a prediction that misses its target, or when no rate meets --latency-slo on this
    machine (the plan is printed first, its order capacity unmet)."""
    from ..capacity.estimator import Estimator
    from ..capacity.hardware import find_profile, load_profiles
    from ..capacity.model import load_model
    from ..capacity.plan import plan as make_plan

    allowed = max_time_allowed(max_time)
    slo = None
    if latency_slo is not None:  # a bad SLO, or one the runs cannot resolve, is refused before anything runs
        from ..latency.slo import parse_slo

        slo = parse_slo(latency_slo, "--latency-slo")
        slo.check_samples(slo_orders, "--slo-orders", "--latency-slo")
    model = load_model(model_file)
    profiles = load_profiles(hardware_file)
    if profile_names:  # each profile once, however often (and however spelt) it was named
        profiles = list({p.name: p for p in (find_profile(name, profiles) for name in profile_names)}.values())
    request = plan_request(markets, orders_per_market, trades_retained, order_rate, safety, os_reserve, engines)
    estimator = Estimator(model)
    report = make_plan(model, profiles, request, estimator=estimator)  # refuses a load no profile holds before any run
    expected = ""
    if check or slo is not None:  # what runs here is estimated (and refused beyond --max-time) before any of it runs
        expected = _check_plan_time(request, estimator, check, slo_orders if slo is not None else None, slo_repeats, allowed)
    checked, measured_here, calibration = None, None, None
    if check:
        from ..capacity.check import check_plan, this_machine
        from ..capacity.plan import Calibration

        compile_step()  # the fresh process then loads the kernels from numba's cache
        with err.status("plan --check: running the planned load in a fresh process (lxdex simulate's phases), then again with a thread "
                        f"per core{expected}"):
            checked = check_plan(request, estimator)
        per_core = checked.per_core
        status = (per_core.measurement or {}).get("status")
        if status != "disturbed" and per_core.measured > 0 and per_core.predicted > 0:
            # Measured beats extrapolated: this machine's row at its measured rate, the model's curve scaled to it.
            here = this_machine(per_core.measured)
            profiles, measured_here = [*profiles, here], here.name
            calibration = Calibration(checked.markets, per_core.measured, per_core.predicted, "plan --check")
        report = make_plan(model, profiles, request, estimator=estimator, measured_here=measured_here, calibration=calibration)
        if per_core.measurement is not None:
            warn_unsteady([per_core.measurement])
    search = _slo_search(request, estimator, slo, slo_orders, slo_repeats) if slo is not None else None
    if search is not None:
        report = make_plan(model, profiles, request, estimator=estimator, measured_here=measured_here, latency_slo=search,
                           calibration=calibration)
    if checked is not None:
        report["check"] = checked.as_dict()
    if as_json:
        print_json(report)
    else:
        print_plan(report)
        if checked is not None:
            print_check(report["check"])
    failed = []
    if checked is not None and not checked.passed:
        missed = "; ".join(f"{r.figure} {r.error_pct:+.1f}% (target {r.target})" for r in checked.rows if r.passed is False)
        failed.append(f"plan --check: a prediction missed its target: {missed}")
    elif checked is not None and checked.too_noisy:
        err.print(f"lxdex: warning: plan --check: {', '.join(r.figure for r in checked.too_noisy)}: too noisy to call (no verdict; "
                  "run it again on a quiet machine)", highlight=False, markup=False, soft_wrap=True)
    if search is not None and search.outcome == "too noisy to call":
        err.print(f"lxdex: warning: plan --latency-slo: {report['latency_slo']['verdict']}", highlight=False, markup=False, soft_wrap=True)
    elif search is not None and not search.met and request.order_rate > 0:
        failed.append(f"plan --latency-slo: {report['latency_slo']['verdict']}")
    if failed:
        raise CheckFailed("; ".join(failed))


def _check_plan_time(request: PlanRequest, estimator: Estimator, check: bool, slo_orders: int | None, slo_repeats: int,
                     allowed: float | None) -> str:
    """Refuse (``--max-time``) the runs ``plan --check`` and ``--latency-slo`` would make here, estimated from the
    markets this machine holds of the planned load, before any of them starts; else the estimate, for the status
    line (`` (about 5 min in all)``)."""
    from ..capacity.check import FIT_MARGIN, checked_scenario, estimate_check, largest_that_fits
    from ..latency.slo import estimate_search
    from ..memory_guard import available_bytes
    from ..time_guard import SIMULATION_COSTS, Estimate, engine_ns_per_order, seeding_seconds
    from ..time_guard import check as check_time
    from ..units import duration_words

    parts = []
    if check:
        parts.append(estimate_check(request, estimator))
    if slo_orders is not None:
        markets = largest_that_fits(estimator, request, FIT_MARGIN * available_bytes())
        seeded = SIMULATION_COSTS.fixed_s + seeding_seconds(checked_scenario(request, markets))
        parts.append(estimate_search(seeded, slo_orders, engine_ns_per_order(markets), slo_repeats))
    total = check_time(Estimate(sum(p.seconds for p in parts), "; ".join(p.basis for p in parts)),
                       f"plan --markets {request.markets:,}{' --check' if check else ''}{' --latency-slo' if slo_orders else ''}", allowed)
    return f" (about {duration_words(total.seconds)} in all)"


def _slo_search(request: PlanRequest, estimator: Estimator, slo: LatencySLO, orders: int, repeats: int) -> SLOSearch:
    """``plan --latency-slo``'s search: the planned books (or the most of them this machine holds, as ``plan --check``
    runs them) seeded in this process, then the highest rate per core that meets ``slo``."""
    from ..capacity.check import FIT_MARGIN, checked_scenario, largest_that_fits
    from ..latency.harness import LatencyRig
    from ..latency.slo import highest_rate
    from ..memory_guard import available_bytes

    markets = largest_that_fits(estimator, request, FIT_MARGIN * available_bytes())
    scenario = checked_scenario(request, markets)
    compile_step("latency")
    with step_progress(f"latency SLO: seeding {markets:,} markets") as advance:
        rig = LatencyRig(scenario, orders_per_rate=orders, reserve=True)  # pools sized first, as a planned engine would be
        return highest_rate(rig, slo, repeats=repeats, progress=advance)


hardware_app = typer.Typer(help="Hardware profiles: buyable configurations with their sources.", no_args_is_help=True, cls=HelpGroup)
app.add_typer(hardware_app, name="hardware")


@hardware_app.command("list")
def hardware_list(
    hardware_file: Path | None = HARDWARE_FILE,
    as_json: bool = json_option("Print every profile with all its fields as JSON."),
) -> None:
    """Every hardware profile: memory (GiB), bandwidth (GB/s), cores, power and price."""
    from ..capacity.hardware import load_profiles

    profiles = load_profiles(hardware_file)
    if as_json:
        print_json({"profiles": [p.as_dict() for p in profiles]})
    else:
        print_hardware_list(profiles)


@hardware_app.command("show")
def hardware_show(
    name: str = typer.Argument(..., help="Profile name, e.g. 'Mac Studio M2 Ultra 192 GB'."),
    hardware_file: Path | None = HARDWARE_FILE,
    as_json: bool = json_option("Print the profile as JSON."),
) -> None:
    """One profile, every field, with its source."""
    from ..capacity.hardware import find_profile, load_profiles

    profile = find_profile(name, load_profiles(hardware_file))
    if as_json:
        print_json(profile.as_dict())
    else:
        print_hardware_show(profile)


@hardware_app.command("compare")
def hardware_compare(
    names: list[str] = typer.Argument(..., help="Two or more profile names."),
    hardware_file: Path | None = HARDWARE_FILE,
    as_json: bool = json_option("Print the profiles as JSON."),
) -> None:
    """Profiles side by side."""
    from ..capacity.hardware import find_profile, load_profiles

    if len(names) < 2:
        raise InputError("compare needs at least two profile names")
    everything = load_profiles(hardware_file)
    profiles = [find_profile(n, everything) for n in names]
    if as_json:
        print_json({"profiles": [p.as_dict() for p in profiles]})
    else:
        print_hardware_compare(profiles)
