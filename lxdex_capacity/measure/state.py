"""The machine's state while a figure was measured: what else ran, in the same window as the figure.

A speed or latency figure is only as good as the machine was quiet while it was taken.  A *window*
is opened just before a repeat and closed just after it (:class:`Window`); it records, over exactly
that span:

* **other processes' CPU time**: every CPU's busy time (``/proc/stat``: user, nice, system, irq,
  softirq) less the CPU time of this process and every process it started (its threads, its
  children alive or reaped: a sweep's fresh processes, a local Dask cluster's workers), as cores:
  1.0 is one core busy all window long with work that is not ours;
* **steal**: time the hypervisor gave the CPUs to someone else while they had work to do, as a
  share of the window on every CPU;
* **interruptions** of the cores this process may use (irq and softirq time, as a share), and,
  where a latency run spins on a core, what that spin lost (the caller's figure, :meth:`Window.close`);
* the **load average** and the runnable tasks when it closed, and the CPUs' **frequency** where the
  machine lets it be read (a VM often does not).

``/proc/stat`` counts in clock ticks (10 ms), so a short window cannot tell a little from nothing:
:func:`MachineState.busy_reason` allows two ticks per CPU of slack before calling a window busy.  On
a machine without ``/proc/stat`` (macOS) psutil's totals stand in, with the same rules.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from ..machine import cpu_affinity

__all__ = ["MachineState", "Window", "open_window", "combine", "OTHER_CORES_BUSY", "STEAL_BUSY", "INTERRUPTED_BUSY",
           "TICK_SECONDS"]

# A window is busy ("disturbed") when, beyond the ticks' slack, other processes used more than this many cores on
# average over it: a fifth of a core is far above an idle machine's daemons (a few hundredths) and far below one hog.
OTHER_CORES_BUSY = 0.2
STEAL_BUSY = 0.05  # the hypervisor took more than this share of the CPUs' time
INTERRUPTED_BUSY = 0.10  # the measured core lost more than this share of the window to interruptions


def _clock_ticks_per_second() -> int:
    """``/proc/stat``'s unit (``sysconf(_SC_CLK_TCK)``: 100 on Linux, x86-64 and aarch64 alike), 100 where it cannot be read."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100
    return ticks if ticks > 0 else 100


TICK_SECONDS = 1.0 / _clock_ticks_per_second()
_SLACK_TICKS = 2  # per CPU: a window's busy time is read to within a tick at each end


@dataclass(frozen=True)
class MachineState:
    """The machine over one window (or several, :func:`combine`): what was not this process's work."""

    seconds: float  # the window's wall time
    cpus: int  # CPUs counted (online)
    own_cores: float  # this process and its children, in cores (CPU seconds per second)
    other_cores: float  # every other process, in cores
    steal_share: float  # of the CPUs' time, taken by the hypervisor
    interrupt_share: float  # of the time of the CPUs this process may use, spent in interrupt handlers
    spin_lost_share: float | None  # of a measuring spin's time, lost to interruptions (latency runs); None: no spin
    load_1m: float  # the load average when the window closed
    runnable: int  # tasks running or ready to run when it closed (this process's included)
    frequency_mhz: float | None  # the CPUs' mean current frequency, where readable

    def busy_reasons(self) -> list[str]:
        """What made the machine busy over this window, one phrase each (empty: it was quiet)."""
        slack = _SLACK_TICKS * TICK_SECONDS * self.cpus / self.seconds if self.seconds > 0 else float("inf")
        reasons = []
        if self.other_cores > OTHER_CORES_BUSY + slack:
            reasons.append(f"other processes used {self.other_cores:.2f} cores")
        if self.steal_share > STEAL_BUSY + slack / max(self.cpus, 1):
            reasons.append(f"the hypervisor took {self.steal_share:.0%} of the CPUs (steal)")
        interrupted = max(self.interrupt_share, self.spin_lost_share or 0.0)
        if interrupted > INTERRUPTED_BUSY:
            reasons.append(f"the measuring core lost {interrupted:.0%} of its time to interruptions")
        return reasons

    @property
    def busy(self) -> bool:
        return bool(self.busy_reasons())

    def as_dict(self) -> dict[str, Any]:
        """The window's readings (whether it was busy follows from them: :meth:`busy_reasons`; a figure says which of
        its repeats were, and why)."""
        return asdict(self)


@dataclass(frozen=True)
class _Snapshot:
    wall: float
    busy: float  # CPU seconds, every CPU, not idle, not iowait, not steal
    steal: float
    interrupt: float  # irq + softirq of this process's CPUs
    own: float  # this process (every thread) and its children


_PROC_STAT = "/proc/stat"


