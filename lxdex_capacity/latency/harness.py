"""Per-order latency of the engine under an offered load, open loop (``lxdex latency``'s library API).

A scenario's books are seeded as ``simulate`` seeds them (:class:`LatencyRig`); then its flow is
offered at each rate: messages (orders, and with ``cancels_per_order`` cancels of earlier orders of
the stream) arrive at times drawn from an arrival process (:mod:`.arrivals`), and one core takes them
in arrival order in compiled code that waits for each arrival on the CPU's cycle counter.  A
message's latency is its completion minus its arrival: the time it queued behind earlier messages
plus its own service.  With ``batch = 1`` each message is taken as soon as it has arrived and the
engine sees the messages queued behind it (``look_ahead``, as an engine reading its input queue
does: its prefetch warms their books); with ``batch = B`` the engine takes B messages at a time,
when the last has arrived, as a caller of ``submit`` does.  When a pool must grow the loop returns
to Python, grows it and goes on, and the time that takes lands on the messages waiting (a
*stall*); ``reserve`` sizes the pools before each timed run, so that none grows while timed.
Between timed runs a stationary scenario's books are cut back to their seeded depth, untimed.

With ``threads = k`` the engine is :class:`~lxdex_capacity.engine.partitioned.PartitionedEngine`'s k
partitions (the simulation's balanced assignment of markets), each taking the messages of its own
markets, in arrival order, in its own thread pinned to its own core: an engine whose input is
already split by market (no dispatcher is timed).  Every message keeps its arrival time, so
latency is measured against the one clock as before, and every message's outcome is exactly the
one engine's.

Before the rates, each order of a separate stretch of flow is timed alone (its *service time*), then
each cancel of a sample of the orders that rested; ``capacity_per_s`` is one over the mean service
time of the offered mix.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine.core import cycles_per_ns
from ..engine.partitioned import MAX_THREADS, PartitionedEngine
from ..errors import InputError
from ..machine import cpu_affinity
from ..measure import STATUSES, Figure, MachineState, RepeatPolicy, Sample, run_repeats, summarise
from ..scenarios.config import Scenario
from . import arrivals as arrival_processes
from .statistics import DEFAULT_BUDGET_S, PERCENTILES

if TYPE_CHECKING:
    from .platform import Interruptions

__all__ = ["Percentiles", "ServiceTimes", "OfferedRun", "RatePoint", "median_percentiles", "LatencyResult", "LatencyRig", "measure_latency", "percentiles", "PERCENTILES",
           "warm_up", "check_offer", "latency_memory", "MAX_OFFER_SECONDS", "estimate_latency", "offered_run_seconds"]

MIN_ORDERS = 1_000
MAX_OFFER_SECONDS = 600.0  # the longest an offered run may take (messages / rate): a run beyond it is refused
YIELD_SECONDS = 0.02  # while waiting for a far arrival the timed loop returns this often, so that Ctrl-C is seen
# A timed run's arrays per message, at their peak: the flow generator's seven int64 columns, cancel_of,
# four outputs, the arrivals and the latencies with their float64 temporaries, and the percentiles'
# partitioned copy: 32 eight-byte words.
RUN_BYTES_PER_MESSAGE = 32 * 8
MAX_CANCELS_PER_ORDER = 10.0
_LEAD_NS = 2_000_000  # the first arrival this long after the loop is entered, so entering it is not counted
_CANCEL_SALT = 0xCA9CE1
MAX_GAPS = 1 << 16  # interruptions a partition's run records while spinning (more are not recorded: the floor stays a lower bound)
_MAX_KEPT_GAPS = 1 << 22  # interruptions a rig keeps for its platform summary
MIN_SPIN_S = 0.01  # a run that spun less than this says nothing reliable of the share its spin lost


@dataclass(frozen=True)
class Percentiles:
    """Latency percentiles in nanoseconds, each a measured sample (nearest rank), and how many samples."""

    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    p9999_ns: float
    max_ns: float
    samples: int


def percentiles(ns: np.ndarray) -> Percentiles:
    """The latency percentiles of ``ns`` (nearest rank, so every figure is a measured sample)."""
    values = np.percentile(ns, [q for _, q in PERCENTILES], method="inverted_cdf") if len(ns) else np.zeros(len(PERCENTILES))
    named = {name: float(v) for (name, _), v in zip(PERCENTILES, values, strict=True)}
    return Percentiles(**named, max_ns=float(ns.max()) if len(ns) else 0.0, samples=len(ns))


@dataclass(frozen=True)
class ServiceTimes:
    """Each operation timed alone, back to back, on the seeded books."""

    orders: Percentiles  # an order's submit (match and/or rest)
    cancels: Percentiles  # a cancel of a resting order
    capacity_per_s: float  # one over the mean service time of the offered mix of orders and cancels
    capacity_basis: str = "orders"  # what the mean is over: "orders", the mix, or orders only when no cancel could be timed
    # With threads, the busiest partition's mean service time per offered message sets the capacity.


@dataclass(frozen=True)
class OfferedRun:
    """One offered run: its latency percentiles, and what the core's interruptions alone made it wait.

    ``floor`` is the latency an arrival owes to the core being taken away while it waited for it: an
    arrival that fell into an interruption the run's own spin saw (the loop spinning for its arrival,
    or an earlier one's) completes no sooner than that interruption ends, so each message's floor is
    at most its latency, and so is every percentile of the floor at most the same percentile of the
    latency: the floor can never sit above the latency measured with it."""

    offered_per_s: float  # messages (orders and cancels) per second, on average
    achieved_per_s: float  # messages completed over the time from the first arrival to the last completion
    latency: Percentiles  # completion minus arrival, of every message
    stalls: int  # times a pool grew during the run
    cancels: int = 0  # cancel messages among the samples
    floor: Percentiles | None = None  # each message's wait through an interruption of its core (0 for most)
    spin_s: float = 0.0  # seconds the run spun waiting for arrivals (where interruptions are seen)
    interruptions: int = 0  # steps between two counter reads longer than GAP_THRESHOLD_NS, while spinning
    lost_share: float = 0.0  # of the spin, lost to them

    def as_dict(self) -> dict[str, Any]:
        return {"offered_per_s": self.offered_per_s, "achieved_per_s": self.achieved_per_s, **asdict(self.latency),
                "stalls": self.stalls, "cancels": self.cancels, "floor": asdict(self.floor) if self.floor is not None else None,
                "spin_s": self.spin_s, "interruptions": self.interruptions, "lost_share": self.lost_share}


def median_percentiles(runs: Sequence[Percentiles]) -> Percentiles:
    """Each percentile the median of the runs' (so p50 <= p90 <= ... <= max still holds, and a floor below
    a latency run by run stays below it); ``samples`` the fewest of a run."""
    return Percentiles(**{key: float(statistics.median(getattr(r, key) for r in runs)) for key, _ in (*PERCENTILES, ("max_ns", 0))},
                       samples=min(r.samples for r in runs))


@dataclass(frozen=True)
class RatePoint:
    """One offered rate over its repeated runs: each figure the median of the runs', with its interval (``figures``)."""

    offered_per_s: float
    achieved_per_s: float  # the median of the runs'
    latency: Percentiles  # each percentile the median of the runs'; samples: messages per run
    stalls: int  # over every run
    cancels: int = 0  # cancel messages in a run (the median)
    floor: Percentiles | None = None  # the median of the runs' floors (OfferedRun.floor): at most the latency, percentile by percentile
    runs: tuple[OfferedRun, ...] = ()
    figures: dict[str, Figure] = field(default_factory=dict)  # p50_ns .. max_ns, achieved_per_s
    stop: str = ""  # why repeating stopped

    @classmethod
    def of(cls, runs: Sequence[OfferedRun], states: Sequence[MachineState | None] = (), stop: str = "", warmup: int = 0) -> RatePoint:
        """The runs at one rate as one point, each figure summarised with its machine windows (:func:`~lxdex_capacity.measure.summarise`)."""
        rate = runs[0].offered_per_s
        at = f"at {rate:,.0f}/s"
        figures = {key: summarise(f"{key} {at}", "ns", [getattr(r.latency, key) for r in runs], states, better="lower", stop=stop,
                                  warmup=warmup) for key in (*(k for k, _ in PERCENTILES), "max_ns")}
        figures["achieved_per_s"] = summarise(f"achieved_per_s {at}", "messages/s", [r.achieved_per_s for r in runs], states,
                                              stop=stop, warmup=warmup)
        floors = [r.floor for r in runs if r.floor is not None]
        return cls(offered_per_s=rate, achieved_per_s=figures["achieved_per_s"].value, latency=median_percentiles([r.latency for r in runs]),
                   stalls=sum(r.stalls for r in runs), cancels=int(statistics.median(r.cancels for r in runs)),
                   floor=median_percentiles(floors) if len(floors) == len(runs) else None, runs=tuple(runs), figures=figures, stop=stop)

    @property
    def status(self) -> str:
        """The worst of its timed figures' statuses (stable < noisy < disturbed)."""
        return max((f.status for f in self.figures.values()), key=STATUSES.index, default="stable")

    def as_dict(self) -> dict[str, Any]:
        return {"offered_per_s": self.offered_per_s, "achieved_per_s": self.achieved_per_s, **asdict(self.latency),
                "stalls": self.stalls, "cancels": self.cancels, "floor": asdict(self.floor) if self.floor is not None else None,
                "repeats": len(self.runs), "status": self.status, "stop": self.stop, "runs": [r.as_dict() for r in self.runs],
                "figures": {k: f.as_dict() for k, f in self.figures.items()}}


