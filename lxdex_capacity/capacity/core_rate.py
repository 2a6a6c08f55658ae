"""The per-core rate model: how fast one core matches, from where the engine's lines are.

    time per order = compute + serial lines x (expected latency of a line the order touches)

- **compute** (ns) is the work an order costs when every line it touches is in L1; it scales with
  the clock (another machine's is ``compute x this clock / its clock``).
- **serial lines** is how many of the lines an order touches cost a full latency each: the lines it
  touches (about :data:`LINES_TOUCHED_PER_ORDER` by the engine's layout) over the misses the core
  overlaps.  Timings alone give only this ratio; the parallelism quoted is the layout's lines over it.
- **the expected latency of a line** is each level's latency weighted by the share of the order's
  lines that level serves: a level of capacity ``C`` holds the hottest ``C`` bytes of the state (the
  markets with the most flow per byte first: the scenario's Zipf activity over each market's record and
  resting orders, from the estimator's bytes per market and per order), and serves the share of the flow
  those bytes draw that the levels before it did not.  "Cold lines beyond a level" are the serial lines
  times the share of the flow beyond it.

The two coefficients are fitted (least squares, both at least 0) to the engine's measured time per
order across working sets from a few markets (every line cached) to millions (most lines from DRAM),
on this machine's measured hierarchy (:mod:`.hierarchy`); two working sets are left out of the fit
and predicted, and the error printed.  For a hardware profile the same coefficients run on its caches
and memory latency as published (:class:`ProfileMemory`); several engines on one machine share its
shared caches (each gets its share of an L2 cluster, an L3, a system-level cache) and its memory
bandwidth, which caps the machine's total rate.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..scenarios.activity import zipf_exponent_for_share
from ..scenarios.config import Scenario
from ..scenarios.tiers import DEFAULT_TIERS, Depth, scaled_depths, tier_ranges
from ..units import binary_bytes
from .hierarchy import Hierarchy, Level

__all__ = ["quantised_markets", "LINES_TOUCHED_PER_ORDER", "BANDWIDTH_EFFICIENCY", "Access", "WorkingSetPoint", "CoreRateFit", "CoreRateModel",
           "ProfileMemory", "fit_core_rate", "hit_shares", "expected_latency_ns"]

# The lines one order touches, by the engine's layout (engine/layout.py): its market's row, the best level's row,
# the maker order it fills (or the level's tail it queues behind), its own order slot, and the tape's and free
# lists' heads.  Only the bandwidth bound and the parallelism quoted use it; the fit does not.
LINES_TOUCHED_PER_ORDER = 7
BANDWIDTH_EFFICIENCY = 0.6  # the share of a machine's peak memory bandwidth random line reads sustain
MIN_LATENCY_SPREAD = 1.2  # a fit needs working sets whose expected line latency differs by at least this factor
_EXACT_RANKS = 1 << 12  # markets counted one by one; beyond, in log-spaced buckets of ranks (their flow changes little across one)
_BUCKETS = 2_000


@dataclass(frozen=True)
class Access:
    """How the flow spreads over the engine's bytes: per-market and per-order bytes, the tier table, the Zipf law."""

    market_bytes: float  # the capacity model's bytes per market
    order_bytes: float  # per resting order
    flow_share: float = 0.8  # this share of the flow goes to ...
    market_share: float = 0.2  # ... this share of the markets
    tiers: tuple[tuple[int | None, int, int], ...] = tuple((t.up_to_rank, t.low, t.high) for t in DEFAULT_TIERS)

    @classmethod
    def of(cls, coefficients: Sequence[float], scenario: Scenario) -> Access:
        """The access pattern of ``scenario``'s flow over an engine whose bytes the capacity model's ``coefficients``
        (base, per market, per resting order, per trade retained) give."""
        return cls(market_bytes=max(coefficients[1], 0.0), order_bytes=max(coefficients[2], 0.0), flow_share=scenario.flow_share,
                   market_share=scenario.market_share, tiers=tuple((t.up_to_rank, t.low, t.high) for t in scenario.tiers))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"tiers": [list(t) for t in self.tiers]}


@lru_cache(maxsize=4096)
def _exponent(markets: int, flow_share: float, market_share: float) -> float:
    """The scenario's Zipf exponent (:func:`~lxdex_capacity.scenarios.activity.zipf_exponent_for_share`), solved with
    1,000 exact terms rather than 100,000 (the rest by the integral): a plan asks for hundreds of market counts."""
    return zipf_exponent_for_share(markets, flow_share, market_share, exact_terms=1_000)


