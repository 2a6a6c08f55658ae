"""Repeats that adapt: warm up, then repeat a measurement in its own machine window until its figures'
intervals are tight, the time budget is spent, or the repeats asked for are done, and say which.

:func:`run_repeats` calls ``measure(i)`` for the warm-up runs (``i`` from ``-warmup`` to ``-1``, not
recorded), then for ``i = 0, 1, ...``; each call returns the figures of one repeat (a mapping of
name to value, or a :class:`Sample` when the repeat also knows what its own spin lost to
interruptions).  Each recorded call runs inside a :func:`~.state.open_window` window.

With :attr:`RepeatPolicy.repeats` set, exactly that many repeats are recorded.  Otherwise (the
default) at least :attr:`~RepeatPolicy.min_repeats` quiet repeats are taken, then more until every
*primary* figure's interval is within :attr:`~RepeatPolicy.tight` of its median (``0.05``: ±5%), or
:attr:`~RepeatPolicy.budget_s` seconds have been spent (but never before three repeats, the fewest that
make an interval), or :attr:`~RepeatPolicy.max_repeats` are
recorded.  Repeats taken while the machine was busy do not count towards the quiet ones; the budget
bounds how long a busy machine is waited out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import InputError
from .figure import MIN_SPREAD_REPEATS, Figure, summarise
from .state import MachineState, open_window

__all__ = ["RepeatPolicy", "Sample", "Repeated", "run_repeats", "DEFAULT_TIGHT", "DEFAULT_MIN_REPEATS", "MAX_REPEATS"]

DEFAULT_TIGHT = 0.05  # the interval's half-width, as a share of the median, at which adaptive repeats stop
DEFAULT_MIN_REPEATS = 5  # quiet repeats before the interval is looked at: five give the range at 93.75%
MAX_REPEATS = 1000


@dataclass(frozen=True)
class RepeatPolicy:
    """How many repeats: exactly ``repeats``, or adaptive (``repeats=None``) within ``budget_s`` seconds."""

    repeats: int | None = None
    warmup: int = 1
    min_repeats: int = DEFAULT_MIN_REPEATS
    max_repeats: int = 30
    budget_s: float = 60.0
    tight: float = DEFAULT_TIGHT

    def __post_init__(self) -> None:
        if self.repeats is not None and not 1 <= self.repeats <= MAX_REPEATS:
            raise InputError(f"repeats={self.repeats!r}: from 1 to {MAX_REPEATS:,}")
        if not 0 <= self.warmup <= 100:
            raise InputError(f"warmup={self.warmup!r}: from 0 to 100")
        if not 1 <= self.min_repeats <= self.max_repeats <= MAX_REPEATS:
            raise InputError(f"min_repeats={self.min_repeats!r}, max_repeats={self.max_repeats!r}: 1 <= min <= max <= {MAX_REPEATS:,}")
        if not (math.isfinite(self.budget_s) and 0 < self.budget_s <= 86_400):
            raise InputError(f"budget_s={self.budget_s!r}: above 0, at most a day")
        if not (math.isfinite(self.tight) and 0 < self.tight < 1):
            raise InputError(f"tight={self.tight!r}: a share above 0 and below 1")

    @property
    def most(self) -> int:
        """The most repeats this policy records."""
        return self.repeats if self.repeats is not None else self.max_repeats

    def describe(self) -> str:
        if self.repeats is not None:
            return f"{self.repeats} repeat{'s' if self.repeats != 1 else ''} as asked"
        return (f"adaptive: at least {self.min_repeats} quiet repeats, until every interval is within ±{self.tight:.0%}, "
                f"{self.budget_s:g} s or {self.max_repeats} repeats")


@dataclass(frozen=True)
class Sample:
    """One repeat's figures, and what a spin on the measured core lost meanwhile (latency runs), if known."""

    values: Mapping[str, float]
    spin_lost_share: float | None = None


@dataclass(frozen=True)
class Repeated:
    """Every recorded repeat's figures and window, and why repeating stopped."""

    values: list[dict[str, float]]
    states: list[MachineState]
    stop: str
    warmup: int
    seconds: float
    extras: list[object] = field(default_factory=list)  # what each repeat's measure returned besides its figures

    def figure(self, name: str, unit: str, *, better: Literal["higher", "lower"] = "higher", timed: bool = True,
               label: str | None = None) -> Figure:
        """The figure ``name`` over the repeats (see :func:`~.figure.summarise`)."""
        return summarise(label or name, unit, [v[name] for v in self.values], self.states, better=better, timed=timed, stop=self.stop,
                         warmup=self.warmup)


def _tight_enough(repeated: list[dict[str, float]], states: list[MachineState], primary: Sequence[str], policy: RepeatPolicy) -> bool:
    for name in primary:
        figure = summarise(name, "", [v[name] for v in repeated], states, stop="")
        if figure.status == "disturbed" or len(figure.used) < policy.min_repeats or figure.half_width > policy.tight:
            return False
    return True


def run_repeats(measure: Callable[[int], Mapping[str, float] | Sample], policy: RepeatPolicy, primary: Sequence[str] = (),
                progress: Callable[[int, int, str], None] | None = None, what: str = "repeat",
                until: Callable[[list[dict[str, float]], list[MachineState]], str | None] | None = None) -> Repeated:
    """Warm up, then repeat ``measure`` as ``policy`` says (see the module's docstring); ``primary``: the figures
    whose intervals decide when adaptive repeats stop (default: every figure).  ``until(values, states)``, if
    given, replaces that rule for adaptive repeats: once ``min_repeats`` are recorded they stop as soon as it
    returns a reason (a verdict decided, say), else at the budget or ``max_repeats``.  ``progress(done, total,
    text)`` is called before each call."""
    advance = progress or (lambda done, total, text: None)
    for w in range(policy.warmup):
        advance(0, policy.most, f"{what}: warm-up {w + 1}/{policy.warmup}")
        measure(-policy.warmup + w)
    started = time.monotonic()
    values: list[dict[str, float]] = []
    states: list[MachineState] = []
    while True:
        advance(len(values), policy.most, f"{what}: repeat {len(values) + 1}")
        window = open_window()
        got = measure(len(values))
        sample = got if isinstance(got, Sample) else Sample(got)
        states.append(window.close(sample.spin_lost_share))
        values.append({k: float(v) for k, v in sample.values.items()})
        n = len(values)
        spent = time.monotonic() - started
        if policy.repeats is not None:
            if n >= policy.repeats:
                stop = f"{n} repeat{'s' if n != 1 else ''} as asked"
                break
            continue
        names = list(primary) or list(values[0])
        if until is not None:
            if n >= policy.min_repeats and (reason := until(values, states)):
                stop = f"{reason} after {n} repeats"
                break
        elif n >= policy.min_repeats and _tight_enough(values, states, names, policy):
            stop = f"every interval within ±{policy.tight:.0%} after {n} repeats"
            break
        short = "undecided" if until is not None else f"intervals not all within ±{policy.tight:.0%}"
        if spent >= policy.budget_s and n >= min(MIN_SPREAD_REPEATS, policy.min_repeats):
            stop = f"time budget of {policy.budget_s:g} s spent after {n} repeat{'s' if n != 1 else ''}, {short}"
            break
        if n >= policy.max_repeats:
            stop = f"{n} repeats, the most allowed, {short}"
            break
    advance(len(values), len(values), f"{what}: done")
    return Repeated(values, states, stop, policy.warmup, time.monotonic() - started)
