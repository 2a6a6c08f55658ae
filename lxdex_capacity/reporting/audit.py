"""``lxdex audit``: check a report's claims against measurement.

A claims file (TOML, ``[[claim]]`` tables; see ``data/published_claims.toml``) states figures such
as "N markets with M orders fit in X MB", "orders/s at least Y" or "random access at most Z".
Claims about the same load share its simulation runs (phases empty, seeded and traded): ``repeats``
runs (at least :data:`MIN_REPEATS`), each on a fresh engine with its own seed (``seed``, ``seed + 1``,
...), so memory figures vary with the flow and timings with the machine.  A measured claim's figure
is the median of its repeats, with an order-statistic confidence interval for that median
(:func:`median_interval`; five repeats: their minimum to maximum, 93.8%).  Loads larger than
``max_measure`` markets are predicted by the capacity model instead, with its 95% prediction
interval, and say so.  Every claim gets one of these verdicts: it **holds** when the whole interval is
on the claim's side of the claimed figure, it **fails** when the whole interval is on the other side;
a memory claim whose interval straddles the claimed figure is **too close to call** (:func:`three_way`).
A timed claim (orders/s, lookups/s, random access, latency) is judged by the measurement discipline
(:func:`lxdex_capacity.measure.judge`): each run in its machine window, a claim measured while the
machine was busy, or whose interval straddles the claimed figure, is **too noisy to call**: never a
hold or a fail.

A claim's trades are retained on a tape of ``trades_retained`` trades (default: the engine's tape,
:data:`~lxdex_capacity.engine.core.DEFAULT_TAPE_CAPACITY`); the tape is a ring, so a run uses the
smallest power of two at least that large (and at least 1,024), and the verdict's basis says so.

A **latency** claim (``metric = "latency"``, "sub-microsecond latency for all operations") bounds the
per-order latency (completion minus arrival, :mod:`lxdex_capacity.latency`) from above, on the
statistics it covers (``statistics``, default p99 and max: "all operations" is every one of them), under
the offered load it names (``offered_rate`` orders/s, ``arrivals``, ``batch``, ``reserve``d pools,
``orders_per_repeat``).  Its repeats (``repeats``, default the audit's) are offered runs on one engine
seeded once (seed ``seed``), each with its own arrivals (seeds ``seed``, ``seed + 1``, ...) and its own
orders; each named statistic gets the median of its repeats, that median's interval and a three-way
verdict, and the claim's verdict is the worst of them: it holds only if every statistic holds.

The file is checked by :class:`ClaimsFile` (pydantic, :mod:`lxdex_capacity.schema`): unknown keys,
wrong types, figures that are not finite, negative or beyond any machine, loads outside the
simulator's range are one error naming the file, the line and the key (``claim[2].at_most``).
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from ..engine.core import DEFAULT_TAPE_CAPACITY
from ..engine.partitioned import MAX_THREADS
from ..errors import CheckFailed, InputError
from ..machine import usable_cores
from ..measure import Figure, MachineState, RepeatPolicy, judge, median_interval, open_window, summarise
from ..scenarios.config import MAX_MARKETS, Scenario
from ..scenarios.tiers import DEFAULT_TIERS, MAX_DEPTH, expected_orders, scaled_tiers
from ..schema import FileModel, Name, one_line_text, read_text, read_toml, validate
from ..simulation.results import SimulationResult

__all__ = ["Claim", "LatencyLoad", "ClaimsFile", "Verdict", "load_claims", "published_claims_path", "audit", "parse_quantity", "scenario_for",
           "latency_scenario", "samples_needed", "tape_for", "median_interval", "three_way", "MIN_REPEATS", "MAX_REPEATS", "VERDICTS", "STATISTICS"]

METRICS = {  # metric -> (unit kind, unit printed)
    "memory": ("bytes", "B"),
    "memory_per_market": ("bytes", "B"),
    "orders_per_s": ("rate", "orders/s"),
    "lookups_per_s": ("rate", "lookups/s"),
    "random_access": ("time", "ns"),
    "latency": ("time", "ns"),
}
_UNITS = {
    "bytes": {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40},
    "time": {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9},  # in nanoseconds
    "rate": {"": 1, "k": 1e3, "m": 1e6, "g": 1e9},
}
# Beyond these a figure is not a claim about a machine: an exabyte, a quadrillion per second, an hour per access.
_LARGEST = {"bytes": 1e18, "rate": 1e15, "time": 3.6e12}
_LARGEST_TEXT = {"bytes": "1 EB (10^18 bytes)", "rate": "10^15 per second", "time": "an hour (3.6e12 ns)"}
MAX_TRADES = 10**12  # as a scenario's
MAX_CLAIMS = 1000  # claims in one file: each is measured (or predicted) on its own; the published report makes a dozen
MIN_TAPE, MAX_TAPE = 1024, 1 << 30  # a scenario's tape (trades_retained): a power of two in this range
MIN_REPEATS = 5  # runs per measured load: fewer give no verdict
MAX_REPEATS = 100  # as ``lxdex audit --repeats``
# A latency claim's statistics: name in the claims file -> the field of a latency Percentiles, in rising order.
STATISTICS = {"p50": "p50_ns", "p90": "p90_ns", "p99": "p99_ns", "p99.9": "p999_ns", "p99.99": "p9999_ns", "max": "max_ns"}
DEFAULT_STATISTICS = ("p99", "max")  # "all operations": the tail and every one
MIN_LATENCY_ORDERS = 1_000  # orders per repeat, as the latency harness's MIN_ORDERS: fewer give no tail
MAX_LATENCY_ORDERS = 100_000_000  # as ``lxdex latency --orders-per-rate``
DEFAULT_LATENCY_ORDERS = 100_000
MAX_OFFERED_RATE = 1e10  # orders/s, as ``lxdex latency --rates``
MAX_OFFER_S = 600.0  # one repeat offers its orders over orders / rate seconds of wall time: at most this
MAX_CANCELS_PER_ORDER = 10.0  # as the latency harness's
MIN_LATENCY_BOUND_NS = 1.0  # as an SLO's (latency.slo.MIN_BOUND_NS): the cycle counter resolves about 10 ns
VERDICTS = ("holds", "fails", "too close to call", "too noisy to call")
TIMED_METRICS = ("orders_per_s", "lookups_per_s", "random_access", "latency")  # measured in time: the machine's state matters

Metric = Literal["memory", "memory_per_market", "orders_per_s", "lookups_per_s", "random_access", "latency"]  # METRICS' keys
Measure = Literal["engine_bytes_used", "engine_bytes_reserved", "rss_bytes", "rss_above_baseline"]
Phase = Literal["empty", "seeded", "traded"]
Statistic = Literal["p50", "p90", "p99", "p99.9", "p99.99", "max"]  # STATISTICS' keys
Arrivals = Literal["poisson", "bursty"]  # the latency harness's processes that need no recorded day
Text = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(one_line_text)]


def _quantity(value: Any, kind: str) -> float:
    """``value`` in the unit of ``kind`` (bytes, per second, nanoseconds); ``ValueError`` saying what is wrong."""
    units = _UNITS[kind]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|infinity|nan))\s*([A-Za-zµ]*)\s*",
                             value, flags=re.IGNORECASE)
        if not match or match.group(2).lower() not in units:
            known = ", ".join(u for u in units if u) or "none"
            raise ValueError(f"must be a number with one of the units {known}" if kind != "rate"
                             else f"must be a number, optionally with one of the suffixes {known}")
        number = float(match.group(1)) * units[match.group(2).lower()]
    else:
        raise ValueError("must be a number or a string with a unit")
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must not be negative")
    if number > _LARGEST[kind]:
        raise ValueError(f"is beyond any machine: at most {_LARGEST_TEXT[kind]}")
    return number


def parse_quantity(value: Any, kind: str, name: str) -> float:
    """``"83 MB"`` -> 83e6 bytes, ``"0.03 us"`` -> 30 ns, ``"33.7M"`` or 33.7e6 -> 33.7e6 per second;
    ``InputError`` naming ``name`` if it is not a finite, non-negative, plausible figure."""
    try:
        return _quantity(value, kind)
    except ValueError as exc:
        raise InputError(f"{name}={value!r} {exc}") from None


@dataclass(frozen=True)
class LatencyLoad:
    """The offered load a latency claim is measured under, and what of it the claim covers."""

    offered_per_s: float
    arrivals: str
    batch: int
    reserve: bool  # pools sized first, so that no run stalls while one grows
    orders: int  # offered per repeat
    statistics: tuple[str, ...]  # STATISTICS' keys, in rising order
    repeats: int | None = None  # None: the audit's
    cancels_per_order: float | None = None  # cancels mixed into the offered flow; None: the scenario's (none)

    @property
    def seconds(self) -> float:
        """Wall time one repeat offers its orders over."""
        return self.orders / self.offered_per_s


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    metric: str
    markets: int
    resting_orders: int | None  # resting after seeding; None: the tier table's
    trades: int
    phase: str
    bound: str  # "at_most" or "at_least"
    claimed: float  # in the metric's unit: bytes, per second, nanoseconds
    measure: str  # memory metrics: which bytes count
    trades_retained: int = DEFAULT_TAPE_CAPACITY  # the history the claim counts; a run's tape: tape_for(this)
    note: str | None = None  # how the claim is read or measured, as the claims file says
    latency: LatencyLoad | None = None  # latency claims: the offered load
    threads: int = 1  # orders/s claims: the engine's markets across this many threads (Engine(threads=k))

    @property
    def unit(self) -> str:
        return METRICS[self.metric][1]

    @property
    def tape(self) -> int:
        """The tape a simulation of this claim keeps: :func:`tape_for` its ``trades_retained``."""
        return tape_for(self.trades_retained)

    @property
    def load(self) -> tuple[int, int | None, int, int, int]:
        """What a simulation run depends on: claims with the same load share their runs."""
        return self.markets, self.resting_orders, self.trades, self.tape, self.threads


def samples_needed(statistic: str) -> int:
    """Orders a run needs for a latency ``statistic`` (a :data:`STATISTICS` key) to be resolved: one sample
    beyond the percentile (p99: 100, p99.9: 1,000, p99.99: 10,000), as an SLO's
    (:meth:`lxdex_capacity.latency.slo.LatencySLO.samples_needed`)."""
    from ..latency.slo import LatencySLO

    return LatencySLO(statistic, 1_000.0).samples_needed()


def tape_for(trades_retained: int) -> int:
    """The tape that keeps ``trades_retained`` trades: the smallest power of two at least that large, and
    at least 1,024 (a scenario's ``trades_retained`` is a ring's length).  1,000,000 -> 1,048,576."""
    return max(MIN_TAPE, 1 << max(trades_retained - 1, 0).bit_length())


def _most_resting(markets: int) -> int:
    """The most resting orders :func:`scenario_for` can seed ``markets`` markets with: the tier table
    scaled until its deepest tier reaches :data:`MAX_DEPTH` orders per market."""
    return math.floor(expected_orders(DEFAULT_TIERS, markets) * MAX_DEPTH / max(t.high for t in DEFAULT_TIERS))


class ClaimEntry(FileModel):
    """One ``[[claim]]`` table: a metric, the load it was made for, and one bound."""

    id: Name | None = None  # default: claim[i]
    text: Text | None = None  # default: the id
    metric: Metric
    markets: Annotated[int, Field(ge=1, le=MAX_MARKETS)]
    resting_orders: Annotated[int, Field(ge=0, le=MAX_MARKETS * MAX_DEPTH)] | None = None
    trades: Annotated[int, Field(ge=0, le=MAX_TRADES)] | None = None  # default: 1M for orders/s, else 0
    trades_retained: Annotated[int, Field(ge=1, le=MAX_TAPE)] | None = None  # default: the engine's tape
    phase: Phase | None = None  # default: traded if trades, seeded if resting orders, else empty
    measure: Measure | None = None  # memory metrics; default engine_bytes_used
    at_most: Any = None  # a quantity, in the metric's unit
    at_least: Any = None
    note: Text | None = None
    # latency claims only: the statistics covered and the offered load
    statistics: Annotated[list[Statistic], Field(min_length=1)] | None = None  # default p99 and max
    orders_per_repeat: Annotated[int, Field(ge=MIN_LATENCY_ORDERS, le=MAX_LATENCY_ORDERS)] | None = None
    offered_rate: Any = None  # orders/s offered, a rate ("100k")
    arrivals: Arrivals | None = None  # default poisson
    batch: Annotated[int, Field(ge=1, le=1 << 20)] | None = None  # default 1
    reserve: bool | None = None  # default true
    repeats: Annotated[int, Field(ge=MIN_REPEATS, le=MAX_REPEATS)] | None = None  # default: the audit's
    cancels_per_order: Annotated[float, Field(ge=0, le=MAX_CANCELS_PER_ORDER)] | None = None  # default 0
    # orders/s claims only: the engine's threads; "every": one per core this process may use
    threads: int | str | None = None

    @field_validator("threads", mode="before")
    @classmethod
    def _rate_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if value != "every" and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS):
            raise ValueError(f"must be a number of threads from 1 to {MAX_THREADS} or \"every\" (one per core)")
        metric = info.data.get("metric")
        if metric is not None and metric != "orders_per_s":
            raise ValueError(f"applies to orders/s claims only, not to metric {metric!r}")
        markets = info.data.get("markets")
        if isinstance(value, int) and markets is not None and value > markets:
            raise ValueError(f"is more threads than markets ({markets:,})")
        return value

    @field_validator("resting_orders")
    @classmethod
    def _seedable(cls, value: int | None, info: ValidationInfo) -> int | None:
        markets = info.data.get("markets")
        if value is not None and markets is not None and value > _most_resting(markets):
            raise ValueError(f"is more than {markets:,} markets can be seeded with "
                             f"(at most {_most_resting(markets):,}, {MAX_DEPTH:,} in the deepest market)")
        return value

    @field_validator("trades")
    @classmethod
    def _trading(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value == 0 and info.data.get("metric") == "orders_per_s":
            raise ValueError("an orders/s claim needs trades > 0 (the rate is measured while trading)")
        return value

    @field_validator("trades", "phase")
    @classmethod
    def _not_latency(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("metric") == "latency":
            raise ValueError("does not apply to a latency claim: it is measured on seeded books under an offered flow "
                             "(offered_rate, orders_per_repeat)")
        return value

    @field_validator("statistics", "orders_per_repeat", "offered_rate", "arrivals", "batch", "reserve", "repeats", "cancels_per_order")
    @classmethod
    def _latency_only(cls, value: Any, info: ValidationInfo) -> Any:
        metric = info.data.get("metric")
        if value is not None and metric is not None and metric != "latency":
            raise ValueError(f"applies to latency claims only, not to metric {metric!r}")
        return value

    @field_validator("statistics")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        twice = [name for name in value or () if value and value.count(name) > 1]
        if twice:
            raise ValueError(f"names {twice[0]!r} twice")
        return value

    @field_validator("orders_per_repeat")
    @classmethod
    def _resolves(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Enough orders per repeat for every statistic the claim covers: one sample beyond its percentile."""
        if value is None:
            return None
        for name in info.data.get("statistics") or DEFAULT_STATISTICS:
            needed = samples_needed(name)
            if value < needed:
                raise ValueError(f"too few for {name}, which needs at least {needed:,} orders per repeat (one sample beyond the "
                                 f"percentile); raise orders_per_repeat or drop {name} from statistics")
        return value

    @field_validator("offered_rate")
    @classmethod
    def _offered(cls, value: Any, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        rate = _quantity(value, "rate")
        if not 0 < rate <= MAX_OFFERED_RATE:
            raise ValueError(f"must be above 0 and at most {MAX_OFFERED_RATE:,.0f} orders/s")
        orders = info.data.get("orders_per_repeat") or DEFAULT_LATENCY_ORDERS
        seconds = orders / rate
        if seconds > MAX_OFFER_S:  # beyond 10^9 s in three figures: a rate of 1e-300 is not a 300-digit number of seconds
            shown = f"{seconds:,.0f}" if seconds < 1e9 else f"{seconds:.3g}" if math.isfinite(seconds) else "more than 1e308"
            raise ValueError(f"offers {orders:,} orders per repeat over {shown} s; "
                             f"at most {MAX_OFFER_S:,.0f} s (raise the rate or lower orders_per_repeat)")
        return rate

    @field_validator("measure")
    @classmethod
    def _memory_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        metric = info.data.get("metric")
        if value is not None and metric is not None and METRICS[metric][0] != "bytes":
            raise ValueError(f"applies to memory claims only, not to metric {metric!r}")
        return value

    @field_validator("at_most", "at_least")
    @classmethod
    def _bound(cls, value: Any, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        if info.field_name == "at_least" and info.data.get("at_most") is not None:
            raise ValueError("give at_most or at_least, not both")
        metric = info.data.get("metric")
        if metric == "latency" and info.field_name == "at_least":
            raise ValueError("a latency claim is a bound from above: give at_most")
        figure = _quantity(value, METRICS[metric][0]) if metric is not None else None
        if metric == "latency" and figure == 0:
            raise ValueError("must be above 0 ns: no order completes the instant it arrives")
        if metric == "latency" and figure is not None and figure < MIN_LATENCY_BOUND_NS:
            raise ValueError(f"is {figure:.3g} ns: a bound below 1 ns cannot be measured (the cycle counter resolves about 10 ns)")
        return figure


class ClaimsSource(FileModel):
    """A claims file's ``[source]`` table: where the claims were published."""

    title: Text | None = None
    note: Text | None = None
    url: Text | None = None
    date: Text | None = None


class ClaimsFile(FileModel):
    """A claims file: an optional ``[source]`` table and at least one ``[[claim]]``."""

    source: ClaimsSource = ClaimsSource()
    claim: Annotated[list[ClaimEntry], Field(min_length=1, max_length=MAX_CLAIMS)]

    @model_validator(mode="after")
    def _complete(self) -> ClaimsFile:
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.claim):
            if entry.at_most is None and entry.at_least is None:
                raise ValueError(f"claim[{i}]: give its bound, at_most or at_least")
            if entry.metric == "latency" and entry.offered_rate is None:
                raise ValueError(f"claim[{i}]: a latency claim needs offered_rate, the orders/s offered while it is measured")
            ident = entry.id or f"claim[{i}]"
            if ident in seen:
                raise ValueError(f"claim[{i}].id={ident!r} is used twice (claim[{seen[ident]}] has it)")
            seen[ident] = i
        return self

    def claims(self) -> list[Claim]:
        out = []
        for i, e in enumerate(self.claim):
            ident = e.id or f"claim[{i}]"
            trades = e.trades if e.trades is not None else (1_000_000 if e.metric == "orders_per_s" else 0)
            bound = "at_most" if e.at_most is not None else "at_least"
            out.append(Claim(
                id=ident,
                text=e.text or ident,
                metric=e.metric,
                markets=e.markets,
                resting_orders=e.resting_orders,
                trades=trades,
                phase=e.phase or ("traded" if trades else ("seeded" if e.resting_orders or e.metric == "latency" else "empty")),
                bound=bound,
                claimed=float(e.at_most if e.at_most is not None else e.at_least),
                measure=e.measure or "engine_bytes_used",
                trades_retained=e.trades_retained if e.trades_retained is not None else DEFAULT_TAPE_CAPACITY,
                note=e.note,
                latency=None if e.metric != "latency" else LatencyLoad(
                    offered_per_s=float(e.offered_rate),
                    arrivals=e.arrivals or "poisson",
                    batch=e.batch or 1,
                    reserve=e.reserve if e.reserve is not None else True,
                    orders=e.orders_per_repeat or DEFAULT_LATENCY_ORDERS,
                    statistics=tuple(name for name in STATISTICS if name in (e.statistics or DEFAULT_STATISTICS)),
                    repeats=e.repeats,
                    cancels_per_order=e.cancels_per_order,
                ),
                threads=min(usable_cores(), e.markets) if e.threads == "every" else int(e.threads or 1),
            ))
        return out


def published_claims_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("data/published_claims.toml")))


