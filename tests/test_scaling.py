"""The order rate's scaling with cores: the USL fit, the model's scaling section, plan's use of it,
the sweep's measurement and plan --check's (fake runs here: the real ones are in test_capacity_cli)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.capacity.check import check_plan
from lxdex_capacity.capacity.estimator import Estimator, Load
from lxdex_capacity.capacity.hardware import builtin_profiles, find_profile
from lxdex_capacity.capacity.model import (
    MAX_SCALING_THREADS,
    NO_SCALING,
    CapacityModel,
    Scaling,
    fit_usl,
    load_model,
    usl_speedup,
)
from lxdex_capacity.capacity.plan import PlanRequest, plan
from lxdex_capacity.capacity.sweep import measure_scaling, scaling_runs
from lxdex_capacity.errors import InputError, LxdexError
from lxdex_capacity.scenarios.config import Scenario

REFERENCE = load_model()


def _without_scaling() -> dict:
    """The reference model without its scaling curve, nor its per-core rate model (which plans a profile with a memory
    hierarchy on its own shared caches, not on the curve): every profile's rate extrapolated, times the curve."""
    data = REFERENCE.as_dict()
    data.pop("scaling", None)
    data.pop("core_rate", None)
    return data


def _with_scaling(sigma: float, kappa: float = 0.0, up_to: int = 2, markets: int = 21_000) -> CapacityModel:
    """The reference model with a scaling curve that follows the USL exactly (one run per thread count)."""
    rates = {k: [4e6 * usl_speedup(k, sigma, kappa)] for k in range(1, up_to + 1)}
    return CapacityModel.from_dict(_without_scaling() | {"scaling": Scaling.from_rates(markets, rates).as_dict()}, "m.json")


# --- the Universal Scalability Law ---------------------------------------------------------------


def test_usl_fit_recovers_known_sigma_and_kappa():
    threads = [1, 2, 4, 8, 16, 32]
    sigma, kappa = fit_usl(threads, [usl_speedup(n, 0.05, 0.002) for n in threads])
    assert sigma == pytest.approx(0.05, abs=1e-9) and kappa == pytest.approx(0.002, abs=1e-9)
    sigma, kappa = fit_usl(threads, [usl_speedup(n, 0.2, 0.0) for n in threads])
    assert sigma == pytest.approx(0.2, abs=1e-9) and kappa == pytest.approx(0.0, abs=1e-9)
    # Amdahl-free but coherency-bound: sigma 0, kappa recovered
    sigma, kappa = fit_usl(threads, [usl_speedup(n, 0.0, 0.01) for n in threads])
    assert sigma == pytest.approx(0.0, abs=1e-9) and kappa == pytest.approx(0.01, abs=1e-9)


def test_usl_fit_with_two_thread_counts_solves_sigma_exactly_and_clamps():
    sigma, kappa = fit_usl([1, 2], [1.0, 1.42])
    assert kappa == 0 and usl_speedup(2, sigma, kappa) == pytest.approx(1.42)
    assert fit_usl([1, 2], [1.0, 2.3]) == (0.0, 0.0)  # superlinear: linear, never a negative coefficient
    assert fit_usl([1, 2], [1.0, 0.1]) == (1.0, 0.0)  # slower with two: sigma at its bound, a flat curve
    assert fit_usl([1], [1.0]) == (0.0, 0.0)
    for bad in (math.nan, math.inf, 0.0, -1.0):
        with pytest.raises(InputError, match="finite number above 0"):
            fit_usl([1, 2], [1.0, bad])


def test_speedup_is_measured_within_the_threads_measured_and_the_fit_beyond():
    rates = {1: [4e6, 3.8e6, 4.2e6], 2: [6e6, 5.6e6, 6.1e6], 4: [9e6, 8e6, 9.5e6]}
    s = Scaling.from_rates(21_000, rates)
    assert [p.speedup for p in s.measured] == pytest.approx([1.0, 1.5, 2.25])
    assert [(p.low, p.high, p.runs) for p in s.measured][1] == (5.6e6, 6.1e6, 3)
    assert s.measured[2].efficiency == pytest.approx(2.25 / 4)
    assert s.speedup(1) == 1.0 and s.speedup(2) == pytest.approx(1.5)
    assert s.speedup(3) == pytest.approx((1.5 + 2.25) / 2)  # linear between the measured counts
    # beyond the measured counts: the last measured speedup carried along the fit (no jump where the fit takes over)
    assert s.speedup(8) == pytest.approx(2.25 * usl_speedup(8, s.sigma, s.kappa) / usl_speedup(4, s.sigma, s.kappa))
    assert s.speedup(4.000001) == pytest.approx(2.25)
    assert all(math.isfinite(s.speedup(n)) and s.speedup(n) > 0 for n in (1, 5, 64, 10**6))
    with pytest.raises(InputError, match="runs with 1 thread"):
        Scaling.from_rates(21_000, {2: [1e6]})


