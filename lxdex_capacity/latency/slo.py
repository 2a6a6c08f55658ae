"""A latency SLO ("p99 <= 1 µs") and the highest offered rate that meets it on one core.

:func:`parse_slo` reads an SLO as a user writes it: a statistic (``p50``, ``p90``, ``p99``, ``p99.9``
or ``p999``, ``p99.99`` or ``p9999``, ``max``), ``<=`` or ``<``, and a bound with its unit (``ns``,
``us``, ``µs``, ``ms``, ``s``), spaces anywhere between.  A percentile means something only when a run
has a sample beyond it: ``p99.99`` needs at least 10,000 messages per offered run
(:meth:`LatencySLO.samples_needed`), and an SLO a run cannot resolve is refused; so is a bound below
:data:`MIN_BOUND_NS` (1 ns), which the cycle counter (a step of about 10 ns) cannot measure.

:func:`highest_rate` searches a seeded :class:`~lxdex_capacity.latency.harness.LatencyRig` for the
highest offered rate whose latency meets the SLO and which the engine keeps up with (achieved at least
:data:`KEPT_UP_SHARE` of offered).  It first measures, in the same run, the engine's capacity: every message
of a run offered at once, the median of what the runs achieved; no rate above it is searched or reported.
From half the service-time capacity, a geometric ladder (up by 2 while the SLO holds, down by 4 while it
does not), then bisection on the log scale until the bracket [holds, does not] is within ``tolerance``.
Each rate is judged from the interval of the median of its runs (:func:`rate_verdict`; at least
``repeats`` runs, more until decided), each run in its own machine window (:mod:`lxdex_capacity.measure`):
a rate holds when the whole interval is within the bound, fails when it is wholly beyond it or no run kept
up.  A rate measured while the machine was busy decides nothing: the search stops and its verdict is
"too noisy to call"; a rate whose interval straddles the bound does not count as holding, so the rate
reported is one that clearly holds, and two runs on a quiet machine agree.  When even the lowest rate
fails, the answer is 0: no rate meets the SLO here.  This module imports nothing heavy: the rig is passed in.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..measure import Figure, Sample, judge, summarise
from .statistics import samples_needed

if TYPE_CHECKING:
    from .harness import LatencyRig, Percentiles

__all__ = ["estimate_search", "LatencySLO", "SLOPoint", "SLOSearch", "parse_slo", "highest_rate", "STATISTICS", "MAX_BOUND_NS", "MIN_BOUND_NS", "MAX_OFFER_SECONDS", "HIGH_OVER_CAPACITY", "KEPT_UP_SHARE", "run_holds", "point_holds",
           "DEFAULT_MAX_OFFERS", "LOW_OVER_CAPACITY", "run_median", "rate_verdict", "DEFAULT_MIN_RUNS", "MAX_RUNS_PER_RATE",
           "RATE_BUDGET_S", "SATURATED_PER_S"]

# Canonical statistic -> (the Percentiles field, the percentile; None for the max).
STATISTICS: dict[str, tuple[str, float | None]] = {
    "p50": ("p50_ns", 50.0),
    "p90": ("p90_ns", 90.0),
    "p99": ("p99_ns", 99.0),
    "p99.9": ("p999_ns", 99.9),
    "p99.99": ("p9999_ns", 99.99),
    "max": ("max_ns", None),
}
_SPELLINGS = {**{name: name for name in STATISTICS}, "p999": "p99.9", "p9999": "p99.99"}
_UNITS = {"ns": 1.0, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9}  # µ: micro sign and Greek mu
_OPERATORS = {"<=": False, "≤": False, "<": True}
MAX_BOUND_NS = 3_600e9  # an hour: beyond any latency an SLO bounds
# The least bound an SLO may set: the cycle counter resolves about 10 ns, so a bound below 1 ns (or "< 1 ns")
# cannot be told from measurement noise; a search for it would only run to tell so.
MIN_BOUND_NS = 1.0
_TOO_FINE = "below 1 ns cannot be measured (the cycle counter resolves about 10 ns)"
MAX_TEXT = 100
MAX_OFFER_SECONDS = 1.0  # the default lowest rate offers a run in at most this long, unless that is above LOW_OVER_CAPACITY
# The default lowest rate is never above this share of the capacity: a search whose lowest rate is already past the
# capacity would say "no rate meets" without trying one the engine keeps up with (its runs may then take over 1 s).
LOW_OVER_CAPACITY = 0.25
# The default highest rate, as a multiple of the capacity measured one order at a time: an engine taking
# its queue with look-ahead serves more than that (its prefetch hides the misses a lone order waits on).
HIGH_OVER_CAPACITY = 4.0
# A run keeps up when it completes at least this share of the offered rate; one that does not is
# overloaded (its queue grew all run, however short the run makes its latency look): it fails any SLO.
KEPT_UP_SHARE = 0.95
DEFAULT_MAX_OFFERS = 20
_EXAMPLE = "e.g. 'p99<=1us' or 'p99.9 < 250 µs'"
_FORMS = "p50, p90, p99, p99.9 (or p999), p99.99 (or p9999), max"


@dataclass(frozen=True)
class LatencySLO:
    """A bound on one latency statistic: ``statistic`` (canonical: p50, p90, p99, p99.9, p99.99, max)
    at most ``bound_ns`` nanoseconds, or below it when ``strict``."""

    statistic: str
    bound_ns: float
    strict: bool = False

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise InputError(f"statistic={self.statistic!r}: must be one of {', '.join(STATISTICS)}")
        if isinstance(self.bound_ns, bool) or not isinstance(self.bound_ns, (int, float)) or not 0 < self.bound_ns <= MAX_BOUND_NS:
            raise InputError(f"bound_ns={self.bound_ns!r}: must be a number of nanoseconds above 0, at most an hour")
        if self.bound_ns < MIN_BOUND_NS or (self.strict and self.bound_ns <= MIN_BOUND_NS):
            raise InputError(f"bound_ns={self.bound_ns!r}{' (strict)' if self.strict else ''}: a bound {_TOO_FINE}")

    @property
    def field(self) -> str:
        """The :class:`~lxdex_capacity.latency.harness.Percentiles` field the SLO bounds (``p99_ns``, ...)."""
        return STATISTICS[self.statistic][0]

    @property
    def operator(self) -> str:
        return "<" if self.strict else "<="

    @property
    def text(self) -> str:
        """Canonical: ``'p99 <= 1 µs'``, the bound in the largest unit it is at least 1 of."""
        return f"{self.statistic} {self.operator} {duration_text(self.bound_ns)}"

    def __str__(self) -> str:
        return self.text

    def meets(self, value_ns: float) -> bool:
        """Whether a value of the statistic, in nanoseconds, is within the bound."""
        return value_ns < self.bound_ns if self.strict else value_ns <= self.bound_ns

    def value(self, percentiles: Percentiles) -> float:
        """The statistic of ``percentiles``, in nanoseconds."""
        return float(getattr(percentiles, self.field))

    def holds(self, percentiles: Percentiles) -> bool:
        """Whether the latencies summarised by ``percentiles`` meet the SLO."""
        return self.meets(self.value(percentiles))

    def samples_needed(self) -> int:
        """Samples a run needs for the statistic to be resolved: at least one beyond the percentile
        (p99: 100, p99.9: 1,000, p99.99: 10,000; the max and p50 need hardly any)."""
        return samples_needed(STATISTICS[self.statistic][1])

    def check_samples(self, samples: int, option: str = "orders_per_rate", slo_option: str = "slo") -> None:
        """Refuse a run of ``samples`` messages per offer that cannot resolve the statistic (one line, naming the options)."""
        needed = self.samples_needed()
        if samples < needed:
            raise InputError(f"{slo_option}={self.text!r}: {self.statistic} needs at least {needed:,} samples per offered run "
                             f"(one beyond the percentile); {option}={samples:,} offers too few")


def duration_text(ns: float) -> str:
    """``ns`` nanoseconds in the largest unit it is at least 1 of: '800 ns', '1 µs', '2.5 ms', '3 s'."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.6g} {unit}"
    return f"{ns:.6g} ns"


