"""``lxdex sweep``: simulate at several sizes, each point in a fresh process, and fit the cost model.

Why the design varies more than the size: with the default scenario, resting orders grow almost in
proportion to markets and the trade tape is always full, so markets, orders, tape and base cannot
be told apart.  Every size up to ``fit_up_to`` is therefore measured three ways: the default
scenario, books twice as deep (every tier's depth doubled), and a tape four times as long.  Sizes
above ``fit_up_to`` are measured with the default scenario only and held out: the model fitted on
the smaller points predicts them, and the error is reported.  The stored model is then fitted on
every point.

The sweep also measures how the order rate scales with cores (:func:`measure_scaling`): the traded
phase's orders/s with 1, 2, ..., ``threads_up_to`` threads (``Engine(threads=k)``, pinned to k
cores as ``lxdex bench --threads`` is), at one size: the largest fitted size (``fit_up_to``), the
size the model is most often asked about and still quick to run, unless ``scaling_markets`` names
another.  Each run is a fresh process, as every point is, one at a time on this machine (on a Dask
cluster the points share its cores, and a scaling run must have its cores to itself); the thread
counts are interleaved (1, 2, ..., 1, 2, ...) so that the machine's noise hits each alike, and every
thread count of a seed must give the same trades (the market and tape checksums): a disagreement
fails the sweep.  The medians, spreads, speedups and the Universal Scalability Law fitted to them
are the model's ``scaling`` section (:class:`~.model.Scaling`).

Run as a module (``python -m lxdex_capacity.capacity.sweep``) it is the worker: ``{"scenario": ...,
"threads": k or null}`` as JSON on stdin, one run's measurements as JSON on stdout.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import __version__
from ..children import spawn_failure, tethered, tethered_env
from ..errors import InputError, LxdexError
from ..machine import machine_info, peak_rss_bytes, usable_cores
from ..measure import STATUSES, Figure, MachineState, open_window, summarise
from ..memory_guard import refuse_unless_it_fits
from ..scenarios.config import Scenario, scenario_from_dict
from ..scenarios.tiers import Tier
from .core_rate import Access, CoreRateModel, WorkingSetPoint
from .hierarchy import curve_sizes, discover_caches
from .model import CapacityModel, LinearFit, Scaling, fit_bytes

__all__ = ["WORKING_SETS", "HELD_OUT_WORKING_SETS", "WORKING_SET_ORDERS", "measure_core_rate", "Variant", "VARIANTS", "SweepPoint", "SweepResult", "plan_points", "check_design", "run_sweep", "measure_point", "run_in_fresh_process",
           "peak_rss_bytes", "measure_scaling", "scaling_runs"]


# The per-core rate model's working sets (markets of one engine), from every line cached to most from DRAM, and the
# two left out of its fit and predicted (the main job's size, and one between the fitted ones that reach DRAM).
WORKING_SETS = (10, 100, 1_000, 3_000, 10_000, 21_000, 100_000, 300_000, 1_000_000)
HELD_OUT_WORKING_SETS = (21_000, 300_000)
WORKING_SET_ORDERS = 1 << 20  # orders timed per run: ~0.1-0.3 s of matching


@dataclass(frozen=True)
class Variant:
    name: str
    depth_scale: int  # multiplies every tier's low and high depth
    tape_scale: int  # multiplies the scenario's trades_retained


VARIANTS = (Variant("default", 1, 1), Variant("deep books", 2, 1), Variant("long tape", 1, 4))


@dataclass(frozen=True)
class SweepPoint:
    markets: int
    variant: str
    seed: int
    held_out: bool  # measured only to test the model fitted on the smaller points
    resting_orders: int
    price_levels: int
    trades: int
    trades_retained: int
    engine_bytes_used: int
    engine_bytes_reserved: int
    rss_bytes: int  # the whole process after trading
    runtime_bytes: int  # RSS after the empty phase minus the engine's bytes then (meaningful at small sizes)
    orders_per_s: float  # one core, the traded phase
    elapsed_s: float
    peak_rss_bytes: int = 0  # the process's peak resident memory over the whole run (0: not measured)


@dataclass(frozen=True)
class SweepResult:
    points: list[SweepPoint]
    model: CapacityModel  # fitted on every point
    validation_fit: LinearFit | None  # fitted on the points up to fit_up_to
    validation: list[dict[str, Any]]  # one entry per held-out size
    fit_up_to: int
    figures: dict[str, Figure] = dataclasses.field(default_factory=dict)  # the speed figures, each run in its machine window

    def as_dict(self) -> dict[str, Any]:
        fitted = self.model.fit
        points = []
        for p in self.points:
            predicted = fitted.predict(p.markets, p.resting_orders, p.trades_retained)
            points.append(dataclasses.asdict(p) | {
                "bytes": p.engine_bytes_used,
                "predicted_bytes": predicted,
                "residual_bytes": p.engine_bytes_used - predicted,
            })
        largest = self.validation[-1] if self.validation else {}
        return {
            "kind": "sweep",
            "version": __version__,
            "figures": {name: f.as_dict() for name, f in self.figures.items()},
            "points": points,
            "model": self.model.as_dict() | {
                "coefficients": self.model.fit.as_dict()["coefficients"],
                "r2": fitted.r2,
            },
            "validation": dict(largest) | {"fit_up_to_markets": self.fit_up_to, "held_out": self.validation},
            "scaling": self.model.scaling.as_dict() if self.model.scaling is not None else None,
            "core_rate": self.model.core_rate.as_dict() if self.model.core_rate is not None else None,
        }


def _scaled(scenario: Scenario, variant: Variant) -> Scenario:
    tiers = tuple(Tier(up_to_rank=t.up_to_rank, low=t.low * variant.depth_scale, high=t.high * variant.depth_scale) for t in scenario.tiers)
    return scenario.replace(tiers=tiers, trades_retained=scenario.trades_retained * variant.tape_scale)


def plan_points(sizes: Sequence[int], repeat: int, base: Scenario, fit_up_to: int) -> list[tuple[Scenario, str, bool]]:
    """(scenario, variant name, held out) for every run of the sweep, smallest first."""
    runs = []
    for markets in sorted(set(sizes)):
        held_out = markets > fit_up_to
        for variant in VARIANTS[:1] if held_out else VARIANTS:
            for r in range(repeat):
                scenario = _scaled(base.replace(markets=markets, seed=base.seed + r), variant)
                runs.append((scenario, variant.name, held_out))
    return runs


def check_design(runs: Sequence[tuple[Scenario, str, bool]]) -> None:
    """Refuse, before any point runs, a sweep whose points cannot separate the model's terms: the
    validation fit (the points not held out) and the full fit, at the loads the points are expected
    to reach (the tier table's resting orders; the trades each tape keeps: ``min(trades, tape)``)."""
    from ..scenarios.tiers import expected_orders
    from .model import separability_problem

    def design(points: Sequence[tuple[Scenario, str, bool]]) -> tuple[list[float], list[float], list[float]]:
        return ([s.markets for s, _, _ in points], [expected_orders(s.tiers, s.markets) for s, _, _ in points],
                [min(s.trades, s.trades_retained) for s, _, _ in points])

    fitted = [r for r in runs if not r[2]]
    for what, points in (("the validation fit (the sizes up to --fit-up-to)", fitted), ("the model", runs)):
        problem = separability_problem(*design(points))
        if problem:
            sizes = sorted({s.markets for s, _, _ in points})
            trades = runs[0][0].trades
            hint = (f"--trades {trades:,} never fills a tape of {runs[0][0].trades_retained:,}: raise --trades to at least "
                    f"{4 * runs[0][0].trades_retained:,} (the long-tape variant keeps 4x)" if "trades retained do not vary" in problem
                    else "sweep at least two sizes up to --fit-up-to, e.g. --markets 1000,5000,21000")
            raise InputError(f"these sweep points cannot separate base, markets, resting orders and trades retained for {what}, "
                             f"at {', '.join(f'{m:,}' for m in sizes)} markets: {problem}; {hint}")


def measure_point(scenario: Scenario, threads: int = 1) -> dict[str, Any]:
    """One run, in this process (the worker calls it): simulate with ``threads`` threads and keep what
    the model needs, and the checksums that show which trades it made."""
    from ..simulation import simulate

    result = simulate(scenario, threads=threads)
    empty, traded = result.phase("empty"), result.phase("traded")
    return {
        "resting_orders": traded.resting_orders,
        "price_levels": traded.price_levels,
        "trades": traded.trades,
        "trades_retained": traded.trades_retained,
        "engine_bytes_used": traded.engine_bytes_used,
        "engine_bytes_reserved": traded.engine_bytes_reserved,
        "rss_bytes": traded.rss_bytes,
        "runtime_bytes": empty.rss_bytes - empty.engine_bytes_used,
        "orders_per_s": result.throughput.orders_per_s,
        "elapsed_s": result.elapsed_s,
        "peak_rss_bytes": peak_rss_bytes(),
        "threads": threads,
        "market_checksum": result.market_checksum,
        "tape_checksum": result.tape_checksum,
        "batches": result.throughput.batches,
    }


# What a run measures beyond a sweep point's fields: kept out of SweepPoint (and the model file's points).
_RUN_ONLY = ("threads", "market_checksum", "tape_checksum", "batches")


# A point's child runs ``python -m lxdex_capacity.capacity.sweep``, tethered (:mod:`lxdex_capacity.children`).
_CHILD = 'import runpy\nrunpy.run_module("lxdex_capacity.capacity.sweep", run_name="__main__", alter_sys=True)\n'


def run_in_fresh_process(scenario: Scenario, threads: int | None = None) -> dict[str, Any]:
    """One point in a child process (see ``_CHILD``), whose stderr is only read for a failed point's
    last line.  ``threads`` None: one thread, wherever the OS puts it (every sweep point); k: an
    engine of k threads pinned to k cores (a scaling run, or ``plan --check`` with every core).  Whatever stops this process (a Ctrl-C, SIGTERM, the end of a Dask worker, SIGKILL)
    leaves no child behind and prints nothing of the child's: an exception here kills and reaps it
    before going on, and the child dies with the thread that started it."""
    try:
        proc = subprocess.Popen(tethered(_CHILD), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=tethered_env(PYTHONHASHSEED="0"))
    except OSError as exc:  # no process may start (ulimit -u), no pipe (ulimit -n), Python not executable
        raise spawn_failure(exc, f"the process of sweep point markets={scenario.markets}") from None
    with proc:
        try:
            stdout, stderr = proc.communicate(json.dumps({"scenario": scenario.as_dict(), "threads": threads}))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        lines = stderr.strip().splitlines()
        with_threads = f" threads={threads}" if threads is not None else ""
        raise LxdexError(f"sweep point markets={scenario.markets}{with_threads} failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
    result: dict[str, Any] = json.loads(stdout)
    return result


def _provenance(sizes: Sequence[int], repeat: int, fit_up_to: int, base: Scenario, threads_up_to: int, scaling_markets: int) -> dict[str, Any]:
    options = [f"--markets {','.join(str(s) for s in sorted(set(sizes)))}", f"--repeat {repeat}", f"--fit-up-to {fit_up_to}",
               f"--threads-up-to {threads_up_to}"]
    if threads_up_to > 1 and scaling_markets != fit_up_to:
        options.append(f"--scaling-markets {scaling_markets}")
    defaults = Scenario()
    for name in ("trades", "trades_retained", "seed"):
        if getattr(base, name) != getattr(defaults, name):
            options.append(f"--{name.replace('_', '-')} {getattr(base, name)}")
    return {
        "command": "lxdex sweep " + " ".join(options),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **machine_info().as_dict(),
        "machine": machine_info().summary(),
    }


def scaling_runs(base: Scenario, markets: int, threads_up_to: int, repeat: int) -> list[tuple[Scenario, int]]:
    """(scenario, threads) of every scaling run, in the order they run: for each repeat (seeds seed,
    seed+1, ...) every thread count, 1 first, so that a slow spell of the machine falls on all of them."""
    return [(base.replace(markets=markets, seed=base.seed + r), k) for r in range(repeat) for k in range(1, threads_up_to + 1)]


def measure_scaling(base: Scenario, markets: int, threads_up_to: int, repeat: int,
                    run: Callable[[Scenario, int], dict[str, Any]] = run_in_fresh_process,
                    advance: Callable[[str], None] | None = None, figures: dict[str, Figure] | None = None) -> Scaling:
    """The traded phase's orders/s with 1..``threads_up_to`` threads at ``markets`` markets, ``repeat``
    runs each (:func:`scaling_runs`; ``run`` measures one: default a fresh process).  Every thread
    count of a seed must make the same trades: else the threaded engine is wrong, and no rate of it
    means anything (:class:`LxdexError`, exit 1).  ``figures``, if given, receives each thread count's rate as a
    :class:`~lxdex_capacity.measure.Figure` (each run in its machine window)."""
    rates: dict[int, list[float]] = {k: [] for k in range(1, threads_up_to + 1)}
    states: dict[int, list[MachineState]] = {k: [] for k in range(1, threads_up_to + 1)}
    first: dict[int, tuple[int, dict[str, Any]]] = {}  # seed -> (threads, run) of its first run
    for scenario, threads in scaling_runs(base, markets, threads_up_to, repeat):
        if advance:
            advance(f"scaling: {scenario.markets:,} markets, {threads} thread{'s' if threads > 1 else ''}, seed {scenario.seed}")
        window = open_window()
        m = run(scenario, threads)
        states[threads].append(window.close())
        if scenario.seed in first:
            k, earlier = first[scenario.seed]
            for key in ("trades", "market_checksum", "tape_checksum"):
                if m[key] != earlier[key]:
                    raise LxdexError(f"scaling at {markets:,} markets, seed {scenario.seed}: {threads} threads made other trades than "
                                     f"{k} ({key} {m[key]!r}, not {earlier[key]!r}): the threaded engine is wrong, and its rates mean nothing")
        else:
            first[scenario.seed] = threads, m
        rates[threads].append(float(m["orders_per_s"]))
    if figures is not None:
        for k, values in rates.items():
            figures[f"orders_per_s with {k} thread{'s' if k > 1 else ''} at {markets:,} markets"] = summarise(
                f"orders_per_s with {k} thread{'s' if k > 1 else ''} at {markets:,} markets", "orders/s", values, states[k])
    return Scaling.from_rates(markets, rates)


def check_scaling(threads_up_to: int, scaling_markets: int) -> None:
    """Refuse, before any point runs, a scaling measurement this machine cannot make."""
    cores = usable_cores()
    if threads_up_to > cores:
        raise InputError(f"threads_up_to={threads_up_to}: this process may run on {cores} core{'s' if cores > 1 else ''}, and a "
                         "thread without a core of its own measures the scheduler, not the engine")
    if threads_up_to > scaling_markets:
        raise InputError(f"threads_up_to={threads_up_to}: more threads than the {scaling_markets:,} markets scaling is measured at "
                         "(at most one thread per market)")


def measure_core_rate(access: Access, working_sets: Sequence[int] = WORKING_SETS, held_out: Sequence[int] = HELD_OUT_WORKING_SETS,
                      repeat: int = 3, orders: int = WORKING_SET_ORDERS, seed: int = 0, advance: Callable[[str], None] | None = None,
                      probe_up_to: int | None = None, figures: dict[str, Figure] | None = None) -> CoreRateModel:
    """This machine's hierarchy (:func:`~.hierarchy.measure_hierarchy`), then the engine's ns per order at every
    working set, ``repeat`` runs each interleaved (every size once, then again: a slow spell falls on all alike), in
    this process, and the per-core rate model fitted on all but ``held_out`` (:mod:`.core_rate`)."""
    from ..profiling.engine_bench import flow_ns_per_order
    from .hierarchy import measure_hierarchy

    if set(held_out) - set(working_sets):
        raise InputError(f"held-out working sets {sorted(set(held_out) - set(working_sets))} are not among the working sets")
    hierarchy = measure_hierarchy(largest=probe_up_to, advance=advance, command="lxdex sweep")
    times: dict[int, list[float]] = {m: [] for m in working_sets}
    states: dict[int, list[MachineState]] = {m: [] for m in working_sets}
    nbytes: dict[int, int] = {}
    for r in range(repeat):
        for markets in working_sets:
            if advance:
                advance(f"working set: {markets:,} markets, run {r + 1} of {repeat}")
            window = open_window()
            ns, nbytes[markets] = flow_ns_per_order(markets, orders, seed=seed + r)
            states[markets].append(window.close())
            times[markets].append(ns)
    points = [WorkingSetPoint(m, float(np.median(v)), float(min(v)), float(max(v)), len(v), nbytes[m], m in held_out)
              for m, v in times.items()]
    if figures is not None:
        for m, v in times.items():
            name = f"ns_per_order at {m:,} markets (working set)"
            figures[name] = summarise(name, "ns/order", v, states[m])
    return CoreRateModel.fitted(hierarchy, access, points)


def _fit(points: Sequence[SweepPoint]) -> LinearFit:
    return fit_bytes([p.markets for p in points], [p.resting_orders for p in points],
                     [p.trades_retained for p in points], [p.engine_bytes_used for p in points])


# Measuring this machine's memory hierarchy for the per-core rate model (the clock, each cache's chase, the misses in
# flight): about half a minute on the reference machine.
HIERARCHY_SECONDS = 30.0


def _resolved(sizes: Sequence[int], fit_up_to: int | None, scaling_markets: int | None,
              threads_up_to: int | None) -> tuple[list[int], int, int, int]:
    """:func:`run_sweep`'s sizes (sorted, each once) and its defaults: the validation model fitted on every size but
    the largest; the scaling measured at the largest fitted size, with every usable core, but no more threads than
    markets to partition (a thread holds at least one)."""
    ordered = sorted(set(sizes))
    fit = fit_up_to if fit_up_to is not None else (ordered[-2] if len(ordered) > 1 else ordered[-1])
    at = fit if scaling_markets is None else scaling_markets
    return ordered, fit, at, min(usable_cores(), at) if threads_up_to is None else threads_up_to


def estimate_sweep(sizes: Sequence[int], repeat: int = 2, base: Scenario = Scenario(), fit_up_to: int | None = None,
                   concurrent: int = 1, threads_up_to: int | None = None, scaling_markets: int | None = None,
                   working_sets: Sequence[int] = WORKING_SETS) -> Any:
    """The :class:`~lxdex_capacity.time_guard.Estimate` of :func:`run_sweep` with these arguments: every point a
    simulation in a fresh process, ``concurrent`` at a time (0: on a remote cluster, all at once), then the scaling
    runs and the per-core rate model's working sets here, one at a time."""
    from ..time_guard import (
        Estimate,
        clock_scale,
        duration_words,
        engine_ns_per_order,
        seeding_seconds,
        simulation_estimate,
    )

    sizes, fit_up_to, scaling_markets, threads_up_to = _resolved(sizes, fit_up_to, scaling_markets, threads_up_to)
    runs = plan_points(sizes, repeat, base, fit_up_to)
    check_design(runs)  # a sweep that could fit nothing is refused for that, whatever its time
    each = [simulation_estimate(s, fresh_process=True).seconds for s, _, _ in runs]
    at_once = len(runs) if concurrent <= 0 else max(min(concurrent, usable_cores()), 1)
    points_s = max(sum(each) / at_once, max(each, default=0.0))
    scaled = scaling_runs(base, scaling_markets, threads_up_to, repeat) if threads_up_to > 1 else []
    scaling_s = sum(simulation_estimate(s, threads=k, cores=usable_cores(), fresh_process=True).seconds for s, k in scaled)
    core_s = 0.0
    if working_sets:
        per_run = [seeding_seconds(Scenario(markets=m)) + WORKING_SET_ORDERS * (engine_ns_per_order(m) + 1_000 * clock_scale()) / 1e9
                   for m in working_sets]
        core_s = HIERARCHY_SECONDS + max(repeat, 3) * sum(per_run)
    parts = [f"{len(runs)} points" + (f", {at_once} at a time" if at_once > 1 else ""), f"{len(scaled)} scaling runs" if scaled else "",
             f"{len(working_sets)} working sets × {max(repeat, 3)} runs" if working_sets else ""]
    return Estimate(points_s + scaling_s + core_s, f"sweeping ({', '.join(p for p in parts if p)}; the largest point "
                                                  f"~{duration_words(max(each, default=0.0))})")


def run_sweep(
    sizes: Sequence[int],
    repeat: int = 2,
    base: Scenario = Scenario(),
    fit_up_to: int | None = None,
    advance: Callable[[int, int, str], None] | None = None,
    force: bool = False,
    client: Any = None,
    concurrent: int = 1,
    threads_up_to: int | None = None,
    scaling_markets: int | None = None,
    working_sets: Sequence[int] = WORKING_SETS,
    held_out_working_sets: Sequence[int] = HELD_OUT_WORKING_SETS,
) -> SweepResult:
    """Measure every point in a fresh process, fit, validate on the held-out sizes, and measure the
    scaling with threads (``threads_up_to``, default every usable core; 1 skips it) at
    ``scaling_markets`` (default ``fit_up_to``), then this machine's memory hierarchy and the engine across
    ``working_sets`` for the per-core rate model (:func:`measure_core_rate`; none: skipped).

    With a Dask ``client`` the points run in parallel on its workers (each still in a fresh
    process there); ``concurrent`` is how many of them run at once on this machine, for the
    memory check (0 for a remote cluster, which this machine cannot check).  The scaling runs are
    always here, one at a time."""
    from ..simulation import estimate_memory

    sizes, fit_up_to, scaling_markets, threads_up_to = _resolved(sizes, fit_up_to, scaling_markets, threads_up_to)
    runs = plan_points(sizes, repeat, base, fit_up_to)
    check_design(runs)
    scaled = scaling_runs(base, scaling_markets, threads_up_to, repeat) if threads_up_to > 1 else []
    if scaled:
        check_scaling(threads_up_to, scaling_markets)
    estimates = sorted((estimate_memory(s) for s, _, _ in runs), reverse=True)
    at_once = f"the {concurrent} largest sweep points running at once need" if concurrent > 1 else "the largest sweep point needs"
    refuse_unless_it_fits(sum(estimates[: max(concurrent, 0)]), at_once, "drop the largest size, use fewer workers, or --force", force)
    if scaled:  # one at a time, here: the run with the most threads (a tape per partition) needs the most
        refuse_unless_it_fits(estimate_memory(scaled[0][0], threads=threads_up_to),
                              f"the scaling runs at {scaling_markets:,} markets with {threads_up_to} threads need",
                              "lower --scaling-markets or --threads-up-to, or --force", force)
    if working_sets:
        refuse_unless_it_fits(estimate_memory(Scenario(markets=max(working_sets))),
                              f"the per-core rate model's largest working set ({max(working_sets):,} markets) needs",
                              "lower --working-sets, or --force", force)
    scenarios = [s for s, _, _ in runs]
    core_repeat = max(repeat, 3)
    # The probe's steps (compile, clock, each latency point, misses in flight) and every working-set run.
    core_steps = (3 + len(curve_sizes(discover_caches())) + len(working_sets) * core_repeat) if working_sets else 0
    total = len(runs) + len(scaled) + core_steps
    point_states: list[MachineState | None] = []
    if client is None:
        measurements = []
        for i, scenario in enumerate(scenarios):
            if advance:
                advance(i, total, f"{scenario.markets:,} markets, {runs[i][1]}")
            window = open_window()
            measurements.append(run_in_fresh_process(scenario))
            point_states.append(window.close())
    else:
        from ..distributed import parallel_map

        window = open_window()  # the points run at once: one window over them all (a remote cluster's machine is not seen)
        measurements = parallel_map(client, run_in_fresh_process, scenarios, advance,
                                    describe=lambda s: f"sweep point markets={s.markets} seed={s.seed}")
        together = window.close()
        point_states = [together if getattr(client, "cluster", None) is not None else None] * len(scenarios)
    points = [SweepPoint(markets=s.markets, variant=variant, seed=s.seed, held_out=held_out,
                         **{k: v for k, v in m.items() if k not in _RUN_ONLY})
              for (s, variant, held_out), m in zip(runs, measurements, strict=True)]
    figures: dict[str, Figure] = {}
    for markets in sorted({p.markets for p in points if p.variant == VARIANTS[0].name}):
        of_size = [i for i, p in enumerate(points) if p.variant == VARIANTS[0].name and p.markets == markets]
        name = f"orders_per_s at {markets:,} markets"
        figures[name] = summarise(name, "orders/s", [points[i].orders_per_s for i in of_size], [point_states[i] for i in of_size])
    scaling = None
    if scaled:
        done = iter(range(len(runs), total))
        scaling = measure_scaling(base, scaling_markets, threads_up_to, repeat,
                                  advance=(lambda label: advance(next(done), total, label)) if advance else None, figures=figures)
    full_fit = _fit(points)  # the model's, and the bytes per market and per order the per-core rate model spreads the flow over
    core_rate, core_rate_skipped = None, None
    if working_sets:
        step = [len(runs) + len(scaled)]

        def core_advance(label: str) -> None:
            if advance:
                advance(min(step[0], total - 1), total, label)
            step[0] += 1
        access = Access.of(full_fit.coefficients, base)
        try:
            core_rate = measure_core_rate(access, working_sets, held_out_working_sets, repeat=core_repeat, orders=WORKING_SET_ORDERS,
                                          seed=base.seed, advance=core_advance, figures=figures)
        except ValueError as exc:  # the working sets cannot separate compute from memory here: no model, said so
            core_rate_skipped = f"per-core rate model not fitted: {exc}"
    if advance:
        advance(total, total, "fitting")

    fitted_on = [p for p in points if not p.held_out]
    validation_fit = _fit(fitted_on) if any(p.held_out for p in points) else None
    validation: list[dict[str, Any]] = []
    for markets in sorted({p.markets for p in points if p.held_out}):  # held-out sizes: validation_fit is set
        assert validation_fit is not None
        at = [p for p in points if p.markets == markets]
        predicted = float(np.mean([validation_fit.predict(p.markets, p.resting_orders, p.trades_retained) for p in at]))
        measured = float(np.mean([p.engine_bytes_used for p in at]))
        validation.append({
            "markets": markets,
            "predicted_bytes": predicted,
            "measured_bytes": measured,
            "error_pct": 100.0 * (predicted - measured) / measured,
            "fitted_on_markets": sorted({p.markets for p in fitted_on}),
        })

    defaults = [p for p in points if p.variant == VARIANTS[0].name]
    ratios = [p.engine_bytes_reserved / p.engine_bytes_used for p in points]
    # Each size's rate: the median of its runs on a quiet machine (the quiet ones' when some ran on a busy one).
    throughput = [{"markets": float(m), "orders_per_s": figures[f"orders_per_s at {m:,} markets"].value}
                  for m in sorted({p.markets for p in defaults})]
    worst = max(figures.values(), key=lambda f: STATUSES.index(f.status))
    speed = {"speed_status": worst.status, "speed_status_reason": f"{worst.name}: {worst.reason}"[:500]}
    model = CapacityModel(
        fit=full_fit,
        # At the smallest size the engine's own bytes are a rounding error next to the runtime; at
        # large sizes the untouched (not yet resident) pages of fresh arrays blur the subtraction.
        runtime_bytes=float(np.median([p.runtime_bytes for p in points if p.markets == sizes[0]])),
        reserved_ratio_median=float(np.median(ratios)),
        reserved_ratio_max=float(max(ratios)),
        throughput=throughput,
        largest_markets=max(sizes),
        provenance=_provenance(sizes, repeat, fit_up_to, base, threads_up_to, scaling_markets) | speed
        | ({"core_rate_skipped": core_rate_skipped} if core_rate_skipped else {}),
        points=[dataclasses.asdict(p) for p in points],
        validation=validation,
        scaling=scaling,
        core_rate=core_rate,
    )
    return SweepResult(points=points, model=model, validation_fit=validation_fit, validation=validation, fit_up_to=fit_up_to,
                       figures=figures)


def _worker() -> None:
    """Fresh-process entry: ``{"scenario": ..., "threads": k or null}`` JSON on stdin, the run's
    measurements as JSON on stdout.  With threads, pinned to that many cores first."""
    try:
        request = json.load(sys.stdin)
        scenario = scenario_from_dict(request["scenario"])
        threads = request["threads"]
        if threads is not None:
            from ..profiling.report import pin_to_cores

            pin_to_cores(threads)
        print(json.dumps(measure_point(scenario, threads or 1)))
    except LxdexError as exc:
        print(f"lxdex: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    _worker()
