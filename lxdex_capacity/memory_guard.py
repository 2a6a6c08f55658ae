"""The memory guard: a command that allocates from a user-given size refuses, before allocating,
when its estimate exceeds the memory this process can still get, naming both.

What a process can get is the least of: the machine's available memory; what its cgroup (a container's
limit) leaves; and, under ``ulimit -v``, the address space its limit leaves.
"""

from __future__ import annotations

import resource
from pathlib import Path

import psutil

from .errors import CapacityError
from .units import gib, mb

__all__ = ["refuse_unless_it_fits", "available_bytes"]

_CGROUP = Path("/sys/fs/cgroup")


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup (v2) may still use, or None without a limit."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((_CGROUP / "memory.current").read_text()), 0)
    except (OSError, ValueError):
        return None


def _address_space_room() -> int | None:
    """Address space left under ``ulimit -v`` (RLIMIT_AS), or None without a limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(soft - psutil.Process().memory_info().vms, 0)


def available_bytes() -> int:
    """The memory this process can still allocate, as far as the system says."""
    room = [psutil.virtual_memory().available, _cgroup_room(), _address_space_room()]
    return min(r for r in room if r is not None)


def _size(n: float) -> str:
    return gib(n, 1) if n >= 2**30 else mb(n)


def refuse_unless_it_fits(needed_bytes: float, what: str, advice: str, force: bool = False) -> None:
    """Raise :class:`CapacityError` (``"<what> an estimated X GiB but only Y GiB is available; <advice>"``)
    if ``needed_bytes`` exceeds the available memory, unless ``force``."""
    if force:
        return
    available = available_bytes()
    if needed_bytes > available:
        raise CapacityError(f"{what} an estimated {_size(needed_bytes)} but only {_size(available)} is available; {advice}")
