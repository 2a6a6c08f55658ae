"""Hostile claims files, simulate.json and results.json: every bad value is one line naming the file and
the key (exit 2), never a traceback, a warning, or a report of nonsense; and what the code writes reads back.

Saved documents start from a real tiny run (:mod:`helpers.results`) and change one key at a time.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import Result, assert_one_line_error, run_cli
from helpers.results import (
    DELETE,
    INFINITY,
    fail_shard_after_seeding,
    mutated,
    saved_results,
    saved_simulation,
    write_json,
)
from lxdex_capacity.errors import InputError
from lxdex_capacity.simulation.results import SimulationResult


def _key(text: str) -> tuple[str | int, ...]:
    """``"phases[1].components.orders"`` -> ``("phases", 1, "components", "orders")``."""
    return tuple(int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", text))


def _cli(*args: str) -> Result:
    """``lxdex ARGS`` with every warning an error: a numpy or matplotlib warning on the way fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return run_cli(*args)


def _refused(option: str, doc: Any, tmp_path: Path, fragment: str) -> None:
    """``lxdex report OPTION FILE`` refuses ``doc``: exit 2, one line naming the file and ``fragment``, no folder written."""
    path = write_json(tmp_path / "in.json", doc)
    out = tmp_path / "report"
    result = _cli("report", option, str(path), "--out", str(out))
    assert_one_line_error(result, fragment)
    assert f"lxdex: error: {path}: " in result.stderr, result.stderr
    assert not out.exists()


# --- simulate.json ----------------------------------------------------------------------------------

SIMULATE_NUMBERS = [
    "seed", "markets", "universe.securities", "universe.crypto", "scenario.markets", "scenario.trades", "scenario.pareto_alpha",
    "scenario.trades_retained", "scenario.tiers[0].high", "execution.shards", "baseline.rss_bytes", "estimate_bytes",
    "phases[0].markets", "phases[1].resting_orders", "phases[1].price_levels", "phases[2].trades", "phases[2].trades_retained",
    "phases[2].engine_bytes_used", "phases[2].engine_bytes_reserved", "phases[2].components.orders.bytes_used",
    "phases[1].rss_bytes", "phases[1].book_bytes_per_order", "phases[2].seconds", "per_market_bytes", "per_order_bytes",
    "throughput.orders_per_s", "throughput.flow_orders", "throughput.flow_seconds", "throughput.lookups_per_s",
    "throughput.random_access_ns_p50", "throughput.random_access_histogram.edges[0]",
    "throughput.random_access_histogram.counts[0]", "throughput.parallel_orders_per_s", "elapsed_s",
    "breakdown.all.markets", "breakdown.all.total_mean", "breakdown.tiers[0].resting_orders_mean",
    "breakdown.engine_bytes_used", "breakdown.spare_pool_bytes_per_market", "distributions.depth_by_rank.rank[0]",
    "distributions.depth_by_rank.resting_orders[0]", "distributions.trades_lorenz.activity_share[1]",
    "distributions.trades_top_share", "distributions.top_market_share", "machine.cores", "machine.memory_bytes",
]
SIMULATE_TEXTS = ["version", "execution.mode", "execution.assignment", "phases[0].name", "throughput.random_access_method",
                  "breakdown.all.name", "machine.processor"]
SIMULATE_FLAGS = ["stalled", "scenario.stationary"]
SIMULATE_LISTS = ["phases", "shards", "failed_shards", "breakdown.tiers", "distributions.depth_by_rank.rank",
                  "distributions.trades_lorenz.market_share", "throughput.random_access_histogram.edges"]
SIMULATE_TABLES = ["universe", "scenario", "execution", "baseline", "throughput", "machine", "phases[1]", "phases[1].components",
                   "throughput.random_access_histogram", "breakdown.all", "distributions.depth_by_rank"]
# Wrong for every key of its kind: each must be refused naming that key.
NUMBER_MUTATIONS = [INFINITY, -1, "12", True, [], {}, None, DELETE]
TEXT_MUTATIONS = [5, True, [], "", None, DELETE]
FLAG_MUTATIONS = ["yes", 1, None, [], DELETE]
LIST_MUTATIONS = ["x", {}, 5, None, DELETE]
TABLE_MUTATIONS = ["x", [], 5, True, DELETE]


