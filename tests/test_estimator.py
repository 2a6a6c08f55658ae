"""The capacity estimator, the plan built on it (engines, rates, bottleneck, recommendation) and ``plan --check``."""

from __future__ import annotations

import json

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.capacity.check import PlanCheck, check_plan, checked_scenario
from lxdex_capacity.capacity.estimator import (
    MAX_SLOTS,
    SEED_BYTES_PER_ORDER,
    WORKING_BYTES_PER_MARKET,
    Estimator,
    Load,
    default_tape,
    pow2_at_least,
)
from lxdex_capacity.capacity.hardware import builtin_profiles, find_profile, profiles_from_toml
from lxdex_capacity.capacity.model import CapacityModel, load_model, separability_problem
from lxdex_capacity.capacity.plan import HOURS_PER_YEAR, PURCHASE_YEARS, PlanRequest, highest_use_text, plan
from lxdex_capacity.engine.layout import (
    ID_INDEX_BYTES,
    LEVEL_RECORD_BYTES,
    MARKET_RECORD_BYTES,
    ORDER_RECORD_BYTES,
    TRADE_RECORD_BYTES,
)
from lxdex_capacity.errors import CapacityError, InputError
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.scenarios.tiers import Tier
from lxdex_capacity.simulation.run import check_memory

ESTIMATOR = Estimator.default()


# --- the figures --------------------------------------------------------------------------------


def test_reserved_bytes_are_each_pool_at_its_power_of_two_plus_the_tape_and_market_rows():
    load = Load(markets=21_000, resting_orders=830_000, trades_retained=262_144)
    levels = ESTIMATOR.price_levels(load)
    expected = (pow2_at_least(830_000) * (ORDER_RECORD_BYTES + ID_INDEX_BYTES) + pow2_at_least(levels) * LEVEL_RECORD_BYTES
                + 21_000 * MARKET_RECORD_BYTES + 262_144 * TRADE_RECORD_BYTES + 16 * 8)
    centre, low, high = ESTIMATOR.engine_bytes_reserved(load)
    assert centre == expected and low <= centre <= high


def test_engine_bytes_used_are_the_model_fit_and_never_below_the_market_rows():
    model = load_model()
    load = Load(1_000_000, 13_000_000, 262_144)
    assert ESTIMATOR.engine_bytes_used(load)[0] == pytest.approx(model.fit.predict(1_000_000, 13_000_000, 262_144))
    tiny = Load(3, 0, 0)
    assert ESTIMATOR.engine_bytes_used(tiny)[0] >= 3 * MARKET_RECORD_BYTES  # the fit's negative intercept says less


def test_process_rss_and_simulate_peak_are_built_from_their_parts():
    scenario = Scenario(markets=21_000)
    load = Load.of_scenario(scenario)
    e = ESTIMATOR.estimate(load)
    reserved = e.engine_bytes_reserved.bytes
    assert e.process_rss.bytes == pytest.approx(e.runtime_bytes + reserved + WORKING_BYTES_PER_MARKET * 21_000 + ESTIMATOR._slack[0])
    seeding = load.seed_chunk_orders * SEED_BYTES_PER_ORDER
    assert e.simulate_peak.bytes > e.process_rss.bytes + seeding  # plus the last doubling of the order pool
    assert ESTIMATOR.simulate_peak(scenario) == int(e.simulate_peak.bytes)
    for figure in (e.engine_bytes_used, e.engine_bytes_reserved, e.process_rss, e.simulate_peak):
        assert figure.low <= figure.bytes <= figure.high and figure.predicts
    json.dumps(e.as_dict(), allow_nan=False)


def test_the_guard_uses_the_estimator_and_every_shard_keeps_its_own_tape():
    one, four = (ESTIMATOR.simulate_peak(Scenario(markets=50_000), shards) for shards in (1, 4))
    assert four > one  # four tapes of 262,144 trades, four engines' pools
    assert ESTIMATOR.estimate(Load.of_scenario(Scenario(markets=50_000), 4)).load.trades_retained == 4 * default_tape()


