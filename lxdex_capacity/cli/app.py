"""The ``lxdex`` typer app, ``--version``, and :func:`main`: the one place errors become exit codes.

Command modules register on :data:`app` when :mod:`lxdex_capacity.cli` imports them; this module
imports none of them.  Exit codes live on the exception classes (:mod:`lxdex_capacity.errors`):

* an :class:`~lxdex_capacity.errors.LxdexError`: its ``exit_code`` (2 bad input or a refused size,
  1 a result that fails its check), one line ``lxdex: error: <message>`` on stderr;
* a terminating signal (:data:`lxdex_capacity.entry.TERMINATING_SIGNALS`: SIGINT (Ctrl-C), SIGTERM, SIGHUP):
  :class:`~lxdex_capacity.errors.Interrupted` raised in the main thread, so every ``finally`` removes its
  temporary files (and whatever a signal cut short, :func:`lxdex_capacity.atomic.remove_temporaries`), then
  ``lxdex: interrupted`` (if stderr is still there) and 128 + the signal's number: 130, 143, 129; once
  :func:`main` has exited (output flushed, code decided), the command's own code: see :mod:`lxdex_capacity.entry`;
* a usage error found by the parser (unknown option, value out of range): one line, its exit code (2);
* stdout that cannot be written (``> /dev/full``, ``>&-``, a file-size limit): one line, 1, once the command has
  done its work (:func:`lxdex_capacity.console.standard_streams`); stderr that cannot be written: nothing said,
  the command's own code; a closed pipe (``| head``), on stdout or
  stderr, whichever console or plain write hit it: quietly, 141 (rich would exit 1 itself and typer
  would turn a BrokenPipeError into a silent 1: see :func:`lxdex_capacity.console.broken_pipes_raise`
  and :class:`_PipeClosed`);
* a numpy warning raised in lxdex's own code (a division by zero, say): one line, 1, never a warning
  on the terminal followed by a NaN figure.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from .. import __version__
from ..atomic import remove_temporaries
from ..console import StandardStreams, broken_pipes_raise, err, out, standard_streams
from ..entry import TERMINATING_SIGNALS
from ..errors import InputError, Interrupted, LxdexError, OutputError, ResourceLimit, interrupt_behind
from ..limits import is_resource_error, resource_limit
from ..schema import error_message

__all__ = ["app", "main", "HelpGroup", "Invocation", "invocation"]


class HelpGroup(TyperGroup):
    """A command group that, given no arguments (``lxdex``, ``lxdex hardware``), shows its help once, exactly
    as ``--help`` does, and exits 0.

    click's own way, :class:`NoArgsIsHelpError`, builds the help text while the exception is made: typer's
    rich help is printed then, as a side effect, and whether the exception's message is empty or holds the
    help a second time depends on the typer and click versions, so whoever prints the message may print the
    help twice.  Here the help option's own callback runs instead, as if ``--help`` had been given."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            option = self.get_help_option(ctx)
            if option is not None and option.callback is not None:
                option.callback(ctx, option, True)  # prints the help, then ctx.exit(): exit code 0
        return list(super().parse_args(ctx, args))


class _PipeClosed(Exception):
    """A :class:`BrokenPipeError` (stdout's or stderr's reader has gone), carried past typer to :func:`main`:
    typer catches an OSError with EPIPE itself, and ends with a silent exit 1."""


class _RootGroup(HelpGroup):
    """The root command: a terminating signal inside a command becomes :class:`Interrupted`, reported by
    :func:`main` (typer itself would end with a silent exit 130); a closed pipe, while parsing
    (``lxdex --help``) or inside a command, becomes :class:`_PipeClosed`."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError as exc:
            raise _PipeClosed() from exc

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise Interrupted(exit_code=_exit_code_of(exc)) from None
        except BrokenPipeError as exc:
            raise _PipeClosed() from exc


app = typer.Typer(
    name="lxdex",
    help="Measured memory and speed of a real multi-market matching engine, and the machines that hold it.",
    cls=_RootGroup,
    no_args_is_help=True,
    rich_markup_mode="rich",  # help texts are rich markup with any typer version (options.help_text escapes a "[")
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class Invocation:
    """How ``lxdex`` was invoked: its arguments, as :func:`main` got them (``ctx.obj`` of every command)."""

    argv: tuple[str, ...]


def invocation(ctx: typer.Context) -> Invocation | None:
    """The :class:`Invocation` of the running command (None when run other than through :func:`main`)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Invocation) else None


