"""A damaged numba cache never ends a run (:mod:`lxdex_capacity.cache_guard`), and ``lxdex cache info/clear``.

Every way an entry can be damaged (an index or data file cut short, garbage, empty, of another shape, another
kernel's code or other argument types, a data file missing, an index naming a file outside its folder, a folder
where the index should be, unreadable files) is discarded with one line on stderr and recompiled; a cache that
cannot be written costs only the caching; with no folder at all the kernels compile on every run.  In this
process on a tiny function (fast), and once in a fresh process on the package's own kernels; two processes
warming one cache at once leave it whole (slow)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numba
import pytest
from numba.core import caching, types
from rich.console import Console

from helpers import run_cli
from lxdex_capacity import cache_guard, console, kernel_cache
from lxdex_capacity.cache_guard import GuardedFunctionCache
from lxdex_capacity.capacity import _probe_kernels
from lxdex_capacity.kernel_cache import OTHER_KERNELS

_TINY = '''
def add_one(x):
    return x + 1


def twice(x):
    return 2 * x
'''


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The lines lxdex wrote on stderr since the test began (each problem told once per process: reset here)."""
    shown = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=shown, width=100))
    monkeypatch.setattr(cache_guard, "_reported", set())
    return lambda: shown.getvalue().splitlines()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, bytes]]]:
    """A module of two small functions outside the package, with their cache entries (add_one for int64 and float64,
    twice for int64) compiled once: the module and the entries' files, to lay out afresh for each test."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "lxdex_tiny_kernels.py").write_text(_TINY)
    spec = importlib.util.spec_from_file_location("lxdex_tiny_kernels", folder / "lxdex_tiny_kernels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["lxdex_tiny_kernels"] = module
    saved_dir = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = ""  # numba's own locators for a function outside the package: __pycache__ beside it
    try:
        for name, sig in (("add_one", (types.int64,)), ("add_one", (types.float64,)), ("twice", (types.int64,))):
            _dispatcher(getattr(module, name)).compile(sig)
        pycache = folder / "__pycache__"
        yield module, {p.name: p.read_bytes() for p in pycache.iterdir() if p.suffix in (".nbi", ".nbc")}
    finally:
        numba.config.CACHE_DIR = saved_dir
        del sys.modules["lxdex_tiny_kernels"]


def _dispatcher(py_func: Any) -> Any:
    dispatcher = numba.njit(py_func)
    dispatcher._cache = GuardedFunctionCache(py_func)
    return dispatcher


@pytest.fixture
def entries(tiny: tuple[Any, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:
    """The tiny module's cache entries, laid out afresh: the module and its cache folder."""
    module, files = tiny
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    pycache = Path(module.__file__).parent / "__pycache__"
    for path in pycache.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif path.suffix in (".nbi", ".nbc") or ".tmp." in path.name:
            path.unlink()
    for name, data in files.items():
        (pycache / name).write_bytes(data)
    return module, pycache


def _index(folder: Path, kernel: str) -> Path:
    return next(folder.glob(f"lxdex_tiny_kernels.{kernel}-*.nbi"))


def _data(folder: Path, kernel: str, number: int = 1) -> Path:
    return next(folder.glob(f"lxdex_tiny_kernels.{kernel}-*.{number}.nbc"))


