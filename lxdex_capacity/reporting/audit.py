"""``lxdex audit``: check a report's claims against measurement.

A claims file (TOML, ``[[claim]]`` tables; see ``data/published_claims.toml``) states figures such
as "N markets with M orders fit in X MB", "orders/s at least Y" or "random access at most Z".
Claims about the same load share one simulation run (phases empty, seeded and traded); loads
larger than ``max_measure`` markets are predicted by the capacity model instead, and say so.
Every claim gets the claimed and measured figure, a verdict and the ratio measured/claimed.

The file is checked by :class:`ClaimsFile` (pydantic, :mod:`lxdex_capacity.schema`): unknown keys,
wrong types, figures that are not finite, negative or beyond any machine, loads outside the
simulator's range are one error naming the file, the line and the key (``claim[2].at_most``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from ..errors import InputError
from ..scenarios.config import MAX_MARKETS, Scenario
from ..scenarios.tiers import DEFAULT_TIERS, MAX_DEPTH, Tier, expected_orders
from ..schema import FileModel, Name, one_line_text, read_text, read_toml, validate
from ..simulation.results import SimulationResult

__all__ = ["Claim", "ClaimsFile", "load_claims", "published_claims_path", "audit", "parse_quantity"]

METRICS = {  # metric -> (unit kind, unit printed)
    "memory": ("bytes", "B"),
    "memory_per_market": ("bytes", "B"),
    "orders_per_s": ("rate", "orders/s"),
    "lookups_per_s": ("rate", "lookups/s"),
    "random_access": ("time", "ns"),
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

Metric = Literal["memory", "memory_per_market", "orders_per_s", "lookups_per_s", "random_access"]  # METRICS' keys
Measure = Literal["engine_bytes_used", "engine_bytes_reserved", "rss_bytes", "rss_above_baseline"]
Phase = Literal["empty", "seeded", "traded"]
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

    @property
    def unit(self) -> str:
        return METRICS[self.metric][1]

    @property
    def load(self) -> tuple[int, int | None, int]:
        return self.markets, self.resting_orders, self.trades


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
    phase: Phase | None = None  # default: traded if trades, seeded if resting orders, else empty
    measure: Measure | None = None  # memory metrics; default engine_bytes_used
    at_most: Any = None  # a quantity, in the metric's unit
    at_least: Any = None

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
        return _quantity(value, METRICS[metric][0]) if metric is not None else None


class ClaimsSource(FileModel):
    """A claims file's ``[source]`` table: where the claims were published."""

    title: Text | None = None
    note: Text | None = None
    url: Text | None = None
    date: Text | None = None


class ClaimsFile(FileModel):
    """A claims file: an optional ``[source]`` table and at least one ``[[claim]]``."""

    source: ClaimsSource = ClaimsSource()
    claim: Annotated[list[ClaimEntry], Field(min_length=1)]

    @model_validator(mode="after")
    def _complete(self) -> ClaimsFile:
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.claim):
            if entry.at_most is None and entry.at_least is None:
                raise ValueError(f"claim[{i}]: give its bound, at_most or at_least")
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
                phase=e.phase or ("traded" if trades else ("seeded" if e.resting_orders else "empty")),
                bound=bound,
                claimed=float(e.at_most if e.at_most is not None else e.at_least),
                measure=e.measure or "engine_bytes_used",
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


def scenario_for(markets: int, resting_orders: int | None, trades: int, seed: int = 0) -> Scenario:
    """The default scenario at ``markets``, its tier depths scaled so seeding rests about ``resting_orders``."""
    tiers = DEFAULT_TIERS
    if resting_orders is not None:
        scale = resting_orders / expected_orders(DEFAULT_TIERS, markets)
        tiers = tuple(Tier(up_to_rank=t.up_to_rank, low=round(t.low * scale), high=max(round(t.high * scale), round(t.low * scale))) for t in DEFAULT_TIERS)
    return Scenario(markets=markets, trades=trades, seed=seed, tiers=tiers)


@dataclass(frozen=True)
class Verdict:
    id: str
    text: str
    metric: str
    unit: str
    bound: str
    claimed: float
    measured: float
    low: float | None  # 95% interval when the figure is a model prediction
    high: float | None
    holds: bool
    ratio: float | None  # measured / claimed (None when the claim is 0)
    basis: str  # how the figure was obtained

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": "holds" if self.holds else "fails"}


