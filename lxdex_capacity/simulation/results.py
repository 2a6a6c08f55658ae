"""The typed result of a simulation, one schema whatever the execution, and its JSON form.

``SimulationResult.to_dict()`` is what ``lxdex simulate --json`` prints and ``simulate.json``
holds, tagged ``"format": "lxdex-simulate/2"``; :meth:`SimulationResult.from_dict` reads it back
(``lxdex report --simulate``), checked by :class:`SimulateFile` (pydantic, :mod:`lxdex_capacity.schema`):
every key typed and in its physical range (markets 1 to 100,000,000, counts and bytes at least 0,
finite rates), and the rules between keys (:func:`simulate_problem`: phases empty, seeded, traded in
that order, shards whose markets add up, checksums present exactly when no shard failed, ...).  A sharded run has the same fields as a one-process run, plus each
shard's figures under ``shards`` and the shards that failed under ``failed_shards``.

Units: bytes are bytes, seconds are seconds, rates are per second, latencies nanoseconds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from .. import __version__
from ..engine.partitioned import MAX_THREADS
from ..errors import InputError
from ..machine import machine_info
from ..measure.records import FigureRecord
from ..physics import (
    MAX_CORES,
    MAX_LOGICAL_CPUS,
    MAX_LOOKUPS_PER_S,
    MAX_MEMORY_BYTES,
    MIN_ACCESS_NS,
    SUM_TOLERANCE,
    access_ns_problem,
    orders_per_s_problem,
    rss_problem,
    sums_to,
)
from ..profiling.memory import ProcessMemory
from ..scenarios.config import MAX_MARKETS, Scenario
from ..schema import Count, FileModel, Name, OpenShare, PositiveCount, Share, at_least, validate

__all__ = ["SIMULATE_FORMAT", "PhaseResult", "Throughput", "ShardResult", "Execution", "SimulationResult",
           "SimulateRecord", "SimulateFile", "MachineRecord", "simulate_problem", "check_format"]

SIMULATE_FORMAT = "lxdex-simulate/2"
PHASES = ("empty", "seeded", "traded")
MAX_SHARDS = 4096  # the most shards one run splits into (``lxdex simulate --shards``)
LOOKUPS = 2_000_000  # best-bid and best-ask lookups of a run's probes, a pass (shared by its shards): timed inside the run


@dataclass(frozen=True)
class PhaseResult:
    """Memory after one phase, summed over every engine of the run (RSS over every process holding one)."""

    name: str
    markets: int
    resting_orders: int
    price_levels: int
    trades: int
    trades_retained: int  # on the tapes, in memory
    engine_bytes_used: int
    engine_bytes_reserved: int
    components: dict[str, dict[str, int]]  # component -> {"bytes_used", "bytes_reserved"}
    traced_bytes: int  # numpy's live buffers, traced by tracemalloc (0 where not traced)
    rss_bytes: int
    uss_bytes: int
    book_bytes_per_order: float  # order rows, price levels and id index, per resting order
    seconds: float


@dataclass(frozen=True)
class Throughput:
    orders_per_s: float  # flow orders / seconds in Engine.submit, summed over shards: one core's rate
    flow_orders: int
    flow_seconds: float
    cancels: int
    cancel_seconds: float  # bookkeeping and cancels after each batch
    lookups_per_s: float
    random_access_ns_p50: float
    random_access_ns_p99: float
    random_access_method: str
    random_access_histogram: dict[str, list[float]]  # log-spaced bin "edges" (ns) and "counts"
    parallel_orders_per_s: float = 0.0  # the sum of every shard's rate: what they sustain at once, a core each
    # One core's orders/s batch by batch, each batch in the machine's window (lxdex_capacity.measure.Figure.as_dict):
    # its interval, spread and whether the machine was quiet; None in results saved before it was measured.
    batches: dict[str, Any] | None = None


@dataclass(frozen=True)
class ShardResult:
    """One shard's part of a run.  ``error`` is set (and the figures are those it reached) if it failed."""

    shard: int
    markets: int
    expected_flow_share: float  # of the run's flow orders, from the Zipf weights of its markets
    expected_resting_orders: float  # from the tier table
    resting_orders: int = 0
    price_levels: int = 0
    trades: int = 0
    flow_orders: int = 0
    flow_seconds: float = 0.0
    orders_per_s: float = 0.0
    cancels: int = 0
    engine_bytes_used: int = 0
    engine_bytes_reserved: int = 0
    rss_bytes: int = 0
    peak_rss_bytes: int = 0
    elapsed_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Execution:
    """How the run was executed; nothing here changes its markets, trades or checksums."""

    mode: str  # "process": one engine; "shards": several engines in this process; "dask": on Dask workers
    shards: int
    assignment: str  # which shard holds which market
    scheduler: str | None = None
    threads: int = 1  # each engine's markets partitioned across this many threads (Engine(threads=k))


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    baseline: ProcessMemory  # of the process that ran the simulation, before any engine existed
    phases: list[PhaseResult]
    throughput: Throughput
    elapsed_s: float
    market_checksum: str | None  # None when a shard failed
    tape_checksum: str | None
    estimate_bytes: int
    universe: dict[str, int]
    stalled: bool  # the flow stopped producing fills before reaching scenario.trades
    breakdown: dict[str, Any]  # per-market bytes by component and tier, after trading
    distributions: dict[str, Any]  # depth by rank, Lorenz curve of trades
    execution: Execution
    shards: list[ShardResult] = field(default_factory=list)
    failed_shards: list[int] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=lambda: machine_info().as_dict())  # where it ran (the coordinator)
    version: str = __version__

    def phase(self, name: str) -> PhaseResult:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no phase {name!r} (phases: {', '.join(p.name for p in self.phases)})")

    @property
    def traded(self) -> PhaseResult:
        return self.phase("traded")

    @property
    def per_market_bytes(self) -> float:
        """Engine bytes used after trading, per market: everything the engines hold, shared out."""
        return self.phase("traded").engine_bytes_used / self.scenario.markets

    @property
    def per_order_bytes(self) -> float:
        """Order, level and id-index bytes used per resting order, after seeding."""
        return self.phase("seeded").book_bytes_per_order

    def to_dict(self) -> dict[str, Any]:
        batches = self.throughput.batches
        return {
            "format": SIMULATE_FORMAT,
            "kind": "simulate",
            "figures": {"orders_per_s": batches} if batches is not None else {},
            "version": self.version,
            "seed": self.scenario.seed,
            "markets": self.scenario.markets,
            "universe": self.universe,
            "scenario": self.scenario.as_dict(),
            "execution": asdict(self.execution),
            "baseline": asdict(self.baseline),
            "estimate_bytes": self.estimate_bytes,
            "phases": [asdict(p) for p in self.phases],
            "per_market_bytes": self.per_market_bytes,
            "per_order_bytes": self.per_order_bytes,
            "throughput": asdict(self.throughput),
            "elapsed_s": self.elapsed_s,
            "market_checksum": self.market_checksum,
            "tape_checksum": self.tape_checksum,
            "stalled": self.stalled,
            "breakdown": self.breakdown,
            "distributions": self.distributions,
            "shards": [asdict(s) for s in self.shards],
            "failed_shards": self.failed_shards,
            "machine": self.machine,
        }

    @classmethod
    def from_dict(cls, data: Any, origin: str = "simulate file") -> SimulationResult:
        """Read :meth:`to_dict`'s output back, checked by :class:`SimulateFile`: anything missing, of the
        wrong type, out of range or inconsistent is one ``InputError`` naming ``origin`` and the key."""
        check_format(data, origin)
        return validate(SimulateFile, data, origin).result()