def _typed_cases(numbers: list[str], texts: list[str], flags: list[str], lists: list[str], tables: list[str], per_key: int = 2) -> list[Any]:
    """``per_key`` mutations of each key, taken in turn from its kind's list, so the keys of a kind share out every mutation."""
    cases = []
    for keys, mutations in ((numbers, NUMBER_MUTATIONS), (texts, TEXT_MUTATIONS), (flags, FLAG_MUTATIONS), (lists, LIST_MUTATIONS),
                            (tables, TABLE_MUTATIONS)):
        turn = 0
        for key in keys:
            for _ in range(per_key):
                value = mutations[turn % len(mutations)]
                turn += 1
                if value is DELETE and key.endswith("]"):
                    value = mutations[turn % len(mutations)]  # removing a list item moves the next one up: not a missing key
                    turn += 1
                shown = "delete" if value is DELETE else ("1e999" if value == INFINITY else repr(value))
                cases.append(pytest.param(key, value, id=f"{key}={shown}"))
    return cases


def _names_the_key(key: str, value: Any) -> str:
    """What the one line must hold: the key, with its value or 'is required'."""
    if value is DELETE:
        return f"{key} is required"
    return f"{key}=inf" if value == INFINITY else f"{key}="


@pytest.mark.parametrize("key, value", _typed_cases(SIMULATE_NUMBERS, SIMULATE_TEXTS, SIMULATE_FLAGS, SIMULATE_LISTS, SIMULATE_TABLES))
def test_a_simulate_file_with_a_wrong_value_is_refused_naming_the_key(tmp_path, key, value):
    doc = mutated(saved_simulation(), _key(key), value)
    _refused("--simulate", doc, tmp_path, _names_the_key(key, value))


SHARDED_NUMBERS = ["shards[0].shard", "shards[1].markets", "shards[0].expected_flow_share", "shards[0].expected_resting_orders",
                   "shards[1].resting_orders", "shards[0].flow_seconds", "shards[1].orders_per_s", "shards[0].peak_rss_bytes",
                   "shards[1].elapsed_s"]


@pytest.mark.parametrize("key, value", _typed_cases(SHARDED_NUMBERS, [], [], [], ["shards[0]"]))
def test_a_sharded_simulate_file_with_a_wrong_value_is_refused_naming_the_key(tmp_path, key, value):
    doc = mutated(saved_simulation(shards=2), _key(key), value)
    _refused("--simulate", doc, tmp_path, _names_the_key(key, value))


# Values of the right type that no run can produce: the rules between keys.
SIMULATE_NONSENSE = [
    ("markets", -100, "markets=-100: input should be greater than or equal to 1"),
    ("markets", 0, "markets=0"),
    ("markets", 100_000_001, "markets=100000001"),
    ("markets", 299, "markets=299: the scenario has 300 markets"),
    ("seed", 7, "seed=7: the scenario's seed is 0"),
    ("phases", [], "phases must be empty, seeded, traded in that order, not []"),
    ("phases", "empty", "phases='empty': input should be a valid list"),
    ("phases[2]", DELETE, "phases must be empty, seeded, traded in that order, not ['empty', 'seeded']"),
    ("phases[0].name", "traded", "phases must be empty, seeded, traded in that order"),
    ("phases[1].markets", 3, "phases[1].markets=3: the run has markets=300"),
    ("phases[0].resting_orders", 5, "phases[0]: the empty phase holds no orders"),
    ("phases[1].trades", 5, "phases[1].trades=5: the seeded phase has no trades"),
    ("phases[2].engine_bytes_reserved", 1, "phases[2].engine_bytes_used="),
    ("phases[2].uss_bytes", 10**15, "phases[2].uss_bytes=1000000000000000: more than rss_bytes"),
    ("phases[2].components.orders.bytes_used", 0, "phases[2].components add up to"),
    ("phases[2].trades_retained", 0, "phases[2].trades_retained=0"),
    ("phases[1].price_levels", 10**9, "phases[1].price_levels=1000000000: more price levels than resting orders"),
    ("per_market_bytes", 1.0, "per_market_bytes=1.0: not the traded phase's engine bytes used per market"),
    ("universe.crypto", 5, "universe: "),
    ("scenario", "oops", "scenario='oops'"),
    ("scenario.markets", -100, "scenario.markets=-100"),
    ("scenario.pareto_alpha", DELETE, "scenario.pareto_alpha is required"),
    ("scenario.colour", "red", "unknown key 'colour' in scenario"),
    ("throughput.orders_per_s", 1e12, "throughput.orders_per_s=1000000000000.0: not flow_orders / flow_seconds"),
    ("throughput.random_access_ns_p50", 1e9, "throughput.random_access_ns_p50=1000000000.0: above the p99"),
    ("throughput.random_access_histogram.edges", [], "throughput.random_access_histogram: 0 edges for 48 counts"),
    ("throughput.random_access_histogram.edges[1]", 0.5, "throughput.random_access_histogram.edges must increase"),
    ("market_checksum", "abc", "market_checksum='abc'"),
    ("market_checksum", "F" * 64, "market_checksum="),
    ("market_checksum", None, "market_checksum and tape_checksum are set when every shard finished"),
    ("tape_checksum", 5, "tape_checksum=5: input should be a valid string"),
    ("breakdown.components.orders", DELETE, "breakdown.all.bytes_mean must have a figure per component"),
    ("breakdown.components.orders", "", "breakdown.components.orders=''"),
    ("failed_shards", [0], "market_checksum and tape_checksum are set when every shard finished"),
    ("failed_shards", [3], "failed_shards=[3]: must list distinct shards below execution.shards=1"),
    ("execution.mode", "dusk", "execution.mode='dusk'"),
    ("execution.shards", 2, "execution.shards=2: a run in one process has one shard"),
    ("stalled", True, "stalled=true: but the traded phase reached"),
    ("breakdown.all.total_mean", 0, "breakdown.all.total_mean=0"),
    ("breakdown.all.total_mean", 1.0, "breakdown.all.total_mean=1.0: not the sum of its bytes_mean"),
    ("breakdown.all.bytes_mean.orders", DELETE, "breakdown.all.bytes_mean must have a figure per component"),
    ("breakdown.engine_bytes_used", 1, "breakdown.engine_bytes_used=1, engine_bytes_reserved="),
    ("distributions.depth_by_rank.rank[0]", 301, "distributions.depth_by_rank.rank: ranks must increase, from 1 to markets=300"),
    ("distributions.depth_by_rank.resting_orders", [], "distributions.depth_by_rank: rank and resting_orders must have the same length"),
    ("distributions.trades_lorenz.activity_share[1]", 0.9, "distributions.trades_lorenz: a Lorenz curve never decreases"),
    ("distributions.top_market_share", 0.5, "distributions.top_market_share=0.5: not the scenario's market_share=0.2"),
    ("machine.cores", 0, "machine.cores=0"),
    ("breakdown", None, "breakdown=None: must be a table of keys"),
    ("distributions", None, "distributions=None: must be a table of keys"),
    ("format", "lxdex-simulate/1", "not an lxdex simulate result of this version (format='lxdex-simulate/1'"),
    ("format", DELETE, "not an lxdex simulate result of this version (format=None"),
]


