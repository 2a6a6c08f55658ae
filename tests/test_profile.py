"""lxdex profile: the per-market breakdown adds up to engine.memory(); the layout comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import run_cli
from lxdex_capacity.engine import Engine
from lxdex_capacity.profiling.breakdown import breakdown, layout_comparison, per_market_bytes
from lxdex_capacity.scenarios import DEFAULT_TIERS, Generator, Scenario


def seeded_engine(n: int = 3_000) -> Engine:
    gen = Generator(Scenario(markets=n, seed=1))
    markets = gen.global_ids()
    seed = gen.seed_orders(0, gen.depths(markets), gen.mids(markets))
    eng = Engine(n)
    eng.submit(seed.markets, seed.sides, seed.prices, seed.qtys)
    # A few crossing orders so the trade tape is not empty.
    eng.submit(np.arange(50), np.zeros(50, int), np.full(50, 2_000_000), np.full(50, 3), np.full(50, 2))
    return eng


def test_per_market_bytes_add_up_to_the_engine_memory_report():
    eng = seeded_engine()
    per_market = per_market_bytes(eng)
    used = eng.memory().components
    for component, values in per_market.items():
        assert np.isclose(values.sum(), used[component][0]), component
    assert eng.trade_count > 0 and per_market["trade_tape"].sum() > 0


def test_breakdown_per_tier_means_weighted_back_give_the_overall_mean():
    eng = seeded_engine()
    b = breakdown(eng, DEFAULT_TIERS)
    assert [t.markets for t in b["tiers"]] == [20, 80, 900, 2000]  # 3,000 markets fill four tiers
    weighted = sum(t.total_mean * t.markets for t in b["tiers"]) / 3_000
    assert np.isclose(weighted, b["all"].total_mean)
    assert np.isclose(b["all"].total_mean * 3_000, b["engine_bytes_used"])
    assert b["tiers"][0].resting_orders_mean > b["tiers"][-1].resting_orders_mean


def test_layout_comparison_measures_naive_objects_on_real_orders():
    layout = layout_comparison(seeded_engine(), sample=2_000)
    assert layout["compact"]["order_record_bytes"] == 20 and layout["compact"]["padding_bytes"] == 0
    naive = layout["naive"]
    assert naive["sample_orders"] == 2_000
    # Python objects in dicts and deques cost an order of magnitude more than 20-byte rows.
    assert naive["slotted_object_per_order_bytes"] > 10 * layout["compact"]["all_in_bytes_per_order"]
    assert naive["object_per_order_bytes"] > naive["slotted_object_per_order_bytes"]


@pytest.mark.slow  # two profile runs, ~7 s; CI runs it in the slow pass
def test_cli_profile_json_and_table():
    res = run_cli("profile", "--markets", "300", "--trades", "2000", "--json")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert set(report["components"]) == {"market_state", "orders", "price_levels", "trade_tape", "indexes"}
    assert np.isclose(report["all"]["total_mean"] * 300, report["engine_bytes_used"])
    assert report["layout"]["naive"]["object_per_order_bytes"] > 0
    table = run_cli("profile", "--markets", "300", "--trades", "2000")
    assert table.exit_code == 0 and "memory breakdown per market" in table.stdout and "__slots__" in table.stdout


def test_cold_and_cached_replays_the_same_orders_onto_the_cached_markets():
    """ColdAndCached (bench/engine_bound_bench.py): the cached engine gets the cold flow's orders, batch for batch,
    on market % cached at the same distance from its mid; each run reports what a plain engine given the same
    orders does (no assertion on how long anything took)."""
    from lxdex_capacity.profiling.engine_bench import ColdAndCached

    pair = ColdAndCached(300, cached=10, seed=1, batch=2_048)
    gen, mids = pair.generator, pair.mids
    batches = pair.draw(5_000)
    assert [len(b[0]) for b in batches] == [2_048] * 3
    assert np.array_equal(batches[0][0], gen.flow(0, 2_048, mids).markets)  # the flow from its start, as seeded_flow draws it
    assert not np.array_equal(pair.draw(1)[0][0], batches[0][0])  # the next draw goes on where this one stopped
    for b in batches:
        markets, sides, prices, qtys, types = pair.mapped(b)
        assert markets.max() < 10 and np.array_equal(markets, b[0] % 10)
        assert np.array_equal(prices, np.maximum(b[2] - mids[b[0]] + mids[b[0] % 10], 1))
        assert all(np.array_equal(x, y) for x, y in zip((sides, qtys, types), (b[1], b[3], b[4]), strict=True))

    cold_seeds = gen.seed_orders(0, gen.depths(gen.global_ids()), mids)
    cold = Engine(300)
    cold.submit(cold_seeds.markets, cold_seeds.sides, cold_seeds.prices, cold_seeds.qtys)
    assert pair.seeded_orders == cold.resting_orders
    cached_seeds = gen.seed_orders(0, gen.depths(gen.global_ids(0, 10)), mids)
    cached = Engine(10)
    cached.submit(cached_seeds.markets, cached_seeds.sides, cached_seeds.prices, cached_seeds.qtys)
    for b in batches:
        cold.submit(*b)
        cached.submit(*pair.mapped(b))

    got_cold, got_cached = pair.run_cold(batches), pair.run_cached(batches)
    assert (got_cold.orders, got_cold.trades, got_cold.resting_after) == (6_144, cold.trade_count, cold.resting_orders)
    assert (got_cached.orders, got_cached.trades, got_cached.resting_after) == (6_144, cached.trade_count, cached.resting_orders)
    assert got_cold.trades > 0 and got_cached.trades > 0
    for run in (got_cold, got_cached):
        assert run.cpu_s >= 0 and run.ns_per_order == pytest.approx(1e9 * run.cpu_s / run.orders)
    for run, first in ((pair.run_cold(batches), got_cold), (pair.run_cached(batches), got_cached)):  # fresh engines: the same again
        assert (run.trades, run.resting_after) == (first.trades, first.resting_after)
    with pytest.raises(ValueError):
        ColdAndCached(5, cached=10)