@dataclass(frozen=True)
class LatencyResult:
    markets: int
    seed: int
    arrivals: str
    batch: int
    reserve: bool
    orders_per_rate: int  # messages offered at each rate
    counter_ns: float  # the cycle counter's smallest step, in nanoseconds
    ticks_per_ns: float
    service: Percentiles  # each order alone
    capacity_per_s: float  # one over the mean service time of the offered mix
    rates: list[RatePoint] = field(default_factory=list)
    cancel_service: Percentiles | None = None  # each cancel alone
    look_ahead: bool = True
    cancels_per_order: float = 0.0
    injected_delay_ns: float = 0.0
    platform: Interruptions | None = None  # the core's own interruptions and the latency floor they set
    capacity_basis: str = "orders"  # what capacity_per_s is one over the mean service time of
    threads: int = 1  # partitions of the markets, each taking its own messages on its own core
    capacity: Figure | None = None  # capacity_per_s over the service-time repeats (its value is capacity_per_s)
    policy: str = ""  # how many repeats (RepeatPolicy.describe)

    @property
    def figures(self) -> dict[str, Figure]:
        """Every timed figure by name: the capacity, and each rate's percentiles and achieved rate."""
        named = {"capacity_per_s": self.capacity} if self.capacity is not None else {}
        for point in self.rates:
            named |= {f.name: f for f in point.figures.values()}
        return named

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "latency", "policy": self.policy,
                "capacity": self.capacity.as_dict() if self.capacity is not None else None,
                "figures": {name: f.as_dict() for name, f in self.figures.items()},
                "markets": self.markets, "seed": self.seed, "arrivals": self.arrivals, "batch": self.batch, "reserve": self.reserve,
                "threads": self.threads,
                "look_ahead": self.look_ahead, "cancels_per_order": self.cancels_per_order, "orders_per_rate": self.orders_per_rate,
                "counter_ns": self.counter_ns, "ticks_per_ns": self.ticks_per_ns, "injected_delay_ns": self.injected_delay_ns,
                "service": asdict(self.service),
                "cancel_service": asdict(self.cancel_service) if self.cancel_service is not None else None,
                "capacity_per_s": self.capacity_per_s, "capacity_basis": self.capacity_basis, "rates": [r.as_dict() for r in self.rates],
                "platform": self.platform.as_dict() if self.platform is not None else None}