def parse_slo(text: str, option: str = "--latency-slo") -> LatencySLO:
    """``text`` ('p99<=1us', 'p99.9 < 250 µs', ...) as a :class:`LatencySLO`; anything else is one
    :class:`InputError` line naming ``option`` and what is wrong."""
    if not isinstance(text, str):
        raise InputError(f"{option}={text!r}: must be a text, {_EXAMPLE}")
    shown = text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."

    def bad(why: str) -> InputError:
        return InputError(f"{option}={shown!r}: {why}")

    if len(text) > MAX_TEXT:
        raise bad(f"too long (at most {MAX_TEXT} characters), {_EXAMPLE}")
    if not text.strip():
        raise bad(f"empty; write a statistic, <= or < and a bound with its unit, {_EXAMPLE}")
    match = re.fullmatch(r"\s*([^\s<>=≤≥!]*)\s*(<=|≤|<|>=|≥|>|==|=|!=)?\s*(.*?)\s*", text, flags=re.DOTALL)
    assert match is not None  # every text matches: each group may be empty
    statistic, operator, bound = match.groups()
    canonical = _SPELLINGS.get(statistic.lower())
    if canonical is None:
        what = f"unknown statistic {statistic!r}" if statistic else "no statistic"
        raise bad(f"{what}; one of {_FORMS}, {_EXAMPLE}")
    if operator is None:
        raise bad(f"no operator after {statistic!r}; an SLO bounds latency from above with <= or <, {_EXAMPLE}")
    if operator not in _OPERATORS:
        raise bad(f"operator {operator!r}: an SLO bounds latency from above, with <= or <")
    number = re.fullmatch(r"((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(\S*)", bound)
    if number is None:
        raise bad(f"the bound {bound!r} is not a number with a unit, {_EXAMPLE}" if bound else f"no bound after {operator!r}, {_EXAMPLE}")
    value, unit = number.groups()
    if not unit:
        raise bad(f"the bound {value} has no unit; one of ns, us, µs, ms, s")
    scale = _UNITS.get(unit) or _UNITS.get(unit.lower())
    if scale is None:
        raise bad(f"unknown unit {unit!r}; one of ns, us, µs, ms, s")
    bound_ns = float(value) * scale
    if not (math.isfinite(bound_ns) and 0 < bound_ns <= MAX_BOUND_NS):
        raise bad(f"the bound must be above 0 and at most an hour (got {value} {unit})")
    strict = _OPERATORS[operator]
    if bound_ns < MIN_BOUND_NS or (strict and bound_ns <= MIN_BOUND_NS):
        asked = f"{'under' if strict else 'at most'} {value} {unit}"
        raise bad(f"{statistic} {asked}: a bound {_TOO_FINE}; bound it at 1 ns or more")
    return LatencySLO(canonical, bound_ns, strict)


