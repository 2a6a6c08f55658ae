"""The compiled kernels: whether numba's cache holds them, and compiling them when it does not.

numba compiles a kernel the first time a process calls it and keeps the machine code in its cache
(``__pycache__`` beside the source, or under ``NUMBA_CACHE_DIR``), from which later processes load
it in about a second.  A fresh install has an empty cache, and a simulation's kernels take about
15 s of CPU to compile on the reference machine (a 2-core VM; 22 s before their helpers lost their
Python wrappers and each kernel its duplicate compiles).  So this module:

* names the kernels each kind of run needs, and the warm-up that compiles them by calling each
  on tiny inputs through the same code paths as a real run (so with the same argument types):
  :data:`SIMULATION`, :data:`PROFILE`, :data:`BENCH`, :data:`LATENCY`, :data:`REPLAY`;
* says cheaply whether a set must be compiled (:func:`needs_compiling`: it reads numba's cache
  index of each kernel and compiles nothing), so that a command shows the step only when it
  happens (:func:`lxdex_capacity.console.compile_step`);
* compiles a set on two cores when it must and a core stands idle (:func:`compile_kernels`): the
  warm-up's two parts run at once, the first in this process and the second in a child process
  that leaves its kernels in the cache; then the whole warm-up runs here, loading those.  Which
  process compiles what only changes the time taken: the whole warm-up always runs last, here,
  and compiles whatever a part left out;
* reports on the cache and clears it (:func:`cache_report`, :func:`clear_cache`: ``lxdex cache info``
  and ``lxdex cache clear``), lxdex's files only.

An entry counts as cached only if it is sound, by the same checks a load makes
(:mod:`lxdex_capacity.cache_guard`): a damaged one is discarded, with one line on stderr, before a
set compiles, here in this process, whose stderr the user sees (a child's goes nowhere).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .children import tethered, tethered_env
from .errors import OutputError

__all__ = ["KernelSet", "SIMULATION", "PROFILE", "BENCH", "LATENCY", "REPLAY", "KERNEL_SETS", "OTHER_KERNELS", "KERNEL_GROUPS",
           "needs_compiling", "compile_kernels", "run_part", "KernelEntry", "CacheReport", "cache_report", "clear_cache"]

# How long a child may take over its part before this process stops waiting and compiles that
# part itself (a child takes about as long as this process's own part: ~10 s here).
CHILD_TIMEOUT_S = 300.0
# A child helps only with a core of its own.  Measured on the 2-core VM: 8-10 s to compile the
# simulation's kernels on two processes with the machine otherwise idle, 14-15 s in one process;
# with another program busy on one core, 16-22 s on two processes (three then share two cores),
# 15 s in one.  So the second part gets a child only while 1.5 cores stand idle (sampled for 0.1 s).
IDLE_SAMPLE_S = 0.1
IDLE_CORES_FOR_A_CHILD = 1.5

_ENGINE = "lxdex_capacity.engine._kernels"
_SCENARIOS = "lxdex_capacity.scenarios._kernels"
_SIMULATION = "lxdex_capacity.simulation._kernels"


@dataclass(frozen=True)
class KernelSet:
    """The kernels a kind of run needs and how to compile them.

    ``kernels``: ``"module:name"`` of every cached kernel ``warm_up`` compiles (tests check that the
    two agree).  ``warm_up``: ``"module:function"`` compiling (or loading) them all.  ``parts``: two
    functions that together compile them, run at the same time on a fresh install, the first in
    this process and the second in a child process; none when a set is one kernel."""

    name: str
    kernels: tuple[str, ...]
    warm_up: str
    parts: tuple[str, ...] = ()


_RUN_KERNELS = (
    f"{_ENGINE}:submit", f"{_ENGINE}:cancel", f"{_ENGINE}:cancel_furthest", f"{_ENGINE}:open_qty",
    f"{_ENGINE}:best_prices", f"{_ENGINE}:resting_per_market", f"{_ENGINE}:lookup_latency", f"{_ENGINE}:read_cycles",
    f"{_ENGINE}:split_by_partition", f"{_ENGINE}:number_trades", f"{_ENGINE}:gather_orders", f"{_ENGINE}:scatter_results",
    f"{_ENGINE}:group_by_partition",
    f"{_SCENARIOS}:stream_keys", f"{_SCENARIOS}:depths", f"{_SCENARIOS}:mids", f"{_SCENARIOS}:seed_orders",
    f"{_SCENARIOS}:flow_batch",
    f"{_SIMULATION}:digest_orders", f"{_SIMULATION}:digest_counts", f"{_SIMULATION}:digest_trades",
    f"{_SIMULATION}:add_multiset", f"{_SIMULATION}:least_loaded_first",
)

_WORKER = "lxdex_capacity.simulation.worker"
_BENCH = "lxdex_capacity.profiling.engine_bench"

SIMULATION = KernelSet("simulation", _RUN_KERNELS, f"{_WORKER}:warm_up_run",
                       (f"{_WORKER}:warm_up_matching", f"{_WORKER}:warm_up_flow"))
PROFILE = KernelSet("profile", (*_RUN_KERNELS, f"{_ENGINE}:count_side", f"{_ENGINE}:book_orders"), f"{_WORKER}:warm_up_profile",
                    (f"{_WORKER}:warm_up_matching", f"{_WORKER}:warm_up_flow_and_books"))
BENCH = KernelSet(
    "bench",
    (f"{_ENGINE}:submit", f"{_ENGINE}:cancel", f"{_ENGINE}:reduce", f"{_ENGINE}:best_prices", f"{_ENGINE}:depth",
     f"{_ENGINE}:resting_per_market", f"{_SCENARIOS}:stream_keys", f"{_SCENARIOS}:depths", f"{_SCENARIOS}:mids",
     f"{_SCENARIOS}:seed_orders", f"{_SCENARIOS}:flow_batch"),
    f"{_BENCH}:warm_up",
    (f"{_BENCH}:warm_up_matching", f"{_BENCH}:warm_up_rest"),
)
_LATENCY = "lxdex_capacity.latency"
LATENCY = KernelSet("latency",
                    (*_RUN_KERNELS, f"{_LATENCY}._kernels:open_loop", f"{_LATENCY}._kernels:service_times",
                     f"{_LATENCY}._kernels:cancel_times", f"{_LATENCY}._kernels:counter_granularity",
                     f"{_LATENCY}._kernels:interruptions"),
                    f"{_LATENCY}.harness:warm_up", (f"{_WORKER}:warm_up_matching", f"{_LATENCY}.harness:warm_up_timing"))
REPLAY = KernelSet("replay", ("lxdex_capacity.replay._kernels:replay",), "lxdex_capacity.replay.replay:warm_up")
KERNEL_SETS = {kernels.name: kernels for kernels in (SIMULATION, PROFILE, BENCH, LATENCY, REPLAY)}
# Cached kernels in no set, compiled where they are first called: the memory-hierarchy probe's (lxdex sweep) and
# Engine.trim and Engine.amend (library calls no command makes).
OTHER_KERNELS = (*(f"lxdex_capacity.capacity._probe_kernels:{name}" for name in ("chase", "chase_chains", "multiply_chain")),
                 f"{_ENGINE}:trim", f"{_ENGINE}:amend")
# Every cached kernel of the package, by what needs it (tests check that no @njit(cache=True) is left out).
KERNEL_GROUPS: dict[str, tuple[str, ...]] = {**{name: s.kernels for name, s in KERNEL_SETS.items()}, "other": OTHER_KERNELS}


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _compiled_here(kernel: Any) -> bool:
    """Compiled (or loaded) in this process already; a plain function (``NUMBA_DISABLE_JIT``) counts as compiled."""
    return bool(getattr(kernel, "signatures", True))


def _in_cache(kernel: Any) -> bool:
    """Whether numba's cache holds sound machine code of ``kernel`` for its current source, this numba and
    this CPU (for any argument types): what a load checks before it uses an entry (a damaged one is not cached)."""
    from .cache_guard import DamagedEntry, GuardedFunctionCache

    try:
        cache = kernel._cache
        return isinstance(cache, GuardedFunctionCache) and cache.current_entry(kernel.targetctx.codegen())
    except DamagedEntry:
        return False
    except Exception:  # another numba's internals, or no cache at all: say it compiles
        return False


def _discard_damaged(kernels: KernelSet) -> None:
    """Discard (telling so, one line each) the damaged cache entries of ``kernels`` not loaded yet."""
    from .cache_guard import GuardedFunctionCache

    for kernel in map(_resolve, kernels.kernels):
        cache = getattr(kernel, "_cache", None)
        if isinstance(cache, GuardedFunctionCache) and not _compiled_here(kernel):
            cache.discard_if_damaged(kernel.targetctx.codegen())


def needs_compiling(kernels: KernelSet) -> bool:
    """True if calling ``kernels`` would compile some of them: neither this process nor numba's
    cache has them.  Reads the cache's index files; compiles and loads nothing."""
    return not all(_compiled_here(k) or _in_cache(k) for k in map(_resolve, kernels.kernels))


