"""What numba's cache of this package's kernels is stamped with: every source their machine code is made of.

numba stamps a cached kernel with the hash of its own file only.  But a kernel takes in code from
other modules when it is compiled: the engine's helpers (``submit_range``, ``cancel_slot``) inlined
into the latency and replay loops, the layout's and codes' constants, the hashing helpers, the
intrinsics, and the decorator's own options (``nogil``).  A change to any of those left the old
machine code in the cache, loaded as if it were current: measured here, the latency loops cached
before the engine's kernels released the GIL kept holding it, so two partitions ran one after the
other instead of at once.

:func:`install` puts locators in front of numba's own that stamp every kernel of this package with
one hash of all :func:`kernel_sources`: the package's ``_kernels.py`` modules and, transitively,
every module of the package they import.  Changing any of them recompiles every kernel once (about
15 s here).  The cache lives where numba would put it (``NUMBA_CACHE_DIR``, else ``__pycache__``
beside the source, else the user's cache directory when the package's folder is read-only), and
when none of those is writable (a read-only install and home), in a folder of the system's temporary
directory, where numba itself would give up with a traceback at import.
Each ``_kernels`` module calls :func:`install` before its first ``@njit(cache=True)``.
"""

from __future__ import annotations

import ast
import getpass
import hashlib
import importlib
import os
import stat
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["install", "kernel_sources", "sources_stamp", "temporary_cache_root", "PACKAGE_DIR"]

PACKAGE_DIR = Path(__file__).resolve().parent
_PACKAGE = PACKAGE_DIR.name


def _package_imports(path: Path) -> set[Path]:
    """The package's modules that ``path`` imports at any level (relative or absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = path.parent.relative_to(PACKAGE_DIR).parts
    found: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = list(package[: len(package) - (node.level - 1)]) + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == _PACKAGE:
                parts = node.module.split(".")[1:]
            else:
                continue
            candidates = [parts] + [[*parts, alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == _PACKAGE]
        else:
            continue
        for parts in candidates:
            module = PACKAGE_DIR.joinpath(*parts)
            for file in (module.with_suffix(".py"), module / "__init__.py"):
                if parts and file.is_file():
                    found.add(file)
    return found


@lru_cache(maxsize=1)
def kernel_sources() -> tuple[Path, ...]:
    """Every ``_kernels.py`` of the package and every package module they import, transitively; sorted."""
    todo = sorted(PACKAGE_DIR.rglob("_kernels.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(_package_imports(path) - seen)
    return tuple(sorted(seen))


@lru_cache(maxsize=1)
def sources_stamp() -> str:
    """One hash of every kernel source's path (within the package) and bytes."""
    digest = hashlib.sha256()
    for path in kernel_sources():
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ours(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().is_relative_to(PACKAGE_DIR)
    except OSError:
        return False


def _stamped(base: Any) -> Any:
    """``base`` (one of numba's source-file locators), for this package's files only, stamped by :func:`sources_stamp`."""

    class Locator(base):
        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            return super().from_function(py_func, py_file) if _ours(py_file) else None

        def get_source_stamp(self) -> str:
            return sources_stamp()

    Locator.__name__ = Locator.__qualname__ = f"Package{base.__name__}"
    return Locator


def temporary_cache_root() -> Path:
    """The last resort for the cache: a folder of this user's in the system's temporary directory."""
    if hasattr(os, "getuid"):
        user = str(os.getuid())
    else:
        try:
            user = getpass.getuser()
        except Exception:  # no user name to be had (a service account on Windows, say)
            user = "user"
    return Path(tempfile.gettempdir()) / f"lxdex-numba-cache-{user}"


def _own_private_folder(root: Path) -> None:
    """Make ``root`` (mode 0700), or check the one there is this user's and writable by no one else: numba loads
    pickles from its cache, so a folder another user could write to would run their code.  OSError otherwise."""
    root.mkdir(mode=0o700, exist_ok=True)
    st = root.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(f"{root} is not a folder")
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        raise OSError(f"{root} is another user's, or others may write to it")


def _temporary_locator() -> Any:
    from numba.core import caching

    class TemporaryDirLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func: Any, py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(temporary_cache_root() / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self) -> str:
            return self._cache_path

        def ensure_cache_path(self) -> None:  # an OSError here makes numba pass over this locator
            _own_private_folder(temporary_cache_root())
            super().ensure_cache_path()

    return TemporaryDirLocator


@lru_cache(maxsize=1)
def install() -> None:
    """Put the package's locators first in numba's list (once per process): see the module."""
    from numba.core import caching

    bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator, _temporary_locator())
    caching.CacheImpl._locator_classes[:0] = [_stamped(base) for base in bases]
    # Every load checked: a damaged entry is recompiled, never a traceback.  Imported by name so that the import
    # walk above does not stamp the kernels by cache_guard (and the console it reports through): no machine code.
    importlib.import_module(f"{__package__}.cache_guard").install()
