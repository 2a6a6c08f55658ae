"""The exceptions lxdex-capacity raises, in one short hierarchy.

Every error a user can cause, and every result that fails its own check, derives from
:class:`LxdexError`, so the CLI turns any of them into one line on stderr and a non-zero exit,
without a traceback.  Each class carries the exit code of the ``lxdex`` command that ends with it
(``exit_code``), so that code is decided here and nowhere else.  Input errors also derive from
:class:`ValueError`, and refused sizes from :class:`MemoryError`, so library callers can catch what
Python idiom expects.

Our exception hierarchy, with the exit codes (``lxdex: error: <message>`` on stderr):

* LxdexError (1: a result that fails its own check, e.g. a sweep point or a Dask task that failed)
  x InputError (2: bad input; also a ValueError)
  x CapacityError (2: a refused size; also a MemoryError)
  x CheckFailed (1: the run completed and its result fails a check: replay disagreement, failed shard)
  x Interrupted (130: the user pressed Ctrl-C; ``lxdex: interrupted``)

Usage errors found by the command-line parser (an unknown option, a value out of range) are not
ours: the CLI maps them to their own exit code, 2.
"""

from __future__ import annotations

__all__ = ["LxdexError", "InputError", "CapacityError", "CheckFailed", "Interrupted"]


class LxdexError(Exception):
    """Base class of every error lxdex-capacity raises on purpose."""

    exit_code: int = 1


class InputError(LxdexError, ValueError):
    """An argument, option or file has the wrong value, shape or type."""

    exit_code = 2


class CapacityError(LxdexError, MemoryError):
    """A requested size would not fit in this machine's memory (or in an engine limit)."""

    exit_code = 2


class CheckFailed(LxdexError):
    """A run completed, its figures were reported, and they fail a check the run makes on itself
    (a replayed book that disagrees with the exchange's, a shard that failed)."""

    exit_code = 1


class Interrupted(LxdexError):
    """The run was interrupted (Ctrl-C) before it finished."""

    exit_code = 130

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)
