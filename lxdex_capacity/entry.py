"""The ``lxdex`` console script and ``python -m lxdex_capacity``.

Importing the command line (numba, numpy, pydantic, typer) takes about a second.  A Ctrl-C or
SIGTERM in that second ends the command with ``lxdex: interrupted`` and 130 or 143, as it would a
moment later, rather than with a traceback from inside an import; nothing has been written yet, so
there is nothing to clean up.  From then on :func:`lxdex_capacity.cli.main` handles the signals.
"""

from __future__ import annotations

import faulthandler
import os
import signal
from types import FrameType

__all__ = ["main"]


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"lxdex: interrupted\n")
    os._exit(128 + signum)


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
    from .cli import main as run  # the slow import

    if signal.SIGINT in handled:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is KeyboardInterrupt again
    run()  # which replaces the SIGTERM handler with its own as it starts: no moment without one
