"""The time guard (:mod:`lxdex_capacity.time_guard`): every command whose work grows with its inputs estimates its
whole run and refuses one beyond ``--max-time`` (default an hour) before any work, in one line with the estimate, its
basis and the override; ``--max-time`` lets it through.  "Before any work" is asserted by making the first step of
the work (loading the kernels) raise: a refusal never gets there, an allowed run does at once."""

from __future__ import annotations

import math

import pytest

from helpers import assert_one_line_error, run_cli
from helpers.lobster import adds_only_day
from lxdex_capacity.errors import CapacityError, CheckFailed, InputError
from lxdex_capacity.time_guard import (
    DEFAULT_MAX_TIME,
    DEFAULT_MAX_TIME_S,
    parse_max_time,
    refuse_unless_it_ends,
    runs_of,
    simulation_estimate,
)
from lxdex_capacity.units import duration_words

WORK_STARTED = "the work started"
# Every command module's first step of work: reaching it means the guard let the run through.
COMMAND_MODULES = ("simulate", "latency", "bench", "capacity", "reports", "data")


@pytest.fixture
def no_work(monkeypatch):  # type: ignore[no-untyped-def]
    """Make every command's first step of work (compiling or loading the kernels) fail with :data:`WORK_STARTED`."""

    def started(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise CheckFailed(WORK_STARTED)

    for module in COMMAND_MODULES:
        monkeypatch.setattr(f"lxdex_capacity.cli.{module}.compile_step", started)
    monkeypatch.setattr("lxdex_capacity.capacity.sweep.run_sweep", started)


# --- the option ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("30min", 1800.0), ("3h", 10_800.0),
                                           ("1.5h", 5400.0), (" 2d ", 172_800.0), ("3H", 10_800.0), (".5m", 30.0),
                                           ("none", None), ("None", None), ("inf", None)])
def test_max_time_reads_durations_with_units(text, seconds):
    assert parse_max_time(text) == seconds


@pytest.mark.parametrize("text", ["", "3x", "h", "-1h", "0", "0s", "1e3", "nan", "3 hours", "1h30m", "٣h", "100000d", "1,5h"])
def test_max_time_refuses_what_is_no_duration(text):
    with pytest.raises(InputError, match="--max-time="):
        parse_max_time(text)


def test_the_default_limit_is_an_hour():
    assert parse_max_time(DEFAULT_MAX_TIME) == DEFAULT_MAX_TIME_S == 3600.0


@pytest.mark.parametrize("args", [["simulate"], ["profile"], ["latency"], ["bench"], ["sweep"], ["plan", "--check"], ["report", "--out", "x"],
                                  ["audit"], ["replay", "x.csv"], ["calibrate", "x.csv", "--out", "x.toml"]])
def test_every_command_refuses_a_bad_max_time_in_one_line(args, no_work):
    assert_one_line_error(run_cli(*args, "--max-time", "soon"), "--max-time='soon': must be a duration")


def test_the_refusal_names_the_estimate_its_basis_the_limit_and_the_override():
    with pytest.raises(CapacityError) as refused:
        refuse_unless_it_ends(10_000.0, "latency --rates 2,2", "measuring (20 rates × 500 s)", 3600.0)
    assert str(refused.value) == ("latency --rates 2,2: about 2.8 h of measuring (20 rates × 500 s), more than the 1 h limit; "
                                  "pass --max-time 4h to run it")
    refuse_unless_it_ends(10_000.0, "x", "y", None)  # no limit
    refuse_unless_it_ends(3600.0, "x", "y", 3600.0)  # at the limit
    with pytest.raises(CapacityError, match=r"about forever of y, .* pass --max-time none"):
        refuse_unless_it_ends(math.inf, "x", "y", 3600.0)
    with pytest.raises(CapacityError, match="pass --max-time none"):  # beyond the largest limit there is
        refuse_unless_it_ends(1e12, "x", "y", 3600.0)


@pytest.mark.parametrize("seconds, words", [(0.13, "0.13 s"), (45, "45 s"), (500, "8.3 min"), (10_000, "2.8 h"), (3 * 86_400, "3 days"),
                                            (1e12, "3.2e+04 years")])
