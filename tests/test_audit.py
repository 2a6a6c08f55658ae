"""``lxdex audit``: claims files, units, verdicts (holds, fails, too close to call) from repeated runs."""

from __future__ import annotations

import json
import math
import re

import pytest

from helpers import assert_one_line_error, pretend_available, run_cli
from helpers.results import made_up_result
from lxdex_capacity.capacity.model import load_model
from lxdex_capacity.engine.core import DEFAULT_TAPE_CAPACITY
from lxdex_capacity.errors import CheckFailed, InputError
from lxdex_capacity.reporting.audit import (
    MIN_REPEATS,
    LatencyLoad,
    audit,
    load_claims,
    median_interval,
    parse_quantity,
    scenario_for,
    tape_for,
    three_way,
)
from lxdex_capacity.scenarios.tiers import expected_orders


@pytest.mark.parametrize(
    "value, kind, expected",
    [("83 MB", "bytes", 83e6), ("0.004 MB", "bytes", 4e3), ("36 GB", "bytes", 36e9), ("2 GiB", "bytes", 2 * 2**30),
     ("0.03 us", "time", 30.0), ("0.03 µs", "time", 30.0), ("12ns", "time", 12.0), ("33.7M", "rate", 33.7e6), (70.8e6, "rate", 70.8e6)],
)
def test_quantities_with_units(value, kind, expected):
    assert parse_quantity(value, kind, "x") == pytest.approx(expected)


@pytest.mark.parametrize("value, kind", [("83 ZB", "bytes"), ("fast", "rate"), ("-1 MB", "bytes"), (-5, "rate"), ([1], "bytes"),
                                         (float("nan"), "bytes"), ("inf ns", "time"), ("1e999 MB", "bytes"), ("1e300 GB", "bytes"),
                                         (True, "rate"), ("5 MB", "time")])
def test_bad_quantities(value, kind):
    with pytest.raises(InputError, match="x="):
        parse_quantity(value, kind, "x")


def test_published_claims_hold_the_reports_figures():
    source, claims = load_claims()
    assert "LX DEX" in source["title"]
    by_id = {c.id: c for c in claims}
    assert by_id["traded-21k"].claimed == 83e6 and by_id["traded-21k"].phase == "traded"
    assert by_id["seeded-21k"].claimed == 80e6 and by_id["empty-21k"].phase == "empty"
    assert by_id["per-market"].claimed == pytest.approx(4e3)
    assert by_id["order-rate"].claimed == 33.7e6 and by_id["order-rate"].bound == "at_least"
    assert by_id["market-access"].claimed == 70.8e6
    assert by_id["random-access"].claimed == pytest.approx(30.0)
    assert by_id["10m-markets"].claimed == 36e9 and by_id["10m-markets"].markets == 10_000_000
    # The report counts a 1M-trade history: those claims keep it, on a tape of 2^20; at 21,000 markets they share their runs
    assert all(c.trades_retained == 1_000_000 for c in claims)
    assert by_id["traded-21k"].tape == 1_048_576
    # ... all but the orders/s claim, which runs with every core (the report claims full parallelism)
    assert len({c.load for c in claims if c.markets == 21_000 and c.latency is None and c.id != "order-rate"}) == 1
    # "sub-microsecond latency for all operations": p99 and max under a light offered load, as its note says
    latency = by_id["latency"]
    assert latency.metric == "latency" and latency.claimed == 1000.0 and latency.bound == "at_most" and latency.markets == 21_000
    assert latency.latency == LatencyLoad(offered_per_s=100_000.0, arrivals="poisson", batch=1, reserve=True, orders=100_000,
                                          statistics=("p99", "max"), cancels_per_order=1.0)
    assert latency.note and "100,000 messages/s" in latency.note and "cancels" in latency.note and "Poisson" in latency.note and "reserved" in latency.note