def load_claims(path: str | Path | None = None) -> tuple[dict[str, Any], list[Claim]]:
    """(source table, claims) of a claims file; ``None`` reads the published report's claims.  Anything
    wrong is one :class:`InputError` naming the file, the key (``claim[2].at_most``) and the line."""
    path = published_claims_path() if path is None else Path(path)
    text = read_text(path, "claims file")
    parsed = validate(ClaimsFile, read_toml(text, str(path)), str(path), text)
    return parsed.source.model_dump(exclude_none=True), parsed.claims()


def latency_scenario(claim: Claim, seed: int = 0) -> Scenario:
    """The scenario a latency claim's engine is seeded with: :func:`scenario_for` its markets, resting orders and
    tape, no trades, seed ``seed`` (what a memory guard sizes before the claim is measured)."""
    return scenario_for(claim.markets, claim.resting_orders, 0, claim.tape, seed=seed)


def scenario_for(markets: int, resting_orders: int | None, trades: int, tape: int = DEFAULT_TAPE_CAPACITY,
                 seed: int = 0) -> Scenario:
    """The default scenario at ``markets``, its tier depths scaled so seeding rests about ``resting_orders``,
    its trades kept on a tape of ``tape`` trades (a power of two: :func:`tape_for`)."""
    tiers = DEFAULT_TIERS if resting_orders is None else scaled_tiers(DEFAULT_TIERS, markets, resting_orders)
    return Scenario(markets=markets, trades=trades, seed=seed, tiers=tiers, trades_retained=tape)


