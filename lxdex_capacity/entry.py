"""The ``lxdex`` console script and ``python -m lxdex_capacity``.

Importing the command line (numba, numpy, pydantic, typer) takes about a second.  A Ctrl-C or
SIGTERM in that second ends the command with ``lxdex: interrupted`` and 130 or 143, as it would a
moment later, rather than with a traceback from inside an import; nothing has been written yet, so
there is nothing to clean up.  From then on :func:`lxdex_capacity.cli.main` handles the signals.

Once the command has finished (:func:`lxdex_capacity.cli.main` raised ``SystemExit``: its output
written and flushed, its exit code decided), a SIGINT or SIGTERM no longer changes the outcome: the
process exits with **the command's own code**, and says nothing, since nothing was cut short.

* While Python still runs its exit work (joining threads, ``atexit`` callbacks), the signal ends the
  process at once with that code (``os._exit``), instead of a ``KeyboardInterrupt`` printed as
  "Exception ignored" and lost, or a hung thread join that Ctrl-C could not end.
* After the last ``atexit`` callback (:func:`_ignore_signals`, registered before any other so it runs
  last), the interpreter runs no Python signal handler any more: it puts the default action back, and
  a signal in the second or so of teardown left (numba, LLVM and Dask loaded) would kill the process,
  a silent 130 after a complete result.  The two signals are ignored there instead: the teardown
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

__all__ = ["main"]


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
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
    # A crash in compiled code (numba's kernels, LLVM, a C extension) then says where Python was,
    # on stderr, instead of the process vanishing with SIGSEGV and nothing said.
    faulthandler.enable()
    handled = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the shell made us ignore it
        handled.append(signal.SIGINT)
    for sig in handled:
        signal.signal(sig, _interrupted_while_starting)
    atexit.register(_ignore_signals, handled)  # before numba, Dask and the rest register theirs: so it runs last
    from .cli import main as run  # the slow import

    if signal.SIGINT in handled:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is KeyboardInterrupt again
    try:
        run()  # which replaces the SIGTERM handler with its own as it starts: no moment without one
    except SystemExit as done:  # always: run() exits, by SystemExit or os._exit
        _finished(_exit_code(done.code), handled)
        raise
    except KeyboardInterrupt as exc:  # a Ctrl-C between run()'s own handling and here
        if isinstance(exc.__context__, SystemExit):  # it landed as the finished command's exit went by
            _exit_now(_exit_code(exc.__context__.code))
        _interrupted_while_starting(signal.SIGINT, None)
