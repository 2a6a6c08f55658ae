"""The one way lxdex opens a file a user named for it to read: it must be a regular file.

A device (``/dev/zero`` never ends, ``/dev/urandom`` neither), a named pipe (a read waits for a writer
that may never come), a socket or a folder is refused before a byte is read, with one
:class:`~lxdex_capacity.errors.InputError` line naming the option or file kind, the path and what it
is instead::

    message file '/dev/zero' is not a regular file: it is a character device

The path is looked at first (``stat``: opening some devices has effects of its own); then it is opened
with ``O_NONBLOCK`` (so that a path swapped for a named pipe in between does not make the open wait
for a writer) and the opened file itself is looked at again (``fstat``), which is what is read.
Scenario, hardware, model and claims files and saved results (:func:`lxdex_capacity.schema.read_text`)
and LOBSTER files and zips (:mod:`lxdex_capacity.replay.lobster`) are all opened here.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, LxdexError

__all__ = ["open_input", "check_input", "kind_of"]

# What a path may be instead of a file, in words (stat's file types).
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)

# Flags that make opening a special file harmless: no waiting for a FIFO's writer, no terminal taken as
# the controlling one, no descriptor left to a child process.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def kind_of(mode: int) -> str | None:
    """What a file of ``mode`` (``st_mode``) is, in words, if it is not a regular file; None if it is."""
    if stat.S_ISREG(mode):
        return None
    for test, words in _KINDS:
        if test(mode):
            return words
    return "of an unknown kind"


def _refused(what: str, path: str | Path, kind: str, hint: str = "") -> InputError:
    if kind == "a directory":
        return InputError(f"{what} {str(path)!r} is a directory, not a file{hint}")
    return InputError(f"{what} {str(path)!r} is not a regular file: it is {kind}")


def _unreadable(what: str, path: str | Path, exc: OSError, hint: str) -> LxdexError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{what} {str(path)!r} does not exist{hint}")
    if isinstance(exc, NotADirectoryError):
        return InputError(f"{what} {str(path)!r} does not exist (a part of its path is a file, not a folder){hint}")
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        from .limits import resource_limit

        return resource_limit(exc, f"opening {what} {str(path)!r}")
    return InputError(f"{what} {str(path)!r} cannot be read: {exc.strerror or exc}")


def check_input(path: str | Path, what: str, hint: str = "") -> os.stat_result:
    """The ``stat`` of ``path`` if it is a regular file (following symbolic links); else one
    :class:`InputError` naming ``what`` (``"--day file"``, ``"scenario file"``) and saying what it is."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _unreadable(what, path, exc, hint) from None
    kind = kind_of(info.st_mode)
    if kind is not None:
        raise _refused(what, path, kind, hint)
    return info


def open_input(path: str | Path, what: str, hint: str = "") -> BinaryIO:
    """``path`` opened for reading in binary, refused unless it is a regular file (see the module's
    docstring): checked before it is opened, and the opened file checked again."""
    check_input(path, what, hint)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (or a FIFO's other end): not a file either way
            raise InputError(f"{what} {str(path)!r} is not a regular file: it is a socket") from None
        raise _unreadable(what, path, exc, hint) from None
    try:
        kind = kind_of(os.fstat(fd).st_mode)
        if kind is not None:  # swapped for something else since it was looked at
            raise _refused(what, path, kind, hint)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: reads block as usual (it matters not, but says so)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
