"""A measured figure as pyperf and hyperfine give one: the median of repeats, the interval of that median,
the spread, the outliers, and whether the machine was quiet while it was taken.

:func:`summarise` turns a figure's repeats (each with the :class:`~.state.MachineState` of its window)
into a :class:`Figure`:

* the repeats taken while the machine was busy (:meth:`~.state.MachineState.busy_reasons`) are left
  out when most repeats were quiet: the figure is then the quiet machine's, and says how many it
  left out; when most were busy, every repeat counts and the figure is **disturbed**;
* ``value`` is the median of the repeats used, ``low``..``high`` its distribution-free interval
  (:func:`median_interval`: the order statistics around the median covering it with at least 95%,
  or the range when too few repeats allow that: five give 93.75%);
* ``cv`` is the spread (standard deviation over mean); above :data:`NOISY_CV` (10%, pyperf's
  threshold for an unstable benchmark) the figure is **noisy**, otherwise **stable**; fewer than
  :data:`MIN_SPREAD_REPEATS` repeats say nothing of the spread, so such a figure is noisy too;
* ``outliers`` name the repeats whose modified z-score (MAD-based, Iglewicz and Hoaglin) is above
  :data:`OUTLIER_Z`: kept (the median does not care), but named.

A figure that is not a time (bytes counted exactly) is ``timed=False``: the machine's state does not
touch it, and it is stable when its repeats agree.

:func:`judge` compares a figure with a target, from its interval, in three ways: **holds** (the whole
interval on the target's side), **fails** (the whole interval on the other side), or **too noisy to
call** (it straddles the target, too few repeats make an interval, or the figure is disturbed): a
figure measured on a busy machine is never a hold or a fail.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .state import MachineState, combine

__all__ = ["Figure", "summarise", "judge", "median_interval", "VERDICTS", "STATUSES", "NOISY_CV", "OUTLIER_Z", "MIN_SPREAD_REPEATS", "exact",
           "figure_from_dict", "as_figures"]

NOISY_CV = 0.10  # standard deviation over mean above which a figure is noisy (pyperf warns at 10%)
OUTLIER_Z = 3.5  # modified z-score (0.6745 |x - median| / MAD) above which a repeat is named an outlier
MIN_SPREAD_REPEATS = 3  # fewer repeats say nothing of the spread, and decide no verdict (3 give the range at 75%)
INTERVAL_LEVEL = 0.95
STATUSES = ("stable", "noisy", "disturbed")
VERDICTS = ("holds", "fails", "too noisy to call")
Status = Literal["stable", "noisy", "disturbed"]


def median_interval(samples: Sequence[float], level: float = INTERVAL_LEVEL) -> tuple[float, float, float, float]:
    """(median, low, high, coverage) of ``samples``: the order statistics ``x(k)`` and ``x(n+1-k)`` around
    the median, ``k`` the largest whose distribution-free coverage of the true median is at least
    ``level``, or ``k = 1`` (the minimum and maximum) when none is: 5 samples give 1 - 2/2^5 = 93.75%,
    6 give 96.9%, 9 give x(2)..x(8) at 96.1%.  ``coverage`` is that interval's exact coverage."""
    xs = sorted(float(x) for x in samples)
    n = len(xs)
    if n == 0:
        raise ValueError("no samples")

    def coverage(k: int) -> float:  # P(x(k) <= median < x(n+1-k)) = 1 - 2 P(Binomial(n, 1/2) <= k - 1)
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(k)) / 2.0**n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= level:
        k += 1
    return statistics.median(xs), xs[k - 1], xs[n - k], max(coverage(k), 0.0)