# --- the search ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SLOPoint:
    """One offered rate of a search: the statistic of each run, their median with its interval, and the verdict."""

    rate_per_s: float  # messages offered per second
    values_ns: tuple[float, ...]  # the SLO's statistic of each run, in order
    median_ns: float  # their median (the figure's value; the quiet runs' when some ran on a busy machine)
    holds: bool  # verdict == "holds"
    achieved_per_s: tuple[float, ...] = ()  # each run's achieved rate, in order (none: not recorded)
    verdict: str = "holds"  # holds / fails / too noisy to call (lxdex_capacity.measure.judge, and every run kept up or none did)
    low_ns: float = 0.0  # the interval of the median
    high_ns: float = 0.0
    status: str = "stable"  # the figure's: stable / noisy / disturbed
    reason: str = ""  # why that status
    stop: str = ""  # why its runs stopped


def run_median(values_ns: Sequence[float]) -> float:
    """The median of a rate's runs: the higher middle value when there are two (a search that stopped after
    two runs of three): a measured run, never the mean of two, and the conservative one for latency."""
    return float(statistics.median_high(values_ns))


def run_holds(slo: LatencySLO, rate_per_s: float, value_ns: float, achieved_per_s: float | None) -> bool:
    """Whether one offered run at ``rate_per_s`` meets ``slo``: its statistic does and it kept up."""
    return slo.meets(value_ns) and (achieved_per_s is None or achieved_per_s >= KEPT_UP_SHARE * rate_per_s)


