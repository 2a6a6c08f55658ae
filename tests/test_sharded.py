"""One simulation whatever executes it: one process, K shards in process, K shards on Dask workers.

The markets, every order's outcome, the trades and both checksums must not depend on K; shards are
balanced by load; a failed shard is reported and the others' figures kept.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.results import fail_shard_after_seeding
from lxdex_capacity.errors import InputError
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.scenarios.generator import Generator
from lxdex_capacity.simulation import simulate
from lxdex_capacity.simulation.assignment import expected_load, split
from lxdex_capacity.simulation.run import batch_size
from lxdex_capacity.simulation.shard import Shard

SCENARIO = Scenario(markets=3_001, trades=40_000, seed=5, batch=8_192)
WITH_CANCELS = SCENARIO.replace(cancel_rate=0.4, seed=6)


def _figures(result):
    """Everything about the markets and trades of a run that must not depend on its execution."""
    return (
        result.market_checksum,
        result.tape_checksum,
        [(p.name, p.markets, p.resting_orders, p.price_levels, p.trades) for p in result.phases],
        result.throughput.flow_orders,
        result.throughput.cancels,
        result.distributions["depth_by_rank"],
        result.distributions["trades_lorenz"],
        result.breakdown["all"]["resting_orders_mean"],
        [t["price_levels_mean"] for t in result.breakdown["tiers"]],
    )


@pytest.mark.slow  # ~18 s; the Dask shard tests cover the same equality in the default suite
@pytest.mark.parametrize("scenario", [SCENARIO, pytest.param(WITH_CANCELS, marks=pytest.mark.slow)], ids=["stationary", "cancel_rate"])
def test_one_two_and_three_shards_in_process_are_the_same_run(scenario):
    runs = {k: simulate(scenario, shards=k) for k in (1, 2, 3)}
    reference = _figures(runs[1])
    assert reference[0] is not None and reference[1] is not None
    for k in (2, 3):
        assert _figures(runs[k]) == reference, f"{k} shards differ from one process"
        assert runs[k].execution.shards == k and len(runs[k].shards) == k
        assert sum(s.markets for s in runs[k].shards) == scenario.markets
        assert sum(s.trades for s in runs[k].shards) == runs[1].traded.trades
    assert runs[1].traded.trades >= scenario.trades
    if scenario.cancel_rate:
        assert runs[1].throughput.cancels > 0


@pytest.mark.slow  # ~6 s; the same-seed equality stays in the default suite; CI runs it in the slow pass
def test_a_different_seed_is_a_different_run():
    a = simulate(SCENARIO.replace(trades=5_000))
    b = simulate(SCENARIO.replace(trades=5_000, seed=99))
    assert a.market_checksum != b.market_checksum and a.tape_checksum != b.tape_checksum


def _per_order(scenario: Scenario, shards: int, batches: list[tuple[int, int]]) -> np.ndarray:
    """Every flow order's (index, status, filled) when ``shards`` shards take ``batches``."""
    first = Generator(scenario, split(scenario, shards)[0])
    records: list[np.ndarray] = []
    for k in range(shards):
        shard = Shard(first.for_shard(k))
        shard.seed(0, shard.markets)
        for start, count in batches:
            shard.step(start, count, record=records)
    rows = np.concatenate(records)
    return rows[np.argsort(rows[:, 0], kind="stable")]


@pytest.mark.parametrize("scenario", [SCENARIO.replace(markets=500), WITH_CANCELS.replace(markets=500)], ids=["plain", "cancels"])
def test_every_order_has_the_same_outcome_on_any_number_of_shards(scenario):
    batches = [(0, 3_000), (3_000, 5_000), (8_000, 257), (8_257, 1)]
    one = _per_order(scenario, 1, batches)
    assert len(one) == 8_258 and (one[:, 0] == np.arange(8_258)).all()
    assert {0, 1, 2} <= set(one[:, 1].tolist())  # resting, filled and cancelled (IOC) orders all occur
    for shards in (2, 3, 4):
        assert np.array_equal(_per_order(scenario, shards, batches), one), f"{shards} shards"


def test_the_books_stay_at_their_seeded_depth_and_the_bookkeeping_is_exact():
    scenario = SCENARIO.replace(markets=400)
    shard = Shard(Generator(scenario, split(scenario, 2)[1]))
    shard.seed(0, shard.markets)
    for start in range(0, 40_000, 4_000):
        shard.step(start, 4_000)
    resting = shard.engine.market_stats()["resting_orders"]
    assert np.array_equal(resting, shard.resting)  # counted exactly, never by walking the books
    assert (resting <= shard.targets).all() and resting.sum() >= 0.9 * shard.targets.sum()


