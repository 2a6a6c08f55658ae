"""numba's cache of this package's kernels, read and written so that no cache file can end a run.

numba trusts its cache: an index (``.nbi``) or data file (``.nbc``) cut short by a full disk or a
crash, overwritten with garbage, of the wrong shape, copied from another kernel, unreadable, or an
index naming a data file that is gone, made every later run end in a traceback from deep inside
numba (``pickle data was truncated``, ``CompileResult._rebuild() missing 8 required positional
arguments``), or worse, ran another kernel's machine code; an index naming ``../../x`` made numba
write outside its cache.  And when no folder could hold the cache, importing a kernel raised.

:func:`install` (run by :func:`lxdex_capacity.kernel_sources.install`, before the package's first
``@njit(cache=True)``) gives every cached kernel of this package a :class:`GuardedFunctionCache`
instead of numba's own.  It loads an entry only after checking it (the index's shape and the data
file names it holds, the data's shape, and that the data is this kernel's code for these argument
types); any failure while loading becomes: the damaged file is discarded, one line on stderr says
so, and the kernel is compiled and cached afresh.  A failure while writing the cache (a full disk, a
folder made read-only) costs only the caching: one line per process.  With no writable folder at
all, the kernels compile on every run, one line saying so.

Reading an entry without loading it (:meth:`GuardedFunctionCache.current_entry`) is what
:mod:`lxdex_capacity.kernel_cache` uses to say whether a kernel set must be compiled, and what
``lxdex cache info`` reports: the same checks as a load, so the two always agree.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import itertools
import os
import re
import shutil
import stat
from functools import lru_cache
from typing import Any

from numba.core import caching
from numba.core import config as numba_config
from numba.core.caching import FunctionCache, IndexDataCacheFile, NullCache

from .errors import LxdexError
from .kernel_sources import _ours, temporary_cache_root

__all__ = ["install", "cache_for", "GuardedFunctionCache", "CheckedCacheFile", "DamagedEntry", "report"]


class DamagedEntry(Exception):
    """A cache file that cannot be used: ``path`` and why (``reason``, a short phrase)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# Lines already written this process: each problem is told once, however many kernels meet it.
_reported: set[str] = set()


def report(line: str, once_for: str | None = None) -> None:
    """``lxdex: LINE`` on stderr, once per process for the problem ``once_for`` names (else for the line itself),
    through the console, so that a progress spinner stays whole."""
    problem = once_for or line
    if problem in _reported:
        return
    _reported.add(problem)
    from .console import err

    with contextlib.suppress(OSError, ValueError):  # stderr closed: the run goes on, untold
        err.print(f"lxdex: {line}", highlight=False, markup=False, soft_wrap=True)


def _reason(exc: BaseException, path: str) -> str:
    """A short phrase for why reading ``path`` failed."""
    with contextlib.suppress(OSError):
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            return "empty file"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, EOFError):
        return "the file ends early"
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@lru_cache(maxsize=1)
def _payload_fields() -> int:
    """How many fields numba's cached compile result has: the arguments of ``CompileResult._rebuild`` after the context."""
    from numba.core.compiler import CompileResult

    return len(inspect.signature(CompileResult._rebuild).parameters) - 1


def _argument_types(sig: Any) -> tuple[Any, ...]:
    from numba.core import sigutils

    return tuple(sigutils.normalize_signature(sig)[0])


