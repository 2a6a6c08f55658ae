"""``lxdex calibrate``: fitted parameters, the scenario file, and its use by simulate."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli
from helpers.lobster import SAMPLES, Exchange, needs_samples
from lxdex_capacity.replay.calibrate import _fit_pareto, calibrate
from lxdex_capacity.replay.lobster import read_messages, read_orderbook
from lxdex_capacity.scenarios.config import load_scenario


def test_pareto_fit_recovers_alpha_and_x_min():
    rng = np.random.default_rng(0)
    body = rng.uniform(1, 10, size=3000)  # below the power-law tail
    tail = 10 * (1 + rng.pareto(1.5, size=20000))
    fit = _fit_pareto(np.concatenate([body, tail]), cap=1e12)
    assert fit is not None
    x_min, alpha, d = fit
    assert 9 <= x_min <= 11.5
    assert alpha == pytest.approx(1.5, rel=0.1)
    assert d < 0.03


def test_pareto_fit_needs_a_tail():
    assert _fit_pareto(np.arange(1.0, 40.0), cap=1e12) is None  # fewer than MIN_TAIL sizes
    assert _fit_pareto(np.full(500, 7.0), cap=1e12) is None  # one size: no candidate below the 90th percentile


def test_calibration_counts_and_a_usable_scenario(tmp_path):
    message_file, book_file = Exchange(5, 11).write(tmp_path, prefill=300, steps=5000)
    m = read_messages(message_file)
    c = calibrate(m, read_orderbook(book_file, len(m)))
    adds = int((m.type == 1).sum())
    cancels = int(((m.type == 2) | (m.type == 3)).sum())
    assert c.adds == adds and c.cancels == cancels
    assert c.fitted["cancel_rate"] == pytest.approx(cancels / (adds + c.takers), abs=1e-4)
    assert c.fitted["taker_share"] == pytest.approx(c.takers / (adds + c.takers), abs=1e-4)
    assert 0 < c.fitted["maker_distance_p"] <= 1 and 0 < c.fitted["taker_reach_p"] <= 1
    assert c.fitted["min_qty"] <= c.fitted["max_qty"] <= 49


def test_calibrate_cli_writes_a_scenario_simulate_runs(tmp_path):
    message_file, book_file = Exchange(5, 12).write(tmp_path, prefill=300, steps=5000)
    scenario_file = tmp_path / "fitted.toml"
    result = run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(scenario_file), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    scenario = load_scenario(scenario_file)
    for key, value in report["fitted"].items():
        assert getattr(scenario, key) == pytest.approx(value)
    assert {"defaults", "size_ks_distance", "messages_per_s_mean"} <= set(report)
    sim = run_cli("simulate", "--scenario", str(scenario_file), "--markets", "500", "--trades", "2000", "--json")
    assert sim.exit_code == 0, sim.stderr
    assert json.loads(sim.stdout)["scenario"]["cancel_rate"] == pytest.approx(report["fitted"]["cancel_rate"])


def test_calibrate_needs_an_orderbook(tmp_path):
    message_file, _ = Exchange(2, 13).write(tmp_path, prefill=0, steps=200)
    assert_one_line_error(run_cli("calibrate", str(message_file), "--out", str(tmp_path / "s.toml")), "needs the orderbook")


@needs_samples
def test_calibrate_a_sample_zip(tmp_path):
    out = tmp_path / "s.toml"
    result = run_cli("calibrate", str(SAMPLES[0]), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "fitted" in result.stdout and load_scenario(out).cancel_rate > 0


def _cancel_rate_row(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if "cancel_rate" in line)


def test_calibrate_table_shows_the_cancel_rate_as_cancels_over_flow(tmp_path):
    message_file, book_file = Exchange(5, 14).write(tmp_path, prefill=300, steps=5000)
    m = read_messages(message_file)
    c = calibrate(m, read_orderbook(book_file, len(m)))
    result = run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(tmp_path / "s.toml"))
    assert result.exit_code == 0, result.stderr
    row = _cancel_rate_row(result.stdout)
    assert f"{c.cancels:,} cancels and deletions / {c.adds + c.takers:,} flow orders" in row, row
    assert f"{c.fitted['cancel_rate']:g}" in row and "per flow order" not in result.stdout


@needs_samples
def test_calibrate_a_sample_zip_shows_a_cancel_rate_below_one_per_order(tmp_path):
    """The AAPL sample: 28,689 cancels over 79,679 flow orders is a rate of 0.36, not '28,689 per flow order'."""
    sample = next((s for s in SAMPLES if "AAPL" in s.name), SAMPLES[0])
    result = run_cli("calibrate", str(sample), "--out", str(tmp_path / "s.toml"))
    assert result.exit_code == 0, result.stderr
    cells = [cell.strip() for cell in _cancel_rate_row(result.stdout).split("│")]
    rate, how = float(cells[2]), cells[4]
    cancels, flow = (int(n.replace(",", "")) for n in re.findall(r"([\d,]+) (?:cancels|flow orders)", how))
    assert 0 < rate < 1 and rate == pytest.approx(cancels / flow, abs=1e-4), how