@lru_cache(maxsize=8192)
def _curve(access: Access, markets: int) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative bytes, cumulative share of the flow) over the markets, the most flow per byte first."""
    markets = max(int(markets), 1)
    # The exponent at the markets to two significant figures: it moves by ~1e-4 across them, and solving it costs more
    # than the rest of the curve.
    exponent = _exponent(max(round(markets, 1 - len(str(markets))), 1) if markets >= 100 else markets, access.flow_share,
                         access.market_share)
    ranges = list(tier_ranges(tuple(Depth(*t) for t in access.tiers), markets))
    # Groups of ranks [first, stop): one by one up to _EXACT_RANKS, log-spaced beyond, split at the tiers' edges.
    parts = [np.arange(min(markets, _EXACT_RANKS) + 1, dtype=np.float64),
             np.array([e for _, start, stop in ranges for e in (start, stop)], dtype=np.float64)]
    if markets > _EXACT_RANKS:
        parts.append(np.floor(np.geomspace(_EXACT_RANKS, markets, _BUCKETS)))
    bounds = np.unique(np.concatenate(parts))
    bounds = bounds[(bounds >= 0) & (bounds <= markets)]
    first, stop = bounds[:-1], bounds[1:]
    count = stop - first
    # Flow of ranks first+1..stop under rank**-exponent: exact for single ranks, the midpoint integral for buckets.
    if exponent == 1.0:
        bucket = np.log((stop + 0.5) / (first + 0.5))
    else:
        bucket = ((stop + 0.5) ** (1 - exponent) - (first + 0.5) ** (1 - exponent)) / (1 - exponent)
    single = count == 1
    bucket[single] = (first[single] + 1) ** -exponent
    flow = bucket / bucket.sum()
    depth = np.zeros_like(first)
    for tier, start, end in ranges:
        depth[(first >= start) & (first < end)] = (tier.low + tier.high) / 2
    nbytes = count * (access.market_bytes + depth * access.order_bytes)
    order = np.argsort(-(flow / np.maximum(nbytes, 1e-9)), kind="stable")
    cum_bytes = np.concatenate([[0.0], np.cumsum(nbytes[order])])
    cum_flow = np.concatenate([[0.0], np.cumsum(flow[order])])
    return cum_bytes, np.minimum(cum_flow / cum_flow[-1], 1.0)


def quantised_markets(markets: float) -> int:
    """``markets`` to three significant figures (at least 1): the curve barely moves between, and a plan asks about many
    nearby counts (markets over engines over machines), each of which would otherwise solve its own Zipf law."""
    m = max(round(markets), 1)
    if m < 1000:
        return m
    scale = 10 ** (len(str(m)) - 3)
    return round(m / scale) * scale


def hit_shares(access: Access, markets: float, capacities: Sequence[float]) -> list[float]:
    """The share of the flow whose lines fit in each of ``capacities`` (bytes, rising), for an engine of ``markets``
    (to three significant figures)."""
    cum_bytes, cum_flow = _curve(access, quantised_markets(markets))
    return [1.0 if math.isinf(c) else float(np.interp(c, cum_bytes, cum_flow)) for c in capacities]


def held_shares(access: Access, markets: float, levels: Sequence[tuple[float, float]]) -> list[float]:
    """The share of the flow whose lines each of ``levels`` (capacity bytes, latency ns; nearest first) or a nearer
    one holds: a running maximum of :func:`hit_shares` (a small SLC behind a large L2 serves no line the L2 does not)."""
    return list(itertools.accumulate(hit_shares(access, markets, [c for c, _ in levels]), max))


def expected_latency_ns(access: Access, markets: float, levels: Sequence[tuple[float, float]]) -> float:
    """The mean latency of a line an order touches: ``levels`` are (capacity bytes, latency ns), smallest first, the
    last unbounded (DRAM); each serves the share of the flow it holds beyond the levels before it."""
    total, before = 0.0, 0.0
    for (_, latency), share in zip(levels, held_shares(access, markets, levels), strict=True):
        total += (share - before) * latency
        before = share
    return total


def _pairs(levels: Sequence[Level], sharing: int = 1) -> list[tuple[float, float]]:
    """(capacity, latency) of ``levels`` for one engine of ``sharing`` on the machine: a shared level's capacity
    divided among the engines that share one instance of it."""
    out = []
    for lv in levels:
        share = lv.engines_per_instance(sharing)
        out.append((lv.capacity_bytes / share, lv.latency_ns))
    out[-1] = (math.inf, out[-1][1])
    return out


@dataclass(frozen=True)
class WorkingSetPoint:
    """The engine's time per order at ``markets`` markets on one core: the median of ``runs`` runs."""

    markets: int
    ns_per_order: float
    low: float
    high: float
    runs: int
    engine_bytes: int  # bytes used after the flow
    held_out: bool  # left out of the fit, to be predicted


