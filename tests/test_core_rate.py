"""The per-core rate model: cache discovery per platform, the hierarchy probe, the access curve, the fit and its
held-out validation, the model file's section, the hardware keys, and plan's modelled rates per profile."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from lxdex_capacity.capacity import hierarchy
from lxdex_capacity.capacity.core_rate import Access, CoreRateFit, CoreRateModel, WorkingSetPoint, _exponent, hit_shares
from lxdex_capacity.capacity.hardware import builtin_profiles, profiles_from_toml
from lxdex_capacity.capacity.hierarchy import CacheLevel, Hierarchy, LatencyPoint, levels_from_curve
from lxdex_capacity.capacity.model import CapacityModel, load_model
from lxdex_capacity.errors import InputError
from lxdex_capacity.scenarios.activity import zipf_exponent_for_share
from tests.helpers import assert_one_line_error, run_cli

KIB, MIB = 1 << 10, 1 << 20
ACCESS = Access(market_bytes=135.0, order_bytes=22.4)


def _hierarchy() -> Hierarchy:
    """A made-up machine: L1 32 KiB 1 ns, L2 1 MiB 4 ns, L3 8 MiB 15 ns, DRAM 120 ns (as a curve would show it)."""
    caches = (CacheLevel("L1d", 32 * KIB, 1, 64, "test"), CacheLevel("L2", MIB, 1, 64, "test"), CacheLevel("L3", 8 * MIB, 2, 64, "test"))
    steps = [(16 * KIB, 1.0), (64 * KIB, 4.0), (128 * KIB, 4.0), (256 * KIB, 4.0), (2 * MIB, 15.0), (4 * MIB, 15.0),
             (16 * MIB, 70.0), (64 * MIB, 120.0), (256 * MIB, 120.0)]
    curve = tuple(LatencyPoint(b, ns, ns, ns, 1) for b, ns in steps)
    return Hierarchy(caches, curve, levels_from_curve(caches, curve), 10.0, 3.0, 64, "test")


# --- discovery, per platform ---------------------------------------------------------------------------------


def test_linux_caches_are_read_from_sysfs(tmp_path: Path):
    for i, (level, kind, size, shared) in enumerate([(1, "Data", "48K", "0"), (1, "Instruction", "32K", "0"), (2, "Unified", "2048K", "0"),
                                                     (3, "Unified", "105M", "0-47")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared), ("coherency_line_size", 64)):
            (d / name).write_text(f"{value}\n")
    found = hierarchy._linux_caches(tmp_path)
    assert [(c.name, c.size_bytes, c.shared_by, c.line_bytes) for c in found] == [
        ("L1d", 48 * KIB, 1, 64), ("L2", 2 * MIB, 1, 64), ("L3", 105 * MIB, 48, 64)]


def test_macos_caches_are_read_from_sysctl_for_the_performance_cores():
    values = {"hw.cachelinesize": "128", "hw.perflevel0.l1dcachesize": "131072", "hw.perflevel0.l2cachesize": "16777216",
              "hw.perflevel0.cpusperl2": "4"}

    found = hierarchy._macos_caches(lambda key: int(values[key]) if key in values else None)
    assert [(c.name, c.size_bytes, c.shared_by, c.line_bytes) for c in found] == [("L1d", 128 * KIB, 1, 128), ("L2", 16 * MIB, 4, 128)]
    assert found[1].source == "sysctl hw.perflevel0.l2cachesize"


def test_no_sysctl_or_sysfs_gives_no_caches_not_an_error(tmp_path: Path, monkeypatch):
    assert hierarchy._macos_caches(lambda name: None) == ()
    assert hierarchy._linux_caches(tmp_path / "absent") == ()
    monkeypatch.setattr(hierarchy.sys, "platform", "sunos5")
    assert hierarchy.discover_caches() == ()


def test_levels_come_from_the_curve_plateaus_and_crossings():
    h = _hierarchy()
    names = [lv.name for lv in h.levels]
    assert names == ["L1d", "L2", "L3", "DRAM"]
    latency = {lv.name: lv.latency_ns for lv in h.levels}
    assert latency == {"L1d": 1.0, "L2": 4.0, "L3": 15.0, "DRAM": 120.0}
    capacity = {lv.name: lv.capacity_bytes for lv in h.levels}
    assert capacity["DRAM"] == math.inf
    # L3 reported 8 MiB, but the curve is halfway to DRAM (67.5 ns) a little below 16 MiB: it holds under 8 MiB of random lines.
    assert 6 * MIB < capacity["L3"] <= 8 * MIB
    assert capacity["L2"] <= MIB


def test_the_probe_measures_a_small_hierarchy_on_this_machine():
    """Quick: the probe up to 2 MiB, one run per size (no timing asserted beyond what physics requires)."""
    h = hierarchy.measure_hierarchy(repeats=1, largest=2 * MIB)
    assert h.curve[0].bytes == 16 * KIB and h.curve[-1].bytes <= 2 * MIB
    assert all(p.ns > 0 and p.low <= p.ns <= p.high for p in h.curve)
    assert h.levels[-1].name == "DRAM" and h.clock_ghz > 0 and h.misses_in_flight >= 0.5
    restored = Hierarchy.from_dict(json.loads(json.dumps(h.as_dict())))
    assert restored.levels == h.levels and restored.curve == h.curve


# --- the access curve and the fit ----------------------------------------------------------------------------


def test_the_zipf_exponent_is_the_scenarios():
    for markets in (10, 1_000, 21_000, 1_000_000):
        assert _exponent(markets, 0.8, 0.2) == pytest.approx(zipf_exponent_for_share(markets, 0.8, 0.2), rel=1e-6)


def test_hit_shares_rise_with_capacity_and_fall_with_markets():
    caps = [64 * KIB, MIB, 8 * MIB, 64 * MIB, math.inf]
    for markets in (10, 21_000, 10_000_000, 10**12):
        shares = hit_shares(ACCESS, markets, caps)
        assert shares == sorted(shares) and shares[-1] == 1.0 and all(0 <= s <= 1 for s in shares)
    small, large = hit_shares(ACCESS, 21_000, caps), hit_shares(ACCESS, 10_000_000, caps)
    assert all(a >= b for a, b in zip(small, large, strict=True)) and small[2] > large[2]
    assert hit_shares(ACCESS, 10, [MIB]) == [1.0]  # the ten busiest markets (3,000 orders each) fit in 1 MiB


def test_the_fit_recovers_known_coefficients_and_predicts_the_held_out_sets():
    h = _hierarchy()
    truth = CoreRateModel(h, ACCESS, (), CoreRateFit(compute_ns=50.0, serial_lines=2.0, r2=1.0, rms_error_pct=0.0))
    sizes = (10, 100, 1_000, 10_000, 21_000, 100_000, 300_000, 1_000_000)
    points = [WorkingSetPoint(m, truth.ns_per_order(m), truth.ns_per_order(m), truth.ns_per_order(m), 1, 1, m in (21_000, 300_000))
              for m in sizes]
    model = CoreRateModel.fitted(h, ACCESS, points)
    assert model.fit.compute_ns == pytest.approx(50.0, rel=1e-6) and model.fit.serial_lines == pytest.approx(2.0, rel=1e-6)
    assert [v["markets"] for v in model.validation] == [21_000, 300_000]
    assert all(abs(v["error_pct"]) < 1e-6 for v in model.validation)
    assert model.ns_per_order(10_000_000) > model.ns_per_order(21_000) > model.ns_per_order(10)
    beyond = [lv["serial_lines_beyond"] for lv in model.explain(1_000_000)["levels"]]
    assert beyond == sorted(beyond, reverse=True) and beyond[-1] == 0.0  # fewer lines beyond each farther level; none beyond DRAM


# --- the model file's section --------------------------------------------------------------------------------


def _model_with_core_rate() -> dict:
    data = json.loads(load_model().to_json())
    assert data.get("core_rate"), "the reference model carries a per-core rate model"
    return data


def test_the_reference_model_carries_a_core_rate_that_round_trips():
    model = load_model()
    assert model.core_rate is not None
    again = CapacityModel.from_dict(json.loads(model.to_json()), "again")
    assert again.core_rate == model.core_rate
    assert len(model.core_rate.validation) == 2  # two working sets held out, predicted
    assert all(math.isfinite(v["error_pct"]) for v in model.core_rate.validation)


@pytest.mark.parametrize("path, value, fragment", [
    (("fit", "compute_ns"), 1.0, "core_rate.fit.compute_ns=1.0: not what the stored points give"),
    (("validation", 0, "error_pct"), 0.0, "must be 100 x (predicted_ns - measured_ns) / measured_ns"),
    (("validation", 0, "predicted_ns"), 1.0, "not the model's prediction"),
    (("hierarchy", "levels", 1, "latency_ns"), 1.0, "a farther level is not faster"),
    (("hierarchy", "levels", 1, "latency_ns"), 0.01, "input should be greater than or equal to 0.1"),
    (("hierarchy", "levels", -1, "capacity_bytes"), 1e9, "the last level is memory"),
    (("points", 0, "ns_per_order"), 0.0, "core_rate.points[0].ns_per_order=0.0"),
    (("hierarchy", "clock_ghz"), 1e6, "core_rate.hierarchy.clock_ghz"),
    (("hierarchy",), [], "core_rate.hierarchy"),
])
def test_a_tampered_core_rate_section_is_one_line_naming_the_key(tmp_path: Path, path, value, fragment):
    data = _model_with_core_rate()
    node = data["core_rate"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    target = tmp_path / "m.json"
    target.write_text(json.dumps(data))
    assert_one_line_error(run_cli("plan", "--model", str(target)), fragment)


def test_a_core_rate_that_is_not_an_object_is_refused():
    data = _model_with_core_rate()
    data["core_rate"] = 3
    with pytest.raises(InputError, match=r"core_rate.*must be a JSON object"):
        CapacityModel.from_dict(data, "m.json")


# --- hardware profiles ---------------------------------------------------------------------------------------

_BASE = 'machine = "X"\nchip = "Y"\np_cores = 8\nmemory_gib = [16]\nsource = "ours"\n'
_HIERARCHY = ('clock_ghz = 3.0\ncache_line_bytes = 64\nl1d_kib = 32\nl2_kib = 1024\nl2_shared_by = 1\nl3_mib = 32\nl3_shared_by = 8\n'
              'slc_mib = 0\nl2_latency_ns = 4.0\nl3_latency_ns = 14.0\nslc_latency_ns = 0\nmemory_latency_ns = 110.0\nhierarchy_source = "ours"\n')


def test_every_builtin_profile_has_a_hierarchy():
    for p in builtin_profiles():
        assert p.memory is not None, p.name
        latencies = [lv.latency_ns for lv in p.memory.levels]
        assert latencies == sorted(latencies), p.name
        assert p.hierarchy_source


@pytest.mark.parametrize("change, fragment", [
    (("l3_latency_ns = 14.0", ""), "l3_latency_ns missing: a memory hierarchy needs every one of"),
    (("l3_latency_ns = 14.0", "l3_latency_ns = 2.0"), "l3_latency_ns=2.0: must be above L2's latency"),
    (("l3_latency_ns = 14.0", "l3_latency_ns = 0"), "l3_latency_ns=0.0: must be above 0 exactly when l3_mib is (32.0)"),
    (("memory_latency_ns = 110.0", "memory_latency_ns = 12.0"), "memory_latency_ns=12.0: must be above L3's latency"),
    (("cache_line_bytes = 64", "cache_line_bytes = 65"), "cache_line_bytes=65"),
    (("clock_ghz = 3.0", "clock_ghz = 300.0"), "clock_ghz=300.0"),
])
def test_a_bad_hierarchy_in_a_hardware_file_is_one_line(change, fragment):
    text = "[[machine]]\n" + _BASE + _HIERARCHY.replace(*change)
    with pytest.raises(InputError) as caught:
        profiles_from_toml(text, "hw.toml")
    assert str(caught.value).startswith("hw.toml: ") and "machine[0]" in str(caught.value)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_profile_without_a_hierarchy_is_extrapolated_as_before():
    (profile,) = profiles_from_toml("[[machine]]\n" + _BASE, "hw.toml")
    assert profile.memory is None


# --- plan ------------------------------------------------------------------------------------------------------


def test_plan_models_a_rate_per_profile_from_its_hierarchy_and_says_why():
    result = run_cli("plan", "--markets", "21000", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    profiles = report["profiles"]
    assert all(p["rate_source"] == "modelled" for p in profiles)
    assert len({round(p["orders_per_s_per_core"]) for p in profiles}) >= 5
    for p in profiles:
        rm = p["rate_model"]
        assert rm["clock_ghz"] > 0 and rm["levels"][-1]["name"] == "DRAM" and rm["why"]
        assert {"capacity_bytes", "latency_ns", "flow_share_held", "serial_lines_beyond"} <= set(rm["levels"][0])
    at_10m = json.loads(run_cli("plan", "--markets", "10000000", "--json").stdout)["profiles"]
    for small, large in zip(profiles, at_10m, strict=True):
        assert large["orders_per_s_per_core"] < small["orders_per_s_per_core"], small["name"]
    text = run_cli("plan", "--markets", "21000")
    assert text.exit_code == 0 and "modelled rates per core" in text.stdout and "fit whole in its" in text.stdout


def test_a_user_given_rate_still_wins_and_says_so(tmp_path: Path):
    hw = tmp_path / "hw.toml"
    hw.write_text('[[machine]]\n' + _BASE.replace('"X"', '"Mine"') + _HIERARCHY + "orders_per_s_per_core = 1000000\n")
    report = json.loads(run_cli("plan", "--hardware", str(hw), "--profile", "Mine Y 16 GB", "--json").stdout)
    (row,) = report["profiles"]
    assert row["rate_source"] == "user-given" and row["orders_per_s_per_core"] == 1e6 and row["rate_model"] is None


def test_more_engines_share_the_caches_and_the_bandwidth():
    model = load_model()
    assert model.core_rate is not None
    m2 = next(p for p in builtin_profiles() if p.name == "Mac Studio M2 Ultra 192 GB")
    assert m2.memory is not None
    alone = model.core_rate.orders_per_s(1_000_000, m2.memory, 1)
    shared = model.core_rate.orders_per_s(1_000_000, m2.memory, 16)
    assert shared < alone


def test_the_core_rate_is_measured_fitted_and_stored_small(capsys):
    """The sweep's step alone, small: the probe up to 1 MiB, five working sets (two held out), 4,096 orders each."""
    from lxdex_capacity.capacity.sweep import measure_core_rate
    from lxdex_capacity.cli.render.capacity import print_core_rate

    labels: list[str] = []
    model = measure_core_rate(ACCESS, (10, 30, 100, 300, 1000), (30, 300), repeat=1, orders=4_096, probe_up_to=MIB, advance=labels.append)
    assert [p.markets for p in model.points] == [10, 30, 100, 300, 1000] and [v["markets"] for v in model.validation] == [30, 300]
    assert any("working set: 1,000 markets" in label for label in labels) and any("latency at" in label for label in labels)
    data = json.loads(json.dumps(model.as_dict(), allow_nan=False))
    reference = json.loads(load_model().to_json()) | {"core_rate": data}
    assert CapacityModel.from_dict(reference, "m.json").core_rate == model
    print_core_rate(data)
    shown = capsys.readouterr().out
    assert "memory hierarchy" in shown and "held out of the fit and predicted: 30 markets" in shown


