"""This machine and this software, described once: what every saved figure records beside it.

A measured figure means little without where it was measured: the sweep's model, a report's
results, a benchmark's JSON and a simulation's result all carry :func:`machine_info`.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

__all__ = ["MachineInfo", "machine_info", "processor_name", "usable_cores"]


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


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """The cores this process may run on (its affinity): an audit claim made with "every core", and the
    most threads ``lxdex sweep`` measures the order rate with."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