# --- the saved result's schema --------------------------------------------------------------------
# simulate.json (and the ``simulate`` key of a report's results.json) as pydantic models: types and
# ranges here, the rules between keys (phases in order, shards that add up, checksums present exactly
# when no shard failed, ...) in :func:`simulate_problem`.

Markets = Annotated[int, Field(ge=1, le=MAX_MARKETS)]
Checksum = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # SHA-256, lowercase hex
Text = Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"\S")]
Seconds = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]  # 30 years: no run takes longer
Rate = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]  # per second; 10^15 is beyond any machine
Nanoseconds = Annotated[float, Field(ge=0, le=3.6e12, allow_inf_nan=False)]  # an hour
PerUnitBytes = Annotated[float, Field(ge=0, le=2**50, allow_inf_nan=False)]  # bytes per market or per order
ShardId = Annotated[int, Field(ge=0, le=MAX_SHARDS)]


def check_format(data: Any, origin: str) -> None:
    """``InputError`` unless ``data`` is a JSON object tagged with this version's simulate format."""
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt != SIMULATE_FORMAT:
        found = f"format={fmt!r}" if isinstance(data, dict) else f"a JSON {type(data).__name__}, not an object"
        raise InputError(f"{origin}: not an lxdex simulate result of this version ({found}, expected "
                         f"{SIMULATE_FORMAT!r}); re-run lxdex simulate --out")


class ComponentRecord(FileModel):
    bytes_used: Count
    bytes_reserved: Count