def test_used_bytes_stay_between_the_certain_rows_and_the_reserved_arrays():
    one = ESTIMATOR.estimate(Load(1, 0, default_tape()))  # the fit's negative intercept would say less than the tape's rows
    assert one.engine_bytes_used.bytes >= default_tape() * TRADE_RECORD_BYTES + MARKET_RECORD_BYTES
    huge_tape = ESTIMATOR.estimate(Load(1000, 40_000, 1 << 30))  # the fit's 30 B per trade against 29 B rows
    deep = ESTIMATOR.estimate(Load(1000, 1e9, default_tape()))
    for e in (one, huge_tape, deep):
        assert e.engine_bytes_used.bytes <= e.engine_bytes_reserved.bytes <= e.process_rss.bytes
        assert e.engine_bytes_used.low <= e.engine_bytes_used.bytes <= e.engine_bytes_used.high
    assert ESTIMATOR.price_levels(Load(10**6, 0, 0)) == 0  # empty books hold no levels


def test_one_engine_addresses_at_most_two_to_the_31_slots():
    assert Load(10, MAX_SLOTS - 10, 0).engines_needed() == 1
    assert Load(50_000_000, 50 * 50_000_000, 0).engines_needed() == 2
    assert Load(1000, 1000 * 1e9, 0).engines_needed() == 500  # whole markets: two of 1e9 orders to an engine
    with pytest.raises(CapacityError, match="one market's book lives in one engine"):
        Load(1, 3e9, 0).engines_needed()
    deeper = Scenario(markets=1000, tiers=(Tier(low=1_000_000_000, high=1_000_000_000),))
    with pytest.raises(CapacityError, match="use --shards 500 "):
        check_memory(deeper, force=True)
    deep = Scenario(markets=100, tiers=(Tier(low=30_000_000, high=30_000_000),))  # 3 billion resting orders
    with pytest.raises(CapacityError, match=r"at least 2 engines; use --shards 2"):
        check_memory(deep, force=True)


