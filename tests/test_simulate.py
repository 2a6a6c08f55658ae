"""lxdex simulate and the scenario machinery: determinism, phases, JSON, refusals, TOML errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.errors import CapacityError, InputError
from lxdex_capacity.scenarios import Tier
from lxdex_capacity.scenarios.config import Scenario, load_scenario
from lxdex_capacity.scenarios.universe import CRYPTO, SECURITY, Universe
from lxdex_capacity.simulation import check_memory, simulate
from lxdex_capacity.simulation.results import SIMULATE_FORMAT, SimulationResult

SMALL = Scenario(markets=400, trades=3_000, seed=7, batch=4_096)
# Shallow books and a longer flow: without cancels these books grow visibly.
SHALLOW = Scenario(markets=400, trades=20_000, seed=5, batch=4_096, tiers=(Tier(low=5, high=20),))


def test_same_seed_same_trades_and_state_different_seed_differs():
    a, b = simulate(SMALL), simulate(SMALL)
    assert (a.market_checksum, a.tape_checksum) == (b.market_checksum, b.tape_checksum)
    c = simulate(SMALL.replace(seed=8))
    assert c.market_checksum != a.market_checksum


def test_phases_are_measured_and_the_traded_book_stays_at_its_seeded_size():
    result = simulate(SMALL)
    names = [p.name for p in result.phases]
    assert names == ["empty", "seeded", "traded"]
    empty, seeded, traded = result.phases
    assert empty.resting_orders == 0 and empty.engine_bytes_used == 400 * 40 + 128
    assert seeded.resting_orders > 0 and SMALL.trades <= traded.trades < 1.2 * SMALL.trades
    assert traded.resting_orders <= seeded.resting_orders
    assert all(p.rss_bytes >= p.uss_bytes > 0 for p in result.phases)
    assert traded.traced_bytes >= traded.engine_bytes_reserved * 0.9  # tracemalloc sees the engine
    t = result.throughput
    assert t.orders_per_s > 0 and t.lookups_per_s > 0 and 0 < t.random_access_ns_p50 <= t.random_access_ns_p99


def test_stationary_flow_cancels_back_to_the_seeded_size_and_without_cancels_the_book_grows():
    steady = simulate(SHALLOW)
    seeded = steady.phase("seeded").resting_orders
    # Cancels trim each book back to its seeded depth; takers draining these small books (turned
    # over about four times here) leave them somewhat under it.
    assert 0.85 * seeded <= steady.phase("traded").resting_orders <= seeded
    assert steady.throughput.cancels > 0
    growing = simulate(SHALLOW.replace(stationary=False))
    assert growing.phase("seeded").resting_orders == seeded
    assert growing.phase("traded").resting_orders > 1.2 * seeded and growing.throughput.cancels == 0


def test_stationary_flow_keeps_every_market_at_its_seeded_depth(monkeypatch):
    from lxdex_capacity.simulation.shard import Shard

    shards: list[Shard] = []
    original = Shard.__init__

    def keep(self, generator, threads=1):
        original(self, generator, threads)
        shards.append(self)

    monkeypatch.setattr(Shard, "__init__", keep)
    simulate(SMALL.replace(trades=20_000))
    shard = shards[-1]
    resting = shard.engine.market_stats()["resting_orders"]
    assert (resting <= shard.targets).all()
    # Takers may leave a book a little under its seeded depth, never far under on the whole.
    assert resting.sum() >= 0.97 * shard.targets.sum()


def test_engine_trim_cuts_books_back_from_their_worst_prices():
    from lxdex_capacity.engine import Engine

    eng = Engine(2)
    eng.submit([0] * 6, [0, 0, 0, 1, 1, 1], [10, 9, 8, 12, 13, 14], [1] * 6)
    assert eng.trim([0, 1], [3, 0]).tolist() == [3, 0]
    # The fuller side gives up its worst price each time: bid 8, ask 14, then bid 9.
    assert eng.depth(0, 0, 5)["price"].tolist() == [10] and eng.depth(0, 1, 5)["price"].tolist() == [12, 13]
    with pytest.raises(InputError, match="max_orders=-1"):
        eng.trim([0], [-1])


@pytest.mark.slow  # ~6 s; the stationary-flow cancels stay in the default suite; CI runs it in the slow pass
def test_cancel_rate_cancels_about_that_many_resting_orders_per_flow_order():
    base = simulate(SHALLOW.replace(stationary=False))
    heavy = simulate(SHALLOW.replace(stationary=False, cancel_rate=0.3))
    assert base.throughput.cancels == 0
    # Each resting order's lifetime is drawn for 0.3 cancels per flow order at the expected depth
    # (5,000 orders here); these books thin from there, and orders that fill first are not cancelled.
    per_flow_order = heavy.throughput.cancels / heavy.throughput.flow_orders
    resting = (heavy.phase("seeded").resting_orders + heavy.traded.resting_orders) / 2
    assert 0.75 * 0.3 * resting / 5_000 < per_flow_order < 0.3 * 1.1
    assert heavy.traded.resting_orders < base.traded.resting_orders


def test_a_flow_that_never_trades_stops_and_says_so():
    result = simulate(SHALLOW.replace(taker_share=0.0, trades=1_000_000))
    assert result.stalled and result.phase("traded").trades == 0
    assert result.throughput.flow_orders == 16 * SHALLOW.batch


def test_cli_json_is_the_result_schema_and_out_dir_gets_the_same(tmp_path: Path):
    out = tmp_path / "run"
    res = run_cli("simulate", "--markets", "300", "--trades", "2000", "--seed", "1", "--json", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["format"] == SIMULATE_FORMAT and report["execution"]["mode"] == "process"
    for key in ("version", "seed", "markets", "scenario", "phases", "per_market_bytes", "per_order_bytes", "throughput",
                "elapsed_s", "market_checksum", "tape_checksum", "breakdown", "distributions", "shards", "failed_shards"):
        assert key in report, key
    assert [p["name"] for p in report["phases"]] == ["empty", "seeded", "traded"]
    assert report["phases"][-1]["trades"] >= 2000
    assert json.loads((out / "simulate.json").read_text())["market_checksum"] == report["market_checksum"]
    assert [p.name for p in out.iterdir()] == ["simulate.json"]  # no temporary left behind
    again = SimulationResult.from_dict(report)
    assert again.to_dict() == report  # the schema reads back what it writes


def test_a_saved_result_with_a_wrong_format_or_shape_is_refused():
    report = simulate(SMALL.replace(trades=500)).to_dict()
    with pytest.raises(InputError, match="format"):
        SimulationResult.from_dict({**report, "format": "lxdex-simulate/1"}, "x.json")
    with pytest.raises(InputError, match=r"x\.json: phases='empty': input should be a valid list"):
        SimulationResult.from_dict({**report, "phases": "empty"}, "x.json")
    with pytest.raises(InputError, match=r"x\.json: phases\[0\]\.markets='many': input should be a valid integer"):
        SimulationResult.from_dict({**report, "phases": [{**report["phases"][0], "markets": "many"}, *report["phases"][1:]]}, "x.json")


def test_cli_table_output():
    res = run_cli("simulate", "--markets", "200", "--trades", "500")
    assert res.exit_code == 0, res.stderr
    assert "traded" in res.stdout and "orders/s" in res.stdout and "market checksum" in res.stdout


def test_too_many_markets_are_refused_before_allocating():
    with pytest.raises(CapacityError, match="GiB"):
        check_memory(Scenario(markets=100_000_000))
    assert_one_line_error(run_cli("simulate", "--markets", "100000000"), "need an estimated")


@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "--markets", "0"], "--markets"),
        (["simulate", "--markets", "-5"], "--markets"),
        (["simulate", "--trades", "x"], "--trades"),
        (["simulate", "--markets", "100000001"], "--markets"),
        (["simulate", "--scenario", "/nonexistent.toml"], "does not exist"),
    ],
)
def test_bad_options_are_one_line_errors(args, message):
    assert_one_line_error(run_cli(*args), message)


@pytest.mark.parametrize(
    "text, message",
    [
        ("markets = 100\nbogus = 3\n", "unknown key 'bogus'"),
        ("markets = 100\ntaker_share = = 2\n", "line 2"),
        ("markets = 0\n", "line 1: markets=0: input should be greater than or equal to 1"),
        ("taker_share = nan\n", "line 1: taker_share=nan: input should be a finite number"),
        ("flow_share = 0.01\nmarket_share = 0.99\n", "flow_share=0.01 is below market_share=0.99"),
        ("maker_distance_p = 1e-300\n", "maker_distance_p=1e-300: input should be greater than or equal to 0.001"),
        ("markets = true\n", "markets=True: input should be a valid integer"),
        ("taker_share = 1.5\n", "taker_share=1.5"),
        ("[[tiers]]\nlow = 5\nhigh = 2\n", "tiers[0].high=2"),
        ("[[tiers]]\nup_to_rank = 10\nlow = 1\nhigh = 2\nwidth = 3\n", "unknown key 'width' in tiers[0]"),
    ],
)
def test_scenario_file_errors_name_the_key_or_line(tmp_path: Path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("(", r"\(").replace("+", r"\+")):
        load_scenario(path)
    assert_one_line_error(run_cli("scenario", "show", "--scenario", str(path)), str(path))


def test_scenario_file_overrides_and_show_prints_effective_parameters(tmp_path: Path):
    path = tmp_path / "s.toml"
    path.write_text("markets = 1000\ntaker_share = 0.4\n[[tiers]]\nup_to_rank = 10\nlow = 50\nhigh = 60\n[[tiers]]\nlow = 1\nhigh = 3\n")
    scenario = load_scenario(path)
    assert scenario.markets == 1000 and scenario.taker_share == 0.4 and len(scenario.tiers) == 2
    res = run_cli("scenario", "show", "--scenario", str(path), "--json")
    shown = json.loads(res.stdout)
    assert shown["scenario"]["taker_share"] == 0.4
    assert shown["derived"]["expected_resting_orders"] == 10 * 55 + 990 * 2
    res = run_cli("simulate", "--scenario", str(path), "--trades", "500", "--markets", "50", "--json")
    assert json.loads(res.stdout)["markets"] == 50  # command-line options win over the file


def test_universe_split_symbols_and_ticks():
    u = Universe(21_000, 11_000 / 21_000)
    assert (u.securities, u.crypto) == (11_000, 10_000)
    classes = u.classes()
    assert (classes == SECURITY).sum() == 11_000 and (classes == CRYPTO).sum() == 10_000
    assert (classes[:2100] == SECURITY).sum() == 1100  # both classes spread through the ranks
    symbols = {u.symbol(m) for m in range(21_000)}
    assert len(symbols) == 21_000
    security = next(m for m in range(10) if classes[m] == SECURITY)
    crypto = next(m for m in range(10) if classes[m] == CRYPTO)
    assert u.symbol(security).isalpha() and "-" in u.symbol(crypto)
    assert u.tick_size(security) == 0.01 and u.tick_size(crypto) == 0.0001
    small = Universe(42, 11_000 / 21_000)
    assert (small.securities, small.crypto) == (22, 20)