def _regular_file(path: str) -> None:
    """Nothing when ``path`` is a regular file or missing (numba's own reads tell a missing one); OSError for a folder,
    a pipe or a device (whose reading could block or never end) in its place."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file", path)


class CheckedCacheFile(IndexDataCacheFile):
    """numba's index and data files of one kernel, whose reads raise :class:`DamagedEntry` on any failure
    but a missing index (an empty cache), and whose index may only name this kernel's data files."""

    def __init__(self, cache_path: str, filename_base: str, source_stamp: Any) -> None:
        super().__init__(cache_path=cache_path, filename_base=filename_base, source_stamp=source_stamp)
        self.index_path: str = self._index_path
        self._data_name_re = re.compile(re.escape(filename_base) + r"\.[0-9]+\.nbc")

    def _load_index(self) -> dict[Any, str]:
        try:
            _regular_file(self._index_path)
            overloads = super()._load_index()  # {} when missing, of another numba, or stamped by other sources
        except LxdexError:
            raise  # an interrupt (SIGTERM) arriving meanwhile is not damage
        except Exception as exc:
            raise DamagedEntry(self._index_path, _reason(exc, self._index_path)) from exc
        if not isinstance(overloads, dict) or not all(
                isinstance(key, tuple) and len(key) == 3 and isinstance(name, str) and self._data_name_re.fullmatch(name)
                for key, name in overloads.items()):
            raise DamagedEntry(self._index_path, "not an index of this kernel's compiled code")
        return overloads

    def _load_data(self, name: str) -> Any:
        path = self._data_path(name)
        try:
            _regular_file(path)
            return super()._load_data(name)
        except LxdexError:
            raise
        except FileNotFoundError as exc:
            raise DamagedEntry(path, "missing, though the index names it") from exc
        except Exception as exc:
            raise DamagedEntry(path, _reason(exc, path)) from exc

    def save(self, key: Any, data: Any) -> None:
        """numba's save, but the data file first: an index another process reads meanwhile never names a file not
        yet written (numba writes the index first)."""
        overloads = self._load_index()
        name = overloads.get(key)
        if name is None:
            taken = set(overloads.values())
            name = next(self._data_name(n) for n in itertools.count(1) if self._data_name(n) not in taken)
        self._save_data(name, data)
        if overloads.get(key) != name:
            overloads[key] = name
            self._save_index(overloads)

    def data_path(self, name: str) -> str:
        return self._data_path(name)

    def files(self) -> list[str]:
        """The index and every data file of this kernel present in the folder (any numbering)."""
        try:
            names = os.listdir(self._cache_path)
        except OSError:
            return []
        prefix = self._index_name[: -len(".nbi")]
        return [os.path.join(self._cache_path, n) for n in sorted(names)
                if n == self._index_name or (n.startswith(prefix + ".") and n.endswith(".nbc"))]


