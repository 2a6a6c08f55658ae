"""Order-flow parameters: where makers rest, how far takers reach, how large orders are.

Prices are tick distances from each market's fixed mid: makers rest ``1 + Geometric`` ticks away
(heavier near the touch), takers are IOC orders reaching ``1 + Geometric`` ticks through the mid.
Sizes are classical Pareto: ``min_qty * (1 + Lomax(alpha))``, capped at ``max_qty``.  Because IOC
remainders are cancelled, makers add depth while takers remove it, so depth settles where the two
balance instead of growing without bound.  :class:`~lxdex_capacity.scenarios.generator.Generator`
draws the orders.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FlowParams"]


@dataclass(frozen=True)
class FlowParams:
    pareto_alpha: float = 1.5  # tail exponent of order sizes
    min_qty: int = 1
    max_qty: int = 10_000
    maker_distance_p: float = 0.3  # geometric parameter of maker distance from the mid, in ticks
    taker_reach_p: float = 0.5  # geometric parameter of how far past the mid a taker's limit reaches
    taker_share: float = 0.5  # share of flow orders that are takers
    min_mid: int = 1_000  # mid prices are log-uniform between these, in ticks
    max_mid: int = 1_000_000
