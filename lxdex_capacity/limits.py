"""Resource limits of this process (``ulimit``), checked as lxdex starts, and their failures named later.

:func:`ensure_limits` runs first thing in :mod:`lxdex_capacity.entry`, before numba, LLVM, numpy and
Dask are loaded (a process short of address space fails there with an ``OSError`` about
``libllvmlite.so``, short of data segment with a ``MemoryError`` or a hang, short of stack with
SIGSEGV).  For each limit whose soft value is below what lxdex needs (:data:`NEEDS`), the soft value
is raised toward the hard one, up to the need and no further (a user's lower soft limit otherwise
stands: the memory guard then sizes runs within it); where the hard limit itself is too low, the
command is refused with one line naming the limit, its value and the need, exit 2::

    lxdex: error: the address-space limit (ulimit -v) is 300,000 KiB; lxdex needs at least 1,048,576 KiB to load numba, LLVM and numpy

What runs out later (a thread that cannot start, a process that cannot be spawned, a file that cannot
be opened) is turned into a :class:`~lxdex_capacity.errors.ResourceLimit` line naming the limit by
:func:`resource_limit`, where it arises.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from dataclasses import dataclass
from types import ModuleType

from .errors import ResourceLimit, cause_chain

__all__ = ["Need", "NEEDS", "check_at_start", "ensure_limits", "resource_limit", "limit_text", "is_resource_error"]


@dataclass(frozen=True)
class Need:
    """What lxdex needs of one resource limit."""

    name: str  # the ``resource`` module's constant, e.g. "RLIMIT_AS"
    words: str  # "the address-space limit (ulimit -v)"
    unit: int  # bytes per unit of ulimit's figure (1,024 for KiB); 1 for counts
    wanted: int  # the soft limit is raised to this (in ``resource``'s units: bytes or a count) when below
    least: int  # a hard limit below this is refused
    why: str  # what it is needed for

    def shown(self, value: int) -> str:
        unit = " KiB" if self.unit == 1024 else ""
        return "unlimited" if value < 0 else f"{value // self.unit:,}{unit}"


# Measured on Linux x86-64, Python 3.11 (prlimit around `lxdex plan` and `lxdex simulate --markets 100`):
# loading the command line maps ~350 MB of address space, of which ~130 MB data; a small simulate peaks at
# ~700 MB mapped and ~310 MB data; `plan` fails below ~400 MB of address space (at 450 MB it spun for
# good) and ~140 MB of data.  Python itself needs 80-96 KiB of stack to start (below, it crashes before any
# of lxdex runs: nothing to be done here) and `plan` runs with 96 KiB; LLVM's
# compiler recurses deeper, so 1 MiB is the least accepted and 8 MiB (Linux's default) is wanted.  Dask
# wants many open files (sockets and pipes per worker), OpenBLAS a thread per core.
_MIB = 1 << 20
NEEDS = (
    Need("RLIMIT_AS", "the address-space limit (ulimit -v)", 1024, 1024 * _MIB, 1024 * _MIB,
         "to load numba, LLVM and numpy and run a small command"),
    Need("RLIMIT_DATA", "the data-segment limit (ulimit -d)", 1024, 512 * _MIB, 512 * _MIB,
         "to load numba, LLVM and numpy and run a small command"),
    Need("RLIMIT_STACK", "the stack limit (ulimit -s)", 1024, 8 * _MIB, 1 * _MIB, "for LLVM's compiler and Python's recursion"),
    Need("RLIMIT_NOFILE", "the open-file limit (ulimit -n)", 1, 1024, 64, "for its files, pipes and Dask's sockets"),
)
_NPROC = Need("RLIMIT_NPROC", "the process limit (ulimit -u)", 1, 0, 0, "for numpy's and its own threads")
# Threads lxdex starts besides OpenBLAS's one per core: the progress display, Dask's loop, a spare.
_OWN_THREADS = 8


def _resource() -> ModuleType | None:
    try:
        import resource
    except ImportError:  # Windows: no such limits
        return None
    return resource


def _room_for_tasks() -> tuple[int, int] | None:
    """(tasks this user runs now, tasks lxdex needs) when RLIMIT_NPROC applies (it does not to root, nor where
    /proc cannot be counted)."""
    if os.getuid() == 0 or not os.path.isdir("/proc"):
        return None
    uid = os.getuid()
    running = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                running += len(os.listdir(f"/proc/{entry.name}/task"))
        except OSError:  # gone meanwhile
            continue
    return running, (os.cpu_count() or 1) + _OWN_THREADS


def _raise_soft(resource: ModuleType, name: str, soft: int, hard: int, wanted: int) -> int:
    infinity = resource.RLIM_INFINITY
    target = wanted if hard == infinity else min(hard, wanted)
    if soft != infinity and soft < target:
        try:
            resource.setrlimit(getattr(resource, name), (target, hard))
            return target
        except (ValueError, OSError):  # not allowed here: the soft value stands, and is judged as it is
            return soft
    return soft


def _thread_stacks(size: int) -> None:
    """Threads started from now on get ``size`` bytes of stack: glibc sized its default from the stack limit
    as the process started, and Python's own threads follow the default unless told."""
    import threading

    with contextlib.suppress(ValueError, RuntimeError):  # a size this platform refuses: its default stands
        threading.stack_size(size)
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        attr = ctypes.create_string_buffer(256)  # a pthread_attr_t is 56 or 64 bytes
        if libc.pthread_attr_init(attr) == 0:
            if libc.pthread_attr_setstacksize(attr, ctypes.c_size_t(size)) == 0:
                libc.pthread_setattr_default_np(attr)
            libc.pthread_attr_destroy(attr)
    except (OSError, AttributeError):  # not glibc: threads keep their default
        pass