@dataclass(frozen=True)
class Verdict:
    id: str
    text: str
    metric: str
    unit: str
    bound: str
    claimed: float
    measured: float  # the median of the repeats, or the model's prediction
    low: float | None  # the interval's ends (what they are: ``interval``)
    high: float | None
    holds: bool  # the verdict is "holds" (not "too close to call", not "fails")
    ratio: float | None  # measured / claimed (None when the claim is 0)
    basis: str  # how the figure was obtained
    verdict: str = "holds"  # one of VERDICTS
    interval: str = ""  # what low..high is
    confidence: float = 0.0  # the interval's coverage: 0.9375 for the range of 5 repeats, 0.95 for the model's
    repeats: int = 0  # measured runs behind the figure; 0 for a model prediction
    samples: list[float] = field(default_factory=list)  # each repeat's figure, in seed order
    seeds: list[int] = field(default_factory=list)
    trades_retained: int = DEFAULT_TAPE_CAPACITY  # as the claim asks
    tape: int | None = None  # the simulated tape's length (None for a model prediction)
    note: str | None = None  # the claim's note
    # Latency claims: the statistic whose figures measured, low, high and samples are (the one deciding the
    # verdict: the worst verdict, of those the highest statistic), and every statistic's figures and the load.
    statistic: str | None = None
    latency: dict[str, Any] | None = None
    figure: dict[str, Any] | None = None  # a timed claim's figure (lxdex_capacity.measure.Figure.as_dict): status, machine state

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def three_way(bound: str, claimed: float, low: float, high: float) -> str:
    """"holds" when the whole interval ``low..high`` is on the claim's side of ``claimed`` (at most: every
    figure at most the claim; at least: at least it), "fails" when it is wholly on the other side, and
    "too close to call" when it straddles the claimed figure."""
    if bound == "at_most":
        return "holds" if high <= claimed else "fails" if low > claimed else "too close to call"
    return "holds" if low >= claimed else "fails" if high < claimed else "too close to call"


