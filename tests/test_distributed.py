"""Sweeps on Dask: a local cluster on loopback gives the same points as one process."""

from __future__ import annotations

import errno
import json
import socket
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from helpers import assert_one_line_error, run_cli

SMALL_SWEEP = ("sweep", "--markets", "300,600,1200", "--repeat", "1", "--trades", "3000", "--trades-retained", "1024", "--working-sets", "none", "--json")


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


# -- another cluster on this machine: ours starts in silence beside it ----------------------------------------

DASHBOARD_PORT = 8787  # Dask's default dashboard port, which another cluster on this machine may hold


@contextmanager
def port_taken(port: int) -> Iterator[None]:
    """``port`` on 127.0.0.1 held for the duration, as another Dask cluster's dashboard holds 8787: by a
    plain listening socket, or by whatever holds it already."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with probe, pytest.raises(OSError):
            probe.bind(("127.0.0.1", port))  # taken, by us or by another
        yield
    finally:
        sock.close()


@pytest.mark.slow  # two Dask clusters, ~8 s; CI runs it in the slow pass
def test_a_local_cluster_beside_another_says_nothing_and_serves_no_dashboard(tmp_path, capfd):
    """With Dask's dashboard port taken (another cluster running here), ``simulate --shards`` starts its
    own cluster with no warning and no log line, from this process or its workers (capfd: file
    descriptor 2, which the worker processes write to), and the result alone on stdout; the cluster
    serves nothing on any port (no dashboard, no route), 8787 or another."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    from lxdex_capacity.distributed import dask_client

    with port_taken(DASHBOARD_PORT), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dask_client(workers=1) as client:
            http = client.cluster.scheduler.http_server
            assert http.port != DASHBOARD_PORT
            for path in ("/status", "/health", "/info/main/workers.html", "/metrics"):
                with pytest.raises(urllib.error.HTTPError) as answer:
                    urllib.request.urlopen(f"http://127.0.0.1:{http.port}{path}", timeout=10)
                assert answer.value.code == 404, path
        result = run_cli("simulate", "--markets", "2000", "--trades", "20000", "--shards", "2", "--json")
    assert result.exit_code == 0, result.stderr
    # lxdex's own one-line notes (a figure measured on a busy machine, say) may be there; nothing else may
    assert [line for line in result.stderr.splitlines() if not line.startswith("lxdex: warning: ")] == [], result.stderr
    assert "Port" not in result.stderr and "dashboard" not in result.stderr and "distributed" not in result.stderr
    assert json.loads(result.stdout)["execution"]["shards"] == 2  # stdout is the result, and only it
    assert [str(w.message) for w in caught] == []
    captured = capfd.readouterr()
    assert captured.err == "", captured.err
    assert captured.out == ""