@pytest.mark.parametrize("key, value, fragment", [pytest.param(*case, id=f"{case[0]}={case[1]!r:.30}") for case in SIMULATE_NONSENSE])
def test_a_simulate_file_holding_nonsense_is_refused(tmp_path, key, value, fragment):
    _refused("--simulate", mutated(saved_simulation(), _key(key), value), tmp_path, fragment)


def _shard_markets(doc: dict[str, Any]) -> dict[str, Any]:
    return mutated(doc, ("shards", 0, "markets"), doc["shards"][0]["markets"] + 1)


SHARDED_NONSENSE = [
    (lambda d: _shard_markets(d), "shards: their markets add up to 301, not markets=300"),
    (lambda d: mutated(d, ("shards",), []), "shards lists 0 shards, execution.shards=2"),
    (lambda d: mutated(d, ("shards", 1, "shard"), 0), "shards[1].shard=0: shards are listed in order, from 0"),
    (lambda d: mutated(d, ("shards", 0, "markets"), 0), "shards[0].markets=0"),
    (lambda d: mutated(d, ("shards", 0, "expected_flow_share"), 1.5), "shards[0].expected_flow_share=1.5"),
    (lambda d: mutated(d, ("shards", 0, "expected_flow_share"), 0.0), "shards: their expected_flow_share add up to"),
    (lambda d: mutated(d, ("shards", 0, "error"), "disk on fire"), "shards[0].error='disk on fire': a shard has an error exactly when"),
    (lambda d: mutated(d, ("shards", 0, "trades"), 0), "shards: their trades add up to"),
    (lambda d: mutated(d, ("execution", "mode"), "process"), "execution.shards=2: a run in one process has one shard"),
    (lambda d: mutated(d, ("execution", "shards"), 3), "shards lists 2 shards, execution.shards=3"),
]


@pytest.mark.parametrize("change, fragment", [pytest.param(*case, id=case[1][:40]) for case in SHARDED_NONSENSE])
def test_a_sharded_simulate_file_whose_shards_do_not_add_up_is_refused(tmp_path, change, fragment):
    _refused("--simulate", change(saved_simulation(shards=2)), tmp_path, fragment)


