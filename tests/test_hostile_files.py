"""Hostile input files through the command line: every bad one ends with exit 2 and one line naming the
file and the key (and, for TOML, the line); valid edge files work and print strict JSON (no NaN, no
infinity, no negative bytes).

Sections: hardware files (``--hardware``), model files (``--model``).
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Result, assert_one_line_error, run_cli
from lxdex_capacity.capacity.hardware import builtin_profiles


def _no_constant(name: str) -> Any:
    raise AssertionError(f"{name} in JSON output")


def strict_json(text: str) -> Any:
    """``text`` as JSON, failing on NaN, Infinity and -Infinity (which Python's json would accept)."""
    return json.loads(text, parse_constant=_no_constant)


def _finite_everywhere(value: Any, path: str = "") -> None:
    """Every number in ``value`` is finite, and no figure of bytes is negative."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_everywhere(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite_everywhere(v, f"{path}[{i}]")
    elif isinstance(value, float):
        assert math.isfinite(value), path
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "bytes" in path.rsplit(".", 1)[-1]:
        assert value >= 0, f"{path}={value}"


# What a table must never show: infinities, NaN, negative percentages or byte figures.
_NON_FINITE = re.compile(r"\binf\b|\bnan\b|-\d[\d,.]*\s*(%|MB|GB|GiB)", re.IGNORECASE)


def assert_error(result: Result, path: Path, fragment: str) -> None:
    """Exit 2, one ``lxdex: error:`` line naming the file and holding ``fragment`` (the key), no traceback."""
    assert_one_line_error(result, str(path))
    assert fragment in result.stderr, result.stderr


# --- hardware files -------------------------------------------------------------------------------

VALID_MACHINE: dict[str, str] = {  # key -> TOML value
    "machine": '"Test box"',
    "chip": '"Z9"',
    "kind": '"custom"',
    "year": "2024",
    "p_cores": "8",
    "e_cores": "4",
    "gpu_cores": "10",
    "bandwidth_gb_s": "100",
    "max_power_w": "60",
    "memory_gib": "[16, 32]",
    "price_usd": "[999, 1299]",
    "source": '"the test suite"',
}


def machine_toml(**changes: str | None) -> str:
    """One ``[[machine]]`` table: :data:`VALID_MACHINE` with ``changes`` (TOML values; None leaves a key out)."""
    keys = VALID_MACHINE | changes
    return "[[machine]]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)


def _bad(changes: dict[str, str | None], fragment: str) -> tuple[str, str]:
    return machine_toml(**changes), fragment


# (file text, what the error must say); each names the key, and the line where the key has one.
BAD_HARDWARE = {
    "memory inf": _bad({"memory_gib": "[inf]"}, "line 11: machine[0].memory_gib[0]=inf: input should be a finite number"),
    "memory nan": _bad({"memory_gib": "[nan]"}, "machine[0].memory_gib[0]=nan"),
    "memory huge": _bad({"memory_gib": "[1e30]", "price_usd": None}, "machine[0].memory_gib[0]=1e+30: input should be less than or equal to 65536"),
    "memory tiny": _bad({"memory_gib": "[1e-12]", "price_usd": None}, "machine[0].memory_gib[0]=1e-12: input should be greater than or equal to 0.5"),
    "memory zero": _bad({"memory_gib": "[0, 32]"}, "machine[0].memory_gib[0]=0"),
    "memory negative": _bad({"memory_gib": "[16, -32]"}, "machine[0].memory_gib[1]=-32"),
    "memory string": _bad({"memory_gib": '["16", 32]'}, "machine[0].memory_gib[0]='16': input should be a valid number"),
    "memory bool": _bad({"memory_gib": "[true, 32]"}, "machine[0].memory_gib[0]=True: input should be a valid number"),
    "memory empty": _bad({"memory_gib": "[]", "price_usd": None}, "machine[0].memory_gib=[]: list should have at least 1 item"),
    "memory scalar": _bad({"memory_gib": "16", "price_usd": None}, "machine[0].memory_gib=16: input should be a valid list"),
    "memory table": _bad({"memory_gib": "{ size = 16 }", "price_usd": None}, "machine[0].memory_gib={'size': 16}: input should be a valid list"),
    "memory twice": _bad({"memory_gib": "[16, 16]"}, "line 11: machine[0].memory_gib[1]=16.0: memory_gib[0] is 16 GiB already"),
    "memory huge int": _bad({"memory_gib": f"[{10**18}]", "price_usd": None}, "machine[0].memory_gib[0]=1000000000000000000"),
    "memory missing": _bad({"memory_gib": None, "price_usd": None}, "machine[0].memory_gib is required"),
    "price inf": _bad({"price_usd": "[inf, 1299]"}, "line 12: machine[0].price_usd[0]=inf: input should be a finite number"),
    "price true": _bad({"price_usd": "[true, 1299]"}, "machine[0].price_usd[0]=True: input should be a valid number"),
    "price zero": _bad({"price_usd": "[0, 1299]"}, "machine[0].price_usd[0]=0: input should be greater than 0"),
    "price negative": _bad({"price_usd": "[-999, 1299]"}, "machine[0].price_usd[0]=-999: input should be greater than 0"),
    "price 1e12": _bad({"price_usd": "[1e12, 1299]"}, "machine[0].price_usd[0]=1000000000000.0: input should be less than or equal to 100000000"),
    "price count": _bad({"price_usd": "[999]"}, "machine[0].price_usd=[999]: must list one price per memory size"),
    "price empty": _bad({"price_usd": "[]"}, "machine[0].price_usd=[]: list should have at least 1 item"),
    "price string": _bad({"price_usd": '"$999"'}, "machine[0].price_usd='$999': input should be a valid list"),
    "hourly inf": _bad({"price_usd_hour": "[inf, 2]"}, "machine[0].price_usd_hour[0]=inf"),
    "hourly count": _bad({"price_usd_hour": "[1, 2, 3]"}, "machine[0].price_usd_hour=[1, 2, 3]: must list one price per memory size"),
    "hourly huge": _bad({"price_usd_hour": "[1e9, 2]"}, "machine[0].price_usd_hour[0]=1000000000.0: input should be less than or equal to 10000"),
    "bandwidth negative": _bad({"bandwidth_gb_s": "-100"}, "line 9: machine[0].bandwidth_gb_s=-100: input should be greater than 0"),
    "bandwidth zero": _bad({"bandwidth_gb_s": "0"}, "machine[0].bandwidth_gb_s=0"),
    "bandwidth inf": _bad({"bandwidth_gb_s": "inf"}, "machine[0].bandwidth_gb_s=inf"),
    "bandwidth huge": _bad({"bandwidth_gb_s": "1e300"}, "machine[0].bandwidth_gb_s=1e+300"),
    "bandwidth string": _bad({"bandwidth_gb_s": '"100 GB/s"'}, "machine[0].bandwidth_gb_s='100 GB/s': input should be a valid number"),
    "power negative": _bad({"max_power_w": "-60"}, "machine[0].max_power_w=-60"),
    "power nan": _bad({"max_power_w": "nan"}, "machine[0].max_power_w=nan"),
    "year negative": _bad({"year": "-2024"}, "line 5: machine[0].year=-2024: input should be greater than or equal to 1970"),
    "year far": _bad({"year": "30000"}, "machine[0].year=30000: input should be less than or equal to 2100"),
    "year float": _bad({"year": "2024.5"}, "machine[0].year=2024.5: input should be a valid integer"),
    "year string": _bad({"year": '"2024"'}, "machine[0].year='2024': input should be a valid integer"),
    "year huge": _bad({"year": str(10**30)}, "machine[0].year=1000000000000000000000000000000"),
    "p_cores zero": _bad({"p_cores": "0"}, "machine[0].p_cores=0: input should be greater than or equal to 1"),
    "p_cores huge": _bad({"p_cores": "100000"}, "machine[0].p_cores=100000: input should be less than or equal to 4096"),
    "p_cores bool": _bad({"p_cores": "true"}, "machine[0].p_cores=True: input should be a valid integer"),
    "p_cores float": _bad({"p_cores": "8.0"}, "machine[0].p_cores=8.0: input should be a valid integer"),
    "p_cores missing": _bad({"p_cores": None}, "machine[0].p_cores is required"),
    "e_cores negative": _bad({"e_cores": "-4"}, "machine[0].e_cores=-4"),
    "gpu cores negative": _bad({"gpu_cores": "-10"}, "machine[0].gpu_cores=-10: input should be greater than or equal to 0"),
    "gpu cores huge": _bad({"gpu_cores": str(10**12)}, "machine[0].gpu_cores=1000000000000"),
    "machine empty": _bad({"machine": '""'}, "line 2: machine[0].machine='': string should have at least 1 character"),
    "machine blank": _bad({"machine": '"   "'}, "machine[0].machine='   ': must not be blank"),
    "chip empty": _bad({"chip": '""'}, "line 3: machine[0].chip=''"),
    "chip number": _bad({"chip": "9"}, "machine[0].chip=9: input should be a valid string"),
    "chip newline": _bad({"chip": '"Z\\n9"'}, "machine[0].chip='Z\\n9': must be one line of text"),
    "name blank": _bad({"name": '" "'}, "machine[0].name=' ': must not be blank"),
    "source missing": _bad({"source": None}, "machine[0].source is required"),
    "source empty": _bad({"source": '""'}, "machine[0].source=''"),
    "kind unknown": _bad({"kind": '"mainframe"'}, "machine[0].kind='mainframe': input should be 'apple', 'cloud', 'server' or 'custom'"),
    "unknown key": _bad({"ram_gb": "16"}, "unknown key 'ram_gb' in machine[0] (known: machine, chip, name, kind"),
    "nested table": _bad({"p_cores": "{ performance = 8 }"}, "machine[0].p_cores={'performance': 8}: input should be a valid integer"),
    "top-level numbers": ("machine = [1, 2]\n", "line 1: machine[0]=1: each machine must be a table of keys"),
    "top-level string": ('machine = "Mac mini"\n', "line 1: machine='Mac mini': input should be a valid list"),
    "top-level table": ('[machine]\nchip = "Z9"\n', "machine={'chip': 'Z9'}: must be an array of tables: write [[machine]], not [machine]"),
    "top-level unknown": ("machines = 3\n", "unknown key 'machines' (known: machine)"),
    "empty machine list": ("machine = []\n", "no [[machine]] tables"),
    "empty file": ("", "no [[machine]] tables"),
    "not TOML": ("[[machine]\nchip = 1\n", "malformed TOML"),
    "twice in the file": (machine_toml() + "\n" + machine_toml(memory_gib="[32]", price_usd="[1299]"),
                          "line 25: machine[1].memory_gib[0]=32.0: profile 'Test box Z9 32 GB' is defined twice (first in machine[0])"),
    "a built-in name": (machine_toml(machine='"Mac mini"', chip='"M2"', memory_gib="[8]", price_usd="[1]"),
                        "machine[0].memory_gib[0]=8.0: profile 'Mac mini M2 8 GB' is defined twice (first in the built-in hardware table)"),
    "a built-in name spelt differently": (machine_toml(name='"mac  MINI m2 8gib"', memory_gib="[8]", price_usd="[1]"),
                                          "line 14: machine[0].name='mac  MINI m2 8gib': profile 'mac  MINI m2 8gib' is defined twice"),
}

HARDWARE_COMMANDS = {
    "hardware list": ["hardware", "list"],
    "hardware list --json": ["hardware", "list", "--json"],
    "plan": ["plan", "--json"],
}


@pytest.mark.parametrize("command", list(HARDWARE_COMMANDS))
@pytest.mark.parametrize("case", list(BAD_HARDWARE))
def test_a_bad_hardware_file_is_one_line_naming_the_file_and_key(tmp_path, case, command):
    text, fragment = BAD_HARDWARE[case]
    path = tmp_path / "hw.toml"
    path.write_text(text, encoding="utf-8")
    assert_error(run_cli(*HARDWARE_COMMANDS[command], "--hardware", str(path)), path, fragment)


@pytest.mark.parametrize(
    "content, fragment",
    [(b"\xff\xfe[[machine]]", "is not UTF-8 text"), (None, "does not exist")],
)
def test_an_unreadable_hardware_file_is_one_line(tmp_path, content, fragment):
    path = tmp_path / "hw.toml"
    if content is not None:
        path.write_bytes(content)
    assert_error(run_cli("hardware", "list", "--hardware", str(path)), path, fragment)


EDGE_HARDWARE = {
    "smallest and largest memory": machine_toml(memory_gib="[0.5, 65536]", price_usd="[1, 100000000]"),
    "bare minimum": machine_toml(kind=None, year=None, e_cores=None, gpu_cores=None, bandwidth_gb_s=None, max_power_w=None,
                                 price_usd=None, memory_gib="[1]"),
    "limits": machine_toml(year="1970", p_cores="4096", e_cores="0", gpu_cores="0", bandwidth_gb_s="100000", max_power_w="0.001",
                           memory_gib="[2048]", price_usd=None, price_usd_hour="[10000]"),
    "markup and unicode in names": machine_toml(machine='"[bold]Box[/] ünïcode"', chip='"[/]"', cpu='"a [red]CPU"',
                                                source='"https://example.com/[x]\\\\"'),
    "a cloud instance": machine_toml(name='"cloud.xlarge"', kind='"cloud"', memory_gib="[64]", price_usd=None, price_usd_hour="[0.25]"),
}


@pytest.mark.parametrize("case", list(EDGE_HARDWARE))
def test_valid_edge_hardware_files_work_with_finite_output(tmp_path, case):
    path = tmp_path / "hw.toml"
    path.write_text(EDGE_HARDWARE[case], encoding="utf-8")
    listed = run_cli("hardware", "list", "--json", "--hardware", str(path))
    assert listed.exit_code == 0, listed.stderr
    profiles = strict_json(listed.stdout)["profiles"]
    _finite_everywhere(profiles)
    builtin = {p.name for p in builtin_profiles()}
    mine = [p for p in profiles if p["name"] not in builtin]
    assert mine
    table = run_cli("hardware", "list", "--hardware", str(path))
    assert table.exit_code == 0 and table.stderr == "", table.stderr
    shown = run_cli("hardware", "show", mine[0]["name"], "--hardware", str(path))
    assert shown.exit_code == 0, shown.stderr
    compared = run_cli("hardware", "compare", mine[0]["name"], "Mac mini M2 8 GB", "--hardware", str(path))
    assert compared.exit_code == 0, compared.stderr
    planned = run_cli("plan", "--hardware", str(path), "--json")
    assert planned.exit_code == 0, planned.stderr
    report = strict_json(planned.stdout)
    _finite_everywhere(report)
    assert {p["name"] for p in mine} <= {p["name"] for p in report["profiles"]}
    text = run_cli("plan", "--hardware", str(path), "--markets", "10000000")
    assert text.exit_code == 0, text.stderr
    assert not _NON_FINITE.search(text.stdout), text.stdout


def test_markup_in_names_is_printed_as_written(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text(EDGE_HARDWARE["markup and unicode in names"], encoding="utf-8")
    result = run_cli("hardware", "show", "[bold]Box[/] ünïcode [/] 16 GB", "--hardware", str(path))
    assert result.exit_code == 0, result.stderr
    assert "[bold]Box[/] ünïcode" in result.stdout and "a [red]CPU" in result.stdout


# Values a hostile file may hold, as TOML: numbers of every kind, booleans, strings, lists and tables.
_FLOATS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e300", "-1e300", "1e-300", "0.0", "-0.0", "1e999"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(min_value=-1e6, max_value=1e6).map(repr),
)
_INTS = st.one_of(st.sampled_from([str(10**30), str(-(10**30)), "0", "-1", "9223372036854775808"]), st.integers(-(10**6), 10**6).map(str))
_SCALARS = st.one_of(_FLOATS, _INTS, st.sampled_from(["true", "false", '""', '" "', '"16"', '"[/]"', '"x"', "1979-05-27"]),
                     st.text(max_size=8).map(json.dumps))
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.lists(_FLOATS, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.builds(lambda k, v: "{ " + k + " = " + v + " }", st.sampled_from(["a", "memory_gib", "x"]), _SCALARS),
)
_KEYS = [*VALID_MACHINE, "name", "cpu", "price_usd_hour", "unknown_key"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(_KEYS), _VALUES, min_size=1, max_size=3), drop=st.sets(st.sampled_from(list(VALID_MACHINE)), max_size=2))
def test_random_hostile_hardware_files_never_crash(changes, drop):
    text = machine_toml(**(changes | dict.fromkeys(drop - set(changes))))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hw.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        for args in (["hardware", "list", "--json"], ["plan", "--json"]):
            result = run_cli(*args, "--hardware", str(path))
            assert result.exit_code in (0, 2), (text, result)
            assert "Traceback" not in result.stderr
            if result.exit_code == 0:
                _finite_everywhere(strict_json(result.stdout))
            else:
                lines = result.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("lxdex: error: ") and len(lines[0]) > len("lxdex: error: "), (text, result.stderr)
                assert result.stdout == ""


# --- model files ----------------------------------------------------------------------------------


def reference_model() -> dict[str, Any]:
    """The reference model shipped with the package, as a JSON dict (a fresh copy each call)."""
    text = resources.files("lxdex_capacity.capacity").joinpath("data/reference_model.json").read_text(encoding="utf-8")
    return json.loads(text)


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``data`` with the item at ``path`` set to ``value`` (``...`` as value deletes it)."""
    target = data
    for part in path[:-1]:
        target = target[part]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def model_with(*changes: tuple[tuple[Any, ...], Any]) -> str:
    data = reference_model()
    for path, value in changes:
        data = _set(data, path, value)
    return json.dumps(data, indent=2)


COEF = ("fit", "coefficients")
# (file text, what the error must say): each names the key path.
BAD_MODELS = {
    "negative per-market": (model_with(((*COEF, "markets", "value"), -3.0)), "fit.coefficients.markets.value=-3.0: input should be greater than 0"),
    "negative per-order": (model_with(((*COEF, "resting_orders", "value"), -0.5)), "fit.coefficients.resting_orders.value=-0.5"),
    "negative per-trade": (model_with(((*COEF, "trades_retained", "value"), -30.0)), "fit.coefficients.trades_retained.value=-30.0"),
    "coefficient infinite": (model_with(((*COEF, "base", "value"), 1.0)).replace('"value": 1.0', '"value": 1e999'),
                             "fit.coefficients.base.value=inf: input should be a finite number"),
    "coefficient huge": (model_with(((*COEF, "markets", "value"), 1e300)), "fit.coefficients.markets.value=1e+300"),
    "coefficient string": (model_with(((*COEF, "markets", "value"), "134")), "fit.coefficients.markets.value='134': input should be a valid number"),
    "coefficient bool": (model_with(((*COEF, "markets", "value"), True)), "fit.coefficients.markets.value=True"),
    "coefficient missing": (model_with(((*COEF, "trades_retained"), ...)), "fit.coefficients.trades_retained is required"),
    "coefficient unknown": (model_with(((*COEF, "levels"), {"value": 1.0, "ci95": [0.0, 2.0]})), "unknown key 'levels' in fit.coefficients"),
    "interval outside": (model_with(((*COEF, "markets", "ci95"), [200.0, 300.0])), "fit.coefficients.markets.ci95=[200.0, 300.0]: must be [low, high]"),
    "interval of three": (model_with(((*COEF, "markets", "ci95"), [1.0, 2.0, 3.0])), "fit.coefficients.markets.ci95=[1.0, 2.0, 3.0]: list should have at most 2 items"),
    "interval a table": (model_with(((*COEF, "markets", "ci95"), {"low": 1.0, "high": 2.0})), "fit.coefficients.markets.ci95={'low': 1.0, 'high': 2.0}: input should be a valid list"),
    "covariance 2x2": (model_with((("fit", "covariance"), [[1.0, 0.0], [0.0, 1.0]])), "fit.covariance=[[1.0, 0.0], [0.0, 1.0]]: must be a 4x4 matrix"),
    "covariance ragged": (model_with((("fit", "covariance"), [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0], [0.0] * 4, [0.0] * 4])), "fit.covariance=[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0], "),
    "covariance asymmetric": (model_with((("fit", "covariance", 0, 1), 5.0e6)), "fit.covariance[1][0]=3268003.3155434006: the covariance must be symmetric, and [0][1] is 5000000.0"),
    "covariance negative variance": (model_with((("fit", "covariance", 1, 1), -1.0)), "fit.covariance[1][1]=-1.0: the variance of markets must be at least 0"),
    "covariance string": (model_with((("fit", "covariance", 2, 2), "0.3")), "fit.covariance[2][2]='0.3': input should be a valid number"),
    "covariance empty": (model_with((("fit", "covariance"), [])), "fit.covariance=[]: must be a 4x4 matrix"),
    "covariance a scalar": (model_with((("fit", "covariance"), 0.0)), "fit.covariance=0.0: input should be a valid list"),
    "covariance infinite": (model_with((("fit", "covariance", 3, 3), 12345.678)).replace("12345.678", "-1e999"), "fit.covariance[3][3]=-inf: input should be a finite number"),
    "dof zero": (model_with((("fit", "dof"), 0), (("fit", "n_points"), 4)), "fit.dof=0: input should be greater than or equal to 1"),
    "dof float": (model_with((("fit", "dof"), 20.5)), "fit.dof=20.5: input should be a valid integer"),
    "dof huge": (model_with((("fit", "dof"), 10**30)), "fit.dof=1000000000000000000000000000000: input should be less than or equal to 1000000"),
    "dof and points disagree": (model_with((("fit", "n_points"), 30)), "fit.n_points=30: must be dof + 4 = 24"),
    "r2 above one": (model_with((("fit", "r2"), 1.5)), "fit.r2=1.5: input should be less than or equal to 1"),
    "residual negative": (model_with((("fit", "residual_std_bytes"), -1.0)), "fit.residual_std_bytes=-1.0"),
    "terms reordered": (model_with((("fit", "terms"), ["markets", "base", "resting_orders", "trades_retained"])), "fit.terms=['markets', 'base', 'resting_orders', 'trades_retained']: must be"),
    "fit missing": (model_with((("fit",), ...)), "fit is required"),
    "fit a list": (model_with((("fit",), [1, 2])), "fit=[1, 2]: must be a JSON object with the keys terms, coefficients, covariance"),
    "runtime negative": (model_with((("runtime_bytes",), -5.0)), "runtime_bytes=-5.0: input should be greater than or equal to 4194304"),
    "runtime zero": (model_with((("runtime_bytes",), 0)), "runtime_bytes=0: input should be greater than or equal to 4194304"),
    "runtime infinite": (model_with((("runtime_bytes",), 1.0)).replace('"runtime_bytes": 1.0', '"runtime_bytes": 1e999'), "runtime_bytes=inf"),
    "runtime huge": (model_with((("runtime_bytes",), 1e30)), "runtime_bytes=1e+30: input should be less than or equal to"),
    "runtime string": (model_with((("runtime_bytes",), "182 MB")), "runtime_bytes='182 MB': input should be a valid number"),
    "reserved ratio below one": (model_with((("reserved_ratio", "median"), 0.5)), "reserved_ratio.median=0.5: input should be greater than or equal to 1"),
    "reserved max below median": (model_with((("reserved_ratio", "max"), 1.1)), "reserved_ratio.max=1.1: must be at least median="),
    "throughput empty": (model_with((("throughput_per_core",), [])), "throughput_per_core=[]: list should have at least 1 item"),
    "throughput zero": (model_with((("throughput_per_core", 0, "orders_per_s"), 0.0)), "throughput_per_core[0].orders_per_s=0.0: input should be greater than or equal to 1"),
    "throughput negative": (model_with((("throughput_per_core", 2, "orders_per_s"), -6e6)), "throughput_per_core[2].orders_per_s=-6000000.0"),
    "throughput zero markets": (model_with((("throughput_per_core", 0, "markets"), 0)), "throughput_per_core[0].markets=0"),
    "throughput twice": (model_with((("throughput_per_core", 1, "markets"), 1000.0)), "throughput_per_core[1].markets=1000.0: throughput_per_core[0] measures this size already"),
    "throughput row a number": (model_with((("throughput_per_core", 1), 5.0)), "throughput_per_core[1]=5.0: must be a JSON object with the keys markets, orders_per_s"),
    "coefficient a number": (model_with(((*COEF, "base"), -2e6)), "fit.coefficients.base=-2000000.0: must be a JSON object with the keys value, ci95"),
    "throughput a table": (model_with((("throughput_per_core",), {"markets": 1000.0, "orders_per_s": 6e6})), "throughput_per_core={'markets': 1000.0, 'orders_per_s': 6000000.0}: input should be a valid list"),
    "largest markets zero": (model_with((("largest_markets",), 0)), "largest_markets=0"),
    "largest markets huge": (model_with((("largest_markets",), 10**30)), "largest_markets=1000000000000000000000000000000"),
    "unknown key": (model_with((("comment",), "hello")), "unknown key 'comment' (known: format, target, formula, fit"),
    "point with negative orders": (model_with((("points", 0, "resting_orders"), -1)), "points[0].resting_orders=-1"),
    "provenance command a number": (model_with((("provenance", "command"), 7)), "provenance.command=7: input should be a valid string"),
    "validation with zero measured": (model_with((("validation", 0, "measured_bytes"), 0.0)), "validation[0].measured_bytes=0.0: input should be greater than 0"),
    "wrong format": (model_with((("format",), "lxdex-capacity-model/2")), "format='lxdex-capacity-model/2': not an lxdex capacity model"),
    "no format": (model_with((("format",), ...)), "format=None: not an lxdex capacity model"),
    "top-level list": ("[1, 2, 3]", "not an lxdex capacity model"),
    "top-level string": ('"lxdex-capacity-model/1"', "not an lxdex capacity model"),
    "NaN": (model_with((("runtime_bytes",), 1.0)).replace('"runtime_bytes": 1.0', '"runtime_bytes": NaN'), "NaN is not a number"),
    "malformed": ('{"format": "lxdex-capacity-model/1",\n "fit": }', "malformed JSON at line 2"),
}

