"""Latency under load in the report: the chart (PNG, SVG, by suffix, written whole), the report's
latency section and its options, and hostile ``latency`` records in a results.json refused naming the key.

One small report with a latency run (300 markets, a few thousand orders per rate) is made once and
its results.json is the start of every hostile variant."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from helpers import Result, assert_one_line_error, pretend_available, run_cli
from helpers.results import DELETE, INFINITY, mutated, write_json
from lxdex_capacity.errors import InputError
from lxdex_capacity.reporting.latency_chart import LATENCY_SERIES, write_latency_chart
from lxdex_capacity.reporting.report import LOAD_SHARES, latency_ladder
from lxdex_capacity.units import duration_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MARKETS = 300
ORDERS_PER_RATE = 1_000


def _cli(*args: str) -> Result:
    """``lxdex ARGS`` with every warning an error: a numpy or matplotlib warning on the way fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return run_cli(*args)


def made_up_latency(rates: tuple[float, ...] = (1e5, 1e6, 4e6), capacity: float = 2e6) -> dict[str, Any]:
    """A latency record shaped as ``LatencyResult.as_dict()`` gives it, with round figures: latency grows with
    the load, and past ``capacity`` by orders of magnitude."""
    def percentiles(base: float, samples: int) -> dict[str, Any]:
        return {key: base * (1 + i) for i, (key, _) in enumerate(LATENCY_SERIES)} | {"samples": samples}

    return {"markets": MARKETS, "seed": 0, "arrivals": "poisson", "batch": 1, "reserve": True, "orders_per_rate": 5_000,
            "counter_ns": 10.0, "ticks_per_ns": 2.5, "service": percentiles(300.0, 5_000), "capacity_per_s": capacity,
            "rates": [{"offered_per_s": rate, "achieved_per_s": min(rate, capacity),
                       **percentiles(400.0 * (1 if rate < capacity else 1_000) * rate / rates[0], 5_000), "stalls": 0}
                      for rate in rates]}


# --- the chart ----------------------------------------------------------------------------------------


def test_the_chart_is_written_as_png_or_svg_by_the_suffix(tmp_path):
    latency = made_up_latency()
    write_latency_chart(latency, tmp_path / "latency.png")
    write_latency_chart(latency, tmp_path / "latency.SVG")
    assert (tmp_path / "latency.png").read_bytes().startswith(PNG_MAGIC)
    svg = (tmp_path / "latency.SVG").read_text()
    assert "<svg" in svg and "</svg>" in svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latency.SVG", "latency.png"]  # no temporary sibling left


