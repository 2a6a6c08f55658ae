"""The consoles and number formats every command shares.

Data goes to ``out`` (stdout), progress and errors to ``err`` (stderr).  Rates use decimal
prefixes (``12.35M orders/s``); bytes are spelled out with their unit: MB and GB are decimal
(10^6, 10^9), GiB is binary (2^30).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["out", "err", "si", "mb", "gib", "step_progress"]

out = Console()
if not out.is_terminal:  # piped or redirected: no width to fit, so don't truncate tables to 80 columns
    out = Console(width=140)
err = Console(stderr=True)


def si(value: float, unit: str) -> str:
    """``12.35M orders/s``: decimal prefixes, as rates are counted."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:,.2f}{prefix} {unit}"
    return f"{value:,.2f} {unit}"


def mb(n: float) -> str:
    """Decimal megabytes (10^6 bytes), as the published report counted."""
    return f"{n / 1e6:,.2f} MB"


def gib(n: float) -> str:
    """Binary gibibytes (2^30 bytes), as memory is sold."""
    return f"{n / 2**30:,.2f} GiB"


@contextmanager
def step_progress(first: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar on stderr over steps; yields ``advance(done, total, what)``."""
    columns = (TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(first, total=None)

        def advance(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        yield advance