MODEL_COMMANDS = {"plan": ["plan"], "plan --json": ["plan", "--json"]}


@pytest.mark.parametrize("command", list(MODEL_COMMANDS))
@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_a_bad_model_file_is_one_line_naming_the_file_and_key(tmp_path, case, command):
    text, fragment = BAD_MODELS[case]
    path = tmp_path / "model.json"
    path.write_text(text, encoding="utf-8")
    assert_error(run_cli(*MODEL_COMMANDS[command], "--model", str(path)), path, fragment)


def test_the_reference_model_passes_its_own_schema(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(model_with(), encoding="utf-8")
    result = run_cli("plan", "--model", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    _finite_everywhere(strict_json(result.stdout))


ZERO_COVARIANCE = [[0.0] * 4 for _ in range(4)]


def exact_fit(**values: float) -> tuple[tuple[tuple[Any, ...], Any], ...]:
    """The changes that make the reference model's fit an exact one (no scatter: zero covariance, R² 1, each interval its
    value) with the coefficients ``values`` (the others the reference's), and no points: a model edited by hand has
    coefficients its sweep points would contradict (lxdex_capacity.physics)."""
    coefficients = reference_model()["fit"]["coefficients"]
    changes: list[tuple[tuple[Any, ...], Any]] = [(("points",), []), (("validation",), []), (("fit", "covariance"), ZERO_COVARIANCE),
                                                  (("fit", "residual_std_bytes"), 0.0), (("fit", "r2"), 1.0)]
    for term, c in coefficients.items():
        value = values.get(term, c["value"])
        changes.append(((*COEF, term), {"value": value, "ci95": [value, value]}))
    return tuple(changes)


SMALLEST_RUNTIME = float(4 << 20)  # what any process holds (lxdex_capacity.physics.MIN_PROCESS_RSS_BYTES)
EDGE_MODELS = {
    # Nearly nothing costs anything: every load fits everywhere, max markets stops at the plan's limit.
    "all zero but the runtime": ((("runtime_bytes",), SMALLEST_RUNTIME),
                                 *exact_fit(base=0.0, markets=5e-324, resting_orders=5e-324, trades_retained=5e-324)),
    # A very negative intercept and a tiny runtime: small loads would need "negative" bytes.
    "negative intercept": ((("runtime_bytes",), SMALLEST_RUNTIME), *exact_fit(base=-1e12)),
    "one throughput, one degree of freedom": ((("throughput_per_core",), [{"markets": 1.0, "orders_per_s": 1.0}]),
                                              *exact_fit(), (("fit", "dof"), 1), (("fit", "n_points"), 5)),
    "runtime fills every machine": ((("runtime_bytes",), float(1 << 46)), *exact_fit()),
    "largest coefficients": exact_fit(markets=float(1 << 40)),
    "tiny per-unit costs": exact_fit(markets=5e-324, resting_orders=5e-324),
    "no points, no validation": ((("points",), []), (("validation",), []), (("provenance",), {})),
}


@pytest.mark.parametrize("args", [["--markets", "1", "--orders-per-market", "0", "--trades-retained", "0"],
                                  ["--markets", "21000"], ["--markets", "10000000", "--orders-per-market", "1000"]],
                         ids=["tiny", "default", "large"])
@pytest.mark.parametrize("case", list(EDGE_MODELS))
def test_valid_edge_models_give_finite_non_negative_plans(tmp_path, case, args):
    path = tmp_path / "model.json"
    path.write_text(model_with(*EDGE_MODELS[case]), encoding="utf-8")
    result = run_cli("plan", "--model", str(path), "--json", *args)
    if result.exit_code == 2:  # a load nothing holds is a refusal, in one line, saying what runs out
        refusals = {"runtime fills every machine": "no profile can hold this load", "largest coefficients": "no profile can hold this load",
                    "one throughput, one degree of freedom": "no profile can sustain this order rate"}
        assert case in refusals, result.stderr
        assert_one_line_error(result, refusals[case])
        return
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    _finite_everywhere(report)
    for p in report["profiles"]:
        assert p["headroom_pct"] is None or 0 <= p["headroom_pct"] <= 100
        assert 0 <= p["max_markets"] <= 10**12
    assert report["engine_bytes"] >= 0
    text = run_cli("plan", "--model", str(path), *args)
    assert text.exit_code == 0, text.stderr
    assert not _NON_FINITE.search(text.stdout), text.stdout


@pytest.mark.parametrize(
    "option, value, fragment",
    [("--order-rate", "inf", "--order-rate=inf"), ("--os-reserve", "inf", "--os-reserve=inf"),
     ("--trades-retained", str(10**30), "--trades-retained=1000000000000000000000000000000"),
     ("--orders-per-market", "1e300", "--orders-per-market=1e+300"), ("--orders-per-market", "2e12", "--orders-per-market=2000000000000.0")],
)
def test_plan_options_out_of_range_are_one_line(option, value, fragment):
    assert_one_line_error(run_cli("plan", option, value), fragment)


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of ``value`` (of the sweep's points, the first one only)."""
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value[:1] if path == ("points",) else value))
    else:
        return [path]
    return [path, *(p for k, v in items for p in _leaf_paths(v, (*path, k)))]


_MODEL_PATHS = [p for p in _leaf_paths(reference_model()) if p]
_JSON_VALUES = st.one_of(
    st.floats(), st.integers(-(10**30), 10**30), st.sampled_from([0, -1, 1e300, -1e-300, 10**400, True, False, None, "", "1", [], {}, [[]], ...]),
    st.lists(st.floats(), max_size=4), st.dictionaries(st.sampled_from(["value", "ci95", "x"]), st.floats(), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(_MODEL_PATHS), _JSON_VALUES), min_size=1, max_size=2))
def test_random_hostile_model_files_never_crash(changes):
    data = reference_model()
    for path, value in changes:
        try:
            data = _set(data, path, value)
        except (KeyError, IndexError, TypeError):  # an earlier change took this path away
            continue
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        result = run_cli("plan", "--json", "--model", str(path))
        assert result.exit_code in (0, 2), (changes, result)
        assert "Traceback" not in result.stderr
        if result.exit_code == 0:
            _finite_everywhere(strict_json(result.stdout))
        else:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("lxdex: error: ") and len(lines[0]) > len("lxdex: error: "), (changes, result.stderr)
            assert result.stdout == ""
