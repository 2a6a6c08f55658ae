"""Child processes tethered to this one: they never outlive it and leave Ctrl-C to it.

A tethered child, before it imports anything of this package (which takes a second or more),
ignores SIGINT (this process decides what a terminal's Ctrl-C means, and kills it), and on Linux is
killed when the thread that started it ends, however that ends (PR_SET_PDEATHSIG = 1 in
linux/prctl.h, the same on every Linux architecture); if that happened already, while it started,
it exits at once.  macOS has no such call: there a thread of the child looks every
:data:`WATCH_SECONDS` whether its parent is still the process that started it, and ends the child
when it is not (so within that time of this process ending, however it ends).  ``lxdex sweep``
runs its points in such children, and the first-run compile its second half of the kernels.
"""

from __future__ import annotations

import os
import sys

from .errors import LxdexError

__all__ = ["PARENT_PID", "WATCH_SECONDS", "tethered", "tethered_env", "spawn_failure"]

PARENT_PID = "LXDEX_PARENT_PID"  # the environment variable holding the parent's pid
WATCH_SECONDS = 0.2  # where the child cannot ask to be killed with its parent (macOS): how often it looks for it

_TETHER = f"""\
import ctypes, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
_tethered = False
if sys.platform.startswith("linux"):
    try:
        _tethered = ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        pass
if str(os.getppid()) != os.environ.get("{PARENT_PID}"):
    os._exit(1)
if not _tethered:
    import threading, time
    def _watch_parent(parent=os.getppid()):
        while os.getppid() == parent:
            time.sleep({WATCH_SECONDS})
        os._exit(1)
    threading.Thread(target=_watch_parent, name="lxdex-tether", daemon=True).start()
del _tethered
"""


def tethered(code: str, *args: str) -> list[str]:
    """The command running Python ``code`` (with ``args`` as ``sys.argv[1:]``) in a tethered child;
    start it with :func:`tethered_env`."""
    return [sys.executable, "-c", _TETHER + code, *args]


def tethered_env(**extra: str) -> dict[str, str]:
    """This process's environment, with the pid the child checks and ``extra``."""
    return os.environ | {PARENT_PID: str(os.getpid())} | extra


def spawn_failure(exc: OSError, what: str) -> LxdexError:
    """One line for a child process (``what``: "the sweep point's process") that could not be started: a
    resource limit ran out (:func:`lxdex_capacity.limits.resource_limit`, exit 2), or this Python cannot be
    run (not executable, gone: exit 1)."""
    from .limits import is_resource_error, resource_limit

    if is_resource_error(exc):
        return resource_limit(exc, f"starting {what}")
    return LxdexError(f"cannot start {what} ({sys.executable}): {exc.strerror or exc}")