@pytest.mark.parametrize("markets, shards", [(1_000_000, 2), (21_000, 2), (21_000, 3), (21_000, 8), (3_001, 4), (5, 5)])
def test_shards_are_balanced_by_expected_flow_and_depth(markets, shards):
    scenario = Scenario(markets=markets)
    parts = split(scenario, shards)
    held = np.concatenate([p.ranks(markets) for p in parts])
    assert np.array_equal(np.sort(held), np.arange(markets))  # every market on exactly one shard
    loads = expected_load(scenario, parts)
    assert sum(load.markets for load in loads) == markets and min(load.markets for load in loads) >= 1
    assert sum(load.flow_share for load in loads) == pytest.approx(1.0)
    if markets >= 1_000:
        total = sum(x.resting_orders for x in loads)
        # No shard carries much more than its 1/K of the flow or of the books ...
        assert max(max(x.flow_share, x.resting_orders / total) for x in loads) * shards < 1.05
        if shards <= 4:  # ... and with few shards both are within a few percent everywhere
            assert max(x.flow_share for x in loads) / min(x.flow_share for x in loads) < 1.05
            assert max(x.resting_orders for x in loads) / min(x.resting_orders for x in loads) < 1.06



def test_a_runs_trades_split_as_the_loads_say():
    result = simulate(SCENARIO, shards=2)
    trades = [s.trades for s in result.shards]
    assert max(trades) / min(trades) < 1.25
    assert result.throughput.parallel_orders_per_s > 0


def test_batches_shrink_towards_the_target():
    assert batch_size(SCENARIO, 1_000_000) == SCENARIO.batch
    assert batch_size(SCENARIO, 700) == 700 and batch_size(SCENARIO, 0) == 1
    assert batch_size(SCENARIO.replace(trades_retained=1024), 10_000) == 256


def test_a_failed_shard_is_reported_and_the_others_kept(monkeypatch):
    fail_shard_after_seeding(monkeypatch)
    result = simulate(SCENARIO, shards=3)
    assert result.failed_shards == [1] and result.market_checksum is None and result.tape_checksum is None
    assert result.shards[1].error == "disk on fire" and result.shards[0].error is None
    assert result.shards[0].trades > 0 and result.shards[2].flow_orders > 0
    assert result.to_dict()["failed_shards"] == [1]


def test_impossible_requests_are_refused():
    with pytest.raises(InputError, match="shards=4"):
        simulate(Scenario(markets=3, trades=10), shards=4)
    with pytest.raises(InputError, match="shards=0"):
        simulate(SCENARIO, shards=0)
    with pytest.raises(InputError, match="one process"):
        simulate(SCENARIO, shards=2, inspect=lambda engine: None)


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install '.[distributed]')")
    from lxdex_capacity.distributed import dask_client as make_client

    with make_client(workers=2) as client:
        yield client


@pytest.mark.parametrize("scenario", [SCENARIO, WITH_CANCELS], ids=["stationary", "cancel_rate"])
def test_shards_on_a_local_dask_cluster_are_the_same_run(dask_client, scenario):
    on_dask = simulate(scenario, shards=2, client=dask_client)
    in_process = simulate(scenario, shards=1)
    assert _figures(on_dask) == _figures(in_process)
    assert on_dask.execution.mode == "dask" and on_dask.failed_shards == []
    assert all(s.rss_bytes > 0 and s.peak_rss_bytes >= s.rss_bytes for s in on_dask.shards)
    traded = on_dask.traded
    assert traded.rss_bytes == sum(s.rss_bytes for s in on_dask.shards)
    assert traded.engine_bytes_used == sum(s.engine_bytes_used for s in on_dask.shards)


def test_a_shard_failing_on_a_dask_worker_is_reported(dask_client):
    def break_shard_one():
        from lxdex_capacity.simulation import worker

        real = worker.ShardWorker.step

        def flaky(self, start, count):
            if self.shard.shard == 1:
                raise RuntimeError("worker lost its disk")
            return real(self, start, count)

        worker.ShardWorker.step = flaky

    def repair():
        import importlib

        from lxdex_capacity.simulation import worker

        importlib.reload(worker)

    dask_client.run(break_shard_one)
    try:
        result = simulate(SCENARIO, shards=2, client=dask_client)
    finally:
        dask_client.run(repair)
    assert result.failed_shards == [1] and "worker lost its disk" in (result.shards[1].error or "")
    assert result.shards[0].error is None and result.market_checksum is None