class GuardedFunctionCache(FunctionCache):
    """numba's cache of one kernel, checked on every load (see the module): a damaged entry is discarded and
    recompiled, a failed write costs only the caching."""

    _cache_file: CheckedCacheFile

    def __init__(self, py_func: Any) -> None:
        super().__init__(py_func)
        self._cache_file = CheckedCacheFile(self._cache_path, self._impl.filename_base, self._impl.locator.get_source_stamp())

    @property
    def kernel_name(self) -> str:
        return str(self._py_func.__qualname__)

    @property
    def cache_file(self) -> CheckedCacheFile:
        return self._cache_file

    def _check_payload(self, payload: Any, sig: Any, path: str) -> None:
        """That ``payload`` (a data file's contents) is this kernel's code compiled for ``sig``."""
        if not isinstance(payload, tuple) or len(payload) != _payload_fields():
            raise DamagedEntry(path, "not a compiled kernel")
        fndesc, signature = payload[1], payload[3]
        holds = (getattr(fndesc, "modname", None), getattr(fndesc, "qualname", None))
        if holds != (self._py_func.__module__, self._py_func.__qualname__):
            raise DamagedEntry(path, f"the compiled code of {holds[1] or 'something else'}, not of {self.kernel_name}")
        try:
            same_types = tuple(getattr(signature, "args", ())) == _argument_types(sig)
        except Exception:  # an index key that is no signature
            same_types = False
        if not same_types:
            raise DamagedEntry(path, "compiled for other argument types")

    def _checked_entries(self, codegen: Any) -> list[tuple[Any, DamagedEntry | None]]:
        """Every entry of this kernel's current code for this CPU and numba (any argument types), each with what is
        wrong with its data file (None when sound); :class:`DamagedEntry` if the index itself is.  Reads, never loads."""
        found: list[tuple[Any, DamagedEntry | None]] = []
        for key, name in self._cache_file._load_index().items():
            if self._index_key(key[0], codegen) == key:
                try:
                    self._check_payload(self._cache_file._load_data(name), key[0], self._cache_file.data_path(name))
                except DamagedEntry as damage:
                    found.append((key, damage))
                    continue
                found.append((key, None))
        return found

    def current_entry(self, codegen: Any) -> bool:
        """Whether the cache holds entries of this kernel's current code, all sound (see :meth:`_checked_entries`);
        :class:`DamagedEntry` for the first that is not."""
        entries = self._checked_entries(codegen)
        for _, damage in entries:
            if damage is not None:
                raise damage
        return bool(entries)

    def discard_if_damaged(self, codegen: Any) -> bool:
        """Discard every damaged entry of this kernel (see :meth:`_checked_entries`), telling so; return whether any was."""
        try:
            entries = self._checked_entries(codegen)
        except DamagedEntry as index_damage:
            self._discard(index_damage)
            return True
        damaged = [(key, damage) for key, damage in entries if damage is not None]
        for key, data_damage in damaged:
            self._discard(data_damage, key)
        return bool(damaged)

    def _discard(self, damage: DamagedEntry, key: Any = None) -> None:
        """Remove the damaged file, and the index's entry ``key`` naming it (a damaged index: the index), and say so.
        When that cannot be done, this kernel is no longer cached this run (writing would meet the same files)."""
        told = f"the compiled-kernel cache held a damaged entry for {self.kernel_name} ({damage.path}: {damage.reason})"
        index_path = self._cache_file.index_path
        try:
            if damage.path != index_path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(damage.path)
                try:
                    index = self._cache_file._load_index()
                except DamagedEntry:
                    index = {}
                index.pop(key, None)
            else:
                index = {}
            if index:  # the kernel's other argument types keep their entries
                self._cache_file._save_index(index)
            elif os.path.isdir(index_path) and not os.path.islink(index_path):
                shutil.rmtree(index_path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(index_path)
        except OSError as exc:
            self.disable()
            report(f"{told}, which cannot be removed ({exc.strerror or exc}); recompiling, without caching it")
            return
        report(f"{told}; discarded, recompiling")

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        target_context.refresh()
        if not self._enabled:
            return None
        key = self._index_key(sig, target_context.codegen())
        try:
            name = self._cache_file._load_index().get(key)
            if name is None:
                return None
            path = self._cache_file.data_path(name)
            payload = self._cache_file._load_data(name)
            self._check_payload(payload, sig, path)
            try:
                return self._impl.rebuild(target_context, payload)
            except LxdexError:
                raise
            except Exception as exc:
                raise DamagedEntry(path, f"cannot be loaded: {_reason(exc, path)}") from exc
        except DamagedEntry as damage:
            self._discard(damage, key)
            return None

    def save_overload(self, sig: Any, data: Any) -> None:
        try:
            super().save_overload(sig, data)
        except LxdexError:
            raise
        except Exception as exc:  # the kernel is compiled and in memory: a cache that cannot be written costs only the caching
            if isinstance(exc, DamagedEntry):
                where, why = exc.path, exc.reason
            else:
                where = getattr(exc, "filename", None) or self._cache_path
                why = _reason(exc, str(where))
            report(f"could not write the compiled-kernel cache ({where}: {why}); "
                   "kernels compiled this run are not cached", once_for="cannot write")


def _cache_dir() -> str:
    """``NUMBA_CACHE_DIR`` as numba read it ('' when not set)."""
    return str(getattr(numba_config, "CACHE_DIR", "") or "")


def _unusable_cache_dir(py_func: Any, cache: GuardedFunctionCache) -> str | None:
    """Why ``NUMBA_CACHE_DIR`` could not hold ``py_func``'s ``cache`` (None when it does, or is not set)."""
    if not _cache_dir() or isinstance(cache._impl.locator, caching.UserProvidedCacheLocator):
        return None
    try:
        caching.UserProvidedCacheLocator(py_func, inspect.getfile(py_func)).ensure_cache_path()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def cache_for(py_func: Any) -> Any:
    """The cache of one of this package's kernels: a :class:`GuardedFunctionCache`, or numba's NullCache
    (compiling on every run) when no folder can hold it."""
    try:
        cache = GuardedFunctionCache(py_func)
    except (RuntimeError, OSError):  # numba: "no locator available", every candidate folder unwritable
        report(f"no folder can hold the compiled-kernel cache (NUMBA_CACHE_DIR, __pycache__ beside the sources, the user's "
               f"cache folder and {temporary_cache_root()} are all unwritable); compiling the kernels on every run", once_for="no folder")
        return NullCache()
    why = _unusable_cache_dir(py_func, cache)
    if why is not None:
        instead = ("the __pycache__ folders beside the sources" if isinstance(cache._impl.locator, caching.InTreeCacheLocator)
                   else os.path.dirname(cache.cache_path))
        report(f"NUMBA_CACHE_DIR ({_cache_dir()}) cannot hold the compiled-kernel cache ({why}); caching it in {instead} instead",
               once_for="NUMBA_CACHE_DIR")
    return cache


@lru_cache(maxsize=1)
def install() -> None:
    """Give every cached kernel of this package a :class:`GuardedFunctionCache` (once per process; other
    code's numba functions keep numba's own cache)."""
    from numba.core.dispatcher import Dispatcher

    numba_enable_caching = Dispatcher.enable_caching

    def enable_caching(self: Any) -> None:
        try:
            ours = _ours(inspect.getfile(self.py_func))
        except TypeError:  # a function with no source file
            ours = False
        if ours:
            self._cache = cache_for(self.py_func)
        else:
            numba_enable_caching(self)

    Dispatcher.enable_caching = enable_caching  # type: ignore[method-assign]