# --- the model file ------------------------------------------------------------------------------


def test_model_round_trips_with_and_without_scaling():
    plain = CapacityModel.from_dict(_without_scaling(), "m.json")
    assert plain.scaling is None and "scaling" not in plain.as_dict()
    assert plain.speedup(4) == 4 and plain.scaling_source(4) == "linear" and plain.scaling_basis(4) == NO_SCALING
    assert CapacityModel.from_dict(json.loads(plain.to_json()), "m.json") == plain
    curved = _with_scaling(0.3, up_to=2)
    again = CapacityModel.from_dict(json.loads(curved.to_json()), "m.json")
    assert again == curved and again.scaling is not None and again.scaling.markets == 21_000
    assert again.speedup(2) == pytest.approx(usl_speedup(2, 0.3, 0))
    assert again.scaling_source(2) == "measured" and again.scaling_source(3) == "USL fit"


def test_the_reference_model_carries_a_measured_scaling_curve():
    s = REFERENCE.scaling
    assert s is not None and s.measured[0].threads == 1 and len(s.measured) >= 2 and s.measured[0].runs >= 3
    assert "scaling_command" in REFERENCE.provenance and "bench/scaling_bench.py" in REFERENCE.provenance["scaling_command"]


def test_max_scaling_threads_is_the_engines():
    from lxdex_capacity.engine.partitioned import MAX_THREADS

    assert MAX_SCALING_THREADS == MAX_THREADS


def _scaling_section() -> dict:
    return _with_scaling(0.3, up_to=3).as_dict()["scaling"]


def _set(path: str, value: object):
    def change(section: dict) -> None:
        *parents, last = path.split(".")
        target: object = section
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]  # type: ignore[index]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value  # type: ignore[index]
    return change


def _drop_first(section: dict) -> None:
    section["measured"] = section["measured"][1:]


def _other_speedup(section: dict) -> None:  # consistent with its efficiency, not with the rates
    section["measured"][1] |= {"speedup": 1.01, "efficiency": 1.01 / 2}


def _duplicate(section: dict) -> None:
    section["measured"][2] = copy.deepcopy(section["measured"][1])


def _superlinear(section: dict) -> None:  # 1,000x with 2 threads, every figure consistent with it
    one = section["measured"][0]["orders_per_s"]
    section["measured"][1] |= {"orders_per_s": 1000 * one, "low": 1000 * one, "high": 1000 * one, "speedup": 1000.0, "efficiency": 500.0}


HOSTILE = [
    (_set("measured.1.orders_per_s", math.nan), "scaling.measured[1].orders_per_s="),
    (_set("measured.1.speedup", math.inf), "scaling.measured[1].speedup="),
    (_set("measured.1.low", -5.0), "scaling.measured[1].low=-5.0"),
    (_set("measured.1.speedup", 0.0), "scaling.measured[1].speedup=0.0"),
    (_other_speedup, "scaling.measured[1].speedup=1.01: must be orders_per_s / measured[0].orders_per_s"),
    (_set("measured.1.efficiency", 0.9), "scaling.measured[1].efficiency=0.9: must be speedup / threads"),
    (_set("measured.1.threads", "2"), "scaling.measured[1].threads="),
    (_set("measured.1.threads", 2.0), "scaling.measured[1].threads="),
    (_set("measured.1.high", 1.0), "scaling.measured[1].orders_per_s="),
    (_set("measured.0.threads", 0), "scaling.measured[0].threads=0"),
    (_drop_first, "scaling.measured[0].threads=2: the curve must start at 1 thread"),
    (_duplicate, "scaling.measured[2].threads=2: must be above measured[1].threads=2"),
    (_set("measured", []), "scaling.measured"),
    (_set("measured", {"threads": 1}), "scaling.measured"),
    (_set("fit.sigma", -0.1), "scaling.fit.sigma=-0.1"),
    (_set("fit.kappa", math.nan), "scaling.fit.kappa="),
    (_set("fit.sigma", 2.0), "scaling.fit.sigma=2.0"),
    (_set("fit.law", "Amdahl"), "scaling.fit.law="),
    (_set("markets", 0), "scaling.markets=0"),
    (_set("same_trades", False), "scaling.same_trades=False"),
    (_set("surprise", 1), "unknown key 'surprise' in scaling"),
    (_set("fit.sigma", 0.0), "scaling.fit.sigma=0.0: not the law fitted to the measured speedups (sigma=0.3"),
    (_set("fit.kappa", 0.5), "scaling.fit.kappa=0.5: not the law fitted"),
    (_superlinear, "scaling.measured[1]."),
]