def check_offer(rate: float, messages: int, option: str = "rate") -> None:
    """Refuse an offered rate that is not a positive finite number, or whose run of ``messages`` would take
    longer than :data:`MAX_OFFER_SECONDS`."""
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise InputError(f"{option}={rate!r}: must be a finite rate above 0 per second")
    if messages / rate > MAX_OFFER_SECONDS:
        raise InputError(f"{option}={rate:,.6g}: {messages:,} messages at that rate take {messages / rate:,.3g} s, more than "
                         f"{MAX_OFFER_SECONDS:,.0f} s per offered run; offer a higher rate or fewer messages")


# A timed run's own work per message besides the engine's: generating the flow and its arrivals, the timing
# loop's reads of the cycle counter, the percentiles (reference machine; bench/time_estimate_bench.py).
RUN_NS_PER_MESSAGE = 500.0


def offered_run_seconds(rate: float, messages: int, engine_ns: float, threads: int = 1) -> float:
    """Seconds one offered run takes: its messages arrive over ``messages / rate`` seconds, unless the engine
    (``engine_ns`` a message, ``threads`` cores) takes longer to serve them, plus the run's own work per message."""
    serving = messages * engine_ns / 1e9 / max(threads, 1)
    return max(messages / rate, serving) + messages * RUN_NS_PER_MESSAGE / 1e9


def estimate_latency(scenario: Scenario, rates: Sequence[float], orders_per_rate: int, policy: RepeatPolicy | None = None,
                     threads: int = 1, cancels_per_order: float | None = None) -> Any:
    """The :class:`~lxdex_capacity.time_guard.Estimate` of :func:`measure_latency`: seeding the books, the service
    times (each message alone), then each rate's runs (:func:`~lxdex_capacity.time_guard.runs_of` the policy, each
    :func:`offered_run_seconds`)."""
    from ..time_guard import (
        SIMULATION_COSTS,
        Estimate,
        clock_scale,
        duration_words,
        engine_ns_per_order,
        runs_of,
        seeding_seconds,
    )

    policy = policy or RepeatPolicy(budget_s=DEFAULT_BUDGET_S)
    cancels = scenario.cancel_rate if cancels_per_order is None else cancels_per_order
    messages = int(orders_per_rate * (1 + cancels))
    engine_ns = engine_ns_per_order(scenario.markets / max(threads, 1))
    service_run = messages * (engine_ns + RUN_NS_PER_MESSAGE * clock_scale()) / 1e9
    seconds = SIMULATION_COSTS.fixed_s + seeding_seconds(scenario) + runs_of(policy, service_run) * service_run
    runs, longest = 0, 0.0
    for rate in rates:
        run = offered_run_seconds(rate, messages, engine_ns, threads)
        count = runs_of(policy, run)
        seconds += count * run
        runs, longest = runs + count, max(longest, run)
    mean = runs / len(rates) if rates else 0.0
    mean_text = f"{mean:,.0f}" if mean >= 10 or mean == int(mean) else f"{mean:.1f}"
    each = "" if not rates else f", {len(rates)} rate{'s' if len(rates) != 1 else ''} × ~{mean_text} runs of up to ~{duration_words(longest)}"
    return Estimate(seconds, f"measuring ({scenario.markets:,} markets seeded, {messages:,} messages a run{each})")


def latency_memory(scenario: Scenario, orders_per_rate: int, reserve: bool, threads: int = 1) -> int:
    """Bytes a latency run needs at most: ``simulate``'s peak for the scenario's books, one timed run's
    arrays, and with ``reserve`` room in both pools for every message of a run (at a doubling, both
    halves of the pool are live at once)."""
    from ..engine.layout import ID_INDEX_BYTES, LEVEL_RECORD_BYTES, ORDER_RECORD_BYTES
    from ..simulation.run import estimate_memory

    pools = 2 * orders_per_rate * (ORDER_RECORD_BYTES + ID_INDEX_BYTES + LEVEL_RECORD_BYTES) if reserve else 0
    return estimate_memory(scenario, threads=threads) + orders_per_rate * RUN_BYTES_PER_MESSAGE + pools


