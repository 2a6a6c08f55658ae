"""``lxdex sweep``, ``lxdex plan`` and ``lxdex hardware``, through the command line (in this process)."""

from __future__ import annotations

import json

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.machine import usable_cores

PLAN_PROFILE_FIELDS = {"name", "memory_bytes", "usable_bytes", "required_bytes", "fits", "headroom_pct", "max_markets", "bottleneck"}


def test_hardware_list_json_lists_every_profile_with_its_fields():
    result = run_cli("hardware", "list", "--json")
    assert result.exit_code == 0, result.stderr
    profiles = json.loads(result.stdout)["profiles"]
    assert len(profiles) >= 25
    for p in profiles:
        assert {"name", "chip", "year", "memory_bytes", "memory_gib", "bandwidth_gb_s", "p_cores", "e_cores", "gpu_cores",
                "max_power_w", "price_usd", "source"} <= set(p)


def test_hardware_show_and_compare():
    show = run_cli("hardware", "show", "Mac Studio M2 Ultra 192 GB", "--json")
    assert json.loads(show.stdout)["memory_bytes"] == 192 * 2**30
    compare = run_cli("hardware", "compare", "Mac mini M4 16 GB", "Mac Studio M3 Ultra 512 GB")
    assert compare.exit_code == 0 and "Mac Studio M3 Ultra 512 GB" in compare.stdout and "source" in compare.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["hardware", "show", "Mac Studio M2 Ultra 512GB"], "Mac Studio M3 Ultra 512 GB"),
        (["hardware", "compare", "Mac mini M4 16 GB"], "at least two"),
        (["plan", "--profile", "Mac Pro 2019"], "no hardware profile 'Mac Pro 2019'"),
        (["plan", "--markets", "10", "--orders-per-market", "1e9", "--profile", "Mac mini M2 8 GB"], "no profile can hold this load"),
        (["plan", "--markets", "10", "--orders-per-market", "1e12"], "one market's book lives in one engine"),
        (["plan", "--model", "/nonexistent/model.json"], "does not exist"),
        (["plan", "--safety", "0.5"], "Invalid value for '--safety'"),
        (["sweep", "--markets", "1000,abc"], "comma-separated positive integers"),
        (["sweep", "--markets", "1000"], "at least two different sizes"),
        (["sweep", "--out", "/nonexistent/dir/model.json"], "does not exist"),
    ],
)
def test_bad_capacity_input_is_one_line_and_exit_2(args, fragment):
    assert_one_line_error(run_cli(*args), fragment)


