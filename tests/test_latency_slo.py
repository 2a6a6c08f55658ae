"""Latency SLOs (lxdex_capacity.latency.slo): parsing, ``holds``, the search for the highest rate that meets
one, and ``lxdex plan --latency-slo``: the plan at that rate, its section, and its records in results.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from helpers import assert_one_line_error, run_cli
from helpers.results import INFINITY, mutated, saved_results, write_json
from lxdex_capacity.capacity.hardware import find_profile, load_profiles
from lxdex_capacity.capacity.model import load_model
from lxdex_capacity.capacity.plan import SLO_RATE_SOURCE, PlanRequest, plan
from lxdex_capacity.errors import CapacityError, InputError
from lxdex_capacity.latency.harness import Percentiles
from lxdex_capacity.latency.slo import LatencySLO, SLOPoint, SLOSearch, highest_rate, parse_slo

# --- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, statistic, bound_ns, strict, canonical", [
    ("p99<=1us", "p99", 1_000.0, False, "p99 <= 1 µs"),
    ("  p99.9 <  250 µs ", "p99.9", 250_000.0, True, "p99.9 < 250 µs"),
    ("p999<=1ms", "p99.9", 1e6, False, "p99.9 <= 1 ms"),
    ("p9999 <= 2.5 ms", "p99.99", 2.5e6, False, "p99.99 <= 2.5 ms"),
    ("p99.99<=2ms", "p99.99", 2e6, False, "p99.99 <= 2 ms"),
    ("P50<=500ns", "p50", 500.0, False, "p50 <= 500 ns"),
    ("p90 ≤ 3.5μs", "p90", 3_500.0, False, "p90 <= 3.5 µs"),  # Greek mu and the <= sign
    ("max<1s", "max", 1e9, True, "max < 1 s"),
    ("p99<=1e3ns", "p99", 1_000.0, False, "p99 <= 1 µs"),
    ("p99<=1500US", "p99", 1.5e6, False, "p99 <= 1.5 ms"),
])
def test_an_slo_parses_in_every_spelling_to_one_canonical_text(text, statistic, bound_ns, strict, canonical):
    slo = parse_slo(text)
    assert (slo.statistic, slo.bound_ns, slo.strict, slo.text) == (statistic, pytest.approx(bound_ns), strict, canonical)
    assert parse_slo(slo.text) == slo  # the canonical text reads back


@pytest.mark.parametrize("text, fragment", [
    ("p99<1parsec", "--latency-slo='p99<1parsec': unknown unit 'parsec'"),
    ("p98<=1us", "unknown statistic 'p98'"),
    ("<=1us", "no statistic"),
    ("p99 1us", "no operator"),
    ("p99>=1us", "operator '>=': an SLO bounds latency from above"),
    ("p99=1us", "operator '='"),
    ("p99<=", "no bound"),
    ("p99<=1", "has no unit"),
    ("p99<=abc", "not a number with a unit"),
    ("p99<=nan us", "not a number with a unit"),
    ("p99<=-1us", "not a number with a unit"),
    ("p99<=0us", "above 0 and at most an hour"),
    ("p99<=1e400s", "above 0 and at most an hour"),
    ("p99<=2h", "unknown unit 'h'"),
    ("", "empty"),
    ("   ", "empty"),
    ("p99<=1us\nrm -rf", "not a number with a unit"),
    ("p99<=" + "9" * 200 + "us", "too long"),
    ("p99 <= 1e-9 ns", "p99 at most 1e-9 ns: a bound below 1 ns cannot be measured (the cycle counter resolves about 10 ns)"),
    ("p50<=0.5ns", "a bound below 1 ns cannot be measured"),
    ("max<1ns", "max under 1 ns: a bound below 1 ns cannot be measured"),
    ("p99<0.001us", "p99 under 0.001 us: a bound below 1 ns"),
])
def test_a_bad_slo_is_one_line_naming_the_option(text, fragment):
    with pytest.raises(InputError) as info:
        parse_slo(text)
    message = str(info.value)
    assert message.startswith("--latency-slo=") and fragment in message and "\n" not in message


def _percentiles(p50=100.0, p90=200.0, p99=300.0, p999=400.0, p9999=500.0, top=600.0, samples=20_000) -> Percentiles:
    return Percentiles(p50_ns=p50, p90_ns=p90, p99_ns=p99, p999_ns=p999, p9999_ns=p9999, max_ns=top, samples=samples)


def test_holds_reads_the_statistic_and_minds_the_operator():
    p = _percentiles()
    for statistic, value in (("p50", 100), ("p90", 200), ("p99", 300), ("p99.9", 400), ("p99.99", 500), ("max", 600)):
        assert LatencySLO(statistic, value).holds(p)  # <=: the bound itself meets it
        assert not LatencySLO(statistic, value, strict=True).holds(p)  # <: the bound does not
        assert not LatencySLO(statistic, value - 1).holds(p)
        assert LatencySLO(statistic, value).value(p) == value
    assert parse_slo("p99<=1us").holds(p) and not parse_slo("p99<=0.2us").holds(p)


def test_a_statistic_needs_a_sample_beyond_it():
    assert [parse_slo(f"{s}<=1ms").samples_needed() for s in ("p50", "p90", "p99", "p99.9", "p99.99", "max")] == [2, 10, 100, 1_000, 10_000, 1]
    parse_slo("p99.99<=1ms").check_samples(10_000)
    with pytest.raises(InputError, match=r"p99\.99 needs at least 10,000 samples per offered run \(one beyond the percentile\); orders_per_rate=5,000 offers too few"):
        parse_slo("p99.99<=1ms").check_samples(5_000)
    with pytest.raises(InputError, match="statistic='p42'"):
        LatencySLO("p42", 1.0)
    with pytest.raises(InputError, match="bound_ns=nan"):
        LatencySLO("p99", math.nan)
    with pytest.raises(InputError, match=r"bound_ns=1e-09: a bound below 1 ns cannot be measured"):
        LatencySLO("p99", 1e-9)
    with pytest.raises(InputError, match=r"bound_ns=1.0 \(strict\): a bound below 1 ns"):
        LatencySLO("max", 1.0, strict=True)
    assert LatencySLO("max", 1.0).text == "max <= 1 ns" and parse_slo("p50<=1ns").bound_ns == 1.0  # 1 ns itself is a bound


# --- the search, on a made-up rig (the logic) and a real one --------------------------------------------


@dataclass
class _Scenario:
    markets: int = 300


@dataclass
class FakeRig:
    """A rig whose latency is 1 µs / (1 - rate / capacity) (100 ms at the capacity): it rises with the rate and
    passes 2 µs at half the capacity; with ``noise`` every third offer is 1 s (a preempted run)."""

    capacity: float = 2e6
    orders_per_rate: int = 20_000
    noise: bool = False
    cancels_per_order: float = 0.0
    scenario: _Scenario = field(default_factory=_Scenario)
    offered: list[float] = field(default_factory=list)

    def service(self) -> Any:
        return type("Service", (), {"capacity_per_s": self.capacity})()

    def offer(self, rate: float) -> Any:
        self.offered.append(rate)
        p99 = 1_000.0 / (1 - rate / self.capacity) if rate < self.capacity else 1e8  # 100 ms at the capacity
        if self.noise and len(self.offered) % 3 == 1:
            p99 = 1e9
        return type("Point", (), {"latency": _percentiles(p99=p99, p999=p99, p9999=p99, top=p99), "achieved_per_s": min(rate, self.capacity)})()


def test_the_search_brackets_the_highest_rate_within_the_tolerance():
    rig = FakeRig()
    search = highest_rate(rig, parse_slo("p99<=2us"), tolerance=0.05)  # p99 = 2 µs at half the capacity: 1,000,000/s
    assert search.met and 0.95e6 <= search.rate_per_s <= 1e6
    assert search.ceiling_per_s is not None and 1e6 < search.ceiling_per_s <= search.rate_per_s * 1.05 + 1e-6
    assert search.offers == len(rig.offered) <= 20 and search.capacity_per_s == 2e6
    assert all(p.holds == (p.rate_per_s <= 1e6) for p in search.points)
    assert all(len(p.values_ns) == 2 for p in search.points)  # no noise: two runs agree, the third is not needed
    assert "holds up to" in search.summary()


def test_many_messages_per_run_still_start_the_search_below_the_capacity():
    """With 10M messages per run, the rate that offers one in a second (10M/s) is above the capacity (2M/s): the
    lowest rate is capped at a quarter of the capacity, so the search tries rates the engine keeps up with."""
    rig = FakeRig(orders_per_rate=10_000_000)
    search = highest_rate(rig, parse_slo("p99<=2us"), tolerance=0.2)
    assert search.low_per_s == 2e6 / 4 and min(rig.offered) < 2e6
    assert search.met and 0.8e6 <= search.rate_per_s <= 1e6  # p99 = 2 µs at half the capacity
    never = highest_rate(FakeRig(orders_per_rate=10_000_000), parse_slo("p99<1us"))
    assert not never.met and never.low_per_s == 5e5 and min(p.rate_per_s for p in never.points) == 5e5


def test_a_rate_decided_by_two_runs_has_the_higher_as_its_median():
    """Two runs that agree decide a rate of three: its median is the higher of them (a measured run), not their mean."""

    @dataclass
    class RisingRig(FakeRig):  # run k has p99 = 100 k ns: 100, 200, ...
        def offer(self, rate: float) -> Any:
            self.offered.append(rate)
            p99 = 100.0 * len(self.offered)
            return type("Point", (), {"latency": _percentiles(p99=p99, p999=p99, p9999=p99, top=p99), "achieved_per_s": rate})()

    search = highest_rate(RisingRig(capacity=1e12), parse_slo("p99<=1ms"), high=5e5)
    (point,) = search.points
    assert point.values_ns == (100.0, 200.0) and point.median_ns == 200.0 and point.holds


def test_a_noisy_run_is_outvoted_by_the_median():
    search = highest_rate(FakeRig(noise=True), parse_slo("p99<=2us"), tolerance=0.2)
    assert search.met and 0.8e6 <= search.rate_per_s <= 1e6
    assert any(len(p.values_ns) == 3 for p in search.points)


def test_an_slo_met_at_the_capacity_answers_the_capacity_and_one_never_met_answers_zero():
    generous = highest_rate(FakeRig(), parse_slo("max<=1s"))  # met at any rate the engine keeps up with: up to its capacity
    assert generous.high_per_s == 8e6 and 2e6 / 1.1 <= generous.rate_per_s <= 2e6 and generous.ceiling_per_s is not None
    assert all(not p.holds for p in generous.points if p.rate_per_s > 2e6 / 0.95)  # fell behind: fails whatever its latency
    unbounded = highest_rate(FakeRig(capacity=1e12), parse_slo("max<=1s"), high=5e6)
    assert unbounded.rate_per_s == unbounded.high_per_s == 5e6 and unbounded.ceiling_per_s is None
    rig = FakeRig()
    never = highest_rate(rig, parse_slo("p99<1us"))  # p99 is above 1 µs at any rate
    assert never.rate_per_s == 0.0 and not never.met and not any(p.holds for p in never.points)
    assert min(rig.offered) == never.low_per_s == max(2e6 / 1024, 20_000 / 1.0)
    assert never.offers <= 20 and never.summary().startswith("no rate meets p99 < 1 µs on this machine: even at 20,000")


def test_the_search_refuses_what_it_cannot_judge():
    with pytest.raises(InputError, match=r"p99\.99 needs at least 10,000 samples"):
        highest_rate(FakeRig(orders_per_rate=5_000), parse_slo("p99.99<=1ms"))
    with pytest.raises(InputError, match="repeats=2: must be an odd number"):
        highest_rate(FakeRig(), parse_slo("p99<=1ms"), repeats=2)
    with pytest.raises(InputError, match="low=nan"):
        highest_rate(FakeRig(), parse_slo("p99<=1ms"), low=math.nan)
    with pytest.raises(InputError, match="max_offers=2"):
        highest_rate(FakeRig(), parse_slo("p99<=1ms"), max_offers=2)


@pytest.fixture(scope="module")
def small_rig():
    from lxdex_capacity.latency.harness import LatencyRig, warm_up
    from lxdex_capacity.scenarios.config import Scenario

    warm_up()
    return LatencyRig(Scenario(markets=300), orders_per_rate=2_000)


def test_a_generous_slo_finds_a_rate_on_a_real_rig(small_rig):
    search = highest_rate(small_rig, parse_slo("p99<=100ms"))
    assert search.met and search.rate_per_s >= search.low_per_s > 0
    assert search.markets == 300 and search.orders_per_offer == 2_000 and search.offers <= 20
    assert any(p.holds and p.rate_per_s == search.rate_per_s for p in search.points)


def test_an_impossible_slo_finds_no_rate_on_a_real_rig(small_rig):
    search = highest_rate(small_rig, parse_slo("p50<=1ns"), low=50_000)  # from 50,000/s: quick runs
    assert search.rate_per_s == 0.0 and not search.met and search.points
    assert min(p.rate_per_s for p in search.points) == 50_000
    assert all(not p.holds and p.median_ns > 1 for p in search.points)


# --- the plan at the SLO's rate --------------------------------------------------------------------------


def _search(met: bool = True, **changes: Any) -> SLOSearch:
    """A search as highest_rate makes it, its figures made up: met at 500,000/s (1,000,000/s fails), or never met."""
    points = [SLOPoint(1e6, (2e5, 3e5), 3e5, False), SLOPoint(5e5, (5e4, 6e4), 6e4, True)]  # the median of two: the higher
    search = SLOSearch(slo="p99 <= 100 µs", statistic="p99", bound_ns=1e5, strict=False, rate_per_s=5e5, ceiling_per_s=1e6,
                       capacity_per_s=2e6, low_per_s=2e3, high_per_s=2e6, markets=300, orders_per_offer=2_000,
                       cancels_per_order=0.0, repeats=3, tolerance=0.1, offers=4, seconds=0.5, points=points)
    if not met:
        search = replace(search, rate_per_s=0.0, ceiling_per_s=2e3, offers=2,
                         points=[SLOPoint(2e3, (2e5, 3e5), 3e5, False)])
    return replace(search, **changes)


def _plan(search: SLOSearch | None, markets: int = 300, profile: str | None = None, **request: Any) -> dict[str, Any]:
    profiles = load_profiles(None)
    return plan(load_model(), [find_profile(profile, profiles)] if profile else profiles, PlanRequest(markets=markets, **request),
                latency_slo=search)


def test_the_plan_uses_the_slo_rate_for_every_profile():
    report = _plan(_search())
    assert report["latency_slo"]["met"] and report["latency_slo"]["orders_per_s"] == 5e5
    assert "holds up to 500,000 orders/s per core" in report["latency_slo"]["verdict"]
    for p in report["profiles"]:
        assert p["rate_source"] == SLO_RATE_SOURCE and p["orders_per_s_per_core"] == 5e5
        assert "p99 <= 100 µs" in p["rate_basis"]
        # the SLO's rate per core times the model's speed-up of the engines' cores
        assert p["order_capacity_per_s"] == pytest.approx(5e5 * load_model().speedup(p["cores"]))
    with_cancels = _plan(_search(cancels_per_order=1.0))
    assert with_cancels["profiles"][0]["orders_per_s_per_core"] == 2.5e5  # messages / (1 + cancels per order)
    assert "latency_slo" not in _plan(None)


def test_with_no_rate_meeting_the_slo_the_plan_is_made_with_order_capacity_unmet():
    plain, unmet = _plan(None), _plan(_search(met=False))
    assert "no rate meets the latency SLO p99 <= 100 µs" in unmet["latency_slo"]["verdict"]
    assert unmet["recommendation"] is None
    for before, after in zip(plain["profiles"], unmet["profiles"], strict=True):
        assert after["order_capacity_per_s"] == 0 and not after["fits"] and after["machines"] is None
        assert after["rate_source"] == SLO_RATE_SOURCE and "order capacity unmet" in after["rate_basis"]
        # the memory figures stand: the fewest engines that address the load, as without the SLO at this load
        assert after["required_bytes"] == before["required_bytes"] and after["max_markets"] == before["max_markets"]
    with pytest.raises(CapacityError, match="no profile can hold this load"):
        _plan(_search(met=False), markets=10, orders_per_market=1e9, profile="Mac mini M2 8 GB")


# --- lxdex plan --latency-slo ------------------------------------------------------------------------------


def test_plan_latency_slo_json_has_the_section_and_plans_at_its_rate():
    result = run_cli("plan", "--markets", "300", "--latency-slo", "p99<=10ms", "--slo-orders", "2000", "--json")
    report = json.loads(result.stdout)
    s = report["latency_slo"]
    assert s["slo"] == "p99 <= 10 ms" and s["markets"] == s["planned_markets"] == 300 and s["orders_per_offer"] == 2_000
    assert s["points"] and s["offers"] <= 20 and s["capacity_per_s"] > 0
    assert result.exit_code == (0 if s["met"] else 1), result.stderr  # a busy machine may miss even 10 ms: then exit 1, said so
    assert all(p["rate_source"] == SLO_RATE_SOURCE and p["orders_per_s_per_core"] == s["orders_per_s"] for p in report["profiles"])


def test_plan_with_an_impossible_slo_prints_the_plan_says_so_and_exits_1():
    result = run_cli("plan", "--markets", "300", "--latency-slo", "p50<=1ns", "--slo-orders", "1000", "--slo-repeats", "1")
    assert result.exit_code == 1
    assert "latency SLO p50 <= 1 ns" in result.stdout and "unmet" in result.stdout and "recommendation:" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lxdex: error: plan --latency-slo: no rate meets the latency SLO p50 <= 1 ns")


@pytest.mark.parametrize("args, fragment", [
    (["--latency-slo", "p99<1parsec"], "--latency-slo='p99<1parsec': unknown unit 'parsec'"),
    (["--latency-slo", "p99>1us"], "--latency-slo='p99>1us': operator '>'"),
    (["--latency-slo", "p99.99<=1ms", "--slo-orders", "5000"], "--latency-slo='p99.99 <= 1 ms': p99.99 needs at least 10,000 samples per offered run (one beyond the percentile); --slo-orders=5,000"),
    (["--latency-slo", "p99<=1ms", "--slo-repeats", "2"], "--slo-repeats=2: must be odd"),
    (["--latency-slo", "p99<=1ms", "--slo-orders", "10"], "Invalid value for '--slo-orders'"),
])
def test_bad_slo_options_are_one_line_and_exit_2(args, fragment):
    assert_one_line_error(run_cli("plan", "--markets", "300", *args), fragment)


# --- the plan's latency_slo section in a report's results.json ---------------------------------------------


@pytest.fixture(scope="module")
def slo_results() -> dict[str, Any]:
    """A report's results.json whose plan was made with a latency SLO."""
    from lxdex_capacity.reporting.results_schema import check_results

    doc = saved_results()
    doc["plan"] = json.loads(json.dumps(_plan(_search(), markets=doc["simulate"]["markets"]), allow_nan=False))
    check_results(doc, "results.json")
    return doc


