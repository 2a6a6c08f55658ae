"""The time guard: a command whose work grows with its inputs estimates its whole run before it starts, and
refuses, naming the estimate and its basis, when that is beyond the time allowed (``--max-time``, default
:data:`DEFAULT_MAX_TIME_S`), as :mod:`lxdex_capacity.memory_guard` refuses a run that would not fit.

The bound is a refusal before starting only: estimates are rough (a busy machine runs slower), so a run that
goes past its estimate is never stopped.  The estimate is a sum of the project's own cost figures, each scaled
to this machine's clock where both clocks are known:

* the engine's time per order at a number of markets: the reference model's orders/s per core
  (``capacity/data/reference_model.json``, :meth:`~lxdex_capacity.capacity.model.CapacityModel.orders_per_s_per_core`);
* what a simulation adds around the engine, per seeded order, per flow order and per market, and its fixed
  start (:data:`SIMULATION_COSTS`), measured on the reference machine (``bench/time_estimate_bench.py`` prints the
  estimate against a measured run);
* a LOBSTER day's bytes read and replayed a second (:data:`REPLAY_BYTES_PER_S`);
* a repeated measurement's runs, from its :class:`~lxdex_capacity.measure.RepeatPolicy` (:func:`runs_of`);
* the measurements' own duration formulas (a latency run's ``messages / rate``), which live with them.

The default limit, an hour, is longer than any documented run (the reference sweep's longest point, 10
million markets, takes about a minute; a default ``lxdex report``, a few minutes) and short enough that a
mistyped size (an extra zero, a rate per second read as per day) is refused before an afternoon is lost.
``--max-time 3h`` allows more, ``--max-time none`` any time.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import CapacityError, InputError
from .units import duration_words

if TYPE_CHECKING:
    from .measure import RepeatPolicy
    from .scenarios.config import Scenario

__all__ = ["REPLAY_BYTES_PER_S", "shown", "check", "flow_orders", "seeding_seconds", "DEFAULT_MAX_TIME_S", "DEFAULT_MAX_TIME", "MAX_TIME_OPTION", "parse_max_time", "refuse_unless_it_ends",
           "Estimate", "SimulationCosts", "SIMULATION_COSTS", "engine_ns_per_order", "clock_scale", "runs_of", "simulation_estimate"]

DEFAULT_MAX_TIME_S = 3600.0
DEFAULT_MAX_TIME = "1h"
MAX_TIME_OPTION = "--max-time"
MAX_LIMIT_S = 10 * 365 * 86_400.0  # ten years: a larger limit is a typo, not a plan; 'none' means no limit
_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0}
_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>[a-z]*)")


def parse_max_time(text: str, option: str = MAX_TIME_OPTION) -> float | None:
    """Seconds allowed, from ``90``, ``90s``, ``30m``, ``3h``, ``1.5h``, ``2d``; ``none`` (or ``inf``): no limit (None).
    Anything else is one :class:`InputError` naming ``option``."""
    spelled = text.strip().lower()
    if spelled in ("none", "inf", "unlimited"):
        return None
    match = _DURATION.fullmatch(spelled) if spelled.isascii() else None
    if match is None or match["unit"] not in ("", *_UNITS):
        raise InputError(f"{option}={text!r}: must be a duration such as 90s, 30m, 3h or 2d (a bare number is seconds), or 'none'")
    seconds = float(match["number"]) * _UNITS.get(match["unit"], 1.0)
    if not 0 < seconds <= MAX_LIMIT_S:
        raise InputError(f"{option}={text!r}: must be above 0 and at most {MAX_LIMIT_S / (365 * 86_400):.0f} years; "
                         "'none' allows any time")
    return seconds


def shown(text: str, limit: int = 40) -> str:
    """An option's value as an error line quotes it: the first ``limit`` characters, then ``…``."""
    return text if len(text) <= limit else text[:limit] + "…"


def _suggested_limit(seconds: float) -> str:
    """The ``--max-time`` that lets a run of about ``seconds`` through, rounded up: ``3h``, ``45m``, ``2d``; ``none``
    beyond the largest limit."""
    padded = 1.25 * seconds  # the estimate is rough: leave room
    if not math.isfinite(padded) or padded > MAX_LIMIT_S:
        return "none"
    for least, factor, unit in ((2 * 86_400.0, 86_400.0, "d"), (3600.0, 3600.0, "h"), (60.0, 60.0, "m")):
        if padded >= least:
            return f"{math.ceil(padded / factor)}{unit}"
    return f"{math.ceil(padded)}s"