@dataclass(frozen=True)
class Figure:
    """One figure: the median of its repeats with the interval of that median, its spread and the machine's state."""

    name: str  # what it is ("seeded_flow.orders_per_s", "p99_ns at 1,000,000/s")
    unit: str  # "orders/s", "ns", "B"
    better: Literal["higher", "lower"]  # which way is faster (compare's "faster"/"slower")
    value: float  # the median of the repeats used
    low: float  # the interval of that median
    high: float
    confidence: float  # the interval's coverage of the true median (0.9375 for the range of 5)
    cv: float  # standard deviation over mean of the repeats used (0 for one repeat)
    samples: tuple[float, ...]  # every recorded repeat, in order
    used: tuple[int, ...]  # the repeats the figure is computed from: the quiet ones, or all when most were busy
    disturbed: tuple[int, ...]  # repeats taken while the machine was busy
    outliers: tuple[int, ...]  # repeats far from the median (modified z-score above OUTLIER_Z)
    status: Status
    reason: str  # why that status, one phrase
    timed: bool = True  # a time or a rate (the machine's state matters); False: counted exactly (bytes)
    machine: MachineState | None = None  # over every repeat's window
    busy_reasons: tuple[str, ...] = ()  # what made the machine busy, over the disturbed repeats' windows
    stop: str = ""  # why repeating stopped
    warmup: int = 0  # unrecorded repeats before the first
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def repeats(self) -> int:
        return len(self.samples)

    @property
    def half_width(self) -> float:
        """The interval's larger distance from the median, as a share of it (0.05: within ±5%)."""
        if self.value == 0:
            return 0.0 if self.low == self.high == 0 else math.inf
        return max(self.value - self.low, self.high - self.value) / abs(self.value)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "better": self.better, "value": self.value, "low": self.low, "high": self.high,
                "confidence": self.confidence, "cv": self.cv, "repeats": self.repeats, "samples": list(self.samples),
                "used": list(self.used), "disturbed": list(self.disturbed), "outliers": list(self.outliers), "status": self.status,
                "reason": self.reason, "timed": self.timed, "machine": self.machine.as_dict() if self.machine else None,
                "busy_reasons": list(self.busy_reasons), "stop": self.stop, "warmup": self.warmup} | self.extra


_FIELDS = ("name", "unit", "better", "value", "low", "high", "confidence", "cv", "status", "reason", "timed", "stop", "warmup")


def figure_from_dict(data: Mapping[str, Any]) -> Figure:
    """A :class:`Figure` from its :meth:`Figure.as_dict` (a saved result's); the caller has validated the record."""
    from .state import MachineState

    machine = data.get("machine")
    state = None
    if isinstance(machine, Mapping):
        names = MachineState.__dataclass_fields__
        state = MachineState(**{k: v for k, v in machine.items() if k in names})
    known = set(_FIELDS) | {"samples", "used", "disturbed", "outliers", "machine", "busy_reasons", "repeats"}
    return Figure(**{k: data[k] for k in _FIELDS if k in data}, samples=tuple(data.get("samples", ())), used=tuple(data.get("used", ())),
                  disturbed=tuple(data.get("disturbed", ())), outliers=tuple(data.get("outliers", ())), machine=state,
                  busy_reasons=tuple(data.get("busy_reasons", ())), extra={k: v for k, v in data.items() if k not in known})


def as_figures(figures: Any) -> list[Figure]:
    """``figures`` (Figures or their dicts, in a list or as a mapping's values) as a list of :class:`Figure`."""
    items = figures.values() if isinstance(figures, Mapping) else figures
    return [f if isinstance(f, Figure) else figure_from_dict(f) for f in items]


def _outliers(xs: Sequence[float], at: Sequence[int]) -> tuple[int, ...]:
    if len(xs) < MIN_SPREAD_REPEATS:
        return ()
    median = statistics.median(xs)
    mad = statistics.median(abs(x - median) for x in xs)
    if mad == 0:
        return ()
    return tuple(i for i, x in zip(at, xs, strict=True) if 0.6745 * abs(x - median) / mad > OUTLIER_Z)