def _halve(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rewrite_index(path: Path, change: Callable[[Any, dict[Any, str]], Any]) -> None:
    stream = io.BytesIO(path.read_bytes())
    version = pickle.load(stream)
    stamp, overloads = pickle.loads(stream.read())
    path.write_bytes(pickle.dumps(version) + pickle.dumps(change(stamp, overloads)))


def _pipe(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # opened for reading, it would wait for a writer forever


def _directory(path: Path) -> None:
    path.unlink()
    (path / "inside").mkdir(parents=True)


# What each damage does to add_one's entry for int64 (its first data file), and what the line says about it.
DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "index cut short": (lambda f: _halve(_index(f, "add_one")), "nbi", "pickle data was truncated"),
    "index of garbage": (lambda f: _index(f, "add_one").write_bytes(b"\x07garbage" * 40), "nbi", "invalid load key"),
    "empty index": (lambda f: _index(f, "add_one").write_bytes(b""), "nbi", "empty file"),
    "index of another shape": (lambda f: _rewrite_index(_index(f, "add_one"), lambda stamp, overloads: 42), "nbi",
                               "cannot unpack"),
    "index naming a file outside its folder": (
        lambda f: _rewrite_index(_index(f, "add_one"), lambda stamp, o: (stamp, {k: "../../escaped.1.nbc" for k in o})),
        "nbi", "not an index of this kernel's compiled code"),
    "a folder in the index's place": (lambda f: _directory(_index(f, "add_one")), "nbi", "not a regular file"),
    "a pipe in the data's place": (lambda f: _pipe(_data(f, "add_one")), "1.nbc", "not a regular file"),
    "data cut short": (lambda f: _halve(_data(f, "add_one")), "1.nbc", "pickle data was truncated"),
    "data of garbage": (lambda f: _data(f, "add_one").write_bytes(b"\x07garbage" * 40), "1.nbc", "invalid load key"),
    "empty data": (lambda f: _data(f, "add_one").write_bytes(b""), "1.nbc", "empty file"),
    "data of another shape": (lambda f: _data(f, "add_one").write_bytes(pickle.dumps((1, 2, 3))), "1.nbc",
                              "not a compiled kernel"),
    "another kernel's data": (lambda f: shutil.copy(_data(f, "twice"), _data(f, "add_one")), "1.nbc",
                              "the compiled code of twice, not of add_one"),
    "data for other argument types": (lambda f: shutil.copy(_data(f, "add_one", 2), _data(f, "add_one")), "1.nbc",
                                      "compiled for other argument types"),
    "data missing": (lambda f: _data(f, "add_one").unlink(), "1.nbc", "missing, though the index names it"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_discarded_with_one_line_and_the_rest_kept(damage: str, entries: tuple[Any, Path],
                                                                      told: Callable[[], list[str]]):
    module, folder = entries
    harm, damaged_file, reason = DAMAGE[damage]
    index = _index(folder, "add_one")
    damaged = index if damaged_file == "nbi" else _data(folder, "add_one")
    harm(folder)
    dispatcher = _dispatcher(module.add_one)
    cache = dispatcher._cache
    assert not kernel_cache._in_cache(dispatcher)  # a damaged entry counts as not cached: the compile step shows

    assert cache.load_overload((types.int64,), dispatcher.targetctx) is None  # so numba compiles it
    lines = told()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"lxdex: the compiled-kernel cache held a damaged entry for add_one ({damaged}: "), lines
    assert reason in lines[0] and lines[0].endswith("; discarded, recompiling"), lines
    assert not list(folder.parent.parent.glob("escaped*"))
    assert not damaged.exists() or damaged == index  # the damaged file is gone; an index naming it is rewritten
    fresh = GuardedFunctionCache(module.add_one)
    if damaged_file == "nbi":
        assert not index.exists()
    else:  # add_one's entry for float64 stays, loadable; int64's is gone (not damaged: missing)
        assert fresh.load_overload((types.float64,), dispatcher.targetctx) is not None
    assert fresh.load_overload((types.int64,), dispatcher.targetctx) is None
    assert GuardedFunctionCache(module.twice).load_overload((types.int64,), dispatcher.targetctx) is not None
    assert len(told()) == 1  # nothing more was found damaged


def test_the_damaged_entry_is_compiled_again_and_cached(entries: tuple[Any, Path], told: Callable[[], list[str]]):
    module, folder = entries
    _halve(_data(folder, "add_one"))
    dispatcher = _dispatcher(module.add_one)
    assert dispatcher(41) == 42
    assert dict(dispatcher.stats.cache_misses) == {(types.int64,): 1} and len(told()) == 1
    again = _dispatcher(module.add_one)
    assert again(41) == 42 and dict(again.stats.cache_hits) == {(types.int64,): 1}
    assert again._cache.current_entry(again.targetctx.codegen())
    assert len(told()) == 1


def test_an_entry_that_cannot_be_removed_is_compiled_without_caching(entries: tuple[Any, Path], told: Callable[[], list[str]],
                                                                      monkeypatch: pytest.MonkeyPatch):
    module, folder = entries
    _halve(_index(folder, "add_one"))

    def refuse(path: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache_guard.os, "unlink", refuse)
    dispatcher = _dispatcher(module.add_one)
    assert dispatcher(1) == 2
    assert told() == [f"lxdex: the compiled-kernel cache held a damaged entry for add_one ({_index(folder, 'add_one')}: pickle data "
                      "was truncated), which cannot be removed (Permission denied); recompiling, without caching it"]


def test_a_cache_that_cannot_be_written_costs_only_the_caching(entries: tuple[Any, Path], told: Callable[[], list[str]],
                                                                monkeypatch: pytest.MonkeyPatch):
    module, folder = entries
    for path in folder.iterdir():
        path.unlink()

    def full(self: Any, path: str) -> Any:
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(caching.IndexDataCacheFile, "_open_for_write", full)
    first, second = _dispatcher(module.add_one), _dispatcher(module.twice)
    assert (first(1), second(2)) == (2, 4)
    lines = told()
    assert len(lines) == 1 and lines[0].startswith("lxdex: could not write the compiled-kernel cache (") and lines[0].endswith(
        ": No space left on device); kernels compiled this run are not cached"), lines
    assert not list(folder.iterdir())


def test_with_no_folder_for_the_cache_the_kernels_compile_every_run(tiny: tuple[Any, dict[str, bytes]],
                                                                     told: Callable[[], list[str]], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])
    assert isinstance(cache_guard.cache_for(tiny[0].add_one), caching.NullCache)
    assert isinstance(cache_guard.cache_for(tiny[0].twice), caching.NullCache)
    lines = told()
    assert len(lines) == 1 and lines[0].startswith("lxdex: no folder can hold the compiled-kernel cache") and lines[0].endswith(
        "compiling the kernels on every run"), lines


def test_a_numba_cache_dir_that_cannot_be_written_is_told_and_passed_over(tiny: tuple[Any, dict[str, bytes]], tmp_path: Path,
                                                                          told: Callable[[], list[str]],
                                                                          monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "a file").write_text("")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "a file" / "cache"))  # no folder can be made there, even by root
    cache = cache_guard.cache_for(tiny[0].add_one)
    assert isinstance(cache, GuardedFunctionCache) and cache.cache_path == str(Path(tiny[0].__file__).parent / "__pycache__")
    assert told() == [f"lxdex: NUMBA_CACHE_DIR ({tmp_path / 'a file' / 'cache'}) cannot hold the compiled-kernel cache "
                      "(Not a directory); caching it in the __pycache__ folders beside the sources instead"]


