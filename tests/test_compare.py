"""``lxdex compare BASE NEW`` and :mod:`lxdex_capacity.measure.compare`: the verdicts from figures made by
:func:`~lxdex_capacity.measure.summarise` (no engine), ``--fail-on-regression``, ``--json``, hostile files
(each one line, exit 2), and one real comparison of two ``lxdex bench --quick`` runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity.atomic import strict_json
from lxdex_capacity.errors import InputError
from lxdex_capacity.measure import Figure, MachineState, summarise
from lxdex_capacity.measure.compare import compare, least_p, mann_whitney_p
from lxdex_capacity.measure.records import MachineRecord

RATE = "seeded_flow.orders_per_s"
NS = "lookups.ns_per_lookup"
BUSY = MachineState(seconds=1.0, cpus=2, own_cores=1.0, other_cores=1.5, steal_share=0.0, interrupt_share=0.0, spin_lost_share=None,
                    load_1m=3.0, runnable=3, frequency_mhz=None)
QUIET = MachineState(seconds=1.0, cpus=2, own_cores=1.0, other_cores=0.01, steal_share=0.0, interrupt_share=0.0, spin_lost_share=None,
                     load_1m=1.0, runnable=1, frequency_mhz=None)


def rate(samples: list[float], name: str = RATE, busy: bool = False) -> Figure:
    states = [BUSY if busy else QUIET] * len(samples)
    return summarise(name, "orders/s", samples, states, better="higher")


def ns(samples: list[float], name: str = NS) -> Figure:
    return summarise(name, "ns", samples, better="lower")


def result(*figures: Figure, kind: str = "bench") -> dict[str, Any]:
    """A command's JSON as it prints it (through strict JSON and back)."""
    return json.loads(strict_json({"kind": kind, "version": "0.1.0", "figures": {f.name: f.as_dict() for f in figures}}))


def write(path: Path, data: Any) -> str:
    path.write_text(data if isinstance(data, str) else strict_json(data), encoding="utf-8")
    return str(path)


def row(base: Figure, new: Figure) -> Any:
    (only,) = compare(result(base), result(new)).rows
    return only


BASE = [100.0, 101.0, 102.0, 103.0, 104.0]
FASTER = [120.0, 121.0, 122.0, 123.0, 124.0]
SLOWER = [80.0, 81.0, 82.0, 83.0, 84.0]


# --- the verdicts ------------------------------------------------------------------------------------------


def test_a_clear_speed_up_is_faster_with_the_ratio_interval_above_1():
    r = row(rate(BASE), rate(FASTER))
    assert r.verdict == "faster"
    assert r.ratio == pytest.approx(122 / 102)
    assert r.ratio_low == pytest.approx(120 / 104) and r.ratio_low > 1
    assert r.ratio_high == pytest.approx(124 / 100)
    assert r.coverage == pytest.approx(0.9375**2)  # the range of 5 covers the median with 93.75%
    assert r.p_value == pytest.approx(2 / 252)  # exact: every new repeat above every base repeat
    assert r.change_text() == "+19.6% faster"
    assert r.slowdown == 0.0


def test_a_clear_slow_down_is_slower():
    r = row(rate(BASE), rate(SLOWER))
    assert r.verdict == "slower" and r.ratio_high is not None and r.ratio_high < 1
    assert r.change_text() == "-19.6% slower"
    assert r.slowdown == pytest.approx(1 - 82 / 102)


def test_lower_is_better_for_times():
    assert row(ns([10.0, 10.1, 10.2, 10.3, 10.4]), ns([8.0, 8.1, 8.2, 8.3, 8.4])).verdict == "faster"
    slower = row(ns([10.0, 10.1, 10.2, 10.3, 10.4]), ns([12.0, 12.1, 12.2, 12.3, 12.4]))
    assert slower.verdict == "slower"
    assert slower.change == pytest.approx(12.2 / 10.2 - 1)
    assert slower.improvement == pytest.approx(-(12.2 / 10.2 - 1))
    assert slower.change_text().endswith("slower") and slower.change_text().startswith("-")


