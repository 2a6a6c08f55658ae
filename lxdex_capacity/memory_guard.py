"""The memory guard: a command that allocates from a user-given size refuses, before allocating,
when its estimate exceeds the memory this process can still get, naming both.

What a process can get is the least of: the machine's available memory; what its cgroup (a container's
limit, cgroup v2 or v1; none on macOS) leaves; and, under ``ulimit -v`` and ``ulimit -d``, what those limits leave.
"""

from __future__ import annotations

import resource

import psutil

from .errors import CapacityError
from .machine import cgroup_dirs
from .units import gib, mb

__all__ = ["refuse_unless_it_fits", "available_bytes"]

# A cgroup v1 memory limit this large is no limit (the kernel's "unlimited" is 2**63 less a page).
_V1_UNLIMITED = 1 << 60


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup may still use, or None without a limit: the least, over its cgroup and each
    ancestor that sets one, of the limit less what the cgroup uses (``memory.max`` and ``memory.current`` on cgroup
    v2, ``memory.limit_in_bytes`` and ``memory.usage_in_bytes`` on v1).  None on macOS, which has no cgroups."""
    rooms = []
    for version, limit_file, usage_file in ((2, "memory.max", "memory.current"), (1, "memory.limit_in_bytes", "memory.usage_in_bytes")):
        for folder in cgroup_dirs("memory", version):
            try:
                limit = (folder / limit_file).read_text().strip()
                if limit == "max" or int(limit) >= _V1_UNLIMITED:
                    continue
                rooms.append(max(int(limit) - int((folder / usage_file).read_text()), 0))
            except (OSError, ValueError):
                continue
        if rooms:
            break
    return min(rooms) if rooms else None


def _address_space_room() -> int | None:
    """Address space left under ``ulimit -v`` (RLIMIT_AS), or None without a limit (or no such limit); the soft
    limit, as :func:`lxdex_capacity.limits.ensure_limits` left it at start."""
    if not hasattr(resource, "RLIMIT_AS"):
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(soft - psutil.Process().memory_info().vms, 0)


def _data_room() -> int | None:
    """Private writable memory left under ``ulimit -d`` (RLIMIT_DATA, which Linux counts over every private
    writable mapping, numpy's arrays included), or None without a limit."""
    if not hasattr(resource, "RLIMIT_DATA"):
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY:
        return None
    used = getattr(psutil.Process().memory_info(), "data", 0)  # Linux's VmData; other systems do not say
    return max(soft - used, 0)


def available_bytes() -> int:
    """The memory this process can still allocate, as far as the system says."""
    room = [psutil.virtual_memory().available, _cgroup_room(), _address_space_room(), _data_room()]
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