@pytest.mark.parametrize("change, fragment", HOSTILE)
def test_a_hostile_scaling_section_is_one_line_naming_the_key(change, fragment):
    section = _scaling_section()
    change(section)
    with pytest.raises(InputError) as caught:
        CapacityModel.from_dict(_without_scaling() | {"scaling": section}, "m.json")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("m.json: ") and fragment in message, message


def test_plan_refuses_a_hostile_scaling_section_in_one_line(tmp_path):
    section = _scaling_section()
    section["measured"][1]["speedup"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_without_scaling() | {"scaling": section}))
    assert_one_line_error(run_cli("plan", "--model", str(bad)), f"{bad}: scaling.measured[1].speedup=0")


# --- plan ----------------------------------------------------------------------------------------

BIG = find_profile("AWS r7i.48xlarge", builtin_profiles())  # many cores: the curve is extrapolated there


def _profile_row(model: CapacityModel, order_rate: float = 1e9) -> dict:
    request = PlanRequest(markets=21_000, order_rate=order_rate)
    return plan(model, [BIG], request)["profiles"][0]


def test_a_sublinear_curve_plans_less_order_capacity_than_linear_and_says_where_it_came_from():
    linear = _profile_row(CapacityModel.from_dict(_without_scaling(), "m.json"))
    curved_model = _with_scaling(0.3, up_to=2)
    curved = _profile_row(curved_model)
    cores = min(curved["engines_per_machine"], BIG.p_cores)
    assert curved["cores"] == cores == linear["cores"] and cores > 2
    assert linear["speedup"] == cores and linear["scaling_source"] == "linear" and linear["scaling_basis"] == NO_SCALING
    assert linear["order_capacity_per_s"] == pytest.approx(cores * linear["orders_per_s_per_core"])
    assert curved["speedup"] == pytest.approx(usl_speedup(cores, 0.3, 0.0)) and curved["speedup"] < cores
    assert curved["order_capacity_per_s"] == pytest.approx(curved["speedup"] * curved["orders_per_s_per_core"])
    assert curved["order_capacity_per_s"] < linear["order_capacity_per_s"]
    assert curved["scaling_source"] == "USL fit"
    assert curved["scaling_basis"].startswith("extrapolated beyond 2 threads along the USL fit (sigma=0.3, kappa=0)")
    assert curved["scaling_basis"].endswith(f"({curved['speedup']:.2f}× at {cores})")
    one_core = find_profile("Mac mini M4 16 GB", builtin_profiles())
    small = plan(curved_model, [one_core], PlanRequest(markets=21_000, order_rate=1e3))["profiles"][0]
    assert small["cores"] == 1 and small["speedup"] == 1 and small["scaling_source"] == "measured"
    assert small["scaling_basis"].startswith("measured with 1–2 threads on ") and "at 21,000 markets (1.00× at 1)" in small["scaling_basis"]


def test_a_machine_never_plans_less_than_fewer_of_its_cores_give():
    """A curve that peaks (USL with kappa > 0) or a second thread slower than one: the speedup of N cores is the
    curve's at N (no better), and plan runs the engine count with the most capacity when none meets the rate,
    so a big machine never plans below what a few of its cores give, nor more engines than markets."""
    peaked = Scaling.from_rates(21_000, {1: [5e6], 2: [8e6], 3: [9.5e6], 4: [1e7]})
    assert peaked.kappa > 0 and peaked.speedup(4) == pytest.approx(2.0) and peaked.speedup(192) < 1.0
    slower = Scaling.from_rates(21_000, {1: [5e6], 2: [4e6]})
    assert slower.speedup(2) == pytest.approx(0.8)
    profiles = [find_profile(name, builtin_profiles()) for name in ("Mac mini M4 16 GB", "AWS r7i.48xlarge")]
    for curve in (peaked, slower):
        model = dataclasses.replace(CapacityModel.from_dict(_without_scaling(), "m.json"), scaling=curve)
        rows = plan(model, profiles, PlanRequest(markets=21_000, order_rate=1e8))["profiles"]
        assert all(r["speedup"] >= 1 and r["order_capacity_per_s"] >= r["orders_per_s_per_core"] for r in rows)
        assert rows[1]["order_capacity_per_s"] >= rows[0]["order_capacity_per_s"]
        assert rows[1]["speedup"] == pytest.approx(curve.speedup(rows[1]["cores"]))  # the figure quoted is the curve's
    few = plan(CapacityModel.from_dict(_without_scaling(), "m.json"), profiles[1:], PlanRequest(markets=50, order_rate=5e7))
    assert few["profiles"][0]["engines_per_machine"] <= 50  # an engine holds at least one market


