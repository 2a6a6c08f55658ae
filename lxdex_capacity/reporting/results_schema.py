"""The schema of a report's ``results.json`` (``lxdex report --results``), as pydantic models.

``results.json`` is what :func:`~lxdex_capacity.reporting.report.collect` gathers: the simulate result
(checked by :class:`~lxdex_capacity.simulation.results.SimulateRecord`), the capacity model (checked by
:class:`~lxdex_capacity.capacity.model.ModelFile`), the plan and how they were made.  The models below
cover every key the report and its charts read, typed and in physical ranges; :meth:`ResultsFile._consistent`
adds the rules between keys (the plan is for the simulated markets and from this model, profiles whose
bytes are ordered, a cheapest fit that fits, percentiles that never decrease, ...).  The optional
``latency`` record is :meth:`~lxdex_capacity.latency.harness.LatencyResult.as_dict` (:class:`LatencyRecord`).
Whatever is wrong is one
:class:`~lxdex_capacity.errors.InputError` naming the file and the key::

    results.json: plan.profiles[3].usable_bytes=-5: input should be greater than or equal to 0
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from ..capacity.hardware import LIMITS, Kind
from ..capacity.model import MAX_SPEEDUP, TERMS, ModelFile, ScalingFile
from ..capacity.plan import MAX_MACHINES, MAX_PLAN_MARKETS, with_spare
from ..engine.partitioned import MAX_THREADS
from ..errors import InputError
from ..measure.records import FigureRecord as MeasuredFigureRecord
from ..physics import MAX_CLOCK_GHZ, MAX_CORES, orders_per_s_problem, too_fast_an_access, too_fast_an_order
from ..schema import FILE_CONFIG, Count, FileModel, Name, PositiveCount, one_line_text, validate
from ..simulation.results import MachineRecord, SimulateRecord, simulate_problem

__all__ = ["RESULTS_FORMAT", "ResultsFile", "PlanRecord", "LatencyRecord", "check_results"]

RESULTS_FORMAT = "lxdex-capacity-report/1"

Bytes = Annotated[float, Field(ge=0, le=1e21, allow_inf_nan=False)]  # a zettabyte: beyond any cluster
Coefficient = Annotated[float, Field(ge=-1e21, le=1e21, allow_inf_nan=False)]  # the intercept may be negative
Rate = Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)]
Money = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1, max_length=100_000, pattern=r"\S")]
Timestamp = Annotated[str, Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")]  # UTC, as collect() writes it
PlanMarkets = Annotated[int, Field(ge=1, le=MAX_PLAN_MARKETS)]
Machines = Annotated[int, Field(ge=1, le=MAX_MACHINES + 1)]  # N+1 included


Engines = Annotated[int, Field(ge=1, le=1 << 20)]
Cores = Annotated[int, Field(ge=1, le=MAX_CORES)]  # of one machine (lxdex_capacity.physics)


def _access(ns: float) -> float:
    why = too_fast_an_access(ns)
    if why:
        raise ValueError(why)
    return ns


def _order(ns: float) -> float:
    why = too_fast_an_order(ns)
    if why:
        raise ValueError(why)
    return ns


AccessNs = Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False), AfterValidator(_access)]  # a load from a cache or memory
NsPerOrder = Annotated[float, Field(gt=0, le=1e8, allow_inf_nan=False), AfterValidator(_order)]  # one engine on one core
# latency SLO: plan --latency-slo; modelled: the per-core rate model on the profile's memory hierarchy
RateSource = Literal["extrapolated", "user-given", "measured here", "latency SLO", "modelled", "swept there"]
Share = Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)]  # a percentage of use: may exceed 100


class RequestRecord(FileModel):
    """The load planned for (:class:`~lxdex_capacity.capacity.plan.PlanRequest`, with the orders it implies)."""

    markets: PlanMarkets
    orders_per_market: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    trades_retained: Annotated[int, Field(ge=0, le=10**15)]
    safety: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)]
    os_reserve_gib: Annotated[float, Field(ge=0, le=65_536, allow_inf_nan=False)]
    order_rate: Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
    resting_orders: Annotated[float, Field(ge=0, le=1e24, allow_inf_nan=False)]
    engines: Engines | None


class LoadRecord(FileModel):
    """The load as ``plan --json`` echoes it (:meth:`~lxdex_capacity.capacity.estimator.Load.as_dict` and the margins)."""

    markets: PlanMarkets
    orders_per_market: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    resting_orders: Annotated[float, Field(ge=0, le=1e24, allow_inf_nan=False)]
    trades_retained: Annotated[int, Field(ge=0, le=10**15)]
    order_rate: Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
    engines: Engines
    safety: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)]
    os_reserve_gib: Annotated[float, Field(ge=0, le=65_536, allow_inf_nan=False)]
    engines_per_machine: Engines | None
    trades_retained_source: Literal["given", "one engine's tape capacity"]


class FigureRecord(FileModel):
    """One predicted figure (:class:`~lxdex_capacity.capacity.estimator.Figure`)."""

    predicts: Text
    bytes: Bytes
    low: Bytes
    high: Bytes


class EstimateRecord(FileModel):
    """The estimator's figures for the planned load (:class:`~lxdex_capacity.capacity.estimator.Estimate`)."""

    load: dict[str, Any]
    price_levels: Annotated[float, Field(ge=0, le=1e24, allow_inf_nan=False)]
    runtime_bytes: Bytes
    working_bytes: Bytes
    engine_bytes_used: FigureRecord
    engine_bytes_reserved: FigureRecord
    process_rss: FigureRecord
    simulate_peak: FigureRecord


