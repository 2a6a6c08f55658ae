"""What ``lxdex`` prints when stdout is not a terminal (a pipe, a file, a test): as wide as its tables need, or
``COLUMNS`` when that is a positive integer; no cell ever cut short with '…', key columns (names, ids) whole.
And the audit's table: a short "how" per row, the long basis of each verdict below it as a numbered note."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from helpers import run_cli
from lxdex_capacity.capacity.hardware import load_profiles
from lxdex_capacity.console import UNBOUNDED_WIDTH, Table, columns_from_environment, out
from lxdex_capacity.machine import usable_cores

PROFILES = [p.name for p in load_profiles(None)]
COMMANDS = [("hardware", "list"), ("plan", "--markets", "21000")]


@pytest.fixture
def piped(monkeypatch):
    """stdout is not a terminal (run_cli's is a buffer), and nothing in the environment asks for a width or a terminal."""
    for name in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("value, width", [("120", 120), (" 90 ", 90), ("1", 1), ("0", None), ("-5", None), ("80x", None), ("", None),
                                          ("abc", None), ("\uff18\uff10", None), ("99999999999", UNBOUNDED_WIDTH)])
def test_columns_is_honoured_when_it_is_a_positive_integer(piped, value, width):
    piped.setenv("COLUMNS", value)
    assert columns_from_environment() == width
    assert out.width == (width or UNBOUNDED_WIDTH)  # out's width is decided at each print: stdout is not a terminal here


@pytest.mark.parametrize("args", COMMANDS)
def test_piped_output_has_every_profile_name_whole_and_nothing_cut(piped, args):
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    for name in PROFILES:
        assert any(name in line for line in lines), name
    if args[0] == "plan":  # one table, a row per profile, every column of it on the profile's line
        row = next(line for line in lines if "Mac Studio M2 Ultra 128 GB" in line)
        assert "yes" in row and "order rate" in row and "$1,600" in row


@pytest.mark.parametrize("args", COMMANDS)
def test_garbage_in_columns_is_ignored(piped, args):
    wide = run_cli(*args).stdout
    for garbage in ("0", "-3", "eighty", "80.5"):
        piped.setenv("COLUMNS", garbage)
        assert run_cli(*args).stdout == wide, garbage


@pytest.mark.parametrize("args", COMMANDS)
def test_columns_80_folds_lines_to_80_with_every_name_still_whole(piped, args):
    piped.setenv("COLUMNS", "80")
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, [line for line in lines if cell_len(line) > 80]
    for name in PROFILES:
        assert any(name in line for line in lines), name


def _render(table: Table, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(table)
    return console.file.getvalue().splitlines()


def test_a_key_column_stays_whole_and_the_others_fold_never_ending_in_an_ellipsis():
    table = Table(title="t")
    table.add_column("profile", key=True)
    table.add_column("note")
    table.add_column("figure", justify="right")
    table.add_row("Mac Studio M3 Ultra 512 GB", "a long description of what the figure counts and how", "1,234,567,890")
    for width in (200, 80, 50, 40):
        lines = _render(table, width)
        text = "\n".join(lines)
        assert "…" not in text and max(cell_len(line) for line in lines) <= width, (width, text)
        assert any("Mac Studio M3 Ultra 512 GB" in line for line in lines), (width, text)
        figure = "".join(re.sub(r"[^0-9,]", "", line.replace("Mac Studio M3 Ultra 512 GB", "")) for line in lines)
        assert figure == "1,234,567,890"  # whole, or folded over lines, never cut


def test_a_key_wider_than_the_console_folds_rather_than_being_cut():
    table = Table()
    table.add_column("id", key=True)
    table.add_column("value")
    table.add_row("a-claim-identifier-far-longer-than-the-console", "x")
    lines = _render(table, 24)
    assert max(cell_len(line) for line in lines) <= 24
    assert "…" not in "\n".join(lines)
    body = lines[2:]  # after the header and its rule, drawn compact: the id folded on the left, the value beside it
    assert body[0].split() == ["a-claim-identifie", "x"]
    assert "".join(line.split()[0] for line in body) == "a-claim-identifier-far-longer-than-the-console"


# -- the audit: a row is 1 to 3 lines at 120 columns; each basis in full below the table -----------------------

def _published_verdicts():
    """The published claims' verdicts, from stand-ins: no engine runs (as tests/test_audit.py makes them)."""
    from test_audit import _fake_run, _latency_result

    from lxdex_capacity.capacity.model import load_model
    from lxdex_capacity.reporting.audit import audit, load_claims

    source, claims = load_claims()

    def measure(scenario, rates, **options):
        return _latency_result([(16_900.0 + 100 * r, 104_000.0 + 1_000 * r) for r in range(options["policy"].repeats)])

    verdicts = audit(claims, lambda scenario, threads=1: _fake_run(scenario), load_model(), measure=measure)
    report = {"claims_file": "published", "source": source, "repeats": 5, "seeds": [0, 1, 2, 3, 4],
              "holds": sum(v.verdict == "holds" for v in verdicts), "fails": sum(v.verdict == "fails" for v in verdicts),
              "too_close_to_call": sum(v.verdict == "too close to call" for v in verdicts)}
    return report, verdicts


def _table_rows(text: str) -> list[list[str]]:
    """The audit table's rows, each its lines: the lines after the header's rule up to the notes, split at the
    lines between rows (a rule, or a blank line when the table is drawn compact)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"[\s━─┡╇┩┼├┤╞╪╡]+", line) and re.search(r"[━─]", line))
    end = next(i for i, line in enumerate(lines) if line.startswith("How each figure was obtained"))
    rows: list[list[str]] = [[]]
    for line in lines[start + 1:end]:
        if re.fullmatch(r"[\s─━├┼┤└┴┘]*", line):
            rows.append([])
        else:
            rows[-1].append(line)
    return [row for row in rows if row]


@pytest.mark.parametrize("columns", ["120", None])
def test_each_audit_row_is_at_most_three_lines_and_each_basis_is_a_note(piped, capsys, columns):
    from lxdex_capacity.cli.render.reports import print_audit

    if columns:
        piped.setenv("COLUMNS", columns)
    report, verdicts = _published_verdicts()
    print_audit(report, verdicts)
    text = capsys.readouterr().out
    assert "…" not in text
    rows = _table_rows(text)
    assert len(rows) == len(verdicts)
    assert all(1 <= len(row) <= 3 for row in rows), "\n\n".join("\n".join(row) for row in rows)
    if columns:
        assert max(cell_len(line) for line in text.splitlines()) <= 120
    flat = " ".join(text.split())
    in_table = " ".join(" ".join(row) for row in rows)
    for number, v in enumerate(verdicts, 1):
        assert flat.count(f"[{number}] {v.id}: {' '.join(v.basis.split())}") == 1  # the basis in full, after the table
        assert v.basis.split(":")[0] not in in_table  # and not in it
    if not columns:  # one line a row: the short "how" whole beside the figures
        every = min(usable_cores(), 21_000)  # the published orders/s claim runs a thread per core
        assert "model, 95% PI [9]" in flat and "5 runs, seeds 0–4, one core [6]" in flat
        assert f"5 runs, seeds 0–4, {f'{every} threads' if every > 1 else 'one core'} [5]" in flat