def ensure_limits() -> None:
    """Raise each soft limit below lxdex's need toward it; refuse (:class:`ResourceLimit`) a hard limit below
    the least lxdex needs.  Cheap: a few ``getrlimit`` calls, unless a limit is low."""
    resource = _resource()
    if resource is None:
        return
    infinity = resource.RLIM_INFINITY
    for need in NEEDS:
        constant = getattr(resource, need.name, None)
        if constant is None:
            continue
        soft, hard = resource.getrlimit(constant)
        if hard != infinity and hard < need.least:
            raise ResourceLimit(f"{need.words} is {need.shown(hard)}; lxdex needs at least {need.shown(need.least)} "
                                f"{need.why}")
        raised = _raise_soft(resource, need.name, soft, hard, need.wanted)
        if raised != soft and need.name == "RLIMIT_STACK":
            _thread_stacks(raised)
        if raised != infinity and raised < need.least:
            raise ResourceLimit(f"{need.words} is {need.shown(raised)}; lxdex needs at least {need.shown(need.least)} "
                                f"{need.why}")
    constant = getattr(resource, "RLIMIT_NPROC", None)
    if constant is None:
        return
    soft, hard = resource.getrlimit(constant)
    if soft == infinity or (soft >= 4096 and hard == soft):  # a normal limit: counting the user's tasks costs more than it tells
        return
    counted = _room_for_tasks()
    if counted is None:
        return
    running, needed = counted
    soft = _raise_soft(resource, "RLIMIT_NPROC", soft, hard, running + needed)
    if soft != infinity and soft < running + needed:
        raise ResourceLimit(f"{_NPROC.words} is {soft:,} processes and threads, and this user runs {running:,}; "
                            f"lxdex needs {needed:,} more {_NPROC.why}")


# What an error that a limit caused looks like, and which limit it is.  Dask and others wrap the OSError
# in an error of their own ("Cluster failed to start: [Errno 24] Too many open files"): its number is
# read from the text then, and from the errors it was raised from.
_THREAD_FAILURE = "can't start new thread"
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")
_RESOURCE_ERRNOS = (errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE)


def _resource_errno(exc: BaseException) -> int | None:
    """The errno of a resource running out behind ``exc`` (0 for a thread that could not start, or a shared
    library that could not be mapped), or None."""
    for error in cause_chain(exc):
        if isinstance(error, RuntimeError) and _THREAD_FAILURE in str(error):
            return errno.EAGAIN
        if isinstance(error, MemoryError):
            return errno.ENOMEM
        number = error.errno if isinstance(error, OSError) else None
        if number is None:
            found = _ERRNO_IN_TEXT.search(str(error))
            number = int(found.group(1)) if found else None
        if number in _RESOURCE_ERRNOS:
            return number
        if isinstance(error, OSError) and "shared object" in str(error):
            return errno.ENOMEM
    return None


def is_resource_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a resource running out: a thread or process that could
    not start (EAGAIN, ENOMEM), too many open files (EMFILE, ENFILE), a shared library that could not be
    mapped, memory."""
    return _resource_errno(exc) is not None


def limit_text(name: str) -> str:
    """``"the open-file limit (ulimit -n) is 64"``: a limit's words and its soft value now."""
    resource = _resource()
    need = next((n for n in (*NEEDS, _NPROC) if n.name == name), None)
    if need is None:
        return name
    constant = getattr(resource, name, None) if resource is not None else None
    if resource is None or constant is None:
        return need.words
    soft, _ = resource.getrlimit(constant)
    value = "unlimited" if soft == resource.RLIM_INFINITY else need.shown(soft)
    return f"{need.words} is {value}"


def resource_limit(exc: BaseException, doing: str) -> ResourceLimit:
    """One :class:`ResourceLimit` line for ``exc``, which ran out of a resource while ``doing``
    (``"starting the sweep's worker"``): what failed and the limit that governs it, with its value."""
    number = _resource_errno(exc)
    if number in (errno.EMFILE, errno.ENFILE):
        limit = limit_text("RLIMIT_NOFILE") if number == errno.EMFILE else "the system's open-file table is full"
        reason = "too many open files"
    elif number == errno.EAGAIN:
        limit, reason = limit_text("RLIMIT_NPROC"), "no more threads or processes may start"
    else:  # ENOMEM, MemoryError, a library that could not be mapped
        limit, reason = f"{limit_text('RLIMIT_AS')}, {limit_text('RLIMIT_DATA')}", "out of memory"
    return ResourceLimit(f"{doing}: {reason} ({limit}); raise the limit or run less at once")


def check_at_start() -> None:
    """:func:`ensure_limits` as ``lxdex`` starts, before the command line (and its error handling) is loaded:
    a refusal is its one line and exit code here."""
    try:
        ensure_limits()
    except ResourceLimit as exc:
        sys.stderr.write(f"lxdex: error: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(exc.exit_code) from None
