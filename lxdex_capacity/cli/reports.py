"""``lxdex report`` and ``lxdex audit``: a written capacity report, and published claims checked
against measurement (:mod:`lxdex_capacity.reporting`)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..console import compile_step, err, phase_progress, step_progress, warn_unsteady
from ..errors import CheckFailed, InputError
from ..latency.statistics import REPORT_LATENCY_BUDGET_S
from .app import app, invocation
from .options import (
    FORCE,
    HARDWARE_FILE,
    MARKETS,
    MAX_TIME,
    MODEL_FILE,
    ORDER_RATE,
    ORDERS_PER_MARKET,
    OS_RESERVE,
    SAFETY,
    SCENARIO,
    SEED,
    TRADES,
    TRADES_RETAINED,
    json_option,
    max_time_allowed,
    offered_rates,
    output_path,
    plan_request,
    repeat_policy,
    repeats_option,
    scenario_from_options,
    time_budget_option,
)
from .render import print_json
from .render.reports import print_audit, print_written

if TYPE_CHECKING:
    from ..reporting.audit import Claim
    from ..scenarios.config import Scenario


@app.command()
def report(
    ctx: typer.Context,
    markets: int | None = MARKETS,
    trades: int | None = TRADES,
    seed: int | None = SEED,
    scenario_file: Path | None = SCENARIO,
    simulate_file: Path | None = typer.Option(None, "--simulate", help="Use a saved simulate.json ('lxdex simulate --out', in one process or sharded) instead of running."),
    results_file: Path | None = typer.Option(None, "--results", help="Re-render a saved results.json without running anything."),
    out_dir: Path = typer.Option(..., "--out", parser=output_path, help="Folder to write report.md, report.html, results.json and charts/ as; built beside it and swapped in whole, replacing a previous report there (the last of two runs at once wins)."),
    orders_per_market: float | None = ORDERS_PER_MARKET,
    trades_retained: int = TRADES_RETAINED,
    order_rate: float = ORDER_RATE,
    safety: float = SAFETY,
    os_reserve: float = OS_RESERVE,
    model_file: Path | None = MODEL_FILE,
    hardware_file: Path | None = HARDWARE_FILE,
    force: bool = FORCE,
    latency: bool | None = typer.Option(None, "--latency/--no-latency", help="Measure per-order latency under load (open loop, one core, "
                                        "pools reserved) on the report's scenario: a section, a chart and results.json's 'latency'. "
                                        "Default: measured when the report runs its simulation; with --simulate, only when asked."),
    latency_rates: str | None = typer.Option(None, "--latency-rates", help="Comma-separated offered rates of the latency run, orders "
                                             "per second (default: 10%, 50%, 90% and 150% of the capacity its service times measure)."),
    latency_orders: int | None = typer.Option(None, "--latency-orders", min=1_000, max=100_000_000,
                                              help="Orders offered at each rate of the latency run (default 100,000)."),
    repeats: int | None = repeats_option("Runs of the latency run's service times and of each offered rate"),
    time_budget: float = time_budget_option(REPORT_LATENCY_BUDGET_S, "each offered rate of the latency run"),
    max_time: str = MAX_TIME,
    as_json: bool = json_option("Print the results (every figure) as JSON."),
) -> None:
    """Write a capacity report: Markdown, self-contained HTML, results.json and charts (PNG, SVG)."""
    allowed = max_time_allowed(max_time)
    from ..capacity.hardware import load_profiles
    from ..capacity.model import load_model
    from ..reporting.report import check_report_folder, collect, load_results, load_simulation, write_report
    from ..scenarios.config import scenario_from_dict
    from ..simulation import simulate

    run_options = [name for name, value in (("--markets", markets), ("--trades", trades), ("--seed", seed),
                                            ("--scenario", scenario_file)) if value is not None]
    if results_file is not None and (simulate_file is not None or run_options):
        raise InputError(f"--results re-renders a saved report, so {'--simulate' if simulate_file else run_options[0]} has nothing to do")
    if simulate_file is not None and run_options:
        raise InputError(f"--simulate reports on a saved run, so {run_options[0]} has nothing to do")
    measure = _measures_latency(latency, latency_rates, latency_orders, results_file is not None, simulate_file is not None)
    offered = offered_rates(latency_rates, "--latency-rates", "200000,1000000") if latency_rates is not None else None
    check_report_folder(out_dir)
    if results_file is not None:
        results = load_results(results_file)
    else:
        simulation = None
        if simulate_file is not None:
            simulation = load_simulation(simulate_file)
            scenario = scenario_from_dict(simulation["scenario"], origin=str(simulate_file))
        else:
            scenario = scenario_from_options(scenario_file, markets=markets, trades=trades, seed=seed)
        _check_report_time(scenario, simulation is None, offered if measure else None, measure, latency_orders,
                           repeat_policy(repeats, time_budget), allowed)
        if measure:  # before the simulation: a latency run that would not fit is refused before anything runs
            _check_latency_fits(scenario, latency_orders, force)
        if simulation is None:
            compile_step()
            with phase_progress() as advance:
                simulation = simulate(scenario, progress=advance, force=force).to_dict()
        request = plan_request(simulation["markets"], orders_per_market, trades_retained, order_rate, safety, os_reserve)
        model, profiles = load_model(model_file), load_profiles(hardware_file)
        measured = _report_latency(scenario, offered, latency_orders, force, repeat_policy(repeats, time_budget)) if measure else None
        results = collect(simulation, model, profiles, request, _command_line(ctx), latency=measured)
        warn_unsteady(results["figures"])
    with err.status("drawing charts and writing the report"):
        written = write_report(results, out_dir)
    if as_json:
        print_json(results)
    else:
        print_written(written, out_dir)


def _measures_latency(wanted: bool | None, rates: str | None, orders: int | None, re_render: bool, saved_run: bool) -> bool:
    """Whether ``report`` measures latency under load: ``--latency``/``--no-latency`` if given; else when it runs its
    simulation, or when a latency option asks for it.  An option with nothing to do is one error line."""
    given = [name for name, value in (("--latency-rates", rates), ("--latency-orders", orders)) if value is not None]
    if re_render and (wanted or given):
        raise InputError(f"--results re-renders a saved report, so {given[0] if given else '--latency'} has nothing to do")
    if wanted is False and given:
        raise InputError(f"--no-latency measures no latency, so {given[0]} has nothing to do")
    if wanted is not None:
        return wanted and not re_render
    return not re_render and (not saved_run or bool(given))


def _check_report_time(scenario: Scenario, simulates: bool, rates: list[float] | None, measures: bool, orders: int | None,
                       policy: Any, allowed: float | None) -> None:
    """Refuse (``--max-time``), before anything runs, a report whose simulation and latency run (at ``rates``, by
    default the ladder of the capacity the reference model gives its markets) are estimated beyond ``allowed``."""
    from ..latency.harness import estimate_latency
    from ..reporting.report import REPORT_LATENCY_ORDERS, latency_ladder
    from ..time_guard import Estimate, check, engine_ns_per_order, simulation_estimate

    parts = [simulation_estimate(scenario)] if simulates else []
    if measures:
        ladder = rates if rates is not None else latency_ladder(1e9 / engine_ns_per_order(scenario.markets))
        parts.append(estimate_latency(scenario, ladder, orders or REPORT_LATENCY_ORDERS, policy))
    if parts:
        check(Estimate(sum(p.seconds for p in parts), ", then ".join(p.basis for p in parts)), "report", allowed)


def _check_latency_fits(scenario: Scenario, orders: int | None, force: bool) -> None:
    """Refuse (unless ``force``) a report latency run whose books, timed arrays and reserved pools
    (:func:`~lxdex_capacity.latency.harness.latency_memory`) would not fit: a one-line error with the estimate."""
    from ..latency.harness import latency_memory
    from ..memory_guard import refuse_unless_it_fits
    from ..reporting.report import REPORT_LATENCY_ORDERS

    orders = orders or REPORT_LATENCY_ORDERS
    refuse_unless_it_fits(latency_memory(scenario, orders, True),  # the report's run reserves its pools
                          f"the latency run ({scenario.markets:,} markets, --latency-orders {orders:,} per rate, pools reserved) needs",
                          "use fewer --latency-orders or markets, --no-latency, or --force", force)


def _report_latency(scenario: Scenario, rates: list[float] | None, orders: int | None, force: bool, policy: Any = None) -> dict[str, Any]:
    """The report's latency run on ``scenario`` (:func:`~lxdex_capacity.reporting.report.measure_report_latency`);
    its memory was checked before the simulation (:func:`_check_latency_fits`)."""
    from ..reporting.report import REPORT_LATENCY_ORDERS, measure_report_latency

    compile_step("latency")
    with step_progress("latency") as advance:
        return measure_report_latency(scenario, rates, orders or REPORT_LATENCY_ORDERS, advance, force=force, policy=policy)


def _check_latency_claims_fit(claims: list[Claim], origin: str, max_measure: int, seed: int, force: bool) -> None:
    """Before any run: refuse (unless ``force``) a latency claim it will measure (up to ``max_measure`` markets; a
    larger one is refused by the audit itself) whose seeded books, timed arrays and pools
    (:func:`~lxdex_capacity.latency.harness.latency_memory`) would not fit; one line naming the file and the claim."""
    from ..latency.harness import latency_memory
    from ..memory_guard import refuse_unless_it_fits
    from ..reporting.audit import latency_scenario

    for claim in claims:
        load = claim.latency
        if load is None or claim.markets > max_measure:
            continue
        refuse_unless_it_fits(latency_memory(latency_scenario(claim, seed), load.orders, load.reserve),
                              f"{origin}: claim {claim.id!r} ({claim.markets:,} markets, orders_per_repeat={load.orders:,}"
                              f"{', pools reserved' if load.reserve else ''}) needs",
                              "lower its orders_per_repeat or markets, or pass --force", force)


def _command_line(ctx: typer.Context) -> str:
    """The command as typed (``lxdex report ...``), recorded in the results; ``lxdex report`` if unknown."""
    called = invocation(ctx)
    return "lxdex " + shlex.join(called.argv) if called and called.argv[:1] == ("report",) else "lxdex report"


@app.command()
def audit(
    claims_file: Path | None = typer.Argument(None, help="Claims TOML file (default: the published LX DEX report's claims)."),
    max_measure: int = typer.Option(1_000_000, min=1, help="Measure loads up to this many markets; larger ones are predicted by the model."),
    repeats: int = typer.Option(5, min=5, max=100, help="Runs per measured load, each a fresh engine (seeds seed, seed+1, ...); "
                                "a claim's figure is their median with a confidence interval (at least 5: the range of 5 covers the median 93.8% of the time); "
                                "a latency claim's repeats (its own, else these) are offered runs on one seeded engine, arrival seeds seed, seed+1, ..."),
    seed: int = typer.Option(0, min=0, max=2**63 - 1 - 100, help="Seed of the first run (repeat i uses seed+i)."),
    model_file: Path | None = MODEL_FILE,
    force: bool = typer.Option(False, "--force", help="Run even if a load's memory estimate exceeds available memory."),
    max_time: str = MAX_TIME,
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Check a report's claims (memory, per-market memory, orders/s, lookups/s, random access, latency under an
    offered load) against measurement: holds, fails, or too close to call."""
    from ..capacity.model import load_model
    from ..reporting.audit import audit as run_audit
    from ..reporting.audit import estimate_audit, load_claims, published_claims_path
    from ..simulation import simulate
    from ..time_guard import check as check_time

    allowed = max_time_allowed(max_time)

    def measure(scenario: Any, rates: Any, **options: Any) -> Any:  # a latency claim's runs (checked to fit before any run)
        from .. import latency

        return latency.measure_latency(scenario, rates, **options, force=force)

    source, claims = load_claims(claims_file)
    check_time(estimate_audit(claims, max_measure, seed, repeats), f"audit {claims_file or published_claims_path()}", allowed)
    _check_latency_claims_fit(claims, str(claims_file or published_claims_path()), max_measure, seed, force)
    model = load_model(model_file)
    compile_step()
    def run(scenario: Any, threads: int = 1) -> Any:  # an orders/s claim made for every core runs with threads
        return simulate(scenario, force=force, threads=threads)

    with step_progress("audit") as advance:
        verdicts = run_audit(claims, run, model,
                             max_measure=max_measure, seed=seed, advance=advance, repeats=repeats, measure=measure)
    report = {
        "claims_file": str(claims_file or published_claims_path()),
        "source": source,
        "repeats": repeats,
        "seeds": list(range(seed, seed + repeats)),
        "claims": [v.as_dict() for v in verdicts],
        "holds": sum(v.verdict == "holds" for v in verdicts),
        "fails": sum(v.verdict == "fails" for v in verdicts),
        "too_close_to_call": sum(v.verdict == "too close to call" for v in verdicts),
        "too_noisy_to_call": sum(v.verdict == "too noisy to call" for v in verdicts),
    }
    if as_json:
        print_json(report)
    else:
        print_audit(report, verdicts)
    noisy = [v for v in verdicts if v.verdict == "too noisy to call"]
    if noisy:
        why = next((v.figure["reason"] for v in noisy if v.figure is not None and v.figure.get("status") == "disturbed"),
                   "their intervals straddle the claimed figure")
        err.print(f"lxdex: warning: {len(noisy)} claim(s) too noisy to call ({', '.join(v.id for v in noisy)}: {why}); no verdict: "
                  "run the audit again on a quiet machine, or with more --repeats",
                  highlight=False, markup=False, soft_wrap=True)
    if report["fails"]:  # the audit's finding: a claim that measurement contradicts is a failed check (exit 1)
        failed = [v.id for v in verdicts if v.verdict == "fails"]
        raise CheckFailed(f"{len(failed)} of {len(verdicts)} claim(s) fail against measurement: {', '.join(failed)}")
