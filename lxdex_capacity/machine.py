"""This machine and this software, described once: what every saved figure records beside it.

A measured figure means little without where it was measured: the sweep's model, a report's
results, a benchmark's JSON and a simulation's result all carry :func:`machine_info`.

Each fact about the machine that the operating system gives differently is read here, once, per
platform: Linux on x86-64 and aarch64, macOS (Darwin) on arm64 and x86-64.  A fact a platform
does not give is ``None`` (and the caller says so), never an exception:

* :func:`processor_name`: ``model name`` in ``/proc/cpuinfo`` (x86-64 Linux); its ``CPU implementer``
  and ``CPU part`` (aarch64 Linux, which has no model name); ``sysctl machdep.cpu.brand_string`` (macOS);
* :func:`cpu_affinity` and :func:`usable_cores`: ``sched_getaffinity`` (Linux; macOS has none: every
  CPU), bounded by a cgroup's CPU quota (:func:`cgroup_cpu_limit`, cgroup v2 or v1; none on macOS);
* :func:`cgroup_dirs`: the cgroup folders that bind this process (the memory guard reads its memory limits there);
* :func:`peak_rss_bytes`: ``ru_maxrss``, in kilobytes on Linux and in bytes on macOS;
* :func:`core_kinds`: performance and efficiency cores (macOS's ``hw.perflevel*``; elsewhere not known);
* :func:`sysctl`: one macOS ``sysctl -n`` value.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["MachineInfo", "machine_info", "processor_name", "usable_cores", "cpu_affinity", "cgroup_cpu_limit",
           "cgroup_dirs", "peak_rss_bytes", "core_kinds", "sysctl", "sysctl_int"]


@dataclass(frozen=True)
class MachineInfo:
    processor: str  # the CPU's model name
    cores: int  # physical cores
    logical_cpus: int
    memory_bytes: int  # physical memory
    architecture: str
    platform: str  # operating system and kernel
    python: str
    numpy: str
    numba: str
    lxdex_capacity: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """``AMD EPYC 9R14, 2 cores, 23.4 GiB, Python 3.11.7``: the one line a table's caption needs."""
        return f"{self.processor}, {self.cores} cores, {self.memory_bytes / 2**30:.1f} GiB, Python {self.python}"


# --- macOS: sysctl ------------------------------------------------------------------------------------------------

_SYSCTL = "/usr/sbin/sysctl"


def sysctl(name: str) -> str | None:
    """``sysctl -n name`` (macOS, the BSDs), or None where there is no such key or no sysctl (Linux)."""
    if not sys.platform.startswith(("darwin", "freebsd", "openbsd", "netbsd")):
        return None
    command = _SYSCTL if os.path.exists(_SYSCTL) else "sysctl"
    try:
        out = subprocess.run([command, "-n", name], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or "").strip()
    return text if out.returncode == 0 and text else None


def sysctl_int(name: str) -> int | None:
    """:func:`sysctl` read as a whole number, or None (no such key, no sysctl, not a number)."""
    text = sysctl(name)
    return int(text) if text is not None and text.isdigit() else None


# --- the processor's name -----------------------------------------------------------------------------------------

_CPUINFO = Path("/proc/cpuinfo")