def test_an_unreadable_cache_file_is_discarded_and_written_again(entries: tuple[Any, Path], told: Callable[[], list[str]],
                                                                   monkeypatch: pytest.MonkeyPatch):
    """add_one's index and twice's data refuse to be read (as files of another user, mode 000, would: root reads
    any file, so the refusal is made here; the slow test below makes it real)."""
    module, folder = entries
    unreadable = {"add_one": _index(folder, "add_one"), "twice": _data(folder, "twice")}
    def identity(path: Any) -> tuple[int, int] | None:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            return st.st_ino, st.st_mtime_ns
        return None

    refused = {str(path): identity(path) for path in unreadable.values()}  # those files, not what replaces them

    def guarded_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path) in refused and refused[str(path)] == identity(path):
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(caching, "open", guarded_open, raising=False)  # numba's reads and writes of its cache files
    first, second = _dispatcher(module.add_one), _dispatcher(module.twice)
    assert (first(1), second(2)) == (2, 4)
    assert dict(first.stats.cache_misses) == {(types.int64,): 1} and dict(second.stats.cache_misses) == {(types.int64,): 1}
    lines = told()
    assert sorted(lines) == sorted(f"lxdex: the compiled-kernel cache held a damaged entry for {name} ({path}: Permission denied); "
                                   "discarded, recompiling" for name, path in unreadable.items()), lines
    assert all(GuardedFunctionCache(f).current_entry(first.targetctx.codegen()) for f in (module.add_one, module.twice))


_UNREADABLE = """
import os, sys
sys.path.insert(0, sys.argv[1])
import numba
from numba.core import types
from lxdex_capacity.cache_guard import GuardedFunctionCache
import lxdex_tiny_kernels as module
d = numba.njit(module.add_one); d._cache = GuardedFunctionCache(module.add_one)
t = numba.njit(module.twice); t._cache = GuardedFunctionCache(module.twice)
print(d(1), t(2), dict(d.stats.cache_misses), dict(t.stats.cache_misses))
"""