def test_identical_distributions_are_no_significant_change():
    r = row(rate(BASE), rate(list(reversed(BASE))))
    assert r.verdict == "no significant change" and r.ratio == 1.0 and r.p_value == 1.0


def test_overlapping_intervals_are_no_significant_change():
    r = row(rate(BASE), rate([102.0, 103.0, 104.0, 105.0, 106.0]))
    assert r.verdict == "no significant change" and r.ratio_low is not None and r.ratio_low < 1 < (r.ratio_high or 0)


@pytest.mark.parametrize("which", ["base", "new", "both"])
@pytest.mark.machine_state  # made-up busy windows: seen as busy
def test_a_disturbed_figure_is_too_noisy_to_call_however_large_the_ratio(which):
    base = rate(BASE, busy=which in ("base", "both"))
    new = rate([x * 10 for x in FASTER], busy=which in ("new", "both"))
    assert (base.status == "disturbed") == (which in ("base", "both"))
    r = row(base, new)
    assert r.verdict == "too noisy to call"
    assert "busy machine" in r.reason
    assert r.ratio is not None and r.ratio > 10  # the ratio is said, the verdict is not given


def test_fewer_than_3_repeats_are_too_noisy_to_call():
    r = row(rate([100.0, 101.0]), rate([200.0, 201.0, 202.0]))
    assert r.verdict == "too noisy to call" and "2 repeats" in r.reason


def test_3_repeats_against_3_cannot_call_a_change_and_say_why():
    assert least_p(3, 3) == pytest.approx(0.1) and least_p(4, 4) < 0.05 and least_p(3, 5) < 0.05
    r = row(rate([100.0, 101.0, 102.0]), rate([200.0, 201.0, 202.0]))
    assert r.verdict == "too noisy to call"
    assert r.p_value == pytest.approx(0.1) and "cannot get below 0.10" in r.reason
    assert row(rate([100.0, 101.0, 102.0, 103.0]), rate([200.0, 201.0, 202.0, 203.0])).verdict == "faster"


def test_mann_whitney_without_any_spread():
    assert mann_whitney_p([5.0, 5.0, 5.0], [5.0, 5.0, 5.0]) == 1.0
    assert mann_whitney_p([5.0, 5.0, 5.0], [6.0, 6.0, 6.0]) == pytest.approx(least_p(3, 3))  # tied: still exact
    assert row(rate([5.0, 5.0, 5.0]), rate([6.0, 6.0, 6.0])).verdict == "too noisy to call"
    large = mann_whitney_p([float(x) for x in range(30)], [float(x) + 100 for x in range(30)])
    assert 0 < large < 1e-6  # the normal approximation beyond 40 repeats


def test_figures_counted_exactly_are_same_larger_or_smaller():
    def exact(value: float) -> Figure:
        return summarise("footprint.bytes_per_order_used", "B", [value], better="lower", timed=False)

    assert row(exact(24.0), exact(24.0)).verdict == "same"
    larger = row(exact(24.0), exact(25.0))
    assert larger.verdict == "larger" and larger.change_text() == "+4.2% larger" and larger.p_value is None
    assert row(exact(24.0), exact(23.0)).verdict == "smaller"


def test_figures_in_one_result_only_are_listed_and_counted():
    c = compare(result(rate(BASE), rate(BASE, name="a")), result(rate(BASE), rate(BASE, name="b")))
    assert [r.name for r in c.rows] == [RATE] and c.only_in_base == ("a",) and c.only_in_new == ("b",)
    assert c.summary() == "0 faster, 0 slower, 1 no significant change, 0 too noisy to call; 1 only in base, 1 only in new"


def test_the_machine_record_reads_every_machine_state_field():
    assert set(MachineRecord.model_fields) == set(MachineState.__dataclass_fields__)


def test_a_saved_figure_reads_back_as_the_same_figure():
    figure = rate(BASE)
    c = compare(result(figure), result(figure))
    assert c.base_figures[RATE] == figure


