"""Scenario parameters: one frozen dataclass, defaults from the published methodology, loadable
from a TOML file whose unknown keys and bad values are errors that name the key (and line).

A scenario file holds top-level keys of :class:`Scenario` plus an optional ``[[tiers]]`` table
array; for example::

    markets = 21000
    taker_share = 0.4

    [[tiers]]
    up_to_rank = 20
    low = 1000
    high = 5000
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..validation import read_input_file
from .flow import FlowParams
from .tiers import DEFAULT_TIERS, Tier

__all__ = ["Scenario", "load_scenario", "scenario_from_dict", "MAX_MARKETS"]

MAX_MARKETS = 100_000_000


@dataclass(frozen=True)
class Scenario:
    """Everything a simulation run depends on besides the engine itself."""

    markets: int = 21_000
    securities_share: float = 11_000 / 21_000  # the rest are crypto pairs
    trades: int = 1_000_000  # the traded phase runs until this many fills
    seed: int = 0
    flow_share: float = 0.8  # this share of flow ...
    market_share: float = 0.2  # ... goes to this share of markets (the deepest)
    pareto_alpha: float = 1.5
    min_qty: int = 1
    max_qty: int = 10_000
    maker_distance_p: float = 0.3
    taker_reach_p: float = 0.5
    taker_share: float = 0.5
    stationary: bool = True  # after each batch, trim every touched market back to its seeded depth
    cancel_rate: float = 0.0  # cancels of random resting orders, per flow order
    batch: int = 65_536
    trades_retained: int = 1 << 18  # the trade tape's length (a power of two); older trades leave it
    tiers: tuple[Tier, ...] = field(default=DEFAULT_TIERS)

    def __post_init__(self) -> None:
        _check_range("markets", self.markets, 1, MAX_MARKETS, int)
        _check_range("securities_share", self.securities_share, 0.0, 1.0, float)
        _check_range("trades", self.trades, 0, 10**12, int)
        _check_range("seed", self.seed, 0, 2**63 - 1, int)
        _check_range("flow_share", self.flow_share, 0.0, 1.0, float, open_low=True, open_high=True)
        _check_range("market_share", self.market_share, 0.0, 1.0, float, open_low=True, open_high=True)
        _check_range("pareto_alpha", self.pareto_alpha, 0.0, 100.0, float, open_low=True)
        _check_range("min_qty", self.min_qty, 1, 2**31 - 1, int)
        _check_range("max_qty", self.max_qty, self.min_qty, 2**31 - 1, int)
        _check_range("maker_distance_p", self.maker_distance_p, 0.0, 1.0, float, open_low=True)
        _check_range("taker_reach_p", self.taker_reach_p, 0.0, 1.0, float, open_low=True)
        _check_range("taker_share", self.taker_share, 0.0, 1.0, float)
        _check_range("batch", self.batch, 1, 1 << 24, int)
        _check_range("cancel_rate", self.cancel_rate, 0.0, 100.0, float)
        _check_range("trades_retained", self.trades_retained, 1024, 1 << 30, int)
        if self.trades_retained & (self.trades_retained - 1):
            raise InputError(f"trades_retained={self.trades_retained} must be a power of two (the tape is a ring)")
        if not isinstance(self.stationary, bool):
            raise InputError(f"stationary={self.stationary!r} must be true or false")
        _check_tiers(self.tiers)

    @property
    def flow(self) -> FlowParams:
        return FlowParams(
            pareto_alpha=self.pareto_alpha,
            min_qty=self.min_qty,
            max_qty=self.max_qty,
            maker_distance_p=self.maker_distance_p,
            taker_reach_p=self.taker_reach_p,
            taker_share=self.taker_share,
        )

    def replace(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tiers"}
        out["tiers"] = [dataclasses.asdict(t) for t in self.tiers]
        return out


def _check_range(
    name: str, value: Any, low: float, high: float, kind: type, *, open_low: bool = False, open_high: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise InputError(f"{name}={value!r} must be {'a number' if kind is float else 'an integer'}")
    if value < low or value > high or (open_low and value == low) or (open_high and value == high):
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise InputError(f"{name}={value!r} must be in {lo}{low:g}, {high:g}{hi}")


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise InputError("tiers must hold at least one tier")
    previous = 0
    for i, tier in enumerate(tiers):
        where = f"tiers[{i}]"
        if tier.up_to_rank is None:
            if i != len(tiers) - 1:
                raise InputError(f"{where}.up_to_rank may be left out only on the last tier")
        else:
            _check_range(f"{where}.up_to_rank", tier.up_to_rank, previous + 1, MAX_MARKETS, int)
            previous = tier.up_to_rank
        _check_range(f"{where}.low", tier.low, 0, 10**9, int)
        _check_range(f"{where}.high", tier.high, tier.low, 10**9, int)


_TIER_KEYS = {"up_to_rank", "low", "high"}


def scenario_from_dict(data: dict[str, Any], base: Scenario = Scenario()) -> Scenario:
    """Apply ``data`` (as parsed from TOML) over ``base``; unknown keys are errors."""
    known = {f.name for f in fields(Scenario)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown scenario key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    changes = dict(data)
    if "tiers" in changes:
        raw = changes["tiers"]
        if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
            raise InputError("tiers must be an array of tables ([[tiers]] with up_to_rank, low, high)")
        tiers = []
        for i, t in enumerate(raw):
            bad = sorted(set(t) - _TIER_KEYS)
            if bad:
                raise InputError(f"unknown key {bad[0]!r} in tiers[{i}] (known: up_to_rank, low, high)")
            if "low" not in t or "high" not in t:
                raise InputError(f"tiers[{i}] must set low and high")
            tiers.append(Tier(up_to_rank=t.get("up_to_rank"), low=t["low"], high=t["high"]))
        changes["tiers"] = tuple(tiers)
    return dataclasses.replace(base, **changes)


def load_scenario(path: str | Path, base: Scenario = Scenario()) -> Scenario:
    """Read a scenario TOML file.  Syntax errors name the line; bad keys and values name the key."""
    path = Path(path)
    text = read_input_file(path, "scenario file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None
    try:
        return scenario_from_dict(data, base)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
