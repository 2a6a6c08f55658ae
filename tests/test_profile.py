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