class RecommendationRecord(FileModel):
    """The plan's one answer (:func:`~lxdex_capacity.capacity.plan.recommendation`)."""

    kind: Literal["single machine", "cluster"]
    profile: Name
    machines: Machines
    spare: Annotated[int, Field(ge=0, le=1)]
    engines_per_machine: Engines | None
    markets_per_machine: PlanMarkets | None
    required_bytes_per_machine: Bytes | None
    usable_bytes_per_machine: Count
    yearly_cost_usd: Money
    cost_basis: Text
    watts_per_million_markets: Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)] | None
    watts: Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)] | None = None  # the machines' full power (absent before)
    rate_source: RateSource


class PlanModelRecord(FileModel):
    """The model figures the plan used (a summary of ``model``)."""

    runtime_bytes: Bytes
    coefficients: dict[Literal["base", "markets", "resting_orders", "trades_retained"], Coefficient]
    r2: Annotated[float, Field(ge=-1e9, le=1, allow_inf_nan=False)]
    largest_markets_measured: PlanMarkets
    extrapolated: bool
    provenance: dict[str, Any]  # the model's provenance: must be the same dict (checked there)
    scaling: ScalingFile | None = None  # the model's scaling curve (None: not measured; absent: a plan made before it was)


class RateModelLevelRecord(FileModel):
    """One level of a modelled profile as one engine sees it (:meth:`~lxdex_capacity.capacity.core_rate.CoreRateModel.explain`)."""

    name: Annotated[str, Field(min_length=1, max_length=20)]
    capacity_bytes: Annotated[float, Field(gt=0, le=1e18, allow_inf_nan=False)] | None  # None: memory, unbounded
    latency_ns: AccessNs
    flow_share_held: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    serial_lines_beyond: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]


class RateModelRecord(FileModel):
    """What a modelled per-core rate came from (``rate_model`` of a profile's plan)."""

    markets_per_engine: Annotated[float, Field(gt=0, le=MAX_PLAN_MARKETS, allow_inf_nan=False)]
    engines_sharing: Engines
    clock_ghz: Annotated[float, Field(gt=0, le=MAX_CLOCK_GHZ, allow_inf_nan=False)]
    bandwidth_gb_s: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False)] | None
    levels: Annotated[list[RateModelLevelRecord], Field(min_length=1, max_length=17)]
    levels_shared: Annotated[list[RateModelLevelRecord], Field(min_length=1, max_length=17)]
    working_set_bytes: Annotated[float, Field(ge=0, le=1e21, allow_inf_nan=False)]
    ns_per_order_alone: NsPerOrder
    ns_per_order_shared: NsPerOrder
    bandwidth_bound: Rate | None  # one of engines_sharing engines' share of the memory bandwidth, orders/s
    bandwidth_bound_alone: Rate | None = None  # one engine alone's
    why: Text


class ProfileRecord(FileModel):
    """One hardware profile's plan (:class:`~lxdex_capacity.capacity.plan.ProfilePlan`)."""

    name: Name
    kind: Kind
    memory_bytes: PositiveCount
    usable_bytes: Count
    required_bytes: Annotated[float, Field(gt=0, le=1e21, allow_inf_nan=False)]
    required_bytes_low: Bytes
    required_bytes_high: Bytes
    fits_memory: bool
    headroom_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None  # None: the load does not fit in memory
    memory_use_pct: Share
    max_markets: Annotated[int, Field(ge=0, le=MAX_PLAN_MARKETS)]
    engines_per_machine: Engines
    cores_use_pct: Share
    order_capacity_per_s: Rate
    order_rate_use_pct: Share
    orders_per_s_per_core: Rate
    rate_source: RateSource
    rate_basis: Text
    rate_model: RateModelRecord | None = None  # "modelled" profiles; absent from plans made before the model was
    # Absent from plans made before the scaling curve was: their order capacity was cores x one core.
    cores: Cores | None = None
    # A modelled speedup (caches and bandwidth shared) may reach the cores, up to a hardware file's most.
    speedup: Annotated[float, Field(gt=0, le=max(MAX_SPEEDUP, 4096.0), allow_inf_nan=False)] | None = None
    scaling_source: Literal["measured", "USL fit", "linear", "modelled"] | None = None
    scaling_basis: Text | None = None
    fits: bool
    bottleneck: Literal["memory", "order rate", "cores"]
    machines: Machines | None
    machines_n_plus_1: Machines | None
    machine_engines: Engines | None
    machine_markets: PlanMarkets | None
    machine_required_bytes: Bytes | None
    price_usd: Money | None
    price_usd_hour: Money | None
    cluster_price_usd: Money | None
    cluster_price_usd_hour: Money | None
    yearly_cost_usd: Money | None
    max_power_w: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None


class ClusterRecord(FileModel):
    """The cheapest cluster of one profile, priced at purchase."""

    profile: Name
    machines: Machines
    machines_n_plus_1: Machines
    cluster_price_usd: Money
    machine_markets: PlanMarkets
    machine_required_bytes: Bytes


class CloudClusterRecord(FileModel):
    """The cheapest cluster of one profile, priced by the hour."""

    profile: Name
    machines: Machines
    machines_n_plus_1: Machines
    cluster_price_usd_hour: Money
    machine_markets: PlanMarkets
    machine_required_bytes: Bytes


class ScalingRecord(FileModel):
    markets: PlanMarkets
    orders_per_market: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    required_bytes: Annotated[float, Field(gt=0, le=1e21, allow_inf_nan=False)]
    required_bytes_low: Bytes
    required_bytes_high: Bytes
    extrapolated: bool
    smallest_fit: Name | None


# --- plan --latency-slo (lxdex_capacity.latency.slo.SLOSearch, as capacity.plan.slo_section gives it) ----

SLONs = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]  # a latency statistic, nanoseconds
MIN_RATE = 1e-3  # per second: a rate below it (1e-300/s, say) is no measurement of anything
SLORate = Annotated[float, Field(ge=MIN_RATE, le=1e12, allow_inf_nan=False)]  # messages (or orders) per second


def _achieved(value: float) -> float:
    """An achieved rate: 0 (the run's span was not measurable) or at least :data:`MIN_RATE` per second."""
    if 0 < value < MIN_RATE:
        raise ValueError(f"must be 0 or at least {MIN_RATE:g} per second")
    return value