def _cpu_rows() -> dict[str, list[float]] | None:
    """``/proc/stat``'s cpuN rows in seconds (user, nice, system, idle, iowait, irq, softirq, steal), or None (macOS)."""
    try:
        with open(_PROC_STAT, encoding="ascii") as f:
            rows = {}
            for line in f:
                if line.startswith("cpu") and line[3:4].isdigit():
                    name, *fields = line.split()
                    rows[name] = [int(v) * TICK_SECONDS for v in fields[:8]]
            return rows or None
    except (OSError, ValueError):
        return None


def _own_seconds(process: psutil.Process) -> float:
    """CPU seconds of this process (every thread), its reaped children, and its live descendants."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    try:
        children = process.children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            t = child.cpu_times()
        except psutil.Error:  # ended meanwhile: once reaped, its time is in children_* of whoever reaped it
            continue
        total += t.user + t.system
    return total


def _snapshot(process: psutil.Process) -> _Snapshot:
    wall = time.perf_counter()
    rows = _cpu_rows()
    own = _own_seconds(process)
    if rows is not None:
        mine = cpu_affinity()
        busy = steal = interrupt = 0.0
        for name, (user, nice, system, _idle, _iowait, irq, softirq, st) in ((n, (r + [0.0] * 8)[:8]) for n, r in rows.items()):
            busy += user + nice + system + irq + softirq
            steal += st
            if mine is None or int(name[3:]) in mine:
                interrupt += irq + softirq
        return _Snapshot(wall, busy, steal, interrupt, own)
    t = psutil.cpu_times()  # macOS and others: no per-CPU interrupt or steal split
    return _Snapshot(wall, t.user + getattr(t, "nice", 0.0) + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0),
                     getattr(t, "steal", 0.0), getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0), own)


def _frequency_mhz() -> float | None:
    """The CPUs' mean current frequency, or None where it cannot be read: a VM's Linux often has no cpufreq, aarch64's
    ``/proc/cpuinfo`` has no ``cpu MHz`` to fall back on, and psutil on Apple silicon has no figure, or raises."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError, RuntimeError, ValueError):
        return None
    return float(freq.current) if freq is not None and freq.current and freq.current > 0 else None


_LOADAVG = "/proc/loadavg"


def _load() -> tuple[float, int]:
    """The 1-minute load average and the runnable tasks (``/proc/loadavg``); where there is no such file (macOS),
    ``getloadavg`` and 0 runnable tasks (not counted there)."""
    try:
        with open(_LOADAVG, encoding="ascii") as f:
            fields = f.read().split()
        return float(fields[0]), int(fields[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        try:
            return float(os.getloadavg()[0]), 0
        except OSError:
            return 0.0, 0


class Window:
    """One measuring window: :func:`open_window` just before the work, :meth:`close` just after."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._cpus = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        self._mine = len(cpu_affinity() or range(self._cpus))
        self._start = _snapshot(self._process)

    def close(self, spin_lost_share: float | None = None) -> MachineState:
        """The machine over the window; ``spin_lost_share``: what a spin on the measured core lost meanwhile."""
        end = _snapshot(self._process)
        seconds = max(end.wall - self._start.wall, 1e-9)
        own = max(end.own - self._start.own, 0.0)
        busy = max(end.busy - self._start.busy, 0.0)
        load, runnable = _load()
        return MachineState(
            seconds=seconds, cpus=self._cpus, own_cores=own / seconds, other_cores=max(busy - own, 0.0) / seconds,
            steal_share=min(max(end.steal - self._start.steal, 0.0) / (seconds * self._cpus), 1.0),
            interrupt_share=min(max(end.interrupt - self._start.interrupt, 0.0) / (seconds * self._mine), 1.0),
            spin_lost_share=None if spin_lost_share is None else min(max(float(spin_lost_share), 0.0), 1.0),
            load_1m=load, runnable=runnable, frequency_mhz=_frequency_mhz())


def open_window() -> Window:
    """A window opened now (see the module's docstring)."""
    return Window()


def combine(states: list[MachineState]) -> MachineState | None:
    """Several windows as one: time-weighted means of the shares and cores, the last load, the mean frequency."""
    if not states:
        return None
    seconds = sum(s.seconds for s in states)

    def mean(key: str) -> float:
        return sum(getattr(s, key) * s.seconds for s in states) / seconds

    spins = [s for s in states if s.spin_lost_share is not None]
    freqs = [s.frequency_mhz for s in states if s.frequency_mhz is not None]
    return MachineState(seconds=seconds, cpus=states[-1].cpus, own_cores=mean("own_cores"), other_cores=mean("other_cores"),
                        steal_share=mean("steal_share"), interrupt_share=mean("interrupt_share"),
                        spin_lost_share=(sum(s.spin_lost_share * s.seconds for s in spins if s.spin_lost_share is not None)
                                         / sum(s.seconds for s in spins)) if spins else None,
                        load_1m=states[-1].load_1m, runnable=states[-1].runnable,
                        frequency_mhz=sum(freqs) / len(freqs) if freqs else None)
