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
  and compiles whatever a part left out.
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .children import tethered, tethered_env

__all__ = ["KernelSet", "SIMULATION", "PROFILE", "BENCH", "LATENCY", "REPLAY", "KERNEL_SETS", "needs_compiling", "compile_kernels", "run_part"]

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


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _compiled_here(kernel: Any) -> bool:
    """Compiled (or loaded) in this process already; a plain function (``NUMBA_DISABLE_JIT``) counts as compiled."""
    return bool(getattr(kernel, "signatures", True))


def _in_cache(kernel: Any) -> bool:
    """Whether numba's cache holds machine code of ``kernel`` for its current source, this numba and
    this CPU (for any argument types): what numba itself checks before it compiles."""
    try:
        cache = kernel._cache
        index = cache._cache_file._load_index()  # {} if missing, stale (the source changed) or of another numba
        codegen = kernel.targetctx.codegen()
        return any(cache._index_key(key[0], codegen) == key for key in index)
    except Exception:  # another numba's internals, or no cache at all: say it compiles
        return False


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