# What a run achieved, per second: 0 when its span was too short to measure, else a real rate.
Achieved = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False), AfterValidator(_achieved)]
SLOText = Annotated[str, Field(min_length=1, max_length=1_000), AfterValidator(one_line_text)]


class SLOPointRecord(FileModel):
    """One offered rate the search tried (:class:`~lxdex_capacity.latency.slo.SLOPoint`)."""

    rate_per_s: SLORate
    values_ns: Annotated[list[SLONs], Field(min_length=1, max_length=99)]
    median_ns: SLONs
    holds: bool
    achieved_per_s: Annotated[list[Achieved], Field(default_factory=list, max_length=99)]
    # Since the search judged rates from intervals (absent in older files: most runs decided)
    verdict: Literal["holds", "fails", "too noisy to call"] | None = None
    low_ns: SLONs | None = None
    high_ns: SLONs | None = None
    status: Literal["stable", "noisy", "disturbed"] | None = None
    reason: Annotated[str, Field(max_length=1_000)] | None = None
    stop: Annotated[str, Field(max_length=1_000)] | None = None


class LatencySLORecord(FileModel):
    """The plan's ``latency_slo`` section: the highest rate per core meeting the SLO on the planning machine."""

    slo: SLOText
    statistic: Literal["p50", "p90", "p99", "p99.9", "p99.99", "max"]
    bound_ns: Annotated[float, Field(ge=1, le=3_600e9, allow_inf_nan=False)]  # below 1 ns: not measurable (latency.slo.MIN_BOUND_NS)
    strict: bool
    rate_per_s: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]  # 0: no rate meets it
    ceiling_per_s: SLORate | None
    capacity_per_s: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    low_per_s: SLORate
    high_per_s: SLORate
    markets: PlanMarkets
    orders_per_offer: PositiveCount
    cancels_per_order: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
    repeats: Annotated[int, Field(ge=1, le=99)]
    tolerance: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
    offers: Count
    seconds: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    points: Annotated[list[SLOPointRecord], Field(min_length=1, max_length=10_000)]
    met: bool
    orders_per_s: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    planned_markets: PlanMarkets
    verdict: SLOText
    # Since the search judged rates from intervals and measured the capacity in the same run (absent in older files)
    outcome: Literal["holds", "fails", "too noisy to call"] | None = None
    service_capacity_per_s: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] | None = None
    samples_per_run: Count | None = None
    beyond_per_run: Count | None = None
    capacity: MeasuredFigureRecord | None = None  # the capacity's figure (lxdex_capacity.measure.Figure.as_dict)
    reason: Annotated[str, Field(max_length=1_000)] | None = None


class PlanRecord(FileModel):
    """:func:`~lxdex_capacity.capacity.plan.plan`'s result."""

    load: LoadRecord
    request: RequestRecord
    model: PlanModelRecord
    engine_bytes: Annotated[float, Field(ge=0, le=1e21, allow_inf_nan=False)]
    estimate: EstimateRecord
    profiles: Annotated[list[ProfileRecord], Field(min_length=1)]
    cheapest_fit: Name | None
    cheapest_cloud_fit: Name | None
    cluster: ClusterRecord | None
    cluster_cloud: CloudClusterRecord | None
    recommendation: RecommendationRecord | None
    scaling: list[ScalingRecord]
    latency_slo: LatencySLORecord | None = None  # only in a plan made with --latency-slo
    calibration: dict[str, Any] | None = None  # this machine's measured rate the model's curve was scaled to (checked by _plan_problem)


# --- latency under load (lxdex_capacity.latency.harness.LatencyResult.as_dict) ----------------------

LatencyNs = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]  # nanoseconds: up to 11 days
# The latency harness's ranges (lxdex latency's options): what a record it wrote can hold.
OfferedRate = Annotated[float, Field(ge=1, le=1e10, allow_inf_nan=False)]  # messages offered per second, as --rates
Capacity = Annotated[float, Field(ge=1, le=1e12, allow_inf_nan=False)]  # one over a mean service time: at least 1/s
LatencyOrders = Annotated[int, Field(ge=1_000, le=100_000_000)]  # messages per offered run, as --orders-per-rate
LatencyBatch = Annotated[int, Field(ge=1, le=1 << 20)]  # as --batch
CancelsPerOrder = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]  # as --cancels
LATENCY_KEYS = ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns")  # in the order they may not decrease


class _OpenRecord(FileModel):
    """A record the latency harness writes: the keys the report reads are typed; keys it does not read
    (figures the harness may add) are kept, but must be finite JSON values like every other figure."""

    model_config = ConfigDict(**{**FILE_CONFIG, "extra": "allow"})  # checked by _latency_problem: _extra_problem


def _extra_problem(record: _OpenRecord | None, where: str) -> str | None:
    """The first key of ``record`` the schema does not type that holds a number that is not finite, or None."""
    for key, value in ((record.model_extra or {}) if record is not None else {}).items():
        found = _not_finite(value, f"{where}.{key}")
        if found:
            return f"{found}: must be a finite number (JSON has no NaN or infinity)"
    return None


def _not_finite(value: Any, path: str) -> str | None:
    """``key=value`` of the first number in ``value`` (nested lists and tables too) that is not finite, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path}={value!r}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _not_finite(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        if found:
            return found
    return None


class _LatencyFigures(FileModel):
    """p50 .. p99.99 and the max, in nanoseconds."""

    p50_ns: LatencyNs
    p90_ns: LatencyNs
    p99_ns: LatencyNs
    p999_ns: LatencyNs
    p9999_ns: LatencyNs
    max_ns: LatencyNs


class LatencyPercentilesRecord(_OpenRecord, _LatencyFigures):
    """Latency percentiles (:class:`~lxdex_capacity.latency.harness.Percentiles`), in nanoseconds."""

    model_config = _OpenRecord.model_config  # extra keys kept (and checked finite), as every latency record's
    samples: PositiveCount


class CancelPercentilesRecord(LatencyPercentilesRecord):
    """The cancels' service time: no sample (all zero) when no timed cancel found its order."""

    samples: Count