def point_holds(slo: LatencySLO, point: SLOPoint) -> bool:
    """A rate holds when its verdict does (:func:`rate_verdict`)."""
    return point.verdict == "holds"


def rate_verdict(slo: LatencySLO, figure: Figure, rate_per_s: float, achieved_per_s: Sequence[float]) -> str:
    """A rate's verdict from its runs: "fails" when none of its (used) runs kept up with the rate (an overloaded queue
    fails any SLO); "too noisy to call" when some did and some did not, or when the statistic's figure is disturbed;
    otherwise the statistic's figure against the bound (:func:`lxdex_capacity.measure.judge`: the whole interval of
    its median within the bound holds, the whole of it beyond fails, else too noisy to call)."""
    if figure.status == "disturbed":
        return "too noisy to call"
    kept = [achieved_per_s[i] >= KEPT_UP_SHARE * rate_per_s for i in figure.used]
    if not any(kept):
        return "fails"
    if not all(kept):
        return "too noisy to call"
    if slo.strict:  # below the bound: a figure at the bound fails
        return "holds" if figure.high < slo.bound_ns else "fails" if figure.low >= slo.bound_ns else "too noisy to call"
    return judge(figure, "<=", slo.bound_ns)


@dataclass(frozen=True)
class SLOSearch:
    """The highest offered rate that meets an SLO on one core (:func:`highest_rate`)."""

    slo: str  # canonical text, 'p99 <= 1 µs'
    statistic: str
    bound_ns: float
    strict: bool
    rate_per_s: float  # the highest rate tried that meets it, below every rate that fails; 0: none does (or too noisy)
    ceiling_per_s: float | None  # the lowest rate tried above rate_per_s that does not hold; None: none (the capacity holds)
    capacity_per_s: float  # what the engine sustained flat out in this run (every message at once): no rate above it is reported
    low_per_s: float  # the range searched
    high_per_s: float
    markets: int  # of the seeded books
    orders_per_offer: int  # messages per offered run
    cancels_per_order: float  # cancels among those messages, per order
    repeats: int  # runs per rate, at least (more until its verdict is decided, or the budget is spent)
    tolerance: float  # the bracket [rate, ceiling] is within 1 + tolerance, when the offers allowed
    offers: int  # made in all
    seconds: float  # the search took (after seeding)
    points: list[SLOPoint] = field(default_factory=list)  # in the order tried
    outcome: str = "holds"  # holds (a rate meets it), fails (no rate does), too noisy to call (the machine was busy, or no rate decided)
    service_capacity_per_s: float = 0.0  # one over the mean service time of a message alone (the search starts at half of it)
    samples_per_run: int = 0  # messages in each run: the statistic of a run rests on them
    beyond_per_run: int = 0  # of which lie beyond the statistic's percentile (p99 of 20,000: 200)
    capacity: dict[str, Any] | None = None  # the capacity figure (Figure.as_dict)
    reason: str = ""  # why too noisy to call, when it is

    @property
    def met(self) -> bool:
        return self.outcome == "holds" and self.rate_per_s > 0

    @property
    def orders_per_s(self) -> float:
        """The rate found, in orders per second (the messages less the cancels among them)."""
        return self.rate_per_s / (1.0 + self.cancels_per_order)

    @property
    def lowest(self) -> SLOPoint | None:
        """The lowest rate tried (when none meets the SLO: how far off it is there)."""
        return min(self.points, key=lambda p: p.rate_per_s, default=None)

    def summary(self) -> str:
        """One sentence: the rate found, or that none meets the SLO, or that the machine was too noisy to tell."""
        beyond = f"{self.beyond_per_run:,} beyond the {self.statistic}" if self.statistic != "max" else "the max"
        runs = (f"the median of at least {self.repeats} runs of {self.orders_per_offer:,} messages ({beyond} in each), one core, "
                f"{self.markets:,} markets")
        if self.outcome == "too noisy to call":
            return f"{self.slo}: too noisy to call on this machine ({self.reason}; {runs})"
        low = self.lowest
        if not self.met or low is None:
            worst = (f": even at {low.rate_per_s:,.0f} messages/s, the lowest rate tried, its {self.statistic} was "
                     f"{duration_text(low.median_ns)}" if low is not None else "")
            return f"no rate meets {self.slo} on this machine{worst} ({runs})"
        above = (f", {self.ceiling_per_s:,.0f}/s does not" if self.ceiling_per_s is not None
                 else f" (the capacity measured in the same run, {self.capacity_per_s:,.0f}/s)")
        return f"{self.slo} holds up to {self.rate_per_s:,.0f} messages/s{above} ({runs})"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["points"] = [asdict(p) | {"values_ns": list(p.values_ns), "achieved_per_s": list(p.achieved_per_s)} for p in self.points]
        return d | {"met": self.met, "orders_per_s": self.orders_per_s}