@dataclass(frozen=True)
class CoreRateFit:
    compute_ns: float  # per order with every line in L1, at the measured clock
    serial_lines: float  # lines an order pays a full latency for
    r2: float
    rms_error_pct: float  # over the fitted points

    @property
    def parallelism(self) -> float | None:
        """Misses overlapped: the layout's lines touched over the serial lines fitted (None when none is serial)."""
        return LINES_TOUCHED_PER_ORDER / self.serial_lines if self.serial_lines > 0 else None


def fit_core_rate(points: Sequence[WorkingSetPoint], hierarchy: Hierarchy, access: Access) -> CoreRateFit:
    """Least squares (both coefficients at least 0) of ``ns_per_order = compute + serial_lines x expected latency``
    over the points not held out."""
    from scipy.optimize import nnls

    fitted = [p for p in points if not p.held_out]
    if len(fitted) < 3:
        raise ValueError(f"{len(fitted)} working sets to fit two coefficients: at least 3")
    pairs = _pairs(hierarchy.levels)
    x = np.array([[1.0, expected_latency_ns(access, p.markets, pairs)] for p in fitted])
    if len(hierarchy.levels) < 2 or x[:, 1].max() < MIN_LATENCY_SPREAD * x[:, 1].min():
        raise ValueError(f"the expected line latency hardly varies across the working sets fitted ({x[:, 1].min():.3g} to "
                         f"{x[:, 1].max():.3g} ns{'; no cache sizes were reported' if len(hierarchy.levels) < 2 else ''}): "
                         "they cannot tell compute from memory; sweep working sets from a few markets to beyond the last cache")
    y = np.array([p.ns_per_order for p in fitted])
    (compute, serial), _ = nnls(x, y)
    predicted = x @ np.array([compute, serial])
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - predicted) ** 2).sum()) / tss if tss > 0 else 1.0
    rms = float(np.sqrt(np.mean(((predicted - y) / y) ** 2))) * 100
    return CoreRateFit(float(compute), float(serial), r2, rms)


@dataclass(frozen=True)
class ProfileMemory:
    """A hardware profile's clock, caches and memory as published (the hardware file's keys), in the model's terms."""

    clock_ghz: float
    levels: tuple[Level, ...]  # L1d first, DRAM last
    bandwidth_gb_s: float | None
    line_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"clock_ghz": self.clock_ghz, "levels": [lv.as_dict() for lv in self.levels], "bandwidth_gb_s": self.bandwidth_gb_s,
                "line_bytes": self.line_bytes}

    def describe(self, sharing: int = 1) -> str:
        parts = []
        for lv in self.levels[:-1]:
            per = lv.engines_per_instance(sharing)
            each = f" ({binary_bytes(lv.capacity_bytes / per)} each of {per})" if per > 1 else ""
            parts.append(f"{lv.name} {binary_bytes(lv.capacity_bytes)}{each} {lv.latency_ns:.3g} ns")
        parts.append(f"DRAM {self.levels[-1].latency_ns:.3g} ns")
        return f"{self.clock_ghz:.3g} GHz, " + ", ".join(parts)