def _phase_bytes(run: SimulationResult, phase: str, measure: str) -> float:
    p = run.phase(phase)
    if measure == "rss_above_baseline":
        return p.rss_bytes - run.baseline.rss_bytes
    return float(getattr(p, measure))


def _figure(claim: Claim, run: SimulationResult) -> float:
    """The claim's figure in one run."""
    if claim.metric == "memory":
        return _phase_bytes(run, claim.phase, claim.measure)
    if claim.metric == "memory_per_market":
        return _phase_bytes(run, claim.phase, claim.measure) / claim.markets
    if claim.metric == "orders_per_s":
        return run.throughput.orders_per_s
    if claim.metric == "lookups_per_s":
        return run.throughput.lookups_per_s
    return run.throughput.random_access_ns_p50


def _order(load: tuple[int, int | None, int, int, int]) -> tuple[int, int, int, int, int]:
    return load[0], load[1] or 0, load[2], load[3], load[4]


@contextmanager
def _frozen_survivors() -> Iterator[Callable[[], None]]:
    """Yields ``freeze()``, called before each run: objects alive then (modules, numba's compiled code,
    earlier runs' results) move to the collector's permanent generation.  A run settles memory with a
    dozen full collections before its measurements, and these then walk the run's own objects only
    (about 1 s less per run).  Nothing measured changes: the engine's bytes are counted from its arrays,
    and frozen objects keep their memory either way.  Everything is unfrozen afterwards; if the caller
    had frozen objects, nothing is frozen here (``freeze()`` does nothing)."""
    if gc.get_freeze_count():
        yield lambda: None
        return

    def freeze() -> None:
        gc.collect()
        gc.freeze()

    try:
        yield freeze
    finally:
        gc.unfreeze()


