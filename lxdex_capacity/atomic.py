"""Outputs that are whole or absent: files and folders written to a temporary sibling and renamed into
place, so a reader sees the old content or the new, never half of either, and output paths checked
before any work starts.

* :func:`check_output_file`, :func:`check_output_folder`: the kind of an ``--out`` path (file or
  folder), its parent and its writability, refused with one line before a run, not after it.
* :func:`write_text_atomic`, :func:`write_bytes_atomic`, :func:`write_json_atomic`: one file, through
  a temporary ``.name.XXXX.tmp`` beside it (fsynced, then renamed over it).
* :func:`replaced_folder`: a whole folder (a report) built in a temporary sibling and swapped in.
  On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames.  Two runs into one
  folder: the last to finish wins, and the folder holds exactly its output.

A failure while writing (a full disk, a permission, a signal) removes the temporary file or folder,
leaves the previous output as it was, and is one :class:`~lxdex_capacity.errors.OutputError` line.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError, LxdexError, OutputError

__all__ = [
    "check_output_file", "check_output_folder", "write_text_atomic", "write_bytes_atomic", "write_json_atomic",
    "strict_json", "replaced_folder", "make_folder",
]


def _describe(path: Path) -> str:
    return repr(str(path))


def _writable_parent(path: Path, option: str) -> None:
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{option} {_describe(path)}: the folder {_describe(parent)} does not exist")
    if not parent.is_dir():
        raise InputError(f"{option} {_describe(path)}: {_describe(parent)} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {_describe(path)}: the folder {_describe(parent)} is not writable")


def _checked(check: Any) -> Any:
    """Run a path check; what the system says about an impossible path (a name too long, a symlink loop)
    is one :class:`InputError` line, like any other refusal."""
    def run(path: str | Path, option: str = "--out", **kwargs: Any) -> Path:
        try:
            return check(path, option, **kwargs)
        except (OSError, RuntimeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InputError(f"{option} {str(path)!r}: {reason}") from None
    run.__doc__ = check.__doc__
    run.__name__ = check.__name__
    return run


@_checked
def check_output_file(path: str | Path, option: str = "--out", inputs: tuple[str | Path, ...] = ()) -> Path:
    """``path`` as a file this run may write: not empty, not a folder (nor written as one, ``name/``), not
    one of the run's ``inputs``, in a writable folder that exists."""
    text = str(path)
    if text.strip() == "":
        raise InputError(f"{option} must name a file, not an empty string")
    if text.endswith(("/", os.sep)):
        raise InputError(f"{option} {text!r} names a folder; give a file name")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {_describe(path)} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise InputError(f"{option} {_describe(path)} exists and is not a regular file")
    for source in inputs:
        if path.exists() and Path(source).exists() and path.samefile(source):
            raise InputError(f"{option} {_describe(path)} is an input of this run; writing it would destroy the input")
    _writable_parent(path, option)
    return path


@_checked
def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """``path`` as a folder this run may write into or create: not empty, not a file, its parent (or
    the nearest existing ancestor, as missing parents are created) writable."""
    if str(path).strip() == "":
        raise InputError(f"{option} must name a folder, not an empty string")
    path = Path(path)
    path.resolve(strict=False)  # a symlink loop is refused here, not half-way through the run
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{option} {_describe(path)} is a file; give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{option} {_describe(path)}: the folder is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{option} {_describe(path)}: {_describe(ancestor)} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{option} {_describe(path)}: the folder {_describe(ancestor)} is not writable")
    # The name itself must be one the file system takes (not too long): made and removed at once.
    if ancestor == path.parent:
        probe = Path(tempfile.mkdtemp(dir=ancestor, prefix=f".{path.name}.", suffix=".tmp"))
        probe.rmdir()
    return path


def make_folder(path: str | Path) -> Path:
    """Create the folder ``path`` (and missing parents) if needed; a failure is one :class:`OutputError` line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {_describe(path)}: {exc.strerror or exc}") from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _failed(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {_describe(path)}: {exc.strerror or exc}; the previous content is unchanged")


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then rename it over ``path``."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def strict_json(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON text, refusing NaN and infinities: a figure that is not finite is an error naming
    its key (a bug to report), never a bare ``NaN`` that other JSON readers reject."""
    try:
        return json.dumps(data, indent=indent, allow_nan=False)
    except ValueError:
        where = _first_non_finite(data, "")
        if where is None:
            raise
        raise LxdexError(f"refusing to output {where[0] or 'a figure'}={where[1]!r}, which is not a finite number") from None


def _first_non_finite(data: Any, path: str) -> tuple[str, float] | None:
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _first_non_finite(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """``data`` as strict JSON (:func:`strict_json`) written whole to ``path``."""
    return write_text_atomic(path, strict_json(data) + "\n")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _failed(path, exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _failed(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def replaced_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path`` to build the output in; when the block ends
    without an error it replaces ``path`` whole (missing parents are created), otherwise it is removed
    and ``path`` is left as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        os.chmod(building, 0o777 & ~_umask())
    except OSError as exc:
        raise _failed(path, exc) from None
    try:
        yield building
        _swap_in(building, path)
    except OSError as exc:
        raise _failed(path, exc) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)  # on success it holds the previous output, if any


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _renameat2() -> Any:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    function = getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2``); False where the system cannot."""
    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(new: Path, path: Path) -> None:
    """Make ``new`` (a folder) be ``path``; afterwards ``new`` holds what ``path`` held (or nothing)."""
    for _ in range(100):  # another run may create or swap ``path`` between our steps: try again
        if not path.exists():
            try:
                os.rename(new, path)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                continue
        if _exchange(new, path):
            return
        # No atomic exchange: move the old aside, then the new in (a reader may find no folder between).
        aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
        try:
            os.rename(path, aside / "old")
        except FileNotFoundError:
            aside.rmdir()
            continue
        with contextlib.suppress(OSError):  # another run put its folder in first: it stays, whole; ours is dropped
            os.rename(new, path)
        shutil.rmtree(aside, ignore_errors=True)
        return
    raise OSError(errno.EBUSY, "the folder kept changing while it was being replaced", str(path))
