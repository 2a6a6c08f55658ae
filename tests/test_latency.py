"""``lxdex latency``: arrival processes, percentiles, the open-loop harness and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.latency import arrivals, measure_latency
from lxdex_capacity.latency.harness import percentiles
from lxdex_capacity.scenarios.config import Scenario


def test_the_same_seed_gives_the_same_arrivals_and_the_offered_rate():
    a, b = arrivals.poisson(1e6, 200_000, 7), arrivals.poisson(1e6, 200_000, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, arrivals.poisson(1e6, 200_000, 8))
    assert np.all(np.diff(a) >= 0)
    assert 200_000 / (a[-1] / 1e9) == pytest.approx(1e6, rel=0.02)
    burst = arrivals.bursty(1e6, 400_000, 3)
    assert np.array_equal(burst, arrivals.bursty(1e6, 400_000, 3)) and np.all(np.diff(burst) >= 0)
    assert 400_000 / (burst[-1] / 1e9) == pytest.approx(1e6, rel=0.1)
    gaps = np.diff(burst).astype(float)
    assert gaps.std() / gaps.mean() > 1.2  # burstier than Poisson, whose gaps have std = mean
    day = arrivals.scaled_gaps(np.array([0.0, 1.0, 1.5, 4.0]), 3.0, 6)
    assert len(day) == 6 and day[-1] == pytest.approx(2e9, rel=1e-9)  # 6 orders at 3/s: 2 s


def test_percentiles_are_measured_samples():
    p = percentiles(np.arange(1, 1001, dtype=float))
    assert (p.p50_ns, p.p90_ns, p.p99_ns, p.max_ns, p.samples) == (500.0, 900.0, 990.0, 1000.0, 1000)


@pytest.fixture(scope="module")
def light_and_overloaded():
    return measure_latency(Scenario(markets=500), [20_000, 1e9], orders_per_rate=5_000, reserve=True)


def test_latency_is_service_time_at_light_load_and_queues_beyond_capacity(light_and_overloaded):
    r = light_and_overloaded
    light, over = r.rates
    assert r.service.samples == light.latency.samples == over.latency.samples == 5_000
    # At 20,000 orders/s an order almost never waits: its latency is its service time, plus the loop noticing it arrived.
    assert light.latency.p50_ns <= 3 * r.service.p50_ns + 1_000
    assert light.achieved_per_s == pytest.approx(20_000, rel=0.1)
    # Offered a billion a second, orders queue: latency grows to the whole backlog, throughput is the capacity.
    assert over.latency.p50_ns > 100 * light.latency.p50_ns
    assert over.achieved_per_s < 0.5e9 and light.stalls == over.stalls == 0  # reserved pools never grow
    json.dumps(r.as_dict(), allow_nan=False)


def test_growing_pools_stall_and_are_counted():
    r = measure_latency(Scenario(markets=50, tiers=(dict(low=1, high=1),)), [50_000], orders_per_rate=20_000)  # type: ignore[arg-type]
    assert r.rates[0].stalls > 0


def test_latency_command_json_has_a_row_per_rate():
    result = run_cli("latency", "--markets", "500", "--rates", "20000,1e9", "--orders-per-rate", "2000", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["offered_per_s"] for r in report["rates"]] == [20_000, 1e9]
    assert {"offered_per_s", "achieved_per_s", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns", "samples"} <= set(report["rates"][0])
    table = run_cli("latency", "--markets", "500", "--rates", "20000", "--orders-per-rate", "2000", "--batch", "16")
    assert table.exit_code == 0 and "batches of 16" in table.stdout and "p99.99" in table.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--rates", "abc"], "--rates='abc': must be comma-separated"),
    (["--rates", "0"], "is not an order rate"),
    (["--arrivals", "lobster"], "--arrivals lobster needs --day FILE"),
    (["--arrivals", "gamma"], "--arrivals='gamma'"),
])
def test_bad_latency_options_are_one_line(args, fragment):
    assert_one_line_error(run_cli("latency", "--markets", "100", *args), fragment)
