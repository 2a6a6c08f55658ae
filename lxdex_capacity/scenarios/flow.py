"""Order generation: resting books to seed, and a maker/taker flow that keeps them near steady state.

Prices are tick distances from each market's fixed mid: makers rest ``1 + Geometric`` ticks away
(heavier near the touch), takers are IOC orders reaching ``1 + Geometric`` ticks through the mid.
Sizes are classical Pareto: ``min_qty * (1 + Lomax(alpha))``, capped at ``max_qty``.  Because IOC
remainders are cancelled, makers add depth while takers remove it, so depth settles where the two
balance instead of growing without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.codes import IOC, LIMIT

__all__ = ["FlowParams", "mid_prices", "pareto_sizes", "seed_orders", "flow_orders"]


@dataclass(frozen=True)
class FlowParams:
    pareto_alpha: float = 1.5  # tail exponent of order sizes
    min_qty: int = 1
    max_qty: int = 10_000
    maker_distance_p: float = 0.3  # geometric parameter of maker distance from the mid, in ticks
    taker_reach_p: float = 0.5  # geometric parameter of how far past the mid a taker's limit reaches
    taker_share: float = 0.5  # share of flow orders that are takers
    min_mid: int = 1_000
    max_mid: int = 1_000_000


def mid_prices(n_markets: int, rng: np.random.Generator, params: FlowParams) -> np.ndarray:
    """Per-market mid price in ticks, log-uniform between ``min_mid`` and ``max_mid``."""
    logs = rng.uniform(np.log(params.min_mid), np.log(params.max_mid), size=n_markets)
    return np.exp(logs).astype(np.int64)


def pareto_sizes(n: int, rng: np.random.Generator, params: FlowParams) -> np.ndarray:
    sizes = params.min_qty * (1.0 + rng.pareto(params.pareto_alpha, size=n))
    return np.minimum(sizes, params.max_qty).astype(np.int64)


def seed_orders(
    depths: np.ndarray, mids: np.ndarray, rng: np.random.Generator, params: FlowParams, first_market: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Non-crossing resting orders: ``depths[i]`` for market ``first_market + i``, either side.

    ``mids`` holds every market's mid (indexed by market id), so books can be seeded a chunk of
    markets at a time.  Orders of different markets are interleaved at random, as they would arrive.
    """
    markets = np.repeat(np.arange(first_market, first_market + len(depths), dtype=np.int64), depths)
    rng.shuffle(markets)
    sides = rng.integers(0, 2, size=len(markets))
    distance = rng.geometric(params.maker_distance_p, size=len(markets))
    prices = mids[markets] + np.where(sides == 0, -distance, distance)
    return markets, sides, prices, pareto_sizes(len(markets), rng, params)


def flow_orders(
    n: int, weights_cdf: np.ndarray, mids: np.ndarray, rng: np.random.Generator, params: FlowParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` flow orders; markets drawn from the cumulative activity weights ``weights_cdf``."""
    markets = np.searchsorted(weights_cdf, rng.random(n), side="right").astype(np.int64)
    np.minimum(markets, len(mids) - 1, out=markets)
    sides = rng.integers(0, 2, size=n)
    taker = rng.random(n) < params.taker_share
    maker_distance = rng.geometric(params.maker_distance_p, size=n)
    taker_reach = rng.geometric(params.taker_reach_p, size=n)
    # Buys rest below the mid and reach above it; sells the reverse.
    signed = np.where(taker, taker_reach, -maker_distance)
    prices = mids[markets] + np.where(sides == 0, signed, -signed)
    types = np.where(taker, IOC, LIMIT).astype(np.int64)
    return markets, sides, prices, pareto_sizes(n, rng, params), types
