"""``lxdex latency``: arrival processes, percentiles, the open-loop harness and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import assert_one_line_error, pretend_available, run_cli
from lxdex_capacity.errors import InputError
from lxdex_capacity.latency import LatencyRig, arrivals, measure_latency
from lxdex_capacity.latency.harness import _PartitionRun, percentiles
from lxdex_capacity.latency.platform import _floor_at
from lxdex_capacity.measure import RepeatPolicy
from lxdex_capacity.scenarios.config import Scenario

ONCE = RepeatPolicy(repeats=1, warmup=0)  # one run a rate: these tests look at what a run gives, not at its spread


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
    return measure_latency(Scenario(markets=500), [20_000, 1e9], orders_per_rate=5_000, reserve=True, policy=ONCE)


DELAY_NS = 20_000  # an injected service of 20 µs: a floor under every message's service and latency, on any machine


def _queued(arrive_ns: np.ndarray, service_ns: float) -> np.ndarray:
    """Each message's latency in a queue served in arrival order, one message at a time, each taking exactly
    ``service_ns``: a lower bound on a real run's, whose every service takes at least that (the injected delay),
    however slow or busy the machine (a slower service only completes later)."""
    done, latency = 0.0, np.empty(len(arrive_ns))
    for i, at in enumerate(arrive_ns.astype(float)):
        done = max(done, at) + service_ns
        latency[i] = done - at
    return latency


def test_latency_is_never_below_the_service_and_queues_beyond_capacity():
    """With a 20 µs service injected, what holds however slow the machine: no message's latency is below its
    service; at light load the engine keeps up with what is offered; offered a billion a second, the orders queue,
    so the achieved rate is at most one per service time and the latencies are at least those of a queue whose
    every service takes exactly 20 µs (the last order waits for the whole backlog). The same run's service times
    against its latency, at light load, is statistics: test_latency_is_service_time_at_light_load_... (slow)."""
    n = 2_000
    rig = LatencyRig(Scenario(markets=200), orders_per_rate=n, reserve=True, inject_delay_ns=DELAY_NS)
    service = rig.service()
    assert service.orders.samples == n and service.orders.p50_ns >= DELAY_NS - 1  # the counter's rounding: a tick
    assert service.capacity_per_s <= 1e9 / DELAY_NS * 1.001
    seed = rig.scenario.seed  # the k-th offer's arrivals are seeded by the scenario's seed + k (LatencyRig)
    light, over = rig.offer(2_000), rig.offer(1e9)
    for run in (light, over):
        assert run.latency.samples == n and run.stalls == 0  # reserved pools never grow
        assert run.latency.p50_ns >= DELAY_NS - 1 and run.achieved_per_s <= 1e9 / DELAY_NS * 1.001
    offered = arrivals.poisson(2_000, n, seed)
    assert light.achieved_per_s <= n / ((offered[-1] - offered[0] + DELAY_NS) / 1e9) * 1.001  # no faster than they arrive
    ideal = percentiles(_queued(arrivals.poisson(1e9, n, seed + 1), DELAY_NS))
    slack = 2_000  # ns: the injected delay in whole counter ticks, rounded, over a backlog of 2,000 messages
    assert over.latency.p50_ns >= ideal.p50_ns - slack and over.latency.max_ns >= ideal.max_ns - slack
    assert ideal.p50_ns > n / 4 * DELAY_NS and ideal.max_ns > n / 2 * DELAY_NS  # the backlog: thousands of services
    json.dumps([light.as_dict(), over.as_dict()], allow_nan=False)


@pytest.mark.slow  # statistics of the machine: a busy machine delays a light run's orders as it likes
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
    # Three runs of 20,000 orders that rest (books not trimmed): the pools must double at least once while timed.
    r = measure_latency(Scenario(markets=50, stationary=False, tiers=(dict(low=1, high=1),)), [50_000] * 3, orders_per_rate=20_000,  # type: ignore[arg-type]
                        policy=ONCE)
    assert sum(p.stalls for p in r.rates) > 0


def test_latency_command_json_has_a_row_per_rate():
    result = run_cli("latency", "--markets", "500", "--rates", "20000,1e9", "--orders-per-rate", "2000", "--json", "--repeats", "1")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["offered_per_s"] for r in report["rates"]] == [20_000, 1e9]
    assert {"offered_per_s", "achieved_per_s", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns", "samples"} <= set(report["rates"][0])
    table = run_cli("latency", "--markets", "500", "--rates", "20000", "--orders-per-rate", "2000", "--batch", "16", "--repeats", "1")
    assert table.exit_code == 0 and "batches of 16" in table.stdout and "p99.99" in table.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--rates", "abc"], "--rates='abc': must be comma-separated"),
    (["--rates", "0"], "is not an order rate"),
    (["--arrivals", "lobster"], "--arrivals lobster needs --day FILE"),
    (["--arrivals", "gamma"], "--arrivals='gamma'"),
])
def test_bad_latency_options_are_one_line(args, fragment):
    assert_one_line_error(run_cli("latency", "--markets", "100", *args), fragment)


# ---------------------------------------------------------------- the harness is tested


def _plain_outcomes(scenario: Scenario, n: int, seed: int, reserve: bool) -> np.ndarray:
    """The stream an identically seeded rig offers, run through the plain engine (``Engine.submit`` for each
    run of orders, ``Engine.cancel`` for each cancel): the per-message outcomes any timed mode must give."""
    rig = LatencyRig(scenario, orders_per_rate=n, reserve=reserve)
    (markets, sides, prices, qtys, types), cancel_of = rig._stream(n, seed)
    rig._room(0, n)  # the same pools as the timed run's, so that the same slots (order ids) are taken
    engine = rig._shard.engine
    ids, filled, status = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    i = 0
    while i < n:
        if cancel_of[i] >= 0:
            ids[i] = ids[cancel_of[i]]
            status[i] = 100 if engine.cancel([ids[i]])[0] else -100
            i += 1
            continue
        stop = i + 1
        while stop < n and cancel_of[stop] < 0:
            stop += 1
        res = engine.submit(markets[i:stop], sides[i:stop], prices[i:stop], qtys[i:stop], types[i:stop])
        ids[i:stop], filled[i:stop], status[i:stop] = res.order_ids, res.filled, res.status
        i = stop
    return np.stack([ids, filled, status], axis=1)


@pytest.mark.parametrize("batch, look_ahead, reserve, rate", [(1, True, True, 1e9), (1, False, True, 2e4), (7, True, True, 1e9),
                                                               (1, True, False, 1e9), (64, True, False, 5e5)])
def test_every_timed_mode_gives_the_plain_engines_outcome_for_every_message(batch, look_ahead, reserve, rate):
    scenario = Scenario(markets=40, seed=5, cancel_rate=0.6, tiers=({"low": 2, "high": 4},))  # type: ignore[arg-type]
    rig = LatencyRig(scenario, batch=batch, look_ahead=look_ahead, reserve=reserve, orders_per_rate=12_000)
    record: list[np.ndarray] = []
    point = rig.offer(rate, record)
    assert point.cancels > 2_000 and point.latency.samples == 12_000
    assert (point.stalls == 0) == reserve  # unreserved pools grow mid-run, in a batch or between single orders
    assert np.array_equal(record[0], _plain_outcomes(scenario, 12_000, scenario.seed, reserve))


def test_the_same_seed_gives_the_same_stream_and_another_seed_another():
    scenario = Scenario(markets=60, seed=2, cancel_rate=1.0)
    a, b = LatencyRig(scenario, orders_per_rate=2_000), LatencyRig(scenario, orders_per_rate=2_000)
    (cols_a, cancel_a), (cols_b, cancel_b) = a._stream(2_000, 9), b._stream(2_000, 9)
    assert np.array_equal(cancel_a, cancel_b) and all(np.array_equal(x, y) for x, y in zip(cols_a, cols_b, strict=True))
    assert not np.array_equal(cancel_a, LatencyRig(scenario, orders_per_rate=2_000)._stream(2_000, 10)[1])
    # about one cancel per order, each of an earlier order message
    share = (cancel_a >= 0).mean()
    assert 0.4 < share < 0.6 and np.all(cancel_a[cancel_a >= 0] < np.flatnonzero(cancel_a >= 0))


def test_an_injected_delay_shows_in_the_service_time_and_the_percentiles():
    """What holds however slow the machine: every service, and every latency, takes at least the injected delay,
    so the capacity is at most one per delay; the result says what was injected. (That it adds its own length and
    no more is statistics of the machine: bench/injected_delay_bench.py measures it.)"""
    slowed = measure_latency(Scenario(markets=200), [5_000], orders_per_rate=2_000, reserve=True, inject_delay_ns=DELAY_NS,
                             policy=RepeatPolicy(repeats=1, warmup=0))
    assert slowed.injected_delay_ns == DELAY_NS
    assert slowed.service.p50_ns >= DELAY_NS - 1 and slowed.rates[0].latency.p50_ns >= DELAY_NS - 1
    assert slowed.capacity_per_s <= 1e9 / DELAY_NS * 1.001


def test_latency_rises_as_the_offered_rate_nears_capacity():
    """A 20 µs injected service: capacity at most 50,000/s. Each offered rate's latencies are at least those of
    the same arrivals queued for services of exactly 20 µs (a real service takes at least that, so completes no
    sooner), whatever the machine does; and that queue's median at 95% of the capacity is several services
    (M/D/1), at 10% about one: so the latency the harness reports rises with the queue, on any machine."""
    n = 2_000
    rig = LatencyRig(Scenario(markets=200), orders_per_rate=n, reserve=True, inject_delay_ns=DELAY_NS)
    capacity = 1e9 / DELAY_NS
    slack = 2_000  # ns: the injected delay in whole counter ticks, rounded, over a backlog of up to 2,000 messages
    ideal = {}
    for k, share in enumerate((0.1, 0.6, 0.95)):
        queued = percentiles(_queued(arrivals.poisson(share * capacity, n, rig.scenario.seed + k), DELAY_NS))
        run = rig.offer(share * capacity)  # the k-th offer: its arrivals are seeded by the scenario's seed + k
        assert run.latency.p50_ns >= queued.p50_ns - slack and run.latency.p99_ns >= queued.p99_ns - slack, share
        ideal[share] = queued.p50_ns
    assert DELAY_NS <= ideal[0.1] < ideal[0.6] < ideal[0.95] and ideal[0.95] > 3 * DELAY_NS


def test_cancels_are_timed_alone_and_mixed_into_the_stream():
    r = measure_latency(Scenario(markets=200, cancel_rate=0.5), [20_000], orders_per_rate=3_000, reserve=True, policy=ONCE)
    assert r.cancels_per_order == 0.5 and r.cancel_service is not None and r.cancel_service.samples > 100
    assert 700 < r.rates[0].cancels < 1_300  # a third of the messages
    assert r.platform is not None and r.platform.per_s >= 0 and 0 <= r.platform.lost_share < 1
    json.dumps(r.as_dict(), allow_nan=False)


def test_the_floor_of_a_known_set_of_interruptions():
    # One 100 ns gap in 1,000 ns: a random arrival waits more than x with probability (100 - x) / 1000.
    gaps = np.array([100.0])
    assert _floor_at(gaps, 1_000.0, 0.01) == pytest.approx(90.0, abs=1e-6)
    assert _floor_at(gaps, 1_000.0, 0.2) == 0.0  # the gap is 10% of the time: 80% of arrivals wait nothing


def test_bad_rig_options_are_one_line_errors():
    with pytest.raises(InputError, match="cancels_per_order=11"):
        LatencyRig(Scenario(markets=10), cancels_per_order=11)
    with pytest.raises(InputError, match="batch=0"):
        LatencyRig(Scenario(markets=10), batch=0)


def test_latency_out_writes_the_chart_and_refuses_other_names(tmp_path):
    chart = tmp_path / "latency.png"
    result = run_cli("latency", "--markets", "200", "--rates", "20000,1e9", "--orders-per-rate", "1000", "--out", str(chart), "--repeats", "1")
    assert result.exit_code == 0, result.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob(".*"))  # written whole, no temporary left
    assert_one_line_error(run_cli("latency", "--markets", "200", "--out", str(tmp_path / "latency.txt")), "written as .png or .svg")
    assert_one_line_error(run_cli("latency", "--markets", "200", "--out", str(tmp_path / "missing" / "l.png")), "--out")


def test_a_latency_run_that_would_not_fit_is_refused_before_seeding(monkeypatch):
    pretend_available(monkeypatch, 400 << 20)  # 400 MiB: 21,000 markets fit, a million reserved messages per rate do not
    result = run_cli("latency", "--markets", "21000", "--orders-per-rate", "1000000", "--reserve")
    assert_one_line_error(result, "21,000 markets and 1,000,000 messages per rate need an estimated")


# ---------------------------------------------------------------- what the review found


@pytest.mark.parametrize("threads, batch, reserve, rate", [(2, 1, True, 1e9), (3, 1, False, 1e9), (2, 5, True, 1e9), (4, 1, True, 3e4)])
def test_partitions_in_threads_give_the_plain_engines_outcome_for_every_message(threads, batch, reserve, rate):
    """Each partition takes its own markets' messages in its own thread: every message's fill and status are the
    one engine's, and its order id is the partitioned engine's (``local * threads + partition``)."""
    scenario = Scenario(markets=40, seed=5, cancel_rate=0.6, tiers=({"low": 2, "high": 4},))  # type: ignore[arg-type]
    rig = LatencyRig(scenario, batch=batch, reserve=reserve, orders_per_rate=12_000, threads=threads)
    record: list[np.ndarray] = []
    point = rig.offer(rate, record)
    assert point.latency.samples == 12_000 and point.cancels > 2_000
    plain = _plain_outcomes(scenario, 12_000, scenario.seed, reserve)
    assert np.array_equal(record[0][:, 1:], plain[:, 1:])
    (markets, *_), cancel_of = LatencyRig(scenario, orders_per_rate=12_000)._stream(12_000, scenario.seed)
    ids, partition = record[0][:, 0], rig._shard.engine.partition_of[markets]
    assert np.array_equal(ids % threads, partition)  # each order's id names its market's partition
    orders = ids[cancel_of < 0]
    assert len(np.unique(orders)) == len(orders)
    assert np.array_equal(ids[cancel_of >= 0], ids[cancel_of[cancel_of >= 0]])  # a cancel names its target's id
    service = rig.service()
    assert "busiest of" in service.capacity_basis and service.capacity_per_s > 0


def test_threads_in_the_latency_command_and_more_threads_than_cores_refused(monkeypatch):
    result = run_cli("latency", "--markets", "200", "--rates", "1e9", "--orders-per-rate", "2000", "--threads", "2", "--json", "--force", "--repeats", "1")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["threads"] == 2
    monkeypatch.setattr("lxdex_capacity.cli.latency.usable_cores", lambda: 1)
    assert_one_line_error(run_cli("latency", "--markets", "200", "--threads", "2"), "--threads=2: this process may use 1 cores")
    assert_one_line_error(run_cli("latency", "--markets", "3", "--threads", "4", "--force"), "more threads than markets (3)")


@pytest.mark.parametrize("threads", [1, 2])
def test_a_slow_offered_rate_still_sees_an_interrupt_within_a_fraction_of_a_second(threads):
    import signal
    import time

    class Alarm(Exception):
        pass

    def ring(signum, frame):
        raise Alarm

    rig = LatencyRig(Scenario(markets=20), orders_per_rate=1_000, threads=threads)
    # 1,000 orders at 5/s: their arrivals span ~200 s of wall time however fast or slow the machine is (the loop
    # waits for each), so a loop that let Python see the signal only at the end would return after all of them.
    last_arrival_s = arrivals.poisson(5.0, 1_000, rig.scenario.seed)[-1] / 1e9
    previous = signal.signal(signal.SIGALRM, ring)
    began = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Alarm):
            rig.offer(5.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert last_arrival_s > 150
    assert time.monotonic() - began < last_arrival_s / 2  # seen while the arrivals were still coming: ~0.3 s


@pytest.mark.parametrize("threads", [1, 2])
def test_a_busy_run_stops_within_a_message_of_an_interrupt_and_leaves_no_thread_in_the_engine(threads):
    """Arrivals faster than the engine: the loops never wait, yet an interrupt stops them at once (the waiting
    thread sets their stop flag), and no loop is still in the engine when the interrupt reaches the caller."""
    import signal
    import threading
    import time

    class Alarm(Exception):
        pass

    def ring(signum, frame):
        raise Alarm

    delay_ns = 50_000
    rig = LatencyRig(Scenario(markets=20), orders_per_rate=2_000_000, threads=threads, inject_delay_ns=delay_ns)
    # 2,000,000 messages of at least 50 µs each, split over the threads: at least 100 s / threads of work however
    # fast the machine (a slower one only takes longer), none of it waiting: a loop that ran on would take that.
    least_s = 2_000_000 / threads * delay_ns / 1e9
    previous = signal.signal(signal.SIGALRM, ring)
    began = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Alarm):
            rig.offer(1e9)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - began < least_s / 2  # stopped within a message of the interrupt: ~0.3 s
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lxdex-latency")]


def test_a_partition_thread_that_fails_before_the_start_is_raised_not_waited_for(monkeypatch):
    rig = LatencyRig(Scenario(markets=20), orders_per_rate=1_000, threads=2)
    rig._cpus = [0, 1]

    def broken(pid, cpus):
        raise RuntimeError("no such CPU")

    monkeypatch.setattr("lxdex_capacity.latency.harness.os.sched_setaffinity", broken)
    ran = []
    monkeypatch.setattr(_PartitionRun, "run", lambda self, stop: ran.append(self.p))
    with pytest.raises(RuntimeError, match="no such CPU"):
        rig.offer(1e9)  # waited for, it would hang at the start (the suite's timeout would end it), not return
    assert ran == []  # raised before the start: no partition ran


def test_runs_that_would_take_too_long_or_days_that_cannot_pace_arrivals_are_refused():
    from lxdex_capacity.latency.harness import check_offer

    with pytest.raises(InputError, match=r"take 2e\+05 s, more than 600 s"):
        check_offer(1.0, 200_000)
    assert_one_line_error(run_cli("latency", "--markets", "10", "--rates", "10"), "--rates=10: 200,000 messages at that rate take")
    with pytest.raises(InputError, match="carry no time between them"):
        arrivals.check_day(np.array([5.0, 5.0, 5.0]), 1_000)
    with pytest.raises(InputError, match="first 1,000 gaps carry no time"):
        arrivals.check_day(np.r_[np.full(2_001, 34_200.0), 34_201.0], 1_000)
    arrivals.check_day(np.r_[np.full(2_001, 34_200.0), 34_201.0], 3_000)  # the window reaches the gap that has time


def test_capacity_says_what_it_is_over_when_no_cancel_could_be_timed():
    takers = Scenario(markets=20, taker_share=1.0)
    r = measure_latency(takers, [1e5], orders_per_rate=1_000, cancels_per_order=5.0, policy=ONCE)
    assert r.cancel_service is not None and r.cancel_service.samples == 0 and r.capacity_basis.startswith("orders only")
    mixed = measure_latency(Scenario(markets=50), [1e5], orders_per_rate=2_000, cancels_per_order=1.0, policy=ONCE)
    assert mixed.capacity_basis == "the offered mix of orders and cancels"


@pytest.mark.parametrize("args, fragment", [
    (["--batch", "5000", "--orders-per-rate", "1000"], "--batch=5,000: more than the 1,000 orders"),
    (["--batch", "8", "--no-look-ahead"], "--no-look-ahead applies to --batch 1"),
    (["--rates", "1__0"], "--rates='1__0'"),
    (["--rates", "\uff11\uff10"], "must be comma-separated"),  # full-width digits
])
def test_more_bad_latency_options_are_one_line(args, fragment):
    assert_one_line_error(run_cli("latency", "--markets", "100", *args), fragment)


def test_a_scenario_with_more_cancels_than_a_latency_run_mixes_is_named(tmp_path):
    scenario = tmp_path / "many_cancels.toml"
    scenario.write_text("markets = 50\ncancel_rate = 50\n")
    assert_one_line_error(run_cli("latency", "--scenario", str(scenario)), f"{scenario}: cancel_rate=50: a latency run mixes in at most 10")
