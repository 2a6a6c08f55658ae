"""The lxdex command line: in this process through :func:`lxdex_capacity.cli.main` (``helpers.run_cli``),
and three smoke tests of the installed entry point, run as a user runs it."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import Result, assert_one_line_error, run_cli
from lxdex_capacity import __version__
from lxdex_capacity.errors import CapacityError, CheckFailed, InputError, Interrupted, LxdexError

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ["bench", "compare", "simulate", "profile", "latency", "sweep", "plan", "report", "audit", "replay", "calibrate", "hardware", "scenario", "cache"]


def lxdex_process(*args: str, module: bool = False) -> Result:
    """``lxdex ARGS`` in a subprocess: the installed console script, or ``python -m lxdex_capacity``."""
    script = Path(sys.executable).with_name("lxdex")
    command = [sys.executable, "-m", "lxdex_capacity"] if module or not script.exists() else [str(script)]
    proc = subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --- the installed entry point, in a subprocess --------------------------------------------------------


def test_entry_point_prints_the_version():
    result = lxdex_process("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"lxdex-capacity {__version__}", result.stderr


def test_entry_point_error_is_one_line_on_stderr_with_exit_code_2():
    assert_one_line_error(lxdex_process("plan", "--model", "/nonexistent/model.json"), "does not exist")


def test_python_m_runs_the_command_line():
    result = lxdex_process("hardware", "show", "Mac mini M4 16 GB", "--json", module=True)
    assert result.exit_code == 0 and json.loads(result.stdout)["name"] == "Mac mini M4 16 GB", result.stderr


# --- in this process -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], []], ids=["--help", "no arguments"])
def test_help_lists_every_command_in_order(args):
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert re.findall(r"^│ (\w+) ", result.stdout, re.MULTILINE) == COMMANDS


@pytest.mark.parametrize("rich", [True, False], ids=["rich help", "plain help"])
@pytest.mark.parametrize("group", [[], ["hardware"], ["scenario"]], ids=["lxdex", "lxdex hardware", "lxdex scenario"])
def test_a_group_run_bare_shows_its_help_once_as_help_does(monkeypatch, group, rich):
    monkeypatch.setattr("typer.core.HAS_RICH", rich)
    bare, helped = run_cli(*group), run_cli(*group, "--help")
    assert (bare.exit_code, bare.stderr) == (0, ""), bare.stderr
    assert bare.stdout.count("Usage:") == 1 and bare.stdout.count("Commands") == 1, bare.stdout
    assert bare.stdout == helped.stdout


def test_help_shows_toml_table_brackets():
    result = run_cli("plan", "--help")
    assert result.exit_code == 0, result.stderr
    assert "([[machine]] tables" in result.stdout and "([] tables" not in result.stdout, result.stdout


def test_no_help_text_loses_a_bracket_to_rich_markup():
    """typer's rich help reads help as markup, where ``[word]`` is a style tag and vanishes: every help
    text (commands, options, arguments) must show as written, brackets escaped (options.help_text)."""
    import typer
    from rich.text import Text

    from lxdex_capacity.cli import app

    if not typer.core.HAS_RICH:
        pytest.skip("TYPER_USE_RICH=0: click's plain help, which is not markup")

    def commands(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from commands(sub, f"{path} {name}")

    texts = []
    for path, command in commands(typer.main.get_command(app), "lxdex"):
        texts += [(path, command.help), (path, command.short_help), (path, command.epilog)]
        texts += [(f"{path} {param.name}", getattr(param, "help", None)) for param in command.params]
    assert any("[[machine]]" in Text.from_markup(text).plain for _, text in texts if text)
    for where, text in texts:
        if text:
            assert Text.from_markup(text).plain == text.replace("\\[", "["), where


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "--markets", "0"], "Invalid value for '--markets'"),
        (["bench", "--repeats", "x"], "Invalid value for '--repeats'"),
        (["bench", "--marktes", "5"], "No such option: --marktes"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_code_2(args, message):
    assert_one_line_error(run_cli(*args), message)


@pytest.mark.parametrize(
    "error, code, line",
    [
        (InputError("no good"), 2, "lxdex: error: no good"),
        (CapacityError("too big"), 2, "lxdex: error: too big"),
        (CheckFailed("a shard failed"), 1, "lxdex: error: a shard failed"),
        (LxdexError("a point failed"), 1, "lxdex: error: a point failed"),
        (Interrupted(), 130, "lxdex: interrupted"),
        (KeyboardInterrupt(), 130, "lxdex: interrupted"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_an_error_ends_the_command_with_its_class_exit_code_and_one_line(monkeypatch, error, code, line):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("lxdex_capacity.capacity.hardware.load_profiles", fail)
    result = run_cli("hardware", "list")
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", line + "\n")


def test_bench_quick_json_reports_every_workload_and_target(restore_cpu_affinity):
    result = run_cli("bench", "--quick", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["results"]) == {"seeded_flow", "cancel_heavy", "lookups", "footprint"}
    flow = report["results"]["seeded_flow"]["median"]
    assert flow["flow_trades"] >= 50_000 and flow["orders_per_s"] > 0
    assert report["results"]["footprint"]["median"]["bytes_per_empty_market"] == 40
    assert all("met" in t for t in report["targets"].values())


def test_no_import_cycle_in_the_cli_package():
    """Counting imports inside functions too: app.py imports no command module, and nothing imports back."""
    from graphlib import TopologicalSorter

    files = {path: path.relative_to(ROOT).with_suffix("").parts for path in (ROOT / "lxdex_capacity" / "cli").rglob("*.py")}
    modules = {".".join(parts[:-1] if parts[-1] == "__init__" else parts) for parts in files.values()}
    graph: dict[str, set[str]] = {}
    for path, parts in files.items():
        package, name = parts[:-1], ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imports = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                target = ".".join(filter(None, [base, node.module]))
                imports.update(f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names)
            elif isinstance(node, ast.Import):
                imports.update(a.name for a in node.names)
        imports.intersection_update(modules - {name})
    assert "lxdex_capacity.cli.simulate" in graph["lxdex_capacity.cli"]  # the graph is really read
    list(TopologicalSorter(graph).static_order())  # raises CycleError naming the cycle


def test_every_data_file_is_declared_as_package_data():
    """Tests import the source tree, so a data file missing from the wheel would pass them: check the declaration."""
    import fnmatch
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in (ROOT / "lxdex_capacity").rglob("data/*"):
        package = ".".join(path.parent.parent.relative_to(ROOT).parts)
        relative = path.relative_to(path.parent.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in declared.get(package, [])), f"{path} is not package data"