class PhaseRecord(FileModel):
    name: Literal["empty", "seeded", "traded"]
    markets: Markets
    resting_orders: Count
    price_levels: Count
    trades: Count
    trades_retained: Count
    engine_bytes_used: Count
    engine_bytes_reserved: Count
    components: dict[Name, ComponentRecord]
    traced_bytes: Count
    rss_bytes: Count
    uss_bytes: Count
    book_bytes_per_order: PerUnitBytes
    seconds: Seconds


class HistogramRecord(FileModel):
    edges: list[Annotated[float, Field(gt=0, le=3.6e12, allow_inf_nan=False)]]  # ns, log-spaced
    counts: list[Count]


class ThroughputRecord(FileModel):
    orders_per_s: Rate
    flow_orders: Count
    flow_seconds: Seconds
    cancels: Count
    cancel_seconds: Seconds
    lookups_per_s: Rate
    random_access_ns_p50: Nanoseconds
    random_access_ns_p99: Nanoseconds
    random_access_method: Text
    random_access_histogram: HistogramRecord
    parallel_orders_per_s: Rate
    batches: FigureRecord | None = None  # one core's orders/s batch by batch


class ShardRecord(FileModel):
    shard: ShardId
    markets: Markets
    expected_flow_share: Share
    expected_resting_orders: Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)]
    resting_orders: Count
    price_levels: Count
    trades: Count
    flow_orders: Count
    flow_seconds: Seconds
    orders_per_s: Rate
    cancels: Count
    engine_bytes_used: Count
    engine_bytes_reserved: Count
    rss_bytes: Count
    peak_rss_bytes: Count
    elapsed_s: Seconds
    error: Text | None  # why it failed; null if it did not


class ExecutionRecord(FileModel):
    mode: Literal["process", "shards", "dask"]
    shards: Annotated[int, Field(ge=1, le=MAX_SHARDS)]
    assignment: Text
    scheduler: Text | None
    threads: Annotated[int, Field(ge=1, le=MAX_THREADS)] = 1


class MemoryRecord(FileModel):
    rss_bytes: Count
    uss_bytes: Count


class UniverseRecord(FileModel):
    securities: Count
    crypto: Count


class MachineRecord(FileModel):
    """Where a run ran: :meth:`lxdex_capacity.machine.MachineInfo.as_dict`."""

    processor: Text
    cores: Annotated[int, Field(ge=1, le=MAX_CORES)]  # physical: no machine has more (lxdex_capacity.physics)
    logical_cpus: Annotated[int, Field(ge=1, le=MAX_LOGICAL_CPUS)]
    memory_bytes: Annotated[int, Field(ge=1, le=MAX_MEMORY_BYTES)]
    architecture: Text
    platform: Text
    python: Text
    numpy: Text
    numba: Text
    lxdex_capacity: Text

    _threads_per_core = at_least("logical_cpus", than="cores")  # each physical core runs one hardware thread or more


class BreakdownRow(FileModel):
    name: Text
    markets: PositiveCount
    resting_orders_mean: Annotated[float, Field(ge=0, le=2**40, allow_inf_nan=False)]
    price_levels_mean: Annotated[float, Field(ge=0, le=2**40, allow_inf_nan=False)]
    bytes_mean: dict[Name, PerUnitBytes]  # component -> mean bytes per market
    total_mean: Annotated[float, Field(gt=0, le=2**50, allow_inf_nan=False)]


class BreakdownRecord(FileModel):
    components: Annotated[dict[Name, Text], Field(min_length=1)]  # component -> label
    all: BreakdownRow
    tiers: list[BreakdownRow]
    engine_bytes_used: Count
    engine_bytes_reserved: Count
    spare_pool_bytes_per_market: PerUnitBytes


class DepthRecord(FileModel):
    rank: list[Annotated[int, Field(ge=1, le=MAX_MARKETS)]]
    resting_orders: list[Count]


class LorenzRecord(FileModel):
    market_share: list[Share]
    activity_share: list[Share]


class DistributionsRecord(FileModel):
    depth_by_rank: DepthRecord
    trades_lorenz: LorenzRecord
    trades_top_share: Share
    top_market_share: OpenShare


def _empty_as_none(value: Any) -> Any:
    """``{}`` (what a run with no finished shard writes) as None; null itself is not a table."""
    if value is None:
        raise ValueError("must be a table of keys ({} when no shard finished)")
    return None if value == {} else value