def _cv(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mean = statistics.fmean(xs)
    return statistics.stdev(xs) / abs(mean) if mean else (0.0 if not any(xs) else math.inf)


def summarise(name: str, unit: str, samples: Sequence[float], states: Sequence[MachineState | None] = (), *,
              better: Literal["higher", "lower"] = "higher", timed: bool = True, stop: str = "", warmup: int = 0,
              extra: dict[str, Any] | None = None) -> Figure:
    """The figure of ``samples`` (one per repeat, in order), each measured in the window ``states[i]`` (see the
    module's docstring).  Every sample must be a finite number."""
    xs = [float(x) for x in samples]
    if not xs:
        raise ValueError(f"{name}: no repeats")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"{name}: a repeat is not a finite number")
    windows = list(states) + [None] * (len(xs) - len(states))
    busy = tuple(i for i, s in enumerate(windows) if timed and s is not None and s.busy)
    quiet = [i for i in range(len(xs)) if i not in busy]
    mostly_busy = len(busy) > 0 and len(quiet) < max(1, math.ceil(len(xs) / 2), min(MIN_SPREAD_REPEATS, len(xs)))
    used = tuple(range(len(xs))) if mostly_busy else tuple(quiet)
    # Windows too short for /proc/stat's ticks can each look quiet while together they were not: judge the quiet
    # repeats' windows as one too.
    together = combine([s for i, s in enumerate(windows) if s is not None and i in used]) if timed else None
    if not mostly_busy and together is not None and together.busy:
        mostly_busy, busy = True, tuple(used)
        used = tuple(range(len(xs)))
    values = [xs[i] for i in used]
    median, low, high, coverage = median_interval(values)
    cv = _cv(values)
    reasons: list[str] = []
    for i in busy:
        state = windows[i]
        assert state is not None
        reasons += [r for r in state.busy_reasons() if r not in reasons]
    busy_states = [windows[i] for i in busy]
    if mostly_busy:
        status: Status = "disturbed"
        worst = combine([s for s in busy_states if s is not None])
        what = "; ".join(worst.busy_reasons()) if worst is not None and worst.busy_reasons() else "; ".join(reasons[:2])
        reason = f"the machine was busy during {len(busy)} of {len(xs)} repeats ({what})"
    elif not timed:
        status, reason = ("stable", "counted exactly") if low == high else ("noisy", f"the repeats differ (CV {cv:.1%})")
    elif len(values) < MIN_SPREAD_REPEATS:
        status, reason = "noisy", f"{len(values)} repeat{'s' if len(values) != 1 else ''}: too few to know the spread"
    elif cv > NOISY_CV:
        status, reason = "noisy", f"the repeats spread by CV {cv:.1%}, above {NOISY_CV:.0%}"
    else:
        status, reason = "stable", f"CV {cv:.1%} over {len(values)} repeats"
    if busy and not mostly_busy:
        reason += f"; {len(busy)} repeat{'s' if len(busy) != 1 else ''} taken while the machine was busy left out"
    return Figure(name=name, unit=unit, better=better, value=median, low=low, high=high, confidence=coverage, cv=cv,
                  samples=tuple(xs), used=used, disturbed=busy, outliers=_outliers(values, used), status=status, reason=reason,
                  timed=timed, machine=combine([s for s in windows if s is not None]), busy_reasons=tuple(reasons), stop=stop,
                  warmup=warmup, extra=dict(extra or {}))


def exact(name: str, unit: str, value: float, *, better: Literal["higher", "lower"] = "lower") -> Figure:
    """A figure counted, not timed: one value, its own interval."""
    return summarise(name, unit, [value], better=better, timed=False, stop="counted exactly")


def judge(figure: Figure, op: str, target: float) -> str:
    """``figure op target`` (``">="`` or ``"<="``) from the figure's interval: holds, fails or too noisy to call (see the
    module's docstring)."""
    if op not in (">=", "<="):
        raise ValueError(f"op={op!r}: '>=' or '<='")
    if figure.status == "disturbed":
        return "too noisy to call"
    if figure.timed and len(figure.used) < MIN_SPREAD_REPEATS:
        return "too noisy to call"
    if op == ">=":
        return "holds" if figure.low >= target else "fails" if figure.high < target else "too noisy to call"
    return "holds" if figure.high <= target else "fails" if figure.low > target else "too noisy to call"
