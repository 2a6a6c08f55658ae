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
from lxdex_capacity.latency.slo import (
    DEFAULT_MIN_RUNS,
    MAX_RUNS_PER_RATE,
    SATURATED_PER_S,
    LatencySLO,
    SLOPoint,
    SLOSearch,
    highest_rate,
    parse_slo,
)

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
    passes 2 µs at half the capacity; with ``noise`` every seventh offer is 1 s (a preempted run).  Offered every
    message at once (SATURATED_PER_S) it achieves its capacity."""

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
        if self.noise and len(self.offered) % 7 == 1:
            p99 = 1e9
        return _point(p99, min(rate, self.capacity))


def _point(p99: float, achieved: float) -> Any:
    """An offered run as the harness gives it (OfferedRun's fields the search reads), spinning too little to count."""
    return type("Point", (), {"latency": _percentiles(p99=p99, p999=p99, p9999=p99, top=p99), "achieved_per_s": achieved,
                              "spin_s": 0.0, "lost_share": 0.0})()


def _searched(rig: FakeRig) -> list[float]:
    """The rates the search judged: every offer but the capacity's (at SATURATED_PER_S)."""
    return [r for r in rig.offered if r != SATURATED_PER_S]


def test_the_search_brackets_the_highest_rate_within_the_tolerance():
    rig = FakeRig()
    search = highest_rate(rig, parse_slo("p99<=2us"), tolerance=0.05)  # p99 = 2 µs at half the capacity: 1,000,000/s
    assert search.met and search.outcome == "holds" and 0.95e6 <= search.rate_per_s <= 1e6
    assert search.ceiling_per_s is not None and 1e6 < search.ceiling_per_s <= search.rate_per_s * 1.05 + 1e-6
    assert search.offers == len(rig.offered) and search.capacity_per_s == 2e6
    assert all(p.holds == (p.rate_per_s <= 1e6) for p in search.points)
    assert all(len(p.values_ns) == DEFAULT_MIN_RUNS for p in search.points)  # no noise: decided after the fewest runs
    assert search.samples_per_run == 20_000 and search.beyond_per_run == 200  # p99 of 20,000: 200 samples beyond it
    assert "holds up to" in search.summary() and "200 beyond the p99" in search.summary()


def test_no_rate_above_the_capacity_measured_in_the_same_run_is_searched_or_reported():
    # One message at a time the rig serves 8M/s, but flat out it sustains 2M/s: the search stops at 2M/s.
    rig = FakeRig()
    rig.service = lambda: type("Service", (), {"capacity_per_s": 8e6})()  # type: ignore[method-assign]
    search = highest_rate(rig, parse_slo("max<=1s"))
    assert search.capacity_per_s == 2e6 and search.high_per_s == 2e6 and search.service_capacity_per_s == 8e6
    assert search.rate_per_s <= search.capacity_per_s and max(_searched(rig)) <= 2e6
    assert search.capacity is not None and search.capacity["value"] == 2e6


def test_many_messages_per_run_still_start_the_search_below_the_capacity():
    """With 10M messages per run, the rate that offers one in a second (10M/s) is above the capacity (2M/s): the
    lowest rate is capped at a quarter of the capacity, so the search tries rates the engine keeps up with."""
    rig = FakeRig(orders_per_rate=10_000_000)
    search = highest_rate(rig, parse_slo("p99<=2us"), tolerance=0.2)
    assert search.low_per_s == 2e6 / 4 and min(_searched(rig)) < 2e6
    assert search.met and 0.8e6 <= search.rate_per_s <= 1e6  # p99 = 2 µs at half the capacity
    never = highest_rate(FakeRig(orders_per_rate=10_000_000), parse_slo("p99<1us"))
    assert not never.met and never.outcome == "fails" and never.low_per_s == 5e5 and min(p.rate_per_s for p in never.points) == 5e5


def test_a_rate_whose_runs_straddle_the_bound_does_not_hold_and_says_too_noisy():
    @dataclass
    class AlternatingRig(FakeRig):  # runs alternate 100 ns and 10 ms whatever the rate
        def offer(self, rate: float) -> Any:
            self.offered.append(rate)
            return _point(100.0 if len(self.offered) % 2 else 1e7, min(rate, self.capacity))

    search = highest_rate(AlternatingRig(), parse_slo("p99<=1ms"), high=5e5, low=4e5)
    assert not search.met and search.rate_per_s == 0
    assert all(p.verdict == "too noisy to call" and not p.holds and len(p.values_ns) == MAX_RUNS_PER_RATE for p in search.points)
    assert search.outcome == "too noisy to call" and "no rate tried could be told" in search.reason


def test_a_preempted_run_now_and_then_does_not_decide_a_rate():
    search = highest_rate(FakeRig(noise=True), parse_slo("p99<=2us"), tolerance=0.2)
    assert search.met and 0.8e6 <= search.rate_per_s <= 1e6
    assert any(len(p.values_ns) > DEFAULT_MIN_RUNS for p in search.points)  # a run of 1 s: more runs until decided


def test_an_slo_met_at_the_capacity_answers_the_capacity_and_one_never_met_answers_zero():
    generous = highest_rate(FakeRig(), parse_slo("max<=1s"))  # met at any rate the engine keeps up with: up to its capacity
    assert generous.high_per_s == 2e6 and generous.rate_per_s == 2e6 and generous.ceiling_per_s is None
    unbounded = highest_rate(FakeRig(capacity=1e12), parse_slo("max<=1s"), high=5e6)
    assert unbounded.rate_per_s == unbounded.high_per_s == 5e6 and unbounded.ceiling_per_s is None
    rig = FakeRig()
    never = highest_rate(rig, parse_slo("p99<1us"))  # p99 is above 1 µs at any rate
    assert never.rate_per_s == 0.0 and not never.met and not any(p.holds for p in never.points) and never.outcome == "fails"
    assert min(_searched(rig)) == never.low_per_s == max(2e6 / 1024, 20_000 / 1.0)
    assert never.summary().startswith("no rate meets p99 < 1 µs on this machine: even at 20,000")


def test_the_search_refuses_what_it_cannot_judge():
    with pytest.raises(InputError, match=r"p99\.99 needs at least 10,000 samples"):
        highest_rate(FakeRig(orders_per_rate=5_000), parse_slo("p99.99<=1ms"))
    with pytest.raises(InputError, match="repeats=0: must be a number of runs from 1 to 15"):
        highest_rate(FakeRig(), parse_slo("p99<=1ms"), repeats=0)
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
    if search.outcome == "too noisy to call":  # the machine was busy meanwhile: that is the right answer then
        pytest.skip(f"the machine was busy: {search.reason}")
    assert search.met and search.rate_per_s >= search.low_per_s > 0
    assert search.markets == 300 and search.orders_per_offer == 2_000 and search.rate_per_s <= search.capacity_per_s
    assert any(p.holds and p.rate_per_s == search.rate_per_s for p in search.points)


def test_an_impossible_slo_finds_no_rate_on_a_real_rig(small_rig):
    search = highest_rate(small_rig, parse_slo("p50<=1ns"), low=50_000)  # from 50,000/s: quick runs
    if search.outcome == "too noisy to call":
        pytest.skip(f"the machine was busy: {search.reason}")
    assert search.rate_per_s == 0.0 and not search.met and search.points
    assert min(p.rate_per_s for p in search.points) == 50_000
    assert all(not p.holds and p.median_ns > 1 for p in search.points)


# --- the plan at the SLO's rate --------------------------------------------------------------------------


def _search(met: bool = True, **changes: Any) -> SLOSearch:
    """A search as highest_rate makes it, its figures made up: met at 500,000/s (1,000,000/s fails), or never met."""
    points = [SLOPoint(1e6, (2e5, 3e5, 2.5e5), 2.5e5, False, verdict="fails", low_ns=2e5, high_ns=3e5),
              SLOPoint(5e5, (5e4, 6e4, 5.5e4), 5.5e4, True, verdict="holds", low_ns=5e4, high_ns=6e4)]
    search = SLOSearch(slo="p99 <= 100 µs", statistic="p99", bound_ns=1e5, strict=False, rate_per_s=5e5, ceiling_per_s=1e6,
                       capacity_per_s=2e6, low_per_s=2e3, high_per_s=2e6, markets=300, orders_per_offer=2_000,
                       cancels_per_order=0.0, repeats=3, tolerance=0.1, offers=8, seconds=0.5, points=points,
                       service_capacity_per_s=2.5e6, samples_per_run=2_000, beyond_per_run=20)
    if not met:
        search = replace(search, rate_per_s=0.0, ceiling_per_s=2e3, offers=4, outcome="fails",
                         points=[SLOPoint(2e3, (2e5, 3e5, 2.5e5), 2.5e5, False, verdict="fails", low_ns=2e5, high_ns=3e5)])
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
    assert s["points"] and s["capacity_per_s"] > 0 and s["rate_per_s"] <= s["capacity_per_s"]
    # a busy machine makes the search too noisy to call (exit 0, said on stderr); a quiet one meets 10 ms
    assert result.exit_code == (1 if s["outcome"] == "fails" else 0), result.stderr
    assert all(p["rate_source"] == SLO_RATE_SOURCE and p["orders_per_s_per_core"] == s["orders_per_s"] for p in report["profiles"])


def test_plan_with_an_impossible_slo_prints_the_plan_says_so_and_exits_1():
    result = run_cli("plan", "--markets", "300", "--latency-slo", "p50<=1ns", "--slo-orders", "1000", "--slo-repeats", "3")
    if "too noisy to call" in result.stderr:
        pytest.skip("the machine was busy: the search could not tell")
    assert result.exit_code == 1
    assert "latency SLO p50 <= 1 ns" in result.stdout and "unmet" in result.stdout and "recommendation:" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lxdex: error: plan --latency-slo: no rate meets the latency SLO p50 <= 1 ns")


@pytest.mark.parametrize("args, fragment", [
    (["--latency-slo", "p99<1parsec"], "--latency-slo='p99<1parsec': unknown unit 'parsec'"),
    (["--latency-slo", "p99>1us"], "--latency-slo='p99>1us': operator '>'"),
    (["--latency-slo", "p99.99<=1ms", "--slo-orders", "5000"], "--latency-slo='p99.99 <= 1 ms': p99.99 needs at least 10,000 samples per offered run (one beyond the percentile); --slo-orders=5,000"),
    (["--latency-slo", "p99<=1ms", "--slo-repeats", "16"], "Invalid value for '--slo-repeats'"),
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
    (("latency_slo", "met"), False, "plan.latency_slo.met=false: but outcome='holds', rate_per_s=500000.0"),
    (("latency_slo", "slo"), "p99 <= 1 ms", "plan.latency_slo.slo='p99 <= 1 ms': not statistic='p99'"),
    (("latency_slo", "slo"), "p99 <= 1 parsec", "plan.latency_slo.slo='p99 <= 1 parsec': unknown unit"),
    (("latency_slo", "rate_per_s"), 7e5, "plan.latency_slo.orders_per_s=500000.0: not rate_per_s / (1 + cancels_per_order)"),
    (("latency_slo", "points", 1, "holds"), False, "plan.latency_slo.points[1].holds=false: but its verdict is 'holds'"),
    (("latency_slo", "points", 0, "verdict"), "holds", "plan.latency_slo.points[0].holds=false: but its verdict is 'holds'"),
    (("latency_slo", "points", 1, "high_ns"), 2e5, "plan.latency_slo.points[1]: low_ns=50000.0 <= median_ns=55000.0 <= high_ns=200000.0"),
    (("latency_slo", "rate_per_s"), 3e6, "plan.latency_slo.rate_per_s=3000000.0: above the capacity_per_s=2000000.0"),
    (("latency_slo", "outcome"), "too noisy to call", "plan.latency_slo.met=true: but outcome='too noisy to call'"),
    (("latency_slo", "verdict"), "all is well", "plan.latency_slo.verdict='all is well': not what its figures say"),
    (("profiles", 0, "orders_per_s_per_core"), 1e6, "plan.profiles[0].orders_per_s_per_core=1000000.0: not plan.latency_slo.orders_per_s"),
    (("latency_slo", "planned_markets"), 21_000, "plan.latency_slo.planned_markets=21000: not the plan's request"),
    (("latency_slo", "points", 0, "median_ns"), 1e6, "plan.latency_slo.points[0]: low_ns=200000.0 <= median_ns=1000000.0"),
    (("latency_slo", "points", 0, "achieved_per_s"), [1e-300, 1e6, 1e6], "plan.latency_slo.points[0].achieved_per_s[0]=1e-300: must be 0 or at least 0.001"),
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