@pytest.mark.slow  # a fresh interpreter, as another user: about 2 s
def test_unreadable_cache_files_are_discarded_and_written_again(tiny: tuple[Any, dict[str, bytes]]):
    """Run by another user when this one is root (root reads any file): add_one's index and twice's data unreadable."""
    as_other: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root, with no setpriv to run as another user")
        as_other = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    folder = Path(tempfile.mkdtemp(prefix="lxdex-unreadable-"))
    try:
        (folder / "lxdex_tiny_kernels.py").write_text(_TINY)
        (folder / "__pycache__").mkdir()
        for name, data in tiny[1].items():
            (folder / "__pycache__" / name).write_bytes(data)
        # numba stamps an entry with its source file's contents: the same text, so the same stamp
        for path in [folder, *folder.rglob("*")]:
            if as_other:
                os.chown(path, 65534, 65534)
            path.chmod(0o755 if path.is_dir() else 0o644)
        _index(folder / "__pycache__", "add_one").chmod(0)
        _data(folder / "__pycache__", "twice").chmod(0)
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"HOME": str(folder)}
        proc = subprocess.run([*as_other, sys.executable, "-c", _UNREADABLE, str(folder)], capture_output=True, text=True,
                              timeout=120, env=env, cwd=folder)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[:2] == ["2", "4"]
        lines = proc.stderr.splitlines()
        assert len(lines) == 2 and all("Permission denied); discarded, recompiling" in line for line in lines), proc.stderr
        assert os.access(_index(folder / "__pycache__", "add_one"), os.R_OK)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# The package's own kernels in a fresh process: the memory-hierarchy probe's, the smallest (chase compiled for several
# index types, so that one kernel's entries can each be damaged differently).
_CHASE_TYPES = ("int64", "int32", "int8", "uint8", "uint16")
_LOAD = """
import json, sys
import numpy as np
from numba import typeof
from lxdex_capacity.capacity._probe_kernels import chase, chase_chains, multiply_chain
for dtype in sys.argv[1].split(","):
    chase.compile((typeof(np.zeros(2, dtype)), typeof(0), typeof(0)))
chase_chains.compile((typeof(np.zeros(2, np.int64)), typeof(np.zeros(2, np.int64)), typeof(0)))
multiply_chain.compile((typeof(0), typeof(0)))
print(json.dumps({k.__name__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
                  for k in (chase, chase_chains, multiply_chain)}))
"""