# Arm's MIDR fields as /proc/cpuinfo gives them on aarch64 Linux ("CPU implementer : 0x41", "CPU part : 0xd0c"):
# the implementers and parts of the cores a server, a cloud instance or a board is likely to have.
_ARM_IMPLEMENTERS = {
    0x41: "ARM", 0x42: "Broadcom", 0x43: "Cavium", 0x46: "Fujitsu", 0x48: "HiSilicon", 0x4E: "NVIDIA", 0x50: "APM",
    0x51: "Qualcomm", 0x61: "Apple", 0x6D: "Microsoft", 0xC0: "Ampere",
}
_ARM_PARTS = {
    (0x41, 0xD03): "Cortex-A53", (0x41, 0xD04): "Cortex-A35", (0x41, 0xD05): "Cortex-A55", (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72", (0x41, 0xD09): "Cortex-A73", (0x41, 0xD0A): "Cortex-A75", (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD0D): "Cortex-A77", (0x41, 0xD40): "Neoverse-V1", (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD44): "Cortex-X1", (0x41, 0xD46): "Cortex-A510", (0x41, 0xD47): "Cortex-A710", (0x41, 0xD48): "Cortex-X2",
    (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4A): "Neoverse-E1", (0x41, 0xD4F): "Neoverse-V2", (0x41, 0xD80): "Cortex-A520",
    (0x41, 0xD81): "Cortex-A720", (0x41, 0xD82): "Cortex-X4", (0x41, 0xD84): "Neoverse-V3", (0x41, 0xD8E): "Neoverse-N3",
    (0x43, 0x0AF): "ThunderX2", (0x46, 0x001): "A64FX", (0x48, 0xD01): "TaiShan-v110", (0x4E, 0x004): "Carmel",
    (0x50, 0x000): "X-Gene", (0x6D, 0xD49): "Azure-Cobalt-100", (0xC0, 0xAC3): "Ampere-1", (0xC0, 0xAC4): "Ampere-1a",
}


def _cpuinfo_name(text: str) -> str | None:
    """The processor's name in ``/proc/cpuinfo``'s ``text``: its ``model name`` (x86-64, 32-bit Arm), else, on aarch64
    (which has none), its cores' implementer and part (``ARM Neoverse-N1``; a big.LITTLE board's kinds joined by
    `` + ``), else its ``Hardware`` line; None if it says nothing of the kind."""
    cores: list[tuple[int, int | None]] = []
    implementer: int | None = None
    hardware = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "model name" and value:
            return value
        try:
            if key == "CPU implementer":
                implementer = int(value, 0)
            elif key == "CPU part" and implementer is not None:
                cores.append((implementer, int(value, 0)))
                implementer = None
        except ValueError:
            continue
        if key == "Hardware" and value:
            hardware = value
    if implementer is not None:  # an implementer without its part
        cores.append((implementer, None))
    names: list[str] = []
    for vendor_id, part in cores:
        vendor = _ARM_IMPLEMENTERS.get(vendor_id, f"implementer {vendor_id:#x}")
        known = _ARM_PARTS.get((vendor_id, part)) if part is not None else None
        name = f"{vendor} {known}" if known else (f"{vendor} part {part:#05x}" if part is not None else vendor)
        if name not in names:
            names.append(name)
    if names:
        vendors = {n.split(" ", 1)[0] for n in names}
        if len(vendors) == 1 and len(names) > 1:  # ARM Cortex-A76 + Cortex-A55, not ARM Cortex-A76 + ARM Cortex-A55
            names = [names[0], *(n.split(" ", 1)[1] for n in names[1:])]
        return " + ".join(names)
    return hardware


def processor_name() -> str:
    """The CPU's name: ``/proc/cpuinfo`` on Linux (:func:`_cpuinfo_name`), ``machdep.cpu.brand_string`` on macOS
    (``Apple M2 Pro``), else what :mod:`platform` knows, else ``unknown``."""
    name = None
    if sys.platform == "darwin":
        name = sysctl("machdep.cpu.brand_string")
    else:
        with contextlib.suppress(OSError):
            name = _cpuinfo_name(_CPUINFO.read_text(encoding="utf-8", errors="replace"))
    return name or platform.processor() or platform.machine() or "unknown"


# --- cores --------------------------------------------------------------------------------------------------------


def cpu_affinity() -> set[int] | None:
    """The CPUs this process may run on (``sched_getaffinity``), or None where the platform cannot say or pin
    (macOS has no affinity calls: every CPU, wherever the scheduler puts the threads)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return set(os.sched_getaffinity(0))
    except OSError:
        return None


_CGROUP_ROOT = Path("/sys/fs/cgroup")
_PROC_CGROUP = Path("/proc/self/cgroup")
_MOUNTINFO = Path("/proc/self/mountinfo")


def _cgroup_mounts(mountinfo: str) -> list[tuple[str, str, set[str]]]:
    """``(root, mount point, controllers)`` of each cgroup mount in ``/proc/self/mountinfo``'s text; the controllers
    of a v2 (unified) mount are ``{""}``."""
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 3:
            continue
        kind, options = fields[dash + 1], fields[dash + 3] if len(fields) > dash + 3 else ""
        if kind == "cgroup2":
            mounts.append((fields[3], fields[4], {""}))
        elif kind == "cgroup":
            mounts.append((fields[3], fields[4], set(options.split(","))))
    return mounts


def cgroup_dirs(controller: str, version: int) -> list[Path]:
    """The folders of this process's cgroup and of each of its ancestors up to the mount's root, innermost first, for
    ``controller`` (``memory``, ``cpu``) on cgroup ``version`` 2 (unified) or 1; [] where there is no such cgroup
    (macOS, no ``/proc``, or the other version).  A limit set on any of them binds this process."""
    try:
        membership = _PROC_CGROUP.read_text(encoding="utf-8")
    except OSError:
        return []
    path = None
    for line in membership.splitlines():
        _, sep, rest = line.partition(":")
        controllers, sep2, cgroup = rest.partition(":")
        if not (sep and sep2):
            continue
        if (version == 2 and controllers == "") or (version == 1 and controller in controllers.split(",")):
            path = cgroup
            break
    if path is None:
        return []
    try:
        mounts = _cgroup_mounts(_MOUNTINFO.read_text(encoding="utf-8"))
    except OSError:
        mounts = []
    wanted = "" if version == 2 else controller
    root, mount = next(((r, m) for r, m, c in mounts if wanted in c), ("/", str(_CGROUP_ROOT if version == 2 else _CGROUP_ROOT / controller)))
    # A container's mount shows its own cgroup as the root: the process's path is relative to that root.
    relative = path[len(root):] if root != "/" and (path == root or path.startswith(root + "/")) else path
    top = Path(mount)
    here = top / relative.lstrip("/")
    dirs = []
    while True:
        if here.is_dir():
            dirs.append(here)
        if here == top or top not in here.parents:
            break
        here = here.parent
    return dirs


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_limit() -> float | None:
    """The CPUs' worth of time this process's cgroup may use (its CPU quota over its period: ``cpu.max`` on cgroup v2,
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` on v1; the least along its ancestors), or None without a quota
    (and on macOS, which has no cgroups)."""
    limits = []
    for folder in cgroup_dirs("cpu", 2):
        fields = (_read(folder / "cpu.max") or "").split()
        try:
            if len(fields) == 2 and fields[0] != "max" and int(fields[1]) > 0:
                limits.append(int(fields[0]) / int(fields[1]))
        except ValueError:
            continue
    if not limits:
        for folder in cgroup_dirs("cpu", 1):
            try:
                quota, period = int(_read(folder / "cpu.cfs_quota_us") or "-1"), int(_read(folder / "cpu.cfs_period_us") or "0")
            except ValueError:
                continue
            if quota > 0 and period > 0:
                limits.append(quota / period)
    return min(limits) if limits else None


def usable_cores() -> int:
    """The cores this process may run on (its affinity; every CPU where there is none, as on macOS), no more than its
    cgroup's CPU quota rounded up: an audit claim made with "every core", and the most threads ``lxdex sweep``
    measures the order rate with."""
    allowed = cpu_affinity()
    cores = len(allowed) if allowed else (os.cpu_count() or 1)
    quota = cgroup_cpu_limit()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else cores


def core_kinds() -> tuple[int, int] | None:
    """(performance, efficiency) physical cores where the platform tells them apart (macOS: ``hw.perflevel0`` and
    ``hw.perflevel1``; ``(n, 0)`` on a Mac with one kind), else None (Linux does not say which are which)."""
    levels = sysctl_int("hw.nperflevels")
    if levels is None:
        return None
    performance = sysctl_int("hw.perflevel0.physicalcpu")
    if performance is None:
        return None
    return performance, (sysctl_int("hw.perflevel1.physicalcpu") or 0) if levels > 1 else 0


# --- memory -------------------------------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes: ``ru_maxrss`` is in bytes on macOS and in kilobytes on
    Linux (and the BSDs)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@lru_cache(maxsize=1)
def machine_info() -> MachineInfo:
    import numba
    import numpy as np
    import psutil

    from . import __version__

    return MachineInfo(
        processor=processor_name(),
        cores=psutil.cpu_count(logical=False) or os.cpu_count() or 1,
        logical_cpus=os.cpu_count() or 1,
        memory_bytes=psutil.virtual_memory().total,
        architecture=platform.machine(),
        platform=platform.platform(),
        python=platform.python_version(),
        numpy=np.__version__,
        numba=numba.__version__,
        lxdex_capacity=__version__,
    )
