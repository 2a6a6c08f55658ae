"""``lxdex audit``: claims files, units, verdicts."""

from __future__ import annotations

import json

import pytest

from helpers import assert_one_line_error, run_cli
from helpers.results import made_up_result
from lxdex_capacity.capacity.model import load_model
from lxdex_capacity.errors import InputError
from lxdex_capacity.reporting.audit import audit, load_claims, parse_quantity, scenario_for
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
    assert len(calls) == 2  # (1000, None, 0) for memory claims, (1000, None, 1M) for the rate; 50M markets: the model
    assert not verdicts["small"].holds and verdicts["small"].ratio == pytest.approx(100_000 / 50_000)
    assert not verdicts["fast"].holds and verdicts["fast"].ratio == pytest.approx(0.5)
    assert verdicts["rss"].holds and verdicts["rss"].measured == 100_000
    huge = verdicts["huge"]
    assert huge.basis.startswith("model prediction") and huge.low < huge.measured < huge.high
    for verdict in verdicts.values():  # every verdict is JSON with finite figures and the fields the CLI prints
        row = json.loads(json.dumps(verdict.as_dict(), allow_nan=False))
        assert {"id", "claimed", "measured", "holds", "verdict", "basis"} <= set(row), row
        assert row["verdict"] == ("holds" if row["holds"] else "fails")


def test_scenario_for_scales_depth_to_the_claimed_orders():
    scenario = scenario_for(21_000, 624_000, 1_000_000)
    assert expected_orders(scenario.tiers, 21_000) == pytest.approx(624_000, rel=0.02)
    assert scenario.trades == 1_000_000


def test_audit_cli_json(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text(GOOD + '\n[[claim]]\nid = "b"\nmetric = "lookups_per_s"\nmarkets = 500\nat_least = 1e12\n')
    result = run_cli("audit", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    a, b = report["claims"]
    assert a["verdict"] == "holds" and a["measured"] < 10e6 and 0 < a["ratio"] < 1
    assert b["verdict"] == "fails" and {"claimed", "measured", "ratio", "basis"} <= set(b)
    assert report["holds"] == 1 and report["fails"] == 1


def test_audit_cli_malformed_file_names_the_line(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text('[[claim]]\nid = "x"\nmetric = \n')
    assert_one_line_error(run_cli("audit", str(path)), "line 3")


def test_every_metric_a_claim_may_name_has_a_unit():
    import typing

    from lxdex_capacity.reporting.audit import METRICS, Metric

    assert set(typing.get_args(Metric)) == set(METRICS)