@pytest.fixture(scope="module")
def probe_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``NUMBA_CACHE_DIR`` holding the probe kernels compiled in this process, once, as :data:`_LOAD` compiles them."""
    import numpy as np

    folder = tmp_path_factory.mktemp("probe-cache")
    saved_dir = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(folder)
    try:
        chase, chase_chains, multiply_chain = (_probe_kernels._kernel(k.py_func)  # dispatchers of their own, cached in folder
                                               for k in (_probe_kernels.chase, _probe_kernels.chase_chains, _probe_kernels.multiply_chain))
        for dtype in _CHASE_TYPES:
            chase.compile((numba.typeof(np.zeros(2, dtype)), numba.typeof(0), numba.typeof(0)))
        chase_chains.compile((numba.typeof(np.zeros(2, np.int64)),) * 2 + (numba.typeof(0),))
        multiply_chain.compile((numba.typeof(0),) * 2)
    finally:
        numba.config.CACHE_DIR = saved_dir
    return folder


def _probe_entries(cache_dir: Path, template: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, GuardedFunctionCache]:
    """The probe kernels' entries of ``template`` copied into ``cache_dir``, made this process's ``NUMBA_CACHE_DIR``;
    their caches there, by kernel name."""
    shutil.copytree(template, cache_dir, dirs_exist_ok=True)
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(cache_dir))
    caches = {}
    for kernel in (_probe_kernels.chase, _probe_kernels.chase_chains, _probe_kernels.multiply_chain):
        cache = GuardedFunctionCache(kernel.py_func)
        assert cache.cache_path.startswith(str(cache_dir)) and cache.current_entry(kernel.targetctx.codegen())
        caches[kernel.__name__] = cache
    return caches


def _data_of(cache: GuardedFunctionCache, dtype: str) -> Path:
    for key, name in cache.cache_file._load_index().items():
        if str(key[0][0].dtype) == dtype:
            return Path(cache.cache_file.data_path(name))
    raise AssertionError(dtype)


def test_a_fresh_process_recovers_from_entries_damaged_every_way_at_once(tmp_path: Path, probe_template: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    caches = _probe_entries(tmp_path, probe_template, monkeypatch)
    chase = caches["chase"]
    harms = {  # chase's data files, each damaged differently; two other kernels' indexes
        "int64": (lambda p: p.write_bytes(p.read_bytes()[:100]), "pickle data was truncated"),
        "int32": (lambda p: p.write_bytes(b"\x07garbage" * 40), "invalid load key"),
        "int8": (lambda p: p.write_bytes(pickle.dumps((1, 2))), "not a compiled kernel"),
        "uint8": (lambda p: shutil.copy(next(Path(caches["chase_chains"].cache_path).glob("*chase_chains*.nbc")), p),
                   "the compiled code of chase_chains, not of chase"),
    }
    reasons = []
    for dtype, (harm, reason) in harms.items():
        path = _data_of(chase, dtype)
        harm(path)
        reasons.append((str(path), reason))
    for name, (bytes_, reason) in (("chase_chains", (b"", "empty file")), ("multiply_chain", (b"\x80\x05junk", "pickle data was truncated"))):
        Path(caches[name].cache_file.index_path).write_bytes(bytes_)
        reasons.append((caches[name].cache_file.index_path, reason))
    sound = _data_of(chase, "uint16").read_bytes()

    env = os.environ | {"NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _LOAD, ",".join(_CHASE_TYPES)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    # one line per damaged entry, naming its file and what is wrong with it; uint16's sound entry loaded
    assert json.loads(proc.stdout) == {"chase": [1, 4], "chase_chains": [0, 1], "multiply_chain": [0, 1]}
    lines = proc.stderr.splitlines()
    assert len(lines) == len(reasons), proc.stderr
    for path, reason in reasons:
        assert sum(f"({path}: " in line and reason in line and line.endswith("; discarded, recompiling") for line in lines) == 1, (
            path, reason, proc.stderr)
    # every entry written again, sound: a load now finds them all (the same checks as a load, reading only)
    codegen = _probe_kernels.chase.targetctx.codegen()
    fresh = {name: GuardedFunctionCache(cache._py_func) for name, cache in caches.items()}
    assert all(cache.current_entry(codegen) for cache in fresh.values())
    assert len(fresh["chase"].cache_file._load_index()) == len(_CHASE_TYPES)
    assert _data_of(fresh["chase"], "uint16").read_bytes() == sound


def test_compiling_a_set_discards_its_damaged_entries_here_before_any_child(tmp_path: Path, probe_template: Path,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            told: Callable[[], list[str]]):
    """A child's stderr goes nowhere: the damage is found, told and discarded by the process the user watches."""
    import types as pytypes

    caches = _probe_entries(tmp_path, probe_template, monkeypatch)
    module = pytypes.ModuleType("lxdex_damage_probe")
    module.chase = copy = _probe_kernels._kernel(_probe_kernels.chase.py_func)  # type: ignore[attr-defined]
    module.warm_up = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lxdex_damage_probe", module)
    kernels = kernel_cache.KernelSet("probe", ("lxdex_damage_probe:chase",), "lxdex_damage_probe:warm_up")
    assert not kernel_cache.needs_compiling(kernels)
    Path(caches["chase"].cache_file.index_path).write_bytes(b"\x07junk")
    assert kernel_cache.needs_compiling(kernels)  # a damaged entry is not cached: the compile step shows
    assert kernel_cache.compile_kernels(kernels, parallel=False)
    assert told() == [f"lxdex: the compiled-kernel cache held a damaged entry for chase ({caches['chase'].cache_file.index_path}: "
                      "invalid load key, '\\x07'); discarded, recompiling"]
    assert not Path(caches["chase"].cache_file.index_path).exists() and copy._cache.current_entry(copy.targetctx.codegen()) is False