class SimulateRecord(FileModel):
    """Every key of :meth:`SimulationResult.to_dict`, typed and ranged; :class:`SimulateFile` adds the
    rules between keys (:func:`simulate_problem`)."""

    format: Literal["lxdex-simulate/2"]
    kind: Literal["simulate"] | None = None  # since speed figures carry their intervals (absent before)
    figures: dict[str, FigureRecord] | None = None  # the timed figures by name (throughput.batches as "orders_per_s")
    version: Text
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)]
    markets: Markets
    universe: UniverseRecord
    scenario: Scenario
    execution: ExecutionRecord
    baseline: MemoryRecord
    estimate_bytes: PositiveCount
    phases: list[PhaseRecord]
    per_market_bytes: PerUnitBytes
    per_order_bytes: PerUnitBytes
    throughput: ThroughputRecord
    elapsed_s: Seconds
    market_checksum: Checksum | None
    tape_checksum: Checksum | None
    stalled: bool
    breakdown: Annotated[BreakdownRecord | None, BeforeValidator(_empty_as_none)]  # {}: no shard finished
    distributions: Annotated[DistributionsRecord | None, BeforeValidator(_empty_as_none)]
    shards: list[ShardRecord]
    failed_shards: list[ShardId]
    machine: MachineRecord

    @model_validator(mode="before")
    @classmethod
    def _whole_scenario(cls, data: Any) -> Any:
        """A saved run's scenario holds every parameter: a missing one would silently become the default."""
        scenario = data.get("scenario") if isinstance(data, dict) else None
        if isinstance(scenario, dict):
            missing = [name for name in Scenario.model_fields if name not in scenario]
            if missing:
                raise ValueError(f"scenario.{missing[0]} is required (a saved run records every scenario parameter)")
        return data

    def result(self) -> SimulationResult:
        """The typed result these figures describe."""
        return SimulationResult(
            scenario=self.scenario,
            baseline=ProcessMemory(**self.baseline.model_dump()),
            phases=[PhaseResult(**p.model_dump()) for p in self.phases],
            throughput=Throughput(**self.throughput.model_dump()),
            elapsed_s=self.elapsed_s,
            market_checksum=self.market_checksum,
            tape_checksum=self.tape_checksum,
            estimate_bytes=self.estimate_bytes,
            universe=self.universe.model_dump(),
            stalled=self.stalled,
            breakdown=self.breakdown.model_dump() if self.breakdown else {},
            distributions=self.distributions.model_dump() if self.distributions else {},
            execution=Execution(**self.execution.model_dump()),
            shards=[ShardResult(**s.model_dump()) for s in self.shards],
            failed_shards=list(self.failed_shards),
            machine=self.machine.model_dump(),
            version=self.version,
        )


class SimulateFile(SimulateRecord):
    """A saved ``lxdex simulate`` result (simulate.json): :class:`SimulateRecord` and its cross-key rules."""

    @model_validator(mode="after")
    def _consistent(self) -> SimulateFile:
        problem = simulate_problem(self)
        if problem:
            raise ValueError(problem)
        return self


