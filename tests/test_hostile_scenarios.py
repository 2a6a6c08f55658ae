"""Hostile scenario files: whatever a scenario TOML holds, ``lxdex`` ends with exit 0 and strict JSON, or
exit 2 and one line naming the file and key; never a traceback, a NaN, or nonsense accepted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.scenarios.config import Scenario

KEYS = sorted(Scenario.model_fields)


def _reject_constant(name: str) -> float:
    raise AssertionError(f"{name} in JSON output")


def strict_loads(text: str) -> object:
    """JSON as every reader accepts it: no NaN or Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


def toml_value(value: object) -> str:
    """``value`` as a TOML literal (the nan and inf TOML allows included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a basic string: JSON's escapes are TOML's for this alphabet
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, 0.5, 1.0, 0.999999, 1.000001, -1.0]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2**31, 2**62, 1023, 1024, 3000]),
    st.booleans(),
    st.text(alphabet="ab1.e-", max_size=6),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(["low", "high", "up_to_rank", "x"]), scalars, max_size=3))
tier_tables = st.lists(st.dictionaries(st.sampled_from(["low", "high", "up_to_rank", "width"]), scalars, max_size=4), max_size=3)


@st.composite
def scenario_files(draw: st.DrawFn) -> str:
    entries = draw(st.dictionaries(st.sampled_from([*KEYS, "bogus"]), values, max_size=4))
    lines = [f"{key} = {toml_value(value)}" for key, value in entries.items() if key != "tiers" or draw(st.booleans())]
    text = "\n".join(lines) + "\n"
    if "tiers" not in entries and draw(st.booleans()):
        for table in draw(tier_tables):
            text += "\n[[tiers]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
    return text


def check_outcome(result, path: Path) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 0:
        strict_loads(result.stdout)
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lxdex: error: ") and len(lines[0]) > 20, result.stderr
        assert result.stdout == ""


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=scenario_files())
def test_any_scenario_file_is_a_result_or_one_line(tmp_path: Path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = run_cli("scenario", "show", "--scenario", str(path), "--json")
    check_outcome(result, path)
    if result.exit_code == 2:
        assert str(path) in result.stderr  # the error names the file


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=scenario_files())
def test_any_scenario_file_simulates_or_is_refused_in_one_line(tmp_path: Path, text: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = run_cli("simulate", "--scenario", str(path), "--markets", "200", "--trades", "300", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code in (0, 1, 2), result.stderr
    if result.exit_code == 0:
        strict_loads(result.stdout)


@pytest.mark.parametrize("text, message", [
    ("taker_share = nan\n", "s.toml: line 1: taker_share=nan: input should be a finite number"),
    ("pareto_alpha = inf\n", "pareto_alpha=inf: input should be a finite number"),
    ("cancel_rate = -inf\n", "cancel_rate=-inf"),
    ("flow_share = nan\n", "flow_share=nan"),
    ("securities_share = nan\n", "securities_share=nan"),
    ("maker_distance_p = nan\n", "maker_distance_p=nan"),
    ("maker_distance_p = 1e-300\n", "maker_distance_p=1e-300: input should be greater than or equal to 0.001"),
    ("flow_share = 0.01\nmarket_share = 0.99\n", "flow_share=0.01 is below market_share=0.99"),
    ("markets = 1e5\n", "markets=100000.0: input should be a valid integer"),
    ("markets = \"21000\"\n", "markets='21000': input should be a valid integer"),
    ("stationary = 1\n", "stationary=1: input should be a valid boolean"),
    ("trades_retained = 3000\n", "trades_retained=3000: must be a power of two"),
    ("min_qty = 10\nmax_qty = 5\n", "max_qty=5 must be at least min_qty=10"),
    ("tiers = 5\n", "tiers=5"),
    ("tiers = []\n", "tiers=[]"),
    ("[[tiers]]\nup_to_rank = 10\nlow = 1\nhigh = 2\n[[tiers]]\nup_to_rank = 5\nlow = 1\nhigh = 2\n", "tiers[1].up_to_rank=5 must be above the tier before (10)"),
    ("[[tiers]]\nlow = 5\nhigh = 2\n", "line 3: tiers[0].high=2: must be at least low=5"),
    ("[[tiers]]\nlow = -5\nhigh = 2\n", "tiers[0].low=-5"),
    ("[[tiers]]\nlow = 1\nhigh = 2\nwidth = 3\n", "unknown key 'width' in tiers[0] (known: up_to_rank, low, high)"),
    ("[tiers]\nlow = 1\n", "tiers="),
    ("x = [\n", "malformed TOML"),
    ("markets = 10\nflow_share = 0.02\nmarket_share = 0.01\n", "flow_share=0.02 cannot go to the busiest 1 of 10 markets"),
    ("markets = 1000\nflow_share = 0.999999999999\nmarket_share = 1e-9\n", "a Zipf law gives them 0.001 to 0.999999 of the flow"),
    ("", "sets no scenario key"),
    ("# only a comment\n", "sets no scenario key"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "TOML nested too deeply"),
])
def test_hostile_scenario_values_name_the_file_and_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "s.toml"
    path.write_text(text)
    for command in (("scenario", "show"), ("simulate", "--markets", "100", "--trades", "100")):
        result = run_cli(*command, "--scenario", str(path))
        assert_one_line_error(result, message)
        assert str(path) in result.stderr


def test_a_scenario_file_that_is_a_folder_or_not_utf8_is_one_line(tmp_path: Path):
    assert_one_line_error(run_cli("scenario", "show", "--scenario", str(tmp_path)), "is a directory, not a file")
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"markets = 5\n\xff\xfe")
    assert_one_line_error(run_cli("scenario", "show", "--scenario", str(binary)), "is not UTF-8 text")


def test_a_file_that_never_ends_or_repeats_a_key_is_one_line(tmp_path: Path):
    assert_one_line_error(run_cli("scenario", "show", "--scenario", "/dev/zero"), "'/dev/zero' is not a regular file")
    assert_one_line_error(run_cli("plan", "--model", "/dev/urandom"), "'/dev/urandom' is not a regular file")
    twice = tmp_path / "m.json"
    twice.write_text('{"format": "a", "format": "b"}')
    assert_one_line_error(run_cli("plan", "--model", str(twice)), "key 'format' appears twice in one object")