# Messages per offered run, by default.  The machine stalls now and then for a millisecond or more (a VM's host,
# an interrupt storm); a run of 20,000 messages lasts ~10 ms at 2M/s, so one stall decides its p99 and the runs'
# p99s spread by 40% or more, and two searches on a quiet machine disagreed fivefold.  Runs of 200,000 last
# ~100 ms: a stall still spoils a run now and then, but the median of the runs no longer follows it.
DEFAULT_MESSAGES_PER_RUN = 200_000
DEFAULT_MIN_RUNS = 5  # runs per rate before its verdict is looked at (five: the range covers the median with 93.75%)
MAX_RUNS_PER_RATE = 15
RATE_BUDGET_S = 10.0  # seconds of runs per rate, at most (three runs always)
SATURATED_PER_S = 1e10  # the capacity run offers every message at (once: they are all waiting)


def estimate_search(markets_seeded_s: float, messages: int, engine_ns: float, repeats: int = DEFAULT_MIN_RUNS,
                    tolerance: float = 0.1, max_offers: int = DEFAULT_MAX_OFFERS * DEFAULT_MIN_RUNS,
                    budget_s: float = RATE_BUDGET_S) -> Any:
    """The :class:`~lxdex_capacity.time_guard.Estimate` of :func:`highest_rate` on a rig whose books take
    ``markets_seeded_s`` to seed, offering ``messages`` a run to an engine of ``engine_ns`` a message: the service
    times, the capacity's ``repeats`` runs flat out, then the bisection's rates (from capacity / 1,024 up to it, to
    ``tolerance``), each run as long as its offer (at most :data:`MAX_OFFER_SECONDS` at the lowest rate) or its
    serving, as many runs as each rate's policy allows, at most ``max_offers`` offers in all."""
    from ..measure import RepeatPolicy
    from ..time_guard import Estimate, runs_of

    serving = messages * engine_ns / 1e9
    offer = max(min(1024 * serving, MAX_OFFER_SECONDS), serving)
    rates = math.ceil(math.log2(math.log(1024) / math.log1p(tolerance))) + 2
    policy = RepeatPolicy(warmup=1, min_repeats=repeats, max_repeats=max(repeats, MAX_RUNS_PER_RATE), budget_s=budget_s)
    offers = min(max_offers, rates * runs_of(policy, offer))
    seconds = markets_seeded_s + serving + (repeats + 1) * serving + offers * offer
    return Estimate(seconds, f"searching for the SLO's rate (~{offers} runs of up to ~{offer:.2g} s, {messages:,} messages each)")