@pytest.mark.parametrize(
    "text, fragment",
    [("[1, 2]", "not an lxdex simulate result of this version (a JSON list, not an object"),
     ('{"format": "lxdex-simulate/2", "markets": NaN}', "NaN is not a number (JSON has no NaN or infinity)"),
     ('{"format": "lxdex-simulate/2", "markets": Infinity}', "Infinity is not a number"),
     ("", "malformed JSON at line 1"),
     ('{"format": "lxdex-simulate/2"}', "version is required")],
)
def test_a_simulate_file_that_is_not_a_result_is_refused(tmp_path, text, fragment):
    path = tmp_path / "in.json"
    path.write_text(text)
    out = tmp_path / "report"
    result = _cli("report", "--simulate", str(path), "--out", str(out))
    assert_one_line_error(result, fragment)
    assert str(path) in result.stderr and not out.exists()


# --- results.json -----------------------------------------------------------------------------------

RESULTS_NUMBERS = [
    "simulate.markets", "simulate.phases[2].engine_bytes_used", "simulate.throughput.orders_per_s", "environment.cores",
    "environment.memory_bytes", "model.runtime_bytes", "model.fit.r2", "model.fit.dof", "model.fit.n_points",
    "model.fit.coefficients.markets.value", "model.largest_markets", "model.reserved_ratio.max",
    "model.throughput_per_core[0].orders_per_s", "model.points[0].markets", "model.points[0].engine_bytes_used",
    "model.validation[0].measured_bytes", "plan.request.markets", "plan.request.safety", "plan.request.order_rate",
    "plan.model.runtime_bytes", "plan.model.largest_markets_measured", "plan.engine_bytes", "plan.profiles[0].memory_bytes",
    "plan.profiles[0].usable_bytes", "plan.profiles[0].required_bytes", "plan.profiles[0].max_markets",
    "plan.profiles[0].order_capacity_per_s", "plan.profiles[0].order_rate_use_pct", "plan.scaling[0].markets",
    "plan.scaling[0].orders_per_market", "plan.scaling[0].required_bytes",
]
RESULTS_TEXTS = ["created", "command", "environment.processor", "simulate.version", "model.format", "plan.profiles[0].name",
                 "plan.profiles[0].kind", "plan.profiles[0].bottleneck"]
RESULTS_FLAGS = ["plan.profiles[0].fits", "plan.model.extrapolated", "plan.scaling[0].extrapolated", "simulate.stalled"]
RESULTS_LISTS = ["plan.profiles", "plan.scaling", "model.throughput_per_core", "simulate.phases"]
RESULTS_TABLES = ["environment", "simulate", "model", "plan", "plan.request", "plan.model", "model.fit", "plan.profiles[0]"]


@pytest.mark.parametrize("key, value", _typed_cases(RESULTS_NUMBERS, RESULTS_TEXTS, RESULTS_FLAGS, RESULTS_LISTS, RESULTS_TABLES))
def test_a_results_file_with_a_wrong_value_is_refused_naming_the_key(tmp_path, key, value):
    doc = mutated(saved_results(), _key(key), value)
    _refused("--results", doc, tmp_path, _names_the_key(key, value))


