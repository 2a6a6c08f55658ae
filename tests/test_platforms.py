"""Linux aarch64 and macOS arm64 (issue 23): every fact read per platform, and each non-x86 or non-Linux path run here
by pretending (a fake /proc/cpuinfo, cgroup tree or sysctl, ``sys.platform = "darwin"``, no affinity calls).
Nothing here times anything."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from lxdex_capacity import machine, memory_guard
from lxdex_capacity.measure import state

# --- the processor's name -------------------------------------------------------------------------------------------

X86_CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu vme de pse tsc msr
"""

# AWS Graviton2 (c6g): aarch64 Linux has no "model name" line.
GRAVITON2_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 243.75
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1
"""


def _cpuinfo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(machine, "_CPUINFO", path)


def test_the_x86_processor_name_is_its_model_name(monkeypatch, tmp_path):
    _cpuinfo(monkeypatch, tmp_path, X86_CPUINFO)
    assert machine.processor_name() == "AMD EPYC 9R14 96-Core Processor"


def test_an_aarch64_linux_processor_is_named_by_its_implementer_and_part(monkeypatch, tmp_path):
    _cpuinfo(monkeypatch, tmp_path, GRAVITON2_CPUINFO)
    assert machine.processor_name() == "ARM Neoverse-N1"


def test_a_big_little_board_names_both_kinds_and_an_unknown_part_by_its_number(monkeypatch, tmp_path):
    cores = "".join(f"processor\t: {i}\nCPU implementer\t: 0x41\nCPU part\t: {part}\n\n"
                    for i, part in enumerate(["0xd05", "0xd05", "0xd0b", "0xd0b"]))
    _cpuinfo(monkeypatch, tmp_path, cores)
    assert machine.processor_name() == "ARM Cortex-A55 + Cortex-A76"
    _cpuinfo(monkeypatch, tmp_path, "processor\t: 0\nCPU implementer\t: 0x99\nCPU part\t: 0x123\n")
    assert machine.processor_name() == "implementer 0x99 part 0x123"
    _cpuinfo(monkeypatch, tmp_path, "processor\t: 0\nCPU implementer\t: 0xc0\nCPU part\t: 0xac3\n")
    assert machine.processor_name() == "Ampere Ampere-1"


def test_a_cpuinfo_that_names_nothing_falls_back_to_platform(monkeypatch, tmp_path):
    _cpuinfo(monkeypatch, tmp_path, "processor\t: 0\nBogoMIPS\t: 50.00\n")
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert machine.processor_name() == "aarch64"
    monkeypatch.setattr(machine, "_CPUINFO", tmp_path / "absent")
    assert machine.processor_name() == "aarch64"


class _FakeSysctl:
    """``subprocess.run`` answering ``sysctl -n KEY`` from ``values`` (exit 1 for a key it does not have)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.asked = values, []

    def __call__(self, command, **kwargs):  # type: ignore[no-untyped-def]
        assert Path(command[0]).name == "sysctl" and command[1] == "-n" and kwargs.get("timeout")
        self.asked.append(command[2])
        if command[2] in self.values:
            return SimpleNamespace(returncode=0, stdout=self.values[command[2]] + "\n")
        return SimpleNamespace(returncode=1, stdout="")


def test_macos_names_its_processor_with_sysctl(monkeypatch):
    fake = _FakeSysctl({"machdep.cpu.brand_string": "Apple M2 Pro"})
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(subprocess, "run", fake)
    assert machine.processor_name() == "Apple M2 Pro"
    assert fake.asked == ["machdep.cpu.brand_string"]


def test_macos_without_sysctl_falls_back_to_platform(monkeypatch):
    def missing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise FileNotFoundError("sysctl")

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(subprocess, "run", missing)
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    assert machine.processor_name() == "arm"
    assert machine.sysctl("machdep.cpu.brand_string") is None


def test_sysctl_is_not_run_on_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("sysctl run on Linux"))
    assert machine.sysctl("hw.nperflevels") is None
    assert machine.core_kinds() is None


