"""``lxdex audit``: check a report's claims against measurement.

A claims file (TOML, ``[[claim]]`` tables; see ``data/published_claims.toml``) states figures such
as "N markets with M orders fit in X MB", "orders/s at least Y" or "random access at most Z".
Claims about the same load share one simulation run (phases empty, seeded and traded); loads
larger than ``max_measure`` markets are predicted by the capacity model instead, and say so.
Every claim gets the claimed and measured figure, a verdict and the ratio measured/claimed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, overload

from ..errors import InputError
from ..scenarios.config import MAX_MARKETS, Scenario
from ..scenarios.tiers import DEFAULT_TIERS, Tier, expected_orders
from ..simulation.results import SimulationResult
from ..validation import read_input_file

__all__ = ["Claim", "load_claims", "published_claims_path", "audit", "parse_quantity"]

METRICS = {  # metric -> (unit kind, unit printed)
    "memory": ("bytes", "B"),
    "memory_per_market": ("bytes", "B"),
    "orders_per_s": ("rate", "orders/s"),
    "lookups_per_s": ("rate", "lookups/s"),
    "random_access": ("time", "ns"),
}
MEASURES = ("engine_bytes_used", "engine_bytes_reserved", "rss_bytes", "rss_above_baseline")
PHASES = ("empty", "seeded", "traded")
_UNITS = {
    "bytes": {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40},
    "time": {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9},  # in nanoseconds
    "rate": {"": 1, "k": 1e3, "m": 1e6, "g": 1e9},
}
_KEYS = {"id", "text", "metric", "markets", "resting_orders", "trades", "phase", "at_most", "at_least", "measure"}


def parse_quantity(value: Any, kind: str, name: str) -> float:
    """``"83 MB"`` -> 83e6 bytes, ``"0.03 us"`` -> 30 ns, ``"33.7M"`` or 33.7e6 -> 33.7e6 per second."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise InputError(f"{name}={value!r} must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise InputError(f"{name}={value!r} must be a number or a string with a unit")
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*([A-Za-zµ]*)\s*", value)
    units = _UNITS[kind]
    if not match or match.group(2).lower() not in units:
        known = ", ".join(u for u in units if u) or "none"
        raise InputError(f"{name}={value!r} must be a number with one of the units {known}")
    return float(match.group(1)) * units[match.group(2).lower()]


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


def _claim(entry: Any, where: str) -> Claim:
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    metric = entry.get("metric")
    if metric not in METRICS:
        raise InputError(f"{where}: metric={metric!r} must be one of {', '.join(METRICS)}")
    bounds = [b for b in ("at_most", "at_least") if b in entry]
    if len(bounds) != 1:
        raise InputError(f"{where}: give exactly one of at_most or at_least")
    ident = str(entry.get("id", where))
    where = f"{where} ({ident})"

    @overload
    def integer(key: str, default: int, low: int, high: int) -> int: ...
    @overload
    def integer(key: str, default: None, low: int, high: int) -> int | None: ...
    def integer(key: str, default: int | None, low: int, high: int) -> int | None:
        value = entry.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(f"{where}: {key}={value!r} must be an integer in [{low:,}, {high:,}]")
        return value

    markets = integer("markets", None, 1, MAX_MARKETS)
    if markets is None:
        raise InputError(f"{where}: markets is required")
    resting = integer("resting_orders", None, 0, 10**12)
    trades = integer("trades", 1_000_000 if metric == "orders_per_s" else 0, 0, 10**12)
    default_phase = "traded" if trades else ("seeded" if resting else "empty")
    phase = entry.get("phase", default_phase)
    if phase not in PHASES:
        raise InputError(f"{where}: phase={phase!r} must be one of {', '.join(PHASES)}")
    if metric == "orders_per_s" and not trades:
        raise InputError(f"{where}: an orders/s claim needs trades > 0 (the rate is measured while trading)")
    measure = entry.get("measure", "engine_bytes_used")
    if measure not in MEASURES:
        raise InputError(f"{where}: measure={measure!r} must be one of {', '.join(MEASURES)}")
    kind = METRICS[metric][0]
    return Claim(
        id=ident,
        text=str(entry.get("text", ident)),
        metric=metric,
        markets=markets,
        resting_orders=resting,
        trades=trades,
        phase=phase,
        bound=bounds[0],
        claimed=parse_quantity(entry[bounds[0]], kind, f"{where}: {bounds[0]}"),
        measure=measure,
    )


def published_claims_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("data/published_claims.toml")))


def load_claims(path: str | Path | None = None) -> tuple[dict[str, Any], list[Claim]]:
    """(source table, claims) of a claims file; ``None`` reads the published report's claims."""
    path = published_claims_path() if path is None else Path(path)
    text = read_input_file(path, "claims file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None
    unknown = sorted(set(data) - {"source", "claim"})
    if unknown:
        raise InputError(f"{path}: unknown top-level key {unknown[0]!r} (claims go in [[claim]] tables)")
    entries = data.get("claim")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: no [[claim]] tables")
    try:
        claims = [_claim(e, f"claim[{i}]") for i, e in enumerate(entries)]
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    ids = [c.id for c in claims]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise InputError(f"{path}: claim id {duplicate!r} is used twice")
    return dict(data.get("source", {})), claims


def scenario_for(markets: int, resting_orders: int | None, trades: int, seed: int = 0) -> Scenario:
    """The default scenario at ``markets``, its tier depths scaled so seeding rests about ``resting_orders``."""
    tiers = DEFAULT_TIERS
    if resting_orders is not None:
        scale = resting_orders / expected_orders(DEFAULT_TIERS, markets)
        tiers = tuple(Tier(t.up_to_rank, round(t.low * scale), max(round(t.high * scale), round(t.low * scale))) for t in DEFAULT_TIERS)
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
        low, high = model.fit.interval(claim.markets, resting, retained)
        if claim.metric == "memory_per_market":
            measured, low, high = measured / claim.markets, low / claim.markets, high / claim.markets
        basis = (f"model prediction (95% interval), {claim.markets:,} markets, {resting:,.0f} resting orders, "
                 f"{retained:,} trades retained; fitted up to {model.largest_markets:,} markets")
    holds = measured <= claim.claimed if claim.bound == "at_most" else measured >= claim.claimed
    return Verdict(id=claim.id, text=claim.text, metric=claim.metric, unit=claim.unit, bound=claim.bound,
                   claimed=claim.claimed, measured=float(measured), low=low, high=high, holds=holds,
                   ratio=float(measured) / claim.claimed if claim.claimed else None, basis=basis)