def audit(
    claims: list[Claim],
    run: Callable[..., SimulationResult],
    model: Any,
    max_measure: int = 1_000_000,
    seed: int = 0,
    advance: Callable[[int, int, str], None] | None = None,
    repeats: int = MIN_REPEATS,
    measure: Callable[..., Any] | None = None,
) -> list[Verdict]:
    """Judge every claim.  ``run(scenario)`` simulates (:func:`lxdex_capacity.simulation.simulate`; called
    ``run(scenario, threads=k)`` for a claim measured with k threads): each
    load up to ``max_measure`` markets ``repeats`` times (at least :data:`MIN_REPEATS`), a fresh engine
    with seeds ``seed``, ``seed + 1``, ...; larger loads use ``model`` (a :class:`CapacityModel`), memory only.
    A latency claim is measured by ``measure`` (default :func:`lxdex_capacity.latency.measure_latency`,
    whose signature a stand-in has): one engine seeded with ``seed``, its offered rate repeated (the claim's
    ``repeats``, else ``repeats``).  ``advance(done, total, what)`` is called before each run and once more
    when judging."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < MIN_REPEATS:
        raise InputError(f"repeats={repeats!r}: a verdict needs at least {MIN_REPEATS} repeats")
    if seed < 0 or seed + repeats - 1 > 2**63 - 1:
        raise InputError(f"seed={seed}: the repeats' seeds {seed} to {seed + repeats - 1} must be from 0 to 2**63 - 1")
    for c in claims:
        if c.latency is not None and c.latency.repeats is not None and seed + c.latency.repeats - 1 > 2**63 - 1:
            raise InputError(f"seed={seed}: claim {c.id!r}'s arrival seeds {seed} to {seed + c.latency.repeats - 1} "
                             "must be from 0 to 2**63 - 1")
    predicted = {c.id: _predict(c, model) for c in claims if c.markets > max_measure}  # before any run: fails fast
    runs: dict[tuple[int, int | None, int, int, int], list[SimulationResult]] = {}
    windows: dict[tuple[int, int | None, int, int, int], list[MachineState]] = {}
    needed, timed = _measured(claims, max_measure)
    total = len(needed) * repeats + sum(_repeats(c, repeats) + 2 for c in timed)
    latencies: dict[str, Any] = {}
    with _frozen_survivors() as freeze:
        for i, load in enumerate(needed):
            runs[load], windows[load] = [], []
            for r in range(repeats):
                if advance:
                    advance(i * repeats + r, total, f"{load[0]:,} markets, repeat {r + 1}/{repeats}")
                freeze()
                markets, resting, trades, tape, threads = load
                scenario = scenario_for(markets, resting, trades, tape, seed=seed + r)
                window = open_window()
                runs[load].append(run(scenario) if threads == 1 else run(scenario, threads=threads))
                windows[load].append(window.close())
        done = len(needed) * repeats
        for c in timed:
            freeze()
            latencies[c.id] = _offer(c, measure or _measure_latency, seed, _repeats(c, repeats), done, total, advance)
            done += _repeats(c, repeats) + 2
    if advance:
        advance(total, total, "judging")
    return [predicted[c.id] if c.id in predicted else _judge_latency(c, latencies[c.id], seed) if c.id in latencies
            else _judge(c, runs[c.load], windows[c.load]) for c in claims]


def _measured(claims: list[Claim], max_measure: int) -> tuple[list[tuple[int, int | None, int, int, int]], list[Claim]]:
    """What an audit measures: the distinct loads of its claims up to ``max_measure`` markets that are simulated, and
    the latency claims up to that size, which are offered."""
    needed = sorted({c.load for c in claims if c.markets <= max_measure and c.latency is None}, key=_order)
    timed = [c for c in claims if c.markets <= max_measure and c.latency is not None]
    return needed, timed


def estimate_audit(claims: list[Claim], max_measure: int = 1_000_000, seed: int = 0, repeats: int = MIN_REPEATS) -> Any:
    """The :class:`~lxdex_capacity.time_guard.Estimate` of :func:`audit`'s runs: every measured load ``repeats``
    simulations (:func:`~lxdex_capacity.time_guard.simulation_estimate`), every latency claim its seeding, service
    times and offered runs (:func:`~lxdex_capacity.latency.harness.estimate_latency`).  No run is made."""
    from ..latency.harness import estimate_latency
    from ..time_guard import Estimate, simulation_estimate
    from ..units import duration_words

    needed, timed = _measured(claims, max_measure)
    seconds, largest = 0.0, 0.0
    for markets, resting, trades, tape, threads in needed:
        one = simulation_estimate(scenario_for(markets, resting, trades, tape, seed=seed), threads=threads, cores=usable_cores()).seconds
        seconds += repeats * one
        largest = max(largest, one)
    for c in timed:
        load = c.latency
        assert load is not None
        one = estimate_latency(latency_scenario(c, seed), [load.offered_per_s], load.orders,
                               RepeatPolicy(repeats=_repeats(c, repeats), warmup=1), cancels_per_order=load.cancels_per_order).seconds
        seconds += one
        largest = max(largest, one)
    return Estimate(seconds, f"measuring ({len(needed)} load(s) × {repeats} runs, {len(timed)} latency claim(s); the "
                             f"longest ~{duration_words(largest)})")


def _repeats(claim: Claim, repeats: int) -> int:
    """A latency claim's repeats: its own, else the audit's."""
    assert claim.latency is not None
    return claim.latency.repeats or repeats


def _measure_latency(*args: Any, **kwargs: Any) -> Any:
    from ..latency import measure_latency

    return measure_latency(*args, **kwargs)


def _offer(claim: Claim, measure: Callable[..., Any], seed: int, repeats: int, done: int, total: int,
           advance: Callable[[int, int, str], None] | None) -> Any:
    """A latency claim's runs: one engine seeded with ``seed`` (as :func:`scenario_for` the claim's markets,
    resting orders and tape), its service times, then its offered rate ``repeats`` times (the harness gives
    offer ``r`` the arrival seed ``seed + r`` and messages of its own): ``measure``'s LatencyResult.  Its
    ``repeats + 2`` progress steps are ``done`` onwards of ``total``."""
    load = claim.latency
    assert load is not None
    where = f"{claim.markets:,} markets, latency"
    steps = repeats + 2

    def progress(step: int, of: int, what: str) -> None:
        if advance and step < of:
            advance(done + step * steps // max(of, 1), total, f"{where}: {what}")

    options: dict[str, Any] = {} if load.cancels_per_order is None else {"cancels_per_order": load.cancels_per_order}
    scenario = latency_scenario(claim, seed)
    return measure(scenario, [load.offered_per_s], arrivals=load.arrivals, batch=load.batch, reserve=load.reserve,
                   orders_per_rate=load.orders, progress=progress, policy=RepeatPolicy(repeats=repeats, warmup=1), **options)


def _ratio(measured: float, claimed: float) -> float | None:
    """measured / claimed, or None where that is not a finite number (a claim of 0, or of 1e-300 MB)."""
    if claimed == 0:
        return None
    ratio = measured / claimed
    return ratio if math.isfinite(ratio) else None


def _finite(claim: Claim, what: str, *figures: float) -> None:
    """A verdict is never about NaN or infinity: a figure that is not finite fails the run's own check."""
    for figure in figures:
        if not math.isfinite(figure):
            raise CheckFailed(f"claim {claim.id!r}: the {what} is not a finite number; no verdict")