GOOD = """
[[claim]]
id = "a"
metric = "memory"
markets = 500
at_most = "10 MB"
"""


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[[claim]\nid = 1", "line 1"),
        (GOOD.replace('metric = "memory"', 'metric = "speed"'), "line 4: claim[0].metric='speed': input should be 'memory'"),
        (GOOD + 'at_least = "1 MB"\n', "line 7: claim[0].at_least='1 MB': give at_most or at_least, not both"),
        (GOOD.replace('at_most = "10 MB"', ""), "claim[0]: give its bound, at_most or at_least"),
        (GOOD.replace('"10 MB"', '"10 ZB"'), "line 6: claim[0].at_most='10 ZB'"),
        (GOOD.replace("markets = 500", "markets = 0"), "line 5: claim[0].markets=0"),
        (GOOD.replace("markets = 500\n", ""), "claim[0].markets is required"),
        (GOOD + "colour = 1\n", "line 7: unknown key 'colour' in claim[0]"),
        (GOOD + GOOD, "claim[1].id='a' is used twice"),
        ("title = 1", "claim is required"),
        ('source = "oops"\n' + GOOD, "line 1: source='oops'"),
        (GOOD.replace('"10 MB"', "nan"), "claim[0].at_most=nan: must be a finite number"),
        (GOOD.replace('"10 MB"', '"1e999 MB"'), "claim[0].at_most='1e999 MB': must be a finite number"),
        (GOOD.replace('"memory"', '["memory"]'), "claim[0].metric=['memory']"),
        (GOOD + "trades_retained = 0\n", "line 7: claim[0].trades_retained=0: input should be greater than or equal to 1"),
        (GOOD + "trades_retained = 2000000000\n", "line 7: claim[0].trades_retained=2000000000: input should be less than or equal to"),
        (GOOD + "trades_retained = 1e6\n", "line 7: claim[0].trades_retained=1000000.0: input should be a valid integer"),
        (GOOD + 'trades_retained = "1M"\n', "line 7: claim[0].trades_retained='1M': input should be a valid integer"),
        (GOOD + "trades_retained = true\n", "line 7: claim[0].trades_retained=True: input should be a valid integer"),
    ],
)
def test_bad_claims_files_are_one_line_errors(tmp_path, text, fragment):
    path = tmp_path / "claims.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        load_claims(path)


def _fake_run(scenario):
    """A simulate report where engine bytes are 100 B per market plus 20 B per order."""
    seeded = int(expected_orders(scenario.tiers, scenario.markets))
    phases = [
        {"name": "empty", "resting_orders": 0, "trades": 0, "engine_bytes_used": 100 * scenario.markets},
        {"name": "seeded", "resting_orders": seeded, "trades": 0, "engine_bytes_used": 100 * scenario.markets + 20 * seeded},
        {"name": "traded", "resting_orders": seeded, "trades": scenario.trades, "engine_bytes_used": 100 * scenario.markets + 20 * seeded},
    ]
    for p in phases:
        p.update(engine_bytes_reserved=2 * p["engine_bytes_used"], rss_bytes=10**8 + p["engine_bytes_used"])
    throughput = {"orders_per_s": 5e6, "flow_orders": 1000, "lookups_per_s": 1e8, "random_access_ns_p50": 50.0}
    return made_up_result(scenario, phases, throughput, baseline_rss=10**8)


