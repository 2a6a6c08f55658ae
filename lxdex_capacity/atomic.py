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

Every temporary file and folder is made by :func:`temporary_file` or :func:`temporary_folder`, which
register its name **before** creating it (``O_EXCL``, ``mkdir``), so that wherever a signal lands, even
between the system call that creates it and the ``try`` that would remove it, something removes it: the
unwinding of the block, or else :func:`remove_temporaries`, which :func:`lxdex_capacity.cli.main` calls on
its way out after an interrupt and which runs at exit.

A report folder holds a user's file only by mistake, and a report refuses such a folder before it starts
(:func:`lxdex_capacity.reporting.report.check_report_folder`); but a file put there *while* the report was
being written is not the report's to delete: :func:`replaced_folder` moves whatever the old folder holds
that is not part of the output (its ``is_output`` says) into the new one, and says so.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import errno
import json
import math
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import InputError, LxdexError, OutputError, interrupt_behind
from .inputs import kind_of

__all__ = [
    "check_output_file", "check_output_folder", "write_text_atomic", "write_bytes_atomic", "write_json_atomic",
    "strict_json", "replaced_folder", "make_folder", "temporary_file", "temporary_folder", "remove_temporaries", "foreign_entries",
]


# --- temporaries: registered before they exist, removed whatever happens -------------------------------

# Every temporary this process is making, by path: True for a folder.  A name is registered before the
# file or folder is created, and leaves the registry only once it is gone (or was never ours).
_temporaries: dict[Path, bool] = {}
_temporaries_lock = threading.Lock()
_NAME_ATTEMPTS = 100  # a random name taken already (by another run) is drawn again, this many times at most


def _remove(path: Path, folder: bool) -> None:
    """Remove the temporary ``path`` if it is there (renamed into place, it is not), then forget it.

    An interrupt inside the removal can come out as an ``OSError``: ``shutil.rmtree`` closes a folder's
    descriptor and then notes it closed, and a signal landing between the two makes its ``finally`` close
    it again (EBADF), an error whose context is the interrupt.  Suppressed as a failed removal, it would
    lose the signal (the run going on, exit 0) and the folder with it.  The interrupt is raised again
    instead, with ``path`` still registered, for :func:`remove_temporaries` to finish."""
    try:
        if folder:
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as exc:
        interrupt = interrupt_behind(exc)
        if interrupt is not None:
            raise interrupt from None
    with _temporaries_lock:
        _temporaries.pop(path, None)


@contextmanager
def _temporary(parent: Path, prefix: str, suffix: str, folder: bool) -> Iterator[tuple[Path, int | None]]:
    """A new file (an open descriptor with it) or folder ``parent/<prefix><random><suffix>``, removed when
    the block ends unless it was renamed away meanwhile.  Registered before it is created: see the module."""
    for _ in range(_NAME_ATTEMPTS):
        path = parent / f"{prefix}{secrets.token_hex(6)}{suffix}"
        with _temporaries_lock:
            _temporaries[path] = folder
        ours = True
        try:
            try:  # mode as any new file or folder (the umask applies), not mkstemp's private 0o600
                fd = None if folder else os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                if folder:
                    os.mkdir(path, 0o777)
            except FileExistsError:
                ours = False  # another run's: neither ours to remove nor to use
                continue
            yield path, fd
            return
        finally:
            if ours and path in _temporaries:  # not if released (kept on purpose) or removed already
                _remove(path, folder)
            else:
                with _temporaries_lock:
                    _temporaries.pop(path, None)
    raise FileExistsError(errno.EEXIST, f"no free temporary name after {_NAME_ATTEMPTS} attempts", str(parent / prefix))


@contextmanager
def temporary_file(parent: str | Path, prefix: str, suffix: str = ".tmp") -> Iterator[tuple[Path, IO[bytes]]]:
    """A new empty file in ``parent``, open for writing (binary), removed when the block ends unless it was
    renamed into place; registered before it exists (see the module)."""
    with _temporary(Path(parent), prefix, suffix, folder=False) as (path, fd):
        assert fd is not None
        with open(fd, "wb") as handle:
            yield path, handle


@contextmanager
def temporary_folder(parent: str | Path, prefix: str, suffix: str = ".tmp") -> Iterator[Path]:
    """A new empty folder in ``parent``, removed with what it holds when the block ends unless it was renamed
    away; registered before it exists (see the module)."""
    with _temporary(Path(parent), prefix, suffix, folder=True) as (path, _):
        yield path


def _release(path: Path) -> None:
    """Keep the temporary ``path`` (or the one it is in): no longer removed at the end of its block, nor at exit."""
    with _temporaries_lock:
        for candidate in (path, path.parent):
            _temporaries.pop(candidate, None)


