"""Sweeps on Dask: a local cluster on loopback gives the same points as one process."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import assert_one_line_error, run_cli

SMALL_SWEEP = ("sweep", "--markets", "300,600,1200", "--repeat", "1", "--trades", "3000", "--trades-retained", "1024", "--json")


@pytest.mark.slow
def test_sweep_on_two_local_workers_matches_one_process(tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install '.[distributed]')")
    parallel = run_cli(*SMALL_SWEEP, "--out", str(tmp_path / "p.json"), "--workers", "2")
    assert parallel.exit_code == 0, parallel.stderr
    serial = run_cli(*SMALL_SWEEP, "--out", str(tmp_path / "s.json"))
    assert serial.exit_code == 0, serial.stderr
    p, s = json.loads(parallel.stdout), json.loads(serial.stdout)
    key = lambda r: [(x["markets"], x["variant"], x["seed"], x["resting_orders"], x["trades_retained"], x["engine_bytes_used"]) for x in r["points"]]  # noqa: E731
    assert key(p) == key(s)  # engine bytes are deterministic for a seed, wherever they run
    assert p["model"]["coefficients"] == s["model"]["coefficients"]


def test_workers_without_dask_say_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed: importing it fails
    result = run_cli(*SMALL_SWEEP, "--out", str(tmp_path / "m.json"), "--workers", "2")
    assert_one_line_error(result, "pip install 'lxdex-capacity[distributed]'")


def test_workers_and_scheduler_are_exclusive(tmp_path):
    assert_one_line_error(run_cli(*SMALL_SWEEP, "--out", str(tmp_path / "m.json"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"),
                          "not both")


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    assert_one_line_error(run_cli(*SMALL_SWEEP, "--out", str(tmp_path / "m.json"), "--scheduler", "tcp://127.0.0.1:9"),
                          "cannot reach the Dask scheduler")


@pytest.mark.slow
def test_an_existing_scheduler_runs_sweeps_and_shards(tmp_path):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as cluster:
        address = cluster.scheduler_address
        sweep = run_cli(*SMALL_SWEEP, "--out", str(tmp_path / "m.json"), "--scheduler", address)
        assert sweep.exit_code == 0, sweep.stderr
        assert len(json.loads(sweep.stdout)["points"]) == 7
        args = ["simulate", "--markets", "140000", "--trades", "20000", "--json"]
        remote = run_cli(*args, "--shards", "3", "--scheduler", address)
        assert remote.exit_code == 0, remote.stderr
    local = run_cli(*args, "--shards", "1")
    assert json.loads(remote.stdout)["market_checksum"] == json.loads(local.stdout)["market_checksum"]
