"""This machine's memory hierarchy: its cache sizes as the OS reports them, and the latency of a
random access at every working set, measured by pointer chases.

What decides the engine's speed is not the clock but where its lines are: an order touches a few
cache lines of its market, and at 21,000 markets most of them are beyond L2.  So the sweep measures:

- **cache sizes** (:func:`discover_caches`): Linux's sysfs (``/sys/devices/system/cpu/cpu0/cache``),
  macOS's ``sysctl hw.perflevel0.*`` (the performance cores') or ``hw.l*cachesize``; the line size
  too (64 bytes on x86-64, 128 on Apple silicon).
- **the latency curve** (:func:`measure_curve`): one random cyclic chase through a working set of
  each size from 16 KiB to past the last cache, every step one line; nanoseconds per step, the median
  of ``repeats`` runs with their range.  Where the curve steps up is where a level ends; on a shared
  or virtual machine that is often well before the size the OS reports (a VM's 32 MiB L3 that holds
  6 MiB of random lines).
- **levels** (:func:`levels_from_curve`): each reported level's latency (the curve well inside it)
  and its *effective* capacity (the working set where the curve is halfway to the next level's
  latency, halved: with random access, half the lines of a set twice a cache's size hit it); DRAM
  last.
- **misses in flight** (:func:`measure_misses_in_flight`): 1, 2, 4, ... independent chases through
  DRAM at once; how many of their latencies overlap at best.
- **the clock** (:func:`measure_clock`): a dependent multiply chain, 3 cycles a step, so the
  compute part of an order can be scaled to another machine's clock.

Everything is in :class:`Hierarchy`, stored in the capacity model with where it was measured.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..units import binary_bytes

__all__ = ["CacheLevel", "LatencyPoint", "Level", "Hierarchy", "discover_caches", "measure_curve", "levels_from_curve",
           "measure_misses_in_flight", "measure_clock", "measure_hierarchy", "curve_sizes", "MULTIPLY_CYCLES"]

KIB = 1 << 10
MIB = 1 << 20
MULTIPLY_CYCLES = 3  # latency of a dependent 64-bit multiply on x86-64 (Zen, Golden Cove) and Apple/Neoverse cores
_TARGET_S = 0.02  # each timed chase runs about this long: far above the clock's resolution, short enough to repeat
_SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")


@dataclass(frozen=True)
class CacheLevel:
    """One cache as the operating system reports it (for the first performance core)."""

    name: str  # "L1d", "L2", "L3"
    size_bytes: int  # one instance
    shared_by: int  # logical CPUs sharing that instance (0: not reported)
    line_bytes: int
    source: str  # where the figures were read


@dataclass(frozen=True)
class LatencyPoint:
    """Random-access latency with a working set of ``bytes``: nanoseconds per dependent load."""

    bytes: int
    ns: float  # median of the runs
    low: float
    high: float
    runs: int


@dataclass(frozen=True)
class Level:
    """A level of the hierarchy as the engine sees it: the lines it holds for random access, and the latency of a hit."""

    name: str  # "L1d", "L2", "L3", "SLC", "DRAM"
    capacity_bytes: float  # effective, for random lines (DRAM: inf); per core for private levels, per instance for shared ones
    latency_ns: float
    shared_by: int  # cores sharing one instance (1: private; 0: not known)
    reported_bytes: int  # the size the OS or the vendor gives (DRAM: 0)
    instances: int = 1  # how many of it the machine has (engines spread over them: 4 on 2 L2 clusters are 2 per L2)

    def engines_per_instance(self, engines: int) -> int:
        """How many of ``engines`` engines, spread evenly over the machine, share one instance of this level."""
        if self.shared_by <= 1:
            return 1
        return max(min(-(-max(engines, 1) // max(self.instances, 1)), self.shared_by), 1)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["capacity_bytes"] = None if self.capacity_bytes == float("inf") else self.capacity_bytes
        return out


@dataclass(frozen=True)
class Hierarchy:
    """What the sweep measured of this machine's memory (see the module docstring)."""

    caches: tuple[CacheLevel, ...]
    curve: tuple[LatencyPoint, ...]
    levels: tuple[Level, ...]  # L1d first, DRAM last
    misses_in_flight: float  # per core, at best (DRAM)
    clock_ghz: float  # measured by a dependent multiply chain
    line_bytes: int
    command: str = ""  # the command that measured it

    @property
    def dram_latency_ns(self) -> float:
        return self.levels[-1].latency_ns

    def as_dict(self) -> dict[str, Any]:
        return {
            "caches": [asdict(c) for c in self.caches],
            "curve": [asdict(p) for p in self.curve],
            "levels": [lv.as_dict() for lv in self.levels],
            "misses_in_flight": self.misses_in_flight,
            "clock_ghz": self.clock_ghz,
            "line_bytes": self.line_bytes,
            "command": self.command,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hierarchy:
        """From :meth:`as_dict`, already checked by the model file's schema."""
        return cls(
            caches=tuple(CacheLevel(**c) for c in data["caches"]),
            curve=tuple(LatencyPoint(**p) for p in data["curve"]),
            levels=tuple(Level(**(lv | {"capacity_bytes": float("inf") if lv["capacity_bytes"] is None else lv["capacity_bytes"]}))
                         for lv in data["levels"]),
            misses_in_flight=data["misses_in_flight"],
            clock_ghz=data["clock_ghz"],
            line_bytes=data["line_bytes"],
            command=data.get("command", ""),
        )


# --- cache sizes, per platform ----------------------------------------------------------------------------------


def _parse_size(text: str) -> int:
    """``32K``, ``1024K``, ``32M`` (sysfs) or plain bytes."""
    text = text.strip().upper()
    scale = {"K": KIB, "M": MIB, "G": 1 << 30}.get(text[-1:], 1)
    return int(text[:-1] if scale != 1 else text) * scale


def _cpu_list_count(text: str) -> int:
    """How many CPUs ``0-3,8-11`` names."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def _linux_caches(root: Path = _SYSFS_CACHE) -> tuple[CacheLevel, ...]:
    found = []
    for index in sorted(root.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            if kind not in ("Data", "Unified"):
                continue
            level = int((index / "level").read_text())
            size = _parse_size((index / "size").read_text())
            line = int((index / "coherency_line_size").read_text()) if (index / "coherency_line_size").exists() else 64
            shared = _cpu_list_count((index / "shared_cpu_list").read_text()) if (index / "shared_cpu_list").exists() else 0
        except (OSError, ValueError):
            continue
        found.append(CacheLevel("L1d" if level == 1 else f"L{level}", size, shared, line, f"sysfs {index}"))
    return tuple(sorted(found, key=lambda c: c.name))


def _macos_caches(read: Callable[[str], int | None] | None = None) -> tuple[CacheLevel, ...]:
    """The performance cores' caches (``hw.perflevel0.*`` on Apple silicon), else the machine-wide keys; ``read`` is
    ``sysctl -n`` read as a whole number (:func:`lxdex_capacity.machine.sysctl_int`)."""
    if read is None:
        from ..machine import sysctl_int

        read = sysctl_int
    line = read("hw.cachelinesize") or 64
    found = []
    for name, level in (("L1d", "l1dcachesize"), ("L2", "l2cachesize"), ("L3", "l3cachesize")):
        for key in (f"hw.perflevel0.{level}", f"hw.{level}"):
            size = read(key)
            if size:
                shared = read("hw.perflevel0.cpusperl2") if name == "L2" else (1 if name == "L1d" else 0)
                found.append(CacheLevel(name, size, shared or 0, line, f"sysctl {key}"))
                break
    return tuple(found)


def discover_caches() -> tuple[CacheLevel, ...]:
    """This machine's data caches, smallest first; empty where the platform reports none."""
    if sys.platform == "darwin":
        return _macos_caches()
    if sys.platform.startswith("linux"):
        return _linux_caches()
    return ()


# --- the probes ------------------------------------------------------------------------------------------------


def curve_sizes(caches: Sequence[CacheLevel], largest: int | None = None) -> list[int]:
    """Working sets from 16 KiB to ``largest`` (default: 8x the last cache, at least 512 MiB), two per octave."""
    last = max((c.size_bytes for c in caches), default=32 * MIB)
    top = largest if largest is not None else max(8 * last, 512 * MIB)
    sizes = []
    size = 16 * KIB
    while size <= top:
        sizes.append(size)
        half = int(size * 1.5)
        if half <= top:
            sizes.append(half)
        size *= 2
    return sizes


def _ring(size_bytes: int, line_bytes: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """An int64 array of ``size_bytes`` holding one random cycle through all its lines: each visited word holds
    the index of the next line's first word.  Returns the array and a start index."""
    stride = max(line_bytes // 8, 1)
    lines = max(size_bytes // line_bytes, 2)
    order = rng.permutation(lines).astype(np.int64) * stride
    ring = np.zeros(lines * stride, dtype=np.int64)
    ring[order] = np.roll(order, -1)
    return ring, int(order[0])


def _timed_ns_per_step(call: Callable[[int], object], steps_hint: int, repeats: int) -> list[float]:
    """Time ``call(steps)`` ``repeats`` times with ``steps`` set so that one call lasts about :data:`_TARGET_S`."""
    start = time.perf_counter()
    call(steps_hint)
    first = max(time.perf_counter() - start, 1e-7)
    steps = max(int(steps_hint * _TARGET_S / first), 1_000)
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call(steps)
        times.append((time.perf_counter_ns() - start) / steps)
    return times


def measure_curve(sizes: Sequence[int], line_bytes: int = 64, repeats: int = 5, seed: int = 0,
                  advance: Callable[[str], None] | None = None) -> tuple[LatencyPoint, ...]:
    """Nanoseconds per dependent random load at every working set of ``sizes`` (bytes)."""
    from ._probe_kernels import chase

    rng = np.random.default_rng(seed)
    points = []
    for size in sizes:
        if advance:
            advance(f"latency at {binary_bytes(size)}")
        ring, start = _ring(size, line_bytes, rng)
        chase(ring, start, len(ring) // max(line_bytes // 8, 1))  # every line once, untimed: pages and TLB warm
        times = _timed_ns_per_step(partial(chase, ring, start), 100_000, repeats)
        points.append(LatencyPoint(size, float(np.median(times)), float(min(times)), float(max(times)), repeats))
        del ring
    return tuple(points)


def measure_misses_in_flight(size_bytes: int, line_bytes: int = 64, chains: Sequence[int] = (1, 2, 4, 8, 16, 32),
                             repeats: int = 3, seed: int = 0) -> float:
    """The most DRAM latencies one core overlaps: ``k`` independent chases through ``size_bytes`` at once
    take ``t_k`` per round; ``k * t_1 / t_k`` of them were in flight.  The best over ``chains``."""
    from ._probe_kernels import chase_chains

    rng = np.random.default_rng(seed)
    ring, _ = _ring(size_bytes, line_bytes, rng)
    stride = max(line_bytes // 8, 1)
    lines = len(ring) // stride
    per_round: dict[int, float] = {}
    for k in chains:
        starts = (rng.choice(lines, size=k, replace=False) * stride).astype(np.int64)
        times = _timed_ns_per_step(partial(chase_chains, ring, starts), 20_000, repeats)
        per_round[k] = float(np.median(times))
    one = per_round[chains[0]] / chains[0]
    return max(k * one / t for k, t in per_round.items())


def measure_clock(repeats: int = 5) -> float:
    """GHz, from a dependent multiply chain (:data:`MULTIPLY_CYCLES` cycles a step): the clock the code runs at."""
    from ._probe_kernels import multiply_chain

    times = _timed_ns_per_step(lambda steps: multiply_chain(12345, steps), 1_000_000, repeats)
    return MULTIPLY_CYCLES / float(np.median(times))


def levels_from_curve(caches: Sequence[CacheLevel], curve: Sequence[LatencyPoint]) -> tuple[Level, ...]:
    """Each reported cache level's latency and effective capacity, from the measured curve (module docstring); DRAM last.

    A level's latency is the median of the curve on its plateau, from twice the level before's reported size to a
    quarter of its own (the smallest point for L1); its effective capacity is where the curve, rising, is halfway between its latency and the next
    level's, halved, and never above the size reported.  DRAM's latency is the curve's last point."""
    sizes = np.array([p.bytes for p in curve], dtype=float)
    ns = np.array([p.ns for p in curve], dtype=float)
    ordered = sorted(caches, key=lambda c: c.size_bytes)
    latencies = []
    previous = 0.0
    for c in ordered:
        # The plateau: beyond twice the level before (its lines all gone) and up to a quarter of this one's size.
        plateau = (sizes > 2 * previous) & (sizes <= c.size_bytes / 4)
        inside = sizes <= c.size_bytes / 4
        latencies.append(float(np.median(ns[plateau])) if plateau.any() else float(ns[inside][-1]) if inside.any() else float(ns[0]))
        previous = c.size_bytes
    dram = float(ns[-1])
    cpus = os.cpu_count() or 1
    levels = []
    for i, c in enumerate(ordered):
        nxt = latencies[i + 1] if i + 1 < len(ordered) else dram
        half = (latencies[i] + nxt) / 2
        # The first working set, beyond this level's latency point, where the curve reaches the halfway latency.
        beyond = np.nonzero((ns >= half) & (sizes > c.size_bytes / 8))[0]
        if len(beyond) and latencies[i] < nxt:
            j = int(beyond[0])
            if j > 0 and ns[j] > ns[j - 1]:  # log-linear between the two points around the crossing
                frac = (half - ns[j - 1]) / (ns[j] - ns[j - 1])
                crossing = float(np.exp(np.log(sizes[j - 1]) + frac * (np.log(sizes[j]) - np.log(sizes[j - 1]))))
            else:
                crossing = float(sizes[j])
            capacity = min(crossing / 2, float(c.size_bytes))
        else:
            capacity = float(c.size_bytes)
        shared = 1 if c.name in ("L1d",) else c.shared_by
        levels.append(Level(c.name, capacity, latencies[i], shared, c.size_bytes, max(cpus // shared, 1) if shared > 1 else cpus))
    levels.append(Level("DRAM", float("inf"), dram, 0, 0))
    return tuple(levels)


def measure_hierarchy(repeats: int = 5, largest: int | None = None, advance: Callable[[str], None] | None = None,
                      command: str = "") -> Hierarchy:
    """Everything :class:`Hierarchy` holds, measured on this machine now (about 20 s at the default sizes)."""
    caches = discover_caches()
    line = max((c.line_bytes for c in caches), default=64)
    sizes = curve_sizes(caches, largest)
    if advance:
        advance("compiling the probe's kernels")
    from ._probe_kernels import chase, chase_chains, multiply_chain

    ring, start = _ring(4 * KIB, line, np.random.default_rng(0))
    chase(ring, start, 10)
    chase_chains(ring, np.array([start], dtype=np.int64), 10)
    multiply_chain(1, 10)
    if advance:
        advance("clock")
    clock = measure_clock(repeats)
    curve = measure_curve(sizes, line, repeats, advance=advance)
    levels = levels_from_curve(caches, curve)
    if advance:
        advance("misses in flight")
    mlp = measure_misses_in_flight(sizes[-1] if sizes[-1] <= 256 * MIB else 256 * MIB, line, repeats=max(repeats // 2, 1))
    return Hierarchy(caches, curve, levels, mlp, clock, line, command)

