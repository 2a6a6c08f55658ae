"""``lxdex replay`` and ``lxdex calibrate``: a real exchange day (LOBSTER files) through the engine,
and the scenario fitted to it (:mod:`lxdex_capacity.replay`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..console import err
from ..errors import CheckFailed, InputError
from .app import app
from .options import json_option
from .render import print_json
from .render.data import print_calibration, print_replay


@app.command()
def replay(
    message_file: Path = typer.Argument(..., help="LOBSTER message file: CSV, or the published zip."),
    orderbook_file: Path | None = typer.Option(None, "--orderbook", help="LOBSTER orderbook file (CSV or zip) to check the engine's top levels against after every message."),
    levels: int | None = typer.Option(None, min=1, max=1000, help="Levels to check (default: all the orderbook file holds)."),
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Replay a real exchange day (LOBSTER) through the engine: messages/s, resting orders, memory, and
    with --orderbook a check of the top levels after every message. Exit code 1 if any row disagrees."""
    from ..replay.lobster import read_messages, read_orderbook
    from ..replay.replay import replay as run_replay

    with err.status("reading the files"):
        messages = read_messages(message_file)
        orderbook = read_orderbook(orderbook_file, len(messages), levels) if orderbook_file is not None else None
    with err.status(f"replaying {len(messages):,} messages"):
        result = run_replay(messages, orderbook, levels)
    if as_json:
        print_json(result.as_dict(), allow_nan=False)
    else:
        print_replay(result, checked=orderbook is not None)
    if result.disagreements:
        line = result.first_disagreement["line"] if result.first_disagreement else "?"
        raise CheckFailed(f"{result.disagreements:,} of {result.checked_rows:,} orderbook rows disagree with the engine "
                          f"(the first at line {line})")


@app.command()
def calibrate(
    message_file: Path = typer.Argument(..., help="LOBSTER message file: CSV, or the published zip (whose orderbook is then used too)."),
    out_file: Path = typer.Option(..., "--out", help="Scenario TOML to write (use it with 'lxdex simulate --scenario')."),
    orderbook_file: Path | None = typer.Option(None, "--orderbook", help="LOBSTER orderbook file, for the mid before each message (default: the zip's own)."),
    as_json: bool = json_option("Print one JSON object instead of a table."),
) -> None:
    """Fit the scenario's order sizes, maker distance, taker share and reach, and cancel rate to a real day."""
    import zipfile

    from ..atomic import write_text_atomic
    from ..replay.calibrate import calibrate as fit
    from ..replay.calibrate import to_toml
    from ..replay.lobster import read_messages, read_orderbook
    from ..replay.replay import replay as run_replay

    if orderbook_file is None:
        if not (message_file.exists() and zipfile.is_zipfile(message_file)):
            raise InputError("calibrate needs the orderbook for the mid before each message: pass --orderbook, or a LOBSTER zip")
        orderbook_file = message_file
    with err.status("reading and fitting"):
        messages = read_messages(message_file)
        orderbook = read_orderbook(orderbook_file, len(messages))
        replayed = run_replay(messages, orderbook)
        per_level = replayed.resting_orders / replayed.price_levels if replayed.price_levels else None
        result = fit(messages, orderbook, per_level)
    write_text_atomic(out_file, to_toml(result))
    if as_json:
        print_json(result.as_dict() | {"scenario_file": str(out_file)})
    else:
        print_calibration(result, out_file)