def test_verdicts_ratios_and_one_run_per_load(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text("""
[[claim]]
id = "small"
metric = "memory"
markets = 1000
phase = "empty"
at_most = "0.05 MB"
[[claim]]
id = "fast"
metric = "orders_per_s"
markets = 1000
at_least = "10M"
[[claim]]
id = "rss"
metric = "memory"
markets = 1000
phase = "empty"
measure = "rss_above_baseline"
at_most = "1 MB"
[[claim]]
id = "huge"
metric = "memory_per_market"
markets = 50000000
at_most = "1 KB"
""")
    _, claims = load_claims(path)
    calls = []
    verdicts = {v.id: v for v in audit(claims, lambda s: calls.append(s) or _fake_run(s), load_model(), max_measure=1_000_000)}
    # (1000, None, 0) for memory claims, (1000, None, 1M) for the rate, each 5 times on seeds 0-4; 50M markets: the model
    assert len(calls) == 2 * MIN_REPEATS and [s.seed for s in calls] == [0, 1, 2, 3, 4] * 2
    assert {s.trades_retained for s in calls} == {DEFAULT_TAPE_CAPACITY}
    assert not verdicts["small"].holds and verdicts["small"].ratio == pytest.approx(100_000 / 50_000)
    assert not verdicts["fast"].holds and verdicts["fast"].ratio == pytest.approx(0.5)
    assert verdicts["rss"].holds and verdicts["rss"].measured == 100_000
    huge = verdicts["huge"]
    assert huge.basis.startswith("capacity estimator's prediction") and huge.low <= huge.measured <= huge.high
    for verdict in verdicts.values():  # every verdict is JSON with finite figures and the fields the CLI prints
        row = json.loads(json.dumps(verdict.as_dict(), allow_nan=False))
        assert {"id", "claimed", "measured", "low", "high", "interval", "confidence", "repeats", "samples", "holds", "verdict",
                "ratio", "basis"} <= set(row), row
        assert row["verdict"] == ("holds" if row["holds"] else "fails")  # the fake runs agree: no interval straddles
        assert row["low"] <= row["measured"] <= row["high"]
    assert verdicts["small"].samples == [100_000.0] * 5 and verdicts["small"].repeats == 5
    assert huge.repeats == 0 and huge.samples == [] and huge.confidence == 0.95


def test_scenario_for_scales_depth_to_the_claimed_orders():
    scenario = scenario_for(21_000, 624_000, 1_000_000)
    assert expected_orders(scenario.tiers, 21_000) == pytest.approx(624_000, rel=0.02)
    assert scenario.trades == 1_000_000 and scenario.trades_retained == DEFAULT_TAPE_CAPACITY
    assert scenario_for(21_000, 624_000, 1_000_000, tape_for(1_000_000), seed=3).trades_retained == 1_048_576


@pytest.mark.parametrize("request_, tape", [(1, 1024), (1000, 1024), (1024, 1024), (1025, 2048), (262_144, 262_144),
                                            (1_000_000, 1_048_576), (1 << 30, 1 << 30)])
def test_a_tape_is_the_smallest_power_of_two_holding_the_trades(request_, tape):
    assert tape_for(request_) == tape


@pytest.mark.parametrize("n, low_rank, coverage", [(5, 1, 0.9375), (6, 1, 0.96875), (8, 1, 1 - 2 / 256), (9, 2, 1 - 20 / 512),
                                                   (20, 6, None)])
def test_median_interval_is_the_order_statistics_covering_95_percent(n, low_rank, coverage):
    samples = [float(10 * i) for i in range(n, 0, -1)]  # any order
    median, low, high, covered = median_interval(samples)
    assert median == pytest.approx(10 * (n + 1) / 2)
    assert (low, high) == (10.0 * low_rank, 10.0 * (n + 1 - low_rank))
    if coverage is not None:
        assert covered == pytest.approx(coverage)
    assert covered >= 0.95 or low_rank == 1  # below 95% only where no narrower choice exists: the range


@pytest.mark.parametrize(
    "bound, low, high, verdict",
    [("at_most", 20, 29, "holds"), ("at_most", 20, 30, "holds"), ("at_most", 25, 31, "too close to call"),
     ("at_most", 30, 40, "too close to call"), ("at_most", 30.5, 40, "fails"),
     ("at_least", 31, 40, "holds"), ("at_least", 30, 40, "holds"), ("at_least", 25, 35, "too close to call"),
     ("at_least", 20, 30, "too close to call"), ("at_least", 20, 29.9, "fails")],
)
def test_three_way_rule(bound, low, high, verdict):
    assert three_way(bound, 30.0, low, high) == verdict


def _claims(tmp_path, text):
    path = tmp_path / "claims.toml"
    path.write_text(text)
    return load_claims(path)[1]


def _varying_run(figures):
    """A fake ``run`` whose random access (ns), orders/s and engine bytes are ``figures[seed]``."""
    def run(scenario):
        result = _fake_run(scenario)
        f = figures[scenario.seed]
        throughput = {"orders_per_s": f, "flow_orders": 1000, "lookups_per_s": f, "random_access_ns_p50": f}
        phases = [{"name": name, "engine_bytes_used": int(f) if math.isfinite(f) else 0, "trades": scenario.trades,
                   "trades_retained": min(scenario.trades, scenario.trades_retained)} for name in ("empty", "seeded", "traded")]
        return made_up_result(result.scenario, phases, throughput, baseline_rss=10**8)
    return run


ACCESS = '[[claim]]\nid = "access"\nmetric = "random_access"\nmarkets = 100\nat_most = "0.03 us"\n'
RATE = '[[claim]]\nid = "rate"\nmetric = "orders_per_s"\nmarkets = 100\nat_least = "30"\n'


@pytest.mark.parametrize(
    "figures, access, rate",
    [([25.0, 33.2, 27.0, 31.0, 26.0], "too noisy to call", "too noisy to call"),  # the 25.0 and 33.2 ns
     ([25.0, 26.0, 29.0, 27.0, 30.0], "holds", "too noisy to call"),
     ([31.0, 35.0, 40.0, 33.0, 45.0], "fails", "holds"),
     ([10.0, 12.0, 11.0, 13.0, 29.9], "holds", "fails")],
)
def test_verdicts_from_repeats_are_three_way(tmp_path, figures, access, rate):
    claims = _claims(tmp_path, ACCESS + RATE)
    seeds = []
    run = _varying_run({10 + i: f for i, f in enumerate(figures)})
    verdicts = {v.id: v for v in audit(claims, lambda s: seeds.append(s.seed) or run(s), load_model(), seed=10)}
    assert sorted(set(seeds)) == [10, 11, 12, 13, 14]
    for v, expected in ((verdicts["access"], access), (verdicts["rate"], rate)):
        assert v.verdict == expected and v.holds == (expected == "holds")
        assert v.samples == figures and v.repeats == 5 and v.seeds == [10, 11, 12, 13, 14]
        assert (v.low, v.measured, v.high) == (min(figures), sorted(figures)[2], max(figures))
        assert v.confidence == pytest.approx(0.9375) and "93.8%" in v.interval and "range" in v.interval
        assert v.basis.startswith("measured (5 runs, seeds 10–14): ")


def test_a_claim_too_close_to_call_is_not_counted_as_holding_by_the_cli(tmp_path, monkeypatch):
    import lxdex_capacity.simulation as simulation

    path = tmp_path / "claims.toml"
    path.write_text(ACCESS + RATE.replace('"30"', '"1"'))
    run = _varying_run({i: f for i, f in enumerate([25.0, 33.2, 27.0, 31.0, 26.0])})
    monkeypatch.setattr(simulation, "simulate", lambda scenario, force=False, threads=1: run(scenario))
    report = json.loads(run_cli("audit", str(path), "--json").stdout)
    assert (report["holds"], report["fails"], report["too_close_to_call"], report["too_noisy_to_call"]) == (1, 0, 0, 1)
    assert [c["verdict"] for c in report["claims"]] == ["too noisy to call", "holds"]  # a timed claim straddling its figure
    assert report["claims"][0]["holds"] is False
    text = run_cli("audit", str(path))
    assert text.exit_code == 0 and "1 hold, 0 fail, 0 too close to call, 1 too noisy to call" in " ".join(text.stdout.split())
    assert "93.8% confidence interval of the median" in text.stdout
    assert text.stderr.count("\n") == 1 and "lxdex: warning: 1 claim(s) too noisy to call (access: " in text.stderr


@pytest.mark.parametrize("figure", [math.nan, math.inf])
def test_a_figure_that_is_not_finite_is_no_verdict(tmp_path, figure):
    claims = _claims(tmp_path, ACCESS)
    run = _varying_run({i: figure if i == 2 else 20.0 for i in range(5)})
    with pytest.raises(CheckFailed, match="claim 'access': the measured figure is not a finite number; no verdict"):
        audit(claims, run, load_model())


def test_the_cli_prints_no_verdict_on_a_figure_that_is_not_finite(tmp_path, monkeypatch):
    import lxdex_capacity.simulation as simulation

    path = tmp_path / "claims.toml"
    path.write_text(ACCESS)
    run = _varying_run({i: math.nan if i == 2 else 20.0 for i in range(5)})
    monkeypatch.setattr(simulation, "simulate", lambda scenario, force=False, threads=1: run(scenario))
    for args in ((), ("--json",)):
        result = run_cli("audit", str(path), *args)
        assert result.exit_code == 1 and result.stdout == ""  # a run whose result fails its own check
        assert result.stderr.strip() == "lxdex: error: claim 'access': the measured figure is not a finite number; no verdict"


def test_a_model_prediction_gets_the_same_three_way_rule(tmp_path, monkeypatch):
    from lxdex_capacity.capacity.estimator import Estimator

    claims = _claims(tmp_path, '[[claim]]\nid = "big"\nmetric = "memory"\nmarkets = 50000000\ntrades = 1000000\n'
                               'trades_retained = 1000\nat_most = "10 GB"\n')
    seen = []

    def predicting(low, centre, high):
        def engine_bytes_used(self, load):
            seen.append(load.trades_retained)
            return centre, low, high
        monkeypatch.setattr(Estimator, "engine_bytes_used", engine_bytes_used)

    verdicts = []
    for figures in [(8e9, 9e9, 9.9e9), (9e9, 10e9, 11e9), (10.1e9, 11e9, 12e9)]:
        predicting(*figures)
        verdicts.append(audit(claims, _fake_run, load_model(), max_measure=1000)[0])
    assert [v.verdict for v in verdicts] == ["holds", "too close to call", "fails"]
    assert seen == [1000] * 3  # the claim's history: 1,000 of its 1M trades retained
    assert all("1,000 trades retained" in v.basis and "capacity estimator's prediction of engine bytes used" in v.basis for v in verdicts)
    predicting(8e9, 9e9, math.inf)
    with pytest.raises(CheckFailed, match="the model's 95% interval is not a finite number"):
        audit(claims, _fake_run, load_model(), max_measure=1000)


def test_a_claims_history_sets_the_tape_and_the_basis_says_so(tmp_path):
    claims = _claims(tmp_path, GOOD + "trades = 5000\ntrades_retained = 1000000\n"
                     + GOOD.replace('"a"', '"b"') + "trades = 5000\n")
    calls = []
    verdicts = audit(claims, lambda s: calls.append(s) or _varying_run({i: 1e6 for i in range(5)})(s), load_model())
    assert sorted({s.trades_retained for s in calls}) == [DEFAULT_TAPE_CAPACITY, 1_048_576]  # two loads, 5 runs each
    assert len(calls) == 10
    a, b = verdicts
    assert (a.trades_retained, a.tape) == (1_000_000, 1_048_576) and (b.trades_retained, b.tape) == (DEFAULT_TAPE_CAPACITY,) * 2
    assert a.basis.endswith("5,000 trades retained (traded phase) on a tape of 1,048,576 trades "
                            "(the smallest power of two ≥ the 1,000,000 claimed)")
    assert b.basis.endswith(f"5,000 trades retained (traded phase) on a tape of {DEFAULT_TAPE_CAPACITY:,} trades")


def test_fewer_than_five_repeats_give_no_verdict(tmp_path):
    claims = _claims(tmp_path, GOOD)
    with pytest.raises(InputError, match="repeats=4: a verdict needs at least 5 repeats"):
        audit(claims, _fake_run, load_model(), repeats=4)
    assert_one_line_error(run_cli("audit", str(tmp_path / "claims.toml"), "--repeats", "4"), "--repeats")


def test_audit_cli_json(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text(GOOD + '\n[[claim]]\nid = "b"\nmetric = "lookups_per_s"\nmarkets = 500\nat_least = 1e12\n')
    result = run_cli("audit", str(path), "--json")
    # A claim that measurement contradicts fails the audit's check: the verdicts on stdout, one line, exit 1.
    assert result.exit_code == 1 and result.stderr.strip() == "lxdex: error: 1 of 2 claim(s) fail against measurement: b", result.stderr
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the audit's JSON"))
    a, b = report["claims"]
    assert a["verdict"] == "holds" and a["measured"] < 10e6 and 0 < a["ratio"] < 1
    assert b["verdict"] == "fails" and {"claimed", "measured", "ratio", "basis"} <= set(b)
    assert report["holds"] == 1 and report["fails"] == 1 and report["too_close_to_call"] == 0
    assert report["repeats"] == 5 and report["seeds"] == [0, 1, 2, 3, 4]
    for claim in (a, b):
        assert claim["repeats"] == 5 and len(claim["samples"]) == 5 and claim["seeds"] == [0, 1, 2, 3, 4]
        assert claim["low"] == min(claim["samples"]) <= claim["measured"] <= claim["high"] == max(claim["samples"])
        assert claim["interval"].startswith("93.8% confidence interval of the median")
    assert a["tape"] == DEFAULT_TAPE_CAPACITY and "on a tape of 262,144 trades" in a["basis"]


def test_audit_cli_malformed_file_names_the_line(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text('[[claim]]\nid = "x"\nmetric = \n')
    assert_one_line_error(run_cli("audit", str(path)), "line 3")


def test_every_metric_a_claim_may_name_has_a_unit():
    import typing

    from lxdex_capacity.reporting.audit import METRICS, Metric

    assert set(typing.get_args(Metric)) == set(METRICS)


# ---------------------------------------------------------------------------------------------- latency claims

LATENCY = """
[[claim]]
id = "lat"
text = "sub-microsecond latency for all operations"
metric = "latency"
markets = 300
offered_rate = "100k"
orders_per_repeat = 2000
at_most = "1 us"
"""


@pytest.mark.parametrize(
    "text, fragment",
    [
        (LATENCY.replace('"100k"', "0"), "line 7: claim[0].offered_rate=0: must be above 0"),
        (LATENCY.replace('"100k"', '"-5k"'), "line 7: claim[0].offered_rate='-5k': must not be negative"),
        (LATENCY.replace('"100k"', '"fast"'), "line 7: claim[0].offered_rate='fast': must be a number"),
        (LATENCY.replace('"100k"', "1e11"), "line 7: claim[0].offered_rate=100000000000.0: must be above 0 and at most 10,000,000,000"),
        (LATENCY.replace('"100k"', "1"), "line 7: claim[0].offered_rate=1: offers 2,000 orders per repeat over 2,000 s; at most 600 s"),
        (LATENCY.replace('offered_rate = "100k"\n', ""), "claim[0]: a latency claim needs offered_rate"),
        (LATENCY.replace('"1 us"', '"0 ns"'), "line 9: claim[0].at_most='0 ns': must be above 0 ns"),
        (LATENCY.replace('"1 us"', '"1 MB"'), "line 9: claim[0].at_most='1 MB': must be a number with one of the units ns"),
        (LATENCY.replace("at_most", "at_least"), "line 9: claim[0].at_least='1 us': a latency claim is a bound from above: give at_most"),
        (LATENCY + 'statistics = ["p99", "p42"]\n', "line 10: claim[0].statistics[1]='p42': input should be 'p50', 'p90', 'p99', "
                                                    "'p99.9', 'p99.99' or 'max'"),
        (LATENCY + "statistics = []\n", "line 10: claim[0].statistics=[]: list should have at least 1 item"),
        (LATENCY + 'statistics = ["max", "max"]\n', "line 10: claim[0].statistics=['max', 'max']: names 'max' twice"),
        (LATENCY + 'statistics = "max"\n', "line 10: claim[0].statistics='max': input should be a valid list"),
        (LATENCY + "repeats = 4\n", "line 10: claim[0].repeats=4: input should be greater than or equal to 5"),
        (LATENCY + "repeats = 101\n", "line 10: claim[0].repeats=101: input should be less than or equal to 100"),
        (LATENCY.replace("2000", "10"), "line 8: claim[0].orders_per_repeat=10: input should be greater than or equal to 1000"),
        (LATENCY + 'arrivals = "lobster"\n', "line 10: claim[0].arrivals='lobster': input should be 'poisson' or 'bursty'"),
        (LATENCY + "batch = 0\n", "line 10: claim[0].batch=0: input should be greater than or equal to 1"),
        (LATENCY + 'reserve = "yes"\n', "line 10: claim[0].reserve='yes': input should be a valid boolean"),
        (LATENCY + "cancels_per_order = 11\n", "line 10: claim[0].cancels_per_order=11: input should be less than or equal to 10"),
        (LATENCY + "trades = 1000\n", "line 10: claim[0].trades=1000: does not apply to a latency claim"),
        (LATENCY + 'phase = "traded"\n', "line 10: claim[0].phase='traded': does not apply to a latency claim"),
        (LATENCY + 'measure = "rss_bytes"\n', "line 10: claim[0].measure='rss_bytes': applies to memory claims only"),
        (LATENCY + 'note = "a\\nb"\n', "line 10: claim[0].note='a\\nb': must be one line of text"),
        (GOOD + 'offered_rate = "100k"\n', "line 7: claim[0].offered_rate='100k': applies to latency claims only, not to metric 'memory'"),
        (GOOD + 'statistics = ["max"]\n', "line 7: claim[0].statistics=['max']: applies to latency claims only"),
        (GOOD + "repeats = 9\n", "line 7: claim[0].repeats=9: applies to latency claims only"),
        # a statistic the repeats cannot resolve: p99.99 needs a sample beyond it, 10,000 orders per repeat
        (LATENCY + 'statistics = ["p99", "p99.99"]\n', "line 8: claim[0].orders_per_repeat=2000: too few for p99.99, which needs at "
                                                      "least 10,000 orders per repeat (one sample beyond the percentile)"),
        (LATENCY.replace("2000", "1000") + 'statistics = ["p99.9"]\nat_least_not = 1\n', "unknown key 'at_least_not'"),  # p99.9: 1,000 do
        # a vanishing rate: the seconds in three figures, not 300 digits
        (LATENCY.replace('"100k"', "1e-300"), "line 7: claim[0].offered_rate=1e-300: offers 2,000 orders per repeat over 2e+303 s; "
                                              "at most 600 s"),
        (LATENCY.replace('"100k"', "5e-324"), "claim[0].offered_rate=5e-324: offers 2,000 orders per repeat over more than 1e308 s"),
        # a bound below what the cycle counter can resolve
        (LATENCY.replace('"1 us"', '"0.5 ns"'), "line 9: claim[0].at_most='0.5 ns': is 0.5 ns: a bound below 1 ns cannot be measured"),
        (LATENCY.replace('"1 us"', "1e-300"), "claim[0].at_most=1e-300: is 1e-300 ns: a bound below 1 ns cannot be measured"),
    ],
)
def test_bad_latency_claims_are_one_line_errors(tmp_path, text, fragment):
    path = tmp_path / "claims.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(fragment)):
        load_claims(path)


def test_a_short_message_for_a_vanishing_rate_and_statistics_the_repeats_resolve(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text(LATENCY.replace('"100k"', "1e-300"))
    result = run_cli("audit", str(path))
    assert_one_line_error(result, "claim[0].offered_rate=1e-300")
    assert len(result.stderr) < 300, result.stderr
    (claim,) = _claims_text(LATENCY.replace("2000", "10000") + 'statistics = ["p50", "p99.9", "p99.99", "max"]\n')
    assert claim.latency is not None and claim.latency.orders == 10_000


def test_a_latency_claim_that_would_not_fit_is_refused_before_any_run(tmp_path, monkeypatch):
    """A latency claim's books, timed arrays and reserved pools are sized before anything runs (the memory claim
    first in the file is not simulated): one line naming the file and the claim, with the estimate; exit 2."""
    from lxdex_capacity import simulation

    monkeypatch.setattr(simulation, "simulate", lambda *a, **k: pytest.fail("simulated before the latency claim was sized"))
    pretend_available(monkeypatch, 64 << 20)  # 64 MiB: 300 markets fit, 100M reserved messages per repeat do not
    path = tmp_path / "claims.toml"
    path.write_text(GOOD + LATENCY.replace("2000", "100000000").replace('"100k"', '"10G"'))
    result = run_cli("audit", str(path))
    assert_one_line_error(result, f"{path}: claim 'lat' (300 markets, orders_per_repeat=100,000,000, pools reserved) needs an "
                                  "estimated")
    assert "is available; lower its orders_per_repeat or markets, or pass --force" in result.stderr
    # above --max-measure it is not measured: the audit refuses it as before (no memory figure)
    assert_one_line_error(run_cli("audit", str(path), "--max-measure", "100"), "claim 'lat': 300 markets is above the measuring limit")


def test_bad_latency_claims_exit_2_naming_the_file_and_key(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text(LATENCY + 'statistics = ["p99", "p42"]\n')
    assert_one_line_error(run_cli("audit", str(path)), f"{path}: line 10: claim[0].statistics[1]='p42'")


def test_a_latency_claims_defaults():
    claim = _claims_text(LATENCY)[0]
    assert claim.unit == "ns" and claim.claimed == 1000.0 and claim.phase == "seeded" and claim.trades == 0
    assert claim.latency == LatencyLoad(offered_per_s=1e5, arrivals="poisson", batch=1, reserve=True, orders=2000,
                                        statistics=("p99", "max"), repeats=None, cancels_per_order=None)
    claim = _claims_text(LATENCY + 'statistics = ["max", "p50", "p99.9"]\nreserve = false\nrepeats = 7\ncancels_per_order = 1\n')[0]
    assert claim.latency is not None and claim.latency.statistics == ("p50", "p99.9", "max")  # in rising order
    assert (claim.latency.reserve, claim.latency.repeats, claim.latency.cancels_per_order) == (False, 7, 1.0)


def _claims_text(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "claims.toml"
        path.write_text(text)
        return load_claims(path)[1]


def _latency_result(figures):
    """A stand-in LatencyResult: its one rate's run ``r`` has p99 ``figures[r][0]`` and max ``figures[r][1]`` ns."""
    from types import SimpleNamespace

    def pct(p99, top):
        return SimpleNamespace(p50_ns=p99 / 4, p90_ns=p99 / 2, p99_ns=p99, p999_ns=top / 2, p9999_ns=top / 1.5, max_ns=top, samples=2000)

    runs = [SimpleNamespace(latency=pct(p99, top), stalls=0, achieved_per_s=1e5, cancels=0) for p99, top in figures]
    return SimpleNamespace(rates=[SimpleNamespace(runs=runs, figures={})], service=pct(300.0, 900.0), cancel_service=None,
                           cancels_per_order=0.0)


@pytest.mark.parametrize(
    "figures, p99, top, verdict",
    [([(400.0, 900.0)] * 5, "holds", "holds", "holds"),
     ([(400.0, 900.0), (410.0, 950.0), (420.0, 990.0), (390.0, 1200.0), (405.0, 980.0)], "holds", "too noisy to call", "too noisy to call"),
     ([(400.0, 3000.0), (410.0, 2500.0), (420.0, 1900.0), (390.0, 1200.0), (405.0, 1100.0)], "holds", "fails", "fails"),
     ([(1400.0, 3000.0), (900.0, 2500.0), (1200.0, 1900.0), (1300.0, 1200.0), (1100.0, 1100.0)], "too noisy to call", "fails", "fails")],
)
def test_a_latency_claim_holds_only_if_every_statistic_holds(figures, p99, top, verdict):
    claims = _claims_text(LATENCY)
    calls = []

    def measure(scenario, rates, **options):
        calls.append((scenario, rates, options))
        options["progress"](0, len(rates) + 2, "seeding the books")
        return _latency_result(figures[:options["policy"].repeats])

    steps = []
    (v,) = audit(claims, lambda s: pytest.fail("a latency claim runs no simulation"), load_model(), seed=3, measure=measure,
                 advance=lambda done, total, what: steps.append((done, total, what)))
    # one engine, seeded once with the audit's seed; the rate repeated by the harness (offer r has arrival seed 3 + r, the
    # first a warm-up)
    ((scenario, rates, options),) = calls
    assert scenario.markets == 300 and scenario.seed == 3 and scenario.trades == 0 and rates == [1e5]
    assert (options["policy"].repeats, options["policy"].warmup) == (5, 1)
    assert {k: options[k] for k in ("arrivals", "batch", "reserve", "orders_per_rate")} == dict(arrivals="poisson", batch=1, reserve=True,
                                                                                              orders_per_rate=2000)
    assert steps == [(0, 7, "300 markets, latency: seeding the books"), (7, 7, "judging")]  # the audit counts repeats + 2 steps
    stats = v.latency["statistics"]
    assert (stats["p99"]["verdict"], stats["max"]["verdict"], v.verdict) == (p99, top, verdict)
    assert v.holds == (verdict == "holds") and v.statistic == ("p99" if p99 == "fails" else "max")
    assert stats["max"]["samples"] == [f[1] for f in figures] and stats["p99"]["samples"] == [f[0] for f in figures]
    assert (v.low, v.measured, v.high) == (stats["max"]["low"], stats["max"]["median"], stats["max"]["high"])
    assert v.seeds == [4, 5, 6, 7, 8] == v.latency["arrival_seeds"] and v.repeats == 5 and "93.8%" in v.interval
    assert v.basis.startswith("measured (5 offered runs on one engine seeded with seed 3, arrival seeds 4–8): 2,000 orders each at 100,000/s")
    json.loads(json.dumps(v.as_dict(), allow_nan=False))


def test_a_latency_claims_own_repeats_and_cancels_reach_the_harness():
    claims = _claims_text(LATENCY + "repeats = 9\ncancels_per_order = 0.5\n" + GOOD)
    seen = []

    def measure(scenario, rates, **options):
        seen.append((rates, options["policy"].repeats, options.get("cancels_per_order")))
        return _latency_result([(400.0 + r, 900.0 + r) for r in range(options["policy"].repeats)])

    lat, mem = audit(claims, _fake_run, load_model(), measure=measure)
    assert seen == [([1e5], 9, 0.5)] and lat.repeats == 9 and lat.seeds == list(range(1, 10))
    assert "order statistics of the repeats" in lat.interval and lat.confidence > 0.95  # nine repeats: x(2)..x(8)
    assert (lat.low, lat.measured, lat.high) == (901.0, 904.0, 907.0)
    assert mem.repeats == 5  # other claims keep the audit's repeats


def test_a_latency_claim_above_the_measuring_limit_is_an_error(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text(LATENCY)
    assert_one_line_error(run_cli("audit", str(path), "--max-measure", "100"), "claim 'lat': 300 markets is above the measuring limit")


def test_a_latency_claim_measured_generous_bound_holds(tmp_path):
    """A real run at 300 markets: a 10 s bound holds (exit 0), with every repeat's p99 and max in the JSON."""
    path = tmp_path / "claims.toml"
    path.write_text(LATENCY.replace('"1 us"', '"10 s"'))
    result = run_cli("audit", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the audit's JSON"))
    (claim,) = report["claims"]
    assert claim["verdict"] == "holds" and claim["metric"] == "latency" and claim["unit"] == "ns" and claim["claimed"] == 10e9
    assert report["holds"] == 1 and claim["repeats"] == 5 and claim["statistic"] == "max"
    lat = claim["latency"]
    assert set(lat["statistics"]) == {"p99", "max"} and lat["offered_per_s"] == 1e5 and lat["orders_per_repeat"] == 2000
    for name, fig in lat["statistics"].items():
        assert len(fig["samples"]) == 5 and all(0 < x < 10e9 for x in fig["samples"]) and fig["verdict"] == "holds"
        assert fig["low"] == min(fig["samples"]) <= fig["median"] <= fig["high"] == max(fig["samples"]), name
    assert all(p99 <= top for p99, top in zip(lat["statistics"]["p99"]["samples"], lat["statistics"]["max"]["samples"], strict=True))
    assert lat["stalls"] == [0] * 5 and len(lat["achieved_per_s"]) == 5 and lat["service"]["samples"] == 2000
    assert claim["samples"] == lat["statistics"]["max"]["samples"] and claim["measured"] == lat["statistics"]["max"]["median"]


def test_a_latency_claim_measured_impossible_bound_fails(tmp_path):
    """A real run at 300 markets: a 1 ns bound fails (exit 1); the table shows each statistic, the repeats and the note."""
    path = tmp_path / "claims.toml"
    path.write_text(LATENCY.replace('"1 us"', '"1 ns"') + 'note = "light load, so queueing is not what fails it"\n')
    result = run_cli("audit", str(path))
    assert result.exit_code == 1 and result.stderr.strip() == "lxdex: error: 1 of 1 claim(s) fail against measurement: lat"
    text = " ".join(result.stdout.split())
    assert "0 hold, 1 fail, 0 too close to call" in text and "(p99 fails, max fails)" in text
    assert "sub-microsecond latency for all operations: 5 repeats (arrival seeds 1–5): p99 " in text and "; max " in text
    assert "Note on 'sub-microsecond latency for all operations': light load, so queueing is not what fails it" in text
    assert "the claim holds only if every statistic holds" in text


def test_an_orders_per_s_claim_made_for_every_core_runs_the_engine_with_a_thread_per_core(tmp_path):
    from lxdex_capacity.machine import usable_cores

    claims = _claims(tmp_path, RATE.replace('at_least = "30"', 'threads = "every"\nat_least = "30"') + ACCESS)
    seen: list[int] = []
    fake = _varying_run({i: 40.0 for i in range(5)})

    def run(scenario, threads=1):
        seen.append(threads)
        return fake(scenario)

    verdicts = audit(claims, run, load_model())
    every = min(usable_cores(), 100)
    assert seen.count(every) == 5 and (every == 1 or seen.count(1) == 5)  # the access claim keeps one thread
    rate = next(v for v in verdicts if v.id == "rate")
    assert (f"{every} threads" in rate.basis) if every > 1 else ("one core" in rate.basis)
    _, published = load_claims()
    assert next(c for c in published if c.id == "order-rate").threads == min(usable_cores(), 21_000)


@pytest.mark.parametrize("text, fragment", [
    (ACCESS.replace('at_most', 'threads = 2\nat_most'), "threads=2: applies to orders/s claims only"),
    (RATE.replace('at_least', 'threads = 200\nat_least'), "threads=200: is more threads than markets"),
    (RATE.replace('at_least', 'threads = "all"\nat_least'), "threads='all': must be a number of threads from 1 to 256 or \"every\""),
    (RATE.replace('at_least', 'threads = 0\nat_least'), "threads=0: must be a number of threads"),
])
def test_bad_threads_in_a_claim_are_one_line(tmp_path, text, fragment):
    path = tmp_path / "claims.toml"
    path.write_text(text)
    assert_one_line_error(run_cli("audit", str(path)), fragment)
