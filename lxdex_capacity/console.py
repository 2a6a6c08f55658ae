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

Every write to stdout or stderr, whoever makes it (``out``, ``err``, typer's help, :func:`print`,
``out.file.write`` for JSON), goes through one layer while a command runs, :func:`standard_streams`
(``main`` runs inside it):

* **Any encoding.**  What the stream's encoding cannot hold is spelled in ASCII (:func:`ascii_fallback`):
  typographic characters as their plain equivalents (en dash ``-``, ``×`` ``x``, ``≤`` ``<=``, ``µ`` ``u``,
  ``…`` ``...``, box drawing ``-|+``), anything else escaped as Python does on stderr (``\xe9``), never a
  ``UnicodeEncodeError``; rich draws its tables with ASCII boxes there itself.
* **Checked writes.**  A write is whole or it is a failure: Python's buffered writer reports a short
  write (a file system filling part-way, ``RLIMIT_FSIZE``) as success and loses the rest, so every write
  is finished or its error kept (:class:`_CheckedWriter`).  After the first failure the stream writes to
  nothing, and the command goes on (as coreutils do): its files are written, its own exit code kept.
* **stdout that fails** (a full disk, ``>&-``, a terminal gone): once the command is done and stdout
  flushed, ``main`` turns a successful exit into one line, ``lxdex: error: cannot write to standard
  output: <reason>``, and exit code 1 (:meth:`StandardStreams.stdout_failure`), as ``cat file >&-``
  does: the output the command was asked for is missing, so it did not succeed.  A command that failed
  keeps its own code and line.
* **stderr that fails** (``2>&-``, a full disk, a terminal hung up) is written to nothing: diagnostics
  lost are not a failure of the work, and the exit code is the command's.
* A closed pipe (``| head``) is not a failure of the disk but the reader's choice: still
  :class:`BrokenPipeError`, the quiet 141 above.

The process's file descriptors 0, 1 and 2 are kept open from the start (:mod:`lxdex_capacity.entry`), on
``/dev/null`` when they were closed, so no file lxdex opens ever takes their number.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import select
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, NoReturn

import rich.table
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleDimensions, ConsoleOptions, RenderableType, RenderResult
from rich.errors import MarkupError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from .units import gib, mb, price, quantity, si

__all__ = ["out", "err", "Table", "cell_width", "columns_from_environment", "UNBOUNDED_WIDTH", "si", "mb", "gib", "quantity", "price", "step_progress", "phase_progress", "tick_progress",
           "compile_step", "broken_pipes_raise", "warn_unsteady", "warn", "standard_streams", "StandardStreams", "ascii_fallback",
           "ASCII_FALLBACK"]

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


def warn(message: str) -> None:
    """``lxdex: warning: <message>`` on stderr, one line, printed as it is (no markup)."""
    err.print(f"lxdex: warning: {message}", highlight=False, markup=False, soft_wrap=True)


# --- the standard streams: any encoding, checked writes, closed or failing streams -------------------

# Typographic characters lxdex prints, in ASCII, for a stream whose encoding cannot hold them.
_TYPOGRAPHIC_ASCII = {
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u00d7": "x", "\u2264": "<=", "\u2265": ">=",
    "\u2260": "!=", "\u2248": "~", "\u00b1": "+/-", "\u00b5": "u", "\u03bc": "u", "\u2026": "...", "\u2192": "->", "\u2190": "<-",
    "\u2191": "^", "\u2193": "v", "\u25b6": ">", "\u00b7": ".", "\u2022": "*", "\u2020": "+", "\u2021": "++", "\u00b9": "^1",
    "\u00b2": "^2", "\u00b3": "^3", "\u221e": "inf", "\u221a": "sqrt", "\u00b0": " deg", "\u2018": "'", "\u2019": "'",
    "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"', "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ",
    "\u2713": "v", "\u2717": "x", "\u20ac": "EUR",
}

ASCII_FALLBACK = "lxdex.ascii"  # the codec error handler's name (codecs.register_error)


def _ascii_for(char: str) -> str:
    """``char`` in ASCII: its typographic equivalent, a box-drawing line as ``-``, ``=``, ``|`` or ``+``, a
    block or braille cell (bars, spinners) as ``#`` or ``.``, a byte Python could not decode (a surrogate from
    a file name) as ``\\xNN``, anything else escaped as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``."""
    if char in _TYPOGRAPHIC_ASCII:
        return _TYPOGRAPHIC_ASCII[char]
    code = ord(char)
    if 0x2500 <= code <= 0x257F:  # "BOX DRAWINGS LIGHT DOWN AND HORIZONTAL": which ways its lines go
        words = set(unicodedata.name(char, "").split())
        across, down = words & {"HORIZONTAL", "LEFT", "RIGHT"}, words & {"VERTICAL", "UP", "DOWN"}
        if across and not down and "DIAGONAL" not in words:
            return "=" if "DOUBLE" in words else "-"
        return "|" if down and not across else "+"
    if 0x2580 <= code <= 0x259F:
        return "#"
    if 0x2800 <= code <= 0x28FF:
        return "."
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return char.encode("ascii", "backslashreplace").decode("ascii")


