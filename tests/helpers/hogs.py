"""CPU hogs for the tests of the measurement discipline: processes that are not this one's children (so a window
counts them as other processes' work, as it would a user's other programs), one pinned to each CPU given."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

__all__ = ["cpu_hogs"]

_HOG = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"
# Started through a shell that exits at once: the hog is re-parented, not a descendant of the test process.
_DETACH = 'setsid "$0" -c "$1" "$2" </dev/null >/dev/null 2>&1 & echo $!'


@contextlib.contextmanager
def cpu_hogs(cpus: list[int] | None = None, settle: float = 0.3) -> Iterator[list[int]]:
    """One busy loop pinned to each of ``cpus`` (default: every CPU this process may use), while the block runs;
    yields their pids.  They are killed however the block ends."""
    cpus = sorted(os.sched_getaffinity(0)) if cpus is None else cpus
    pids = []
    try:
        for cpu in cpus:
            out = subprocess.run(["sh", "-c", _DETACH, sys.executable, _HOG, str(cpu)], capture_output=True, text=True, check=True)
            pids.append(int(out.stdout.split()[-1]))
        time.sleep(settle)
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
