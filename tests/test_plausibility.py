"""Figures read back must be physically possible and hold together (:mod:`lxdex_capacity.physics`): a simulate.json,
a report's results.json, a model file and compare's inputs edited past what a machine does (5 billion orders/s on one
core, 0 ns a random access, a 1-byte process, 100,000 cores), or whose totals, rates, errors and fits no longer follow
from the figures they were computed from, are refused with one line naming the file and the key (exit 2); the files
lxdex itself writes, and those shipped with it, still load.

Each hostile document starts from a real one (a tiny run, the shipped reference model) and changes what one edit needs.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_one_line_error, run_cli
from helpers.results import saved_results, saved_simulation, write_json
from lxdex_capacity import physics
from lxdex_capacity.capacity.hardware import LIMITS, MIN_CACHE_LATENCY_NS
from lxdex_capacity.capacity.model import CapacityModel
from lxdex_capacity.errors import InputError
from lxdex_capacity.reporting.results_schema import check_results
from lxdex_capacity.simulation.results import SimulationResult

REPO = Path(__file__).resolve().parent.parent
Edit = Callable[[dict[str, Any]], None]


def _reference_model() -> dict[str, Any]:
    return json.loads(resources.files("lxdex_capacity.capacity").joinpath("data/reference_model.json").read_text(encoding="utf-8"))


# --- edits of a simulate.json (also made to a report's ``simulate`` section) ------------------------------------------

def _rate(doc: dict[str, Any], rate: float) -> None:
    """The flow's orders/s set to ``rate``, its seconds edited to match (so the rate still is orders / seconds)."""
    t = doc["throughput"]
    t["flow_seconds"] = t["flow_orders"] / rate
    t["orders_per_s"] = t["parallel_orders_per_s"] = t["flow_orders"] / t["flow_seconds"]


def _rss(doc: dict[str, Any], phase: int, rss: int) -> None:
    doc["phases"][phase]["rss_bytes"] = doc["phases"][phase]["uss_bytes"] = rss


def _double_resting(doc: dict[str, Any]) -> None:
    doc["phases"][2]["resting_orders"] *= 2


def _batches_faster(doc: dict[str, Any]) -> None:
    b = doc["throughput"]["batches"]
    for key in ("value", "low", "high"):
        b[key] *= 2_000
    b["samples"] = [v * 2_000 for v in b["samples"]]
    doc["figures"]["orders_per_s"] = b


def _tier_resting(doc: dict[str, Any]) -> None:
    doc["breakdown"]["tiers"][0]["resting_orders_mean"] *= 2


def _set(path: str, value: Any) -> Edit:
    """An edit setting the key at ``path`` (``a.b[2].c``) to ``value``."""
    import re

    keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]

    def edit(doc: dict[str, Any]) -> None:
        parent = doc
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = value

    return edit


