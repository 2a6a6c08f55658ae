"""Hostile LOBSTER files through ``lxdex replay`` and ``lxdex calibrate``: every bad file is one line
naming the file, the line (and column) and what is wrong, exit code 2, no traceback, no numpy
warning, no output file; oversized inputs are refused from their declared size before they are read;
days calibrate cannot fully fit say what they cannot fit instead of printing NaN."""

from __future__ import annotations

import json
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from helpers import Result, assert_one_line_error, pretend_available, run_cli
from helpers.lobster import Exchange, adds_only_day, zip_day
from lxdex_capacity.errors import InputError
from lxdex_capacity.replay import lobster
from lxdex_capacity.replay.lobster import read_messages
from lxdex_capacity.scenarios.config import load_scenario

# numpy's divide-by-zero and invalid-value warnings are RuntimeWarnings: none may be raised.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

LINE = 3  # the line the cases below spoil


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> SimpleNamespace:
    """A small valid 2-level day: its message and orderbook lines."""
    folder = tmp_path_factory.mktemp("day")
    message_file, book_file = Exchange(2, 5).write(folder, prefill=50, steps=300)
    return SimpleNamespace(messages=message_file.read_text().splitlines(), book=book_file.read_text().splitlines())


def strict_json(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON output")

    return json.loads(text, parse_constant=refuse)


def both_commands(message_file: Path, book_file: Path, out: Path) -> list[Result]:
    """``replay`` and ``calibrate`` on one pair of files."""
    return [run_cli("replay", str(message_file), "--orderbook", str(book_file)),
            run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(out))]


def assert_refused(results: list[Result], out: Path, *fragments: str) -> None:
    for result in results:
        for fragment in fragments:
            assert_one_line_error(result, fragment)
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*"))  # no temporary file left either


# --- message files ------------------------------------------------------------------------------

Edit = Callable[[list[str]], list[str]]


def cell(col: int, value: str, line: int = LINE) -> Edit:
    """Set column ``col`` (0-based) of ``line`` to ``value``."""
    def edit(lines: list[str]) -> list[str]:
        cells = lines[line - 1].split(",")
        cells[col] = value
        lines[line - 1] = ",".join(cells)
        return lines

    return edit


def insert(line: int, text: str) -> Edit:
    def edit(lines: list[str]) -> list[str]:
        return [*lines[: line - 1], text, *lines[line - 1:]]

    return edit


def whole_line(line: int, change: Callable[[str], str]) -> Edit:
    def edit(lines: list[str]) -> list[str]:
        lines[line - 1] = change(lines[line - 1])
        return lines

    return edit


def merge_with_next_by_cr(lines: list[str]) -> list[str]:  # old Mac line ending between two lines
    return [*lines[: LINE - 1], lines[LINE - 1] + "\r" + lines[LINE], *lines[LINE + 1:]]