# --- the command ------------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    """Files of a base with a rate, a time and a byte count, and news: faster, slower, disturbed, the same."""
    base = [rate(BASE), ns([10.0, 10.1, 10.2, 10.3, 10.4]), summarise("bytes", "B", [24.0], better="lower", timed=False)]
    news = {
        "faster": [rate(FASTER), ns([10.0, 10.1, 10.2, 10.3, 10.4]), summarise("bytes", "B", [24.0], better="lower", timed=False)],
        "slower": [rate(SLOWER), ns([10.0, 10.1, 10.2, 10.3, 10.4]), summarise("bytes", "B", [25.0], better="lower", timed=False)],
        "disturbed": [rate([10.0 * x for x in SLOWER], busy=True), ns([10.0, 10.1, 10.2, 10.3, 10.4])],
    }
    paths = {"base": write(tmp_path / "base.json", result(*base))}
    paths |= {name: write(tmp_path / f"{name}.json", result(*figures)) for name, figures in news.items()}
    return paths


def test_the_table_and_summary(files):
    res = run_cli("compare", files["base"], files["faster"])
    assert res.exit_code == 0, res.stderr
    assert RATE in res.stdout and NS in res.stdout and "faster" in res.stdout
    assert "1 faster, 0 slower, 1 no significant change, 0 too noisy to call; counted exactly: 1 same" in res.stdout
    assert "Traceback" not in res.stderr


def test_fail_on_regression_exits_1_after_the_table(files):
    res = run_cli("compare", files["base"], files["slower"], "--fail-on-regression", "10")
    assert res.exit_code == 1
    assert RATE in res.stdout and "0 faster, 1 slower" in res.stdout  # the table came first
    lines = res.stderr.strip().splitlines()
    assert lines[-1].startswith("lxdex: error: 1 figure slower by more than 10%") and RATE in lines[-1]


def test_fail_on_regression_under_the_threshold_exits_0(files):
    res = run_cli("compare", files["base"], files["slower"], "--fail-on-regression", "25")
    assert res.exit_code == 0, res.stderr
    assert "slower" in res.stdout


@pytest.mark.machine_state  # made-up busy windows: seen as busy
def test_too_noisy_to_call_never_fails_and_says_so_in_one_line(files):
    res = run_cli("compare", files["base"], files["disturbed"], "--fail-on-regression", "1")
    assert res.exit_code == 0, res.stderr
    assert "too noisy to call" in res.stdout
    warnings = [line for line in res.stderr.splitlines() if line.startswith("lxdex: warning:")]
    assert any("busy" in line for line in warnings)  # warn_unsteady: the disturbed figure
    assert any("too noisy to call" in line and "--fail-on-regression" in line for line in warnings)
    assert "error" not in res.stderr


@pytest.mark.parametrize("pct", ["0", "-5", "nan", "inf", "1000.5"])
def test_fail_on_regression_out_of_range_is_one_line(files, pct):
    assert_one_line_error(run_cli("compare", files["base"], files["slower"], f"--fail-on-regression={pct}"), "--fail-on-regression")


def test_json_output(files):
    res = run_cli("compare", files["base"], files["slower"], "--json", "--fail-on-regression", "10")
    assert res.exit_code == 1
    data = json.loads(res.stdout)
    assert data["kind"] == "compare"
    assert data["base"] == {"file": files["base"], "kind": "bench"} and data["new"] == {"file": files["slower"], "kind": "bench"}
    by_name = {r["name"]: r for r in data["rows"]}
    assert set(by_name) == {RATE, NS, "bytes"}
    assert by_name[RATE]["verdict"] == "slower" and by_name[RATE]["ratio_high"] < 1
    assert by_name["bytes"]["verdict"] == "larger"
    assert data["summary"]["slower"] == 1 and data["summary"]["no significant change"] == 1 and data["summary"]["larger"] == 1
    assert data["regressions"] == [RATE]


