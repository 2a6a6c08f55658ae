"""The lxdex command line, run as a user runs it (a subprocess of the installed entry point)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lxdex_capacity import __version__


def lxdex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lxdex_capacity.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit code 2, nothing on stdout, and one ``lxdex: error:`` line on stderr holding ``message``."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lxdex: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help():
    assert lxdex("--version").stdout.strip() == f"lxdex-capacity {__version__}"
    help_text = lxdex("--help").stdout
    assert "bench" in help_text


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "--markets", "0"], "Invalid value for '--markets'"),
        (["bench", "--repeat", "x"], "Invalid value for '--repeat'"),
        (["bench", "--marktes", "5"], "No such option: --marktes"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_code_2(args, message):
    assert_one_line_error(lxdex(*args), message)


def test_bench_quick_json_reports_every_workload_and_target():
    result = lxdex("bench", "--quick", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["results"]) == {"seeded_flow", "cancel_heavy", "lookups", "footprint"}
    flow = report["results"]["seeded_flow"]["median"]
    assert flow["flow_trades"] >= 50_000 and flow["orders_per_s"] > 0
    assert report["results"]["footprint"]["median"]["bytes_per_empty_market"] == 40
    assert all("met" in t for t in report["targets"].values())


def test_every_data_file_is_declared_as_package_data():
    """Tests import the source tree, so a data file missing from the wheel would pass them: check the declaration."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).parent.parent
    declared = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in (root / "lxdex_capacity").rglob("data/*"):
        package = ".".join(path.parent.parent.relative_to(root).parts)
        relative = path.relative_to(path.parent.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in declared.get(package, [])), f"{path} is not package data"