# (id, edit, where: (line, column) or (line, None) or None, what)
MESSAGE_CASES: list[tuple[str, Edit, tuple[int, int | None] | None, str]] = [
    ("time-nan", cell(0, "nan"), (LINE, 1), "time='nan': not a finite number"),
    ("time-NaN", cell(0, "NaN"), (LINE, 1), "time='NaN': not a finite number"),
    ("time-negative", cell(0, "-1.5"), (LINE, 1), "time=-1.5: must be seconds after midnight, from 0 to 86,400"),
    ("time-1e15", cell(0, "1e15"), (LINE, 1), "time=1e15: must be seconds after midnight"),
    ("time-overflows-to-inf", cell(0, "1e400"), (LINE, 1), "time=1e400: not a finite number"),
    ("time-decreasing", cell(0, "34199.5"), (LINE, 1), "time=34199.5: earlier than the line before"),
    ("time-two-points", cell(0, "34200.0.1"), (LINE, 1), "time='34200.0.1': not a number"),
    ("type-0", cell(1, "0"), (LINE, 2), "type=0: must be a LOBSTER event type, a whole number from 1 to 7"),
    ("type-8", cell(1, "8"), (LINE, 2), "type=8: must be a LOBSTER event type"),
    ("type-fraction", cell(1, "1.5"), (LINE, 2), "type=1.5: must be a LOBSTER event type"),
    ("id-fraction", cell(2, "6.5"), (LINE, 3), "order id=6.5: must be a whole number"),
    ("id-1e30", cell(2, "1e30"), (LINE, 3), "order id=1e30: must be at most 2**53"),
    ("id-negative", cell(2, "-7"), (LINE, 3), "order id=-7: must be 0 or more (only cross trades"),
    ("id-empty", cell(2, ""), (LINE, 3), "order id='': not a number"),
    ("size-inf", cell(3, "inf"), (LINE, 4), "size='inf': not a finite number"),
    ("size-minus-inf", cell(3, "-Infinity"), (LINE, 4), "size='-Infinity': not a finite number"),
    ("size-zero", cell(3, "0"), (LINE, 4), "needs a size of at least 1"),
    ("size-fraction", cell(3, "2.5"), (LINE, 4), "size=2.5: must be a whole number of shares"),
    ("size-1e30", cell(3, "1e30"), (LINE, 4), "size=1e30: must be at most 2,147,483,647"),
    ("price-1e30", cell(4, "1e30"), (LINE, 5), "price=1e30: must be from 1 to 2,147,483,647"),
    ("price-fraction", cell(4, "10000.5"), (LINE, 5), "price=10000.5: must be a whole number"),
    ("price-zero", cell(4, "0"), (LINE, 5), "price=0: must be from 1 to"),
    ("price-sentinel", cell(4, "9999999999"), (LINE, 5), "price=9999999999: must be from 1 to"),
    ("direction-0", cell(5, "0"), (LINE, 6), "direction=0: must be 1 (buy) or -1 (sell)"),
    ("direction-2", cell(5, "2"), (LINE, 6), "direction=2: must be 1 (buy) or -1 (sell)"),
    ("direction-unicode-minus", cell(5, "\u22121"), (LINE, 6), "direction=\\xe2\\x88\\x921: not a number (byte 0xe2 is not ASCII"),
    ("nul-byte", cell(0, "34200\x00"), (LINE, 1), "not a number (byte 0x00 is a control character"),
    ("header-row", insert(1, "time,type,order_id,size,price,direction"), (1, 1),
     "time='time': not a number (a header row? LOBSTER files have none)"),
    ("blank-line", insert(LINE, ""), (LINE, None), "is blank; LOBSTER files have no blank lines"),
    ("whitespace-line", insert(LINE, "  \t "), (LINE, None), "is blank"),
    ("7-columns", whole_line(LINE, lambda s: s + ",1"), (LINE, None), "has 7 columns; a LOBSTER message file has 6"),
    ("5-columns", whole_line(LINE, lambda s: s.rsplit(",", 1)[0]), (LINE, None), "has 5 columns"),
    ("semicolons", whole_line(LINE, lambda s: s.replace(",", ";")), (LINE, 1), "not a number"),
    ("stray-carriage-return", merge_with_next_by_cr, (LINE, 6), "a carriage return inside the line"),
]


@pytest.mark.parametrize("edit, where, what", [c[1:] for c in MESSAGE_CASES], ids=[c[0] for c in MESSAGE_CASES])
def test_hostile_message_files(tmp_path, day, edit, where, what):
    message_file, book_file, out = tmp_path / "m.csv", tmp_path / "b.csv", tmp_path / "s.toml"
    message_file.write_bytes(("\n".join(edit(list(day.messages))) + "\n").encode())
    book_file.write_text("\n".join(day.book) + "\n")
    line, col = where
    prefix = f"{message_file}: line {line}" + (f", column {col}: " if col else "")
    assert_refused(both_commands(message_file, book_file, out), out, prefix, what)


@pytest.mark.parametrize("text, what", [("", "the file is empty"), ("\n", "line 1 is blank"),
                                        ("34200.1,1,5,10,1000,1\n\n", "line 2 is blank")],
                         ids=["empty", "one-newline", "trailing-blank-line"])
def test_empty_and_blank_message_files(tmp_path, day, text, what):
    message_file, book_file, out = tmp_path / "m.csv", tmp_path / "b.csv", tmp_path / "s.toml"
    message_file.write_text(text)
    book_file.write_text("\n".join(day.book) + "\n")
    assert_refused(both_commands(message_file, book_file, out), out, f"{message_file}: {what}")