class LatencyRateRecord(LatencyPercentilesRecord):
    """One offered rate (:class:`~lxdex_capacity.latency.harness.RatePoint`)."""

    offered_per_s: OfferedRate
    achieved_per_s: Achieved
    stalls: Count
    cancels: Count | None = None


class PlatformFloorRecord(_LatencyFigures):
    """The latency a zero-time engine would show for random arrivals, from the core's interruptions alone."""


class PlatformRecord(FileModel):
    """The core's own interruptions (:class:`~lxdex_capacity.latency.platform.Interruptions`)."""

    seconds: Annotated[float, Field(gt=0, le=3_600, allow_inf_nan=False)]
    per_s: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    lost_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    median_ns: LatencyNs
    max_ns: LatencyNs
    floor: PlatformFloorRecord


class LatencyRecord(_OpenRecord):
    """Per-order latency under load (:meth:`~lxdex_capacity.latency.harness.LatencyResult.as_dict`)."""

    markets: PlanMarkets
    seed: Count
    arrivals: Literal["poisson", "bursty", "lobster"]  # the harness's processes (latency.arrivals.KINDS)
    batch: LatencyBatch
    reserve: bool
    orders_per_rate: LatencyOrders
    counter_ns: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    ticks_per_ns: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
    service: LatencyPercentilesRecord
    capacity_per_s: Capacity
    rates: Annotated[list[LatencyRateRecord], Field(min_length=1)]
    cancel_service: CancelPercentilesRecord | None = None
    look_ahead: bool | None = None
    threads: Annotated[int, Field(ge=1, le=MAX_THREADS)] | None = None  # partitions, a thread and a core each (absent: 1)
    cancels_per_order: CancelsPerOrder | None = None
    injected_delay_ns: LatencyNs | None = None
    platform: PlatformRecord | None = None

    @model_validator(mode="after")
    def _physical(self) -> LatencyRecord:
        """What one engine of ``threads`` threads matched: within what that many cores do (:mod:`lxdex_capacity.physics`)."""
        cores = self.threads or 1
        problem = orders_per_s_problem("capacity_per_s", self.capacity_per_s, cores)
        for i, row in enumerate(self.rates):
            problem = problem or orders_per_s_problem(f"rates[{i}].achieved_per_s", row.achieved_per_s, cores)
        if problem:
            raise ValueError(problem)
        return self


class ResultsFile(FileModel):
    """A report's results.json, as :func:`~lxdex_capacity.reporting.report.collect` makes it."""

    format: Literal["lxdex-capacity-report/1"]
    kind: Literal["report"] | None = None  # since the figures carry their intervals (absent before)
    figures: dict[str, MeasuredFigureRecord] | None = None  # every timed figure by name (reporting.report.report_figures): checked by _consistent
    created: Timestamp
    command: Text
    environment: MachineRecord
    simulate: SimulateRecord
    model: ModelFile
    plan: PlanRecord
    latency: LatencyRecord | None = None  # absent when the report measured no latency

    @model_validator(mode="after")
    def _consistent(self) -> ResultsFile:
        problem = (simulate_problem(self.simulate, "simulate.") or _plan_problem(self) or _latency_problem(self)
                   or _figures_problem(self))
        if problem:
            raise ValueError(problem)
        return self


def _figures_problem(r: ResultsFile) -> str | None:
    """The report's ``figures`` must be the ones its sections hold (compare reads them)."""
    if r.figures is None:
        return None
    from .report import report_figures

    dumped = r.model_dump(mode="json")
    expected = report_figures({k: v for k, v in dumped.items() if k != "figures"})
    if set(dumped["figures"]) != set(expected):
        extra = sorted(set(dumped["figures"]) ^ set(expected))
        return f"figures[{extra[0]!r}]: not a figure of the report's sections (simulate.throughput.batches, latency.figures)"
    for name, figure in expected.items():
        mine = {k: v for k, v in dumped["figures"][name].items() if k != "machine"}
        if mine != {k: v for k, v in figure.items() if k != "machine"}:
            return f"figures[{name!r}]: not the figure its section holds"
    return None


def _decreasing(record: LatencyPercentilesRecord | PlatformFloorRecord, where: str) -> str | None:
    """The first percentile of ``record`` below the one before it, as ``where.key=value: ...``, or None."""
    for before, key in itertools.pairwise(LATENCY_KEYS):
        low, high = getattr(record, before), getattr(record, key)
        if high < low:
            return (f"{where}.{key}={high!r}: below {before}={low!r}; percentiles never decrease "
                    "(p50 <= p90 <= p99 <= p99.9 <= p99.99 <= max)")
    return None


def _above_max(record: PlatformFloorRecord, where: str) -> str | None:
    """The first percentile of ``record`` above its own max, as ``where.key=value: above max_ns=...``, or None."""
    for key in LATENCY_KEYS[:-1]:
        value = getattr(record, key)
        if value > record.max_ns:
            return f"{where}.{key}={value!r}: above max_ns={record.max_ns!r}"
    return None


def _platform_problem(p: PlatformRecord | None, where: str) -> str | None:
    """The first rule between the platform record's keys (:func:`lxdex_capacity.latency.platform.measure_interruptions`
    writes them) that ``p`` breaks, or None."""
    if p is None:
        return None
    if p.median_ns > p.max_ns:
        return f"{where}.median_ns={p.median_ns!r}: above max_ns={p.max_ns!r} (the median interruption is one of them)"
    if not _close(p.floor.max_ns, p.max_ns):
        return (f"{where}.floor.max_ns={p.floor.max_ns!r}: not max_ns={p.max_ns!r} (the longest interruption is the "
                "floor's max: an arrival at its start waits for all of it)")
    return _above_max(p.floor, f"{where}.floor") or _decreasing(p.floor, f"{where}.floor")


