"""``lxdex plan --check``: the plan's predictions against a run of the planned load on this machine.

The planned load (markets, resting orders per market, trades retained) becomes a scenario: the tier
table scaled to the orders per market, a tape holding the trades (the power of two at or above
them).  If its ``simulate`` run would not fit in this machine's memory, the largest number of
markets that fits is run instead, and the capacity model's held-out validation (sizes the model
never saw when it was fitted, predicted and then measured) stands for the sizes beyond.

The run is ``lxdex sweep``'s fresh-process point (:func:`~.sweep.run_in_fresh_process`), so that
what is measured is one process holding one engine, from its start.  Each figure is compared with
its target:

===============================  ==========================================================
engine bytes used                predicted within +-5% of measured
engine bytes reserved            reported (powers of two: exact when the counts are)
process RSS after trading        the estimator's figure, reported with its error
plan's required memory           at least the RSS measured after trading, at most 2x it
simulate's peak (the guard's)    within -5% .. +35% of the measured peak RSS
orders/s per core                this core's rate (the median of the traded phase's batches, with its
                                 interval) within +-25% of the model's rate at these markets
orders/s per core, modelled      the same, within +-15% of the per-core rate model's rate on the
                                 memory hierarchy the sweep measured (when the model has one)
orders/s with every core         this core's rate x the model's speedup of that many cores
                                 against a run with as many threads (reported)
===============================  ==========================================================

The last row checks what the plan takes for a machine's cores (:meth:`~.model.CapacityModel.speedup`:
the sweep's measured scaling curve, or cores x one core without one) on this machine: the same
scenario runs again in a fresh process with an engine of one thread per usable core, pinned to them,
and must make the same trades (the checksums) as the one-thread run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import CapacityError, InputError, LxdexError
from ..memory_guard import available_bytes
from ..scenarios.config import MAX_MARKETS, Scenario
from ..scenarios.tiers import DEFAULT_TIERS, MAX_DEPTH, scaled_tiers
from .estimator import Estimator, Load, pow2_at_least
from .hardware import GIB, HardwareProfile
from .plan import PlanRequest

__all__ = ["CheckRow", "PlanCheck", "check_plan", "checked_scenario", "this_machine", "largest_that_fits", "FIT_MARGIN", "estimate_check"]

ENGINE_BYTES_TOLERANCE = 0.05
# This core's measured rate against the model's for this machine: within this share of it either way.  The model was
# measured by a sweep on a quiet machine of this kind; a rate outside it means this machine, or this moment, is not the
# one the model describes (and a plan extrapolated from it is off by as much).
PER_CORE_TOLERANCE = 0.25
PEAK_RANGE = (-0.05, 0.35)  # the guard's peak estimate against the measured peak: never 5% short, at most 35% over
REQUIRED_RANGE = (1.0, 2.0)  # the plan's required memory over the RSS measured after trading
FIT_MARGIN = 0.9  # a check run may use this share of the memory available
PER_CORE = "orders/s per core (traded phase)"
# The per-core rate model (fitted on the sweep machine's hierarchy) against this core: its held-out target.
MODELLED_PER_CORE = "orders/s per core, modelled from the sweep machine's memory hierarchy"
MODELLED_TOLERANCE = 0.15


@dataclass(frozen=True)
class CheckRow:
    figure: str
    predicted: float
    measured: float
    unit: str  # "bytes" or "orders/s"
    target: str
    passed: bool | None  # None: reported, no target (or too noisy to call)
    verdict: str | None = None  # timed rows: holds / fails / too noisy to call, from the measured figure's interval
    measurement: dict[str, Any] | None = None  # timed rows: the measured figure (lxdex_capacity.measure.Figure.as_dict)

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.predicted - self.measured) / self.measured if self.measured else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"error_pct": self.error_pct}


@dataclass(frozen=True)
class PlanCheck:
    planned_markets: int
    markets: int  # run here: the planned markets, or the most this machine holds
    scenario: dict[str, Any]
    rows: list[CheckRow]
    validation: list[dict[str, Any]] = field(default_factory=list)  # the model's held-out sizes, when the run is smaller
    note: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed is not False for r in self.rows)

    @property
    def too_noisy(self) -> list[CheckRow]:
        """The rows whose verdict is too noisy to call (a busy machine, or an interval across the target)."""
        return [r for r in self.rows if r.verdict == "too noisy to call"]

    @property
    def per_core(self) -> CheckRow:
        """The orders/s per core row."""
        return next(r for r in self.rows if r.figure == PER_CORE)

    @property
    def orders_per_s_per_core(self) -> float:
        return self.per_core.measured

    def as_dict(self) -> dict[str, Any]:
        return {"planned_markets": self.planned_markets, "markets": self.markets, "scenario": self.scenario,
                "rows": [r.as_dict() for r in self.rows], "passed": self.passed, "too_noisy": [r.figure for r in self.too_noisy], "validation": self.validation, "note": self.note}


def checked_scenario(request: PlanRequest, markets: int | None = None) -> Scenario:
    """The scenario that runs ``request``'s load at ``markets`` markets (default: the planned ones)."""
    m = min(request.markets if markets is None else markets, MAX_MARKETS)
    try:
        tiers = DEFAULT_TIERS if request.orders_per_market is None else scaled_tiers(DEFAULT_TIERS, m, request.opm(m) * m)
    except ValidationError:
        raise InputError(f"--orders-per-market {request.opm(m):,.6g}: the tier table scaled to it seeds the deepest markets beyond "
                         f"the simulator's {MAX_DEPTH:,} orders per market, so plan --check cannot run it") from None
    return Scenario(markets=m, tiers=tiers, trades_retained=min(pow2_at_least(request.tape), 1 << 30))