@dataclass(frozen=True)
class CoreRateModel:
    """The fit with what it was fitted on: this machine's hierarchy, the working sets, the access pattern."""

    hierarchy: Hierarchy
    access: Access
    points: tuple[WorkingSetPoint, ...]
    fit: CoreRateFit
    validation: tuple[dict[str, Any], ...] = field(default=())  # held-out points: predicted, measured, error_pct

    @classmethod
    def fitted(cls, hierarchy: Hierarchy, access: Access, points: Sequence[WorkingSetPoint]) -> CoreRateModel:
        fit = fit_core_rate(points, hierarchy, access)
        model = cls(hierarchy, access, tuple(points), fit)
        validation = tuple({"markets": p.markets, "predicted_ns": model.ns_per_order(p.markets), "measured_ns": p.ns_per_order,
                            "error_pct": 100.0 * (model.ns_per_order(p.markets) - p.ns_per_order) / p.ns_per_order}
                           for p in points if p.held_out)
        return cls(hierarchy, access, tuple(points), fit, validation)

    def with_depth(self, markets: int, resting_orders: float) -> CoreRateModel:
        """This model on books of another depth: its tier table scaled so that ``markets`` markets rest about
        ``resting_orders`` orders (the fit unchanged: the time an order takes is where its lines are, not how many)."""
        depths = scaled_depths(tuple(Depth(*t) for t in self.access.tiers), max(int(markets), 1), resting_orders)
        access = dataclasses.replace(self.access, tiers=tuple((d.up_to_rank, d.low, d.high) for d in depths))
        return dataclasses.replace(self, access=access)

    def ns_per_order(self, markets: float, memory: ProfileMemory | None = None, sharing: int = 1) -> float:
        """Predicted time per order of one engine of ``markets`` markets, on this machine or ``memory``'s,
        with ``sharing`` engines on the machine sharing its shared caches."""
        levels = memory.levels if memory is not None else self.hierarchy.levels
        clock = memory.clock_ghz if memory is not None else self.hierarchy.clock_ghz
        compute = self.fit.compute_ns * self.hierarchy.clock_ghz / clock
        return compute + self.fit.serial_lines * expected_latency_ns(self.access, markets, _pairs(levels, sharing))

    def bandwidth_bound(self, markets: float, memory: ProfileMemory, sharing: int = 1) -> float | None:
        """The most orders/s one of ``sharing`` engines gets from the machine's memory bandwidth
        (:data:`BANDWIDTH_EFFICIENCY` of the peak over the lines an order reads from DRAM); None: no bound known."""
        if not memory.bandwidth_gb_s:
            return None
        pairs = _pairs(memory.levels, sharing)
        from_dram = 1.0 - held_shares(self.access, markets, pairs)[-2] if len(pairs) > 1 else 1.0
        bytes_per_order = LINES_TOUCHED_PER_ORDER * from_dram * memory.line_bytes
        if from_dram < 1e-6:  # (nearly) nothing from DRAM: the bandwidth bounds nothing
            return None
        return memory.bandwidth_gb_s * 1e9 * BANDWIDTH_EFFICIENCY / bytes_per_order / max(sharing, 1)

    def orders_per_s(self, markets: float, memory: ProfileMemory | None = None, sharing: int = 1) -> float:
        """One core's predicted rate; with ``memory``, at most its share of the machine's memory bandwidth.  Memoised
        by the markets as the curve rounds them (a plan asks for the same few thousand hundreds of thousands of times)."""
        return _orders_per_s(self.fit, self.hierarchy.clock_ghz, self.hierarchy.levels, self.access, quantised_markets(markets), memory,
                             max(int(sharing), 1))

    def explain(self, markets: float, memory: ProfileMemory | None = None, sharing: int = 1) -> dict[str, Any]:
        """Each cache level as one of ``sharing`` engines of ``markets`` markets sees it (its capacity, latency, the
        share of the flow it holds, the serial lines per order beyond it), the working set, and one sentence why."""
        levels = memory.levels if memory is not None else self.hierarchy.levels
        pairs = _pairs(levels, sharing)
        shares = held_shares(self.access, markets, pairs[:-1])
        working_set = float(_curve(self.access, quantised_markets(markets))[0][-1])
        rows: list[dict[str, Any]] = [{"name": lv.name, "capacity_bytes": cap, "latency_ns": lat, "flow_share_held": share,
                 "serial_lines_beyond": self.fit.serial_lines * (1.0 - share)}
                for lv, (cap, lat), share in zip(levels[:-1], pairs[:-1], shares, strict=True)]
        rows.append({"name": levels[-1].name, "capacity_bytes": None, "latency_ns": pairs[-1][1], "flow_share_held": 1.0,
                     "serial_lines_beyond": 0.0})
        whole = [r for r in rows[:-1] if r["flow_share_held"] >= 0.999]
        each = f" (each of {sharing} engines' share)" if sharing > 1 else ""
        if whole:
            why = f"{markets:,.0f} markets ({binary_bytes(working_set)}) fit whole in its {whole[0]['name']} ({binary_bytes(whole[0]['capacity_bytes'])}{each})"
        else:
            caches = rows[:-1]
            best = next((r for r in caches if r["flow_share_held"] >= caches[-1]["flow_share_held"]), None) if caches else None
            held = (f"its {best['name']} ({binary_bytes(best['capacity_bytes'])}{each}) holds the lines of {100 * best['flow_share_held']:.0f}% "
                    "of the flow" if best else "it reports no cache")
            why = (f"{markets:,.0f} markets ({binary_bytes(working_set)}) do not fit in its caches: {held}; "
                   f"{self.fit.serial_lines * (1 - (best['flow_share_held'] if best else 0)):.2f} serial lines per order from DRAM at "
                   f"{pairs[-1][1]:.3g} ns")
        bound = self.bandwidth_bound(markets, memory, sharing) if memory is not None else None
        if memory is not None and bound is not None and bound < 1e9 / self.ns_per_order(markets, memory, sharing):
            why += (f"; the memory bandwidth ({memory.bandwidth_gb_s:g} GB/s over {sharing} engine{'s' if sharing > 1 else ''}) "
                    f"caps it at {bound / 1e6:,.3g}M orders/s")
        return {"levels": rows, "working_set_bytes": working_set, "why": why}

    def as_dict(self) -> dict[str, Any]:
        return {
            "formula": "ns per order = compute_ns x (clock here / clock there) + serial_lines x expected line latency",
            "hierarchy": self.hierarchy.as_dict(),
            "access": self.access.as_dict(),
            "points": [asdict(p) for p in self.points],
            "fit": asdict(self.fit) | {"lines_touched_per_order": LINES_TOUCHED_PER_ORDER, "parallelism": self.fit.parallelism},
            "validation": list(self.validation),
        }