def test_the_chart_takes_extra_keys_one_rate_and_figures_below_the_counter(tmp_path):
    """What a newer harness may add is ignored; a zero latency (below one counter step) still sits on the log axis."""
    latency = made_up_latency(rates=(5e5,)) | {"look_ahead": True, "cancels_per_order": 0.5, "future_figure": [1, 2]}
    latency["rates"][0] |= {"p50_ns": 0.0, "cancels": 12}
    write_latency_chart(latency, tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("name", ["latency.jpg", "latency", "latency.png.txt"])
def test_a_chart_path_without_png_or_svg_is_a_one_line_error_naming_it(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(InputError) as caught:
        write_latency_chart(made_up_latency(), path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and ".png or .svg" in message
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_durations_read_in_their_own_unit():
    assert [duration_text(ns) for ns in (531.2, 13_540.0, 2_841_247.6, 1.2e9, 0.0)] == ["531 ns", "13.5 µs", "2.84 ms", "1.20 s", "0 ns"]


def test_the_ladder_surrounds_the_measured_capacity():
    rates = latency_ladder(1_533_856.6)
    assert len(rates) == len(LOAD_SHARES) and rates == sorted(rates)
    assert rates[0] < 1_533_856.6 < rates[-1]
    assert all(float(f"{rate:.2g}") == rate for rate in rates)  # round figures: 150K, not 153,385.66
    with pytest.raises(Exception, match="capacity"):
        latency_ladder(0.0)


# --- the report ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def latency_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("latency") / "report"
    result = _cli("report", "--markets", str(MARKETS), "--trades", "2000", "--latency-orders", str(ORDERS_PER_RATE), "--out", str(out), "--repeats", "1")
    assert result.exit_code == 0, result.stderr
    return out


def test_the_report_measures_latency_and_writes_its_section(latency_report):
    results = json.loads((latency_report / "results.json").read_text())
    lat = results["latency"]
    assert (lat["markets"], lat["seed"], lat["reserve"], lat["orders_per_rate"]) == (MARKETS, 0, True, ORDERS_PER_RATE)
    assert len(lat["rates"]) == len(LOAD_SHARES)
    offered = [row["offered_per_s"] for row in lat["rates"]]
    assert min(offered) < lat["capacity_per_s"] < max(offered)  # a ladder around the capacity it measured
    assert all(row["stalls"] == 0 for row in lat["rates"])  # reserved pools never grow
    md = (latency_report / "report.md").read_text()
    section = md.split("## Latency under load\n", 1)[1].split("\n## ", 1)[0]
    assert "completion minus its arrival" in section and "open loop" in section and "one core" in section
    assert "capacity: one over the mean service time" in section and "cycle counter step" in section
    header = "| offered | achieved | p50 | p90 | p99 | p99.9 | p99.99 | max | samples | stalls |"
    rows = section.split(header, 1)[1].strip().splitlines()[1:1 + len(LOAD_SHARES)]
    assert len(rows) == len(LOAD_SHARES) and all(row.endswith(f"| {ORDERS_PER_RATE:,} | 0 |") for row in rows)
    assert duration_text(lat["service"]["p50_ns"]) in section
    assert "](charts/latency_under_load.png)" in section
    assert "Per-order latency under load" in md.split("## Executive summary", 1)[1].split("\n## ", 1)[0]
    assert (latency_report / "charts" / "latency_under_load.png").read_bytes().startswith(PNG_MAGIC)
    assert "<svg" in (latency_report / "charts" / "latency_under_load.svg").read_text()
    assert "NaN" not in (latency_report / "results.json").read_text()


def test_a_report_with_latency_reads_back_and_re_renders_the_same(latency_report):
    """What the report wrote passes its own schema, and renders to the same Markdown (the charts, drawn
    from the same figures, are not drawn again here: their names and titles are enough for the text)."""
    from lxdex_capacity.reporting.charts import CHARTS
    from lxdex_capacity.reporting.report import load_results, render_markdown

    results = load_results(latency_report / "results.json")
    assert results == json.loads((latency_report / "results.json").read_text())
    drawn = {path.stem for path in (latency_report / "charts").glob("*.png")}
    charts = {name: {"title": title} for name, (title, _) in CHARTS.items() if name in drawn}
    assert "latency_under_load" in charts
    markdown = render_markdown(results, charts, image=lambda name: f"charts/{name}.png")
    assert markdown == (latency_report / "report.md").read_text()


def test_results_without_latency_render_as_before(latency_report):
    from lxdex_capacity.reporting.charts import CHARTS
    from lxdex_capacity.reporting.report import render_markdown

    doc = json.loads((latency_report / "results.json").read_text())
    with_latency = render_markdown(doc, {}, image=str)
    del doc["latency"]
    plain = render_markdown(doc, {}, image=str)
    assert "## Latency under load" in with_latency and "latency under load" not in plain.lower()
    assert CHARTS["latency_under_load"][1](doc) is None  # the chart is skipped, as other charts without their data
    summary_line = next(line for line in with_latency.splitlines() if line.startswith("- Per-order latency under load"))
    method_line = next(line for line in with_latency.splitlines() if line.startswith("- Latency under load:"))
    rebuilt = with_latency.replace(summary_line + "\n", "").replace(method_line + "\n", "")
    before, after = rebuilt.split("## Latency under load\n", 1)
    rebuilt = before + "## " + after.split("\n## ", 1)[1]
    assert rebuilt == plain  # the latency lines are additions: everything else is as before


def test_rates_that_fell_behind_and_rates_above_capacity_kept_up_are_told_apart(latency_report):
    """Above the capacity measured one order at a time the engine may still keep up (served from a queue): only a
    rate whose achieved rate fell short is said to have queued for the whole run."""
    from lxdex_capacity.reporting.report import render_markdown

    lat = made_up_latency(rates=(1e5, 3e6, 4e6), capacity=2e6)
    lat["rates"][1]["achieved_per_s"] = 3e6  # above capacity, kept up
    doc = json.loads((latency_report / "results.json").read_text()) | {"latency": lat}
    md = render_markdown(doc, {}, image=str)
    rows = [line for line in md.splitlines() if line.startswith(("| 100K/s", "| 3M/s", "| 4M/s"))]
    assert [row.split(" |")[0] for row in rows] == ["| 100K/s", "| 3M/s ‡", "| 4M/s †"]
    assert "† fell behind (achieved below 95% of offered)" in md and "‡ above the capacity measured one order at a time" in md


@pytest.mark.parametrize("args, fragment", [
    (["--results", "r.json", "--latency"], "--results re-renders a saved report, so --latency has nothing to do"),
    (["--results", "r.json", "--latency-orders", "5000"], "--results re-renders a saved report, so --latency-orders has nothing to do"),
    (["--no-latency", "--latency-rates", "1000"], "--no-latency measures no latency, so --latency-rates has nothing to do"),
    (["--latency-rates", "fast"], "--latency-rates='fast': must be comma-separated orders per second"),
    (["--latency-rates", "1000,0"], "--latency-rates='1000,0': 0.0 is not an order rate from 1 to 10,000,000,000 per second"),
])
def test_latency_options_that_cannot_apply_are_one_line_errors(tmp_path, args, fragment):
    out = tmp_path / "report"
    result = _cli("report", *[str(tmp_path / a) if a == "r.json" else a for a in args], "--out", str(out))
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_no_latency_skips_the_run(latency_report, tmp_path, monkeypatch):
    """``--no-latency`` measures nothing: the harness is never built (and the report is not drawn, to keep this quick)."""
    from lxdex_capacity.latency import harness
    from lxdex_capacity.reporting import report

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("--no-latency ran the latency harness")

    monkeypatch.setattr(harness.LatencyRig, "__init__", refuse)
    monkeypatch.setattr(report, "write_report", lambda results, out_dir: {})
    simulate = write_json(tmp_path / "simulate.json", json.loads((latency_report / "results.json").read_text())["simulate"])
    result = _cli("report", "--simulate", str(simulate), "--no-latency", "--json", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.stderr
    assert "latency" not in json.loads(result.stdout)


def test_a_saved_run_gets_latency_when_asked_at_the_given_rates(latency_report, tmp_path, monkeypatch):
    """With ``--simulate`` latency is measured only when asked (a latency option asks), on the saved run's scenario."""
    from lxdex_capacity.reporting import report

    monkeypatch.setattr(report, "write_report", lambda results, out_dir: {})  # the text and charts are tested above
    simulate = write_json(tmp_path / "simulate.json", json.loads((latency_report / "results.json").read_text())["simulate"])
    result = _cli("report", "--simulate", str(simulate), "--latency-rates", "50_000,2e5", "--latency-orders", "1000", "--json",
                  "--out", str(tmp_path / "r"), "--repeats", "1")
    assert result.exit_code == 0, result.stderr
    lat = json.loads(result.stdout)["latency"]
    assert [row["offered_per_s"] for row in lat["rates"]] == [50_000.0, 200_000.0]
    assert (lat["markets"], lat["orders_per_rate"]) == (MARKETS, 1_000)


# --- hostile latency records --------------------------------------------------------------------------

HOSTILE_LATENCY = [
    (("rates", 0, "p99_ns"), INFINITY, "latency.rates[0].p99_ns=inf"),
    (("rates", 0, "p99_ns"), -1.0, "latency.rates[0].p99_ns=-1.0: input should be greater than or equal to 0"),
    (("service", "p50_ns"), "12", "latency.service.p50_ns='12': input should be a valid number"),
    (("service", "max_ns"), DELETE, "latency.service.max_ns is required"),
    (("service", "samples"), 0, "latency.service.samples=0: input should be greater than or equal to 1"),
    (("rates", 1, "samples"), 0, "latency.rates[1].samples=0"),
    (("rates", 1, "samples"), 10**9, "latency.rates[1].samples=1000000000: more than the orders_per_rate=1000 offered"),
    (("rates", 0, "offered_per_s"), 0.0, "latency.rates[0].offered_per_s=0.0: input should be greater than or equal to 1"),
    (("rates", 0, "achieved_per_s"), -5.0, "latency.rates[0].achieved_per_s=-5.0"),
    (("capacity_per_s",), 0.0, "latency.capacity_per_s=0.0: input should be greater than or equal to 1"),
    # the harness's ranges: what lxdex latency's options allow, and no absurd figure
    (("arrivals",), "<script>alert(1)</script>", "latency.arrivals='<script>alert(1)</script>': input should be 'poisson', 'bursty' or "
                                                 "'lobster'"),
    (("rates", 0, "offered_per_s"), 0.5, "latency.rates[0].offered_per_s=0.5: input should be greater than or equal to 1"),
    (("rates", 0, "offered_per_s"), 1e11, "latency.rates[0].offered_per_s=100000000000.0: input should be less than or equal to 10000000000"),
    (("capacity_per_s",), 1e-300, "latency.capacity_per_s=1e-300: input should be greater than or equal to 1"),
    (("rates", 0, "achieved_per_s"), 1e-300, "latency.rates[0].achieved_per_s=1e-300: must be 0 or at least 0.001 per second"),
    (("rates", 0, "achieved_per_s"), 1e13, "latency.rates[0].achieved_per_s=10000000000000.0: input should be less than or equal to"),
    (("cancels_per_order",), 11.0, "latency.cancels_per_order=11.0: input should be less than or equal to 10"),
    (("batch",), 1 << 21, "latency.batch=2097152: input should be less than or equal to 1048576"),
    (("orders_per_rate",), 999, "latency.orders_per_rate=999: input should be greater than or equal to 1000"),
    (("orders_per_rate",), 10**9, "latency.orders_per_rate=1000000000: input should be less than or equal to 100000000"),
    (("rates", 1, "cancels"), 10**6, "latency.rates[1].cancels=1000000: more than its samples=1000"),
    (("cancel_service",), {"p50_ns": 0.0, "p90_ns": 0.0, "p99_ns": 0.0, "p999_ns": 0.0, "p9999_ns": 0.0, "max_ns": 3.0, "samples": 0},
     "latency.cancel_service.max_ns=3.0: but samples=0 (no cancel was timed, so every figure is 0)"),
    (("rates",), [], "latency.rates=[]"),
    (("rates", 0, "stalls"), -1, "latency.rates[0].stalls=-1"),
    (("counter_ns",), INFINITY, "latency.counter_ns=inf"),
    (("reserve",), "yes", "latency.reserve='yes': input should be a valid boolean"),
    (("markets",), 301, "latency.markets=301: the latency run is on the report's scenario (300 markets)"),
    (("seed",), 7, "latency.seed=7: the latency run is on the report's scenario (seed 0)"),
    (("rates", 0, "a_new_figure"), INFINITY, "latency.rates[0].a_new_figure=inf: must be a finite number"),
    (("service",), "fast", "latency.service='fast': must be a table of keys"),
    (("platform", "lost_share"), 2.0, "latency.platform.lost_share=2.0: input should be less than or equal to 1"),
    (("platform", "floor", "p99_ns"), INFINITY, "latency.platform.floor.p99_ns=inf"),
    (("platform", "seconds"), 0, "latency.platform.seconds=0: input should be greater than 0"),
]


@pytest.mark.parametrize("path, value, fragment", [pytest.param(*case, id=case[2][:48]) for case in HOSTILE_LATENCY])
def test_a_results_file_with_a_broken_latency_record_is_refused_naming_the_key(latency_report, tmp_path, path, value, fragment):
    doc = mutated(json.loads((latency_report / "results.json").read_text()), ("latency", *path), value)
    _refused(doc, tmp_path, fragment)


@pytest.mark.parametrize("record", [("service",), ("rates", 2)])
def test_percentiles_that_decrease_are_refused_naming_the_first_one_below(latency_report, tmp_path, record):
    doc = json.loads((latency_report / "results.json").read_text())
    at: Any = doc["latency"]
    for key in record:
        at = at[key]
    at["p50_ns"] = at["max_ns"] * 2  # above every other percentile: p90 is the first below the one before it
    where = "latency." + ".".join(f"{k}" for k in record).replace(".2", "[2]")
    _refused(doc, tmp_path, f"{where}.p90_ns={at['p90_ns']!r}: below p50_ns={at['p50_ns']!r}; percentiles never decrease")


def _platform(**changes: Any) -> dict[str, Any]:
    """A platform record as measure_interruptions writes it: the floor's max is the longest interruption."""
    floor = {"p50_ns": 0.0, "p90_ns": 0.0, "p99_ns": 100.0, "p999_ns": 2_000.0, "p9999_ns": 6_000.0, "max_ns": 9_000.0}
    record: dict[str, Any] = {"seconds": 0.5, "per_s": 10.0, "lost_share": 0.001, "median_ns": 2_500.0, "max_ns": 9_000.0, "floor": floor}
    for key, value in changes.items():
        if key.startswith("floor_"):
            floor[key.removeprefix("floor_")] = value
        else:
            record[key] = value
    return record


@pytest.mark.parametrize("changes, fragment", [
    ({"floor_p99_ns": 1e4}, "latency.platform.floor.p99_ns=10000.0: above max_ns=9000.0"),
    ({"floor_p999_ns": 50.0}, "latency.platform.floor.p999_ns=50.0: below p99_ns=100.0; percentiles never decrease"),
    ({"median_ns": 1e5}, "latency.platform.median_ns=100000.0: above max_ns=9000.0"),
    ({"floor_max_ns": 8_000.0}, "latency.platform.floor.max_ns=8000.0: not max_ns=9000.0"),
    ({"max_ns": 1e12, "floor_max_ns": 1e12, "floor_p9999_ns": 1e12}, None),  # consistent, if slow: read
])
def test_a_platform_record_must_hold_together(latency_report, tmp_path, changes, fragment):
    from lxdex_capacity.reporting.results_schema import check_results

    doc = mutated(json.loads((latency_report / "results.json").read_text()), ("latency", "platform"), _platform(**changes))
    if fragment is None:
        check_results(doc, "results.json")
    else:
        _refused(doc, tmp_path, fragment)


def test_a_latency_run_that_would_not_fit_is_refused_before_the_simulation(tmp_path, monkeypatch):
    """``report --latency-orders N``: the latency run's books, arrays and reserved pools are sized before the
    simulation runs; one line with the estimate, exit 2, nothing written."""
    from lxdex_capacity import simulation

    monkeypatch.setattr(simulation, "simulate", lambda *a, **k: pytest.fail("simulated before the latency run was sized"))
    pretend_available(monkeypatch, 64 << 20)  # 64 MiB: 300 markets fit, 100M reserved messages per rate do not
    out = tmp_path / "report"
    result = _cli("report", "--markets", str(MARKETS), "--latency-orders", "100000000", "--out", str(out))
    assert_one_line_error(result, "the latency run (300 markets, --latency-orders 100,000,000 per rate, pools reserved) needs an estimated")
    assert "use fewer --latency-orders or markets, --no-latency, or --force" in result.stderr and not out.exists()


def test_a_latency_record_that_is_not_a_table_is_refused(latency_report, tmp_path):
    doc = json.loads((latency_report / "results.json").read_text())
    _refused(mutated(doc, ("latency",), [1, 2]), tmp_path, "latency=[1, 2]: must be a table of keys")


def _refused(doc: Any, tmp_path: Path, fragment: str) -> None:
    """``lxdex report --results FILE`` refuses ``doc``: exit 2, one line naming the file and ``fragment``, no folder written."""
    path = write_json(tmp_path / "results.json", doc)
    out = tmp_path / "report"
    result = _cli("report", "--results", str(path), "--out", str(out))
    assert_one_line_error(result, fragment)
    assert f"lxdex: error: {path}: " in result.stderr, result.stderr
    assert not out.exists()