SIMULATE_EDITS: list[tuple[str, Edit, str]] = [
    ("5e9 orders/s on one core", lambda d: _rate(d, 5e9), "throughput.orders_per_s=5000000000.0"),
    ("10^15 lookups/s", _set("throughput.lookups_per_s", 1e15), "throughput.lookups_per_s=1000000000000000.0"),
    ("0 ns random access", _set("throughput.random_access_ns_p50", 0.0), "throughput.random_access_ns_p50=0.0"),
    ("a 1-byte process", lambda d: _rss(d, 2, 1), "phases[2].rss_bytes=1"),
    ("RSS below the engine's rows", lambda d: _rss(d, 2, d["phases"][2]["engine_bytes_used"] - 1), "phases[2].rss_bytes="),
    ("a 1-byte baseline", _set("baseline", {"rss_bytes": 1, "uss_bytes": 1}), "baseline.rss_bytes=1"),
    ("1,000,000 trades for a 2,000-trade scenario", lambda d: d["phases"][2].update(trades=1_000_000, trades_retained=262_144),
     "phases[2].trades=1000000"),
    ("doubled resting orders", _double_resting, "breakdown.all.resting_orders_mean"),
    ("a tier that no longer adds up", _tier_resting, "breakdown.all.resting_orders_mean"),
    ("100,000 cores", _set("machine.cores", 100_000), "machine.cores=100000"),
    ("fewer logical CPUs than cores", _set("machine.logical_cpus", 1), "machine.logical_cpus=1"),
    ("an exabyte of memory", _set("machine.memory_bytes", 1 << 60), "machine.memory_bytes="),
    ("a figure that is not its batches", lambda d: d["figures"]["orders_per_s"].update(
        value=5e9, low=5e9, high=5e9, samples=[5e9] * len(d["figures"]["orders_per_s"]["samples"])), "figures.orders_per_s"),
    ("a figure no run times", _set("figures.lookups_per_s", {}), "figures.lookups_per_s"),
    ("a 1,000 THz clock", lambda d: [f["machine"].update(frequency_mhz=1e12) for f in (d["figures"]["orders_per_s"],
                                                                                     d["throughput"]["batches"])],
     "figures.orders_per_s.machine.frequency_mhz=1000000000000.0"),
    ("lookups slower than the whole run", _set("throughput.lookups_per_s", 1e-300), "throughput.lookups_per_s=1e-300"),
    ("more resident than the machine has", lambda d: _rss(d, 2, 10**15), "phases[2].rss_bytes=1000000000000000"),
    ("orders that cost nothing", lambda d: (d["phases"][1].update(book_bytes_per_order=0.0), d.update(per_order_bytes=0.0)),
     "phases[1].book_bytes_per_order=0.0"),
    ("orders timed in no time", lambda d: d["throughput"].update(flow_seconds=0.0, orders_per_s=0.0, parallel_orders_per_s=0.0),
     "throughput.flow_seconds=0.0"),
    ("a flow longer than its phase", lambda d: _rate(d, d["throughput"]["flow_orders"] / 3600.0), "throughput.flow_seconds="),
    ("a run shorter than its phases", _set("elapsed_s", 1e-3), "elapsed_s=0.001"),
    ("a parallel rate that is no sum", _set("throughput.parallel_orders_per_s", 4e6), "throughput.parallel_orders_per_s=4000000.0"),
    ("batches at 4 billion orders/s", _batches_faster, "throughput.batches.high="),
]


@pytest.fixture(scope="module")
def simulation() -> dict[str, Any]:
    return saved_simulation()


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return saved_results()


def _edited(doc: dict[str, Any], edit: Edit) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    edit(out)
    return out


def _refused_by(args: list[str], tmp_path: Path, doc: Any, fragment: str, name: str = "in.json") -> None:
    """``lxdex ARGS FILE`` refuses ``doc``: exit 2, one line naming the file and ``fragment``."""
    path = write_json(tmp_path / name, doc)
    result = run_cli(*[str(path) if a == "FILE" else a for a in args])
    assert_one_line_error(result, fragment)
    assert f"lxdex: error: {path}: " in result.stderr, result.stderr


@pytest.mark.parametrize("edit, fragment", [pytest.param(e, f, id=name) for name, e, f in SIMULATE_EDITS])
def test_a_simulate_file_past_physics_or_out_of_step_is_refused(simulation, tmp_path, edit, fragment):
    _refused_by(["report", "--simulate", "FILE", "--out", str(tmp_path / "r")], tmp_path, _edited(simulation, edit), fragment)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("edit, fragment", [pytest.param(e, f, id=name) for name, e, f in SIMULATE_EDITS])
def test_a_report_whose_simulation_is_past_physics_is_refused(results, edit, fragment):
    doc = copy.deepcopy(results)
    edit(doc["simulate"])
    # The report's simulation holds its own machine record: keys there are named under "simulate." too.
    fragment = "simulate." + fragment
    with pytest.raises(InputError) as caught:
        check_results(doc, "r.json")
    assert str(caught.value).startswith("r.json: ") and fragment in str(caught.value)


