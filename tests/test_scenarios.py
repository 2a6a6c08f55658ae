"""Workload generators: tier table, Zipf concentration, non-crossing seeds, flow parameters, and the
counter-based generator's split-proof numbers."""

from __future__ import annotations

import numpy as np
import pytest

from lxdex_capacity.scenarios import (
    DEFAULT_TIERS,
    Generator,
    Scenario,
    top_share,
    zipf_exponent_for_share,
    zipf_weights,
)
from lxdex_capacity.simulation.assignment import split


def test_depths_follow_the_tier_table():
    gen = Generator(Scenario(markets=21_000))
    depths = gen.depths(gen.global_ids())
    bounds = [(0, 20, 1000, 5000), (20, 100, 500, 1000), (100, 1000, 100, 500), (1000, 5000, 20, 100), (5000, 21_000, 5, 20)]
    for start, stop, low, high in bounds:
        part = depths[start:stop]
        assert part.min() >= low and part.max() <= high
        assert abs(part.mean() - (low + high) / 2) < 0.1 * (high - low) + 1  # uniform within the tier
    assert 780_000 < depths.sum() < 880_000  # about 830K resting orders, as in the published run
    assert len(DEFAULT_TIERS) == 5


@pytest.mark.parametrize("n, flow, share", [(21_000, 0.8, 0.2), (1000, 0.9, 0.1), (50, 0.5, 0.2)])
def test_zipf_exponent_gives_the_requested_concentration(n, flow, share):
    s = zipf_exponent_for_share(n, flow, share)
    assert top_share(zipf_weights(n, s), share) == pytest.approx(flow, abs=1e-6)


def test_seed_orders_never_cross_and_keep_each_markets_sequence_whatever_the_interleaving():
    scenario = Scenario(markets=100, seed=3)
    gen = Generator(scenario)
    mids = gen.mids(gen.global_ids())
    orders = gen.seed_orders(0, np.full(100, 50), mids)
    assert len(orders) == 5_000 and np.array_equal(np.bincount(orders.markets), np.full(100, 50))
    mid = mids[orders.markets]
    assert np.where(orders.sides == 0, orders.prices < mid, orders.prices > mid).all()
    assert orders.qtys.min() >= scenario.min_qty and orders.qtys.max() <= scenario.max_qty
    # Market 7's orders, in its own arrival order, are the same when seeded alone.
    alone = gen.seed_orders(7, np.array([50]), mids)
    mine = orders.markets == 7
    assert np.array_equal(alone.prices, orders.prices[mine]) and np.array_equal(alone.qtys, orders.qtys[mine])


def test_flow_follows_its_parameters():
    scenario = Scenario(markets=2_000, taker_share=0.3, seed=4)
    gen = Generator(scenario)
    mids = gen.mids(gen.global_ids())
    flow = gen.flow(0, 200_000, mids)
    assert np.array_equal(flow.index, np.arange(200_000))
    assert abs((flow.types == 2).mean() - 0.3) < 0.01
    buys = flow.sides == 0
    assert abs(buys.mean() - 0.5) < 0.01
    makers = flow.types == 0
    mid = mids[flow.markets]
    assert (np.where(buys, flow.prices < mid, flow.prices > mid)[makers]).all()  # makers rest on their side
    assert (np.where(buys, flow.prices > mid, flow.prices < mid)[~makers]).all()  # takers reach through the mid
    counts = np.bincount(flow.markets, minlength=2_000)
    top = np.sort(counts)[::-1][:400].sum() / counts.sum()
    assert abs(top - 0.8) < 0.01  # 80% of flow to the top 20% of markets
    # Sizes: classical Pareto with alpha 1.5, so P(size >= 4) = 4 ** -1.5 = 1/8.
    assert abs((flow.qtys >= 4).mean() - 0.125) < 0.005


def test_every_shard_draws_the_numbers_one_process_draws():
    scenario = Scenario(markets=1_000, seed=9)
    whole = Generator(scenario)
    all_mids = whole.mids(whole.global_ids())
    reference = whole.flow(1_000, 20_000, all_mids)
    parts = []
    first = Generator(scenario, split(scenario, 3)[0])
    held = []
    for k in range(3):
        gen = first.for_shard(k) if k else first
        ids = gen.global_ids()
        held.append(ids)
        assert gen.shards == 3 and np.array_equal(gen.mids(ids), all_mids[ids])
        part = gen.flow(1_000, 20_000, all_mids[ids])
        parts.append((part.index, ids[part.markets], part.prices, part.qtys, part.types))
    assert np.array_equal(np.sort(np.concatenate(held)), np.arange(1_000))  # every market on exactly one shard
    merged = [np.concatenate(column) for column in zip(*parts, strict=True)]
    order = np.argsort(merged[0])
    for got, want in zip(merged[1:], (reference.markets, reference.prices, reference.qtys, reference.types), strict=True):
        assert np.array_equal(got[order], want)


def test_the_seed_changes_every_stream():
    a, b = Generator(Scenario(markets=500, seed=1)), Generator(Scenario(markets=500, seed=2))
    ids = a.global_ids()
    assert not np.array_equal(a.mids(ids), b.mids(ids))
    assert not np.array_equal(a.depths(ids), b.depths(ids))
    fa, fb = a.flow(0, 1_000, a.mids(ids)), b.flow(0, 1_000, b.mids(ids))
    assert not np.array_equal(fa.markets, fb.markets) and not np.array_equal(fa.qtys, fb.qtys)
