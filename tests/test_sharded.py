"""Sharded simulations: the same seed gives the same markets whatever the shard count, in process
or on a local Dask cluster; failed shards are reported and the others kept."""

from __future__ import annotations

import json

import pytest

from lxdex_capacity.simulation import sharded
from lxdex_capacity.errors import InputError
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.simulation.sharded import BLOCK, block_flow, flow_budget, simulate_sharded
from test_cli import assert_one_line_error, lxdex

SCENARIO = Scenario(markets=3 * BLOCK + 1234, trades=60_000, seed=5)


def test_block_flow_splits_the_budget_exactly_by_weight():
    flows = block_flow(SCENARIO)
    assert len(flows) == 4 and flows.sum() == flow_budget(SCENARIO)
    assert list(flows) == sorted(flows, reverse=True)  # block 0 holds the most active ranks


def test_the_shard_count_does_not_change_the_markets():
    results = {k: simulate_sharded(SCENARIO, k).as_dict() for k in (1, 2, 4)}
    checksums = {r["market_checksum"] for r in results.values()}
    assert len(checksums) == 1 and None not in checksums
    totals = [(r["total"]["trades"], r["total"]["resting_orders"], r["total"]["engine_bytes_used"] - 0) for r in results.values()]
    assert len({t[:2] for t in totals}) == 1
    four = results[4]
    assert [s["markets"] for s in four["per_shard"]] == [BLOCK, BLOCK, BLOCK, 1234]
    assert four["total"]["markets"] == SCENARIO.markets
    assert simulate_sharded(SCENARIO.replace(seed=6), 2).as_dict()["market_checksum"] not in checksums


def test_a_failed_shard_is_reported_and_the_others_kept(monkeypatch):
    real = sharded.run_shard

    def flaky(spec):
        return {"shard": spec["shard"], "error": "disk on fire"} if spec["shard"] == 1 else real(spec)

    monkeypatch.setattr(sharded, "run_shard", flaky)
    result = simulate_sharded(SCENARIO, 2)
    report = result.as_dict()
    assert report["failed_shards"] == [1] and report["market_checksum"] is None
    assert report["per_shard"][1] == {"shard": 1, "error": "disk on fire"}
    assert report["total"]["markets"] == report["per_shard"][0]["markets"] > 0


def test_run_shard_returns_errors_instead_of_raising():
    bad = {"scenario": {"markets": 0}, "shard": 0, "shards": 1}
    out = sharded.run_shard(bad)
    assert out["shard"] == 0 and "markets=0" in out["error"]


def test_unsupported_and_impossible_requests():
    with pytest.raises(InputError, match="cancel_rate"):
        simulate_sharded(SCENARIO.replace(cancel_rate=0.1), 2)
    with pytest.raises(InputError, match="more than the 4 block"):
        simulate_sharded(SCENARIO, 5)
    with pytest.raises(InputError, match="taker_share=0"):
        simulate_sharded(SCENARIO.replace(taker_share=0.0), 1)


def test_sharded_on_a_local_dask_cluster_matches_one_process():
    pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install '.[distributed]')")
    args = ["simulate", "--markets", str(SCENARIO.markets), "--trades", "60000", "--seed", "5", "--json"]
    two = lxdex(*args, "--shards", "2")
    assert two.returncode == 0, two.stderr
    one = lxdex(*args, "--shards", "1")
    assert one.returncode == 0, one.stderr
    a, b = json.loads(two.stdout), json.loads(one.stdout)
    assert a["market_checksum"] == b["market_checksum"] == simulate_sharded(SCENARIO, 3).as_dict()["market_checksum"]
    assert a["shards"] == 2 and len(a["per_shard"]) == 2
    assert {"engine_bytes_used", "peak_rss_bytes", "orders_per_s", "markets"} <= set(a["per_shard"][0])
    assert a["total"]["engine_bytes_used"] == sum(s["engine_bytes_used"] for s in a["per_shard"])


def test_shards_beyond_one_without_dask_say_how_to_install_it():
    import subprocess
    import sys

    code = "import sys; sys.modules['distributed'] = None; from lxdex_capacity.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "simulate", "--markets", "200000", "--trades", "1000", "--shards", "2"],
                            capture_output=True, text=True, timeout=300)
    assert_one_line_error(result, "pip install 'lxdex-capacity[distributed]'")