def warm_up() -> None:
    """Compile (or load) every kernel a latency run calls, on a tiny run through the same code paths
    (:data:`lxdex_capacity.kernel_cache.LATENCY`), so that no run times the compiler."""
    from ..simulation.worker import warm_up_run

    warm_up_run()
    warm_up_timing()


def warm_up_timing() -> None:
    """The timed loops and what a rig calls besides simulate's kernels (the latency set's second part)."""
    from ..simulation.worker import warm_up_flow

    warm_up_flow()
    rig = LatencyRig(Scenario(markets=2, trades=8, batch=8, trades_retained=1024), orders_per_rate=MIN_ORDERS, cancels_per_order=0.5)
    rig.service()
    rig.offer(1e9)
    batched = LatencyRig(Scenario(markets=2, trades=8, batch=8, trades_retained=1024), batch=4, orders_per_rate=MIN_ORDERS)
    batched.result([RatePoint.of([batched.offer(1e9)])])
    from .platform import measure_interruptions

    measure_interruptions(0.001)


@dataclass(frozen=True)
class _Share:
    """One partition's messages of a stream: their indices in the stream, and their columns with the
    markets and the cancels' targets numbered within the partition."""

    at: np.ndarray  # indices into the stream, in arrival order
    columns: tuple[np.ndarray, ...]  # markets (the partition's own numbers), sides, prices, qtys, types
    cancel_of: np.ndarray  # a cancel's target, as an index into ``at``; -1 for an order