def test_the_engines_needed_for_a_rate_follow_the_curve():
    # 1.5 one-core rates: two engines at cores x one core; at 1.42x for 2 (sigma from it), three
    model = _with_scaling(2 / 1.42 - 1, up_to=2)
    request = PlanRequest(markets=21_000, order_rate=1.5 * model.orders_per_s_per_core(21_000 / 2))
    linear = plan(CapacityModel.from_dict(_without_scaling(), "m.json"), [BIG], request)["profiles"][0]
    curved = plan(model, [BIG], request)["profiles"][0]
    assert linear["engines_per_machine"] == 2 and linear["fits"]
    assert curved["engines_per_machine"] == 3 and curved["fits"] and curved["scaling_source"] == "USL fit"


def test_plan_json_and_text_carry_the_scaling_basis(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(_with_scaling(0.3, up_to=2).to_json())
    result = run_cli("plan", "--model", str(path), "--profile", "AWS r7i.48xlarge", "--order-rate", "1e9", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"]["scaling"]["fit"]["law"] == "USL" and report["profiles"][0]["scaling_source"] == "USL fit"
    text = run_cli("plan", "--model", str(path), "--profile", "AWS r7i.48xlarge", "--order-rate", "1e9").stdout
    assert "order capacity = the rate per core x the speedup of the engines' cores" in text
    assert "extrapolated beyond 2 threads along the USL fit" in " ".join(text.split())
    path.write_text(CapacityModel.from_dict(_without_scaling(), "m.json").to_json())
    text = run_cli("plan", "--model", str(path), "--profile", "AWS r7i.48xlarge").stdout
    assert NO_SCALING in " ".join(text.split())


# --- the sweep's measurement (fake runs) ----------------------------------------------------------


def _fake_run(rates: dict[int, float], other_trades_at: int | None = None):
    calls: list[tuple[int, int]] = []

    def run(scenario: Scenario, threads: int) -> dict:
        calls.append((scenario.seed, threads))
        differ = threads == other_trades_at
        return {"orders_per_s": rates[threads] * (1 + 0.01 * scenario.seed), "trades": 1000 + differ,
                "market_checksum": f"m{scenario.seed}", "tape_checksum": f"t{scenario.seed}"}

    return run, calls


def test_scaling_runs_interleave_the_thread_counts_per_seed():
    runs = scaling_runs(Scenario(seed=7), 500, 3, 2)
    assert [(s.seed, k) for s, k in runs] == [(7, 1), (7, 2), (7, 3), (8, 1), (8, 2), (8, 3)]
    assert {s.markets for s, _ in runs} == {500}


def test_measure_scaling_records_medians_spreads_and_speedups():
    run, calls = _fake_run({1: 4e6, 2: 6e6})
    labels: list[str] = []
    s = measure_scaling(Scenario(), 500, 2, 3, run=run, advance=labels.append)
    assert calls == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)] and len(labels) == 6
    one, two = s.measured
    assert (one.threads, two.threads, two.runs) == (1, 2, 3)
    assert one.orders_per_s == pytest.approx(4e6 * 1.01) and (one.low, one.high) == pytest.approx((4e6, 4e6 * 1.02))
    assert two.speedup == pytest.approx(1.5) and two.efficiency == pytest.approx(0.75)
    assert s.kappa == 0 and usl_speedup(2, s.sigma, s.kappa) == pytest.approx(1.5)
    CapacityModel.from_dict(_without_scaling() | {"scaling": s.as_dict()}, "m.json")