RESULTS_NONSENSE = [
    ("simulate.markets", -100, "simulate.markets=-100"),
    ("simulate.phases", [], "simulate.phases must be empty, seeded, traded in that order, not []"),
    ("simulate.phases[1].engine_bytes_used", -5, "simulate.phases[1].engine_bytes_used=-5"),
    ("simulate.shards", [{}], "simulate.shards[0].shard is required"),
    ("plan.request.markets", 21_000, "plan.request.markets=21000: the report plans for the simulated markets (300)"),
    ("plan.profiles", [], "plan.profiles=[]"),
    ("plan.profiles[0].usable_bytes", -5, "plan.profiles[0].usable_bytes=-5"),
    ("plan.profiles[0].usable_bytes", 10**30, "plan.profiles[0].usable_bytes="),
    ("plan.profiles[0].required_bytes_low", 1e30, "plan.profiles[0].required_bytes_low="),
    ("plan.profiles[0].machines_n_plus_1", 100, "plan.profiles[0].machines_n_plus_1=100: must be "),
    ("plan.profiles[0].required_bytes", 1.0, "plan.profiles[0].required_bytes=1.0: not the estimator's required memory"),
    ("plan.profiles[0].headroom_pct", 50.0, "plan.profiles[0].headroom_pct=50.0: not 100 x (usable_bytes - required_bytes) / usable_bytes"),
    ("plan.profiles[0].headroom_pct", -5.0, "plan.profiles[0].headroom_pct=-5.0: input should be greater than or equal to 0"),
    ("plan.engine_bytes", 1.0, "plan.engine_bytes=1.0: not the estimator's engine bytes used for the planned load"),
    ("plan.request.resting_orders", 1.0, "plan.request.resting_orders=1.0: not orders_per_market x markets"),
    ("plan.model.r2", 0.5, "plan.model.r2=0.5: not the model's fit.r2"),
    ("plan.scaling[0].required_bytes", 1.0, "plan.scaling[0].required_bytes=1.0: not the estimator's required memory"),
    ("plan.recommendation.profile", "Abacus 2", "plan.recommendation.profile='Abacus 2': not the cheapest way its profiles give"),
    ("plan.recommendation.yearly_cost_usd", 1e15, "plan.recommendation.yearly_cost_usd=1000000000000000.0: not the cheapest way"),
    ("plan.load.markets", 301, "plan.load.markets=301: not the plan's request (300)"),
    ("plan.load.safety", 7.0, "plan.load.safety=7.0: not the plan's request"),
    ("plan.estimate.process_rss.bytes", 0.0, "plan.estimate.process_rss.bytes=0.0: not the estimator's figures"),
    ("plan.estimate.load", {}, "plan.estimate.load.markets is missing"),
    ("plan.cheapest_fit", "Abacus 2", "plan.cheapest_fit='Abacus 2': not a profile of the plan that fits"),
    ("plan.model.runtime_bytes", 1.0, "plan.model.runtime_bytes=1.0: not the model's runtime_bytes"),
    ("plan.model.extrapolated", True, "plan.model.extrapolated=True"),
    ("plan.model.coefficients.markets", 1.0, "plan.model.coefficients: not the model's fit"),
    ("plan.model.provenance.created", "now", "plan.model.provenance: not the model's provenance"),
    ("plan.scaling[0].smallest_fit", "Abacus 2", "plan.scaling[0].smallest_fit='Abacus 2': not a profile of the plan"),
    # A modelled profile (issue 23): its rate follows from its rate_model, its capacity from the rate and the speedup.
    ("plan.profiles[0].orders_per_s_per_core", 1e9, "plan.profiles[0].order_capacity_per_s="),
    ("plan.profiles[0].order_capacity_per_s", 1e9, "plan.profiles[0].order_capacity_per_s=1000000000.0: not orders_per_s_per_core x speedup"),
    ("plan.profiles[0].rate_model", None, "plan.profiles[0].rate_model: set exactly when rate_source is 'modelled'"),
    ("plan.profiles[0].rate_source", "extrapolated", "plan.profiles[0].rate_model: set exactly when rate_source is 'modelled'"),
    ("plan.profiles[0].rate_model.engines_sharing", 999, "plan.profiles[0].rate_model.engines_sharing=999"),
    ("plan.profiles[0].rate_model.ns_per_order_alone", 1.0, "plan.profiles[0].orders_per_s_per_core="),
    ("plan.profiles[0].rate_model.levels[0].flow_share_held", 2.0, "plan.profiles[0].rate_model.levels[0].flow_share_held=2.0"),
    ("model.fit.coefficients.markets.value", -3.0, "model.fit.coefficients.markets.value=-3.0"),
    ("model.fit.covariance", [[1.0]], "model.fit.covariance="),
    ("model.points[0].resting_orders", 0, "model.points[0].resting_orders=0"),
    ("created", "yesterday", "created='yesterday'"),
    ("colour", "red", "unknown key 'colour'"),
    ("format", "lxdex-capacity-report/0", "not an lxdex report results file (format='lxdex-capacity-report/0'"),
]


@pytest.mark.parametrize("key, value, fragment", [pytest.param(*case, id=f"{case[0]}={case[1]!r:.30}") for case in RESULTS_NONSENSE])
def test_a_results_file_holding_nonsense_is_refused(tmp_path, key, value, fragment):
    _refused("--results", mutated(saved_results(), _key(key), value), tmp_path, fragment)


def test_a_results_file_whose_model_has_no_default_points_is_refused(tmp_path):
    doc = saved_results()
    # Renamed, not removed: the fit must stay the one its points give (a model without them is refused before).
    for point in doc["model"]["points"]:
        point["variant"] = "long-tape"
    _refused("--results", doc, tmp_path, "model.points: none of the default variant")


# --- what the code writes reads back ------------------------------------------------------------------


@pytest.mark.slow  # three report runs, ~8 s; the saved files it round-trips are read back by the fast tests above; CI runs it in the slow pass
def test_a_saved_run_round_trips_through_report_simulate_and_report_results(tmp_path):
    """A tiny run simulated in this process and saved as ``lxdex simulate --out`` saves it, rendered by
    ``report --simulate``; its results.json rendered again by ``report --results``: the same report."""
    from lxdex_capacity.reporting.report import RESULTS_FORMAT
    from lxdex_capacity.reporting.results_schema import RESULTS_FORMAT as SCHEMA_FORMAT

    assert RESULTS_FORMAT == SCHEMA_FORMAT
    simulate_json = write_json(tmp_path / "simulate.json", saved_simulation())
    first = _cli("report", "--simulate", str(simulate_json), "--out", str(tmp_path / "a"))
    assert first.exit_code == 0, first.stderr
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert saved["simulate"] == saved_simulation()
    again = _cli("report", "--results", str(tmp_path / "a" / "results.json"), "--out", str(tmp_path / "b"))
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "b" / "report.md").read_text() == (tmp_path / "a" / "report.md").read_text()


