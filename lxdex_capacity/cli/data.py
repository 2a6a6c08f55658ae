"""``lxdex replay`` and ``lxdex calibrate``: a real exchange day (LOBSTER files) through the engine,
and the scenario fitted to it (:mod:`lxdex_capacity.replay`).

Both check their output path and their inputs' sizes before reading anything: the memory a day
needs is estimated from its files' sizes (a zip's from its directory) and refused, naming the
estimate, if it exceeds the memory available (``--force`` runs anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..console import compile_step, err
from ..errors import CapacityError, CheckFailed, InputError
from .app import app
from .options import FORCE, MAX_TIME, json_option, max_time_allowed
from .render import print_json
from .render.data import print_calibration, print_replay

if TYPE_CHECKING:
    from ..replay.lobster import Source


@contextmanager
def _memory_backstop(doing: str, estimate: int) -> Iterator[None]:
    """An allocation that fails although the estimate fitted (a memory limit the guard cannot see, such
    as ``ulimit -v``, or rows denser than LOBSTER's) is one CapacityError line, not a traceback."""
    try:
        yield
    except CapacityError:
        raise
    except MemoryError:
        raise CapacityError(f"ran out of memory while {doing} (estimated {estimate / 2**30:.1f} GiB): this process "
                            "may use less memory than the machine has available (a ulimit or cgroup limit?); split "
                            "the day into shorter files or use a machine with more memory") from None


CALIBRATE_SHARE = 1.5  # calibrating reads and replays a day as replay does, then fits: about half as long again


def _check_time(command: str, sources: list[Source], doing: str, share: float, allowed: float | None) -> None:
    """Refuse (``--max-time``), before anything is read, a day whose files' sizes (uncompressed) make ``doing`` it
    longer than ``allowed``: :data:`~lxdex_capacity.time_guard.REPLAY_BYTES_PER_S`, times ``share``."""
    from ..time_guard import REPLAY_BYTES_PER_S, SIMULATION_COSTS, Estimate, check, clock_scale
    from ..units import mb

    size = sum(s.size for s in sources)
    seconds = SIMULATION_COSTS.fixed_s + share * size / REPLAY_BYTES_PER_S * clock_scale()
    check(Estimate(seconds, f"{doing} {mb(size)} of CSV (at ~{REPLAY_BYTES_PER_S / share / 1e6:.2g} MB/s)"),
          f"{command} {sources[0].path}", allowed)


@app.command()
def replay(
    message_file: Path = typer.Argument(..., help="LOBSTER message file: CSV, or the published zip."),
    orderbook_file: Path | None = typer.Option(None, "--orderbook", help="LOBSTER orderbook file (CSV or zip) to check the engine's top levels against after every message."),
    levels: int | None = typer.Option(None, min=1, max=1000, help="Levels to check (default: all the orderbook file holds)."),
    as_json: bool = json_option("Print one JSON object instead of a table."),
    force: bool = FORCE,
    max_time: str = MAX_TIME,
) -> None:
    """Replay a real exchange day (LOBSTER) through the engine: messages/s, resting orders, memory, and
    with --orderbook a check of the top levels after every message. Exit code 1 if any row disagrees."""
    from ..replay.lobster import check_memory, locate, read_messages, read_orderbook
    from ..replay.replay import replay as run_replay

    allowed = max_time_allowed(max_time)
    sources = [locate(message_file, "message")]
    if orderbook_file is not None:
        sources.append(locate(orderbook_file, "orderbook"))
    _check_time("replay", sources, "replaying", 1.0, allowed)
    estimate = check_memory(sources, "replaying", force)
    compile_step("replay")
    with _memory_backstop(f"replaying {sources[0].name}", estimate):
        with err.status("reading the files"):
            messages = read_messages(sources[0])
            orderbook = read_orderbook(sources[1], len(messages), levels) if orderbook_file is not None else None
        with err.status(f"replaying {len(messages):,} messages"):
            result = run_replay(messages, orderbook, levels)
    if as_json:
        print_json(result.as_dict())
    else:
        print_replay(result, checked=orderbook is not None)
    if result.disagreements:
        line = result.first_disagreement["line"] if result.first_disagreement else "?"
        raise CheckFailed(f"{result.disagreements:,} of {result.checked_rows:,} orderbook rows disagree with the engine "
                          f"(the first at line {line})")


@app.command()
def calibrate(
    message_file: Path = typer.Argument(..., help="LOBSTER message file: CSV, or the published zip (whose orderbook is then used too)."),
    out: str = typer.Option(..., "--out", metavar="FILE", help="Scenario TOML to write (use it with 'lxdex simulate --scenario')."),
    orderbook_file: Path | None = typer.Option(None, "--orderbook", help="LOBSTER orderbook file, for the mid before each message (default: the zip's own)."),
    as_json: bool = json_option("Print one JSON object instead of a table."),
    force: bool = FORCE,
    max_time: str = MAX_TIME,
) -> None:
    """Fit the scenario's order sizes, maker distance, taker share and reach, and cancel rate to a real day."""
    from ..atomic import check_output_file, write_text_atomic
    from ..replay.calibrate import calibrate as fit
    from ..replay.calibrate import to_toml
    from ..replay.lobster import check_memory, locate, read_messages, read_orderbook
    from ..replay.replay import replay as run_replay

    allowed = max_time_allowed(max_time)
    inputs = (message_file,) if orderbook_file is None else (message_file, orderbook_file)
    out_file = check_output_file(out, "--out", inputs=inputs)  # a str: typer would make "" the current folder
    messages_source = locate(message_file, "message")
    if orderbook_file is None and messages_source.member is None:
        raise InputError("calibrate needs the orderbook for the mid before each message: pass --orderbook, or a LOBSTER zip")
    orderbook_source = locate(orderbook_file if orderbook_file is not None else message_file, "orderbook")
    _check_time("calibrate", [messages_source, orderbook_source], "calibrating on", CALIBRATE_SHARE, allowed)
    estimate = check_memory([messages_source, orderbook_source], "calibrating on", force)
    compile_step("replay")
    with _memory_backstop(f"calibrating on {messages_source.name}", estimate), err.status("reading and fitting"):
        messages = read_messages(messages_source)
        orderbook = read_orderbook(orderbook_source, len(messages))
        replayed = run_replay(messages, orderbook)
        per_level = replayed.resting_orders / replayed.price_levels if replayed.price_levels else None
        result = fit(messages, orderbook, per_level)
    write_text_atomic(out_file, to_toml(result))
    if as_json:
        print_json(result.as_dict() | {"scenario_file": str(out_file)})
    else:
        print_calibration(result, out_file)