def _latency_problem(r: ResultsFile) -> str | None:
    """The first rule between the latency record's keys, or with the simulation's, that ``r`` breaks, or None."""
    lat = r.latency
    if lat is None:
        return None
    if lat.markets != r.simulate.markets:
        return f"latency.markets={lat.markets}: the latency run is on the report's scenario ({r.simulate.markets:,} markets)"
    if lat.seed != r.simulate.seed:
        return f"latency.seed={lat.seed}: the latency run is on the report's scenario (seed {r.simulate.seed})"
    problem = (_extra_problem(lat, "latency") or _extra_problem(lat.service, "latency.service")
               or _extra_problem(lat.cancel_service, "latency.cancel_service") or _decreasing(lat.service, "latency.service"))
    cancels = lat.cancel_service
    if problem is None and cancels is not None and cancels.samples:
        problem = _decreasing(cancels, "latency.cancel_service")
    elif problem is None and cancels is not None:  # no cancel timed: nothing measured, every figure 0
        timed = next((key for key in LATENCY_KEYS if getattr(cancels, key) != 0), None)
        if timed is not None:
            problem = (f"latency.cancel_service.{timed}={getattr(cancels, timed)!r}: but samples=0 (no cancel was timed, "
                       "so every figure is 0)")
    for i, row in enumerate(lat.rates):
        if problem:
            break
        where = f"latency.rates[{i}]"
        problem = _extra_problem(row, where) or _decreasing(row, where)
        if problem is None and row.samples > lat.orders_per_rate:
            problem = f"{where}.samples={row.samples}: more than the orders_per_rate={lat.orders_per_rate} offered"
        if problem is None and row.cancels is not None and row.cancels > row.samples:
            problem = f"{where}.cancels={row.cancels}: more than its samples={row.samples} (the cancels are among its messages)"
    return problem or _platform_problem(lat.platform, "latency.platform")


