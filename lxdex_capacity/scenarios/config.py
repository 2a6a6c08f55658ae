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

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from ..errors import InputError
from ..schema import FileModel, OpenShare, Share, read_text, read_toml, validate
from .activity import reachable_flow_shares
from .flow import FlowParams
from .tiers import DEFAULT_TIERS, MAX_MARKETS, Tier

__all__ = ["Scenario", "load_scenario", "scenario_from_dict", "MAX_MARKETS"]

# A geometric distance with a smaller parameter averages over 1,000 ticks from the mid: books that
# wide leave the engine's price range or never trade, so such a scenario is refused, not run.
MIN_GEOMETRIC_P = 0.001


class Scenario(FileModel):
    """Everything a simulation run depends on besides the engine itself.

    Every value is checked when a scenario is made: from a file or options (:func:`scenario_from_dict`,
    :meth:`replace`) a bad one is an :class:`~lxdex_capacity.errors.InputError` naming the key, e.g.
    ``taker_share=nan: input should be a finite number``; ``Scenario(...)`` itself raises pydantic's
    ``ValidationError`` (a ``ValueError``), which ``lxdex`` reports the same way.
    """

    markets: Annotated[int, Field(ge=1, le=MAX_MARKETS)] = 21_000
    securities_share: Share = 11_000 / 21_000  # the rest are crypto pairs
    trades: Annotated[int, Field(ge=0, le=10**12)] = 1_000_000  # the traded phase runs until this many fills
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    flow_share: OpenShare = 0.8  # this share of flow ...
    market_share: OpenShare = 0.2  # ... goes to this share of markets (the deepest)
    pareto_alpha: Annotated[float, Field(ge=0.01, le=100.0)] = 1.5  # order sizes' tail exponent
    min_qty: Annotated[int, Field(ge=1, le=2**31 - 1)] = 1
    max_qty: Annotated[int, Field(ge=1, le=2**31 - 1)] = 10_000
    maker_distance_p: Annotated[float, Field(ge=MIN_GEOMETRIC_P, le=1.0)] = 0.3  # geometric, in ticks from the mid
    taker_reach_p: Annotated[float, Field(ge=MIN_GEOMETRIC_P, le=1.0)] = 0.5  # geometric, in ticks past the mid
    taker_share: Share = 0.5
    stationary: bool = True  # after each batch, trim every touched market back to its seeded depth
    cancel_rate: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0  # cancels of random resting orders, per flow order
    batch: Annotated[int, Field(ge=1, le=1 << 24)] = 65_536
    trades_retained: Annotated[int, Field(ge=1024, le=1 << 30)] = 1 << 18  # the tape's length (a power of two)
    tiers: Annotated[tuple[Tier, ...], Field(strict=False, min_length=1, max_length=1000)] = DEFAULT_TIERS

    @field_validator("trades_retained")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("must be a power of two (the tape is a ring)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.max_qty < self.min_qty:
            raise ValueError(f"max_qty={self.max_qty} must be at least min_qty={self.min_qty}")
        if self.flow_share < self.market_share:
            raise ValueError(f"flow_share={self.flow_share:g} is below market_share={self.market_share:g}: a Zipf law "
                             "gives the busiest markets at least their share of the flow (equal shares: uniform flow)")
        least, most = reachable_flow_shares(self.markets, self.market_share)
        if self.markets > 1 and not least - 1e-12 <= self.flow_share <= most:
            top = max(1, round(self.markets * self.market_share))
            raise ValueError(f"flow_share={self.flow_share!r} cannot go to the busiest {top:,} of {self.markets:,} markets "
                             f"(market_share={self.market_share!r}): a Zipf law gives them {least:.6g} to {most:.6g} of the flow")
        previous = 0
        for i, tier in enumerate(self.tiers):
            if tier.up_to_rank is None:
                if i != len(self.tiers) - 1:
                    raise ValueError(f"tiers[{i}].up_to_rank may be left out only on the last tier")
            elif tier.up_to_rank <= previous:
                raise ValueError(f"tiers[{i}].up_to_rank={tier.up_to_rank} must be above the tier before ({previous})")
            else:
                previous = tier.up_to_rank
        return self

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
        """This scenario with ``changes``, checked like a new one (a bad value is one :class:`InputError`)."""
        return validate(Scenario, dict(self) | changes, "scenario")

    def as_dict(self) -> dict[str, Any]:
        """Every value, as JSON holds it (tiers a list of tables)."""
        return self.model_dump(mode="json")


def scenario_from_dict(data: dict[str, Any], base: Scenario | None = None, origin: str = "scenario",
                       text: str | None = None) -> Scenario:
    """Apply ``data`` (as parsed from TOML or JSON) over ``base``; unknown keys and bad values are one
    :class:`InputError` naming ``origin`` and the key (and the line, given the file's ``text``)."""
    if not isinstance(data, dict):
        raise InputError(f"{origin}: a scenario must be a table of keys")
    merged = (base or Scenario()).model_dump() | data
    return validate(Scenario, merged, origin, text)


def load_scenario(path: str | Path, base: Scenario | None = None) -> Scenario:
    """Read a scenario TOML file.  Syntax errors name the line; bad keys and values the key and line; a
    file that sets nothing is refused too (it is more likely the wrong file than a wish for the defaults)."""
    text = read_text(path, "scenario file")
    data = read_toml(text, str(path))
    if not data:
        raise InputError(f"{path}: sets no scenario key; leave out --scenario for the defaults")
    return scenario_from_dict(data, base, str(path), text)