def _phase_bytes(run: SimulationResult, phase: str, measure: str) -> float:
    p = run.phase(phase)
    if measure == "rss_above_baseline":
        return p.rss_bytes - run.baseline.rss_bytes
    return float(getattr(p, measure))


def audit(
    claims: list[Claim],
    run: Callable[[Scenario], SimulationResult],
    model: Any,
    max_measure: int = 1_000_000,
    seed: int = 0,
    advance: Callable[[int, int, str], None] | None = None,
) -> list[Verdict]:
    """Judge every claim.  ``run(scenario)`` simulates (:func:`lxdex_capacity.simulation.simulate`);
    claims above ``max_measure`` markets use ``model`` (a :class:`CapacityModel`), memory only."""
    runs: dict[tuple[int, int | None, int], SimulationResult] = {}
    needed = sorted({c.load for c in claims if c.markets <= max_measure}, key=lambda k: (k[0], k[1] or 0, k[2]))
    for i, load in enumerate(needed):
        if advance:
            advance(i, len(needed), f"{load[0]:,} markets")
        runs[load] = run(scenario_for(*load, seed=seed))
    if advance:
        advance(len(needed), len(needed), "judging")
    return [_judge(c, runs.get(c.load), model) for c in claims]


def _ratio(measured: float, claimed: float) -> float | None:
    """measured / claimed, or None where that is not a finite number (a claim of 0, or of 1e-300 MB)."""
    if claimed == 0:
        return None
    ratio = measured / claimed
    return ratio if math.isfinite(ratio) else None


def _judge(claim: Claim, run: SimulationResult | None, model: Any) -> Verdict:
    low = high = None
    if run is not None:
        phase = run.phase(claim.phase)
        basis = (f"measured: {claim.markets:,} markets, {phase.resting_orders:,} resting orders, "
                 f"{phase.trades:,} trades ({claim.phase} phase, seed {run.scenario.seed})")
        if claim.metric == "memory":
            measured = _phase_bytes(run, claim.phase, claim.measure)
        elif claim.metric == "memory_per_market":
            measured = _phase_bytes(run, claim.phase, claim.measure) / claim.markets
        elif claim.metric == "orders_per_s":
            measured = run.throughput.orders_per_s
            basis = f"measured: {run.throughput.flow_orders:,} orders through matching on one core, {claim.markets:,} markets"
        elif claim.metric == "lookups_per_s":
            measured = run.throughput.lookups_per_s
            basis = f"measured: best bid/ask of random markets, one core, {claim.markets:,} markets"
        else:
            measured = run.throughput.random_access_ns_p50
            basis = f"measured: median dependent random access, {claim.markets:,} markets"
    else:
        if claim.metric not in ("memory", "memory_per_market") or claim.measure != "engine_bytes_used":
            raise InputError(f"claim {claim.id!r}: {claim.markets:,} markets is above the measuring limit and the model "
                             "predicts engine bytes used only; raise --max-measure to measure it")
        from ..engine.core import DEFAULT_TAPE_CAPACITY

        resting = claim.resting_orders if claim.resting_orders is not None else expected_orders(DEFAULT_TIERS, claim.markets)
        resting = resting if claim.phase != "empty" else 0
        retained = min(claim.trades, DEFAULT_TAPE_CAPACITY) if claim.phase == "traded" else 0
        measured = model.engine_bytes(claim.markets, resting, retained)
        if not measured > 0:
            raise InputError(f"claim {claim.id!r}: the model predicts {measured:,.0f} bytes for {claim.markets:,} markets, "
                             f"a load too small for it; raise --max-measure to {claim.markets:,} to measure it")
        low, high = model.fit.interval(claim.markets, resting, retained)
        low = max(low, 0.0)  # bytes: a 95% interval reaching below zero stops at zero
        if claim.metric == "memory_per_market":
            measured, low, high = measured / claim.markets, low / claim.markets, high / claim.markets
        basis = (f"model prediction (95% interval), {claim.markets:,} markets, {resting:,.0f} resting orders, "
                 f"{retained:,} trades retained; fitted up to {model.largest_markets:,} markets")
    holds = measured <= claim.claimed if claim.bound == "at_most" else measured >= claim.claimed
    return Verdict(id=claim.id, text=claim.text, metric=claim.metric, unit=claim.unit, bound=claim.bound,
                   claimed=claim.claimed, measured=float(measured), low=low, high=high, holds=holds,
                   ratio=_ratio(float(measured), claim.claimed), basis=basis)