@lru_cache(maxsize=1 << 16)
def _orders_per_s(fit: CoreRateFit, clock_here: float, levels_here: tuple[Level, ...], access: Access, markets: int,
                  memory: ProfileMemory | None, sharing: int) -> float:
    """:meth:`CoreRateModel.orders_per_s` of a model made of ``fit``, ``clock_here``, ``levels_here`` and ``access``."""
    model = CoreRateModel(Hierarchy((), (), levels_here, 1.0, clock_here, 64), access, (), fit)
    rate = 1e9 / model.ns_per_order(markets, memory, sharing)
    bound = model.bandwidth_bound(markets, memory, sharing) if memory is not None else None
    return min(rate, bound) if bound is not None else rate



# --- the model file's ``core_rate`` section ---------------------------------------------------------------------
# Ranges: wide enough for any machine, narrow enough that a hand-edited figure that breaks physics is refused.
MAX_NS_PER_ORDER = 1e7  # 10 ms an order: slower is no matching engine
MAX_LATENCY_NS = 1e5  # 100 µs a load: slower is no memory
MAX_BYTES = float(1 << 50)
REFIT_TOLERANCE = 1e-6  # relative: a stored coefficient or prediction against what the stored points give


def _schema() -> Any:
    """The pydantic models of the section, built on first use (plan reads a model file without them otherwise)."""
    from typing import Annotated

    from pydantic import Field, model_validator

    from ..physics import MAX_CLOCK_GHZ, MIN_ACCESS_NS, MIN_NS_PER_ORDER
    from ..schema import Count, FileModel, at_least, error_at

    Bytes = Annotated[int, Field(ge=1, le=int(MAX_BYTES))]
    # A load answers in MIN_ACCESS_NS at least, an order is matched in MIN_NS_PER_ORDER at least (lxdex_capacity.physics).
    Nanoseconds = Annotated[float, Field(ge=MIN_ACCESS_NS, le=MAX_LATENCY_NS)]
    NsPerOrder = Annotated[float, Field(ge=MIN_NS_PER_ORDER, le=MAX_NS_PER_ORDER)]
    Text = Annotated[str, Field(max_length=2000)]

    class CacheLevelFile(FileModel):
        name: Annotated[str, Field(min_length=1, max_length=20)]
        size_bytes: Bytes
        shared_by: Annotated[int, Field(ge=0, le=1 << 20)]
        line_bytes: Annotated[int, Field(ge=8, le=4096)]
        source: Text

    class LatencyPointFile(FileModel):
        bytes: Bytes
        ns: Nanoseconds
        low: Nanoseconds
        high: Nanoseconds
        runs: Annotated[int, Field(ge=1, le=10_000)]

        _order = at_least("ns", than="low")
        _top = at_least("high", than="ns")

    class LevelFile(FileModel):
        name: Annotated[str, Field(min_length=1, max_length=20)]
        capacity_bytes: Annotated[float, Field(gt=0, le=MAX_BYTES)] | None  # None: unbounded (DRAM)
        latency_ns: Nanoseconds
        shared_by: Annotated[int, Field(ge=0, le=1 << 20)]
        reported_bytes: Annotated[int, Field(ge=0, le=int(MAX_BYTES))]
        instances: Annotated[int, Field(ge=1, le=1 << 20)] = 1

    class HierarchyFile(FileModel):
        caches: Annotated[list[CacheLevelFile], Field(max_length=16)]
        curve: Annotated[list[LatencyPointFile], Field(min_length=2, max_length=1000)]
        levels: Annotated[list[LevelFile], Field(min_length=2, max_length=17)]  # a cache at least, and memory
        misses_in_flight: Annotated[float, Field(ge=0.5, le=1000)]
        clock_ghz: Annotated[float, Field(ge=0.05, le=MAX_CLOCK_GHZ)]
        line_bytes: Annotated[int, Field(ge=8, le=4096)]
        command: Text = ""

        @model_validator(mode="after")
        def _rising(self) -> Any:
            for k in range(1, len(self.curve)):
                if self.curve[k].bytes <= self.curve[k - 1].bytes:
                    raise error_at(("curve", k, "bytes"), self.curve[k].bytes, f"must be above curve[{k - 1}].bytes: smallest working set first")
            last = self.levels[-1]
            if last.capacity_bytes is not None:
                raise error_at(("levels", len(self.levels) - 1, "capacity_bytes"), last.capacity_bytes, "the last level is memory: unbounded (null)")
            for k, lv in enumerate(self.levels[:-1]):
                if lv.capacity_bytes is None:
                    raise error_at(("levels", k, "capacity_bytes"), None, "only the last level (memory) is unbounded")
                if k and lv.latency_ns < self.levels[k - 1].latency_ns:
                    raise error_at(("levels", k, "latency_ns"), lv.latency_ns, f"below levels[{k - 1}]'s {self.levels[k - 1].latency_ns!r}: "
                                                                               "a farther level is not faster")
            if len(self.levels) > 1 and last.latency_ns < self.levels[-2].latency_ns:
                raise error_at(("levels", len(self.levels) - 1, "latency_ns"), last.latency_ns, "memory faster than a cache")
            return self

    class AccessFile(FileModel):
        market_bytes: Annotated[float, Field(ge=0, le=MAX_BYTES)]
        order_bytes: Annotated[float, Field(ge=0, le=MAX_BYTES)]
        flow_share: Annotated[float, Field(gt=0, le=1)]
        market_share: Annotated[float, Field(gt=0, le=1)]
        tiers: Annotated[list[Annotated[list[Count | None], Field(min_length=3, max_length=3)]], Field(min_length=1, max_length=1000)]

        @model_validator(mode="after")
        def _tiers(self) -> Any:
            for k, (up_to, low, high) in enumerate(self.tiers):
                if low is None or high is None or not 0 <= low <= high or (up_to is not None and up_to < 1):
                    raise error_at(("tiers", k), self.tiers[k], "must be [up_to_rank or null, low, high] with 0 <= low <= high")
            return self

    class WorkingSetPointFile(FileModel):
        markets: Annotated[int, Field(ge=1, le=10**12)]
        ns_per_order: NsPerOrder
        low: NsPerOrder
        high: NsPerOrder
        runs: Annotated[int, Field(ge=1, le=10_000)]
        engine_bytes: Bytes
        held_out: bool

        _order = at_least("ns_per_order", than="low")
        _top = at_least("high", than="ns_per_order")

    class FitFile(FileModel):
        compute_ns: Annotated[float, Field(ge=0, le=MAX_NS_PER_ORDER)]
        serial_lines: Annotated[float, Field(ge=0, le=1000)]
        r2: Annotated[float, Field(ge=-1e6, le=1)]
        rms_error_pct: Annotated[float, Field(ge=0, le=1e6)]
        lines_touched_per_order: Annotated[float, Field(gt=0, le=1000)] | None = None
        parallelism: Annotated[float, Field(gt=0)] | None = None

    class ValidationFile(FileModel):
        markets: Annotated[int, Field(ge=1, le=10**12)]
        predicted_ns: Annotated[float, Field(gt=0, le=MAX_NS_PER_ORDER * 10)]
        measured_ns: NsPerOrder
        error_pct: Annotated[float, Field(ge=-1e6, le=1e6)]

    class CoreRateFile(FileModel):
        """``core_rate`` of a model file: :meth:`CoreRateModel.as_dict` (``lxdex sweep``)."""

        formula: Text | None = None
        hierarchy: HierarchyFile
        access: AccessFile
        points: Annotated[list[WorkingSetPointFile], Field(min_length=3, max_length=10_000)]
        fit: FitFile
        validation: Annotated[list[ValidationFile], Field(max_length=10_000)] = Field(default_factory=list)

        @model_validator(mode="after")
        def _reproduced(self) -> Any:
            """The fit and the predictions must be the ones the stored points give: a hand-edited coefficient would
            plan every profile on what nothing measured."""
            model = core_rate_from_file(self)
            try:
                refit = fit_core_rate(model.points, model.hierarchy, model.access)
            except ValueError as exc:
                raise error_at(("points",), len(self.points), str(exc)) from None
            for name in ("compute_ns", "serial_lines"):
                stored, fitted = getattr(self.fit, name), getattr(refit, name)
                if not math.isclose(stored, fitted, rel_tol=REFIT_TOLERANCE, abs_tol=1e-9):
                    raise error_at(("fit", name), stored, f"not what the stored points give ({fitted:.6g}): refit with lxdex sweep")
            # How well the fit reproduces its points: what the points give too, so that a moved point is not covered by
            # an unchanged R².
            for name, tolerance in (("r2", 1e-9), ("rms_error_pct", 1e-6)):
                stored, fitted = getattr(self.fit, name), getattr(refit, name)
                if not math.isclose(stored, fitted, rel_tol=REFIT_TOLERANCE, abs_tol=tolerance):
                    raise error_at(("fit", name), stored, f"not what the stored points give about the fit ({fitted:.9g})")
            held = {p.markets for p in self.points if p.held_out}
            measured = {p.markets: p.ns_per_order for p in self.points}
            for k, v in enumerate(self.validation):
                if v.markets not in held:
                    raise error_at(("validation", k, "markets"), v.markets, "not a held-out working set of points")
                if not math.isclose(v.measured_ns, measured[v.markets], rel_tol=REFIT_TOLERANCE):
                    raise error_at(("validation", k, "measured_ns"), v.measured_ns,
                                   f"not the held-out point's ns_per_order ({measured[v.markets]!r})")
                predicted = model.ns_per_order(v.markets)
                if not math.isclose(v.predicted_ns, predicted, rel_tol=1e-6):
                    raise error_at(("validation", k, "predicted_ns"), v.predicted_ns, f"not the model's prediction ({predicted:.6g})")
                if not math.isclose(v.error_pct, 100 * (v.predicted_ns - v.measured_ns) / v.measured_ns, rel_tol=1e-6, abs_tol=1e-9):
                    raise error_at(("validation", k, "error_pct"), v.error_pct, "must be 100 x (predicted_ns - measured_ns) / measured_ns")
            return self

    return CoreRateFile


@lru_cache(maxsize=1)
def core_rate_schema() -> Any:
    """The pydantic model of a model file's ``core_rate`` section (``CoreRateFile``)."""
    return _schema()


def core_rate_from_file(f: Any) -> CoreRateModel:
    """The :class:`CoreRateModel` of a validated ``core_rate`` section."""
    hierarchy = Hierarchy.from_dict(f.hierarchy.model_dump())
    a = f.access
    access = Access(a.market_bytes, a.order_bytes, a.flow_share, a.market_share, tuple(tuple(t) for t in a.tiers))
    points = tuple(WorkingSetPoint(**p.model_dump()) for p in f.points)
    fit = CoreRateFit(f.fit.compute_ns, f.fit.serial_lines, f.fit.r2, f.fit.rms_error_pct)
    return CoreRateModel(hierarchy, access, points, fit, tuple(v.model_dump() for v in f.validation))