@pytest.mark.parametrize("shards", [1, 2])
def test_the_schemas_read_back_what_the_code_writes(shards):
    from lxdex_capacity.reporting.results_schema import check_results
    from lxdex_capacity.simulation import results, run

    assert results.MAX_SHARDS == run.MAX_SHARDS
    doc = saved_simulation(shards=shards)
    assert SimulationResult.from_dict(doc, "simulate.json").to_dict() == doc
    check_results(saved_results(shards=shards), "results.json")


def test_a_run_with_a_failed_shard_reads_back(monkeypatch):
    """A run that lost a shard has no checksums, and figures that cover the others: still a valid file."""
    from lxdex_capacity.scenarios.config import Scenario
    from lxdex_capacity.simulation import simulate

    fail_shard_after_seeding(monkeypatch)
    doc = json.loads(json.dumps(simulate(Scenario(markets=300, trades=2_000, batch=256), shards=3).to_dict(), allow_nan=False))
    assert doc["failed_shards"] == [1] and doc["market_checksum"] is None
    assert SimulationResult.from_dict(doc, "simulate.json").to_dict() == doc
    with pytest.raises(InputError, match=r"simulate\.json: market_checksum and tape_checksum are set when every shard finished"):
        SimulationResult.from_dict(mutated(doc, ("failed_shards",), []), "simulate.json")


# --- claims files -----------------------------------------------------------------------------------

CLAIM = """[source]
title = "tiny"

[[claim]]
id = "a"
metric = "memory"
markets = 500
at_most = "10 MB"
"""


def _claim_with(key: str, value: str) -> str:
    """:data:`CLAIM` with ``key = value`` (replacing the claim's ``key``, or added to it)."""
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE)
    return pattern.sub(f"{key} = {value}", CLAIM) if pattern.search(CLAIM) else CLAIM + f"{key} = {value}\n"


CLAIMS_NONSENSE = [
    ("at_most", "nan", "line 8: claim[0].at_most=nan: must be a finite number"),
    ("at_most", "inf", "line 8: claim[0].at_most=inf: must be a finite number"),
    ("at_most", "-inf", "claim[0].at_most=-inf: must be a finite number"),
    ("at_most", '"1e999 MB"', "line 8: claim[0].at_most='1e999 MB': must be a finite number"),
    ("at_most", '"1e15 GB"', "claim[0].at_most='1e15 GB': is beyond any machine: at most 1 EB"),
    ("at_most", '"1e300 GB"', "claim[0].at_most='1e300 GB': must be a finite number"),
    ("at_most", '"-5 MB"', "claim[0].at_most='-5 MB': must not be negative"),
    ("at_most", "-5", "claim[0].at_most=-5: must not be negative"),
    ("at_most", "true", "claim[0].at_most=True: must be a number or a string with a unit"),
    ("at_most", '["10 MB"]', "claim[0].at_most=['10 MB']: must be a number or a string with a unit"),
    ("at_most", '"10 parsecs"', "claim[0].at_most='10 parsecs': must be a number with one of the units"),
    ("at_most", '"10 ns"', "claim[0].at_most='10 ns': must be a number with one of the units b, kb"),
    ("metric", '["memory"]', "line 6: claim[0].metric=['memory']: input should be 'memory'"),
    ("metric", '"speed"', "claim[0].metric='speed'"),
    ("markets", "-100", "line 7: claim[0].markets=-100: input should be greater than or equal to 1"),
    ("markets", "0", "claim[0].markets=0"),
    ("markets", "100000001", "claim[0].markets=100000001: input should be less than or equal to 100000000"),
    ("markets", "5.0", "claim[0].markets=5.0: input should be a valid integer"),
    ("markets", "true", "claim[0].markets=True: input should be a valid integer"),
    ("markets", '"500"', "claim[0].markets='500': input should be a valid integer"),
    ("resting_orders", "-1", "claim[0].resting_orders=-1"),
    ("resting_orders", "10000000000000", "claim[0].resting_orders=10000000000000: is more than 500 markets can be seeded with"),
    ("trades", "-1", "claim[0].trades=-1"),
    ("trades", "1e6", "claim[0].trades=1000000.0: input should be a valid integer"),
    ("phase", '"done"', "claim[0].phase='done'"),
    ("measure", '"heap"', "claim[0].measure='heap'"),
    ("id", "1", "claim[0].id=1: input should be a valid string"),
    ("text", '""', "claim[0].text=''"),
    ("at_least", '"1 MB"', "claim[0].at_least='1 MB': give at_most or at_least, not both"),
    ("colour", '"red"', "unknown key 'colour' in claim[0]"),
]