def _span(values: Sequence[float], fmt: str = ",.0f") -> str:
    """``624,100`` if every repeat had it, else ``623,900–624,300``."""
    low, high = min(values), max(values)
    return format(low, fmt) if low == high else f"{low:{fmt}}–{high:{fmt}}"


def _tape_text(claim: Claim) -> str:
    if claim.tape == claim.trades_retained:
        return f"a tape of {claim.tape:,} trades"
    if claim.tape == MIN_TAPE:
        return f"a tape of {claim.tape:,} trades (the shortest; {claim.trades_retained:,} claimed)"
    return f"a tape of {claim.tape:,} trades (the smallest power of two ≥ the {claim.trades_retained:,} claimed)"


def _judge(claim: Claim, runs: list[SimulationResult], states: list[MachineState] | None = None) -> Verdict:
    """A measured claim: the median of its repeats and the order-statistic interval of that median.  A timed claim's
    repeats carry the machine's state over each run (:mod:`lxdex_capacity.measure`): a busy machine makes it too noisy
    to call, never a hold or a fail."""
    samples = [float(_figure(claim, r)) for r in runs]
    _finite(claim, "measured figure", *samples)
    figure: Figure | None = None
    if claim.metric in TIMED_METRICS:
        figure = summarise(claim.id, claim.unit, samples, states or [], better="lower" if claim.bound == "at_most" else "higher")
        measured, low, high, coverage = figure.value, figure.low, figure.high, figure.confidence
    else:
        measured, low, high, coverage = median_interval(samples)
    seeds = [r.scenario.seed for r in runs]
    n = len(runs)
    runs_text = f"measured ({n} runs, seeds {seeds[0]}–{seeds[-1]})" if n > 1 else f"measured (seed {seeds[0]})"
    if claim.metric in ("memory", "memory_per_market"):
        phases = [r.phase(claim.phase) for r in runs]
        trades, retained = [p.trades for p in phases], [p.trades_retained for p in phases]
        history = f"{_span(trades)} trades retained" if trades == retained else f"{_span(trades)} trades, {_span(retained)} retained"
        basis = (f"{runs_text}: {claim.markets:,} markets, {_span([p.resting_orders for p in phases])} resting orders, "
                 f"{history} ({claim.phase} phase) on {_tape_text(claim)}")
    elif claim.metric == "orders_per_s":
        cores = "one core" if claim.threads == 1 else f"{claim.threads} threads (the markets partitioned, one thread per core)"
        basis = f"{runs_text}: {_span([r.throughput.flow_orders for r in runs])} orders through matching on {cores}, {claim.markets:,} markets"
    elif claim.metric == "lookups_per_s":
        basis = f"{runs_text}: best bid/ask of random markets, one core, {claim.markets:,} markets"
    else:
        basis = f"{runs_text}: median dependent random access, {claim.markets:,} markets"
    kind = "range of the repeats" if (low, high) == (min(samples), max(samples)) else "order statistics of the repeats"
    verdict = three_way(claim.bound, claim.claimed, low, high) if figure is None else timed_verdict(figure, claim)
    return Verdict(id=claim.id, text=claim.text, metric=claim.metric, unit=claim.unit, bound=claim.bound,
                   claimed=claim.claimed, measured=measured, low=low, high=high, holds=verdict == "holds",
                   ratio=_ratio(measured, claim.claimed), basis=basis, verdict=verdict,
                   interval=f"{coverage:.1%} confidence interval of the median ({kind})", confidence=coverage,
                   repeats=n, samples=samples, seeds=seeds, trades_retained=claim.trades_retained, tape=claim.tape,
                   note=claim.note, figure=figure.as_dict() if figure is not None else None)