def _plan_problem(r: ResultsFile) -> str | None:
    """The first rule between the plan, the model and the simulation that ``r`` breaks, or None."""
    plan, model, request = r.plan, r.model, r.plan.request
    if request.markets != r.simulate.markets:
        return f"plan.request.markets={request.markets}: the report plans for the simulated markets ({r.simulate.markets:,})"
    if plan.model.runtime_bytes != model.runtime_bytes:
        return f"plan.model.runtime_bytes={plan.model.runtime_bytes!r}: not the model's runtime_bytes={model.runtime_bytes!r}"
    if plan.model.largest_markets_measured != model.largest_markets:
        return (f"plan.model.largest_markets_measured={plan.model.largest_markets_measured}: not the model's "
                f"largest_markets={model.largest_markets}")
    if plan.model.extrapolated != (request.markets > model.largest_markets):
        return (f"plan.model.extrapolated={plan.model.extrapolated}: the plan is for {request.markets:,} markets and the model "
                f"measured up to {model.largest_markets:,}")
    if plan.model.provenance != model.provenance:
        return "plan.model.provenance: not the model's provenance"
    if "scaling" in plan.model.model_fields_set and plan.model.scaling != model.scaling:
        return "plan.model.scaling: not the model's scaling section"
    coefficients = {t: getattr(model.fit.coefficients, t).value for t in TERMS}
    if plan.model.coefficients != coefficients:
        return f"plan.model.coefficients: not the model's fit ({', '.join(f'{t}={v!r}' for t, v in coefficients.items())})"
    if plan.model.r2 != model.fit.r2:
        return f"plan.model.r2={plan.model.r2!r}: not the model's fit.r2={model.fit.r2!r}"
    if not _close(request.resting_orders, request.orders_per_market * request.markets):
        return f"plan.request.resting_orders={request.resting_orders!r}: not orders_per_market x markets"

    points = model.points
    if points and not any(p.variant == "default" for p in points):
        return "model.points: none of the default variant, which the memory chart draws"
    from ..capacity.estimator import Estimator, Load
    from ..capacity.model import CapacityModel

    estimator = Estimator(CapacityModel.from_dict(r.model.model_dump(mode="json"), "model"))

    def load(markets: int, resting_orders: float) -> Load:
        return Load(markets, resting_orders, request.trades_retained, request.order_rate)

    def required(markets: int, resting_orders: float, engines: int | None = None) -> float:
        """One machine's: ``engines`` engine processes (default: the fewest that address the load)."""
        at = load(markets, resting_orders)
        engines = engines or at.engines_needed(estimator.price_levels(at))
        return estimator.machine_bytes(at, engines, request.safety)[0]

    planned = load(request.markets, request.resting_orders)
    estimate = estimator.estimate(planned).as_dict()
    if not _close(plan.engine_bytes, estimate["engine_bytes_used"]["bytes"]):
        return f"plan.engine_bytes={plan.engine_bytes!r}: not the estimator's engine bytes used for the planned load"
    echoed = {"markets": request.markets, "orders_per_market": request.orders_per_market, "resting_orders": request.resting_orders,
              "trades_retained": request.trades_retained, "order_rate": request.order_rate, "safety": request.safety,
              "os_reserve_gib": request.os_reserve_gib, "engines_per_machine": request.engines, "engines": 1}
    problem = _differs("plan.load", plan.load.model_dump(), echoed, "the plan's request")
    problem = problem or _differs("plan.estimate", plan.estimate.model_dump(), estimate, "the estimator's figures for the planned load")
    if problem:
        return problem
    from ..capacity.plan import ProfilePlan, recommendation

    expected = recommendation([ProfilePlan(**p.model_dump()) for p in plan.profiles], request.markets)
    got = plan.recommendation.model_dump() if plan.recommendation is not None else None
    if (got is None) != (expected is None):
        return f"plan.recommendation={'null' if got is None else 'set'}: not the cheapest way its profiles give"
    if got is not None and expected is not None:
        problem = _differs("plan.recommendation", got, expected, "the cheapest way its profiles give")
        if problem:
            return problem
    names = [p.name for p in plan.profiles]
    for i, p in enumerate(plan.profiles):
        where = f"plan.profiles[{i}]"
        if names.count(p.name) > 1:
            return f"{where}.name={p.name!r} is used twice"
        if p.usable_bytes > p.memory_bytes:
            return f"{where}.usable_bytes={p.usable_bytes}: more than memory_bytes={p.memory_bytes}"
        if not _close(p.required_bytes, required(request.markets, request.resting_orders, p.engines_per_machine)):
            return f"{where}.required_bytes={p.required_bytes!r}: not the estimator's required memory for the planned load"
        if not p.required_bytes_low <= p.required_bytes <= p.required_bytes_high:
            return f"{where}.required_bytes={p.required_bytes!r}: outside its interval [required_bytes_low, required_bytes_high]"
        if p.fits_memory != (p.required_bytes <= p.usable_bytes):
            return f"{where}.fits_memory={str(p.fits_memory).lower()}: but it needs {p.required_bytes:,.0f} of {p.usable_bytes:,} usable bytes"
        headroom = 100.0 * (p.usable_bytes - p.required_bytes) / p.usable_bytes if p.usable_bytes and p.fits_memory else None
        if (p.headroom_pct is None) != (headroom is None) or (p.headroom_pct is not None and headroom is not None
                                                              and not _close(p.headroom_pct, headroom)):
            return (f"{where}.headroom_pct={p.headroom_pct!r}: not 100 x (usable_bytes - required_bytes) / usable_bytes "
                    "(null when the load does not fit in memory)")
        if p.fits and not (p.fits_memory and p.order_rate_use_pct <= 100 + 1e-9):
            return f"{where}.fits=true: but its memory or its order rate ({p.order_rate_use_pct:,.1f}%) falls short"
        if not p.fits and p.fits_memory and p.order_rate_use_pct < 100 - 1e-9 and p.cores_use_pct <= 100:
            return f"{where}.fits=false: but its memory, its order rate ({p.order_rate_use_pct:,.1f}%) and its cores suffice"
        if p.machines_n_plus_1 != with_spare(p.machines):
            return (f"{where}.machines_n_plus_1={p.machines_n_plus_1!r}: must be {with_spare(p.machines)!r} for machines={p.machines!r} "
                    "(N + 1 for N >= 2 sharing the load; 1 when one holds it)")
        if (p.machines is None) != (p.machine_markets is None) or (p.machines is None) != (p.machine_required_bytes is None):
            return f"{where}: machine_markets and machine_required_bytes are set exactly when machines is (machines={p.machines!r})"
        for price, total in (("price_usd", "cluster_price_usd"), ("price_usd_hour", "cluster_price_usd_hour")):
            each, cluster_total = getattr(p, price), getattr(p, total)
            expected = each * p.machines_n_plus_1 if each is not None and p.machines_n_plus_1 is not None else None
            if (cluster_total is None) != (expected is None) or (cluster_total is not None and expected is not None
                                                                  and not _close(cluster_total, expected)):
                return f"{where}.{total}={cluster_total!r}: not machines_n_plus_1 x {price}"
    for key, price in (("cheapest_fit", "price_usd"), ("cheapest_cloud_fit", "price_usd_hour")):
        name = getattr(plan, key)
        if name is not None and not any(p.name == name and p.fits for p in plan.profiles):
            return f"plan.{key}={name!r}: not a profile of the plan that fits"
        if name is None and any(p.fits and getattr(p, price) is not None for p in plan.profiles):
            return f"plan.{key}=null: but a profile with a {price} fits"
    for key, total in (("cluster", "cluster_price_usd"), ("cluster_cloud", "cluster_price_usd_hour")):
        cluster = getattr(plan, key)
        if cluster is not None:
            of = next((p for p in plan.profiles if p.name == cluster.profile), None)
            if of is None:
                return f"plan.{key}.profile={cluster.profile!r}: not a profile of the plan"
            if (cluster.machines, cluster.machines_n_plus_1, getattr(cluster, total)) != (of.machines, of.machines_n_plus_1, getattr(of, total)):
                return f"plan.{key}: its machines and {total} are not those of profile {of.name!r}"
    for i, row in enumerate(plan.scaling):
        if not _close(row.required_bytes, required(row.markets, row.orders_per_market * row.markets)):
            return f"plan.scaling[{i}].required_bytes={row.required_bytes!r}: not the estimator's required memory at that size"
        if not row.required_bytes_low <= row.required_bytes <= row.required_bytes_high:
            return f"plan.scaling[{i}].required_bytes={row.required_bytes!r}: outside its interval"
        if row.extrapolated != (row.markets > model.largest_markets):
            return f"plan.scaling[{i}].extrapolated={row.extrapolated}: the model measured up to {model.largest_markets:,} markets"
        if row.smallest_fit is not None and row.smallest_fit not in names:
            return f"plan.scaling[{i}].smallest_fit={row.smallest_fit!r}: not a profile of the plan"
    return _calibration_problem(plan) or _slo_problem(plan) or _rate_problem(plan)