def _idle_cores() -> float:
    """Cores this process may use that the rest of the machine leaves idle, sampled over
    :data:`IDLE_SAMPLE_S` while this process sleeps."""
    import psutil

    from .machine import usable_cores

    usable = usable_cores()
    if usable < 2:
        return float(usable)
    busy = psutil.cpu_percent(interval=IDLE_SAMPLE_S) / 100.0 * (psutil.cpu_count() or usable)
    return max(0.0, min(float(usable), (psutil.cpu_count() or usable) - busy))


# A child compiling one part, tethered (:mod:`lxdex_capacity.children`): it imports this package
# from where the parent did.
_CHILD = """\
sys.path.insert(0, sys.argv[1])
import lxdex_capacity
del sys.path[0]
from lxdex_capacity.kernel_cache import run_part
run_part(sys.argv[2])
"""


def run_part(ref: str) -> None:
    """A child's work: run the warm-up part ``ref``, leaving its kernels in numba's cache."""
    _resolve(ref)()


def _start(part: str) -> subprocess.Popen[bytes]:
    package_parent = str(Path(__file__).resolve().parent.parent)
    return subprocess.Popen(tethered(_CHILD, package_parent, part), env=tethered_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def compile_kernels(kernels: KernelSet, parallel: bool = True) -> bool:
    """Compile (or load from numba's cache) every kernel of ``kernels``; return whether any had to
    be compiled.  Compiling, with ``parallel`` and a core standing idle for a child, runs the set's
    parts at once on two processes; then the whole warm-up runs here in any case."""
    _discard_damaged(kernels)  # here, before any child: a child's stderr goes nowhere
    needed = needs_compiling(kernels)
    if needed and parallel and len(kernels.parts) > 1 and _idle_cores() >= IDLE_CORES_FOR_A_CHILD:
        children: list[subprocess.Popen[bytes]] = []
        try:
            children = [_start(part) for part in kernels.parts[1:]]  # one part: the sets have two
            _resolve(kernels.parts[0])()
            for child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):  # killed below; the warm-up compiles its part here
                    child.wait(timeout=CHILD_TIMEOUT_S)
        except OSError:
            pass  # no child could start: the warm-up compiles everything here
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    _resolve(kernels.warm_up)()
    return needed