def test_results_of_two_kinds_are_one_line_naming_both(tmp_path):
    base = write(tmp_path / "base.json", result(rate(BASE)))
    new = write(tmp_path / "new.json", result(rate(BASE), kind="latency"))
    res = run_cli("compare", base, new)
    assert_one_line_error(res, "'bench' result")
    assert "'latency' result" in res.stderr


def test_no_figure_in_common_is_one_line(tmp_path):
    base = write(tmp_path / "base.json", result(rate(BASE, name="a")))
    new = write(tmp_path / "new.json", result(rate(BASE, name="b")))
    assert_one_line_error(run_cli("compare", base, new), "share no figure")


def test_a_figure_that_changed_unit_is_one_line(tmp_path):
    base = write(tmp_path / "base.json", result(rate(BASE)))
    other = summarise(RATE, "msg/s", BASE)
    new = write(tmp_path / "new.json", result(other))
    assert_one_line_error(run_cli("compare", base, new), f'figures["{RATE}"].unit=\'msg/s\'')


# --- hostile files ------------------------------------------------------------------------------------------


def _mutated(changes: dict[str, Any]) -> dict[str, Any]:
    data = result(rate(BASE))
    data["figures"][RATE] |= changes
    return data


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "does not exist"),
    ("", "is empty"),
    ("   \n", "is empty"),
    ("{not json", "malformed JSON at line 1"),
    (b"\xff\xfe{}", "is not UTF-8"),
    ("[1, 2]", "must be a JSON object"),
    ("null", "must be a JSON object"),
    ('{"kind": "bench", "figures": {"x": NaN}}', "JSON has no NaN"),
    ('{"kind": "bench"}', "figures is required"),
    ('{"figures": {}}', "kind is required"),
    ('{"kind": "bench", "figures": []}', "figures=[]: must be an object"),
    ('{"kind": 3, "figures": {}}', "kind=3"),
])
def test_an_unreadable_file_is_one_line(tmp_path, content, fragment):
    base = write(tmp_path / "base.json", result(rate(BASE)))
    path = tmp_path / "new.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    assert_one_line_error(run_cli("compare", base, str(path)), fragment)


def test_a_directory_is_one_line(tmp_path):
    base = write(tmp_path / "base.json", result(rate(BASE)))
    assert_one_line_error(run_cli("compare", base, str(tmp_path)), "is a directory")


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"value": "NaN"}, f'figures["{RATE}"].value=\'NaN\': input should be a valid number'),
    ({"high": "inf"}, f'figures["{RATE}"].high=\'inf\''),
    ({"samples": [100.0, "Infinity", 102.0, 103.0, 104.0]}, f'figures["{RATE}"].samples[1]=\'Infinity\''),
    ({"low": 1e999}, f'figures["{RATE}"].low'),  # written as 1e999 below: JSON's way to say infinity
    ({"low": 105.0}, f'figures["{RATE}"].low=105.0: must be at most value=102.0'),
    ({"high": 90.0}, f'figures["{RATE}"].high=90.0: must be at least value=102.0'),
    ({"status": "great"}, f'figures["{RATE}"].status=\'great\''),
    ({"better": "faster"}, f'figures["{RATE}"].better=\'faster\''),
    ({"samples": []}, f'figures["{RATE}"].samples=[]'),
    ({"used": [0, 1, 9]}, f'figures["{RATE}"].used[2]=9: names a repeat beyond the 5 samples'),
    ({"used": [1, 1]}, f'figures["{RATE}"].used[1]=1: repeats must be named in increasing order'),
    ({"repeats": 7}, f'figures["{RATE}"].repeats=7: must be the number of samples (5)'),
    ({"confidence": 1.5}, f'figures["{RATE}"].confidence=1.5'),
    ({"timed": "yes"}, f'figures["{RATE}"].timed=\'yes\''),
    ({"value": True}, f'figures["{RATE}"].value=True'),
    ({"name": "a\nb"}, f'figures["{RATE}"].name='),
    ({"machine": {"seconds": "x"}}, f'figures["{RATE}"].machine.seconds=\'x\''),
])
def test_a_bad_figure_is_one_line_naming_the_file_and_the_key(tmp_path, changes, fragment):
    base = write(tmp_path / "base.json", result(rate(BASE)))
    text = strict_json(_mutated({k: (0.0 if v == 1e999 else v) for k, v in changes.items()}))
    if any(v == 1e999 for v in changes.values()):
        text = text.replace('"low": 0.0', '"low": 1e999')
    new = write(tmp_path / "new.json", text)
    res = run_cli("compare", base, new)
    assert_one_line_error(res, f"{new}: {fragment}")