@dataclass(frozen=True)
class Estimate:
    """Seconds a piece of work is expected to take, and what the figure is made of (``20 rates × 4 runs × ~500 s``)."""

    seconds: float
    basis: str

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.seconds + other.seconds, f"{self.basis}, then {other.basis}")


def refuse_unless_it_ends(estimated_s: float, what: str, basis: str, allowed_s: float | None,
                          option: str = MAX_TIME_OPTION) -> None:
    """Raise :class:`CapacityError` (exit 2) if ``estimated_s`` exceeds ``allowed_s`` (None: no limit), in one line:
    ``<what>: about 2.8 h of <basis>, more than the 1 h limit; pass --max-time 4h to run it``.  An estimate that is
    not a finite number (a size beyond any arithmetic) is refused as beyond any limit."""
    if allowed_s is None:
        return
    if math.isfinite(estimated_s) and estimated_s <= allowed_s:
        return
    suggestion = _suggested_limit(estimated_s)
    limit = duration_words(allowed_s)
    raise CapacityError(f"{what}: about {duration_words(estimated_s)} of {basis}, more than the {limit} limit; "
                        f"pass {option} {suggestion} to run it")


def check(estimate: Estimate, what: str, allowed_s: float | None) -> Estimate:
    """:func:`refuse_unless_it_ends` on an :class:`Estimate`; the estimate, for a caller that adds to it."""
    refuse_unless_it_ends(estimate.seconds, what, estimate.basis, allowed_s)
    return estimate


# --- the cost figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationCosts:
    """What a simulation run costs on the reference machine besides the engine's own matching, per unit of work.

    Measured on the reference machine (the sweep's points: 1,000 to 10 million markets, 1 million trades, 4 to
    70 s; and single runs timed phase by phase): seeding costs about 0.5-0.8 µs per resting order (the
    generator and the engine); each flow order of the traded phase about 2 µs besides the engine's matching
    (generating it, trimming the books back to their depth, the tape's bookkeeping); a market about 0.3 µs
    (the universe, the summary's distributions); and every run a few seconds at its start and end (the kernels
    loaded from numba's cache, the 3 million lookups of the probes, the summary)."""

    fixed_s: float = 5.0
    seed_ns_per_order: float = 500.0
    flow_ns_per_order: float = 2_000.0  # besides the engine's own ns per order
    ns_per_market: float = 300.0
    ns_per_cancel: float = 300.0
    fills_per_taker_order: float = 1.4  # fills a taker order makes on the default books (taker_share 0.5: 0.69 fills a flow order)
    process_start_s: float = 4.0  # a fresh Python process importing numpy, numba and the engine (a sweep point, a Dask worker)


SIMULATION_COSTS = SimulationCosts()
# Bytes of LOBSTER CSV (uncompressed) read, checked and replayed a second, with the orderbook check (reference machine,
# synthetic days of 300,000 and 1 million rows: 5 to 15 MB/s; bench/time_estimate_bench.py): replay, calibrate, and
# latency --day's arrivals read from a day.
REPLAY_BYTES_PER_S = 8e6
# A clock ratio beyond these is more likely two ways of reading a clock than two machines: scale no further.
_CLOCK_SCALE_RANGE = (0.5, 2.0)


@functools.lru_cache(maxsize=1)
def _reference() -> Any:
    from .capacity.model import load_model

    return load_model()


@functools.lru_cache(maxsize=1)
def clock_scale() -> float:
    """How much slower this machine's clock is than the reference machine's (its time per order, divided): the
    reference model's measured clock over this machine's highest clock as the OS reports it (psutil), within
    0.5 to 2; 1 where either is unknown (no core-rate model, or an OS that reports no maximum clock)."""
    import psutil

    model = _reference()
    there = model.core_rate.hierarchy.clock_ghz if model.core_rate is not None else None
    try:
        frequency = psutil.cpu_freq()
    except (OSError, RuntimeError, NotImplementedError):
        frequency = None
    here = frequency.max / 1000.0 if frequency is not None and frequency.max and frequency.max > 0 else None
    if not there or not here:
        return 1.0
    low, high = _CLOCK_SCALE_RANGE
    return min(max(there / here, low), high)