# lxdex's files in a cache folder: ``<module>.<kernel>-<line>.py<version>.nbi`` (the index), ``....<n>.nbc`` (data),
# either with numba's ``.tmp.<hex>`` while it is written; ``<module>`` one of the package's modules in that folder.
_FILE_TAIL = r"\..+-[0-9]+\.py[0-9]+[a-z]*(?:\.nbi|\.[0-9]+\.nbc)(?:\.tmp\.[0-9a-f]+)?"


@dataclass(frozen=True)
class KernelEntry:
    """One cached kernel's entry: ``state`` is ``cached`` (sound, for the current sources, numba and CPU),
    ``missing``, ``damaged`` (``damage`` says which file and why) or ``uncached`` (no folder can hold it)."""

    kernel: str
    state: str
    folder: str | None
    files: int
    bytes: int
    damage: str | None = None


@dataclass(frozen=True)
class CacheReport:
    """What ``lxdex cache info`` shows: every cached kernel's entry, and lxdex's files that belong to no current
    kernel (``stale``: an older version's entries, a write cut short)."""

    entries: tuple[KernelEntry, ...]
    stale_files: int
    stale_bytes: int

    @property
    def folders(self) -> list[str]:
        return sorted({e.folder for e in self.entries if e.folder})

    def group(self, refs: tuple[str, ...]) -> dict[str, Any]:
        """The figures of the kernels ``refs`` (a kernel set): how many are cached, missing, damaged; files and bytes."""
        chosen = [e for e in self.entries if e.kernel in refs]
        count = {state: sum(e.state == state for e in chosen) for state in ("cached", "missing", "damaged", "uncached")}
        return {"kernels": len(chosen), **count, "files": sum(e.files for e in chosen), "bytes": sum(e.bytes for e in chosen),
                "complete": count["cached"] == len(chosen)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "folders": self.folders,
            "caching": all(e.state != "uncached" for e in self.entries),
            "files": sum(e.files for e in self.entries) + self.stale_files,
            "bytes": sum(e.bytes for e in self.entries) + self.stale_bytes,
            "kernel_sets": {name: self.group(refs) for name, refs in KERNEL_GROUPS.items()},
            "damaged": [{"kernel": e.kernel, "damage": e.damage} for e in self.entries if e.state == "damaged"],
            "stale_files": self.stale_files,
            "stale_bytes": self.stale_bytes,
            "kernels": [vars(e) for e in self.entries],
        }