class LatencyRig:
    """A seeded engine ready to be timed: :meth:`service` and :meth:`offer` as often as wanted.

    Seeding takes seconds at tens of thousands of markets, so a search over rates (an SLO's highest
    rate, an audit's repeats) seeds once.  Each offer draws the next stretch of the scenario's flow
    and its own arrivals (seeded by the scenario's seed and the offer's number), so the same
    sequence of calls on the same scenario offers the same messages at the same times."""

    def __init__(self, scenario: Scenario, arrivals: str = "poisson", batch: int = 1, reserve: bool = False,
                 orders_per_rate: int = 200_000, day_times: np.ndarray | None = None, *, look_ahead: bool = True,
                 cancels_per_order: float | None = None, inject_delay_ns: float = 0.0, force: bool = False, threads: int = 1) -> None:
        from ..memory_guard import refuse_unless_it_fits
        from ..scenarios.generator import Part
        from ..simulation.worker import ShardWorker
        from ..validation import check_int

        if arrivals not in arrival_processes.KINDS:
            raise InputError(f"arrivals={arrivals!r}: must be one of {', '.join(arrival_processes.KINDS)}")
        if arrivals == "lobster" and day_times is None:
            raise InputError("arrivals='lobster' needs the day's message times (a LOBSTER message file)")
        if orders_per_rate < MIN_ORDERS:
            raise InputError(f"orders_per_rate={orders_per_rate}: at least {MIN_ORDERS:,} orders, for the tail percentiles to mean anything")
        if batch < 1:
            raise InputError(f"batch={batch}: at least 1")
        threads = check_int("threads", threads, min_value=1, max_value=MAX_THREADS)
        if threads > scenario.markets:
            raise InputError(f"threads={threads}: more threads than markets ({scenario.markets:,}); at most one thread per market")
        cancels = scenario.cancel_rate if cancels_per_order is None else cancels_per_order
        if not 0.0 <= cancels <= MAX_CANCELS_PER_ORDER:
            raise InputError(f"cancels_per_order={cancels}: from 0 to {MAX_CANCELS_PER_ORDER:g}")
        if not 0.0 <= inject_delay_ns <= 1e9:
            raise InputError(f"inject_delay_ns={inject_delay_ns}: from 0 to 1e9")
        self.scenario, self.arrivals, self.batch, self.reserve = scenario, arrivals, batch, reserve
        self.orders_per_rate, self.day_times, self.look_ahead = orders_per_rate, day_times, look_ahead
        self.cancels_per_order, self.inject_delay_ns, self.threads = float(cancels), float(inject_delay_ns), threads
        if arrivals == "lobster":
            assert day_times is not None
            arrival_processes.check_day(day_times, orders_per_rate)
        refuse_unless_it_fits(latency_memory(scenario, orders_per_rate, reserve, threads),
                              f"{scenario.markets:,} markets and {orders_per_rate:,} messages per offered run need", "use fewer of either",
                              force)
        self.ticks_per_ns = cycles_per_ns()
        self._delay_ticks = round(inject_delay_ns * self.ticks_per_ns)
        worker = ShardWorker(scenario, Part.whole(), threads=threads)
        worker.seed()  # every market, in simulate's seeding chunks
        self._shard = worker.shard
        engine = self._shard.engine
        if isinstance(engine, PartitionedEngine):
            self._parts, self._partition_of, self._local_of = engine.partitions, engine.partition_of, engine.local_markets
        else:
            self._parts = [engine]
            self._partition_of, self._local_of = np.zeros(scenario.markets, np.int64), np.arange(scenario.markets, dtype=np.int64)
        self._cpus = _cpus_for(threads)
        self._flow_index = 0
        self._offers = 0
        self._service: ServiceTimes | None = None
        from .platform import GAP_THRESHOLD_NS

        self._gap_ticks = int(GAP_THRESHOLD_NS * self.ticks_per_ns)
        self._gaps: list[float] = []  # every interruption the offered runs' spins saw, ns
        self._spun_s = 0.0

    # ------------------------------------------------------------------ streams
    def _orders(self, count: int) -> tuple[np.ndarray, ...]:
        shard = self._shard
        f = shard.generator.flow(self._flow_index, count, shard.mids)
        self._flow_index += count
        return tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (f.markets, f.sides, f.prices, f.qtys, f.types))

    def _stream(self, n: int, seed: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """``n`` messages: the flow's next orders, with cancels mixed in at ``cancels_per_order``, each of a
        uniformly drawn earlier order of the stream (a cancel of an order that filled, or was cancelled
        already, finds nothing: it is timed all the same).  Returns the columns and ``cancel_of``."""
        cancel_of = np.full(n, -1, dtype=np.int64)
        if self.cancels_per_order <= 0:
            return self._orders(n), cancel_of
        rng = np.random.default_rng([seed, _CANCEL_SALT])
        is_cancel = rng.random(n) < self.cancels_per_order / (1.0 + self.cancels_per_order)
        is_cancel[0] = False  # the first message has no earlier order to cancel
        order_at = np.flatnonzero(~is_cancel)
        orders_before = np.cumsum(~is_cancel)[is_cancel]
        targets = order_at[(rng.random(len(orders_before)) * orders_before).astype(np.int64)]
        cancel_of[is_cancel] = targets
        drawn = self._orders(len(order_at))
        columns = []
        for col in drawn:
            full = np.empty(n, dtype=np.int64)
            full[order_at] = col
            full[is_cancel] = full[targets]  # the target's market and side: the prefetch warms its book
            columns.append(full)
        return tuple(columns), cancel_of

    def _split(self, columns: tuple[np.ndarray, ...], cancel_of: np.ndarray) -> list[_Share | None]:
        """Each partition's share of a stream (None: no message of the stream is for it).  A cancel's
        target is an order of the same market, so of the same partition."""
        n = len(columns[0])
        if self.threads == 1:
            return [_Share(np.arange(n, dtype=np.int64), columns, cancel_of)]
        partition = self._partition_of[columns[0]]
        position = np.empty(n, dtype=np.int64)  # each message's index within its partition's share
        shares: list[_Share | None] = []
        for p in range(self.threads):
            at = np.flatnonzero(partition == p)
            if not len(at):
                shares.append(None)
                continue
            position[at] = np.arange(len(at))
            local = (self._local_of[columns[0][at]], *(np.ascontiguousarray(c[at]) for c in columns[1:]))
            targets = cancel_of[at]
            shares.append(_Share(at, local, np.where(targets >= 0, position[np.maximum(targets, 0)], -1)))
        return shares

    def _global_ids(self, ids: np.ndarray, p: int) -> np.ndarray:
        """A partition's order ids as the engine numbers them (:class:`~lxdex_capacity.engine.partitioned.PartitionedEngine`)."""
        engine = self._shard.engine
        return engine.global_ids(ids, p) if isinstance(engine, PartitionedEngine) else ids

    def _keep_depth(self) -> None:
        """Untimed, after each timed stretch: with a stationary scenario, cut every market back to its
        seeded depth (as ``simulate`` does after each batch), so that a long search over rates does not
        time ever deeper books."""
        if not self.scenario.stationary:
            return
        engine = self._shard.engine
        excess = engine.market_stats()["resting_orders"] - self._shard.targets
        over = np.flatnonzero(excess > 0)
        if len(over):
            engine.cancel_furthest(over, excess[over])

    def _room(self, p: int, n: int) -> None:
        if self.reserve:  # every order of the run may rest, so no pool grows while timed
            self._parts[p].reserve(n, n)

    # ------------------------------------------------------------------ timing
    def service(self) -> ServiceTimes:
        """Time each order of a stretch of flow alone, then each cancel of a sample of those that rested
        (with threads, each partition's share on its own engine, one partition after another)."""
        from . import _kernels as k

        n, ticks_per_ns = self.orders_per_rate, self.ticks_per_ns
        orders = self._orders(n)
        ids, order_ticks = np.empty(n, np.int64), np.empty(n, np.int64)
        rested: list[np.ndarray] = []
        shares = self._split(orders, np.full(n, -1, dtype=np.int64))
        for p, share in enumerate(shares):
            if share is None:
                continue
            m, engine = len(share.at), self._parts[p]
            part_ids, filled, status, ticks = _outputs(m)
            self._room(p, m)
            start = 0
            while start < m:
                start = k.service_times(engine.book, *share.columns, start, self._delay_ticks, part_ids, filled, status, ticks)
                if start < m:
                    engine.reserve(1, 1)
            ids[share.at], order_ticks[share.at] = self._global_ids(part_ids, p), ticks
            rested.append(ids[share.at][status == 0])
        victims = np.random.default_rng([self.scenario.seed, _CANCEL_SALT, 1]).permutation(np.concatenate(rested))
        cancel_ns = np.empty(0)
        cancel_mean_of = np.zeros(self.threads)
        for p in range(self.threads):  # each partition's victims, in the drawn order
            mine = victims[victims % self.threads == p] // self.threads
            ok, ticks = np.zeros(len(mine), dtype=np.bool_), np.zeros(len(mine), dtype=np.int64)
            k.cancel_times(self._parts[p].book, mine, self._delay_ticks, ok, ticks)
            found = ticks[ok] / ticks_per_ns  # cancels that found their order
            cancel_mean_of[p] = found.mean() if len(found) else np.nan
            cancel_ns = np.concatenate([cancel_ns, found])
        order_ns = order_ticks / ticks_per_ns
        cancel_share = self.cancels_per_order / (1.0 + self.cancels_per_order)
        if cancel_share > 0 and not len(cancel_ns):  # no timed order rested, so no cancel was timed: the mix's cost is unknown
            cancel_share, basis = 0.0, "orders only: cancels are mixed in but none could be timed (no timed order rested)"
        else:
            basis = "the offered mix of orders and cancels" if cancel_share > 0 else "orders"
        if self.threads > 1:
            basis += f", on the busiest of {self.threads} partitions"
        busiest = 0.0  # ns of service per offered message on the busiest partition
        for p, part in enumerate(shares):
            if part is None:
                continue
            cancel_mean = cancel_mean_of[p] if np.isfinite(cancel_mean_of[p]) else (cancel_ns.mean() if len(cancel_ns) else 0.0)
            per_message = (1.0 - cancel_share) * float(order_ns[part.at].mean()) + (cancel_share * float(cancel_mean) if cancel_share > 0 else 0.0)
            busiest = max(busiest, per_message * len(part.at) / n)
        self._service = ServiceTimes(percentiles(order_ns), percentiles(cancel_ns), 1e9 / busiest if busiest > 0 else 0.0, basis)
        self._keep_depth()
        return self._service

    def offer(self, rate: float, record: list[np.ndarray] | None = None) -> OfferedRun:
        """Offer the next ``orders_per_rate`` messages at ``rate`` per second, open loop; their latency, and the
        floor the core's interruptions set under it (:class:`OfferedRun`).

        ``record``, if given, receives each message's outcome as one ``(n, 3)`` int64 array of
        (order id, quantity filled, status): what tests compare with the plain engine's."""
        check_offer(rate, self.orders_per_rate)
        n, ticks = self.orders_per_rate, self.ticks_per_ns
        seed = self.scenario.seed + self._offers
        self._offers += 1
        orders, cancel_of = self._stream(n, seed)
        if self.arrivals == "poisson":
            arrive_ns = arrival_processes.poisson(rate, n, seed)
        elif self.arrivals == "bursty":
            arrive_ns = arrival_processes.bursty(rate, n, seed)
        else:
            assert self.day_times is not None
            arrive_ns = arrival_processes.scaled_gaps(self.day_times, rate, n)
        arrive = (arrive_ns * ticks).astype(np.int64)
        ids, filled, status, done = _outputs(n)
        shares = self._split(orders, cancel_of)
        for p, share in enumerate(shares):
            if share is not None:
                self._room(p, len(share.at))
        runs = [_PartitionRun(self, p, share, arrive[share.at]) for p, share in enumerate(shares) if share is not None]
        origin = _run_at_once(runs, self._cpus, int(_LEAD_NS * ticks))
        waits = np.zeros(n, dtype=np.int64)  # each message's wait through an interruption its core's spin saw
        for r in runs:
            at = r.share.at
            ids[at], filled[at], status[at], done[at] = self._global_ids(r.ids, r.p), r.filled, r.status, r.done
            waits[at] = r.waits(origin)
        if record is not None:
            record.append(np.stack([ids, filled, status.astype(np.int64)], axis=1))
        self._keep_depth()
        latency_ns = (done - (origin + arrive)) / ticks
        span_ns = (int(done.max()) - (origin + int(arrive[0]))) / ticks
        spun = sum(int(r.spun[1]) for r in runs) / ticks
        lost = sum(r.lost_ticks() for r in runs) / ticks
        for r in runs:
            if len(self._gaps) < _MAX_KEPT_GAPS:
                g = int(r.spun[0])
                self._gaps.extend(((r.gap_end[:g] - r.gap_start[:g]) / ticks).tolist())
        self._spun_s += spun / 1e9
        return OfferedRun(float(rate), n / span_ns * 1e9 if span_ns > 0 else 0.0, percentiles(latency_ns), sum(r.stalls for r in runs),
                          int((cancel_of >= 0).sum()), floor=percentiles(waits / ticks), spin_s=spun / 1e9,
                          interruptions=sum(int(r.spun[0]) for r in runs), lost_share=lost / spun if spun > 0 else 0.0)

    def measure_rate(self, rate: float, policy: RepeatPolicy, progress: Callable[[int, int, str], None] | None = None) -> RatePoint:
        """``rate`` offered as often as ``policy`` says (adaptive: until the p99's interval is tight), each run in
        its own machine window, which also counts what the run's own spin lost to interruptions."""
        runs: list[OfferedRun] = []

        def measure(i: int) -> Sample:
            run = self.offer(rate)
            if i >= 0:
                runs.append(run)
            values = {key: getattr(run.latency, key) for key in (*(k for k, _ in PERCENTILES), "max_ns")}
            return Sample(values | {"achieved_per_s": run.achieved_per_s},
                          spin_lost_share=run.lost_share if run.spin_s >= MIN_SPIN_S else None)

        repeated = run_repeats(measure, policy, primary=["p50_ns", "p99_ns"], progress=progress, what=f"{rate:,.0f}/s offered")
        return RatePoint.of(runs, repeated.states, repeated.stop, policy.warmup)

    def measure_service(self, policy: RepeatPolicy, progress: Callable[[int, int, str], None] | None = None) -> Figure:
        """:meth:`service` as often as ``policy`` says: the capacity figure; the service times kept are the repeats' medians."""
        services: list[ServiceTimes] = []

        def measure(i: int) -> dict[str, float]:
            times = self.service()
            if i >= 0:
                services.append(times)
            return {"capacity_per_s": times.capacity_per_s}

        repeated = run_repeats(measure, policy, primary=["capacity_per_s"], progress=progress, what="service time")
        capacity = repeated.figure("capacity_per_s", "messages/s")
        self._service = ServiceTimes(median_percentiles([t.orders for t in services]), median_percentiles([t.cancels for t in services]),
                                     capacity.value, services[0].capacity_basis)
        return capacity

    def gaps_ns(self) -> tuple[np.ndarray, float]:
        """Every interruption the rig's offered runs saw while spinning (lengths, ns), and the seconds they spun."""
        return np.asarray(self._gaps, dtype=np.float64), self._spun_s

    def result(self, points: Sequence[RatePoint], platform: Interruptions | None = None, capacity: Figure | None = None,
               policy: str = "") -> LatencyResult:
        """The run's figures: the service times (measured first if they were not), ``points`` and ``platform``
        (default: the interruptions the offered runs' own spins saw)."""
        from . import _kernels as k
        from .platform import Interruptions

        service = self._service or self.service()
        if platform is None and self._spun_s > 0:
            gaps, seconds = self.gaps_ns()
            platform = Interruptions.of(gaps, seconds)
        return LatencyResult(markets=self.scenario.markets, seed=self.scenario.seed, arrivals=self.arrivals, batch=self.batch,
                             reserve=self.reserve, orders_per_rate=self.orders_per_rate,
                             counter_ns=k.counter_granularity(100_000) / self.ticks_per_ns, ticks_per_ns=self.ticks_per_ns,
                             service=service.orders, capacity_per_s=capacity.value if capacity is not None else service.capacity_per_s,
                             rates=list(points), cancel_service=service.cancels, look_ahead=self.look_ahead,
                             cancels_per_order=self.cancels_per_order, injected_delay_ns=self.inject_delay_ns, platform=platform,
                             capacity_basis=service.capacity_basis, threads=self.threads, capacity=capacity, policy=policy)


class _PartitionRun:
    """One partition's open loop over its share of an offered stream (in its own thread when there are several)."""

    def __init__(self, rig: LatencyRig, p: int, share: _Share, arrive: np.ndarray) -> None:
        self.rig, self.p, self.share, self.arrive = rig, p, share, arrive
        self.origin = 0  # the counter tick the arrivals count from: set once every thread is ready
        self.ids, self.filled, self.status, self.done = _outputs(len(share.at))
        self.stalls = 0
        self.gap_start, self.gap_end = np.zeros(MAX_GAPS, np.int64), np.zeros(MAX_GAPS, np.int64)
        self.spun = np.zeros(2, np.int64)  # interruptions recorded, ticks spun

    def lost_ticks(self) -> int:
        g = int(self.spun[0])
        return int((self.gap_end[:g] - self.gap_start[:g]).sum())

    def waits(self, origin: int) -> np.ndarray:
        """Each of this partition's messages' wait through an interruption it arrived in (ticks; 0 for most):
        from its arrival to the end of the interruption its core's spin saw then (see :class:`OfferedRun`)."""
        g = int(self.spun[0])
        arrive = origin + self.arrive
        if g == 0:
            return np.zeros(len(arrive), dtype=np.int64)
        starts, ends = self.gap_start[:g], self.gap_end[:g]
        k = np.searchsorted(starts, arrive, side="right") - 1
        end = ends[np.maximum(k, 0)]
        return np.where((k >= 0) & (arrive < end), end - arrive, 0)

    def run(self, stop: np.ndarray) -> None:
        """Take every message as it arrives; ``stop[0]`` set (by the thread that saw a Ctrl-C) ends the loop within a message."""
        from . import _kernels as k

        rig, engine, m = self.rig, self.rig._parts[self.p], len(self.share.at)
        start, yield_ticks = 0, int(YIELD_SECONDS * 1e9 * rig.ticks_per_ns)
        while start < m:
            start = k.open_loop(engine.book, *self.share.columns, self.share.cancel_of, self.arrive, rig.batch, rig.look_ahead,
                                rig._delay_ticks, yield_ticks, stop, start, self.origin, self.ids, self.filled, self.status, self.done,
                                rig._gap_ticks, self.gap_start, self.gap_end, self.spun)
            if start < 0:  # back in Python: waiting for a far arrival, or told to stop
                start = -start - 1
                if stop[0]:
                    return
            elif start < m:
                engine.reserve(1, 1)
                self.stalls += 1


def _cpus_for(threads: int) -> list[int] | None:
    """A CPU for each partition's thread (the lowest usable ones), or None when there are fewer CPUs than threads
    or the platform cannot pin: the threads then go where the scheduler puts them."""
    allowed = cpu_affinity()
    if threads == 1 or not allowed or not hasattr(os, "sched_setaffinity"):
        return None
    usable = sorted(allowed)
    return usable[:threads] if len(usable) >= threads else None


def _run_at_once(runs: Sequence[_PartitionRun], cpus: list[int] | None, lead_ticks: int) -> int:
    """Each partition's open loop in its own thread (pinned to its own CPU when there are several); returns
    the origin of the arrivals, ``lead_ticks`` after every thread is ready (starting a thread takes up to
    a GIL switch interval, ~5 ms, which must not land on the first messages).

    This thread only waits, so a Ctrl-C or SIGTERM is raised here however busy the loops are (a loop
    in this thread would see it only when it next waits for a far arrival): it then sets the loops'
    ``stop`` flag, which each reads before every message, waits for them to leave the engine, and
    re-raises.  A thread that fails (before or after the start) stops the others the same way, and
    its error is raised here.

    The wait is on an event each thread sets as it leaves, never on ``Thread.join``: a signal handler's
    exception interrupting ``join`` on Python 3.11 can mark the thread finished while it still runs
    (``_wait_for_tstate_lock`` releases the lock the running thread holds), after which every later
    ``join`` returns at once, with the loop still in the engine."""
    stop = np.zeros(1, dtype=np.int64)
    go, ready = threading.Event(), threading.Barrier(len(runs) + 1)
    failures: list[BaseException] = []

    def body(r: _PartitionRun, cpu: int | None, left: threading.Event) -> None:
        try:
            if cpu is not None:
                with contextlib.suppress(OSError):  # a CPU gone since the rig was made: the thread runs unpinned
                    os.sched_setaffinity(0, {cpu})  # on Linux, this thread only
            ready.wait()
            go.wait()
            if not stop[0]:
                r.run(stop)
        except threading.BrokenBarrierError:
            pass  # another thread failed, or the waiting thread was interrupted, before the start
        except BaseException as exc:  # re-raised by the waiting thread
            failures.append(exc)
            stop[0] = 1
            ready.abort()
        finally:
            left.set()

    gone = [threading.Event() for _ in runs]  # set by each thread as it leaves (the engine, then its body)
    threads = [threading.Thread(target=body, args=(r, cpus[i] if cpus and len(runs) > 1 else None, gone[i]), daemon=True,
                                name=f"lxdex-latency-{r.p}") for i, r in enumerate(runs)]
    started = 0  # threads started so far, in order
    origin = 0
    try:
        for t in threads:
            t.start()
            started += 1
        with contextlib.suppress(threading.BrokenBarrierError):  # a thread failed before the start: its error is raised below
            ready.wait()
        origin = _now() + lead_ticks
        for r in runs:
            r.origin = origin
        go.set()
        for left in gone:
            while not left.wait(1.0):  # a signal interrupts the wait (POSIX); the timeout only bounds a missed one
                pass
    except BaseException:
        stop[0] = 1
        ready.abort()
        go.set()
        for t, left in zip(threads[:started], gone[:started], strict=True):  # each leaves the engine within a message once stop is set
            if left.wait(5.0):
                t.join(1.0)  # its last instructions, once its body has returned: a join no signal has interrupted
        raise
    for t in threads:
        t.join(1.0)
    if failures:
        raise failures[0]
    return origin


def measure_latency(
    scenario: Scenario,
    rates: Sequence[float],
    arrivals: str = "poisson",
    batch: int = 1,
    reserve: bool = False,
    orders_per_rate: int = 200_000,
    day_times: np.ndarray | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    *,
    look_ahead: bool = True,
    cancels_per_order: float | None = None,
    inject_delay_ns: float = 0.0,
    force: bool = False,
    threads: int = 1,
    policy: RepeatPolicy | None = None,
) -> LatencyResult:
    """Seed ``scenario``'s books, time ``orders_per_rate`` orders (and cancels) alone, then offer as many
    messages at each rate (see :class:`LatencyRig` for the options), each as often as ``policy`` says
    (default: adaptive, :data:`DEFAULT_BUDGET_S` seconds a rate), every run in its own machine window
    (:mod:`lxdex_capacity.measure`).  The core's interruptions and the floor they set come from the
    runs' own spins (:class:`OfferedRun`)."""
    for rate in rates:  # before seeding: a run that would take hours is refused, not started
        check_offer(rate, orders_per_rate)
    policy = policy or RepeatPolicy(budget_s=DEFAULT_BUDGET_S)
    progress = progress or (lambda done, total, what: None)
    total = len(rates) + 2
    progress(0, total, "seeding the books")
    warm_up()
    rig = LatencyRig(scenario, arrivals, batch, reserve, orders_per_rate, day_times, look_ahead=look_ahead,
                     cancels_per_order=cancels_per_order, inject_delay_ns=inject_delay_ns, force=force, threads=threads)

    def step(done: int) -> Callable[[int, int, str], None]:
        return lambda _d, _t, what: progress(done, total, what)

    capacity = rig.measure_service(policy, step(1))
    points = [rig.measure_rate(rate, policy, step(r + 2)) for r, rate in enumerate(rates)]
    progress(total, total, "done")
    return rig.result(points, capacity=capacity, policy=policy.describe())


def _outputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int8), np.zeros(n, np.int64)


def _now() -> int:
    from ..engine import _kernels as engine

    return int(engine.read_cycles())
