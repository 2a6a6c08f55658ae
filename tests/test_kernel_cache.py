"""The compiled kernels (:mod:`lxdex_capacity.kernel_cache`): each set names exactly the cached kernels its
warm-up compiles, its parts together compile all of them with the same argument types, and nothing compiles
in a run after its warm-up; whether a set needs compiling is read from numba's cache without compiling; the
compile step shows only when it happens; and a fresh install's first run (slow) compiles on two processes,
keeping stdout clean."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from lxdex_capacity import console, kernel_cache
from lxdex_capacity.kernel_cache import KERNEL_SETS

# Run in a fresh interpreter: every cached kernel of the package with the signatures this process has
# compiled (or loaded from numba's cache), after each step of a script.
_SNAPSHOT = """
import json, sys
from numba.core.caching import FunctionCache
from numba.core.registry import CPUDispatcher
from lxdex_capacity import kernel_cache as kc

def snapshot():
    found = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("lxdex_capacity"):
            continue
        for attr, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == name and isinstance(value._cache, FunctionCache):
                found[name + ":" + attr] = sorted(str(s) for s in value.signatures)
    return {k: v for k, v in found.items() if v}

kernels = kc.KERNEL_SETS[sys.argv[1]]
steps = {}
for part in kernels.parts:
    kc._resolve(part)()
steps["parts"] = snapshot()
kc._resolve(kernels.warm_up)()
steps["warm_up"] = snapshot()
"""

_RUNS = {
    "simulation": """
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.simulation import simulate
simulate(Scenario(markets=60, trades=2_000))
simulate(Scenario(markets=60, trades=2_000, cancel_rate=0.5, seed=3), shards=2)
simulate(Scenario(markets=60, trades=2_000, seed=4), threads=3)
""",
    "profile": """
from lxdex_capacity.profiling.breakdown import layout_comparison
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.simulation import simulate
simulate(Scenario(markets=60, trades=2_000), inspect=lambda engine: layout_comparison(engine, sample=200))
""",
    "bench": """
from lxdex_capacity.profiling.report import BenchConfig, run_benchmarks
run_benchmarks(BenchConfig(markets=50, trades=500, cancel_messages=2_000, lookups=1_000, repeats=1, warmup=0))
""",
    "latency": """
from lxdex_capacity.latency import measure_latency
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.measure import RepeatPolicy
once = RepeatPolicy(repeats=1, warmup=0)
measure_latency(Scenario(markets=60, cancel_rate=0.5), [1e5, 1e9], orders_per_rate=1_000, policy=once)
measure_latency(Scenario(markets=60), [1e9], batch=8, reserve=True, orders_per_rate=1_000, inject_delay_ns=10, policy=once)
""",
    "replay": "",
}

_TAIL = """
steps["run"] = snapshot()
print(json.dumps(steps))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ | (env or {}))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# The simulation set is the largest to compile (~5 s): CI compiles it in the slow pass.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "simulation" else n for n in sorted(KERNEL_SETS)])
def test_a_set_names_what_its_warm_up_compiles_and_its_parts_compile_it_all(name: str):
    steps = json.loads(_python(_SNAPSHOT + _RUNS[name] + _TAIL, name))
    kernels = KERNEL_SETS[name]
    assert set(steps["warm_up"]) == set(kernels.kernels)
    if kernels.parts:  # the parts compile every kernel with the very signatures the warm-up uses
        assert steps["parts"] == steps["warm_up"]
    # A real run (sharded, with random cancels; profile's inspection; the benchmarks) compiles nothing more:
    # no phase times a compile, and a run's kernels are all in the set the compile step checks.
    assert steps["run"] == steps["warm_up"]
    assert all(len(signatures) == 1 for signatures in steps["run"].values()), steps["run"]


_NEEDS = """
import sys
from lxdex_capacity import kernel_cache as kc
kernels = kc.KERNEL_SETS[sys.argv[1]]
print(kc.needs_compiling(kernels))
if len(sys.argv) > 2:
    print(kc.compile_kernels(kernels))
    print(kc.needs_compiling(kernels))
"""