def test_malformed_model_file_names_the_line(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text('{\n  "format": "lxdex-capacity-model/1",\n  "fit": ,\n}')
    result = run_cli("plan", "--model", str(bad))
    assert result.exit_code == 2 and "line 3" in result.stderr


def test_plan_json_has_profiles_cheapest_fit_and_scaling():
    result = run_cli("plan", "--markets", "21000", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["profiles"][0]) >= PLAN_PROFILE_FIELDS
    assert report["cheapest_fit"] in {p["name"] for p in report["profiles"] if p["fits"]}
    assert [r["markets"] for r in report["scaling"]][-1] == 10_000_000
    assert all({"markets", "required_bytes", "smallest_fit"} <= set(r) for r in report["scaling"])
    assert report["load"]["trades_retained"] == 262_144 and report["load"]["markets"] == 21_000
    assert report["recommendation"]["profile"] in {p["name"] for p in report["profiles"]}
    table = run_cli("plan", "--markets", "21000")
    assert "recommendation:" in table.stdout.splitlines()[-2] + table.stdout.splitlines()[-1]


@pytest.mark.slow  # a real sweep with its scaling runs, ~40 s: the pieces have fast tests of their own (test_scaling)
def test_sweep_fits_validates_and_writes_a_model_plan_reads(tmp_path):
    model = tmp_path / "model.json"
    # Tape of 1,024 trades (long-tape variant: 4,096) and 3,000 trades: the variants retain different counts.
    threads = min(usable_cores(), 2)
    result = run_cli("sweep", "--markets", "300,600,1200", "--repeat", "1", "--trades", "3000", "--trades-retained", "1024",
                   "--threads-up-to", str(threads), "--working-sets", "none", "--out", str(model), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    held_out = [p for p in report["points"] if p["held_out"]]
    assert [p["markets"] for p in held_out] == [1200]
    assert len(report["points"]) == 2 * 3 + 1
    assert {"value", "ci95"} <= set(report["model"]["coefficients"]["resting_orders"])
    assert 0.99 < report["model"]["r2"] <= 1.0
    v = report["validation"]
    assert v["markets"] == 1200 and abs(v["error_pct"]) < 10
    assert v["error_pct"] == pytest.approx(100 * (v["predicted_bytes"] - v["measured_bytes"]) / v["measured_bytes"])
    # Scaling with threads at the largest fitted size, every thread count making the same trades
    scaling = report["scaling"]
    if threads == 1:
        assert scaling is None
    else:
        assert scaling["markets"] == 600 and scaling["same_trades"] and [m["threads"] for m in scaling["measured"]] == [1, 2]
        assert scaling["measured"][1]["speedup"] == pytest.approx(scaling["measured"][1]["orders_per_s"] / scaling["measured"][0]["orders_per_s"])
        assert json.loads(model.read_text())["scaling"] == scaling
        assert "--threads-up-to 2" in json.loads(model.read_text())["provenance"]["command"]
    planned = run_cli("plan", "--model", str(model), "--markets", "5000", "--json")
    assert planned.exit_code == 0, planned.stderr
    assert json.loads(planned.stdout)["model"]["largest_markets_measured"] == 1200
    assert json.loads(planned.stdout)["profiles"][0]["scaling_source"] == ("linear" if threads == 1 else "measured")  # one engine


def test_plan_table_says_how_much_memory_is_missing_instead_of_a_negative_headroom():
    # 9 GiB in 4 GiB usable: "needs 2.1x this memory"; 2 GiB short of 10 usable: "short 1.2 GiB"
    result = run_cli("plan", "--markets", "10000000", "--os-reserve", "1", "--profile", "Mac mini M2 8 GB", "--profile", "Mac mini M2 24 GB",
                     "--trades-retained", "1000000")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "Mac mini M2 8 GB" in line)
    assert "short" in row and "GiB" in row and "-" not in row.replace("Mac mini M2 8 GB", "")
    result = run_cli("plan", "--markets", "10000000", "--os-reserve", "6", "--profile", "Mac mini M2 8 GB")
    row = next(line for line in result.stdout.splitlines() if "Mac mini M2 8 GB" in line)
    assert "needs 4.2x" in row and "%" in row and "-" not in row.replace("Mac mini M2 8 GB", "")
    report = json.loads(run_cli("plan", "--markets", "10000000", "--profile", "Mac mini M2 8 GB", "--json").stdout)
    assert report["profiles"][0]["headroom_pct"] is None and not report["profiles"][0]["fits_memory"]


# -- the plan's rows and its recommendation count the machines alike; watts where they mean something ------------

def _plan_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The plan table's rows by profile, each its cells by column (stdout not a terminal: one line a row)."""
    lines = stdout.splitlines()
    header = next(line for line in lines if "┃ profile" in line)
    names = [cell.strip() for cell in header.strip("┃").split("┃")]
    rows = {}
    for line in lines[lines.index(header) + 2:]:
        if not line.startswith("│"):
            break
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


@pytest.mark.parametrize("args, count, machines_cell, per_million", [
    (["--markets", "21000"], 1, "1", False),  # 2% of one machine: its watts say nothing per market
    (["--markets", "10000000"], 1, "1", True),  # 71% of one machine's memory
    (["--markets", "10000000", "--profile", "Mac mini M2 8 GB"], 4, "4 (3+1)", True),  # three share it, and a spare
])
def test_the_plan_row_and_the_recommendation_count_the_same_machines(args, count, machines_cell, per_million):
    report = json.loads(run_cli("plan", *args, "--json").stdout)
    rec = report["recommendation"]
    row = next(p for p in report["profiles"] if p["name"] == rec["profile"])
    assert rec["machines"] == count and rec["spare"] == (count > 1) and rec["kind"] == ("single machine" if count == 1 else "cluster")
    assert rec["watts"] == pytest.approx(count * row["max_power_w"])  # every machine at full power, the spare too
    if per_million:
        assert rec["watts_per_million_markets"] == pytest.approx(rec["watts"] / (report["load"]["markets"] / 1e6))
    else:
        assert rec["watts_per_million_markets"] is None
    text = run_cli("plan", *args)
    assert text.exit_code == 0, text.stderr
    assert _plan_rows(text.stdout)[rec["profile"]]["machines"] == machines_cell
    said = " ".join(text.stdout.split()).split("recommendation: ")[1]
    assert said.startswith(f"{count} x {rec['profile']} (")
    if count > 1:
        assert said.startswith(f"{count} x {rec['profile']} ({count - 1} + 1 spare, ")
    assert f"{rec['watts']:,.0f} W at " in said and ("W per million markets" in said) == per_million


def test_every_row_counts_machines_as_a_recommendation_of_it_would():
    """Whatever profile the recommendation picks, it counts that profile's machines as its row does: one machine that
    holds the load alone (no spare), else N sharing it and a spare; and the cluster summary counts them so too."""
    from lxdex_capacity.capacity.hardware import load_profiles
    from lxdex_capacity.capacity.model import load_model
    from lxdex_capacity.capacity.plan import PlanRequest, ProfilePlan, plan, recommendation
    from lxdex_capacity.cli.render.capacity import machines_cell

    for request in (PlanRequest(markets=21_000), PlanRequest(markets=10_000_000, orders_per_market=40),
                    PlanRequest(markets=2_000_000, order_rate=5e7)):
        report = plan(load_model(), load_profiles(None), request)
        for p in report["profiles"]:
            if p["machines"] is None or p["yearly_cost_usd"] is None:
                continue
            alone = recommendation([ProfilePlan(**p)], request.markets)  # the recommendation were this the only profile
            assert alone is not None and alone["profile"] == p["name"]
            assert machines_cell(p["machines"]).split(" ")[0] == str(alone["machines"])
            assert alone["spare"] == (p["machines"] > 1) and (alone["machines"] == 1) == p["fits"]
        for key in ("cluster", "cluster_cloud"):
            c = report[key]
            if c is not None:
                assert c["machines_n_plus_1"] == (1 if c["machines"] == 1 else c["machines"] + 1)
