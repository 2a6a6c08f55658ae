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
  x ResourceLimit (2: a limit set on this process (``ulimit``) leaves lxdex too little: stack, memory,
    open files, processes; named with its value)
  x CheckFailed (1: the run completed and its result fails a check: replay disagreement, failed shard)
  x OutputError (1: an output could not be written, e.g. a full disk; the previous output is unchanged)
  x Interrupted (130 on SIGINT (Ctrl-C), 143 on SIGTERM, 129 on SIGHUP; ``lxdex: interrupted``)

Usage errors found by the command-line parser (an unknown option, a value out of range) are not
ours: the CLI maps them to their own exit code, 2.
"""

from __future__ import annotations

__all__ = ["LxdexError", "InputError", "CapacityError", "ResourceLimit", "CheckFailed", "OutputError", "Interrupted", "cause_chain",
           "interrupt_behind"]


class LxdexError(Exception):
    """Base class of every error lxdex-capacity raises on purpose."""

    exit_code: int = 1


class InputError(LxdexError, ValueError):
    """An argument, option or file has the wrong value, shape or type."""

    exit_code = 2


class CapacityError(LxdexError, MemoryError):
    """A requested size would not fit in this machine's memory (or in an engine limit)."""

    exit_code = 2


class ResourceLimit(LxdexError):
    """A resource limit of this process (``ulimit -v``, ``-d``, ``-s``, ``-n``, ``-u``) is below what lxdex
    needs, or ran out: the message names the limit and its value (:mod:`lxdex_capacity.limits`)."""

    exit_code = 2


class CheckFailed(LxdexError):
    """A run completed, its figures were reported, and they fail a check the run makes on itself
    (a replayed book that disagrees with the exchange's, a shard that failed)."""

    exit_code = 1


class OutputError(LxdexError, OSError):
    """An output could not be written (a full disk, a permission lost meanwhile, a closed stdout);
    whatever was there before is unchanged."""

    exit_code = 1


class Interrupted(LxdexError):
    """The run was interrupted by a signal before it finished: SIGINT (Ctrl-C, exit code 130),
    SIGTERM (143) or SIGHUP (129, a closed terminal or dropped ssh): the shell's 128 + signal number."""

    exit_code = 130

    def __init__(self, message: str = "interrupted", exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def cause_chain(exc: BaseException) -> list[BaseException]:
    """``exc``, what it was raised from or while handling (its cause, else its context), and so on, each once."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt (a ``KeyboardInterrupt``: every terminating signal raises one) in ``exc``'s
    :func:`cause_chain`, if any: an error raised while a signal unwound the run is the signal's doing."""
    return next((e for e in cause_chain(exc) if isinstance(e, KeyboardInterrupt)), None)