def test_durations_read_as_words(seconds, words):
    assert duration_words(seconds) == words


def test_runs_follow_the_repeat_policy():
    from lxdex_capacity.measure import RepeatPolicy

    assert runs_of(RepeatPolicy(repeats=5, warmup=1), 100.0) == 6
    assert runs_of(RepeatPolicy(budget_s=10.0), 500.0) == 1 + 3  # a long run: the fewest that make an interval
    assert runs_of(RepeatPolicy(budget_s=10.0), 1.0) == 1 + 10  # a budget's worth
    assert runs_of(RepeatPolicy(budget_s=10.0, max_repeats=30), 0.001) == 1 + 30  # at most the policy's largest count


# --- the estimates ------------------------------------------------------------------------------------


def test_a_simulation_estimate_grows_with_its_trades_and_markets_and_shrinks_with_cores():
    from lxdex_capacity.scenarios.config import Scenario

    base = simulation_estimate(Scenario()).seconds
    assert simulation_estimate(Scenario(trades=100_000_000)).seconds > 5 * base
    assert simulation_estimate(Scenario(markets=10_000_000)).seconds > 5 * base
    many = Scenario(trades=100_000_000)
    assert simulation_estimate(many, threads=2, cores=2).seconds < 0.6 * simulation_estimate(many).seconds
    assert simulation_estimate(Scenario(trades=10**12)).seconds > 1e6  # finite, and weeks
    assert simulation_estimate(Scenario(taker_share=0.0)).seconds < DEFAULT_MAX_TIME_S  # no fills: the run stalls at once


def test_the_default_runs_are_well_inside_the_default_limit(monkeypatch):
    """A default run of every command must never be refused by the default limit (on a machine clocked as the reference
    one: the estimates scale with the clock, up to twice on a slow one)."""
    from lxdex_capacity import time_guard

    monkeypatch.setattr(time_guard, "clock_scale", lambda: 1.0)
    from lxdex_capacity.capacity.check import estimate_check
    from lxdex_capacity.capacity.estimator import Estimator
    from lxdex_capacity.capacity.sweep import estimate_sweep
    from lxdex_capacity.cli.options import plan_request
    from lxdex_capacity.latency.harness import estimate_latency
    from lxdex_capacity.reporting.audit import estimate_audit, load_claims
    from lxdex_capacity.scenarios.config import Scenario

    assert simulation_estimate(Scenario()).seconds < 60
    assert estimate_latency(Scenario(), [200_000, 1_000_000, 3_000_000], 200_000).seconds < 300
    assert estimate_sweep([1000, 5000, 21000, 100000]).seconds < DEFAULT_MAX_TIME_S / 2
    assert estimate_check(plan_request(21_000, None, None, 1e6, 2.0, 4.0), Estimator.default()).seconds < 300
    assert estimate_audit(load_claims(None)[1]).seconds < 600


# --- every command: refused before any work, let through by --max-time ----------------------------------


