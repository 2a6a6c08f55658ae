"""The core's own interruptions: what a spinning loop loses to the machine, and the latency floor it sets.

A loop reading the cycle counter back to back sees a gap whenever the core is taken away from it
(a timer or device interrupt, the hypervisor running something else on the physical core).  Every
order arriving during such a gap waits for it to end, however fast the engine, so the gaps set a
floor under the latency percentiles this machine can measure (jHiccup's idea: measure the
platform, not only the program).  For arrivals at uniformly random instants, the wait is the rest of
the gap the instant falls in, so ``P(wait > x) = sum(max(gap - x, 0)) / duration``; its percentiles
are the *floor*: what a zero-time engine would show here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..engine.core import cycles_per_ns
from .statistics import PERCENTILES

__all__ = ["Interruptions", "measure_interruptions", "GAP_THRESHOLD_NS"]

GAP_THRESHOLD_NS = 1_000.0  # a read-to-read step longer than this is an interruption (a read takes ~10-40 ns)
_MAX_GAPS = 1 << 20


@dataclass(frozen=True)
class Interruptions:
    """What a core spinning for ``seconds`` lost to the machine, and the latency floor it implies (ns)."""

    seconds: float
    per_s: float  # interruptions per second
    lost_share: float  # share of the time the loop did not run
    median_ns: float  # median interruption's length
    max_ns: float
    floor: dict[str, float]  # p50_ns..p9999_ns and max_ns a zero-time engine would show for random arrivals

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, gaps_ns: np.ndarray, seconds: float) -> Interruptions:
        """The interruptions ``gaps_ns`` (lengths, ns) seen while spinning for ``seconds``."""
        duration = seconds * 1e9
        floor = {name: _floor_at(gaps_ns, duration, 1.0 - q / 100.0) if len(gaps_ns) else 0.0 for name, q in PERCENTILES}
        floor["max_ns"] = float(gaps_ns.max()) if len(gaps_ns) else 0.0
        return cls(seconds=seconds, per_s=len(gaps_ns) / seconds if seconds > 0 else 0.0,
                   lost_share=min(float(gaps_ns.sum()) / duration, 1.0) if duration > 0 else 0.0,
                   median_ns=float(np.median(gaps_ns)) if len(gaps_ns) else 0.0, max_ns=floor["max_ns"], floor=floor)


def _floor_at(gaps: np.ndarray, duration: float, tail: float) -> float:
    """The wait ``x`` with ``P(wait > x) = tail`` (bisection on the decreasing piecewise-linear tail)."""
    if duration <= 0 or gaps.sum() / duration <= tail:
        return 0.0
    lo, hi = 0.0, float(gaps.max())
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.maximum(gaps - mid, 0.0).sum() / duration > tail:
            lo = mid
        else:
            hi = mid
    return hi


def measure_interruptions(seconds: float = 0.5) -> Interruptions:
    """Spin one core for ``seconds`` and describe the gaps it saw (see the module's docstring)."""
    from . import _kernels as k

    ticks = cycles_per_ns()
    at, gap = np.zeros(_MAX_GAPS, np.int64), np.zeros(_MAX_GAPS, np.int64)
    k.interruptions(1_000, 1 << 62, at[:1], gap[:1])  # compiled (or loaded) before the timed spin
    found = k.interruptions(int(seconds * 1e9 * ticks), int(GAP_THRESHOLD_NS * ticks), at, gap)
    return Interruptions.of(gap[:found] / ticks, seconds)
