"""Per-order latency of the engine under an offered load, open loop (``lxdex latency``'s library API).

A scenario's books are seeded as ``simulate`` seeds them; then its flow is offered at each rate: the
orders arrive at times drawn from an arrival process (:mod:`.arrivals`), and one core takes them in
arrival order, ``batch`` at a time (a batch when its last order has arrived), in compiled code that
waits for each arrival on the CPU's cycle counter.  An order's latency is its completion minus its
arrival: the time it queued behind earlier orders plus its own service.  When a pool must grow the
loop returns to Python, grows it and goes on, and the time that takes lands on the orders waiting
(a *stall*); ``reserve`` sizes the pools first, so that no run grows them.

Before the rates, each order of a separate stretch of flow is timed alone (its *service time*);
``capacity_per_s`` is one over their mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..engine.core import cycles_per_ns
from ..errors import InputError
from ..scenarios.config import Scenario
from . import arrivals as arrival_processes

__all__ = ["Percentiles", "RatePoint", "LatencyResult", "measure_latency", "percentiles", "PERCENTILES"]

PERCENTILES = (("p50_ns", 50.0), ("p90_ns", 90.0), ("p99_ns", 99.0), ("p999_ns", 99.9), ("p9999_ns", 99.99))
MIN_ORDERS = 1_000
_LEAD_NS = 2_000_000  # the first arrival this long after the loop is entered, so entering it is not counted


@dataclass(frozen=True)
class Percentiles:
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
class RatePoint:
    offered_per_s: float
    achieved_per_s: float  # orders completed over the time from the first arrival to the last completion
    latency: Percentiles
    stalls: int  # times a pool grew during the run

    def as_dict(self) -> dict[str, Any]:
        return {"offered_per_s": self.offered_per_s, "achieved_per_s": self.achieved_per_s, **asdict(self.latency),
                "stalls": self.stalls}


@dataclass(frozen=True)
class LatencyResult:
    markets: int
    seed: int
    arrivals: str
    batch: int
    reserve: bool
    orders_per_rate: int
    counter_ns: float  # the cycle counter's smallest step, in nanoseconds
    ticks_per_ns: float
    service: Percentiles  # each order alone
    capacity_per_s: float  # one over the mean service time
    rates: list[RatePoint] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"markets": self.markets, "seed": self.seed, "arrivals": self.arrivals, "batch": self.batch, "reserve": self.reserve,
                "orders_per_rate": self.orders_per_rate, "counter_ns": self.counter_ns, "ticks_per_ns": self.ticks_per_ns,
                "service": asdict(self.service), "capacity_per_s": self.capacity_per_s, "rates": [r.as_dict() for r in self.rates]}


def _warm_up() -> None:
    """Compile (or load) the timed loops on a tiny engine, so that no run times the compiler."""
    from ..engine.core import Engine
    from . import _kernels as k

    eng = Engine(2, tape_capacity=1024)
    n = 8
    cols = [np.zeros(n, np.int64) for _ in range(5)]
    cols[3][:] = 1
    cols[2][:] = 100
    ids, filled, done = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    status = np.empty(n, np.int8)
    k.open_loop(eng.book, *cols, np.zeros(n, np.int64), 1, 0, 0, ids, filled, status, done)
    k.service_times(eng.book, *cols, 0, ids, filled, status, done)
    k.counter_granularity(16)


def measure_latency(
    scenario: Scenario,
    rates: Sequence[float],
    arrivals: str = "poisson",
    batch: int = 1,
    reserve: bool = False,
    orders_per_rate: int = 200_000,
    day_times: np.ndarray | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> LatencyResult:
    """Seed ``scenario``'s books, time ``orders_per_rate`` orders alone, then offer as many at each rate."""
    from ..scenarios.generator import Part
    from ..simulation.worker import ShardWorker
    from . import _kernels as k

    if arrivals not in arrival_processes.KINDS:
        raise InputError(f"arrivals={arrivals!r}: must be one of {', '.join(arrival_processes.KINDS)}")
    if arrivals == "lobster" and day_times is None:
        raise InputError("arrivals='lobster' needs the day's message times (a LOBSTER message file)")
    if orders_per_rate < MIN_ORDERS:
        raise InputError(f"orders_per_rate={orders_per_rate}: at least {MIN_ORDERS:,} orders, for the tail percentiles to mean anything")
    if batch < 1:
        raise InputError(f"batch={batch}: at least 1")
    progress = progress or (lambda done, total, what: None)
    _warm_up()
    worker = ShardWorker(scenario, Part.whole())
    worker.seed()  # every market, in simulate's seeding chunks
    shard = worker.shard
    engine, gen = shard.engine, shard.generator
    ticks = cycles_per_ns()
    flow_index = 0

    def next_orders() -> tuple[np.ndarray, ...]:
        nonlocal flow_index
        f = gen.flow(flow_index, orders_per_rate, shard.mids)
        flow_index += orders_per_rate
        return tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (f.markets, f.sides, f.prices, f.qtys, f.types))

    def outputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int8), np.zeros(n, np.int64)

    if reserve:  # room for every order of every run to rest, so that no pool grows while timed
        room = orders_per_rate * (len(rates) + 1)
        engine.reserve(room, room)
    total = len(rates) + 1
    progress(0, total, "service time")
    orders = next_orders()
    ids, filled, status, service = outputs(len(orders[0]))
    start = 0
    while start < len(orders[0]):
        start = k.service_times(engine.book, *orders, start, ids, filled, status, service)
        if start < len(orders[0]):
            engine.reserve(1, 1)
    service_ns = service / ticks
    capacity = 1e9 / float(service_ns.mean())
    points = []
    for r, rate in enumerate(rates):
        progress(r + 1, total, f"{rate:,.0f} orders/s offered")
        orders = next_orders()
        n = len(orders[0])
        if arrivals == "poisson":
            arrive_ns = arrival_processes.poisson(rate, n, scenario.seed + r)
        elif arrivals == "bursty":
            arrive_ns = arrival_processes.bursty(rate, n, scenario.seed + r)
        else:
            assert day_times is not None
            arrive_ns = arrival_processes.scaled_gaps(day_times, rate, n)
        arrive = (arrive_ns * ticks).astype(np.int64)
        ids, filled, status, done = outputs(n)
        origin = _now() + int(_LEAD_NS * ticks)
        start, stalls = 0, 0
        while start < n:
            start = k.open_loop(engine.book, *orders, arrive, batch, start, origin, ids, filled, status, done)
            if start < n:
                engine.reserve(1, 1)
                stalls += 1
        latency_ns = (done - (origin + arrive)) / ticks
        span_ns = (int(done.max()) - (origin + int(arrive[0]))) / ticks
        points.append(RatePoint(float(rate), n / span_ns * 1e9 if span_ns > 0 else 0.0, percentiles(latency_ns), stalls))
    progress(total, total, "done")
    return LatencyResult(markets=scenario.markets, seed=scenario.seed, arrivals=arrivals, batch=batch, reserve=reserve,
                         orders_per_rate=orders_per_rate, counter_ns=k.counter_granularity(100_000) / ticks, ticks_per_ns=ticks,
                         service=percentiles(service_ns), capacity_per_s=capacity, rates=points)


def _now() -> int:
    from ..engine import _kernels as engine

    return int(engine.read_cycles())