def _all_kernels() -> list[str]:
    return sorted({ref for refs in KERNEL_GROUPS.values() for ref in refs})


def _caches() -> list[tuple[str, Any, Any]]:
    """``(ref, kernel, cache)`` for every cached kernel, the cache where this configuration puts it now
    (``NUMBA_CACHE_DIR``, ...: made afresh, as a new process would) or None when no folder can hold it."""
    from .cache_guard import GuardedFunctionCache, cache_for

    found = []
    for ref in _all_kernels():
        kernel = _resolve(ref)
        cache = cache_for(getattr(kernel, "py_func", kernel))
        found.append((ref, kernel, cache if isinstance(cache, GuardedFunctionCache) else None))
    return found


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _lxdex_files(caches: list[tuple[str, Any, Any]]) -> list[str]:
    """Every file of lxdex's in the folders the caches use: the package's modules' cache files, nothing else."""
    stems: dict[str, set[str]] = {}
    for _, kernel, cache in caches:
        if cache is not None:
            stems.setdefault(cache.cache_path, set()).add(Path(inspect.getfile(getattr(kernel, "py_func", kernel))).stem)
    found = []
    for folder, names in stems.items():
        pattern = re.compile("(?:" + "|".join(map(re.escape, sorted(names))) + ")" + _FILE_TAIL)
        with contextlib.suppress(OSError):
            found += [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if pattern.fullmatch(n)]
    return found


def cache_report() -> CacheReport:
    """Every cached kernel's entry in the cache this configuration uses, checked as a load checks it (reads, never
    loads), and lxdex's files there of no current kernel."""
    from .cache_guard import DamagedEntry

    caches = _caches()
    entries, owned = [], set()
    for ref, kernel, cache in caches:
        if cache is None:
            entries.append(KernelEntry(ref, "uncached", None, 0, 0))
            continue
        files = cache.cache_file.files()
        owned.update(files)
        try:
            state, damage = ("cached" if cache.current_entry(kernel.targetctx.codegen()) else "missing"), None
        except DamagedEntry as exc:
            state, damage = "damaged", str(exc)
        except AttributeError:  # NUMBA_DISABLE_JIT: a plain function, which nothing caches
            state, damage = "missing", None
        entries.append(KernelEntry(ref, state, cache.cache_path, len(files), sum(map(_size, files)), damage))
    stale = [path for path in _lxdex_files(caches) if path not in owned]
    return CacheReport(tuple(entries), len(stale), sum(map(_size, stale)))


def clear_cache() -> tuple[int, int]:
    """Remove lxdex's files from the cache this configuration uses (no other project's); return how many files
    and bytes.  :class:`OutputError` naming the first file that could not be removed, after removing the rest."""
    removed, freed, failed = 0, 0, []
    for path in _lxdex_files(_caches()):
        size = _size(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue  # another process's write, renamed or removed meanwhile
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror or exc}")
            continue
        removed, freed = removed + 1, freed + size
    if failed:
        raise OutputError(f"removed {removed:,} files of the compiled-kernel cache ({freed:,} bytes), but not {len(failed):,}: "
                          f"{failed[0]}")
    return removed, freed