def ascii_fallback(error: UnicodeError) -> tuple[str, int]:
    """The codec error handler :data:`ASCII_FALLBACK`: what an encoding cannot hold, in ASCII (:func:`_ascii_for`)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(_ascii_for(char) for char in error.object[error.start:error.end]), error.end


codecs.register_error(ASCII_FALLBACK, ascii_fallback)


def _point_at_devnull(fd: int) -> None:
    """Point ``fd`` at /dev/null: later writes (Python's flush at exit, a child's) go nowhere, quietly."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd, inheritable=os.get_inheritable(fd))
        finally:
            os.close(devnull)


class _CheckedWriter(io.RawIOBase):
    """The bytes under stdout or stderr while a command runs: every write finished whole, or its error kept.

    ``target`` is the stream's own binary layer (a :class:`io.BufferedWriter`, a test's :class:`io.BytesIO`),
    or None when there is no stream at all (``>&-``: Python's ``sys.stdout`` is None): then every write fails
    as a closed descriptor does (EBADF).  A short write is continued until all is written, a full
    non-blocking pipe waited for, so that a failure is always an exception, kept in :attr:`failure`; from then
    on the stream writes to nothing (and its descriptor is pointed at /dev/null, so that Python's own flush at
    exit finds nothing to complain about).  A closed pipe still raises :class:`BrokenPipeError` (see
    :func:`broken_pipes_raise`)."""

    def __init__(self, target: IO[bytes] | None) -> None:
        super().__init__()
        self.target = target
        self.failure: OSError | None = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        if self.target is None:
            raise io.UnsupportedOperation("the stream is closed")
        return self.target.fileno()

    def isatty(self) -> bool:
        try:
            return self.target is not None and self.target.isatty()
        except (OSError, ValueError):
            return False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.failure is None:
            self._attempt(lambda: self._write_all(view))
        return len(view)

    def flush(self) -> None:
        if self.failure is None and self.target is not None:
            self._attempt(self._flush_target)

    def close(self) -> None:  # the stream's own layer stays open: it is Python's, and restored afterwards
        with contextlib.suppress(OSError, ValueError):
            self.flush()
        super().close()

    def _write_all(self, view: memoryview) -> None:
        if self.target is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        done, stalled = 0, False
        while done < len(view):
            try:
                written = self.target.write(view[done:]) or 0
            except BlockingIOError as exc:  # a non-blocking descriptor, full: part taken, wait for the rest
                done += exc.characters_written
                self._wait_writable()
                continue
            if not written:
                if stalled:  # nothing taken, even once writable: a stream that takes no more
                    raise OSError(errno.EIO, "the stream takes no more")
                self._wait_writable()
            stalled = not written
            done += written

    def _flush_target(self) -> None:
        assert self.target is not None
        while True:
            try:
                self.target.flush()
                return
            except BlockingIOError:
                self._wait_writable()

    def _wait_writable(self) -> None:
        """Until the descriptor takes more (a non-blocking pipe a slow reader empties); without one, a failure."""
        try:
            fd = self.fileno()
        except (OSError, ValueError):
            raise OSError(errno.EAGAIN, "the stream takes no more") from None
        select.select([], [fd], [])

    def _attempt(self, write: Callable[[], None]) -> None:
        try:
            write()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: a stream closed meanwhile ("I/O operation on closed file")
            self.failure = exc if isinstance(exc, OSError) else OSError(errno.EBADF, os.strerror(errno.EBADF))
            with contextlib.suppress(OSError, ValueError):
                _point_at_devnull(self.fileno())


class StandardStreams:
    """stdout and stderr as :func:`standard_streams` set them up; :meth:`stdout_failure` tells whether what
    was written to stdout was lost."""

    def __init__(self) -> None:
        self._writers: dict[str, _CheckedWriter] = {}

    def stdout_failure(self) -> OSError | None:
        """After flushing stdout: the error that lost (part of) what was written to it, or None."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stdout.flush()
        writer = self._writers.get("stdout")
        return writer.failure if writer is not None else None

    def _install(self, name: str) -> Callable[[], None]:
        """Route ``sys.<name>`` through a :class:`_CheckedWriter`; return what puts the original back."""
        original = getattr(sys, name)
        if original is None:
            target, encoding, line_buffering = None, "utf-8", False
        elif isinstance(getattr(original, "buffer", None), io.IOBase) and getattr(original, "encoding", None):
            with contextlib.suppress(OSError, ValueError):
                original.flush()  # what it holds goes first
            target, encoding, line_buffering = original.buffer, original.encoding, bool(getattr(original, "line_buffering", False))
        else:
            return lambda: None  # a stream of text only (io.StringIO): it cannot fail, nor meet an encoding
        writer = _CheckedWriter(target)
        stream = io.TextIOWrapper(writer, encoding=encoding, errors=ASCII_FALLBACK,  # type: ignore[type-var]
                                  line_buffering=line_buffering, write_through=True)
        self._writers[name] = writer
        setattr(sys, name, stream)

        def restore() -> None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
            if getattr(sys, name) is stream:
                setattr(sys, name, original)
            with contextlib.suppress(OSError, ValueError):
                stream.detach()  # our writer goes with it; the original layer stays open
        return restore


@contextmanager
def standard_streams() -> Iterator[StandardStreams]:
    """Within: ``sys.stdout`` and ``sys.stderr`` written in any encoding and checked (see the module's text),
    also when either is None (a closed descriptor).  Afterwards the original streams are back, flushed."""
    streams = StandardStreams()
    restores = [streams._install("stdout"), streams._install("stderr")]
    try:
        yield streams
    finally:
        for restore in reversed(restores):
            restore()