def _rate_problem(plan: PlanRecord) -> str | None:
    """The first profile whose order capacity does not follow from its rate per core and speedup, or whose modelled rate
    does not follow from its ``rate_model``; None when every one does."""
    for i, p in enumerate(plan.profiles):
        where = f"plan.profiles[{i}]"
        # A rate measured, swept or modelled is one core's, held to what a core can match (lxdex_capacity.physics); a
        # user's own figure to the hardware file's range.
        user_most = LIMITS["orders_per_s_per_core"][1]
        if p.rate_source == "user-given" and p.orders_per_s_per_core > user_most:
            return f"{where}.orders_per_s_per_core={p.orders_per_s_per_core!r}: above a hardware file's most ({user_most:g})"
        problem = p.rate_source != "user-given" and orders_per_s_problem(f"{where}.orders_per_s_per_core", p.orders_per_s_per_core)
        if problem:
            return problem
        modelled = p.rate_source == "modelled"
        if (p.rate_model is not None) != modelled:
            return f"{where}.rate_model: set exactly when rate_source is 'modelled' (rate_source={p.rate_source!r})"
        if p.scaling_source is not None and (p.scaling_source == "modelled") != modelled:
            return f"{where}.scaling_source={p.scaling_source!r}: 'modelled' exactly when the rate is (rate_source={p.rate_source!r})"
        if p.speedup is not None and not _close(p.order_capacity_per_s, p.orders_per_s_per_core * p.speedup):
            return f"{where}.order_capacity_per_s={p.order_capacity_per_s!r}: not orders_per_s_per_core x speedup"
        if p.rate_model is not None and p.cores is not None and p.rate_model.engines_sharing != max(p.cores, 1):
            return f"{where}.rate_model.engines_sharing={p.rate_model.engines_sharing}: not the cores its engines run on ({p.cores})"
        alone = ([1e9 / p.rate_model.ns_per_order_alone] + ([p.rate_model.bandwidth_bound_alone] if p.rate_model.bandwidth_bound_alone else [])
                 if p.rate_model is not None else [])
        if p.rate_model is not None and not _close(p.orders_per_s_per_core, min(alone)):
            return f"{where}.orders_per_s_per_core={p.orders_per_s_per_core!r}: not what its rate_model gives one engine alone"
    return None


def _calibration_problem(plan: PlanRecord) -> str | None:
    """The plan's ``calibration`` (:class:`~lxdex_capacity.capacity.plan.Calibration`) must be whole and its factor its ratio."""
    c = plan.calibration
    if c is None:
        return None
    from ..capacity.plan import Calibration

    keys = ("markets", "measured_per_s", "model_per_s", "source", "factor")
    if set(c) != set(keys):
        return f"plan.calibration: must have exactly the keys {', '.join(keys)}"
    if not isinstance(c["markets"], int) or isinstance(c["markets"], bool) or not 1 <= c["markets"] <= MAX_PLAN_MARKETS:
        return f"plan.calibration.markets={c['markets']!r}: must be a number of markets"
    if not isinstance(c["source"], str) or not c["source"].strip() or len(c["source"]) > 200:
        return f"plan.calibration.source={c['source']!r}: must be a short text"
    try:
        calibration = Calibration(c["markets"], c["measured_per_s"], c["model_per_s"], c["source"])
    except InputError as exc:
        return f"plan.{exc}"
    problem = orders_per_s_problem("plan.calibration.measured_per_s", calibration.measured_per_s)
    if problem:
        return problem
    if not isinstance(c["factor"], (int, float)) or not _close(float(c["factor"]), calibration.factor):
        return f"plan.calibration.factor={c['factor']!r}: not measured_per_s / model_per_s ({calibration.factor!r})"
    return None


