"""The typed result of a simulation, one schema whatever the execution, and its JSON form.

``SimulationResult.to_dict()`` is what ``lxdex simulate --json`` prints and ``simulate.json``
holds, tagged ``"format": "lxdex-simulate/2"``; :meth:`SimulationResult.from_dict` reads it back
(``lxdex report --simulate``).  A sharded run has the same fields as a one-process run, plus each
shard's figures under ``shards`` and the shards that failed under ``failed_shards``.

Units: bytes are bytes, seconds are seconds, rates are per second, latencies nanoseconds.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from .. import __version__
from ..errors import InputError
from ..machine import machine_info
from ..profiling.memory import ProcessMemory
from ..scenarios.config import Scenario, scenario_from_dict

__all__ = ["SIMULATE_FORMAT", "PhaseResult", "Throughput", "ShardResult", "Execution", "SimulationResult"]

SIMULATE_FORMAT = "lxdex-simulate/2"
PHASES = ("empty", "seeded", "traded")


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
        return {
            "format": SIMULATE_FORMAT,
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
        """Read :meth:`to_dict`'s output back; anything missing or of the wrong type is an ``InputError``
        naming ``origin`` and the key."""
        data = _mapping(data, origin)
        fmt = data.get("format")
        if fmt != SIMULATE_FORMAT:
            raise InputError(f"{origin}: not an lxdex simulate result of this version (format={fmt!r}, expected "
                             f"{SIMULATE_FORMAT!r}); re-run lxdex simulate --out")
        try:
            scenario = scenario_from_dict(_mapping(data.get("scenario"), f"{origin}: scenario"))
        except InputError as exc:
            raise InputError(f"{origin}: scenario: {exc}") from None
        phases = [_typed(PhaseResult, p, f"{origin}: phases[{i}]") for i, p in enumerate(_list(data, "phases", origin))]
        names = [p.name for p in phases]
        if names != list(PHASES):
            raise InputError(f"{origin}: phases must be {', '.join(PHASES)} in that order, not {names}")
        return cls(
            scenario=scenario,
            baseline=_typed(ProcessMemory, data.get("baseline"), f"{origin}: baseline"),
            phases=phases,
            throughput=_typed(Throughput, data.get("throughput"), f"{origin}: throughput"),
            elapsed_s=_value(data, "elapsed_s", float, origin),
            market_checksum=_value(data, "market_checksum", str | None, origin),
            tape_checksum=_value(data, "tape_checksum", str | None, origin),
            estimate_bytes=_value(data, "estimate_bytes", int, origin),
            universe=_value(data, "universe", dict[str, int], origin),
            stalled=_value(data, "stalled", bool, origin),
            breakdown=_value(data, "breakdown", dict[str, Any], origin),
            distributions=_value(data, "distributions", dict[str, Any], origin),
            execution=_typed(Execution, data.get("execution"), f"{origin}: execution"),
            shards=[_typed(ShardResult, s, f"{origin}: shards[{i}]") for i, s in enumerate(_list(data, "shards", origin))],
            failed_shards=_value(data, "failed_shards", list[int], origin),
            machine=_value(data, "machine", dict[str, Any], origin),
            version=_value(data, "version", str, origin),
        )


T = TypeVar("T")


def _mapping(data: Any, origin: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(f"{origin}: must be a JSON object, not {type(data).__name__}")
    return data


def _list(data: dict[str, Any], key: str, origin: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise InputError(f"{origin}: {key} must be a list, not {type(value).__name__ if key in data else 'missing'}")
    return value


def _matches(value: Any, kind: Any) -> bool:
    origin = typing.get_origin(kind)
    if kind is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, k) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (inner,) = typing.get_args(kind)
        return isinstance(value, list) and all(_matches(v, inner) for v in value)
    if origin is dict:
        key, inner = typing.get_args(kind)
        return isinstance(value, dict) and all(_matches(k, key) and _matches(v, inner) for k, v in value.items())
    return isinstance(value, kind)


def _value(data: dict[str, Any], key: str, kind: Any, origin: str) -> Any:
    if key not in data:
        raise InputError(f"{origin}: {key} is missing")
    value = data[key]
    if not _matches(value, kind):
        raise InputError(f"{origin}: {key}={value!r:.60} has the wrong type")
    return value


def _typed(cls: type[T], data: Any, origin: str) -> T:
    """A flat dataclass from a JSON object: every field without a default must be there, of its type."""
    data = _mapping(data, origin)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _value(data, f.name, hints[f.name], origin)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError(f"{origin}: {f.name} is missing")
    return cls(**values)