def test_a_results_file_with_the_slo_section_reads_back(slo_results):
    from lxdex_capacity.reporting.results_schema import check_results

    unmet = saved_results()
    unmet["plan"] = json.loads(json.dumps(_plan(_search(met=False)), allow_nan=False))
    assert check_results(unmet, "results.json").plan.latency_slo is not None
    assert check_results(slo_results, "results.json").plan.latency_slo is not None


@pytest.mark.parametrize("path, value, fragment", [
    (("latency_slo", "rate_per_s"), -1.0, "plan.latency_slo.rate_per_s=-1.0"),
    (("latency_slo", "bound_ns"), INFINITY, "plan.latency_slo.bound_ns=inf"),
    (("latency_slo", "points", 0, "values_ns", 0), INFINITY, "plan.latency_slo.points[0].values_ns[0]=inf"),
    (("latency_slo", "points"), [], "plan.latency_slo.points=[]"),
    (("latency_slo", "statistic"), "p42", "plan.latency_slo.statistic='p42'"),
    (("latency_slo", "verdict"), "fine\nlxdex: all good", "plan.latency_slo.verdict="),
    (("latency_slo", "met"), False, "plan.latency_slo.met=false: but rate_per_s=500000.0"),
    (("latency_slo", "slo"), "p99 <= 1 ms", "plan.latency_slo.slo='p99 <= 1 ms': not statistic='p99'"),
    (("latency_slo", "slo"), "p99 <= 1 parsec", "plan.latency_slo.slo='p99 <= 1 parsec': unknown unit"),
    (("latency_slo", "rate_per_s"), 7e5, "plan.latency_slo.orders_per_s=500000.0: not rate_per_s / (1 + cancels_per_order)"),
    (("latency_slo", "points", 1, "holds"), False, "plan.latency_slo.points[1].holds=false: but most of its runs meet"),
    (("latency_slo", "verdict"), "all is well", "plan.latency_slo.verdict='all is well': not what its figures say"),
    (("profiles", 0, "orders_per_s_per_core"), 1e6, "plan.profiles[0].orders_per_s_per_core=1000000.0: not plan.latency_slo.orders_per_s"),
    (("latency_slo", "planned_markets"), 21_000, "plan.latency_slo.planned_markets=21000: not the plan's request"),
    (("latency_slo", "points", 0, "median_ns"), 2.5e5, "plan.latency_slo.points[0].median_ns=250000.0: not the median of its values_ns "
                                                       "(the higher middle one of an even count)"),
    (("latency_slo", "points", 0, "achieved_per_s"), [1e-300, 1e6], "plan.latency_slo.points[0].achieved_per_s[0]=1e-300: must be 0 or at least 0.001"),
    (("latency_slo", "low_per_s"), 1e-300, "plan.latency_slo.low_per_s=1e-300: input should be greater than or equal to 0.001"),
    (("latency_slo", "bound_ns"), 0.5, "plan.latency_slo.bound_ns=0.5: input should be greater than or equal to 1"),
])
def test_a_hostile_slo_section_is_refused_naming_the_file_and_key(tmp_path, slo_results, path, value, fragment):
    doc = mutated(slo_results, ("plan", *path), value)
    file = write_json(tmp_path / "results.json", doc)
    result = run_cli("report", "--results", str(file), "--out", str(tmp_path / "report"))
    assert_one_line_error(result, fragment)
    assert f"lxdex: error: {file}: " in result.stderr
    assert not (tmp_path / "report").exists()


def test_a_profile_planned_at_an_slo_needs_the_section(tmp_path, slo_results):
    doc = mutated(slo_results, ("plan", "latency_slo"), None)
    file = write_json(tmp_path / "results.json", doc)
    assert_one_line_error(run_cli("report", "--results", str(file), "--out", str(tmp_path / "r")),
                          "plan.profiles[0].rate_source='latency SLO': but the plan has no latency_slo section")