def _close(a: float, b: float) -> bool:
    """Equal but for float rounding: figures the writer derived from others (a rate, a mean)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def simulate_problem(r: SimulateRecord, at: str = "") -> str | None:
    """The first rule between keys that ``r`` breaks, as ``key=value: what is wrong`` (keys prefixed
    with ``at``, e.g. ``"simulate."``), or None."""
    s, e = r.scenario, r.execution
    if r.markets != s.markets:
        return f"{at}markets={r.markets}: the scenario has {s.markets:,} markets (scenario.markets)"
    if r.seed != s.seed:
        return f"{at}seed={r.seed}: the scenario's seed is {s.seed} (scenario.seed)"
    if r.universe.securities + r.universe.crypto != r.markets:
        return (f"{at}universe: {r.universe.securities:,} securities + {r.universe.crypto:,} crypto must add up to "
                f"markets={r.markets:,}")
    names = [p.name for p in r.phases]
    if names != list(PHASES):
        return f"{at}phases must be {', '.join(PHASES)} in that order, not {names}"
    if r.baseline.uss_bytes > r.baseline.rss_bytes:
        return f"{at}baseline.uss_bytes={r.baseline.uss_bytes}: more than rss_bytes={r.baseline.rss_bytes} (USS is part of RSS)"
    for i, p in enumerate(r.phases):
        where = f"{at}phases[{i}]"
        if p.markets != r.markets:
            return f"{where}.markets={p.markets}: the run has markets={r.markets:,}"
        if p.name == "empty" and (p.resting_orders or p.price_levels or p.trades):
            return f"{where}: the empty phase holds no orders, price levels or trades"
        if p.name == "seeded" and p.trades:
            return f"{where}.trades={p.trades}: the seeded phase has no trades yet"
        if p.price_levels > p.resting_orders:
            return f"{where}.price_levels={p.price_levels}: more price levels than resting orders ({p.resting_orders})"
        tape = s.trades_retained  # each shard's tape keeps its last `tape` trades
        if not min(p.trades, tape) <= p.trades_retained <= min(p.trades, tape * e.shards):
            return (f"{where}.trades_retained={p.trades_retained}: the tapes of {e.shards} shard(s) of "
                    f"{tape:,} trades keep from {min(p.trades, tape):,} to {min(p.trades, tape * e.shards):,} of its {p.trades:,} trades")
        if p.engine_bytes_used > p.engine_bytes_reserved:
            return f"{where}.engine_bytes_used={p.engine_bytes_used}: more than engine_bytes_reserved={p.engine_bytes_reserved}"
        if p.uss_bytes > p.rss_bytes:
            return f"{where}.uss_bytes={p.uss_bytes}: more than rss_bytes={p.rss_bytes} (USS is part of RSS)"
        for name, c in p.components.items():
            if c.bytes_used > c.bytes_reserved:
                return f"{where}.components.{name}.bytes_used={c.bytes_used}: more than its bytes_reserved={c.bytes_reserved}"
        if p.components:
            used = sum(c.bytes_used for c in p.components.values())
            reserved = sum(c.bytes_reserved for c in p.components.values())
            if used != p.engine_bytes_used or reserved != p.engine_bytes_reserved:
                return (f"{where}.components add up to {used} bytes used and {reserved} reserved, not the phase's "
                        f"engine_bytes_used={p.engine_bytes_used} and engine_bytes_reserved={p.engine_bytes_reserved}")
    seeded, traded = r.phases[1], r.phases[2]
    if not _close(r.per_market_bytes, traded.engine_bytes_used / r.markets):
        return f"{at}per_market_bytes={r.per_market_bytes!r}: not the traded phase's engine bytes used per market"
    if not _close(r.per_order_bytes, seeded.book_bytes_per_order):
        return f"{at}per_order_bytes={r.per_order_bytes!r}: not the seeded phase's book_bytes_per_order"

    t = r.throughput
    figures = r.figures or {}
    if set(figures) - {"orders_per_s"}:
        return (f"{at}figures.{sorted(set(figures) - {'orders_per_s'})[0]}: a simulate result times one figure, "
                "orders_per_s (throughput.batches)")
    kept = figures.get("orders_per_s")
    if (r.figures is not None and (kept is None) != (t.batches is None)) or (
            kept is not None and t.batches is not None and kept.model_dump() != t.batches.model_dump()):
        return f"{at}figures.orders_per_s: not throughput.batches (one figure, kept in both places)"
    if not _close(t.orders_per_s, t.flow_orders / t.flow_seconds if t.flow_seconds else 0.0):
        return (f"{at}throughput.orders_per_s={t.orders_per_s!r}: not flow_orders / flow_seconds "
                f"({t.flow_orders} / {t.flow_seconds!r})")
    if t.random_access_ns_p50 > t.random_access_ns_p99:
        return f"{at}throughput.random_access_ns_p50={t.random_access_ns_p50!r}: above the p99 ({t.random_access_ns_p99!r})"
    h = t.random_access_histogram
    if (h.edges or h.counts) and len(h.edges) != len(h.counts) + 1:
        return (f"{at}throughput.random_access_histogram: {len(h.edges)} edges for {len(h.counts)} counts "
                "(a histogram has one edge more than bins)")
    if any(b <= a for a, b in itertools.pairwise(h.edges)):
        return f"{at}throughput.random_access_histogram.edges must increase"

    failed = r.failed_shards
    if e.mode == "process" and e.shards != 1:
        return f"{at}execution.shards={e.shards}: a run in one process has one shard (execution.mode='process')"
    if e.shards > r.markets:
        return f"{at}execution.shards={e.shards}: more shards than markets ({r.markets:,})"
    if failed != sorted(set(failed)) or any(k >= e.shards for k in failed):
        return f"{at}failed_shards={failed}: must list distinct shards below execution.shards={e.shards}, in order"
    if (r.market_checksum is None or r.tape_checksum is None) != bool(failed):
        return (f"{at}market_checksum and tape_checksum are set when every shard finished, and null when one failed "
                f"(failed_shards={failed})")
    if e.shards == 1 and r.shards:
        return f"{at}shards: a run of one shard (execution.shards=1) lists none"
    if e.shards > 1:
        if len(r.shards) != e.shards:
            return f"{at}shards lists {len(r.shards)} shards, execution.shards={e.shards}"
        for k, part in enumerate(r.shards):
            if part.shard != k:
                return f"{at}shards[{k}].shard={part.shard}: shards are listed in order, from 0"
            if (part.error is not None) != (k in failed):
                return f"{at}shards[{k}].error={part.error!r}: a shard has an error exactly when failed_shards lists it"
        if sum(p.markets for p in r.shards) != r.markets:
            return f"{at}shards: their markets add up to {sum(p.markets for p in r.shards):,}, not markets={r.markets:,}"
        if not math.isclose(sum(p.expected_flow_share for p in r.shards), 1.0, abs_tol=1e-6):
            return f"{at}shards: their expected_flow_share add up to {sum(p.expected_flow_share for p in r.shards)!r}, not 1"
        if not failed:
            for key in ("resting_orders", "trades", "engine_bytes_used"):
                total = sum(getattr(p, key) for p in r.shards)
                if total != getattr(traded, key):
                    return f"{at}shards: their {key} add up to {total:,}, not the traded phase's {getattr(traded, key):,}"
    if not failed and not r.stalled and traded.trades < s.trades:
        return (f"{at}phases[2].trades={traded.trades}: fewer than the scenario's {s.trades:,}, "
                "yet the run neither stalled nor lost a shard")
    if r.stalled and traded.trades >= s.trades:
        return f"{at}stalled=true: but the traded phase reached the scenario's {s.trades:,} trades"
    if s.trades == 0 and traded.trades:
        return f"{at}phases[2].trades={traded.trades}: the scenario asks for no trades (scenario.trades=0)"

    b = r.breakdown
    if b is not None:
        for name, row in (("all", b.all), *((f"tiers[{i}]", row) for i, row in enumerate(b.tiers))):
            if set(row.bytes_mean) != set(b.components):
                return f"{at}breakdown.{name}.bytes_mean must have a figure per component ({', '.join(b.components)})"
            if not math.isclose(row.total_mean, sum(row.bytes_mean.values()), rel_tol=1e-6):
                return f"{at}breakdown.{name}.total_mean={row.total_mean!r}: not the sum of its bytes_mean"
        if (b.engine_bytes_used, b.engine_bytes_reserved) != (traded.engine_bytes_used, traded.engine_bytes_reserved):
            return (f"{at}breakdown.engine_bytes_used={b.engine_bytes_used}, engine_bytes_reserved={b.engine_bytes_reserved}: "
                    "not the traded phase's")
        if not _close(b.spare_pool_bytes_per_market, (b.engine_bytes_reserved - b.engine_bytes_used) / b.all.markets):
            return (f"{at}breakdown.spare_pool_bytes_per_market={b.spare_pool_bytes_per_market!r}: not "
                    "(engine_bytes_reserved - engine_bytes_used) / all.markets")
        if sum(row.markets for row in b.tiers) != b.all.markets or b.all.markets > r.markets:
            return f"{at}breakdown: the tiers' markets must add up to all.markets={b.all.markets:,}, at most markets={r.markets:,}"
    d = r.distributions
    if d is not None:
        if len(d.depth_by_rank.rank) != len(d.depth_by_rank.resting_orders):
            return f"{at}distributions.depth_by_rank: rank and resting_orders must have the same length"
        ranks = d.depth_by_rank.rank
        if any(rank > r.markets for rank in ranks) or any(b <= a for a, b in itertools.pairwise(ranks)):
            return f"{at}distributions.depth_by_rank.rank: ranks must increase, from 1 to markets={r.markets:,}"
        curve = d.trades_lorenz
        if len(curve.market_share) != len(curve.activity_share):
            return f"{at}distributions.trades_lorenz: market_share and activity_share must have the same length"
        if any(b < a for a, b in itertools.pairwise(curve.market_share)) or any(b < a for a, b in itertools.pairwise(curve.activity_share)):
            return f"{at}distributions.trades_lorenz: a Lorenz curve never decreases"
        if curve.market_share and not (curve.market_share[0] == curve.activity_share[0] == 0 and curve.market_share[-1] == 1
                                       and curve.activity_share[-1] in (0, 1)):
            return f"{at}distributions.trades_lorenz: a Lorenz curve runs from (0, 0) to (1, 1) (to (1, 0) without trades)"
        if d.top_market_share != s.market_share:
            return f"{at}distributions.top_market_share={d.top_market_share!r}: not the scenario's market_share={s.market_share!r}"
    return _memory_problem(r, at) or _breakdown_problem(r, at) or _timing_problem(r, at) or _trades_problem(r, at)


def _timing_problem(r: SimulateRecord, at: str) -> str | None:
    """The first figure measured in time that no machine reaches (:mod:`lxdex_capacity.physics`), or that does not follow
    from the counts and seconds it was computed from, or None."""
    t, e, traded = r.throughput, r.execution, r.phases[2]
    cores = e.threads  # one engine partitioned across threads runs on that many cores
    problem = (orders_per_s_problem(f"{at}throughput.orders_per_s", t.orders_per_s, cores)
               or orders_per_s_problem(f"{at}throughput.parallel_orders_per_s", t.parallel_orders_per_s, cores * e.shards))
    if problem:
        return problem
    if t.batches is not None:
        problem = orders_per_s_problem(f"{at}throughput.batches.high", t.batches.high, cores)
        if problem:
            return problem
    if t.flow_orders and not t.flow_seconds:
        return f"{at}throughput.flow_seconds=0.0: but {t.flow_orders:,} flow orders were timed (a measured time is above 0)"
    if t.lookups_per_s > MAX_LOOKUPS_PER_S:
        return (f"{at}throughput.lookups_per_s={t.lookups_per_s!r}: more random lookups a second than one core makes "
                f"({MAX_LOOKUPS_PER_S:,.0f}: each answers in {MIN_ACCESS_NS:g} ns at least)")
    if t.lookups_per_s or t.random_access_ns_p99:  # both 0: no shard was left to probe
        problem = access_ns_problem(f"{at}throughput.random_access_ns_p50", t.random_access_ns_p50)
        if problem:
            return problem
    failed = bool(r.failed_shards)
    if not failed and r.shards:
        for k, part in enumerate(r.shards):
            where = f"{at}shards[{k}]"
            rate = part.flow_orders / part.flow_seconds if part.flow_seconds else 0.0
            if not _close(part.orders_per_s, rate):
                return f"{where}.orders_per_s={part.orders_per_s!r}: not flow_orders / flow_seconds ({part.flow_orders} / {part.flow_seconds!r})"
            problem = orders_per_s_problem(f"{where}.orders_per_s", part.orders_per_s, cores)
            if problem:
                return problem
        for key in ("flow_orders", "cancels"):
            total = sum(getattr(p, key) for p in r.shards)
            if total != getattr(t, key):
                return f"{at}throughput.{key}={getattr(t, key)}: not the sum of the shards' ({total:,})"
        if not sums_to(t.flow_seconds, math.fsum(p.flow_seconds for p in r.shards)):
            return f"{at}throughput.flow_seconds={t.flow_seconds!r}: not the sum of the shards' flow_seconds"
    if not failed and not sums_to(t.parallel_orders_per_s, math.fsum(p.orders_per_s for p in r.shards) if r.shards else t.orders_per_s):
        return (f"{at}throughput.parallel_orders_per_s={t.parallel_orders_per_s!r}: not the sum of every shard's orders/s "
                "(one shard: throughput.orders_per_s)")
    if not failed:
        # The flow is timed inside the traded phase: one shard after another in this process, at once on Dask's workers.
        at_once = e.shards if e.mode == "dask" else 1
        inside = t.flow_seconds + t.cancel_seconds
        if inside > traded.seconds * at_once * (1 + SUM_TOLERANCE) + 1e-6:
            return (f"{at}throughput.flow_seconds={t.flow_seconds!r}: with cancel_seconds={t.cancel_seconds!r}, longer than the "
                    f"traded phase they were timed in (phases[2].seconds={traded.seconds!r})")
    phases = math.fsum(p.seconds for p in r.phases)
    if r.elapsed_s < phases * (1 - SUM_TOLERANCE):
        return f"{at}elapsed_s={r.elapsed_s!r}: shorter than its phases ({phases!r} s together)"
    # The probes time at least LOOKUPS lookups (best bid and ask on random markets, three passes) inside the run.
    if t.lookups_per_s and not r.failed_shards and LOOKUPS / t.lookups_per_s > r.elapsed_s * e.shards * (1 + SUM_TOLERANCE):
        return (f"{at}throughput.lookups_per_s={t.lookups_per_s!r}: the probes' {LOOKUPS:,} lookups at that rate take longer "
                f"than the whole run (elapsed_s={r.elapsed_s!r})")
    return None


def _trades_problem(r: SimulateRecord, at: str) -> str | None:
    """The traded phase's trades must be what the scenario's target and the orders allow, or the first reason why not."""
    s, e, t = r.scenario, r.execution, r.throughput
    seeded, traded = r.phases[1], r.phases[2]
    # The run stops at the first batch that reaches the target; one batch prints at most a tape's worth of trades on each
    # shard (more is refused as it runs: Shard.step), and each tape holds the scenario's trades_retained, to a power of two.
    tape = 1 << max(s.trades_retained - 1, 0).bit_length()
    most = s.trades - 1 + e.shards * tape if s.trades else 0
    if traded.trades > most:
        return (f"{at}phases[2].trades={traded.trades}: more than a run of scenario.trades={s.trades:,} prints (it stops at the "
                f"first batch that reaches them, and a batch prints at most a tape of {tape:,} trades on each of {e.shards} shard(s))")
    # Every fill uses up the resting order it meets, or it is the last fill of the incoming order: at most the orders
    # resting after seeding and the flow's, less those still resting, plus one partial fill per flow order.
    fills = seeded.resting_orders + 2 * t.flow_orders - traded.resting_orders
    if not r.failed_shards and traded.trades > fills:
        return (f"{at}phases[2].trades={traded.trades}: more fills than the orders allow ({fills:,}: each fill uses up a resting "
                f"order or ends a flow order; seeded {seeded.resting_orders:,} resting, {t.flow_orders:,} flow orders, "
                f"{traded.resting_orders:,} still resting)")
    return None


def _memory_problem(r: SimulateRecord, at: str) -> str | None:
    """The first resident set smaller than a process, or than the engine's rows it holds, or None."""
    problem = rss_problem(f"{at}baseline.rss_bytes", r.baseline.rss_bytes, 0)
    if problem:
        return problem
    memory = r.machine.memory_bytes  # resident pages are this machine's memory (Dask workers may be other machines)
    resident = [("baseline.rss_bytes", r.baseline.rss_bytes)] + [(f"phases[{i}].rss_bytes", p.rss_bytes) for i, p in enumerate(r.phases)]
    for key, value in resident if r.execution.mode != "dask" else resident[:1]:
        if value > memory:
            return f"{at}{key}={value!r}: more resident than the machine's memory (machine.memory_bytes={memory:,})"
    for i, p in enumerate(r.phases):
        if p.resting_orders and not p.book_bytes_per_order:
            return (f"{at}phases[{i}].book_bytes_per_order={p.book_bytes_per_order!r}: {p.resting_orders:,} resting orders "
                    "are held in bytes (their rows, levels and ids)")
    for i, p in enumerate(r.phases):
        # Measured in this process (one engine or several); on Dask, each worker's, where a worker reported one.
        if p.rss_bytes or r.execution.mode != "dask":
            problem = rss_problem(f"{at}phases[{i}].rss_bytes", p.rss_bytes, p.engine_bytes_used)
            if problem:
                return problem
    for k, part in enumerate(r.shards):
        if part.rss_bytes:
            problem = rss_problem(f"{at}shards[{k}].rss_bytes", part.rss_bytes, part.engine_bytes_used)
            if problem:
                return problem
    return None