def largest_that_fits(estimator: Estimator, request: PlanRequest, room: float, threads: int = 1) -> int:
    """The most markets (at most the planned ones) whose runs, with one thread and with ``threads`` (a tape
    per partition), the guard expects to fit in ``room`` bytes."""
    def fits(m: int) -> bool:
        scenario = checked_scenario(request, m)
        return max(estimator.simulate_peak(scenario), estimator.simulate_peak(scenario, threads=threads)) <= room

    hi = min(request.markets, MAX_MARKETS)
    if fits(hi):
        return hi
    lo = 1
    if not fits(lo):
        raise CapacityError(f"this machine cannot run even 1 market of this load: {room / GIB:,.1f} GiB available")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def estimate_check(request: PlanRequest, estimator: Estimator, room: float | None = None, threads: int | None = None) -> Any:
    """The :class:`~lxdex_capacity.time_guard.Estimate` of :func:`check_plan`'s default runs: the planned load (or the
    most of it that fits in ``room``) simulated in a fresh process, then again with ``threads`` threads (default:
    every usable core).  Cheap: the markets that fit are a bisection of the estimator's figures, no run."""
    from ..machine import usable_cores
    from ..time_guard import Estimate, simulation_estimate

    threads = usable_cores() if threads is None else threads
    room = FIT_MARGIN * available_bytes() if room is None else room
    markets = largest_that_fits(estimator, request, room, threads)
    scenario = checked_scenario(request, markets)
    one = simulation_estimate(scenario, fresh_process=True)
    seconds = one.seconds
    if 1 < threads <= scenario.markets:
        seconds += simulation_estimate(scenario, threads=threads, cores=threads, fresh_process=True).seconds
    return Estimate(seconds, f"{one.basis}{f', then again with {threads} threads' if 1 < threads <= scenario.markets else ''}")


def check_plan(request: PlanRequest, estimator: Estimator, run: Callable[[Scenario], dict[str, Any]] | None = None,
               room: float | None = None, threads: int | None = None,
               run_threads: Callable[[Scenario, int], dict[str, Any]] | None = None) -> PlanCheck:
    """Run the planned load (or the most of it this machine holds) and compare it with the predictions.
    ``run`` measures a scenario (default: a fresh process); ``room`` is the memory it may use;
    ``run_threads`` measures it with ``threads`` threads (default: every usable core, in a fresh process
    when ``run`` is the default too; with a ``run`` of its own and no ``run_threads``, not at all)."""
    from ..machine import usable_cores
    from .sweep import run_in_fresh_process

    if run is None:
        run, run_threads = run_in_fresh_process, run_threads or run_in_fresh_process
    threads = usable_cores() if threads is None else threads
    room = FIT_MARGIN * available_bytes() if room is None else room
    markets = largest_that_fits(estimator, request, room, threads if run_threads is not None else 1)  # a tape per partition
    scenario = checked_scenario(request, markets)
    measured = run(scenario)
    load = Load.of_scenario(scenario)
    steady = Load(markets=scenario.markets, resting_orders=load.resting_orders, trades_retained=scenario.trades_retained)
    e = estimator.estimate(steady)
    required = estimator.required_bytes(steady, request.safety)[0]
    peak = estimator.simulate_peak(scenario)
    used_error = (e.engine_bytes_used.bytes - measured["engine_bytes_used"]) / measured["engine_bytes_used"]
    rss = measured["rss_bytes"]
    peak_measured = measured.get("peak_rss_bytes") or 0
    rows = [
        CheckRow("engine bytes used", e.engine_bytes_used.bytes, measured["engine_bytes_used"], "bytes", "±5%",
                 abs(used_error) <= ENGINE_BYTES_TOLERANCE),
        CheckRow("engine bytes reserved", e.engine_bytes_reserved.bytes, measured["engine_bytes_reserved"], "bytes", "—", None),
        CheckRow("process RSS after trading", e.process_rss.bytes, rss, "bytes", "—", None),
        CheckRow("plan's required memory vs that RSS", required, rss, "bytes", "1x..2x the RSS",
                 REQUIRED_RANGE[0] * rss <= required <= REQUIRED_RANGE[1] * rss),
    ]
    if peak_measured:
        rows.append(CheckRow("simulate's peak RSS (the memory guard's estimate)", peak, peak_measured, "bytes", "-5%..+35%",
                             PEAK_RANGE[0] <= (peak - peak_measured) / peak_measured <= PEAK_RANGE[1]))
    rows.append(per_core_row(estimator.model.orders_per_s_per_core(scenario.markets), measured))
    core_rate = estimator.model.core_rate
    if core_rate is not None:
        rows.append(per_core_row(core_rate.orders_per_s(scenario.markets), measured, MODELLED_PER_CORE, MODELLED_TOLERANCE))
    if run_threads is not None and 1 < threads <= scenario.markets:
        rows.append(_threads_row(estimator, scenario, measured, threads, run_threads(scenario, threads)))
    smaller = markets < request.markets
    note = (f"{request.markets:,} markets would not fit here ({room / GIB:,.1f} GiB may be used): ran {markets:,}, the most that fits; "
            "the model's held-out validation stands for the larger sizes" if smaller else "")
    validation = list(estimator.model.validation) if smaller else []
    return PlanCheck(request.markets, markets, scenario.as_dict(), rows, validation, note)