def test_macos_tells_performance_from_efficiency_cores(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(subprocess, "run", _FakeSysctl({"hw.nperflevels": "2", "hw.perflevel0.physicalcpu": "8",
                                                        "hw.perflevel1.physicalcpu": "4"}))
    assert machine.core_kinds() == (8, 4)
    monkeypatch.setattr(subprocess, "run", _FakeSysctl({"hw.nperflevels": "1", "hw.perflevel0.physicalcpu": "8"}))
    assert machine.core_kinds() == (8, 0)
    monkeypatch.setattr(subprocess, "run", _FakeSysctl({}))  # an Intel Mac: no perflevels
    assert machine.core_kinds() is None


# --- cores: affinity and cgroup CPU quotas ---------------------------------------------------------------------------


def _no_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on macOS: no sched_getaffinity or sched_setaffinity."""
    for name in ("sched_getaffinity", "sched_setaffinity"):
        if hasattr(os, name):
            monkeypatch.delattr(os, name)


def test_without_affinity_calls_every_cpu_is_usable(monkeypatch):
    _no_affinity(monkeypatch)
    monkeypatch.setattr(os, "cpu_count", lambda: 10)
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda: None)
    assert machine.cpu_affinity() is None
    assert machine.usable_cores() == 10


def test_a_cpu_quota_bounds_the_usable_cores(monkeypatch):
    monkeypatch.setattr(machine, "cpu_affinity", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda: 1.5)
    assert machine.usable_cores() == 2
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda: 0.25)
    assert machine.usable_cores() == 1
    monkeypatch.setattr(machine, "cgroup_cpu_limit", lambda: 16.0)
    assert machine.usable_cores() == 4


def _cgroups(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, membership: str, mounts: list[tuple[str, str, str, str]]) -> Path:
    """A fake /proc/self/cgroup (``membership``) and mountinfo of ``mounts`` (root, folder under tmp_path, fs type,
    super options); returns tmp_path."""
    (tmp_path / "cgroup").write_text(membership)
    lines = [f"{30 + i} 23 0:{40 + i} {root} {tmp_path / where} rw,relatime - {kind} {kind} {options}"
             for i, (root, where, kind, options) in enumerate(mounts)]
    (tmp_path / "mountinfo").write_text("\n".join(["22 1 0:21 / /proc rw - proc proc rw", *lines]) + "\n")
    monkeypatch.setattr(machine, "_PROC_CGROUP", tmp_path / "cgroup")
    monkeypatch.setattr(machine, "_MOUNTINFO", tmp_path / "mountinfo")
    return tmp_path


def _write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text + "\n")


def test_a_cgroup_v2_cpu_quota_is_the_least_along_the_ancestors(monkeypatch, tmp_path):
    root = _cgroups(monkeypatch, tmp_path, "0::/user.slice/app.scope\n", [("/", "cg", "cgroup2", "rw,nsdelegate")])
    _write(root / "cg/user.slice", cpu_max="150000 100000")
    _write(root / "cg/user.slice/app.scope", cpu_max="max 100000")
    assert machine.cgroup_dirs("cpu", 2) == [root / "cg/user.slice/app.scope", root / "cg/user.slice", root / "cg"]
    assert machine.cgroup_cpu_limit() == 1.5


def test_a_cgroup_v1_cpu_quota_inside_a_container(monkeypatch, tmp_path):
    # Docker on cgroup v1: the mount shows the container's own cgroup (/docker/abc) as its root.
    root = _cgroups(monkeypatch, tmp_path, "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n",
                    [("/docker/abc", "cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"), ("/docker/abc", "memory", "cgroup", "rw,memory")])
    _write(root / "cpu,cpuacct", cpu_cfs_quota_us="200000", cpu_cfs_period_us="100000")
    assert machine.cgroup_dirs("cpu", 2) == []
    assert machine.cgroup_cpu_limit() == 2.0
    _write(root / "cpu,cpuacct", cpu_cfs_quota_us="-1", cpu_cfs_period_us="100000")
    assert machine.cgroup_cpu_limit() is None


def test_without_cgroups_there_is_no_quota_and_no_cgroup_room(monkeypatch, tmp_path):
    # macOS: no /proc at all.
    monkeypatch.setattr(machine, "_PROC_CGROUP", tmp_path / "absent" / "cgroup")
    monkeypatch.setattr(machine, "_MOUNTINFO", tmp_path / "absent" / "mountinfo")
    assert machine.cgroup_dirs("memory", 2) == machine.cgroup_dirs("memory", 1) == []
    assert machine.cgroup_cpu_limit() is None
    assert memory_guard._cgroup_room() is None
    monkeypatch.setattr(memory_guard.psutil, "virtual_memory", lambda: SimpleNamespace(available=5 * 2**30))
    monkeypatch.setattr(memory_guard, "_address_space_room", lambda: None)
    assert memory_guard.available_bytes() == 5 * 2**30


# --- memory: cgroup limits, ulimit, ru_maxrss ----------------------------------------------------------------------


def test_the_memory_guard_reads_nested_cgroup_v2_limits(monkeypatch, tmp_path):
    root = _cgroups(monkeypatch, tmp_path, "0::/machine.slice/job\n", [("/", "cg", "cgroup2", "rw")])
    _write(root / "cg/machine.slice", memory_max=str(2**30), memory_current=str(256 * 2**20))
    _write(root / "cg/machine.slice/job", memory_max="max", memory_current=str(200 * 2**20))
    assert memory_guard._cgroup_room() == 768 * 2**20


def test_the_memory_guard_reads_cgroup_v1_limits(monkeypatch, tmp_path):
    root = _cgroups(monkeypatch, tmp_path, "4:memory:/batch/job\n0::/\n",
                    [("/", "memory", "cgroup", "rw,memory"), ("/", "unified", "cgroup2", "rw")])
    _write(root / "memory", memory_limit_in_bytes="9223372036854771712", memory_usage_in_bytes=str(2**30))  # unlimited
    _write(root / "memory/batch/job", memory_limit_in_bytes=str(2 * 2**30), memory_usage_in_bytes=str(512 * 2**20))
    _write(root / "unified")  # the hybrid layout's v2 tree, with no memory controller
    assert memory_guard._cgroup_room() == 1536 * 2**20
    _write(root / "memory/batch/job", memory_limit_in_bytes="9223372036854771712", memory_usage_in_bytes="0")
    assert memory_guard._cgroup_room() is None


def test_no_address_space_limit_where_the_platform_has_none(monkeypatch):
    monkeypatch.delattr(memory_guard.resource, "RLIMIT_AS")
    assert memory_guard._address_space_room() is None


@pytest.mark.parametrize(("system", "expected"), [("linux", 123_456 * 1024), ("darwin", 123_456)])
def test_peak_rss_is_in_bytes_on_every_platform(monkeypatch, system, expected):
    import resource

    monkeypatch.setattr(sys, "platform", system)
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=123_456))
    assert machine.peak_rss_bytes() == expected


def test_a_simulation_shard_reports_its_peak_rss_through_the_one_helper():
    from lxdex_capacity.simulation import worker

    assert worker.peak_rss_bytes is machine.peak_rss_bytes


# --- the machine's state without /proc (macOS) ----------------------------------------------------------------------


def test_a_window_closes_without_proc_stat_loadavg_affinity_or_frequency(monkeypatch, tmp_path):
    _no_affinity(monkeypatch)
    monkeypatch.setattr(state, "_PROC_STAT", str(tmp_path / "stat"))
    monkeypatch.setattr(state, "_LOADAVG", str(tmp_path / "loadavg"))
    monkeypatch.setattr(os, "getloadavg", lambda: (1.25, 1.0, 0.5))

    def no_frequency():  # type: ignore[no-untyped-def]
        raise FileNotFoundError("psutil on Apple silicon")

    monkeypatch.setattr(state.psutil, "cpu_freq", no_frequency)
    times = iter([SimpleNamespace(user=10.0, system=5.0, idle=100.0),  # macOS's cpu_times: no nice, irq or steal
                  SimpleNamespace(user=10.5, system=5.25, idle=101.0)])
    monkeypatch.setattr(state.psutil, "cpu_times", lambda: next(times))
    reading = state.open_window().close()
    assert reading.load_1m == 1.25 and reading.runnable == 0
    assert reading.frequency_mhz is None
    assert reading.steal_share == 0.0 and reading.interrupt_share == 0.0
    assert reading.cpus >= 1 and reading.other_cores >= 0.0


def test_a_frequency_psutil_cannot_give_is_none(monkeypatch):
    monkeypatch.setattr(state.psutil, "cpu_freq", lambda: None)  # aarch64 Linux without cpufreq
    assert state._frequency_mhz() is None
    monkeypatch.setattr(state.psutil, "cpu_freq", lambda: SimpleNamespace(current=0.0, min=0.0, max=0.0))
    assert state._frequency_mhz() is None
    monkeypatch.delattr(state.psutil, "cpu_freq")
    assert state._frequency_mhz() is None


def test_clock_ticks_default_where_sysconf_does_not_know_them(monkeypatch):
    def unknown(name):  # type: ignore[no-untyped-def]
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(os, "sysconf", unknown)
    assert state._clock_ticks_per_second() == 100


# --- pinning where there is none (macOS) ----------------------------------------------------------------------------


def test_nothing_is_pinned_without_affinity_calls(monkeypatch):
    from lxdex_capacity.latency import harness
    from lxdex_capacity.profiling.report import pin_to_cores

    _no_affinity(monkeypatch)
    assert pin_to_cores(1) == "not pinned (no sched_setaffinity on this platform)"
    assert harness._cpus_for(2) is None


def test_latency_threads_take_the_lowest_allowed_cpus(monkeypatch):
    from lxdex_capacity.latency import harness

    monkeypatch.setattr(harness, "cpu_affinity", lambda: {7, 3, 5})
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: None, raising=False)
    assert harness._cpus_for(2) == [3, 5]
    assert harness._cpus_for(4) is None
    assert harness._cpus_for(1) is None


def test_compiling_on_one_usable_core_starts_no_child(monkeypatch):
    from lxdex_capacity import kernel_cache

    _no_affinity(monkeypatch)
    monkeypatch.setattr(machine, "usable_cores", lambda: 1)
    monkeypatch.setattr(psutil, "cpu_percent", lambda **k: pytest.fail("sampled the machine with one core"))
    assert kernel_cache._idle_cores() == 1.0


# --- the counter in compiled code --------------------------------------------------------------------------------------


def _counter_ir(triple: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    from lxdex_capacity import intrinsics

    parsers: list[bool] = []
    monkeypatch.setattr(llvm, "initialize_native_asmparser", lambda: parsers.append(True))
    module = ir.Module(name="counter")
    module.triple = triple
    fn = ir.Function(module, ir.FunctionType(ir.IntType(64), []), name="elapsed")
    builder = ir.IRBuilder(fn.append_basic_block())
    start = intrinsics.read_counter(builder)
    builder.ret(builder.sub(intrinsics.read_counter(builder), start))
    text = str(module)
    llvm.parse_assembly(text).verify()
    assert bool(parsers) == ("asm" in text)  # inline assembly only once its parser is registered
    return text


@pytest.mark.parametrize("triple", ["aarch64-unknown-linux-gnu", "arm64-apple-darwin23.4.0"])
def test_on_aarch64_the_counter_is_the_virtual_timer(monkeypatch, triple):
    text = _counter_ir(triple, monkeypatch)
    assert text.count('asm sideeffect "mrs $0, cntvct_el0", "=r"') == 2  # two reads, neither merged nor moved
    assert "readcyclecounter" not in text  # PMCCNTR_EL0 under older LLVM: SIGILL in user code


def test_on_x86_64_the_counter_is_still_the_tsc(monkeypatch):
    text = _counter_ir("x86_64-unknown-linux-gnu", monkeypatch)
    assert text.count('call i64 @"llvm.readcyclecounter"()') == 2 and "asm" not in text


def test_inline_assembly_compiles_and_runs_in_a_kernel():
    """What the aarch64 counter relies on, run on this machine's own architecture: numba does not register the native
    assembly parser, and LLVM aborts the process on inline assembly without it."""
    from numba import njit, types
    from numba.extending import intrinsic

    from lxdex_capacity.intrinsics import inline_asm

    native = {"x86_64": ("rdtsc; shlq $$32, %rdx; orq %rdx, %rax", "={rax},~{rdx}"),
              "amd64": ("rdtsc; shlq $$32, %rdx; orq %rdx, %rax", "={rax},~{rdx}"),
              "aarch64": ("mrs $0, cntvct_el0", "=r"), "arm64": ("mrs $0, cntvct_el0", "=r")}.get(platform.machine().lower())
    if native is None:
        pytest.skip(f"no counter instruction known for {platform.machine()}")

    @intrinsic
    def counter(typingctx):  # type: ignore[no-untyped-def]
        return types.int64(), lambda context, builder, sig, args: inline_asm(builder, *native)

    @njit
    def two_reads():  # type: ignore[no-untyped-def]
        first = counter()
        return first, counter()

    first, second = two_reads()
    assert second >= first > 0


# --- tethered children where the kernel cannot kill them with their parent (macOS) ----------------------------------


def test_a_tethered_child_ends_when_its_parent_does_without_pdeathsig():
    from lxdex_capacity.children import PARENT_PID, WATCH_SECONDS, tethered

    # The parent starts the child as on macOS (sys.platform = "darwin": no prctl), says its pid, and ends at once.
    child = tethered("print('ready', flush=True)\nimport time\ntime.sleep(30)")
    child[2] = "import sys\nsys.platform = 'darwin'\n" + child[2]
    parent = textwrap.dedent(f"""\
        import json, os, subprocess, sys
        child = json.loads(sys.argv[1])
        proc = subprocess.Popen(child, env=os.environ | {{{PARENT_PID!r}: str(os.getpid())}}, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        print(proc.pid, flush=True)
        os._exit(0)
        """)
    out = subprocess.run([sys.executable, "-c", parent, json.dumps(child)], capture_output=True, text=True, timeout=30, check=True)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 20 * WATCH_SECONDS + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    else:
        psutil.Process(pid).kill()
        pytest.fail("the child outlived its parent")