def timed_verdict(figure: Figure, claim: Claim) -> str:
    """A timed claim's verdict from its figure (:func:`lxdex_capacity.measure.judge`): holds, fails or too noisy to call
    (a busy machine, too few runs, or an interval across the claimed figure)."""
    return judge(figure, "<=" if claim.bound == "at_most" else ">=", claim.claimed)


_RANK = {verdict: i for i, verdict in enumerate(("holds", "too close to call", "too noisy to call", "fails"))}
_ARRIVALS_TEXT = {"poisson": "Poisson arrivals", "bursty": "bursty arrivals (on/off at 4x the rate)"}


def _judge_latency(claim: Claim, result: Any, seed: int) -> Verdict:
    """A latency claim: for each statistic it covers, the median of its repeats (each repeat's p99, max, ...),
    that median's order-statistic interval and its three-way verdict against the bound; the claim's verdict
    is the worst of them (it holds only if every statistic holds), and its figure that statistic's."""
    load = claim.latency
    assert load is not None
    rated = list(result.rates)
    # The harness repeats the one offered rate (its runs, each in a machine window, and a figure per statistic);
    # a stand-in may give a point per run instead.
    point = rated[0] if len(rated) == 1 and getattr(rated[0], "runs", None) else None
    points = list(point.runs) if point is not None else rated
    n = len(points)
    figures: dict[str, dict[str, Any]] = {}
    coverage = 0.0
    for name in load.statistics:
        samples = [float(getattr(p.latency, STATISTICS[name])) for p in points]
        _finite(claim, f"measured {name} latency", *samples)
        measured_figure = point.figures.get(STATISTICS[name]) if point is not None else None
        figure = measured_figure if isinstance(measured_figure, Figure) else summarise(name, "ns", samples, better="lower")
        verdict = timed_verdict(figure, claim)
        coverage = figure.confidence
        figures[name] = {"samples": samples, "median": figure.value, "low": figure.low, "high": figure.high, "verdict": verdict,
                         "ratio": _ratio(figure.value, claim.claimed), "status": figure.status, "reason": figure.reason}
    deciding = max(figures, key=lambda name: (_RANK[figures[name]["verdict"]], list(STATISTICS).index(name)))
    d = figures[deciding]
    first = 1 if point is not None else 0  # the harness's first offer warms up (unrecorded): arrival seed ``seed``
    seeds = [seed + first + r for r in range(n)]
    stalls = [int(p.stalls) for p in points]
    achieved = [float(p.achieved_per_s) for p in points]
    resting = expected_orders(scenario_for(claim.markets, claim.resting_orders, 0).tiers, claim.markets)
    pools = "pools reserved" if load.reserve else "pools growing"
    if sum(stalls):
        pools += f", {sum(stalls):,} stall(s) while a pool grew"
    batching = "" if load.batch == 1 else f", batches of {load.batch:,}"
    cancels = [int(getattr(p, "cancels", 0)) for p in points]  # cancel messages among each run's
    per_order = float(getattr(result, "cancels_per_order", 0.0) or 0.0)
    messages = f"messages (orders and {per_order:g} cancels per order)" if per_order else "orders"
    basis = (f"measured ({n} offered runs on one engine seeded with seed {seed}, arrival seeds {seeds[0]}–{seeds[-1]}): "
             f"{load.orders:,} {messages} each at {load.offered_per_s:,.0f}/s offered ({_ARRIVALS_TEXT[load.arrivals]}"
             f"{batching}), one core, {claim.markets:,} markets, about {resting:,.0f} resting orders, {pools}; "
             f"latency = completion − arrival of every message; {' and '.join(figures)} of each run, the {deciding} decides")
    kind = "range of the repeats" if (d["low"], d["high"]) == (min(d["samples"]), max(d["samples"])) else "order statistics of the repeats"
    details = {"offered_per_s": load.offered_per_s, "arrivals": load.arrivals, "batch": load.batch, "reserve": load.reserve,
               "orders_per_repeat": load.orders, "cancels_per_order": per_order, "engine_seed": seed, "arrival_seeds": seeds,
               "achieved_per_s": achieved, "stalls": stalls, "cancels": cancels, "statistics": figures,
               "service": _service(result.service), "cancel_service": _service(getattr(result, "cancel_service", None))}
    return Verdict(id=claim.id, text=claim.text, metric=claim.metric, unit=claim.unit, bound=claim.bound,
                   claimed=claim.claimed, measured=d["median"], low=d["low"], high=d["high"], holds=d["verdict"] == "holds",
                   ratio=d["ratio"], basis=basis, verdict=d["verdict"],
                   interval=f"{coverage:.1%} confidence interval of the median ({kind})", confidence=coverage,
                   repeats=n, samples=d["samples"], seeds=seeds, trades_retained=claim.trades_retained, tape=claim.tape,
                   note=claim.note, statistic=deciding, latency=details)


