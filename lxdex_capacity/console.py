"""The consoles, number formats and progress bars every command shares.

Data goes to ``out`` (stdout), progress and errors to ``err`` (stderr).  The number formats are
:mod:`lxdex_capacity.units`' (re-exported here): rates use decimal prefixes (``12.35M orders/s``);
bytes are spelled out with their unit: MB and GB are decimal (10^6, 10^9), GiB is binary (2^30).

stdout's width is its terminal's; when it is not a terminal, ``COLUMNS`` if that is a positive integer,
else wide enough for any table (:class:`_Stdout`).  Tables are :class:`Table`: no cell is ever cut short
with '…', and key columns (names, ids) are never even wrapped.

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

import rich.table
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderableType, RenderResult
from rich.errors import MarkupError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from .units import gib, mb, price, quantity, si

__all__ = ["out", "err", "Table", "cell_width", "columns_from_environment", "UNBOUNDED_WIDTH", "si", "mb", "gib", "quantity", "price", "step_progress", "phase_progress", "tick_progress",
           "compile_step", "broken_pipes_raise", "warn_unsteady"]

# Wider than any table we print: the width of stdout when it is not a terminal and COLUMNS says nothing.
UNBOUNDED_WIDTH = 100_000


def columns_from_environment() -> int | None:
    """``COLUMNS`` when it is a positive integer (``"120"``, `` 120 ``), else None (unset, empty, ``0``, ``-5``, ``80x``)."""
    value = os.environ.get("COLUMNS", "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    width = int(value)
    return min(width, UNBOUNDED_WIDTH) if width > 0 else None


class _Stdout(Console):
    """stdout's console, its width decided at each print (stdout may be swapped, COLUMNS changed):

    * on a terminal, rich's own: the terminal's width, or COLUMNS;
    * elsewhere (piped, redirected, captured), where no width is there to fit: COLUMNS if it is a positive
      integer (:func:`columns_from_environment`), else :data:`UNBOUNDED_WIDTH`, so that no table is cut
      and a paragraph is one line.

    Whether stdout is a terminal is asked of the file itself: FORCE_COLOR or TTY_COMPATIBLE, which ask for
    colours in a pipe (a CI log), give it no width."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = None  # rich reads COLUMNS once, here, and takes "0" as a width: decided at each print instead

    def _on_a_terminal(self) -> bool:
        try:
            return bool(self.file.isatty())
        except (AttributeError, OSError, ValueError):
            return False

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._on_a_terminal():
            return size
        return ConsoleDimensions(columns_from_environment() or UNBOUNDED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


out: Console = _Stdout()
err = Console(stderr=True)


class Table(rich.table.Table):
    """A rich table whose cells are never cut short with '…', at any width.

    Every column folds what does not fit (wraps it at spaces, then splits a word too long), where rich's
    default would end it with '…'.  A *key* column (``add_column(..., key=True)``: names, ids, profile names)
    is not even wrapped: it is at least as wide as its widest cell and its header, and the other columns
    give way; and a table narrower than its contents drops its outer edge and draws a space between columns
    before anything folds, and folds its key columns too rather than be cut at the edge (:meth:`_fitted`).  Every renderer of stdout makes its tables with this class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys: list[int] = []

    def add_column(self, header: RenderableType = "", *args: Any, key: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        if key:
            kwargs["no_wrap"] = True
            kwargs["min_width"] = max(kwargs.get("min_width") or 0, cell_width(header))
            self._keys.append(len(self.columns))
        super().add_column(header, *args, **kwargs)

    def add_row(self, *renderables: RenderableType | None, **kwargs: Any) -> None:
        super().add_row(*renderables, **kwargs)
        for index in self._keys:
            if index < len(renderables):
                column = self.columns[index]
                column.min_width = max(column.min_width or 0, cell_width(renderables[index]))

    def natural_width(self, console: Console) -> int:
        """The width this table takes when nothing constrains it (nothing folded, its own box)."""
        return rich.table.Table.__rich_measure__(self, console, console.options.update_width(UNBOUNDED_WIDTH)).maximum

    @contextmanager
    def _fitted(self, console: Console, max_width: int) -> Iterator[None]:
        """While it renders in ``max_width``: a table narrower than its contents is drawn without its outer edge
        and with a space between columns (rich's SIMPLE_HEAD box, padding collapsed), so that fewer cells fold;
        and if its key columns, kept whole, would still make it wider than ``max_width`` (where rich would cut
        every line at the edge), they fold too: folded names rather than lost columns."""
        kept = self.box, self.show_edge, self.pad_edge, self.collapse_padding
        kept_columns = [(column.no_wrap, column.min_width) for column in self.columns]
        try:
            if self.box is not None and self.natural_width(console) > max_width:
                self.box, self.show_edge, self.pad_edge, self.collapse_padding = box.SIMPLE_HEAD, False, False, True
            if self._rendered_width(console, max_width) > max_width:
                for column in self.columns:
                    column.no_wrap, column.min_width = False, None
            yield
        finally:
            self.box, self.show_edge, self.pad_edge, self.collapse_padding = kept
            for column, (no_wrap, min_width) in zip(self.columns, kept_columns, strict=True):
                column.no_wrap, column.min_width = no_wrap, min_width

    def _rendered_width(self, console: Console, max_width: int) -> int:
        """The width rich would draw this table at in ``max_width`` (more, when its columns' minimums exceed it)."""
        extra = self._extra_width
        return sum(self._calculate_column_widths(console, console.options.update_width(max(max_width - extra, 1)))) + extra

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        with self._fitted(console, options.max_width):
            yield from super().__rich_console__(console, options)


def cell_width(cell: RenderableType | None) -> int:
    """The width of a table cell's widest line, as printed (its markup read, not counted); 0 for what is not text."""
    if isinstance(cell, str):
        try:
            cell = Text.from_markup(cell, emoji=False)
        except MarkupError:  # printed as it is, then
            cell = Text(str(cell))
    if not isinstance(cell, Text):
        return 0
    return max((cell_len(line) for line in cell.plain.split("\n")), default=0)


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