def highest_rate(rig: LatencyRig, slo: LatencySLO, *, low: float | None = None, high: float | None = None, repeats: int = DEFAULT_MIN_RUNS,
                 tolerance: float = 0.1, max_offers: int = DEFAULT_MAX_OFFERS * DEFAULT_MIN_RUNS,
                 progress: Callable[[int, int, str], None] | None = None, budget_s: float = RATE_BUDGET_S) -> SLOSearch:
    """The highest rate (messages per second) at which ``rig``'s latency meets ``slo`` (see the module docstring).

    First the capacity, in the same run: every message offered at once (:data:`SATURATED_PER_S`), ``repeats``
    runs, the median of what they achieved; no rate above it is searched or reported.  Each rate then gets at
    least ``repeats`` runs, each in its own machine window, more (up to :data:`MAX_RUNS_PER_RATE`, within
    ``budget_s``) until its verdict is decided (:func:`rate_verdict`).  A rate whose verdict is "too noisy to
    call" because the machine was busy ends the search: its verdict is too noisy to call, never a hold or a
    fail; one that straddles the bound counts as not holding (the rate reported holds clearly).

    ``low`` defaults to the larger of the capacity / 1,024 and the rate that offers a run in
    :data:`MAX_OFFER_SECONDS`, but never above :data:`LOW_OVER_CAPACITY` x the capacity; ``high`` to the capacity
    (at most :data:`HIGH_OVER_CAPACITY` x the service-time capacity).  ``progress(done, total, what)`` is called
    before each run."""
    from ..measure import RepeatPolicy, run_repeats

    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_RUNS_PER_RATE:
        raise InputError(f"repeats={repeats!r}: must be a number of runs from 1 to {MAX_RUNS_PER_RATE}")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and 0.001 <= tolerance <= 10):
        raise InputError(f"tolerance={tolerance!r}: must be from 0.001 to 10 (the bracket's width, as a share of the rate)")
    if isinstance(max_offers, bool) or not isinstance(max_offers, int) or not repeats <= max_offers <= 100_000:
        raise InputError(f"max_offers={max_offers!r}: must be from repeats ({repeats}) to 100,000")
    for name, value in (("low", low), ("high", high)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 1e12):
            raise InputError(f"{name}={value!r}: must be a rate above 0, at most 10^12 per second")
    slo.check_samples(rig.orders_per_rate)
    advance = progress or (lambda done, total, what: None)
    started = time.monotonic()
    policy = RepeatPolicy(warmup=1, min_repeats=repeats, max_repeats=max(repeats, MAX_RUNS_PER_RATE), budget_s=budget_s)
    offers = 0
    advance(0, max_offers, "service time")
    service = rig.service().capacity_per_s

    def saturated(_i: int) -> dict[str, float]:
        nonlocal offers
        offers += 1
        point = rig.offer(SATURATED_PER_S)
        return {"achieved_per_s": float(point.achieved_per_s)}

    advance(0, max_offers, "capacity: every message at once")
    flat_out = run_repeats(saturated, RepeatPolicy(repeats=repeats, warmup=1))
    capacity_figure = flat_out.figure("achieved_per_s", "messages/s", label="capacity_per_s")
    capacity = capacity_figure.value
    ceiling = min(capacity, HIGH_OVER_CAPACITY * service) if service > 0 else capacity
    high = min(high, ceiling) if high is not None else ceiling
    high = max(high, 1.0)
    if low is None:
        low = max(capacity / 1024.0, rig.orders_per_rate / MAX_OFFER_SECONDS)
        if capacity > 0:  # a rate the engine keeps up with is always tried
            low = min(low, LOW_OVER_CAPACITY * capacity)
    low = min(low, high)
    points: list[SLOPoint] = []
    noisy_reason = ""

    def judge_rate(rate: float) -> str:
        nonlocal offers
        runs: list[tuple[float, float]] = []

        def measure(i: int) -> Sample:
            nonlocal offers
            advance(min(offers, max_offers), max_offers, f"{rate:,.0f}/s offered, run {len(runs) + 1}")
            offers += 1
            point = rig.offer(rate)
            if i >= 0:
                runs.append((slo.value(point.latency), float(point.achieved_per_s)))
            return Sample({"value": slo.value(point.latency), "achieved": float(point.achieved_per_s)},
                          spin_lost_share=point.lost_share if point.spin_s >= 0.01 else None)

        def decided(values: list[dict[str, float]], states: list[Any]) -> str | None:
            figure = summarise(slo.statistic, "ns", [v["value"] for v in values], states, better="lower")
            verdict = rate_verdict(slo, figure, rate, [v["achieved"] for v in values])
            return f"{verdict}" if verdict != "too noisy to call" else None

        repeated = run_repeats(measure, policy, until=decided)
        figure = repeated.figure("value", "ns", better="lower", label=f"{slo.statistic} at {rate:,.0f}/s")
        achieved = tuple(v["achieved"] for v in repeated.values)
        verdict = rate_verdict(slo, figure, rate, achieved)
        points.append(SLOPoint(float(rate), tuple(v["value"] for v in repeated.values), figure.value, verdict == "holds", achieved,
                               verdict=verdict, low_ns=figure.low, high_ns=figure.high, status=figure.status, reason=figure.reason,
                               stop=repeated.stop))
        return "disturbed" if figure.status == "disturbed" else verdict

    def room() -> bool:  # offers left for a whole rate
        return max_offers - offers >= repeats

    good: float | None = None  # the highest rate that holds, below every rate that does not
    bad: float | None = None  # the lowest rate that does not hold
    busy = False
    rate = min(max(service / 2.0, low), high)
    outcome = judge_rate(rate)
    if outcome == "disturbed":
        busy = True
    elif outcome == "holds":
        good = rate
        while rate < high and room():
            rate = min(rate * 2.0, high)
            outcome = judge_rate(rate)
            if outcome == "disturbed":
                busy = True
                break
            if outcome == "holds":
                good = rate
            else:
                bad = rate
                break
    else:
        bad = rate
        while rate > low and room():
            rate = max(rate / 4.0, low)
            outcome = judge_rate(rate)
            if outcome == "disturbed":
                busy = True
                break
            if outcome == "holds":
                good = rate
                break
            bad = rate
    while not busy and good is not None and bad is not None and bad / good > 1.0 + tolerance and room():
        mid = math.sqrt(good * bad)
        outcome = judge_rate(mid)
        if outcome == "disturbed":
            busy = True
        elif outcome == "holds":
            good = mid
        else:
            bad = mid
    advance(max_offers, max_offers, "done")
    if capacity_figure.status == "disturbed" or busy:
        verdict = "too noisy to call"
        disturbed = next((p for p in points if p.status == "disturbed"), None)
        noisy_reason = disturbed.reason if disturbed is not None else capacity_figure.reason
    elif good is not None:
        verdict = "holds"
    elif any(p.verdict == "fails" for p in points):
        verdict = "fails"
    else:
        verdict, noisy_reason = "too noisy to call", "no rate tried could be told to hold or fail within its runs"
    rate_found = good if (good is not None and verdict == "holds") else 0.0
    assert rate_found <= capacity or capacity == 0, "a rate above the capacity measured in the same run"
    per_run = rig.orders_per_rate
    percentile = STATISTICS[slo.statistic][1]
    beyond = int(per_run * (100.0 - percentile) / 100.0) if percentile is not None else 1
    return SLOSearch(slo=slo.text, statistic=slo.statistic, bound_ns=slo.bound_ns, strict=slo.strict,
                     rate_per_s=rate_found, ceiling_per_s=bad, capacity_per_s=float(capacity), low_per_s=float(low),
                     high_per_s=float(high), markets=rig.scenario.markets, orders_per_offer=per_run,
                     cancels_per_order=float(rig.cancels_per_order), repeats=repeats, tolerance=float(tolerance), offers=offers,
                     seconds=time.monotonic() - started, points=points, outcome=verdict, service_capacity_per_s=float(service),
                     samples_per_run=per_run, beyond_per_run=beyond, capacity=capacity_figure.as_dict(), reason=noisy_reason)
