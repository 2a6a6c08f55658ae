"""``lxdex replay``: LOBSTER parsing, the window rules, and the real sample files when present."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from helpers import assert_one_line_error, run_cli
from helpers.lobster import SAMPLES, Exchange, needs_samples
from lxdex_capacity.errors import InputError
from lxdex_capacity.replay.lobster import read_messages, read_orderbook
from lxdex_capacity.replay.replay import replay


@pytest.mark.parametrize("levels, seed", [(1, 0), (2, 1), (3, 2), (5, 3), (10, 4)])
def test_synthetic_days_replay_with_zero_disagreements(tmp_path, levels, seed):
    message_file, book_file = Exchange(levels, seed).write(tmp_path, prefill=400, steps=6000)
    messages = read_messages(message_file)
    result = replay(messages, read_orderbook(book_file, len(messages)))
    assert result.checked_rows == len(messages) > 1000
    assert result.disagreements == 0, result.first_disagreement
    assert result.unapplied == 0
    assert result.injections > 0 and result.unknown_ids > 0  # orders from before the file, and from unseen depth


def test_a_wrong_row_is_a_disagreement_shown_in_full(tmp_path):
    message_file, book_file = Exchange(3, 7).write(tmp_path, prefill=200, steps=2000)
    rows = book_file.read_text().splitlines()
    k = len(rows) // 2
    cells = rows[k].split(",")
    cells[1] = str(int(cells[1]) + 5) if int(cells[1]) > 0 else cells[1]
    cells[3] = str(int(cells[3]) + 5) if int(cells[3]) > 0 else cells[3]
    rows[k] = ",".join(cells)
    book_file.write_text("\n".join(rows) + "\n")
    messages = read_messages(message_file)
    result = replay(messages, read_orderbook(book_file, len(messages)))
    assert result.disagreements >= 1
    first = result.first_disagreement
    assert first is not None
    assert first["line"] == k + 1 and first["expected"] != first["engine"]
    assert first["message"]["type"] in (1, 2, 3, 4)
    cli = run_cli("replay", str(message_file), "--orderbook", str(book_file), "--json")
    assert cli.exit_code == 1 and json.loads(cli.stdout)["first_disagreement"]["line"] == k + 1
    # The figures first, then the failed check as one line, as every error is.
    assert cli.stderr.splitlines() == [f"lxdex: error: {result.disagreements:,} of {result.checked_rows:,} orderbook rows "
                                       f"disagree with the engine (the first at line {k + 1})"]


def test_replay_without_orderbook_counts_and_measures(tmp_path):
    message_file, _ = Exchange(1000, 9, with_book=False).write(tmp_path, prefill=0, steps=3000)  # every level visible: every event written
    result = replay(read_messages(message_file))
    assert result.messages == 3000 and result.checked_rows == 0
    assert result.unapplied == 0 and result.unknown_ids == 0  # no prefill: every order is known
    assert result.resting_orders > 0 and result.engine_bytes_used > 0 and result.messages_per_s > 0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("34200.1,1,5,10,1000,1\n34200.2,x,5,10,1000,1\n", "line 2, column 2: type='x': not a number"),
        ("34200.1,1,5,10,1000,1\n34200.1,1,5,10,1000\n", "line 2 has 5 columns; a LOBSTER message file has 6"),
        ("34200.1,1,5,10,1000\n", "line 1 has 5 columns"),
        ("34200.1,1,5,10,1000,1\n34200.2,9,5,10,1000,1\n", "line 2, column 2: type=9: must be a LOBSTER event type"),
        ("34200.1,1,5,10,1000,2\n", "line 1, column 6: direction=2: must be 1 (buy) or -1 (sell)"),
        ("34200.1,1,5,0,1000,1\n", "line 1, column 4: size=0: a new limit order (type 1) needs a size of at least 1"),
        ("34200.1,1,5,10,99.5,1\n", "line 1, column 5: price=99.5: must be a whole number"),
        ("", "the file is empty"),
    ],
)
def test_bad_message_files(tmp_path, text, fragment):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(f"{path}: {fragment}") if text else re.escape(fragment)):
        read_messages(path)


def test_bad_orderbook_files_and_levels(tmp_path):
    messages = tmp_path / "m.csv"
    messages.write_text("34200.1,1,5,10,1000,1\n34200.2,1,6,10,1001,-1\n")
    book = tmp_path / "b.csv"
    book.write_text("9999999999,0,1000,10\n1001,10,1000,10\n")
    assert read_orderbook(book, 2).shape == (2, 4)
    with pytest.raises(InputError, match="must be the same day's pair"):
        read_orderbook(book, 3)
    with pytest.raises(InputError, match="holds only 1 level"):
        read_orderbook(book, 2, levels=2)
    book.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(InputError, match="4 columns per level"):
        read_orderbook(book, 2)
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "no csv here")
    with pytest.raises(InputError, match=r"expected one \*message\*\.csv inside the zip, found 0"):
        read_messages(archive)
    assert_one_line_error(run_cli("replay", str(tmp_path / "missing.csv")), "does not exist")
    assert_one_line_error(run_cli("replay", str(messages), "--orderbook", str(book)), "4 columns per level")


@needs_samples
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_lobster_sample_replays_with_zero_disagreements(path):
    messages = read_messages(path)
    result = replay(messages, read_orderbook(path, len(messages)))
    assert result.checked_rows == len(messages) > 10_000
    assert result.disagreements == 0, result.first_disagreement
    assert result.unapplied == 0


@needs_samples
def test_replay_cli_json_on_a_sample_zip():
    path = SAMPLES[0]
    result = run_cli("replay", str(path), "--orderbook", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"messages", "checked_rows", "injections", "disagreements", "messages_per_s", "resting_orders"} <= set(report)
    assert report["disagreements"] == 0 and report["checked_rows"] == report["messages"]
