"""The exceptions lxdex-capacity raises, in one short hierarchy.

Every error a user can cause derives from :class:`LxdexError`, so the CLI can turn any of them
into a one-line message and a non-zero exit without a traceback.  Input errors also derive from
:class:`ValueError`, so library callers can catch what Python idiom expects.
"""

from __future__ import annotations

__all__ = ["LxdexError", "InputError", "CapacityError"]


class LxdexError(Exception):
    """Base class of every error lxdex-capacity raises on purpose."""


class InputError(LxdexError, ValueError):
    """An argument, option or file has the wrong value, shape or type."""


class CapacityError(LxdexError, MemoryError):
    """A requested size would not fit in this machine's memory (or in an engine limit)."""