def _service(p: Any) -> dict[str, Any] | None:
    """Service times (each operation alone): p50, p99, max and how many, or None (no such operations)."""
    if p is None or not p.samples:
        return None
    return {"p50_ns": float(p.p50_ns), "p99_ns": float(p.p99_ns), "max_ns": float(p.max_ns), "samples": int(p.samples)}


_PREDICTED = {"engine_bytes_used": "engine_bytes_used", "engine_bytes_reserved": "engine_bytes_reserved", "rss_bytes": "process_rss"}


def _predict(claim: Claim, model: Any) -> Verdict:
    """A claim above the measuring limit: the capacity estimator's prediction (engine bytes used or
    reserved, or a process's RSS) and its interval (the fit's 95% prediction interval; for reserved
    bytes and RSS, the powers of two and the allocator slack the sweep measured)."""
    from ..capacity.estimator import Estimator, Load

    if claim.metric not in ("memory", "memory_per_market") or claim.measure not in _PREDICTED:
        raise InputError(f"claim {claim.id!r}: {claim.markets:,} markets is above the measuring limit and the capacity "
                         "estimator predicts engine bytes used or reserved and process RSS only; raise --max-measure to measure it")
    resting = claim.resting_orders if claim.resting_orders is not None else expected_orders(DEFAULT_TIERS, claim.markets)
    resting = resting if claim.phase != "empty" else 0
    retained = min(claim.trades, claim.trades_retained) if claim.phase == "traded" else 0
    figure = getattr(Estimator(model).estimate(Load(claim.markets, resting, retained)), _PREDICTED[claim.measure])
    measured = float(figure.bytes)
    _finite(claim, "model's prediction", measured)
    if not measured > 0:
        raise InputError(f"claim {claim.id!r}: the model predicts {measured:,.0f} bytes for {claim.markets:,} markets, "
                         f"a load too small for it; raise --max-measure to {claim.markets:,} to measure it")
    low, high = float(figure.low), float(figure.high)
    _finite(claim, "model's 95% interval", low, high)
    low = max(low, 0.0)  # bytes: a 95% interval reaching below zero stops at zero
    if claim.metric == "memory_per_market":
        measured, low, high = measured / claim.markets, low / claim.markets, high / claim.markets
    basis = (f"capacity estimator's prediction of {claim.measure.replace('_', ' ')}, {claim.markets:,} markets, {resting:,.0f} resting orders, "
             f"{retained:,} trades retained; fitted up to {model.largest_markets:,} markets")
    verdict = three_way(claim.bound, claim.claimed, low, high)
    return Verdict(id=claim.id, text=claim.text, metric=claim.metric, unit=claim.unit, bound=claim.bound,
                   claimed=claim.claimed, measured=measured, low=low, high=high, holds=verdict == "holds",
                   ratio=_ratio(measured, claim.claimed), basis=basis, verdict=verdict,
                   interval="95% prediction interval of the capacity model", confidence=0.95,
                   trades_retained=claim.trades_retained, note=claim.note)