def test_cache_info_and_clear(tmp_path: Path, probe_template: Path, monkeypatch: pytest.MonkeyPatch):
    caches = _probe_entries(tmp_path, probe_template, monkeypatch)
    folder = Path(caches["chase"].cache_path)
    _data_of(caches["chase"], "int8").write_bytes(b"")
    (folder / "_probe_kernels.chase-3.py311.nbi").write_bytes(b"an older version's index")  # lxdex's, of no current kernel
    (folder / "_probe_kernels.chase-15.py311.1.nbc.tmp.0123abcd").write_bytes(b"a write cut short")
    others = [folder / "hierarchy.other-1.py311.nbi", folder / "_probe_kernels.cpython-311.pyc",
              tmp_path / "otherproject_0123" / "module.kernel-7.py311.nbi", tmp_path / "otherproject_0123" / "module.kernel-7.py311.1.nbc"]
    for path in others:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"another project's")

    result = run_cli("cache", "info", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    other = info["kernel_sets"]["other"]  # the probe's three kernels and the engine's rarely used ones (trim, amend)
    engine_others = len(OTHER_KERNELS) - 3  # not compiled here: missing
    assert (other["kernels"], other["cached"], other["damaged"], other["missing"], other["complete"]) == (
        3 + engine_others, 2, 1, engine_others, False)
    assert other["files"] == 3 + len(_CHASE_TYPES) + 2
    assert info["damaged"] == [{"kernel": "lxdex_capacity.capacity._probe_kernels:chase",
                                "damage": f"{_data_of(caches['chase'], 'int8')}: empty file"}]
    assert (info["stale_files"], info["stale_bytes"]) == (2, len(b"an older version's index") + len(b"a write cut short"))
    assert str(folder) in info["folders"] and all(f.startswith(str(tmp_path)) for f in info["folders"])
    assert info["kernel_sets"]["replay"]["complete"] is False and info["caching"] is True
    lxdex_bytes = sum(p.stat().st_size for p in folder.iterdir() if p not in others)
    assert info["bytes"] == lxdex_bytes
    assert os.path.exists(_data_of(caches["chase"], "int8"))  # info reads, changes nothing

    shown = run_cli("cache", "info")
    assert shown.exit_code == 0 and str(folder) in shown.stdout and "other" in shown.stdout and "empty file" in shown.stdout

    cleared = run_cli("cache", "clear")
    assert cleared.exit_code == 0, cleared.stderr
    assert cleared.stdout.startswith(f"removed {3 + len(_CHASE_TYPES) + 2 + 2} files (")
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(others)  # no other project's file touched
    after = json.loads(run_cli("cache", "info", "--json").stdout)
    assert (after["files"], after["bytes"], after["kernel_sets"]["other"]["cached"]) == (0, 0, 0)
    assert json.loads(run_cli("cache", "clear", "--json").stdout) == {"removed_files": 0, "removed_bytes": 0}


def test_every_cached_kernel_of_the_package_is_in_a_group_info_reports():
    """Every ``@njit(cache=True)`` kernel of the package (found by reading the sources) is in
    :data:`~lxdex_capacity.kernel_cache.KERNEL_GROUPS`, and has the guarded cache."""
    from numba.core.registry import CPUDispatcher

    from lxdex_capacity.kernel_sources import PACKAGE_DIR

    found = set()
    for path in PACKAGE_DIR.rglob("*.py"):  # the modules that cache kernels, or decorate with the engine's cached `kernel`
        text = path.read_text(encoding="utf-8")
        if "cache=True" not in text and "kernel_api import" not in text:
            continue
        name = "lxdex_capacity." + ".".join(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == name and not isinstance(value._cache, caching.NullCache):
                assert isinstance(value._cache, GuardedFunctionCache), f"{name}:{attr}"
                found.add(f"{name}:{attr}")
    assert found and found == {ref for refs in kernel_cache.KERNEL_GROUPS.values() for ref in refs}


_WARM = """
from lxdex_capacity.replay.replay import warm_up
warm_up()
""" + _LOAD


@pytest.mark.slow  # two cold compiles at once, then a load: 30-60 s here
def test_two_processes_warming_one_cache_at_once_leave_it_whole(tmp_path: Path):
    env = os.environ | {"NUMBA_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-c", _WARM, ",".join(_CHASE_TYPES)]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    for proc in both:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "Traceback" not in err, err
    third = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert third.returncode == 0 and third.stderr == ""
    assert json.loads(third.stdout) == {"chase": [len(_CHASE_TYPES), 0], "chase_chains": [1, 0], "multiply_chain": [1, 0]}
    assert not list(tmp_path.rglob("*.tmp.*"))
    check = "from lxdex_capacity import kernel_cache as kc; print(kc.needs_compiling(kc.REPLAY))"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env).stdout.split() == ["False"]