def test_the_first_bad_row_is_reported_whatever_the_check(tmp_path, day):
    """A value error on line 3 comes before a malformed line 5, and a malformed line 3 before a bad value
    on line 5: the report follows the file, not the order of the checks."""
    path = tmp_path / "m.csv"
    lines = cell(4, "1e30", 3)(list(day.messages))
    lines[4] = "x"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"line 3, column 5: price=1e30"):
        read_messages(path)
    lines = cell(4, "1e30", 5)(list(day.messages))
    lines[2] += ",1"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="line 3 has 7 columns"):
        read_messages(path)


def test_errors_name_lines_beyond_the_first_block(tmp_path, monkeypatch, day):
    """Line numbers carry over from block to block (blocks of 256 bytes here)."""
    monkeypatch.setattr(lobster, "CHUNK_BYTES", 256)
    path = tmp_path / "m.csv"
    far = len(day.messages) - 2
    path.write_text("\n".join(cell(5, "0", far)(list(day.messages))) + "\n")
    with pytest.raises(InputError, match=rf"line {far}, column 6: direction=0"):
        read_messages(path)
    path.write_text("\n".join(cell(0, "34199", far)(list(day.messages))) + "\n")  # earlier than the block before
    with pytest.raises(InputError, match=rf"line {far}, column 1: time=34199: earlier than the line before"):
        read_messages(path)
    path.write_text("\n".join(day.messages) + "\n")
    assert len(read_messages(path)) == len(day.messages)