def _slo_problem(plan: PlanRecord) -> str | None:
    """The first rule of the plan's ``latency_slo`` section (between its keys, and with the profiles' rates) that
    ``plan`` breaks, or None."""
    from ..capacity.plan import SLO_RATE_SOURCE, slo_verdict

    s, where = plan.latency_slo, "plan.latency_slo"
    if s is None:
        for i, profile in enumerate(plan.profiles):
            if profile.rate_source == SLO_RATE_SOURCE:
                return f"plan.profiles[{i}].rate_source={profile.rate_source!r}: but the plan has no latency_slo section"
        return None
    from ..latency.slo import (  # the latency package: only for a plan that has the section
        MAX_RUNS_PER_RATE,
        parse_slo,
        run_holds,
        run_median,
    )
    try:
        slo = parse_slo(s.slo, f"{where}.slo")
    except InputError as exc:
        return str(exc)
    if (slo.statistic, slo.strict) != (s.statistic, s.strict) or not _close(slo.bound_ns, s.bound_ns):
        return (f"{where}.slo={s.slo!r}: not statistic={s.statistic!r}, strict={str(s.strict).lower()}, "
                f"bound_ns={s.bound_ns!r}")
    if s.planned_markets != plan.request.markets:
        return f"{where}.planned_markets={s.planned_markets}: not the plan's request ({plan.request.markets:,} markets)"
    if s.markets > s.planned_markets:
        return f"{where}.markets={s.markets}: more than the planned_markets={s.planned_markets}"
    if s.low_per_s > s.high_per_s:
        return f"{where}.low_per_s={s.low_per_s!r}: above high_per_s={s.high_per_s!r}"
    if s.orders_per_offer < slo.samples_needed():
        return f"{where}.orders_per_offer={s.orders_per_offer}: {slo.statistic} needs at least {slo.samples_needed():,} per run"
    outcome = s.outcome if s.outcome is not None else ("holds" if s.rate_per_s > 0 else "fails")
    if s.met != (outcome == "holds" and s.rate_per_s > 0):
        return f"{where}.met={str(s.met).lower()}: but outcome={outcome!r}, rate_per_s={s.rate_per_s!r} (met: it holds at a rate above 0)"
    if s.outcome is not None and s.rate_per_s > s.capacity_per_s * (1 + 1e-9):
        return (f"{where}.rate_per_s={s.rate_per_s!r}: above the capacity_per_s={s.capacity_per_s!r} measured in the same run "
                "(no rate beyond what the engine sustains flat out can meet an SLO)")
    if s.outcome is not None and s.capacity is not None:
        cap = s.capacity.value
        if not _close(cap, s.capacity_per_s):
            return f"{where}.capacity.value={cap!r}: not capacity_per_s={s.capacity_per_s!r}"
    for key in ("capacity_per_s", "service_capacity_per_s", "orders_per_s"):  # one core's
        problem = getattr(s, key) is not None and orders_per_s_problem(f"{where}.{key}", getattr(s, key))
        if problem:
            return problem
    if not _close(s.orders_per_s, s.rate_per_s / (1.0 + s.cancels_per_order)):
        return f"{where}.orders_per_s={s.orders_per_s!r}: not rate_per_s / (1 + cancels_per_order)"
    runs = sum(len(p.values_ns) for p in s.points)
    if (s.offers < runs) if s.outcome is not None else (s.offers != runs):
        return f"{where}.offers={s.offers}: {'fewer than' if s.outcome is not None else 'not'} the runs its points list ({runs})"
    most_runs = max(s.repeats, MAX_RUNS_PER_RATE) if s.outcome is not None else s.repeats
    for i, p in enumerate(s.points):
        at = f"{where}.points[{i}]"
        if len(p.values_ns) > most_runs:
            return f"{at}.values_ns: {len(p.values_ns)} runs, more than {most_runs}"
        if p.achieved_per_s and len(p.achieved_per_s) != len(p.values_ns):
            return f"{at}.achieved_per_s: {len(p.achieved_per_s)} runs, but values_ns has {len(p.values_ns)}"
        if p.verdict is None:  # an older search: the higher middle run, and most runs decide
            if not _close(p.median_ns, run_median(p.values_ns)):
                return f"{at}.median_ns={p.median_ns!r}: not the median of its values_ns (the higher middle one of an even count)"
            achieved: tuple[float | None, ...] = tuple(p.achieved_per_s) or (None,) * len(p.values_ns)
            held = sum(run_holds(slo, p.rate_per_s, v, a) for v, a in zip(p.values_ns, achieved, strict=True))
            if p.holds != (held > len(p.values_ns) - held):
                return (f"{at}.holds={str(p.holds).lower()}: but most of its runs {'miss' if p.holds else 'meet'} {slo.text} "
                        f"(a run meets it when its figure does and it kept up with the offered rate)")
        else:
            if p.holds != (p.verdict == "holds"):
                return f"{at}.holds={str(p.holds).lower()}: but its verdict is {p.verdict!r}"
            low = p.low_ns if p.low_ns is not None else min(p.values_ns)
            high = p.high_ns if p.high_ns is not None else max(p.values_ns)
            if not min(p.values_ns) <= low <= p.median_ns <= high <= max(p.values_ns):
                return (f"{at}: low_ns={low!r} <= median_ns={p.median_ns!r} <= high_ns={high!r} must hold, within its runs' "
                        f"values ({min(p.values_ns)!r}..{max(p.values_ns)!r})")
            if p.verdict == "holds" and not (high < slo.bound_ns if slo.strict else high <= slo.bound_ns):
                return f"{at}.verdict='holds': but its interval reaches {high!r} ns, beyond {slo.text}"
        if p.holds and p.rate_per_s > s.rate_per_s * (1 + 1e-9):
            return f"{at}.rate_per_s={p.rate_per_s!r}: meets the SLO above {where}.rate_per_s={s.rate_per_s!r}"
    if s.met and not any(p.holds and _close(p.rate_per_s, s.rate_per_s) for p in s.points):
        return f"{where}.rate_per_s={s.rate_per_s!r}: not a rate tried that meets the SLO"
    if s.ceiling_per_s is not None and not (s.ceiling_per_s > s.rate_per_s and any(
            not p.holds and _close(p.rate_per_s, s.ceiling_per_s) for p in s.points)):
        return f"{where}.ceiling_per_s={s.ceiling_per_s!r}: not a rate tried above rate_per_s that misses the SLO"
    verdict = slo_verdict(s.model_dump(), plan.request.order_rate)
    if s.verdict != verdict:
        return f"{where}.verdict={s.verdict!r}: not what its figures say ({verdict!r})"
    for i, profile in enumerate(plan.profiles):
        if profile.rate_source != SLO_RATE_SOURCE:
            return (f"plan.profiles[{i}].rate_source={profile.rate_source!r}: a plan with a latency SLO plans every profile at its "
                    f"rate ({SLO_RATE_SOURCE!r})")
        if not _close(profile.orders_per_s_per_core, s.orders_per_s):
            return (f"plan.profiles[{i}].orders_per_s_per_core={profile.orders_per_s_per_core!r}: not "
                    f"{where}.orders_per_s={s.orders_per_s!r}")
    return None


def _differs(where: str, got: dict[str, Any], expected: dict[str, Any], what: str) -> str | None:
    """The first key of ``got`` (a record read from the file) not equal to ``expected`` (recomputed), or None;
    numbers compare up to float rounding, nested records key by key."""
    for key, want in expected.items():
        if key not in got:
            return f"{where}.{key} is missing ({what} has it: {want!r})"
        have = got[key]
        if isinstance(want, dict) and isinstance(have, dict):
            problem = _differs(f"{where}.{key}", have, want, what)
            if problem:
                return problem
        elif isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(have, (int, float)) and not isinstance(have, bool):
            if not _close(float(have), float(want)):
                return f"{where}.{key}={have!r}: not {what} ({want!r})"
        elif have != want:
            return f"{where}.{key}={have!r}: not {what} ({want!r})"
    return None


def _close(a: float, b: float) -> bool:
    """Equal but for float rounding: a figure the plan derived from others."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def check_results(data: Any, origin: str) -> ResultsFile:
    """``data`` (a parsed results.json) checked by :class:`ResultsFile`, or one :class:`InputError`."""
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt != RESULTS_FORMAT:
        found = f"format={fmt!r}" if isinstance(data, dict) else f"a JSON {type(data).__name__}, not an object"
        raise InputError(f"{origin}: not an lxdex report results file ({found}; format must be {RESULTS_FORMAT!r})")
    return validate(ResultsFile, data, origin)