def engine_ns_per_order(markets_per_engine: float) -> float:
    """The engine's matching time per order, ns, at ``markets_per_engine`` markets (its working set): the reference
    model's orders/s per core there, scaled by :func:`clock_scale`."""
    rate = _reference().orders_per_s_per_core(max(markets_per_engine, 1.0))
    return 1e9 / rate * clock_scale() if rate > 0 else 1e3


def runs_of(policy: RepeatPolicy, run_s: float) -> int:
    """Runs a :class:`~lxdex_capacity.measure.RepeatPolicy` makes of a run lasting ``run_s`` seconds, warm-ups
    included: exactly its repeats, or (adaptive) runs until its budget is spent but at least three and at most its
    largest count (:func:`~lxdex_capacity.measure.run_repeats`: an upper figure, as a quiet machine stops sooner)."""
    from .measure.figure import MIN_SPREAD_REPEATS

    if policy.repeats is not None:
        recorded = policy.repeats
    else:
        by_budget = math.ceil(policy.budget_s / run_s) if run_s > 0 else policy.max_repeats
        recorded = max(min(MIN_SPREAD_REPEATS, policy.min_repeats), min(policy.max_repeats, by_budget))
    return policy.warmup + recorded


def flow_orders(scenario: Scenario) -> float:
    """Flow orders a simulation's traded phase offers until its trades: each flow order fills
    ``taker_share`` x :attr:`~SimulationCosts.fills_per_taker_order` times on average; a flow that fills
    nothing stalls (:data:`~lxdex_capacity.simulation.run.STALL_BATCHES` batches without a trade end the phase)."""
    from .simulation.run import STALL_BATCHES, batch_size

    if scenario.trades == 0:
        return 0.0
    fills = scenario.taker_share * SIMULATION_COSTS.fills_per_taker_order
    stalled = STALL_BATCHES * batch_size(scenario, scenario.trades)
    return scenario.trades / fills if fills > 0 else float(stalled)


def seeding_seconds(scenario: Scenario, engines: int = 1) -> float:
    """Seconds to build ``scenario``'s markets and seed its books (no trading), ``engines`` sharing the work."""
    from .scenarios.tiers import expected_orders

    costs = SIMULATION_COSTS
    resting = expected_orders(scenario.tiers, scenario.markets)
    work_ns = resting * costs.seed_ns_per_order + scenario.markets * costs.ns_per_market
    return work_ns * clock_scale() / 1e9 / max(engines, 1)


def simulation_estimate(scenario: Scenario, shards: int = 1, threads: int = 1, cores: int | None = None,
                        fresh_process: bool = False) -> Estimate:
    """A simulation run of ``scenario`` (``lxdex simulate``'s phases, its probes and summary): seeding, then the
    traded phase's flow orders at the engine's time per order for its markets per engine, on ``shards`` engines of
    ``threads`` partitions each, ``cores`` of them at a time (default: all); ``fresh_process``: in a process of its
    own (a sweep point, ``plan --check``), which first starts."""
    costs = SIMULATION_COSTS
    parts = max(shards * threads, 1)
    parallel = max(min(parts, cores if cores is not None else parts), 1)
    orders = flow_orders(scenario)
    per_order_ns = costs.flow_ns_per_order * clock_scale() + engine_ns_per_order(scenario.markets / parts)
    cancels = orders * scenario.cancel_rate * costs.ns_per_cancel * clock_scale()
    trading = (orders * per_order_ns + cancels) / 1e9 / parallel
    seeding = seeding_seconds(scenario, parallel)
    start = costs.fixed_s + (costs.process_start_s if fresh_process or shards > 1 else 0.0)
    seconds = start + seeding + trading
    trades = f"{scenario.trades:.3g}" if scenario.trades >= 1e7 else f"{scenario.trades:,}"
    basis = (f"simulating {scenario.markets:,} market{'s' if scenario.markets != 1 else ''} to {trades} trades (~{orders:.3g} flow orders at "
             f"~{per_order_ns / 1e3:.2g} µs each{f' over {parallel} cores' if parallel > 1 else ''})")
    return Estimate(seconds, basis)
