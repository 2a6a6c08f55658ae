"""``lxdex report``: the files, their self-containment, re-rendering, and errors."""

from __future__ import annotations

import json
import re

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.capacity.model import load_model

SECTIONS = ("## Executive summary", "## Test results by phase", "## Performance", "## Capacity per hardware profile",
            "## Scaling projections", "## Memory per market", "## Method", "## Assumptions and risks")
CHARTS = ("memory_vs_markets", "breakdown", "headroom", "depth_by_rank", "flow_lorenz", "latency")


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    sim_dir = tmp_path_factory.mktemp("sim")
    result = run_cli("simulate", "--markets", "2000", "--trades", "20000", "--out", str(sim_dir), "--json")
    assert result.exit_code == 0, result.stderr
    result = run_cli("report", "--simulate", str(sim_dir / "simulate.json"), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out


def test_report_writes_markdown_html_results_and_every_chart(small_report):
    md = (small_report / "report.md").read_text()
    for section in SECTIONS:
        assert section in md
    for chart in CHARTS:
        assert (small_report / "charts" / f"{chart}.png").stat().st_size > 1000
        assert (small_report / "charts" / f"{chart}.svg").read_text().lstrip().startswith("<?xml")
        assert f"](charts/{chart}.png)" in md
    results = json.loads((small_report / "results.json").read_text())
    assert results["format"] == "lxdex-capacity-report/1"
    assert {"simulate", "model", "plan", "environment", "command"} <= set(results)
    assert results["simulate"]["markets"] == 2000
    assert results["command"].startswith("lxdex report --simulate ") and results["command"].endswith(f"--out {small_report}")


def test_html_is_self_contained(small_report):
    page = (small_report / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "//" not in re.sub(r"data:[^\"]*", "", page).replace("<!--", "")
    sources = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(sources) == len(CHARTS) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<table>" in page and "Executive summary" in page


def test_results_json_re_renders_the_same_report(small_report, tmp_path):
    result = run_cli("report", "--results", str(small_report / "results.json"), "--out", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "report.md").read_text() == (small_report / "report.md").read_text()


def test_figures_in_the_report_come_from_the_results(small_report):
    md = (small_report / "report.md").read_text()
    results = json.loads((small_report / "results.json").read_text())
    traded = next(p for p in results["simulate"]["phases"] if p["name"] == "traded")
    assert f"{traded['resting_orders']:,}" in md and f"{traded['engine_bytes_used'] / 1e6:,.2f} MB" in md
    assert f"| {results['plan']['cheapest_fit']} |" in md


def test_extrapolation_is_flagged(tmp_path):
    model = load_model()
    small = json.loads(model.to_json())
    small["largest_markets"] = 100_000
    path = tmp_path / "model.json"
    path.write_text(json.dumps(small))
    sim_dir = tmp_path / "sim"
    assert run_cli("simulate", "--markets", "1000", "--trades", "5000", "--out", str(sim_dir)).exit_code == 0
    result = run_cli("report", "--simulate", str(sim_dir / "simulate.json"), "--model", str(path), "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    assert "**Extrapolation**" in md and "| 10,000,000 † |" in md and "| 100,000 |" in md


@pytest.mark.parametrize(
    "content, option, fragment",
    [('{"format": "x"}', "--results", "not an lxdex report results file"), ("{\n\n oops", "--results", "line 3"),
     ('{"markets": 5}', "--simulate", "not an lxdex simulate result")],
)
def test_bad_saved_files_are_one_line_errors(tmp_path, content, option, fragment):
    path = tmp_path / "in.json"
    path.write_text(content)
    assert_one_line_error(run_cli("report", option, str(path), "--out", str(tmp_path / "r")), fragment)


def test_a_sharded_run_reports_its_shards(tmp_path):
    from lxdex_capacity.scenarios.config import Scenario
    from lxdex_capacity.simulation import simulate

    result = simulate(Scenario(markets=2_000, trades=5_000), shards=2)
    path = tmp_path / "simulate.json"
    path.write_text(json.dumps(result.to_dict()))
    out = tmp_path / "r"
    run = run_cli("report", "--simulate", str(path), "--out", str(out))
    assert run.exit_code == 0, run.stderr
    md = (out / "report.md").read_text()
    first = result.shards[0]
    assert "## Shards" in md and f"| 0 | {first.markets:,} | {first.expected_flow_share:.1%} | {first.resting_orders:,} |" in md
    saved = json.loads((out / "results.json").read_text())["simulate"]
    assert saved["market_checksum"] == result.market_checksum and len(saved["shards"]) == 2
    missing = run_cli("report", "--simulate", str(tmp_path / "unused.json"), "--out", str(out))
    assert missing.exit_code == 2  # a missing simulate file is an error, not a traceback
