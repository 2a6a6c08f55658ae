"""``Engine(n, threads=k)``: markets partitioned across threads, every order's result as one engine's.

The reference matcher's differential flows (every order type, cancels, reduces, amends, invalid orders, pool
growth mid-batch) run on partitioned engines; a seeded simulation flow gives the same per-order
results, trades and books with 1 to 4 threads."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.differential import Differential
from lxdex_capacity.engine import Engine
from lxdex_capacity.engine.partitioned import PartitionedEngine
from lxdex_capacity.errors import InputError


@pytest.mark.parametrize("threads, n_markets, seed", [(2, 7, 21), (3, 40, 22), (4, 13, 23), (2, 2, 24)])
def test_a_partitioned_engine_matches_the_reference(threads, n_markets, seed):
    stats = Differential(n_markets, seed, threads=threads).run(40_000)
    assert stats.trades > 5_000 and stats.cancels > 5_000 and stats.reduces > 2_000
    assert stats.amends > 3_000 and stats.replaced > 1_500


def _flow(n_markets: int, n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    markets = rng.integers(-1, n_markets + 1, n)  # a few orders for no market
    sides = rng.integers(0, 2, n)
    prices = 1_000 + rng.integers(-8, 9, n)
    qtys = rng.integers(1, 20, n)
    types = rng.choice(5, n, p=[0.7, 0.05, 0.1, 0.05, 0.1])
    return markets, sides, prices, qtys, types


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_every_order_has_one_engines_status_and_fill_and_every_market_its_trades_and_book(threads):
    n_markets = 50
    one, many = Engine(n_markets, tape_capacity=1 << 16), Engine(n_markets, threads=threads, tape_capacity=1 << 16)
    assert isinstance(many, PartitionedEngine) and many.threads == threads
    ids_one: list[np.ndarray] = []
    ids_many: list[np.ndarray] = []
    for batch in range(20):
        flow = _flow(n_markets, 2_000, batch)
        a, b = one.submit(*flow), many.submit(*flow)
        assert np.array_equal(a.status, b.status) and np.array_equal(a.filled, b.filled)
        assert np.array_equal(a.order_ids < 0, b.order_ids < 0)
        ids_one.append(a.order_ids)
        ids_many.append(b.order_ids)
        # cancel and reduce the same orders (by arrival) on both
        every_one, every_many = np.concatenate(ids_one), np.concatenate(ids_many)
        pick = np.random.default_rng(batch).integers(0, len(every_one), 300)
        assert np.array_equal(one.cancel(every_one[pick[:150]]), many.cancel(every_many[pick[:150]]))
        assert np.array_equal(one.reduce(every_one[pick[150:]], np.full(150, 2)), many.reduce(every_many[pick[150:]], np.full(150, 2)))
        # amend the same orders on both: in place, moved, crossing (the band is 992..1008), invalid
        rng = np.random.default_rng(1_000 + batch)
        pick = rng.integers(0, len(every_one), 200)
        prices, qtys = 1_000 + rng.integers(-9, 10, 200), rng.integers(-1, 25, 200)
        a, b = one.amend(every_one[pick], prices, qtys), many.amend(every_many[pick], prices, qtys)
        assert np.array_equal(a.status, b.status) and np.array_equal(a.filled, b.filled)
        assert np.array_equal(a.order_ids == every_one[pick], b.order_ids == every_many[pick])  # kept its id
        assert np.array_equal(a.order_ids < 0, b.order_ids < 0)
        replaced = (a.order_ids >= 0) & (a.order_ids != every_one[pick])
        ids_one.append(a.order_ids[replaced])
        ids_many.append(b.order_ids[replaced])
    assert one.trade_count == many.trade_count and one.resting_orders == many.resting_orders
    assert one.totals() == many.totals()
    t1, tk = one.trades(), many.trades()
    for field in ("market", "price", "qty", "taker_side"):
        assert np.array_equal(t1[field], tk[field]), field
    for m in range(n_markets):
        for side in (0, 1):
            assert np.array_equal(one.depth(m, side, 50), many.depth(m, side, 50))
            a, b = one.book_orders(m, side), many.book_orders(m, side)
            assert np.array_equal(a["price"], b["price"]) and np.array_equal(a["qty"], b["qty"])
    for name, values in one.market_stats().items():
        assert np.array_equal(values, many.market_stats()[name]), name
    assert np.array_equal(one.best_bid(np.arange(n_markets)), many.best_bid(np.arange(n_markets)))
    assert many.memory().resting_orders == one.resting_orders


def test_partitions_follow_the_assignment_given_and_refuse_an_empty_one():
    eng = Engine(6, threads=2, partition_of=[0, 0, 0, 0, 1, 1])
    assert eng.markets_of(1).tolist() == [4, 5]  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="partition 1 of 2 holds no market"):
        Engine(3, threads=2, partition_of=[0, 0, 0])
    with pytest.raises(InputError, match="threads=0"):
        Engine(3, threads=0)
    with pytest.raises(InputError, match="has one book per partition"):
        _ = eng.book


def test_simulate_and_bench_with_threads_give_the_same_run(tmp_path):
    import json

    from helpers import run_cli

    one = run_cli("simulate", "--markets", "300", "--trades", "20000", "--json")
    two = run_cli("simulate", "--markets", "300", "--trades", "20000", "--threads", "3", "--json")
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a["tape_checksum"] == b["tape_checksum"] and a["market_checksum"] == b["market_checksum"]
    assert b["execution"]["threads"] == 3 and a["execution"]["threads"] == 1
    bench = run_cli("bench", "--quick", "--markets", "300", "--trades", "2000", "--threads", "2", "--json")
    assert bench.exit_code == 0, bench.stderr
    assert json.loads(bench.stdout)["config"]["threads"] == 2
    assert "--threads=200: more threads than markets" in run_cli("simulate", "--markets", "100", "--threads", "200").stderr


@pytest.mark.slow  # a simulation and a report, ~10 s
def test_simulate_and_report_say_what_a_threaded_run_matched_on(tmp_path):
    import json

    from helpers import run_cli

    table = run_cli("simulate", "--markets", "300", "--trades", "20000", "--threads", "3")
    assert "orders through matching (traded phase), 3 threads" in " ".join(table.stdout.split())
    run = run_cli("simulate", "--markets", "300", "--trades", "20000", "--threads", "3", "--json")
    assert json.loads(run.stdout)["execution"]["threads"] == 3
    saved = tmp_path / "run.json"
    saved.write_text(run.stdout)
    report = run_cli("report", "--simulate", str(saved), "--out", str(tmp_path / "r"), "--no-latency")
    assert report.exit_code == 0, report.stderr
    assert "orders through matching (traded phase, 3 threads)" in (tmp_path / "r" / "report.md").read_text()