def _version(value: bool) -> None:
    if value:
        out.print(f"lxdex-capacity {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool | None = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """lxdex-capacity: how much memory and speed a multi-market matching engine needs."""


def _say(message: str) -> None:
    """``message`` on stderr, in one line; nothing if stderr's reader has gone, or stderr is (the exit code still tells)."""
    with contextlib.suppress(BrokenPipeError):
        err.print(message, highlight=False, markup=False, soft_wrap=True)


def _exit(message: str, code: int) -> NoReturn:
    _say(f"lxdex: {message}")
    sys.exit(code)


class _Terminated(KeyboardInterrupt):
    """A terminating signal other than SIGINT (SIGTERM, SIGHUP), raised in the main thread as Ctrl-C raises
    KeyboardInterrupt: the same unwinding and cleanup, and no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum
        self.exit_code = 128 + signum


def _exit_code_of(exc: KeyboardInterrupt) -> int:
    return exc.exit_code if isinstance(exc, _Terminated) else Interrupted.exit_code


def _interrupted_behind(exc: BaseException, as_program: bool) -> None:
    """End as interrupted if ``exc`` wraps an interrupt (:func:`~lxdex_capacity.errors.interrupt_behind`): an error raised while a
    signal unwound the run, by cleanup code it cut short (a ``finally`` closing a descriptor closed already:
    EBADF; a failed write's :class:`~lxdex_capacity.errors.OutputError` made of that), is the signal's doing,
    and its message would be a false one."""
    interrupt = interrupt_behind(exc)
    if interrupt is not None:
        _interrupted(_exit_code_of(interrupt), as_program)


def _interrupted(code: int, as_program: bool) -> NoReturn:
    """``lxdex: interrupted`` and ``code``, once every temporary is gone (one a signal cut the removal of short
    included).  Objects a signal cut off half-way (numba's, llvmlite's) may complain from their finalisers as
    the interpreter exits: that is noise after an interrupt, not news."""
    if as_program:
        with contextlib.suppress(ValueError):  # the decision is made: a second signal must not change the exit code
            for sig in TERMINATING_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    signal.signal(sig, signal.SIG_IGN)
    remove_temporaries()
    _say(f"lxdex: {Interrupted()}")
    if not as_program:
        sys.exit(code)  # main() called as a function (a test, a script): an ordinary exit it can catch
    sys.unraisablehook = lambda unraisable: None
    # The run has unwound (temporary files removed, clusters closed); what is left is the interpreter's own
    # teardown, where a signal an extension (LLVM) re-raised could still end the process by the signal
    # itself, and which takes a second or two with numba and Dask loaded.  Exit now, with the code decided.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated(signum)


def _redeliver(unraisable: Any) -> None:
    """``sys.unraisablehook`` while a command runs: an interrupt raised where Python cannot propagate it (a
    C callback, such as llvmlite's while numba loads a kernel) is delivered again, to land in Python code,
    instead of being printed as "Exception ignored" and lost."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        if not getattr(exc, "redelivered", False):  # once per signal, however many finalisers see it
            exc.redelivered = True  # type: ignore[attr-defined]
            signum = exc.signum if isinstance(exc, _Terminated) else signal.SIGINT
            # From another thread, a moment later: raised here, inside the hook, it would be lost again.
            threading.Timer(0.01, _thread.interrupt_main, args=(signum,)).start()
        return
    sys.__unraisablehook__(unraisable)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """The terminating signals other than SIGINT raise :class:`_Terminated` in the main thread while a command
    runs, as Ctrl-C raises KeyboardInterrupt: the run unwinds through its ``finally`` blocks instead of dying
    where it stands.  A signal the process was started ignoring (``nohup``) stays ignored."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in TERMINATING_SIGNALS:
            if sig != signal.SIGINT and signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, _terminated)
    except ValueError:  # not the main thread (a test runner's worker): leave signals alone
        yield
        return
    previous_hook, sys.unraisablehook = sys.unraisablehook, _redeliver
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook


# What a failed write raises: the disk is full, a file-size limit, the terminal went away.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS, errno.EBADF}


def _stdout_failed(exc: OSError) -> NoReturn:
    """stdout cannot take what was printed: one line (1), or nothing for a closed pipe (141, as a shell
    reports SIGPIPE; stderr's, too); stdout is pointed at /dev/null so Python's own flush at exit stays
    quiet, after a last flush of what it holds, for when the pipe that closed was stderr's."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: no sys.stdout at all
        sys.stdout.flush()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    if exc.errno == errno.EPIPE:
        sys.exit(141)
    _exit(f"error: cannot write to standard output: {exc.strerror or exc}", OutputError.exit_code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console entry point (``lxdex``): run the command ``argv`` names (default ``sys.argv[1:]``) and exit
    with its code; errors become one line on stderr and the exit code of their class."""
    # Around the reports of errors too: a closed stderr must not make them exit 1.
    with broken_pipes_raise(), standard_streams() as streams:
        try:
            _main(argv)
        except SystemExit as done:
            _check_stdout(streams, done)
            raise


def _check_stdout(streams: StandardStreams, done: SystemExit) -> None:
    """A command that succeeded but whose output was lost (stdout full, closed, too large) has not: one line, 1.
    A command that failed already said why, with its own code."""
    failure = streams.stdout_failure()
    if failure is not None and done.code in (0, None):
        _stdout_failed(failure)


def _command_words(args: Sequence[str]) -> str:
    """``"lxdex hardware list"``: the command ``args`` ran, its options left out."""
    words = [arg for arg in args[:2] if not arg.startswith("-")]
    groups = {group.name for group in app.registered_groups}  # commands whose first argument is a subcommand
    return " ".join(["lxdex", *words[: 1 if len(words) < 2 or words[0] not in groups else 2]])


def _main(argv: Sequence[str] | None) -> NoReturn:
    args = tuple(sys.argv[1:] if argv is None else argv)
    try:
        with _signals_interrupt(), warnings.catch_warnings():
            # Validation keeps numbers finite; a numeric warning left in our code is a bug, reported in one line.
            warnings.filterwarnings("error", category=RuntimeWarning, module=r"lxdex_capacity(\.|$)")
            command = typer.main.get_command(app)  # inside: a Ctrl-C while typer reads the commands is handled too
            code = command.main(args=list(args), prog_name="lxdex", standalone_mode=False, obj=Invocation(args))
            sys.stdout.flush()
    except Interrupted as exc:
        _interrupted(exc.exit_code, argv is None)
    except LxdexError as exc:
        _interrupted_behind(exc, argv is None)
        _exit(f"error: {exc}", exc.exit_code)
    except RuntimeWarning as exc:
        _exit(f"error: a figure could not be computed ({exc}); please report this", LxdexError.exit_code)
    except ValidationError as exc:  # a value checked by a schema outside any file (a scenario's, say)
        _exit(f"error: {error_message(exc)}", InputError.exit_code)
    except KeyboardInterrupt as exc:  # while parsing, before any command ran
        _interrupted(_exit_code_of(exc), argv is None)
    except typer.Abort as exc:  # click's wrapping of a KeyboardInterrupt while parsing
        cause = exc.__cause__
        _interrupted(_exit_code_of(cause) if isinstance(cause, KeyboardInterrupt) else Interrupted.exit_code, argv is None)
    except BrokenPipeError as exc:  # written by main itself (the last flush)
        _stdout_failed(exc)
    except _PipeClosed as exc:
        _stdout_failed(exc.__cause__ if isinstance(exc.__cause__, OSError) else BrokenPipeError(errno.EPIPE, "Broken pipe"))
    except OSError as exc:  # a write to a file other than stdout (which the streams layer checks itself)
        _interrupted_behind(exc, argv is None)
        if is_resource_error(exc):  # a limit met where no command named it (a thread, a file, a library to map)
            _exit(f"error: {resource_limit(exc, _command_words(args))}", ResourceLimit.exit_code)
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        where = f"cannot write {exc.filename!r}: " if exc.filename else ""
        _exit(f"error: {where}{exc.strerror or exc}", OutputError.exit_code)
    except Exception as exc:
        _interrupted_behind(exc, argv is None)  # e.g. Ctrl-C inside an import, which Python rewraps as RuntimeError
        if is_resource_error(exc):  # a thread that could not start, memory that could not be had
            _exit(f"error: {resource_limit(exc, _command_words(args))}", ResourceLimit.exit_code)
        # Usage errors: click's ClickException, vendored inside newer typer; matched by shape so
        # that neither click nor typer internals are imported.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group not built on HelpGroup, run bare: its help
            text = exc.format_message()  # the help text; empty when typer's rich help was printed already
            if text.strip():
                out.print(text, markup=False, highlight=False)
            sys.exit(0)
        _exit(f"error: {exc.format_message()}", exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