def test_measure_scaling_fails_when_a_thread_count_makes_other_trades():
    run, _ = _fake_run({1: 4e6, 2: 6e6}, other_trades_at=2)
    with pytest.raises(LxdexError, match="2 threads made other trades than 1") as caught:
        measure_scaling(Scenario(), 500, 2, 1, run=run)
    assert not isinstance(caught.value, InputError) and caught.value.exit_code == 1


def test_sweep_refuses_more_threads_than_cores_or_markets(tmp_path):
    from lxdex_capacity.machine import usable_cores

    out = str(tmp_path / "m.json")
    assert_one_line_error(run_cli("sweep", "--threads-up-to", str(usable_cores() + 1), "--out", out),
                          f"--threads-up-to={usable_cores() + 1}: this process may run on")
    assert_one_line_error(run_cli("sweep", "--threads-up-to", "1", "--scaling-markets", "1000", "--out", out),
                          "--scaling-markets=1,000: no scaling is measured with one thread")
    assert_one_line_error(run_cli("sweep", "--scaling-markets", "1000000000", "--out", out), "--scaling-markets")
    if usable_cores() >= 2:
        assert_one_line_error(run_cli("sweep", "--markets", "300,600,1200", "--trades", "3000", "--trades-retained", "1024",
                                      "--threads-up-to", "2", "--scaling-markets", "1", "--out", out),
                              "--threads-up-to=2: more threads than the 1 market(s)")


def test_the_memory_guards_count_a_tape_and_a_ring_per_partition():
    from lxdex_capacity.latency.harness import latency_memory
    from lxdex_capacity.simulation import estimate_memory

    scenario = Scenario(markets=100, trades_retained=1 << 24)
    one, four = estimate_memory(scenario), estimate_memory(scenario, threads=4)
    assert four - one >= 3 * (1 << 24) * 24 + 4 * (1 << 24) * 8  # three more tapes (>= 24 B a trade) and the rings
    assert latency_memory(scenario, 1_000, False, threads=4) - latency_memory(scenario, 1_000, False) == four - one


def test_a_failed_partition_still_takes_its_batchs_arrival_numbers(monkeypatch):
    from lxdex_capacity.engine import Engine

    engine = Engine(4, threads=2)
    part = engine.partitions[1]
    monkeypatch.setattr(part, "submit", lambda *a: (_ for _ in ()).throw(MemoryError("pool")))
    with pytest.raises(MemoryError):
        engine.submit([0, 1, 2, 3], [0, 0, 1, 1], [100, 100, 100, 100], [1, 1, 1, 1])
    assert engine._arrivals == 4  # the next batch's trades are numbered after this one's


# --- plan --check ----------------------------------------------------------------------------------


def _measured(scenario: Scenario, estimator: Estimator, orders_per_s: float = 3e6, trades: int = 500) -> dict:
    e = estimator.estimate(Load(scenario.markets, Load.of_scenario(scenario).resting_orders, scenario.trades_retained))
    return {"engine_bytes_used": int(e.engine_bytes_used.bytes), "engine_bytes_reserved": int(e.engine_bytes_reserved.bytes),
            "rss_bytes": int(e.process_rss.bytes), "peak_rss_bytes": int(estimator.simulate_peak(scenario) / 1.1),
            "orders_per_s": orders_per_s, "trades": trades, "market_checksum": "m", "tape_checksum": "t"}


def test_plan_check_compares_the_curve_with_a_run_on_every_core():
    model = _with_scaling(0.4, up_to=2)
    estimator = Estimator(model)
    request = PlanRequest(markets=2_000)
    checked = check_plan(request, estimator, run=lambda s: _measured(s, estimator), room=1e12, threads=2,
                         run_threads=lambda s, k: _measured(s, estimator, orders_per_s=4.2e6))
    row = checked.rows[-1]
    assert row.figure.startswith("orders/s with 2 threads: per core x ") and "(measured)" in row.figure
    assert row.predicted == pytest.approx(3e6 * model.speedup(2)) and row.measured == 4.2e6 and row.passed is None
    assert checked.orders_per_s_per_core == 3e6
    with pytest.raises(LxdexError, match="with 2 threads made other trades than with one"):
        check_plan(request, estimator, run=lambda s: _measured(s, estimator), room=1e12, threads=2,
                   run_threads=lambda s, k: _measured(s, estimator, trades=499))
    alone = check_plan(request, estimator, run=lambda s: _measured(s, estimator), room=1e12, threads=2)
    assert not any(r.figure.startswith("orders/s with") for r in alone.rows)  # a run of its own and no run_threads: not measured