@pytest.mark.parametrize("key, value, fragment", [pytest.param(*case, id=f"{case[0]}={case[1]}") for case in CLAIMS_NONSENSE])
def test_a_claims_file_holding_nonsense_is_refused(tmp_path, key, value, fragment):
    path = tmp_path / "claims.toml"
    path.write_text(_claim_with(key, value))
    result = _cli("audit", str(path))
    assert_one_line_error(result, fragment)
    assert f"lxdex: error: {path}: " in result.stderr


@pytest.mark.parametrize(
    "text, fragment",
    [('source = "oops"\n' + CLAIM[CLAIM.index("[[claim]]"):], "line 1: source='oops': must be a table of keys"),
     (CLAIM.replace('title = "tiny"', "title = 5"), "source.title=5"),
     (CLAIM.replace('title = "tiny"', 'author = "me"'), "unknown key 'author' in source (known: title, note, url, date)"),
     ("", "claim is required"),
     ("claim = []\n", "claim=[]: list should have at least 1 item"),
     ('claim = "memory"\n', "claim='memory': input should be a valid list"),
     ("[claim]\nmetric = 1\n", "input should be a valid list"),
     (CLAIM.replace('at_most = "10 MB"\n', ""), "claim[0]: give its bound, at_most or at_least"),
     (CLAIM + CLAIM[CLAIM.index("[[claim]]"):], "claim[1].id='a' is used twice (claim[0] has it)"),
     (CLAIM.replace('"memory"', '"orders_per_s"').replace('"10 MB"', '"5M"') + "trades = 0\n",
      "line 9: claim[0].trades=0: an orders/s claim needs trades > 0"),
     (CLAIM.replace('"memory"', '"lookups_per_s"').replace('"10 MB"', '"5M"') + 'measure = "rss_bytes"\n',
      "claim[0].measure='rss_bytes': applies to memory claims only"),
     ("[[claim]\n", "malformed TOML"),
     (CLAIM.replace('id = "a"', 'id = "a\\nb"'), "claim[0].id='a\\nb': must be one line of text, without control characters")],
)
def test_a_malformed_claims_file_is_refused(tmp_path, text, fragment):
    path = tmp_path / "claims.toml"
    path.write_text(text)
    result = _cli("audit", str(path))
    assert_one_line_error(result, fragment)
    assert f"lxdex: error: {path}: " in result.stderr


def test_a_claims_file_that_cannot_be_read_is_refused(tmp_path):
    assert_one_line_error(_cli("audit", str(tmp_path / "missing.toml")), "does not exist")
    assert_one_line_error(_cli("audit", str(tmp_path)), "is a directory")
    (tmp_path / "latin1.toml").write_bytes(b"title = \"\xe9\"\n")
    assert_one_line_error(_cli("audit", str(tmp_path / "latin1.toml")), "is not UTF-8 text")


# Random claims files: values of every hostile kind.  Loads above --max-measure 1 are predicted by the
# model (no simulation), so a valid file finishes at once; markets = 1 (measured) is never drawn.
_TOML_VALUE = st.one_of(
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e999", "-1e999", "1e308", "0", "-1", "2", "500", "21000", "100000000",
                     "100000001", "9223372036854775807", "-0.0", "0.5", "1e6", "true", "false", "[]", "[1, 2]", '["memory"]', "{}",
                     '{ a = 1 }', '""', '" "', '"x"', '"memory"', '"memory_per_market"', '"orders_per_s"', '"lookups_per_s"',
                     '"random_access"', '"empty"', '"seeded"', '"traded"', '"rss_bytes"', '"engine_bytes_reserved"',
                     '"rss_above_baseline"', '"83 MB"', '"1e999 MB"', '"-5 MB"', '"0.03 us"', '"33.7M"', '"12 ZB"', '"nan MB"',
                     '"inf ns"', '"1e300 GB"', '"5 GiB"', '"0"', '" 7 kb "']),
    st.integers(min_value=2, max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),  # nan, inf, -inf, 1e+300 are TOML floats
)
_VALID = {  # values a claim may hold; markets never 1, which --max-measure 1 would measure
    "metric": ['"memory"', '"memory_per_market"'],
    "markets": ["2", "500", "21000", "10000000", "100000000"],
    "resting_orders": ["0", "1000", "624000"],
    "trades": ["0", "1000000"],
    "phase": ['"empty"', '"seeded"', '"traded"'],
    "measure": ['"engine_bytes_used"'],
    "at_most": ['"83 MB"', '"0.004 MB"', "36e9", '"5 GiB"', "0"],
    "at_least": ['"1 KB"', "1000", '"0 B"'],
    "text": ['"a claim"'],
}