def test_an_empty_cache_needs_compiling_and_a_warm_one_does_not(tmp_path: Path):
    assert _python(_NEEDS, "simulation", env={"NUMBA_CACHE_DIR": str(tmp_path)}).split() == ["True"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # it only looked (numba makes the folders)
    _python(_NEEDS, "simulation", "compile")  # the default cache: compiled (or loaded) once
    # Warm: it says so, having only read the cache's index (no kernel compiled, nor even loaded, in that process),
    # which is what makes the check cheap however busy the machine.
    looked = _NEEDS + """
import importlib
print(sorted(ref for ref in kernels.kernels
             if getattr(getattr(importlib.import_module(ref.partition(":")[0]), ref.partition(":")[2]), "signatures", None)))
"""
    assert _python(looked, "simulation").split() == ["False", "[]"]


def test_the_compile_step_shows_only_while_compiling(monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []

    def compile_kernels(kernels: kernel_cache.KernelSet) -> bool:
        calls.append(kernels.name)
        time.sleep(0.3)
        return True

    monkeypatch.setattr(kernel_cache, "compile_kernels", compile_kernels)
    shown = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=shown, force_terminal=True, width=100))

    monkeypatch.setattr(kernel_cache, "needs_compiling", lambda kernels: False)
    assert console.compile_step("profile") is False
    assert calls == [] and shown.getvalue() == ""

    monkeypatch.setattr(kernel_cache, "needs_compiling", lambda kernels: True)
    assert console.compile_step("profile") is True
    assert calls == ["profile"]
    assert console.COMPILE_STEP in shown.getvalue()


def test_the_layout_comparison_reports_its_progress():
    from lxdex_capacity.engine import Engine
    from lxdex_capacity.profiling.breakdown import layout_comparison

    engine = Engine(4)
    engine.submit([0, 1, 2], [0, 1, 0], [10, 12, 9], [1, 2, 3])
    seen: list[tuple[str, int, int]] = []
    layout_comparison(engine, sample=10, progress=lambda *step: seen.append(step))
    assert seen == [("layout", 0, 3), ("layout", 1, 3), ("layout", 2, 3), ("layout", 3, 3)]


_TWO_PROCESSES = """
from lxdex_capacity import kernel_cache as kc
kc.IDLE_CORES_FOR_A_CHILD = 0.0  # a child whatever else runs on the machine
started = []
start = kc._start
kc._start = lambda part: started.append(start(part)) or started[-1]
print(kc.compile_kernels(kc.SIMULATION), [(child.args[-1], child.returncode) for child in started], kc.needs_compiling(kc.SIMULATION))
"""


@pytest.mark.slow  # two cold compiles: about 30 s
def test_a_fresh_install_compiles_on_two_processes_and_keeps_stdout_clean(tmp_path: Path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "two")}
    assert _python(_TWO_PROCESSES, env=env).split("\n")[0] == (
        "True [('lxdex_capacity.simulation.worker:warm_up_flow', 0)] False")
    cached = {p.name.split("-")[0].split(".")[-1] for p in (tmp_path / "two").rglob("*.nbi")}  # _kernels.NAME-LINE.pyXY.nbi
    assert {"flow_batch", "submit", "cancel_furthest"} <= cached

    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cli")}  # the command itself, from an empty cache
    command = ["from lxdex_capacity.cli import main; main()", "simulate", "--markets", "300", "--trades", "5000", "--json"]
    cold = json.loads(_python(*command, env=env))  # stdout holds the result and nothing else
    warm = json.loads(_python(*command, env=env))
    assert (cold["market_checksum"], cold["tape_checksum"]) == (warm["market_checksum"], warm["tape_checksum"])
    assert _python(_NEEDS, "simulation", env=env).split() == ["False"]