def _breakdown_problem(r: SimulateRecord, at: str) -> str | None:
    """The per-market breakdown must add up: its tiers to its whole, and (every shard finished) its whole to the traded
    phase's counts and bytes; the first figure that does not, or None."""
    b = r.breakdown
    if b is None:
        return None
    everything = b.all
    for key in ("resting_orders_mean", "price_levels_mean", "total_mean"):
        whole = getattr(everything, key) * everything.markets
        tiers = math.fsum(getattr(row, key) * row.markets for row in b.tiers)
        if b.tiers and not sums_to(whole, tiers):
            return f"{at}breakdown.all.{key}={getattr(everything, key)!r}: not the tiers' ({tiers / everything.markets!r} over all.markets)"
    for name in b.components:
        whole = everything.bytes_mean[name] * everything.markets
        tiers = math.fsum(row.bytes_mean[name] * row.markets for row in b.tiers)
        if b.tiers and not sums_to(whole, tiers):
            return f"{at}breakdown.all.bytes_mean.{name}={everything.bytes_mean[name]!r}: not the tiers' over all.markets"
    if r.failed_shards or everything.markets != r.markets:
        return None
    traded = r.phases[2]
    for key, total in (("resting_orders_mean", traded.resting_orders), ("price_levels_mean", traded.price_levels),
                       ("total_mean", traded.engine_bytes_used)):
        if not sums_to(getattr(everything, key) * r.markets, total):
            return (f"{at}breakdown.all.{key}={getattr(everything, key)!r}: not the traded phase's {key.removesuffix('_mean')} "
                    f"per market ({total:,} over {r.markets:,} markets)")
    return None
