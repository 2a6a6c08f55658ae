"""The ``lxdex`` console script and ``python -m lxdex_capacity``.

First, file descriptors 0, 1 and 2 that the caller closed (``lxdex ... >&-``, ``2>&-``) are opened on
``/dev/null`` (:func:`_keep_standard_descriptors_open`): otherwise the first file lxdex opens (a
temporary output, a cache file) would take number 1 or 2, and whatever writes there (a child process,
faulthandler, the C libraries) would write into it.  Python has already made ``sys.stdout`` or
``sys.stderr`` None for them; :func:`lxdex_capacity.console.standard_streams` decides what that means.

The terminating signals, :data:`TERMINATING_SIGNALS` (SIGINT, SIGTERM and SIGHUP: a closed terminal,
a dropped ssh session), each end the command the same way: the run unwinds through its cleanup, one
line ``lxdex: interrupted``, exit code 128 + the signal's number (130, 143, 129).  A signal the caller
started lxdex ignoring (``nohup``, a background job's SIGINT) stays ignored.  SIGQUIT (Ctrl-\\) keeps
its default, the immediate quit (and core dump) a user asks for when nothing else ends a process;
SIGPIPE and SIGXFSZ are ignored by Python itself, so a closed pipe or a file-size limit is an error
where the write is made (141 for the pipe; one line and 1 for a file too large).

Importing the command line (numba, numpy, pydantic, typer) takes about a second.  A terminating signal
in that second ends the command with ``lxdex: interrupted`` and its code, as it would a moment later,
rather than with a traceback from inside an import; nothing has been written yet, so there is nothing
to clean up.  From then on :func:`lxdex_capacity.cli.main` handles the signals.

Once the command has finished (:func:`lxdex_capacity.cli.main` raised ``SystemExit``: its output
written and flushed, its exit code decided), a terminating signal no longer changes the outcome: the
process exits with **the command's own code**, and says nothing, since nothing was cut short.

* While Python still runs its exit work (joining threads, ``atexit`` callbacks), the signal ends the
  process at once with that code (``os._exit``), instead of a ``KeyboardInterrupt`` printed as
  "Exception ignored" and lost, or a hung thread join that Ctrl-C could not end.
* After the last ``atexit`` callback (:func:`_ignore_signals`, registered before any other so it runs
  last), the interpreter runs no Python signal handler any more: it puts the default action back, and
  a signal in the second or so of teardown left (numba, LLVM and Dask loaded) would kill the process,
  a silent 130 after a complete result.  The signals are ignored there instead: the teardown
  finishes and the exit code is the command's.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

__all__ = ["main", "TERMINATING_SIGNALS"]

# The signals that end a command with its cleanup, "lxdex: interrupted" and 128 + their number.
TERMINATING_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _keep_standard_descriptors_open() -> None:
    """Open /dev/null on each of file descriptors 0, 1 and 2 that is closed, inheritable as they are."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            os.set_inheritable(fd, True)


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError):  # stderr may be gone (a terminal hung up): the code still tells
        os.write(2, b"lxdex: interrupted\n")
    os._exit(128 + signum)


def _exit_code(code: object) -> int:
    """The exit code of ``SystemExit(code)``, as Python would report it."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _exit_now(code: int) -> NoReturn:
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # flushed already; a closed or busy stream is no news
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _finished(code: int, signals: list[signal.Signals]) -> None:
    """The command has finished with ``code``: from now on ``signals`` end the process with it, at once."""

    def exit_now(signum: int, frame: FrameType | None) -> None:
        _exit_now(code)

    for sig in signals:
        signal.signal(sig, exit_now)


def _ignore_signals(signals: list[signal.Signals]) -> None:
    """The last ``atexit`` callback: past it, the interpreter's teardown runs no signal handler."""
    for sig in signals:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_IGN)


def main() -> None:
    """Run ``lxdex`` with the arguments of this process."""
    _keep_standard_descriptors_open()
    # A crash in compiled code (numba's kernels, LLVM, a C extension) then says where Python was,
    # on stderr, instead of the process vanishing with SIGSEGV and nothing said.
    faulthandler.enable(file=sys.stderr if sys.stderr is not None else 2)
    handled = [sig for sig in TERMINATING_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]  # nohup's stays ignored
    for sig in handled:
        signal.signal(sig, _interrupted_while_starting)
    atexit.register(_ignore_signals, handled)  # before numba, Dask and the rest register theirs: so it runs last
    __import__("lxdex_capacity.limits").limits.check_at_start()  # ulimits raised or refused before numba loads
    from .cli import main as run  # the slow import

    if signal.SIGINT in handled:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is KeyboardInterrupt again (the others: run())
    try:
        run()  # which replaces the other signals' handlers with its own as it starts: no moment without one
    except SystemExit as done:  # always: run() exits, by SystemExit or os._exit
        _finished(_exit_code(done.code), handled)
        raise
    except KeyboardInterrupt as exc:  # a signal between run()'s own handling and here
        if isinstance(exc.__context__, SystemExit):  # it landed as the finished command's exit went by
            _exit_now(_exit_code(exc.__context__.code))
        _interrupted_while_starting(getattr(exc, "signum", signal.SIGINT), None)