def test_every_cached_kernel_is_stamped_by_every_source_its_machine_code_is_made_of():
    """numba stamps a cache with the kernel's own file; a kernel inlines other modules' helpers, constants and
    decorator options, so every kernel of the package is stamped by all of them (kernel_sources)."""
    from lxdex_capacity.kernel_sources import PACKAGE_DIR, kernel_sources, sources_stamp

    names = {p.relative_to(PACKAGE_DIR).as_posix() for p in kernel_sources()}
    assert {"engine/_kernels.py", "engine/kernel_api.py", "engine/layout.py", "engine/codes.py", "intrinsics.py", "hashing.py",
            "latency/_kernels.py", "replay/_kernels.py", "scenarios/_kernels.py", "simulation/_kernels.py"} <= names
    assert {p.relative_to(PACKAGE_DIR).as_posix() for p in PACKAGE_DIR.rglob("_kernels.py")} <= names
    for kernel_set in KERNEL_SETS.values():
        for ref in kernel_set.kernels:
            kernel = kernel_cache._resolve(ref)
            locator = kernel._cache._impl.locator
            assert type(locator).__name__.startswith("Package"), ref
            assert locator.get_source_stamp() == sources_stamp(), ref


def test_a_change_to_an_inlined_module_changes_every_kernels_stamp(tmp_path, monkeypatch):
    from lxdex_capacity import kernel_sources as ks

    package = tmp_path / "lxdex_capacity"
    (package / "engine").mkdir(parents=True)
    (package / "latency").mkdir()
    (package / "engine" / "_kernels.py").write_text("from ..intrinsics import cycle_counter\nfrom .codes import A\n")
    (package / "engine" / "codes.py").write_text("A = 1\n")
    (package / "intrinsics.py").write_text("cycle_counter = None\n")
    (package / "latency" / "_kernels.py").write_text("from lxdex_capacity.engine import kernel_api\n")
    (package / "engine" / "kernel_api.py").write_text("from ._kernels import *\n")
    (package / "unrelated.py").write_text("B = 2\n")
    monkeypatch.setattr(ks, "PACKAGE_DIR", package)
    for cached in (ks.kernel_sources, ks.sources_stamp):
        cached.cache_clear()
    try:
        assert {p.relative_to(package).as_posix() for p in ks.kernel_sources()} == {
            "engine/_kernels.py", "engine/codes.py", "intrinsics.py", "latency/_kernels.py", "engine/kernel_api.py"}
        before = ks.sources_stamp()
        (package / "engine" / "codes.py").write_text("A = 2\n")
        ks.sources_stamp.cache_clear()
        assert ks.sources_stamp() != before
        (package / "engine" / "codes.py").write_text("A = 1\n")
        (package / "unrelated.py").write_text("B = 3\n")
        ks.sources_stamp.cache_clear()
        assert ks.sources_stamp() == before
    finally:
        for cached in (ks.kernel_sources, ks.sources_stamp):
            cached.cache_clear()


def test_with_no_writable_cache_folder_but_the_temporary_one_the_kernels_still_cache_there(tmp_path):
    """A read-only install and home: numba's own locators all refuse, and numba would raise at import."""
    script = (
        "from numba.core import caching\n"
        "from lxdex_capacity.kernel_sources import install\n"
        "install()\n"
        "ours = caching.CacheImpl._locator_classes\n"
        "for cls in list(ours):\n"
        "    if 'Temporary' not in cls.__name__:\n"
        "        cls.from_function = classmethod(lambda c, f, p: None)\n"  # every other folder unwritable
        "from lxdex_capacity.engine import _kernels as k\n"
        "print(type(k.submit._cache._impl.locator).__name__, k.submit._cache._impl.locator.get_cache_path())\n"
    )
    out = _python(script, env={"TMPDIR": str(tmp_path)})
    name, path = out.split()
    assert name == "PackageTemporaryDirLocator" and path.startswith(str(tmp_path))


def test_the_temporary_cache_folder_must_be_this_users_alone(tmp_path):
    """numba loads pickles from its cache: a folder another user may write to is passed over (OSError)."""
    from lxdex_capacity.kernel_sources import _own_private_folder

    fresh = tmp_path / "fresh"
    _own_private_folder(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(OSError, match="others may write"):
        _own_private_folder(shared)
    planted = tmp_path / "planted"
    planted.write_text("not a folder")
    with pytest.raises(OSError):
        _own_private_folder(planted)
