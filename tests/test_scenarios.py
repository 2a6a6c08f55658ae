"""Workload generators: tier table, Zipf concentration, non-crossing seeds."""

from __future__ import annotations

import numpy as np
import pytest

from lxdex_capacity.scenarios import DEFAULT_TIERS, FlowParams, draw_depths, seed_orders, top_share, zipf_exponent_for_share, zipf_weights
from lxdex_capacity.scenarios.flow import mid_prices


def test_depths_follow_the_tier_table():
    depths = draw_depths(21_000, np.random.default_rng(0))
    bounds = [(0, 20, 1000, 5000), (20, 100, 500, 1000), (100, 1000, 100, 500), (1000, 5000, 20, 100), (5000, 21_000, 5, 20)]
    for start, stop, low, high in bounds:
        assert depths[start:stop].min() >= low and depths[start:stop].max() <= high
    assert 780_000 < depths.sum() < 880_000  # about 830K resting orders, as in the published run


@pytest.mark.parametrize("n, flow, share", [(21_000, 0.8, 0.2), (1000, 0.9, 0.1), (50, 0.5, 0.2)])
def test_zipf_exponent_gives_the_requested_concentration(n, flow, share):
    s = zipf_exponent_for_share(n, flow, share)
    assert top_share(zipf_weights(n, s), share) == pytest.approx(flow, abs=1e-6)


def test_seed_orders_never_cross():
    rng = np.random.default_rng(3)
    params = FlowParams()
    mids = mid_prices(100, rng, params)
    markets, sides, prices, qtys = seed_orders(np.full(100, 50), mids, rng, params)
    assert (np.where(sides == 0, prices < mids[markets], prices > mids[markets])).all()
    assert qtys.min() >= params.min_qty and qtys.max() <= params.max_qty
    assert len(DEFAULT_TIERS) == 5