@pytest.mark.parametrize(("figure", "fragment"), [
    ([1, 2, 3], f'figures["{RATE}"]=[1, 2, 3]: must be an object'),
    ("fast", f'figures["{RATE}"]=\'fast\': must be an object'),
    (None, f'figures["{RATE}"]=None: must be an object'),
    ({}, f'figures["{RATE}"].name is required'),
])
def test_a_figure_that_is_not_a_figure_record_is_one_line(tmp_path, figure, fragment):
    base = write(tmp_path / "base.json", result(rate(BASE)))
    new = write(tmp_path / "new.json", {"kind": "bench", "figures": {RATE: figure}})
    assert_one_line_error(run_cli("compare", base, new), fragment)


def test_markup_and_a_long_name_are_printed_as_written(tmp_path):
    name = "[red]x[/red] " + "y" * 150
    base = write(tmp_path / "base.json", result(rate(BASE, name=name)))
    new = write(tmp_path / "new.json", result(rate(FASTER, name=name)))
    res = run_cli("compare", base, new, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["rows"][0]["name"] == name
    table = run_cli("compare", base, new)
    assert table.exit_code == 0 and "[red]x[/red]" in table.stdout


def test_the_library_raises_input_error():
    with pytest.raises(InputError, match=r"^base: must be a JSON object"):
        compare([], result(rate(BASE)))  # type: ignore[arg-type]


def test_the_command_and_its_library_stay_light():
    """The comparison's library imports neither numba nor scipy (scipy when a test runs), and the command module
    imports the library and its renderer only when it runs (importing any lxdex_capacity.cli module imports every
    command module, so the command's own imports are read from its source)."""
    code = ("import sys; import lxdex_capacity.measure.compare; "
            "print(sorted(m for m in ('numba', 'scipy', 'lxdex_capacity.engine') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
    cli = Path(__file__).resolve().parent.parent / "lxdex_capacity" / "cli"

    def top_level_imports(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        return {("." * n.level) + (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
                for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}

    command = top_level_imports(cli / "compare.py")
    assert command <= {"__future__", "contextlib", "math", "dataclasses", "pathlib", "typer", "..console", "..errors", ".app",
                       ".options", ".render"}, command
    assert not {m for m in top_level_imports(cli / "render" / "compare.py") if "engine" in m or "scipy" in m or "numba" in m}


# --- end to end ---------------------------------------------------------------------------------------------


def test_two_real_bench_runs_compare(tmp_path, restore_cpu_affinity):
    paths = []  # 4 s here with the kernels cached (each run: 3 repeats of the quick sizes)
    for i in range(2):
        res = run_cli("bench", "--quick", "--repeats", "3", "--json")
        assert res.exit_code == 0, res.stderr
        paths.append(write(tmp_path / f"bench{i}.json", res.stdout))
    res = run_cli("compare", *paths, "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    report = json.loads(Path(paths[0]).read_text())
    timed = {name for name, f in report["figures"].items() if f["timed"]}
    assert timed and {r["name"] for r in data["rows"] if r["timed"]} == timed
    assert all(r["verdict"] in ("faster", "slower", "no significant change", "too noisy to call") for r in data["rows"] if r["timed"])
    table = run_cli("compare", *paths)
    assert table.exit_code == 0 and all(name in table.stdout for name in timed)