@pytest.mark.slow  # a real sweep (seven points in fresh processes, ~20 s); the step alone is tested above
def test_sweep_measures_the_core_rate_model_and_writes_it(tmp_path: Path, monkeypatch):
    """In-process, small: the probe up to 1 MiB, five working sets (two held out), a few thousand orders each."""
    monkeypatch.setattr("lxdex_capacity.capacity.hierarchy.curve_sizes", lambda caches, largest=None: [16 * KIB, 64 * KIB, 256 * KIB, MIB])
    monkeypatch.setattr("lxdex_capacity.capacity.sweep.curve_sizes", lambda caches, largest=None: [16 * KIB, 64 * KIB, 256 * KIB, MIB])
    monkeypatch.setattr("lxdex_capacity.capacity.sweep.WORKING_SET_ORDERS", 4_096)
    out = tmp_path / "m.json"
    result = run_cli("sweep", "--markets", "300,600,1200", "--repeat", "1", "--trades", "3000", "--trades-retained", "1024",
                     "--threads-up-to", "1", "--working-sets", "10,30,100,300,1000", "--held-out-working-sets", "30,300",
                     "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    core = report["core_rate"]
    assert [p["markets"] for p in core["points"]] == [10, 30, 100, 300, 1000]
    assert [v["markets"] for v in core["validation"]] == [30, 300]
    model = CapacityModel.from_dict(json.loads(out.read_text()), str(out))
    assert model.core_rate is not None and model.core_rate.fit.serial_lines >= 0


@pytest.mark.parametrize("args, fragment", [
    (("--working-sets", "10,100,abc"), "--working-sets '10,100,abc': must be comma-separated market counts"),
    (("--working-sets", "10,100,1000", "--held-out-working-sets", "5000"), "--held-out-working-sets 5000: not among --working-sets"),
    (("--working-sets", "10,100,1000", "--held-out-working-sets", "100"), "2 working set(s) left to fit"),
])
def test_bad_working_sets_are_refused_before_anything_runs(tmp_path: Path, args, fragment):
    assert_one_line_error(run_cli("sweep", *args, "--out", str(tmp_path / "m.json")), fragment)
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("processor, chip, swept", [
    ("Apple M2 Ultra", "M2 Ultra", True), ("Apple M2 Ultra", "M2", False), ("Apple M2", "M2 Pro", False),
    ("AMD EPYC 9654 96-Core Processor", "2x AMD EPYC 9654", True), ("AMD EPYC 96540", "AMD EPYC 9654", False),
    ("AMD EPYC", "2x AMD EPYC 9654", False), ("", "M2", False), (None, "M2", False),
])
def test_a_model_swept_on_a_profiles_chip_is_recognised(processor, chip, swept):
    from lxdex_capacity.capacity.plan import swept_on

    profile = next(p for p in builtin_profiles() if p.chip == "M2")
    assert swept_on(dataclasses.replace(profile, chip=chip), processor) is swept


def test_a_model_swept_on_that_chip_wins_over_its_published_figures():
    from lxdex_capacity.capacity.plan import PlanRequest, plan

    model = load_model()
    mac = dataclasses.replace(model, provenance=model.provenance | {"processor": "Apple M2 Ultra"})
    rows = plan(mac, builtin_profiles(), PlanRequest(markets=21_000))["profiles"]
    ultra = [r for r in rows if r["name"].startswith("Mac Studio M2 Ultra")]
    others = [r for r in rows if not r["name"].startswith("Mac Studio M2 Ultra")]
    assert ultra and all(r["rate_source"] == "swept there" and "measured by the lxdex sweep" in r["rate_basis"] for r in ultra)
    assert all(r["orders_per_s_per_core"] == pytest.approx(model.orders_per_s_per_core(21_000)) for r in ultra)
    assert all(r["rate_source"] == "modelled" for r in others)


def test_a_small_slc_behind_a_large_l2_adds_nothing_and_the_why_names_the_cache_that_holds_most():
    model = load_model()
    assert model.core_rate is not None
    m2 = next(p for p in builtin_profiles() if p.name == "Mac mini M2 8 GB")  # 16 MiB L2, 8 MiB SLC
    assert m2.memory is not None
    rows = model.core_rate.explain(21_000, m2.memory)["levels"]
    held = [r["flow_share_held"] for r in rows]
    assert held == sorted(held)  # a farther level holds at least what the nearer ones do
    beyond = [r["serial_lines_beyond"] for r in rows]
    assert beyond == sorted(beyond, reverse=True)
    why = model.core_rate.explain(21_000, m2.memory)["why"]
    assert "SLC (8 MiB) holds" not in why


def test_a_hierarchy_that_cannot_tell_compute_from_memory_is_not_fitted():
    h = _hierarchy()
    dram_only = Hierarchy((), h.curve, levels_from_curve((), h.curve), 10.0, 3.0, 64)
    points = [WorkingSetPoint(m, 100.0 + m / 1e4, 100.0, 200.0, 1, 1, False) for m in (10, 1_000, 100_000, 1_000_000)]
    with pytest.raises(ValueError, match=r"hardly varies.*no cache sizes were reported"):
        CoreRateModel.fitted(dram_only, ACCESS, points)


def test_deeper_books_asked_of_plan_are_modelled_deeper():
    rows = {opm: json.loads(run_cli("plan", "--orders-per-market", str(opm), "--profile", "Mac mini M2 Pro 32 GB", "--json").stdout)
            ["profiles"][0] for opm in (40, 5000)}
    assert rows[5000]["orders_per_s_per_core"] < rows[40]["orders_per_s_per_core"]
    assert rows[5000]["rate_model"]["working_set_bytes"] > 50 * rows[40]["rate_model"]["working_set_bytes"]
    assert "do not fit in its caches" in rows[5000]["rate_model"]["why"]


@pytest.mark.parametrize("change, fragment", [
    (("clock_ghz = 3.0", "clock_ghz = 0.5"), "l2_latency_ns=4.0: must be above L1d's latency (8.0 ns)"),
    (("l3_mib = 32", "l3_mib = 1e-300"), "l3_mib=1e-300: must be 0 (no such cache) or at least 0.25 MiB"),
    (("l2_latency_ns = 4.0", "l2_latency_ns = 1e-300"), "l2_latency_ns=1e-300: must be 0 (no such cache) or at least 0.1 ns"),
])
def test_physically_impossible_hierarchies_are_refused(change, fragment):
    with pytest.raises(InputError) as caught:
        profiles_from_toml("[[machine]]\n" + _BASE + _HIERARCHY.replace(*change), "hw.toml")
    assert fragment in str(caught.value)


def test_sizes_are_spelt_in_one_binary_format_without_exponents():
    from lxdex_capacity.units import binary_bytes

    assert [binary_bytes(n) for n in (512, 19.6 * KIB, 24 * MIB, 1023.9 * MIB, 2.25 * 2**30)] == [
        "512 B", "19.6 KiB", "24 MiB", "1,024 MiB", "2.25 GiB"]
