"""The consoles, number formats and progress bars every command shares.

Data goes to ``out`` (stdout), progress and errors to ``err`` (stderr).  The number formats are
:mod:`lxdex_capacity.units`' (re-exported here): rates use decimal prefixes (``12.35M orders/s``);
bytes are spelled out with their unit: MB and GB are decimal (10^6, 10^9), GiB is binary (2^30).

Every progress bar is on ``err``, transient (gone when done) and off when stderr is not a terminal,
so stdout holds only the result and stderr only warnings and errors:

* :func:`step_progress`: one bar over steps of a known count, ``advance(done, total, what)``
  (sweep points, audit loads, shards);
* :func:`phase_progress`: one bar per simulation phase, ``advance(phase, completed, total)``
  (the callback :func:`lxdex_capacity.simulation.simulate` takes);
* :func:`tick_progress`: one bar of ``total`` ticks, ``tick(what)`` after each (the benchmarks);
* :func:`compile_step`: on a fresh install (numba's cache empty), "compiling the engine (first run
  only)" with the time elapsed while the kernels compile, before a command's first bar.

A reader that has gone (``lxdex ... | head``): rich's consoles would exit 1 on their own, the code of
a result that fails its check here.  Within :func:`broken_pipes_raise` (the whole of
:func:`lxdex_capacity.cli.main`) every rich console, ``out``, ``err`` and typer's help, instead goes
quiet and raises :class:`BrokenPipeError`, which ``main`` turns into a quiet 141, as a shell reports
SIGPIPE.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .units import gib, mb, price, quantity, si

__all__ = ["out", "err", "si", "mb", "gib", "quantity", "price", "step_progress", "phase_progress", "tick_progress",
           "compile_step", "broken_pipes_raise", "warn_unsteady"]

out = Console()
if not out.is_terminal:  # piped or redirected: no width to fit, so don't truncate tables to 80 columns
    out = Console(width=140)
err = Console(stderr=True)


def _on_broken_pipe(console: Console) -> NoReturn:
    """:meth:`rich.console.Console.on_broken_pipe` within :func:`broken_pipes_raise`: the console writes
    nothing more, its file descriptor (stdout's or stderr's) is pointed at /dev/null so that Python's
    flush at exit stays quiet (https://docs.python.org/3/library/signal.html#note-on-sigpipe), and
    :class:`BrokenPipeError` goes up to whoever decides the exit code; rich's own raises SystemExit(1)."""
    console.quiet = True
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no file descriptor (a StringIO): nothing to point
        fd = console.file.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


@contextmanager
def broken_pipes_raise() -> Iterator[None]:
    """Within: a rich console whose reader has gone raises :class:`BrokenPipeError` (see :func:`_on_broken_pipe`),
    every console, typer's too (``--help``), as rich offers no setting for it."""
    previous = Console.on_broken_pipe
    Console.on_broken_pipe = _on_broken_pipe  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        Console.on_broken_pipe = previous  # type: ignore[method-assign]


def _progress(description: str) -> Progress:
    """A transient bar on stderr: description (a format spec of ``task.description``), bar, n/m, elapsed.
    Off when stderr is not a terminal (rich would still end it with an empty line there)."""
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True,
                    disable=not err.is_terminal)


@contextmanager
def step_progress(first: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar over steps; yields ``advance(done, total, what)``."""
    with _progress("{task.description:<32}") as progress:
        task = progress.add_task(first, total=None)

        def advance(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        yield advance


@contextmanager
def phase_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per simulation phase; yields the callback ``simulate`` calls,
    ``advance(phase, completed, total)``."""
    with _progress("{task.description:<8}") as progress:
        tasks: dict[str, Any] = {}

        def advance(phase: str, completed: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=completed)

        yield advance


@contextmanager
def tick_progress(first: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar of ``total`` ticks; yields ``tick(what)``, called after each with what was done."""
    with _progress("{task.description}") as progress:
        task = progress.add_task(first, total=total)

        def tick(what: str) -> None:
            progress.update(task, advance=1, description=what)

        yield tick


COMPILE_STEP = "compiling the engine (first run only)"


def compile_step(kernels: str = "simulation") -> bool:
    """Compile the kernels a command needs (a set of :data:`lxdex_capacity.kernel_cache.KERNEL_SETS`:
    ``"simulation"``, ``"profile"``, ``"bench"``, ``"latency"`` or ``"replay"``) if numba's cache does not hold them, showing
    :data:`COMPILE_STEP` with the time elapsed on ``err`` meanwhile; return whether it compiled.

    Nothing is shown, and nothing done, when they are cached: the run loads them itself (a second)."""
    from . import kernel_cache

    which = kernel_cache.KERNEL_SETS[kernels]
    if not kernel_cache.needs_compiling(which):
        return False
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        progress.add_task(COMPILE_STEP, total=None)
        kernel_cache.compile_kernels(which)
    return True


def warn_unsteady(figures: Any) -> None:
    """One line on stderr when any of ``figures`` (:class:`~lxdex_capacity.measure.Figure` objects or their
    ``as_dict()``, a list or a mapping of them) was measured on a busy machine, or else is noisy: what and what to do
    (:func:`lxdex_capacity.measure.unsteady_line`)."""
    from .measure import unsteady_line
    from .measure.figure import as_figures

    line = unsteady_line(as_figures(figures))
    if line:
        with contextlib.suppress(OSError, ValueError):
            err.print(f"lxdex: {line}", highlight=False, markup=False, soft_wrap=True)