def remove_temporaries() -> None:
    """Remove every temporary file and folder this process registered and has not removed: the last resort,
    after an interrupt cut a cleanup short, and at exit."""
    with _temporaries_lock:
        left = list(_temporaries.items())
    for path, folder in left:
        _remove(path, folder)


atexit.register(remove_temporaries)


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
            raise InputError(f"{option} {_describe(path)} is {kind_of(path.stat().st_mode) or 'a file'}; give a folder")
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
        with temporary_folder(ancestor, f".{path.name}."):
            pass
    return path


def make_folder(path: str | Path) -> Path:
    """Create the folder ``path`` (and missing parents) if needed; a failure is one :class:`OutputError` line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {_describe(path)}: {exc.strerror or exc}") from None
    return path


def _failed(path: Path, exc: OSError) -> OutputError:
    """One line for a failed write of ``path``; its ``strerror`` is the reason alone (wrapped again, said once)."""
    reason = exc.strerror or str(exc)
    error = OutputError(f"cannot write {_describe(path)}: {reason}; the previous content is unchanged")
    error.strerror = reason
    return error


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
        with temporary_file(path.parent, f".{path.name}.") as (tmp, handle):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, path)
    except OSError as exc:
        raise _failed(path, exc) from None
    return path


@contextmanager
def replaced_folder(path: str | Path, is_output: Callable[[Path], bool] | None = None,
                    kept: Callable[[list[Path], Path | None], None] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path`` to build the output in; when the block ends
    without an error it replaces ``path`` whole (missing parents are created), otherwise it is removed
    and ``path`` is left as it was.

    With ``is_output`` (a path relative to the folder: is it part of the output?), what the previous folder
    held that is not is kept: moved into the new folder, and ``kept(paths, None)`` told which, relative.  What
    could not be moved (another file system, a folder without write permission) stays in the previous folder,
    which is then kept beside ``path`` and named in ``kept(paths, folder)``, instead of being deleted."""
    path = Path(path)
    moved: list[tuple[list[Path], Path | None]] = []
    keep = None if is_output is None else (lambda previous: moved.append(_keep_foreign(previous, path, is_output)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary_folder(path.parent, f".{path.name}.") as building:  # removed at the end, holding the previous output
            yield building
            _swap_in(building, path, keep)
    except OSError as exc:  # an OutputError from within too: said once, of the folder, not of its temporary
        raise _failed(path, exc) from None
    if kept is not None and moved and moved[0][0]:  # told once the output is in place: whatever the telling meets
        kept(*moved[0])


def foreign_entries(folder: Path, is_output: Callable[[Path], bool]) -> list[Path]:
    """What ``folder`` holds that is not part of an output, relative, outermost first (a folder that is not
    output is listed whole; inside a folder that is, each entry is asked about)."""
    found: list[Path] = []

    def walk(relative: Path) -> None:
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(folder / relative), key=lambda e: e.name):
                inner = relative / entry.name
                if not is_output(inner):
                    found.append(inner)
                elif entry.is_dir(follow_symlinks=False):
                    walk(inner)

    walk(Path())
    return found


def _keep_foreign(previous: Path, path: Path, is_output: Callable[[Path], bool]) -> tuple[list[Path], Path | None]:
    """Move what ``previous`` (the replaced folder) holds that is not output into ``path`` (see :func:`replaced_folder`);
    return what, and the folder ``previous`` was kept as if any of it could not be moved."""
    foreign = foreign_entries(previous, is_output)
    if not foreign:
        return [], None
    stuck = False
    for relative in foreign:
        try:
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
            if (path / relative).exists() or (path / relative).is_symlink():  # the new output has it: never overwritten
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path / relative))
            os.rename(previous / relative, path / relative)
        except OSError:
            stuck = True
    left = None
    if stuck:  # rather than delete what the user put there, keep the previous folder, visibly, beside the new one
        left = path.parent / f"{path.name}.previous-{secrets.token_hex(3)}"
        try:
            os.rename(previous, left)
        except OSError:  # not even that: then it stays where it is, hidden, but not deleted
            _release(previous)
            left = previous
    return foreign, left


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


def _swap_in(new: Path, path: Path, previous: Callable[[Path], None] | None = None) -> None:
    """Make ``new`` (a folder) be ``path``; afterwards ``new`` holds what ``path`` held (or nothing).  The
    folder replaced, if any, is handed to ``previous`` before it is removed."""
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
            if previous is not None:
                previous(new)
            return
        # No atomic exchange: move the old aside, then the new in (a reader may find no folder between).
        with temporary_folder(path.parent, f".{path.name}.", ".old") as aside:
            try:
                os.rename(path, aside / "old")
            except FileNotFoundError:
                continue
            with contextlib.suppress(OSError):  # another run put its folder in first: it stays, whole; ours is dropped
                os.rename(new, path)
            if previous is not None:
                previous(aside / "old")
        return
    raise OSError(errno.EBUSY, "the folder kept changing while it was being replaced", str(path))