def _value(key: str) -> st.SearchStrategy[str]:
    """Mostly a value ``key`` may hold, sometimes a hostile one."""
    valid = st.sampled_from(_VALID.get(key, ['"x"']))
    return st.integers(min_value=0, max_value=5).flatmap(lambda k: _TOML_VALUE if k == 5 else valid)


@st.composite
def _claims_files(draw: Any) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(f"source = {draw(_TOML_VALUE)}" if draw(st.integers(0, 3)) == 0 else f"[source]\ntitle = {draw(_value('text'))}")
    for i in range(draw(st.integers(min_value=0, max_value=3))):
        lines += ["[[claim]]", f'id = "c{i}"', f"metric = {draw(_value('metric'))}", f"markets = {draw(_value('markets'))}"]
        bound = draw(st.sampled_from(["at_most", "at_least"]))
        lines.append(f"{bound} = {draw(_value(bound))}")
        for key in draw(st.lists(st.sampled_from(["text", "resting_orders", "trades", "phase", "measure", "at_most", "oops"]),
                                 max_size=3, unique=True)):
            if key != bound:
                lines.append(f"{key} = {draw(_value(key))}")
    text = "\n".join(lines) + "\n"
    return text.replace("markets = 1\n", "markets = 2\n")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=_claims_files())
def test_random_claims_files_end_with_a_verdict_or_one_line(tmp_path, text):
    path = tmp_path / "claims.toml"
    path.write_text(text)
    result = _cli("audit", str(path), "--max-measure", "1", "--json")
    assert result.exit_code in (0, 1, 2), (text, result)
    event(f"exit {result.exit_code}")
    assert "Traceback" not in result.stderr
    if result.exit_code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lxdex: error: "), (text, result.stderr)
    else:
        report = json.loads(result.stdout)
        assert report["claims"] and all(c["measured"] >= 0 and c["claimed"] >= 0 for c in report["claims"]), text


def test_a_claim_of_a_vanishing_figure_is_judged_without_an_infinite_ratio(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text(_claim_with("at_most", '"5e-324 MB"').replace("markets = 500", "markets = 100000"))
    result = _cli("audit", str(path), "--max-measure", "1", "--json")  # predicted by the model: nothing runs
    assert result.exit_code == 1 and "claim(s) fail against measurement" in result.stderr
    report = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the audit's JSON"))
    assert report["claims"][0]["ratio"] is None and report["fails"] == 1


# --- free text from results.json in report.md and report.html ---------------------------------------------

INJECTED = "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) `code` *em* _u_ &amp; \\"


def test_free_text_from_a_results_file_is_rendered_as_text_not_markup():
    """Every free-form text the report shows from results.json (the command, the machine, the model's provenance)
    is that text in report.md and report.html: no tag, link or code span from the file, even across a line break
    or a run of backticks."""
    from lxdex_capacity.reporting.report import render_html, render_markdown
    from lxdex_capacity.reporting.results_schema import check_results

    doc = saved_results()
    doc["command"] = "lxdex report ``` " + INJECTED + "\n\n<script>alert(4)</script>"
    for key in ("processor", "platform", "python"):
        doc["environment"][key] = f"{key} {INJECTED}"
    for record in (doc["model"]["provenance"], doc["plan"]["model"]["provenance"]):  # the plan's is the model's
        record.update({"processor": f"sweep {INJECTED}", "created": f"then {INJECTED}", "command": f"lxdex sweep `{INJECTED}"})
    check_results(doc, "results.json")  # one-line texts of any characters: valid
    md = render_markdown(doc, {}, image=str)
    page = render_html(md, "report")
    code_spans = r"(?<!\\)(`+).+?(?<!`)\1(?!`)"  # the command lines: Markdown escapes a code span's text itself
    outside_code = re.sub(r"\\.", "", re.sub(code_spans, "", md))  # and without its backslash-escaped marks
    assert "<" not in outside_code and "](javascript" not in outside_code and "`" not in outside_code
    for raw in ("<script", "<img", 'href="javascript'):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;script&gt;alert(4)&lt;/script&gt;" in page
    clean = render_html(render_markdown(saved_results(), {}, image=str), "report")
    for tag in ("<a ", "<em>", "<strong>", "<code>", "<p>", "<h2>", "<li>", "<table>"):  # the same markup as without the texts
        assert page.count(tag) == clean.count(tag), tag
    assert "<code>lxdex report ``` &lt;script&gt;" in page  # the command is one code span, its backticks inside it