def per_core_row(predicted: float, measured: dict[str, Any], figure_name: str = PER_CORE, tolerance: float = PER_CORE_TOLERANCE) -> CheckRow:
    """This core's rate against a prediction: within ``tolerance`` of it, judged from the interval of the
    median of the run's batches (:func:`lxdex_capacity.measure.judge`; a busy machine makes it too noisy to call)."""
    from ..measure import judge
    from ..measure.figure import figure_from_dict

    target = f"±{tolerance:.0%} of predicted"
    batches = measured.get("batches")
    if not batches:  # a run that measured no batch figure: the overall rate, reported
        return CheckRow(figure_name, predicted, measured["orders_per_s"], "orders/s", target, None)
    figure = figure_from_dict(batches)
    low, high = (judge(figure, ">=", (1 - tolerance) * predicted), judge(figure, "<=", (1 + tolerance) * predicted))
    verdict = ("fails" if "fails" in (low, high) else "holds" if (low, high) == ("holds", "holds") else "too noisy to call")
    return CheckRow(figure_name, predicted, figure.value, "orders/s", target, None if verdict == "too noisy to call" else verdict == "holds",
                    verdict, batches)


def _threads_row(estimator: Estimator, scenario: Scenario, one: dict[str, Any], threads: int, many: dict[str, Any]) -> CheckRow:
    """This core's rate times the model's speedup of ``threads`` cores, against the run with that many
    threads, which must have made the one-thread run's trades."""
    for key in ("trades", "market_checksum", "tape_checksum"):
        if key in one and many.get(key) != one[key]:
            raise LxdexError(f"plan --check: {scenario.markets:,} markets with {threads} threads made other trades than with one "
                             f"({key} {many.get(key)!r}, not {one[key]!r}): the threaded engine is wrong, and its rate means nothing")
    model = estimator.model
    basis = model.scaling_source(threads)
    speedup = model.speedup(threads)
    return CheckRow(f"orders/s with {threads} threads: per core x {speedup:.2f} ({basis})", one["orders_per_s"] * speedup,
                    many["orders_per_s"], "orders/s", "—", None)


def this_machine(orders_per_s_per_core: float, source: str = "lxdex plan --check on this machine") -> HardwareProfile:
    """This machine as a hardware profile, with the per-core rate measured on it (by ``source``)."""
    from ..machine import core_kinds, machine_info

    info = machine_info()
    kinds = core_kinds()  # Apple silicon: its performance and efficiency cores; elsewhere every core is one kind
    cores, efficiency = kinds if kinds is not None else (max(info.cores, 1), 0)
    memory_gib = math.floor(info.memory_bytes / GIB * 100) / 100
    return HardwareProfile(
        name=f"this machine ({info.processor}, {cores} cores, {memory_gib:g} GiB)", machine="this machine", chip=info.processor,
        kind="custom", year=None, cpu=f"{cores + efficiency} cores, {info.logical_cpus} logical CPUs", p_cores=cores, e_cores=efficiency, gpu_cores=None,
        memory_gib=memory_gib, memory_options_gib=(memory_gib,), bandwidth_gb_s=None, max_power_w=None, price_usd=None,
        price_usd_hour=None, source=source, orders_per_s_per_core=orders_per_s_per_core)
