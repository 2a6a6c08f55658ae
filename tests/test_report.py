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
    scaling = results["model"]["scaling"]  # the curve every profile's order capacity multiplies by
    assert f"at {scaling['markets']:,} markets with 1 to {scaling['measured'][-1]['threads']} threads" in md
    assert f"{scaling['measured'][-1]['speedup']:.2f}×" in md


def test_the_executive_summary_leads_with_the_plans_recommendation(small_report):
    md = (small_report / "report.md").read_text()
    results = json.loads((small_report / "results.json").read_text())
    rec = results["plan"]["recommendation"]
    summary = md.split("## Executive summary\n", 1)[1].split("## ", 1)[0]
    first = summary.strip().splitlines()[0]
    assert first.startswith("**Recommendation for 2,000 markets: 1 x ") and rec["profile"] in first
    assert f"${rec['yearly_cost_usd']:,.0f} a year" in first and results["plan"]["load"]["trades_retained"] == 262_144
    table = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert 2 <= len(table) <= 6  # the cheapest few, not a row per profile


@pytest.mark.parametrize("stationary, cancel_rate", [(True, 0.0), (False, 0.25), (True, 0.25)])
def test_report_text_says_in_words_what_the_run_did(small_report, stationary, cancel_rate):
    from lxdex_capacity.reporting.report import render_markdown

    results = json.loads((small_report / "results.json").read_text())
    results["simulate"]["scenario"] |= {"stationary": stationary, "cancel_rate": cancel_rate}
    md = render_markdown(results, {}, image=str)
    assert not re.search(r"\b(True|False|None|nan|inf)\b", md), re.search(r".*\b(True|False|None|nan|inf)\b.*", md)
    assert ("was cut back to its seeded depth" in md) == stationary
    assert ("| cancels keeping books at their seeded depth |" in md) == (stationary and not cancel_rate)
    assert (f"{cancel_rate:g} per flow order" in md) == bool(cancel_rate)
    assert "later release" not in md and re.search(r"`lxdex calibrate \S+ --out \S+`", md)


@pytest.mark.slow  # a second report run, ~6 s; CI runs it in the slow pass
def test_extrapolation_is_flagged(tmp_path):
    model = load_model()
    small = json.loads(model.to_json())
    # Measured up to 100,000 markets: a model whose stored points went further would contradict it (refused), so
    # this one keeps its fit and none of its points, as a model written by hand may.
    small["largest_markets"] = 100_000
    small["points"] = []
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


@pytest.mark.slow  # a sharded simulate and its report, ~8 s; CI runs it in the slow pass
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


# --- the charts: each answers its question at a glance --------------------------------------------


@pytest.fixture(scope="module")
def small_results(small_report):
    return json.loads((small_report / "results.json").read_text())


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def test_breakdown_legend_covers_no_bar_and_no_label(small_results):
    from lxdex_capacity.reporting.charts import breakdown_stacked

    fig = breakdown_stacked(small_results)
    renderer = _drawn(fig)
    (ax,) = fig.axes
    legends = [*fig.legends, *([ax.get_legend()] if ax.get_legend() else [])]
    assert legends
    covered = [artist for artist in [*ax.patches, *ax.texts] if artist.get_visible()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not [a for a in covered if a.get_window_extent(renderer).overlaps(box)]


def test_headroom_is_a_linear_share_of_usable_memory_with_fit_colours_and_a_clip(small_results):
    import copy

    from matplotlib.colors import same_color

    from lxdex_capacity.reporting.charts import HEADROOM_CLIP_PCT, headroom

    results = copy.deepcopy(small_results)
    first = results["plan"]["profiles"][0]
    first |= {"usable_bytes": int(first["required_bytes"] / 5), "fits": False, "fits_memory": False, "headroom_pct": None}
    fig = headroom(results)
    (ax,) = fig.axes
    assert ax.get_xscale() == "linear" and ax.get_xlim()[1] < 500
    assert any(list(line.get_xdata()) == [100, 100] for line in ax.get_lines())  # the 100% reference line
    bars = ax.patches[:len(results["plan"]["profiles"])]
    assert bars[0].get_width() == pytest.approx(HEADROOM_CLIP_PCT) and same_color(bars[0].get_facecolor(), "tab:red")
    fitting = [bar for bar, p in zip(bars, results["plan"]["profiles"], strict=True) if p["fits"]]
    assert fitting and all(same_color(bar.get_facecolor(), "tab:green") for bar in fitting)
    assert any(text.get_text().startswith("▶ 500%") for text in ax.texts)  # the cut bar's value, written
    assert "fits" in ax.get_title() and "GiB" in ax.get_title()


def test_latency_axis_fits_the_data_and_the_title_gives_the_percentiles(small_results):
    from lxdex_capacity.reporting.charts import latency_histogram

    t = small_results["simulate"]["throughput"]
    fig = latency_histogram(small_results)
    (ax,) = fig.axes
    low, high = ax.get_xlim()
    assert ax.get_xscale() == "linear" and low >= 0 and t["random_access_ns_p99"] < high <= 10 * t["random_access_ns_p99"]
    assert f"p50 {t['random_access_ns_p50']:,.0f} ns" in ax.get_title() and f"p99 {t['random_access_ns_p99']:,.0f} ns" in ax.get_title()


def test_the_report_says_how_steady_each_timed_figure_was_and_what_the_measured_rate_changed(small_report):
    md = (small_report / "report.md").read_text()
    results = json.loads((small_report / "results.json").read_text())
    section = md.split("### How steady the timed figures were\n", 1)[1].split("\n## ", 1)[0]
    figures = {name: f for name, f in results["figures"].items() if f["timed"]}
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(figures) > 0  # a row per timed figure, each with its status
    for row, (name, f) in zip(rows, figures.items(), strict=True):
        assert row.startswith(f"| {name.replace('_', chr(92) + '_')} |") and f"| {f['status']} |" in row
    counts = {s: sum(f["status"] == s for f in figures.values()) for s in ("stable", "noisy", "disturbed")}
    assert f"Here: {counts['stable']} stable, {counts['noisy']} noisy, {counts['disturbed']} disturbed" in section
    batches = results["simulate"]["throughput"]["batches"]
    assert f"its {batches['repeats']:,} batches" in md.split("## Executive summary\n", 1)[1].split("## ", 1)[0]
    calibration = results["plan"]["calibration"]  # the tests see quiet windows: the run's rate calibrates the plan
    assert calibration is not None and calibration["source"] == "lxdex report's simulation"
    first = md.split("## Executive summary\n", 1)[1].strip().splitlines()[0]
    rec = results["plan"]["recommendation"]
    if rec["rate_source"] == "extrapolated":
        assert f"scaled x{calibration['factor']:.2f} to this machine's measured" in first
    assert f"scaled x{calibration['factor']:.2f} to this machine's" in md.split("## Capacity per hardware profile\n", 1)[1]