def test_a_line_too_long_is_refused_without_reading_it_all(tmp_path, monkeypatch):
    monkeypatch.setattr(lobster, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(lobster, "CHUNK_BYTES", 256)
    path = tmp_path / "m.csv"
    path.write_text("34200.1,1,5,10,1000,1\n" + "1" * 5000)
    with pytest.raises(InputError, match="line 2 is longer than"):
        read_messages(path)


# --- orderbook files ----------------------------------------------------------------------------

BOOK_CASES: list[tuple[str, Edit, tuple[int, int | None] | None, str]] = [
    ("size-nan", cell(1, "nan"), (LINE, 2), "ask size 1='nan': not a finite number"),
    ("price-1e30", cell(0, "1e30"), (LINE, 1), "ask price 1=1e30: must be from 1 to 2,147,483,647"),
    ("price-inf", cell(6, "inf"), (LINE, 7), "bid price 2='inf': not a finite number"),
    ("price-fraction", cell(2, "10000.5"), (LINE, 3), "bid price 1=10000.5: must be a whole number"),
    ("price-near-sentinel", cell(4, "9999999998"), (LINE, 5), "ask price 2=9999999998: must be from 1 to"),
    ("size-negative", cell(3, "-5"), (LINE, 4), "bid size 1=-5: must be from 0 to 2,147,483,647"),
    ("size-1e30", cell(7, "1e30"), (LINE, 8), "bid size 2=1e30: must be from 0 to"),
    ("sized-empty-level", lambda lines: cell(5, "5")(cell(4, "9999999999")(lines)), (LINE, 6),
     "ask size 2=5: must be 0 on an empty level"),
    ("ragged-row", whole_line(LINE, lambda s: s + ",1"), (LINE, None), "has 9 columns but line 1 has 8"),
    ("blank-line", insert(LINE, ""), (LINE, None), "is blank"),
    ("header-row", insert(1, "ask1,asksize1,bid1,bidsize1,ask2,asksize2,bid2,bidsize2"), (1, 1), "a header row?"),
    ("first-line-6-columns", whole_line(1, lambda s: s.rsplit(",", 2)[0]), (1, None),
     "has 6 columns; an orderbook row holds 4 columns per level"),
    ("extra-row", lambda lines: [*lines, lines[-1]], None, "more rows than the message file's"),
    ("missing-row", lambda lines: lines[:-1], None, "rows: they must be the same day's pair"),
]


@pytest.mark.parametrize("edit, where, what", [c[1:] for c in BOOK_CASES], ids=[c[0] for c in BOOK_CASES])
def test_hostile_orderbook_files(tmp_path, day, edit, where, what):
    message_file, book_file, out = tmp_path / "m.csv", tmp_path / "b.csv", tmp_path / "s.toml"
    message_file.write_text("\n".join(day.messages) + "\n")
    book_file.write_text("\n".join(edit(list(day.book))) + "\n")
    if where is None:
        prefix = f"{book_file}: "
    else:
        line, col = where
        prefix = f"{book_file}: line {line}" + (f", column {col}: " if col else "")
    assert_refused(both_commands(message_file, book_file, out), out, prefix, what)


def test_an_orderbook_whose_name_disagrees_with_its_columns(tmp_path, day):
    message_file, book_file, out = tmp_path / "m.csv", tmp_path / "X_orderbook_1.csv", tmp_path / "s.toml"
    message_file.write_text("\n".join(day.messages) + "\n")
    book_file.write_text("\n".join(day.book) + "\n")  # 2 levels
    assert_refused(both_commands(message_file, book_file, out), out,
                   "line 1 has 8 columns (2 levels) but the file's name says 1 level (4 columns)")


# --- what LOBSTER itself writes stays accepted ---------------------------------------------------


def test_crlf_files_read_as_their_lf_twins(tmp_path, day):
    lf = (tmp_path / "lf_m.csv", tmp_path / "lf_b.csv")
    crlf = (tmp_path / "crlf_m.csv", tmp_path / "crlf_b.csv")
    for (m, b), end in ((lf, "\n"), (crlf, "\r\n")):
        m.write_bytes((end.join(day.messages) + end).encode())
        b.write_bytes((end.join(day.book) + end).encode())
    reports = [strict_json(run_cli("replay", str(m), "--orderbook", str(b), "--json").stdout) for m, b in (lf, crlf)]
    timing = {"source", "parse_seconds", "apply_seconds", "messages_per_s"}
    lf_figures, crlf_figures = ({k: v for k, v in r.items() if k not in timing} for r in reports)
    assert lf_figures == crlf_figures
    assert reports[0]["disagreements"] == 0


def test_lobsters_own_special_rows_are_accepted(tmp_path):
    """Hidden executions carry id 0; cross trades negative ids (-1 opening, -2 closing); halts price
    -1, 0 or 1 with size 0 and direction -1 (LOBSTER's documentation); none changes the book."""
    rows = ["34200.000,1,11,100,1000000,1", "34200.001,5,0,30,1000100,-1", "34200.002,6,-1,5000,1000050,1",
            "34201.000,7,0,0,-1,-1", "34202.000,7,0,0,0,-1", "34203.000,7,0,0,1,-1", "57600.000,6,-2,7000,1000050,-1",
            "86400,3,11,100,1000000,1"]
    message_file = tmp_path / "m.csv"
    message_file.write_text("\n".join(rows) + "\n")
    result = run_cli("replay", str(message_file), "--json")
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    assert report["skipped"] == 6 and report["applied"] == 2
    assert report["by_type"] == {"new limit order": 1, "deletion": 1, "hidden execution": 1, "cross trade": 2,
                                 "trading halt": 3}


def test_random_corruption_is_an_input_error_or_accepted(tmp_path, day):
    """Single-byte corruptions anywhere: each either reads or is one InputError line naming the file."""
    rng = random.Random(12)
    pristine = ("\n".join(day.messages) + "\n").encode()
    path = tmp_path / "m.csv"
    for _ in range(150):
        data = bytearray(pristine)
        for _ in range(rng.choice((1, 1, 2, 3))):
            data[rng.randrange(len(data))] = rng.choice((*b"0123456789.,-+eE \r\n\t", rng.randrange(256)))
        path.write_bytes(bytes(data))
        try:
            read_messages(path)
        except InputError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message and "\r" not in message, message


# --- zips and the memory guard ------------------------------------------------------------------


def write_pair(tmp_path: Path, day: SimpleNamespace) -> tuple[Path, Path]:
    message_file, book_file = tmp_path / "X_message_2.csv", tmp_path / "X_orderbook_2.csv"
    message_file.write_text("\n".join(day.messages) + "\n")
    book_file.write_text("\n".join(day.book) + "\n")
    return message_file, book_file


def test_zips_without_the_member_or_with_two(tmp_path, day):
    message_file, book_file = write_pair(tmp_path, day)
    out = tmp_path / "s.toml"
    only_book = zip_day(tmp_path / "book.zip", None, book_file)
    assert_refused([run_cli("replay", str(only_book)), run_cli("calibrate", str(only_book), "--out", str(out))], out,
                   f"{only_book}: expected one *message*.csv inside the zip, found 0")
    only_messages = zip_day(tmp_path / "messages.zip", message_file, None)
    assert_refused([run_cli("calibrate", str(only_messages), "--out", str(out))], out,
                   f"{only_messages}: expected one *orderbook*.csv inside the zip, found 0")
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.write(message_file, "a_message_2.csv")
        archive.write(message_file, "b_message_2.csv")
    assert_one_line_error(run_cli("replay", str(two)), "found 2: a_message_2.csv, b_message_2.csv")


def test_damaged_zips(tmp_path, day):
    message_file, book_file = write_pair(tmp_path, day)
    out = tmp_path / "s.toml"
    whole = zip_day(tmp_path / "day.zip", message_file, book_file).read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(whole[: len(whole) // 2])
    assert_refused([run_cli("replay", str(truncated)), run_cli("calibrate", str(truncated), "--out", str(out))], out,
                   f"message file {str(truncated)!r} is a damaged zip file")
    corrupt = tmp_path / "corrupt.zip"  # the directory is intact, the compressed message data is not
    data = bytearray(whole)
    for i in range(60, 400, 7):
        data[i] ^= 0x5A
    corrupt.write_bytes(bytes(data))
    assert_refused([run_cli("replay", str(corrupt)), run_cli("calibrate", str(corrupt), "--out", str(out))], out,
                   "cannot be read")


def test_a_bad_row_inside_a_zip_names_the_member(tmp_path, day):
    message_file, book_file = write_pair(tmp_path, day)
    message_file.write_text("\n".join(cell(0, "nan")(list(day.messages))) + "\n")
    archive = zip_day(tmp_path / "day.zip", message_file, book_file)
    out = tmp_path / "s.toml"
    assert_refused([run_cli("replay", str(archive), "--orderbook", str(archive)),
                    run_cli("calibrate", str(archive), "--out", str(out))], out,
                   f"{archive}:X_message_2.csv: line {LINE}, column 1: time='nan': not a finite number")


def never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was read although the memory guard should have refused it first")

    monkeypatch.setattr(lobster, "read_messages", refuse)
    monkeypatch.setattr(lobster, "read_orderbook", refuse)


def test_a_zip_bomb_is_refused_from_its_declared_size_before_it_is_read(tmp_path, monkeypatch):
    """A member of 3 MB of one repeated row compresses to a few kB: its declared size decides, before any
    of it is decompressed, and the message states the estimate."""
    member = b"34200.000,1,5,10,1000,1\n" * 125_000
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("X_message_1.csv", member)
        archive.writestr("X_orderbook_1.csv", b"1001,10,1000,10\n" * 125_000)
    assert bomb.stat().st_size < 100_000
    pretend_available(monkeypatch, 8 << 20)
    never_read(monkeypatch)
    out = tmp_path / "s.toml"
    estimate = lobster.PEAK_BYTES_PER_INPUT_BYTE * 3_000_000
    assert_refused([run_cli("replay", str(bomb))], out,
                   f"replaying {bomb}:X_message_1.csv (3.0 MB of CSV, ",
                   f"compressed) needs an estimated {estimate / 1e6:,.2f} MB but only {(8 << 20) / 1e6:,.2f} MB is available; ",
                   "--force")
    assert_refused([run_cli("calibrate", str(bomb), "--out", str(out))], out,
                   f"calibrating on {bomb}:X_message_1.csv (3.0 MB of CSV, ", f"with {bomb}:X_orderbook_1.csv (2.0 MB of CSV",
                   "needs an estimated")


def test_the_guard_counts_a_csv_by_its_size_and_force_overrides_it(tmp_path, monkeypatch, day):
    message_file, book_file = write_pair(tmp_path, day)
    pretend_available(monkeypatch, 1000)
    result = run_cli("replay", str(message_file), "--orderbook", str(book_file))
    assert_one_line_error(result, f"replaying {message_file} ({message_file.stat().st_size / 1e3:,.1f} kB of CSV) with "
                                  f"{book_file} ({book_file.stat().st_size / 1e3:,.1f} kB of CSV) needs an estimated")
    forced = run_cli("replay", str(message_file), "--orderbook", str(book_file), "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert strict_json(forced.stdout)["disagreements"] == 0


def test_running_out_of_memory_anyway_is_one_line(tmp_path, monkeypatch, day):
    """A limit the guard cannot see (ulimit -v): the MemoryError of an allocation is a CapacityError line."""
    message_file, book_file = write_pair(tmp_path, day)

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError()

    monkeypatch.setattr(lobster, "read_orderbook", out_of_memory)
    out = tmp_path / "s.toml"
    assert_refused([run_cli("replay", str(message_file), "--orderbook", str(book_file))], out,
                   "ran out of memory while replaying")
    assert_refused([run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(out))], out,
                   "ran out of memory while calibrating")


# --- calibrate: --out first, and no NaN -------------------------------------------------------------


@pytest.mark.parametrize("out, what", [(".", "is a folder; give a file name"),
                                       ("missing/s.toml", "the folder"),
                                       ("", "must name a file")], ids=["folder", "missing-folder", "empty"])
def test_calibrate_checks_out_before_reading_anything(tmp_path, monkeypatch, day, out, what):
    message_file, book_file = write_pair(tmp_path, day)
    never_read(monkeypatch)
    target = str(tmp_path / out) if out else ""
    assert_one_line_error(run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", target), what)


def test_calibrate_on_a_day_without_trades_says_what_it_did_not_fit(tmp_path):
    message_file, book_file = adds_only_day(tmp_path, 400, seed=1)
    out = tmp_path / "s.toml"
    result = run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    assert report["not_fitted"] == {"taker_reach_p": "no executions"}
    assert set(report["fitted"]) == {"pareto_alpha", "min_qty", "max_qty", "maker_distance_p", "taker_share", "cancel_rate"}
    assert report["fitted"]["taker_share"] == 0 and report["taker_reach_mean_ticks"] is None
    text = out.read_text()
    assert "# taker_reach_p not fitted (no executions): the default stays" in text and "nan" not in text.lower()
    assert load_scenario(out).taker_reach_p == report["defaults"]["taker_reach_p"]
    table = run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(out))
    assert table.exit_code == 0 and "not fitted" in table.stdout and "nan" not in table.stdout.lower()


def test_calibrate_on_a_day_without_a_mid_says_what_it_did_not_fit(tmp_path):
    message_file, book_file = adds_only_day(tmp_path, 400, seed=2, quoted=False)
    out = tmp_path / "s.toml"
    result = run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    assert set(report["not_fitted"]) == {"maker_distance_p", "taker_reach_p"}
    assert "both sides of the book quoted" in report["not_fitted"]["maker_distance_p"]
    assert report["maker_distance_mean_ticks"] is None
    assert load_scenario(out).maker_distance_p == report["defaults"]["maker_distance_p"]


@pytest.mark.parametrize("rows, book, what", [
    (["34200.1,1,5,10,1000,1"], ["9999999999,0,1000,10"], "cannot fit order sizes: 1 new limit order(s)"),
    (["34200.1,3,5,10,1000,1", "34200.2,3,6,10,1000,1"], ["9999999999,0,1000,10", "9999999999,0,-9999999999,0"],
     "cannot fit order sizes: 0 new limit order(s)"),
    ([f"{34200 + i},1,{i},{10 + i % 3},1000,1" for i in range(30)], [f"9999999999,0,1000,{10 * i}" for i in range(30)],
     "cannot fit order sizes: 30 new limit order(s) leave no tail of 50"),
], ids=["one-message", "all-cancels", "few-adds"])
def test_calibrate_refuses_days_with_too_little_to_fit(tmp_path, rows, book, what):
    message_file, book_file, out = tmp_path / "m.csv", tmp_path / "b.csv", tmp_path / "s.toml"
    message_file.write_text("\n".join(rows) + "\n")
    book_file.write_text("\n".join(book) + "\n")
    assert_refused([run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(out))], out,
                   f"{message_file}: {what}")


def test_replay_of_one_message_prints_no_nan(tmp_path):
    message_file = tmp_path / "m.csv"
    message_file.write_text("34200.1,1,5,10,1000,1\n")
    result = run_cli("replay", str(message_file), "--json")
    assert result.exit_code == 0, result.stderr
    report = strict_json(result.stdout)
    assert report["messages"] == 1 and report["resting_orders"] == 1
    table = run_cli("replay", str(message_file))
    assert table.exit_code == 0 and "nan" not in table.stdout.lower() and "inf" not in table.stdout.lower()


def test_calibrate_refuses_to_write_over_its_own_input(tmp_path, day):
    message_file, book_file = write_pair(tmp_path, day)
    before = message_file.read_bytes()
    for target in (message_file, book_file):
        result = run_cli("calibrate", str(message_file), "--orderbook", str(book_file), "--out", str(target))
        assert_one_line_error(result, "is an input of this run; writing it would destroy the input")
    assert message_file.read_bytes() == before