@pytest.mark.parametrize("args, says", [
    (["simulate", "--trades", "1000000000000"], "simulate: about"),
    (["simulate", "--trades", "10000000000", "--shards", "2"], "over 2 cores"),
    (["simulate", "--trades", "10000000000", "--threads", "2"], "simulate: about"),
    (["simulate", "--markets", "100000000", "--max-time", "1m"], "100,000,000 markets"),
    (["profile", "--trades", "10000000000"], "profile: about"),
    (["latency", "--rates", ",".join(["2"] * 20), "--orders-per-rate", "1000"], "20 rates × ~4 runs of up to ~8.3 min"),
    (["latency", "--orders-per-rate", "100000000", "--rates", "1000000", "--repeats", "100"], "latency --rates 1000000: about"),
    (["bench", "--trades", "1000000000000"], "bench: about"),
    (["sweep", "--markets", "1000,5000,21000", "--trades", "1000000000"], "sweep: about"),
    (["sweep", "--markets", "1000,5000,21000", "--working-sets", "10,100,1000,100000000", "--held-out-working-sets", "none", "--repeat", "5"],
     "4 working sets × 5 runs"),
    (["plan", "--markets", "1000000000000", "--check", "--max-time", "1s"], "plan --markets 1,000,000,000,000 --check: about"),
    (["plan", "--markets", "1000", "--latency-slo", "p99<=1ms", "--slo-orders", "10000000", "--slo-repeats", "15", "--max-time", "10s"],
     "searching for the SLO's rate"),
    (["report", "--trades", "1000000000000"], "report: about"),
    (["report", "--latency-rates", "1,1", "--latency-orders", "1000"], "report: about"),
])
def test_an_over_long_request_is_refused_before_any_work(args, says, no_work, tmp_path):
    if args[0] in ("report", "sweep"):
        args = [*args, "--out", str(tmp_path / ("report" if args[0] == "report" else "model.json"))]
    result = run_cli(*args)
    assert_one_line_error(result, says)
    assert "more than the" in result.stderr and "limit; pass --max-time" in result.stderr
    if "--max-time" not in args:  # the override it names lets the same request through: to the first step of work
        suggested = result.stderr.split("pass --max-time ")[1].split()[0]
        allowed = run_cli(*args, "--max-time", suggested, "--force")
        assert allowed.exit_code == 1 and WORK_STARTED in allowed.stderr, allowed.stderr


def test_a_count_of_rates_is_refused_before_it_is_read(no_work):
    assert_one_line_error(run_cli("latency", "--rates", ",".join(["1000000000"] * 2000)), "--rates: 2,000 rates; at most 100")
    assert_one_line_error(run_cli("report", "--out", "r", "--latency-rates", ",".join(["1e6"] * 101)), "--latency-rates: 101 rates")


def test_an_audit_of_a_claim_of_a_trillion_trades_is_refused(no_work, tmp_path):
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nid = "big"\nmetric = "orders_per_s"\nmarkets = 1000\ntrades = 1000000000000\nat_least = "1M"\n')
    assert_one_line_error(run_cli("audit", str(claims)), f"audit {claims}: about")
    assert WORK_STARTED in run_cli("audit", str(claims), "--max-time", "none").stderr


def test_replay_and_calibrate_estimate_from_the_files_sizes(no_work, tmp_path):
    messages, book = adds_only_day(tmp_path, 2000)
    result = run_cli("replay", str(messages), "--orderbook", str(book), "--max-time", "1s")
    assert_one_line_error(result, f"replay {messages}: about")
    assert "MB of CSV" in result.stderr
    assert_one_line_error(run_cli("calibrate", str(messages), "--orderbook", str(book), "--out", str(tmp_path / "s.toml"),
                                  "--max-time", "1s"), f"calibrate {messages}: about")
    assert WORK_STARTED in run_cli("replay", str(messages), "--max-time", "1h").stderr
    # latency --day reads its arrivals from a day: that is counted too
    day = run_cli("latency", "--arrivals", "lobster", "--day", str(messages), "--orders-per-rate", "1000", "--max-time", "1s")
    assert_one_line_error(day, "MB of --day, then measuring")


def test_the_override_lets_a_tiny_run_through():
    """A real run, small: the guard is a refusal before starting, never a stop once running."""
    result = run_cli("simulate", "--markets", "10", "--trades", "100", "--max-time", "1m", "--json")
    assert result.exit_code == 0, result.stderr


def test_lists_are_counted_before_they_are_read(no_work, tmp_path):
    """A list whose every entry is a run of its own is bounded by its count, before any entry is parsed or estimated."""
    sizes = ",".join(str(1000 + i) for i in range(101))
    out = str(tmp_path / "model.json")
    assert_one_line_error(run_cli("sweep", "--markets", sizes, "--out", out), "--markets: 101 values; at most 100 in one sweep")
    assert_one_line_error(run_cli("sweep", "--working-sets", sizes, "--out", out), "--working-sets: 101 values; at most 100")
    claims = tmp_path / "claims.toml"
    claims.write_text("".join(f'[[claim]]\nid = "c{i}"\nmetric = "memory"\nmarkets = 10\nat_most = "1 GB"\n' for i in range(1001)))
    assert_one_line_error(run_cli("audit", str(claims)), "at most 1000 items")