def test_a_sharded_simulation_must_add_up():
    doc = saved_simulation(shards=2)
    SimulationResult.from_dict(doc, "s.json")  # as written
    for edit, fragment in ((_set("shards[0].orders_per_s", 5e9), "shards[0].orders_per_s=5000000000.0"),
                           (lambda d: d["shards"][0].update(flow_orders=d["shards"][0]["flow_orders"] + 1), "shards[0].orders_per_s"),
                           (_set("shards[1].rss_bytes", 1), "shards[1].rss_bytes=1")):
        with pytest.raises(InputError, match=r"^s\.json: .*" + fragment.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
            SimulationResult.from_dict(_edited(doc, edit), "s.json")


# --- a report's results.json beyond its simulation ----------------------------------------------------------------------

RESULTS_EDITS: list[tuple[str, Edit, str]] = [
    ("validation error_pct that is no error", _set("model.validation[0].error_pct", 50.0), "model.validation[0].error_pct=50.0"),
    ("100,000 cores where the report ran", _set("environment.cores", 100_000), "environment.cores=100000"),
    ("a model measuring 5e9 orders/s", _set("model.throughput_per_core[0].orders_per_s", 5e9), "model.throughput_per_core[0].orders_per_s"),
    ("a 1-byte runtime", _set("model.runtime_bytes", 1.0), "model.runtime_bytes=1.0"),
]


@pytest.mark.parametrize("edit, fragment", [pytest.param(e, f, id=name) for name, e, f in RESULTS_EDITS])
def test_a_results_file_past_physics_is_refused(results, tmp_path, edit, fragment):
    _refused_by(["report", "--results", "FILE", "--out", str(tmp_path / "r")], tmp_path, _edited(results, edit), fragment)
    assert not (tmp_path / "r").exists()


# --- model files (plan --model, and every command reading one) -----------------------------------------------------------

def _scale_coefficient(term: str, factor: float) -> Edit:
    """A coefficient scaled, its interval moved along (so the interval still holds it)."""
    def edit(doc: dict[str, Any]) -> None:
        c = doc["fit"]["coefficients"][term]
        c["ci95"] = [c["ci95"][0] - c["value"] + c["value"] * factor, c["ci95"][1] - c["value"] + c["value"] * factor]
        c["value"] *= factor
    return edit


def _widen(term: str) -> Edit:
    """A coefficient's interval twice as wide as its variance gives."""
    def edit(doc: dict[str, Any]) -> None:
        c = doc["fit"]["coefficients"][term]
        c["ci95"] = [2 * c["ci95"][0] - c["value"], 2 * c["ci95"][1] - c["value"]]
    return edit


def _point_off(doc: dict[str, Any]) -> None:
    doc["points"][3]["engine_bytes_used"] *= 1000
    doc["points"][3]["engine_bytes_reserved"] *= 1000
    doc["points"][3]["rss_bytes"] *= 1000
    doc["fit"]["r2"] = 1.0


def _not_positive_semi_definite(doc: dict[str, Any]) -> None:
    cov = doc["fit"]["covariance"]
    cov[1][2] = cov[2][1] = 3 * math.sqrt(cov[1][1] * cov[2][2])


def _zero_covariance(doc: dict[str, Any]) -> None:
    doc["fit"]["covariance"] = [[0.0] * 4 for _ in range(4)]
    for c in doc["fit"]["coefficients"].values():
        c["ci95"] = [c["value"], c["value"]]


def _no_points(edit: Edit) -> Edit:
    """``edit`` on a model that keeps no points (as older ones): the fit is then checked against itself."""
    def both(doc: dict[str, Any]) -> None:
        doc["points"], doc["validation"] = [], []
        edit(doc)
    return both


def _scaling_faster(doc: dict[str, Any]) -> None:
    for row in doc["scaling"]["measured"]:
        for key in ("orders_per_s", "low", "high"):
            row[key] *= 1_000


MODEL_EDITS: list[tuple[str, Edit, str]] = [
    ("coefficients contradicting the points", _scale_coefficient("markets", 2.0), "fit.coefficients.markets.value="),
    ("a point 1000x off with r2 = 1", _point_off, "fit.coefficients."),
    ("an R² the points do not give", _set("fit.r2", 0.9999), "fit.r2=0.9999"),
    ("a scatter the points do not give", _set("fit.residual_std_bytes", 1.0), "fit.residual_std_bytes=1.0"),
    ("10^12 orders/s per core", _set("throughput_per_core[0].orders_per_s", 1e12), "throughput_per_core[0].orders_per_s="),
    ("a point at 10^12 orders/s", _set("points[0].orders_per_s", 1e12), "points[0].orders_per_s="),
    ("a 1-byte runtime", _set("runtime_bytes", 1.0), "runtime_bytes=1.0"),
    ("a covariance that is not positive semi-definite", _not_positive_semi_definite, "fit.covariance"),
    ("a zero covariance from scattered points", _zero_covariance, "fit.covariance[0][0]=0.0"),
    ("orders that cost nothing", _scale_coefficient("resting_orders", 0.0), "fit.coefficients.resting_orders.value=0.0"),
    ("a validation error that is no error", _set("validation[0].error_pct", 0.0), "validation[0].error_pct=0.0"),
    ("a validation measured elsewhere", lambda d: d["validation"][0].update(measured_bytes=d["validation"][0]["predicted_bytes"], error_pct=0.0),
     "validation[0].measured_bytes="),
    ("a 1-byte sweep point", _set("points[0].rss_bytes", 1), "points[0].rss_bytes=1"),
    ("a point measured in no time", _set("points[0].elapsed_s", 0.0), "points[0].elapsed_s=0.0"),
    ("a point's million trades in a nanosecond", _set("points[0].elapsed_s", 1e-9), "points[0].elapsed_s=1e-09"),
    ("a point of 10^12 trades in its seconds", _set("points[0].trades", 10**12), "points[0].elapsed_s="),
    ("reserved ratios the points do not give", _set("reserved_ratio.median", 1.01), "reserved_ratio.median=1.01"),
    ("a largest size never measured", _set("largest_markets", 20_000_000), "largest_markets=20000000"),
    ("a per-core rate no point measured", lambda d: d["throughput_per_core"][0].update(orders_per_s=9e6), "throughput_per_core[0].orders_per_s=9000000.0"),
    ("threads at 5 billion orders/s", _scaling_faster, "scaling.measured[0].orders_per_s="),
    ("a working set matched in 10 ps an order", lambda d: d["core_rate"]["points"][0].update(ns_per_order=0.01, low=0.01),
     "core_rate.points[0].ns_per_order=0.01"),
    ("a cache answering in 10 ps", _set("core_rate.hierarchy.levels[0].latency_ns", 0.01), "core_rate.hierarchy.levels[0].latency_ns=0.01"),
    ("a rate model's R² the points do not give", _set("core_rate.fit.r2", 1.0), "core_rate.fit.r2=1.0"),
    ("without points: a zero covariance", _no_points(_zero_covariance), "fit.covariance[0][0]=0.0"),
    ("without points: an interval its variance does not give", _no_points(_widen("markets")),
     "fit.coefficients.markets.ci95="),
    ("without points: orders that cost nothing", _no_points(_scale_coefficient("resting_orders", 0.0)),
     "fit.coefficients.resting_orders.value=0.0"),
]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return _reference_model()


@pytest.mark.parametrize("edit, fragment", [pytest.param(e, f, id=name) for name, e, f in MODEL_EDITS])
def test_a_model_file_past_physics_or_contradicting_its_points_is_refused(reference, tmp_path, edit, fragment):
    _refused_by(["plan", "--model", "FILE", "--markets", "1000"], tmp_path, _edited(reference, edit), fragment, "m.json")


# --- what lxdex writes, and ships, still loads -------------------------------------------------------------------------

def test_the_files_lxdex_writes_and_ships_still_load(simulation, results, reference, tmp_path):
    SimulationResult.from_dict(simulation, "simulate.json")
    check_results(results, "results.json")
    CapacityModel.from_dict(reference, "reference_model.json")
    CapacityModel.from_dict(_edited(reference, _no_points(lambda d: None)), "reference_model.json")
    for path in (REPO / "reports").rglob("results.json"):
        check_results(json.loads(path.read_text(encoding="utf-8")), str(path))
    path = write_json(tmp_path / "m.json", reference)
    planned = run_cli("plan", "--model", str(path), "--markets", "1000", "--json")
    assert planned.exit_code == 0, planned.stderr


def test_compare_refuses_a_simulation_past_physics_and_reads_a_real_one(simulation, tmp_path):
    base = write_json(tmp_path / "base.json", simulation)
    assert run_cli("compare", str(base), str(base)).exit_code == 0
    _refused_by(["compare", str(base), "FILE"], tmp_path, _edited(simulation, lambda d: _rate(d, 5e9)),
                "throughput.orders_per_s=5000000000.0", "new.json")


def _bench(rate: float, threads: int) -> dict[str, Any]:
    """A bench result (``lxdex bench --json``'s kind and figures) whose seeded flow matched ``rate`` orders/s on ``threads``."""
    from lxdex_capacity.measure.figure import summarise

    figure = summarise("seeded_flow.orders_per_s", "orders/s", [rate] * 3).as_dict()
    return {"kind": "bench", "config": {"threads": threads}, "figures": {"seeded_flow.orders_per_s": figure}}


def test_compare_holds_a_bench_to_the_cores_it_ran_on(tmp_path):
    base = write_json(tmp_path / "base.json", _bench(2e6, 1))
    assert run_cli("compare", str(base), str(write_json(tmp_path / "fast.json", _bench(1.5e9, 2)))).exit_code == 0
    _refused_by(["compare", str(base), "FILE"], tmp_path, _bench(1.5e9, 1), 'figures["seeded_flow.orders_per_s"].samples=1500000000.0',
                "new.json")


def test_compare_checks_a_latency_run_whole(tmp_path):
    """The latency record of the shipped report, as ``lxdex latency --json`` prints it: read as written, refused edited."""
    doc = json.loads((REPO / "reports" / "21000-markets" / "results.json").read_text(encoding="utf-8"))["latency"]
    doc = doc | {"kind": "latency", "figures": {}}
    base = write_json(tmp_path / "base.json", doc)
    assert "no figure" in run_cli("compare", str(base), str(base)).stderr  # read whole, then refused for what it lacks
    _refused_by(["compare", str(base), "FILE"], tmp_path, doc | {"capacity_per_s": 5e9}, "capacity_per_s=5000000000.0", "new.json")


# --- the limits themselves ----------------------------------------------------------------------------------------------

def test_the_limits_are_the_hardware_files_and_follow_from_the_clock():
    hardware = (LIMITS["clock_ghz"][1], LIMITS["p_cores"][1] + LIMITS["e_cores"][1], LIMITS["memory_gib"][1] * 2**30, MIN_CACHE_LATENCY_NS)
    assert hardware == (physics.MAX_CLOCK_GHZ, physics.MAX_CORES, physics.MAX_MEMORY_BYTES, physics.MIN_ACCESS_NS)
    assert math.isclose(physics.MAX_ORDERS_PER_S_PER_CORE, physics.MAX_CLOCK_GHZ * 1e9 / physics.MIN_CYCLES_PER_ORDER)
    # What this engine measures is far inside them: the shipped model's fastest size, and its fastest working set.
    model = _reference_model()
    assert max(t["orders_per_s"] for t in model["throughput_per_core"]) < physics.MAX_ORDERS_PER_S_PER_CORE / 50
    assert min(p["ns_per_order"] for p in model["core_rate"]["points"]) > 20 * physics.MIN_NS_PER_ORDER


@pytest.mark.parametrize("check, args, bad", [
    (physics.orders_per_s_problem, ("k", 1.5e9), True), (physics.orders_per_s_problem, ("k", 1.5e9, 2), False),
    (physics.ns_per_order_problem, ("k", 0.9), True), (physics.ns_per_order_problem, ("k", 0.9, 2), False),
    (physics.access_ns_problem, ("k", 0.05), True), (physics.access_ns_problem, ("k", 0.1), False),
    (physics.rss_problem, ("k", 1 << 20, 0), True), (physics.rss_problem, ("k", 8 << 20, 9 << 20), True),
    (physics.rss_problem, ("k", 8 << 20, 7 << 20), False),
    (physics.error_pct_problem, ("k", 1.0, 101.0, 100.0), False), (physics.error_pct_problem, ("k", -1.0, 101.0, 100.0), True),
])
def test_each_limit_names_the_key_and_the_value(check, args, bad):
    problem = check(*args)
    assert (problem is not None) == bad
    if bad:
        assert problem.startswith(f"k={args[1]!r}: ")