def test_a_scenario_beyond_one_engine_says_so_in_scenario_show(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("markets = 100\n[[tiers]]\nlow = 30000000\nhigh = 30000000\n")
    result = run_cli("scenario", "show", "--scenario", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    derived = json.loads(result.stdout)["derived"]
    assert derived["engines_needed"] == 2
    assert {"engine_bytes_used", "engine_bytes_reserved", "process_rss", "simulate_peak"} <= set(derived["estimate"])
    assert derived["estimate_bytes"] == int(derived["estimate"]["simulate_peak"]["bytes"])
    table = run_cli("scenario", "show", "--scenario", str(path))
    assert "needs at least 2 engines" in table.stdout


# --- the plan on top of it ------------------------------------------------------------------------


def test_the_plan_keeps_the_engines_tape_by_default_and_echoes_its_load():
    report = plan(load_model(), builtin_profiles(), PlanRequest(markets=21_000))
    assert report["load"]["trades_retained"] == default_tape() == report["request"]["trades_retained"]
    assert report["load"]["trades_retained_source"] == "one engine's tape capacity"
    published = plan(load_model(), builtin_profiles(), PlanRequest(markets=21_000, trades_retained=1_000_000))
    assert published["load"]["trades_retained"] == 1_000_000 and published["load"]["trades_retained_source"] == "given"
    assert published["engine_bytes"] > report["engine_bytes"]


def test_a_load_beyond_one_engine_runs_several_each_with_its_runtime():
    model = load_model()
    request = PlanRequest(markets=50_000_000, orders_per_market=50, order_rate=0)
    report = plan(model, [find_profile("Mac Studio M2 Ultra 192 GB", builtin_profiles())], request)
    row = report["profiles"][0]
    assert row["engines_per_machine"] == 2
    single = ESTIMATOR.required_bytes(Load(50_000_000, 50 * 50_000_000, default_tape(), engines=2), request.safety)[0]
    assert row["required_bytes"] == pytest.approx(single + ESTIMATOR.process_overhead())


def test_a_measured_rate_in_the_hardware_file_is_user_given_and_used_flat(tmp_path):
    text = ('[[machine]]\nmachine = "Box"\nchip = "X1"\np_cores = 4\nmemory_gib = [64]\nprice_usd = [3000]\n'
            'orders_per_s_per_core = 1000000\nsource = "ours"\n')
    box = profiles_from_toml(text, "hw.toml")[0]
    # Without a scaling curve (cores x one core), so that the engines are the rate's multiple; with the
    # reference model's curve the same rate per core is multiplied by its speedup instead.
    linear = CapacityModel.from_dict({k: v for k, v in load_model().as_dict().items() if k != "scaling"}, "linear")
    report = plan(linear, [box], PlanRequest(markets=21_000, order_rate=2_500_000))
    row = report["profiles"][0]
    assert row["rate_source"] == "user-given" and row["orders_per_s_per_core"] == 1e6
    assert row["engines_per_machine"] == 3 and row["order_capacity_per_s"] == 3e6  # the fewest that sustain 2.5M/s
    curved = plan(load_model(), [box], PlanRequest(markets=21_000, order_rate=1_000))["profiles"][0]
    assert curved["order_capacity_per_s"] == pytest.approx(1e6 * load_model().speedup(curved["cores"]))
    modelled = plan(load_model(), builtin_profiles()[:1], PlanRequest(markets=21_000))["profiles"][0]
    assert modelled["rate_source"] == "modelled" and "per-core rate model" in modelled["rate_basis"]
    plain = profiles_from_toml(text.replace("orders_per_s_per_core = 1000000\n", ""), "hw.toml")[0]  # no hierarchy given
    extrapolated = plan(load_model(), [plain], PlanRequest(markets=21_000))["profiles"][0]
    assert extrapolated["rate_source"] == "extrapolated" and "lxdex sweep" in extrapolated["rate_basis"]


@pytest.mark.parametrize("value, fragment", [("0", "greater than 0"), ("-5", "greater than 0"), ("inf", "finite"),
                                             ('"fast"', "valid number"), ("1e11", "less than or equal to")])
def test_a_bad_measured_rate_is_one_line_naming_the_key(tmp_path, value, fragment):
    path = tmp_path / "hw.toml"
    path.write_text('[[machine]]\nmachine = "Box"\nchip = "X1"\np_cores = 4\nmemory_gib = [64]\n'
                    f'orders_per_s_per_core = {value}\nsource = "ours"\n')
    result = run_cli("plan", "--hardware", str(path))
    assert_one_line_error(result, "line 6: machine[0].orders_per_s_per_core=")
    assert fragment in result.stderr


def test_the_bottleneck_is_the_highest_use_and_a_big_shortfall_says_how_many_times():
    report = plan(load_model(), builtin_profiles(), PlanRequest(markets=21_000))
    assert report["profiles"][0]["rate_source"] == "modelled"
    for row in report["profiles"]:
        top = max(row["memory_use_pct"], row["order_rate_use_pct"])
        assert (row["memory_use_pct"] if row["bottleneck"] == "memory" else row["order_rate_use_pct"]) == top
    mini = next(p for p in report["profiles"] if p["name"] == "Mac mini M2 8 GB")
    result = run_cli("plan", "--markets", "21000", "--profile", "Mac mini M2 8 GB")
    row = next(line for line in result.stdout.splitlines() if "Mac mini M2 8 GB" in line)
    assert "runs out first" not in result.stdout and highest_use_text(mini) in row
    assert mini["bottleneck"] == max(("memory", mini["memory_use_pct"]), ("order rate", mini["order_rate_use_pct"]), key=lambda b: b[1])[0]
    assert mini["order_rate_use_pct"] < 50 and mini["memory_use_pct"] < 50  # the higher use, far from running out


def test_more_engines_than_cores_is_the_bottleneck_and_beyond_every_profile_an_error():
    mini = builtin_profiles()[:1]  # 4 performance cores
    row = plan(load_model(), [*mini, find_profile("AWS r7i.48xlarge", builtin_profiles())],
               PlanRequest(markets=21_000, engines=8))["profiles"][0]
    assert row["engines_per_machine"] == 8 and row["bottleneck"] == "cores" and row["cores_use_pct"] == 200 and not row["fits"]
    assert row["cores"] == 4  # only the cores it has, at the model's speedup of them (modelled: the caches they share)
    assert row["scaling_source"] == "modelled" and row["order_capacity_per_s"] == pytest.approx(row["speedup"] * row["orders_per_s_per_core"])
    assert 1 < row["speedup"] <= 4
    assert_one_line_error(run_cli("plan", "--engines", "200"), "engines=200: more engines than any profile has performance cores")


def test_plan_options_out_of_range_name_the_option_and_a_profile_named_twice_is_one_row():
    assert_one_line_error(run_cli("plan", "--order-rate", "1e16"), "--order-rate=1e+16: must be a finite number")
    result = run_cli("plan", "--profile", "Mac mini M4 16 GB", "--profile", "mac mini m4 16gb", "--json")
    assert [p["name"] for p in json.loads(result.stdout)["profiles"]] == ["Mac mini M4 16 GB"]


def test_the_recommendation_is_the_cheapest_by_yearly_cost():
    profiles = builtin_profiles()
    report = plan(load_model(), profiles, PlanRequest(markets=21_000))
    rec = report["recommendation"]
    assert rec["kind"] == "single machine" and rec["machines"] == 1
    fitting = [p for p in report["profiles"] if p["fits"] and p["yearly_cost_usd"] is not None]
    assert rec["yearly_cost_usd"] == min(p["yearly_cost_usd"] for p in fitting)
    chosen = find_profile(rec["profile"], profiles)
    assert rec["yearly_cost_usd"] == pytest.approx(chosen.price_usd / PURCHASE_YEARS)
    assert rec["watts"] == pytest.approx(chosen.max_power_w) and rec["watts_per_million_markets"] is None  # 21,000 markets fill little of it
    cloud = [p for p in profiles if p.price_usd_hour is not None][:1]
    cloudy = plan(load_model(), cloud, PlanRequest(markets=21_000))["recommendation"]
    assert cloudy["yearly_cost_usd"] == pytest.approx(cloud[0].price_usd_hour * HOURS_PER_YEAR)


def test_when_no_single_machine_holds_it_the_answer_is_an_n_plus_1_cluster():
    minis = [find_profile("Mac mini M2 8 GB", builtin_profiles())]
    report = plan(load_model(), minis, PlanRequest(markets=10_000_000))
    rec = report["recommendation"]
    row = report["profiles"][0]
    assert not row["fits"] and rec["kind"] == "cluster" and rec["machines"] == row["machines"] + 1 and rec["spare"] == 1
    assert rec["yearly_cost_usd"] == pytest.approx(rec["machines"] * row["yearly_cost_usd"])
    table = run_cli("plan", "--markets", "10000000", "--profile", "Mac mini M2 8 GB")
    assert f"{rec['machines']} x Mac mini M2 8 GB ({rec['machines'] - 1} + 1 spare" in table.stdout.replace("\n", " ")


def test_a_footnote_mark_only_appears_with_its_footnote():
    from lxdex_capacity.cli.render.capacity import print_plan
    from lxdex_capacity.console import out

    report = plan(load_model(), builtin_profiles()[:2], PlanRequest(markets=21_000))  # measured up to 10M: nothing extrapolated
    with out.capture() as captured:
        print_plan(report)
    assert "†" not in captured.get()
    report["scaling"][-1]["extrapolated"] = True
    with out.capture() as captured:
        print_plan(report)
    text = captured.get()
    assert text.count("†") == 2 and "† beyond the largest size the model was measured at" in text


# --- the sweep's design ---------------------------------------------------------------------------


def test_a_design_that_cannot_separate_the_terms_is_named():
    assert separability_problem([1e3, 5e3, 1e3, 5e3], [1e4, 5e4, 2e4, 1e5], [2e4, 2e4, 2e4, 2e4]).startswith("trades retained do not vary")
    assert separability_problem([1e3] * 4, [1e4, 2e4, 1e4, 2e4], [1e3, 1e3, 4e3, 4e3]).startswith("markets do not vary")
    assert "move together" in separability_problem([1e3, 2e3, 3e3, 4e3], [1e4, 2e4, 3e4, 4e4], [1e3, 2e3, 3e3, 4e3])
    assert separability_problem([1e3, 5e3, 1e3, 5e3, 1e3], [1e4, 5e4, 2e4, 1e5, 1e4], [1e3, 1e3, 1e3, 1e3, 4e3]) is None


@pytest.mark.parametrize("args, fragment", [
    (["--markets", "1000,5000"], "markets do not vary across the points (1,000 to 1,000)"),
    (["--markets", "1000,5000,21000", "--trades", "20000"], "--trades 20,000 never fills a tape of 262,144"),
])
def test_sweep_refuses_an_unseparable_design_before_running_a_point(tmp_path, args, fragment):
    result = run_cli("sweep", *args, "--out", str(tmp_path / "model.json"))
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "model.json").exists()


# --- plan --check ----------------------------------------------------------------------------------


def _measured(scenario: Scenario, error: float = 0.0, rss_scale: float = 1.0, peak_scale: float = 1.1) -> dict:
    e = ESTIMATOR.estimate(Load(scenario.markets, Load.of_scenario(scenario).resting_orders, scenario.trades_retained))
    return {"engine_bytes_used": int(e.engine_bytes_used.bytes / (1 + error)), "engine_bytes_reserved": int(e.engine_bytes_reserved.bytes),
            "rss_bytes": int(e.process_rss.bytes * rss_scale), "peak_rss_bytes": int(ESTIMATOR.simulate_peak(scenario) / peak_scale),
            "orders_per_s": 3e6}


def test_check_compares_every_figure_with_its_target():
    request = PlanRequest(markets=21_000)
    good = check_plan(request, ESTIMATOR, run=_measured, room=1e12)
    assert good.passed and good.markets == 21_000 and not good.note
    assert good.rows[0].figure == "engine bytes used" and good.orders_per_s_per_core == 3e6
    off = check_plan(request, ESTIMATOR, run=lambda s: _measured(s, error=0.08), room=1e12)
    assert not off.passed and [r.figure for r in off.rows if r.passed is False] == ["engine bytes used"]
    short = check_plan(request, ESTIMATOR, run=lambda s: _measured(s, peak_scale=0.9), room=1e12)
    assert [r.figure for r in short.rows if r.passed is False] == ["simulate's peak RSS (the memory guard's estimate)"]
    json.dumps(good.as_dict(), allow_nan=False)


def test_check_runs_the_most_this_machine_holds_and_shows_the_held_out_validation():
    request = PlanRequest(markets=10_000_000)
    room = ESTIMATOR.simulate_peak(checked_scenario(request, 1_000_000)) * 1.0001
    checked = check_plan(request, ESTIMATOR, run=_measured, room=room)
    assert isinstance(checked, PlanCheck) and 1_000_000 <= checked.markets < 1_100_000
    assert "10,000,000 markets would not fit here" in checked.note and checked.validation


def test_the_checked_scenario_has_the_planned_depth_and_a_tape_holding_the_trades():
    scenario = checked_scenario(PlanRequest(markets=5_000, orders_per_market=100, trades_retained=1_000_000))
    assert scenario.trades_retained == 1 << 20
    assert Load.of_scenario(scenario).resting_orders == pytest.approx(500_000, rel=0.02)


@pytest.mark.slow  # two fresh-process runs, ~10 s; check_plan's rows have fast tests with made-up runs above; CI runs it in the slow pass
def test_plan_check_runs_the_load_here_and_adds_this_machine(tmp_path):
    result = run_cli("plan", "--markets", "2000", "--profile", "Mac mini M4 16 GB", "--check", "--json")
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    check = report["check"]
    assert check["markets"] == 2000 and {r["figure"] for r in check["rows"]} >= {"engine bytes used", "plan's required memory vs that RSS"}
    used = next(r for r in check["rows"] if r["figure"] == "engine bytes used")
    assert abs(used["error_pct"]) <= 5 and used["passed"]
    per_core = next(r for r in check["rows"] if r["figure"].startswith("orders/s per core"))
    assert per_core["target"] == "±25% of predicted" and per_core["verdict"] in ("holds", "fails", "too noisy to call")
    if per_core["measurement"]["status"] == "disturbed":  # the fresh process saw a busy machine: measured calibrates nothing
        assert per_core["verdict"] == "too noisy to call" and report["calibration"] is None
        assert not report["profiles"][-1]["name"].startswith("this machine")
    else:  # measured beats extrapolated: this machine at its rate, the model's curve scaled to it
        here = report["profiles"][-1]
        assert here["name"].startswith("this machine") and here["rate_source"] == "measured here"
        assert here["orders_per_s_per_core"] == per_core["measured"] > 0
        c = report["calibration"]
        assert c["source"] == "plan --check" and c["factor"] == pytest.approx(per_core["measured"] / per_core["predicted"])
        # The calibration scales the extrapolated curve; a modelled profile is modelled on its own hierarchy, unscaled.
        modelled = [p for p in report["profiles"] if p["rate_source"] == "modelled"]
        assert modelled and not any("scaled x" in p["rate_basis"] for p in modelled)
    row = next(r for r in check["rows"] if r["figure"].startswith("orders/s per core, modelled"))
    assert row["target"] == "±15% of predicted" and row["predicted"] == pytest.approx(load_model().core_rate.orders_per_s(2000))
    if result.exit_code == 1:
        assert "missed its target" in result.stderr


def test_plan_requests_out_of_range_are_refused():
    with pytest.raises(InputError, match="engines=0"):
        PlanRequest(markets=10, engines=0)
