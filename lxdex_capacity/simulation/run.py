"""Run a scenario through the engine phase by phase, measuring what each phase costs.

Phases: **empty** (the markets exist), **seeded** (books filled per the tier table), **traded**
(maker/taker flow until the scenario's number of fills; when the scenario is stationary, every
market a batch touched is trimmed back to its seeded depth, and ``cancel_rate`` adds cancels of
random resting orders per flow order).  After each phase: the engine's own bytes by
component, numpy's traced bytes, and the process's RSS and USS.  Then the throughput of the run.

Library entry points: :func:`estimate_memory`, :func:`check_memory` and :func:`simulate`.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import psutil

from .. import __version__
from ..engine import Engine, Status
from ..engine import _kernels as kernels
from ..engine.layout import ID_INDEX_BYTES, LEVEL_RECORD_BYTES, MARKET_RECORD_BYTES, ORDER_RECORD_BYTES, TRADE_RECORD_BYTES
from ..errors import CapacityError
from ..profiling.breakdown import breakdown, breakdown_as_dict
from ..profiling.distributions import depth_by_rank, log_histogram, lorenz
from ..profiling.memory import ProcessMemory, numpy_traced_bytes, sample_process
from ..scenarios import draw_depths, flow_orders, seed_orders, zipf_exponent_for_share, zipf_weights
from ..scenarios.activity import top_share
from ..scenarios.config import Scenario
from ..scenarios.flow import mid_prices
from ..scenarios.tiers import expected_orders
from ..scenarios.universe import Universe

__all__ = ["PhaseResult", "Throughput", "SimulationResult", "estimate_memory", "check_memory", "simulate"]

Progress = Callable[[str, int, int], None]  # (phase, completed, total)
SEED_CHUNK_MARKETS = 1 << 18
LOOKUPS = 2_000_000
LATENCY_LOOKUPS = 1 << 20
LATENCY_GROUP = 16
STALL_BATCHES = 16  # consecutive flow batches without a fill after which the traded phase stops
# Interpreter, numpy, numba and the compiled kernels: measured ~150 MB RSS; counted with margin.
RUNTIME_BYTES = 400 * 2**20


@dataclass(frozen=True)
class PhaseResult:
    name: str
    markets: int
    resting_orders: int
    price_levels: int
    trades: int
    trades_retained: int  # on the tape, in memory
    engine_bytes_used: int
    engine_bytes_reserved: int
    components: dict[str, dict[str, int]]
    traced_bytes: int
    rss_bytes: int
    uss_bytes: int
    book_bytes_per_order: float  # order rows, price levels and id index, per resting order
    seconds: float


@dataclass(frozen=True)
class Throughput:
    orders_per_s: float
    flow_orders: int
    flow_seconds: float
    cancels: int
    cancel_seconds: float  # bookkeeping and cancels that keep books at their seeded depth
    lookups_per_s: float
    random_access_ns_p50: float
    random_access_ns_p99: float
    random_access_method: str
    random_access_histogram: dict[str, list[float]]  # log-spaced bin "edges" (ns) and "counts"


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    baseline: ProcessMemory
    phases: list[PhaseResult]
    throughput: Throughput
    elapsed_s: float
    market_checksum: str
    tape_checksum: str
    estimate_bytes: int
    universe: dict[str, int] = field(default_factory=dict)
    stalled: bool = False  # the flow stopped producing fills before reaching scenario.trades
    breakdown: dict[str, Any] = field(default_factory=dict)  # per-market bytes by component and tier, after trading
    distributions: dict[str, Any] = field(default_factory=dict)  # depth by rank, Lorenz curve of trades

    def phase(self, name: str) -> PhaseResult:
        return next(p for p in self.phases if p.name == name)

    @property
    def per_market_bytes(self) -> float:
        """Engine bytes used after trading, per market: everything the engine holds, shared out."""
        return self.phase("traded").engine_bytes_used / self.scenario.markets

    @property
    def per_order_bytes(self) -> float:
        """Order, level and id-index bytes used per resting order, after seeding."""
        return self.phase("seeded").book_bytes_per_order

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "seed": self.scenario.seed,
            "markets": self.scenario.markets,
            "universe": self.universe,
            "scenario": self.scenario.as_dict(),
            "baseline": {"rss_bytes": self.baseline.rss_bytes, "uss_bytes": self.baseline.uss_bytes},
            "estimate_bytes": self.estimate_bytes,
            "phases": [asdict(p) for p in self.phases],
            "per_market_bytes": self.per_market_bytes,
            "per_order_bytes": self.per_order_bytes,
            "throughput": asdict(self.throughput),
            "elapsed_s": self.elapsed_s,
            "market_checksum": self.market_checksum,
            "tape_checksum": self.tape_checksum,
            "stalled": self.stalled,
            "breakdown": self.breakdown,
            "distributions": self.distributions,
        }


def _pow2_at_least(n: float) -> int:
    return 1 << max(10, int(np.ceil(np.log2(max(n, 1)))))


def expected_resting(scenario: Scenario) -> float:
    """Mean resting orders the tier table gives ``scenario.markets`` markets."""
    return expected_orders(scenario.tiers, scenario.markets)


def estimate_memory(scenario: Scenario) -> int:
    """Peak bytes a run of ``scenario`` needs, before anything is allocated.

    Engine pools at their power-of-two capacities (old and new arrays coexist while one grows),
    per-market arrays of the generator (depths, mids, activity weights, statistics), the pool of
    cancellable order ids, one seeding chunk's temporaries, and the runtime itself.
    """
    n = scenario.markets
    orders = expected_resting(scenario) * 1.1
    levels = orders  # worst case: one order per level
    order_pool = _pow2_at_least(orders) * (ORDER_RECORD_BYTES + ID_INDEX_BYTES)
    level_pool = _pow2_at_least(levels) * LEVEL_RECORD_BYTES
    engine = n * MARKET_RECORD_BYTES + order_pool * 1.5 + level_pool * 1.5 + scenario.trades_retained * TRADE_RECORD_BYTES
    per_market = n * 8 * 8  # depths, mids, cdf, classes and the statistics gathered for checksums
    id_pool = _pow2_at_least(orders) * 16 * 2 if scenario.cancel_rate > 0 else 0
    chunk_orders = expected_resting(scenario.replace(markets=min(n, SEED_CHUNK_MARKETS))) if n else 0
    seeding = chunk_orders * 8 * 10
    flow = scenario.batch * 8 * 10
    return int(engine + per_market + id_pool + seeding + flow + RUNTIME_BYTES)


def check_memory(scenario: Scenario, force: bool = False) -> int:
    """Return the estimate; raise :class:`CapacityError` if it exceeds available memory (unless forced)."""
    estimate = estimate_memory(scenario)
    available = psutil.virtual_memory().available
    if estimate > available and not force:
        raise CapacityError(
            f"{scenario.markets:,} markets need an estimated {estimate / 2**30:.1f} GiB but only "
            f"{available / 2**30:.1f} GiB is available; use fewer markets or --force"
        )
    return estimate


class _IdPool:
    """Ids (and markets) of orders that may still rest: the candidates for random cancels.

    Removal is O(k): taken slots are filled from the pool's tail.
    """

    def __init__(self) -> None:
        self.ids = np.empty(1024, dtype=np.int64)
        self.markets = np.empty(1024, dtype=np.int64)
        self.size = 0

    def add(self, ids: np.ndarray, markets: np.ndarray) -> None:
        if self.size + len(ids) > len(self.ids):
            capacity = max(2 * len(self.ids), self.size + len(ids))
            for name in ("ids", "markets"):
                grown = np.empty(capacity, dtype=np.int64)
                grown[: self.size] = getattr(self, name)[: self.size]
                setattr(self, name, grown)
        self.ids[self.size : self.size + len(ids)] = ids
        self.markets[self.size : self.size + len(ids)] = markets
        self.size += len(ids)

    def take(self, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Remove and return ``k`` (or fewer, if the pool is smaller) (ids, markets) at random."""
        k = min(k, self.size)
        positions = np.unique(rng.integers(0, self.size, size=k))
        taken = self.ids[positions].copy(), self.markets[positions].copy()
        new_size = self.size - len(positions)
        tail = np.arange(new_size, self.size)
        keep_tail = tail[~np.isin(tail, positions)]
        holes = positions[positions < new_size]
        self.ids[holes] = self.ids[keep_tail]
        self.markets[holes] = self.markets[keep_tail]
        self.size = new_size
        return taken


def _measure(name: str, eng: Engine, seconds: float) -> PhaseResult:
    mem = eng.memory()
    process = sample_process()  # settles the heap first, for the traced bytes below too
    return PhaseResult(
        name=name,
        markets=eng.n_markets,
        resting_orders=mem.resting_orders,
        price_levels=mem.price_levels,
        trades=eng.trade_count,
        trades_retained=mem.trades_retained,
        engine_bytes_used=mem.bytes_used,
        engine_bytes_reserved=mem.bytes_reserved,
        components={c: {"bytes_used": u, "bytes_reserved": r} for c, (u, r) in mem.components.items()},
        traced_bytes=numpy_traced_bytes(),
        rss_bytes=process.rss_bytes,
        uss_bytes=process.uss_bytes,
        book_bytes_per_order=mem.bytes_per_resting_order,
        seconds=seconds,
    )


def _seed(
    eng: Engine,
    scenario: Scenario,
    depths: np.ndarray,
    mids: np.ndarray,
    rng: np.random.Generator,
    progress: Progress,
    pool: _IdPool | None,
) -> None:
    """Fill the books chunk by chunk of markets; resting orders join ``pool`` if there is one."""
    n = scenario.markets
    for start in range(0, n, SEED_CHUNK_MARKETS):
        stop = min(start + SEED_CHUNK_MARKETS, n)
        orders = seed_orders(depths[start:stop], mids, rng, scenario.flow, first_market=start)
        res = eng.submit(*orders)
        if pool is not None:
            rested = res.status == Status.RESTING
            pool.add(res.order_ids[rested], orders[0][rested])
        progress("seeded", stop, n)


def _cancel_random(eng: Engine, pool: _IdPool, rng: np.random.Generator, wanted: int) -> np.ndarray:
    """Cancel ``wanted`` random resting orders drawn from ``pool``; return their markets.

    Candidates that filled meanwhile leave the pool; live ones not needed go back into it.
    """
    cancelled = []
    while wanted > 0 and pool.size:
        ids, markets = pool.take(rng, 2 * wanted + 64)
        live = eng.open_qty(ids) > 0
        ids, markets = ids[live], markets[live]
        eng.cancel(ids[:wanted])
        cancelled.append(markets[:wanted])
        pool.add(ids[wanted:], markets[wanted:])
        wanted -= len(ids[:wanted])
    return np.concatenate(cancelled) if cancelled else np.empty(0, dtype=np.int64)


def _apply_flow_batch(
    eng: Engine, scenario: Scenario, orders: tuple[np.ndarray, ...], resting: np.ndarray, targets: np.ndarray,
    pool: _IdPool | None, rng: np.random.Generator,
) -> tuple[float, int, float]:
    """Submit one batch of flow orders and keep the books where the scenario wants them.

    A stationary scenario keeps every market at its seeded depth.  Rather than count books, it
    tracks each market's resting orders exactly (``resting``): plus the orders of the batch that
    rested, minus the makers its trades used up (their ids are on the tape) and minus its own
    cancels; then it cancels each market's excess over ``targets``.  Returns (submit seconds,
    cancels, cancel seconds)."""
    markets = orders[0]
    before = eng.trade_count
    start = time.perf_counter()
    res = eng.submit(*orders)
    flow_s = time.perf_counter() - start

    start = time.perf_counter()
    cancels = 0
    rested = res.status == Status.RESTING
    np.add.at(resting, markets[rested], 1)
    tape = eng.trades(last=eng.trade_count - before)
    makers, first_seen = np.unique(tape["maker_id"], return_index=True)
    np.add.at(resting, tape["market"][first_seen][eng.open_qty(makers) == 0], -1)
    if pool is not None:
        pool.add(res.order_ids[rested], markets[rested])
        gone = _cancel_random(eng, pool, rng, int(round(scenario.cancel_rate * len(markets))))
        np.add.at(resting, gone, -1)
        cancels += len(gone)
    if scenario.stationary:
        touched = np.unique(markets)
        excess = resting[touched] - targets[touched]
        over = excess > 0
        done = eng.cancel_furthest(touched[over], excess[over])
        resting[touched[over]] -= done
        cancels += int(done.sum())
    return flow_s, cancels, time.perf_counter() - start


def _batch_size(eng: Engine, scenario: Scenario, wanted: int) -> int:
    # Most orders fill at most once, so batches no larger than the fills still wanted keep a phase
    # from overshooting its target by a whole batch (and the tape holds all of a batch's trades).
    return max(1, min(scenario.batch, max(256, wanted), eng.tape_capacity // 4))


def _trade(
    eng: Engine, scenario: Scenario, mids: np.ndarray, pool: _IdPool | None, rng: np.random.Generator, progress: Progress
) -> tuple[int, float, int, float, bool]:
    """Flow until ``scenario.trades`` fills, or until the flow stops producing fills.

    Returns (orders, submit seconds, cancels, cancel seconds, stalled)."""
    n = scenario.markets
    cdf = np.cumsum(zipf_weights(n, zipf_exponent_for_share(n, scenario.flow_share, scenario.market_share)))
    resting = eng.market_stats()["resting_orders"]
    targets = resting.copy()
    first = eng.trade_count
    flow_orders_done = cancels = 0
    flow_s = cancel_s = 0.0
    idle_batches = 0
    while eng.trade_count - first < scenario.trades and idle_batches < STALL_BATCHES:
        before = eng.trade_count
        orders = flow_orders(_batch_size(eng, scenario, scenario.trades - (eng.trade_count - first)), cdf, mids, rng, scenario.flow)
        submit_s, batch_cancels, batch_cancel_s = _apply_flow_batch(eng, scenario, orders, resting, targets, pool, rng)
        flow_s += submit_s
        cancel_s += batch_cancel_s
        cancels += batch_cancels
        flow_orders_done += len(orders[0])
        idle_batches = idle_batches + 1 if eng.trade_count == before else 0
        progress("traded", min(eng.trade_count - first, scenario.trades), scenario.trades)
    return flow_orders_done, flow_s, cancels, cancel_s, idle_batches >= STALL_BATCHES


def _ticks_per_ns() -> float:
    c0, t0 = kernels.read_cycles(), time.perf_counter_ns()
    time.sleep(0.05)
    c1, t1 = kernels.read_cycles(), time.perf_counter_ns()
    return (c1 - c0) / (t1 - t0)


def _throughput_probes(eng: Engine, rng: np.random.Generator) -> tuple[float, float, float, dict[str, list[float]]]:
    """Best-bid/ask lookups/s on random markets; p50, p99 and a histogram of one dependent random access (ns)."""
    n = eng.n_markets
    markets = rng.integers(0, n, size=LOOKUPS)
    eng.best_bid(markets[:16])
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        eng.best_bid(markets)
        eng.best_ask(markets)
        rates.append(2 * LOOKUPS / (time.perf_counter() - start))
    lookups_per_s = float(np.median(rates))
    targets = rng.integers(0, n, size=LATENCY_LOOKUPS)
    runs = np.empty(LATENCY_LOOKUPS // LATENCY_GROUP, dtype=np.int64)
    kernels.lookup_latency(eng._book, targets[: 2 * LATENCY_GROUP], LATENCY_GROUP, runs[:2])
    kernels.lookup_latency(eng._book, targets, LATENCY_GROUP, runs)
    ns = runs / LATENCY_GROUP / _ticks_per_ns()
    p50, p99 = np.percentile(ns, [50, 99])
    return lookups_per_s, float(p50), float(p99), log_histogram(ns, low=1.0, high=1e4, bins=48)


def market_checksum(eng: Engine) -> str:
    """SHA-256 over every market's (trade count, traded volume, last price, resting orders), int64
    little-endian, in market order: equal for runs that ended in the same state."""
    stats = eng.market_stats()
    digest = hashlib.sha256()
    columns = ("trade_count", "volume", "last_price", "resting_orders")
    for start in range(0, eng.n_markets, 1 << 20):
        block = np.stack([stats[c][start : start + (1 << 20)] for c in columns], axis=1).astype("<i8")
        digest.update(block.tobytes())
    return digest.hexdigest()


def tape_checksum(eng: Engine) -> str:
    """SHA-256 of the trade ring's contents (oldest first)."""
    return hashlib.sha256(eng.trades().tobytes()).hexdigest()


def _no_progress(phase: str, completed: int, total: int) -> None:
    pass


def simulate(
    scenario: Scenario,
    progress: Progress | None = None,
    force: bool = False,
    inspect: Callable[[Engine], None] | None = None,
) -> SimulationResult:
    """Run ``scenario``: refuse first if it would not fit in memory (unless ``force``).

    ``inspect``, if given, is called with the engine once the traded phase has been measured
    (``lxdex profile`` reads the books there).
    """
    progress = progress or _no_progress
    estimate = check_memory(scenario, force)
    began = time.perf_counter()
    baseline = sample_process()
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    try:
        rng = np.random.default_rng(scenario.seed)
        kernels_ready = Engine(1)  # compile (or load) the kernels before any phase is timed
        kernels_ready.submit([0], [0], [1], [1])
        del kernels_ready

        start = time.perf_counter()
        eng = Engine(scenario.markets, tape_capacity=scenario.trades_retained)
        progress("empty", 1, 1)
        phases = [_measure("empty", eng, time.perf_counter() - start)]

        start = time.perf_counter()
        depths = draw_depths(scenario.markets, rng, scenario.tiers)
        mids = mid_prices(scenario.markets, rng, scenario.flow)
        ids = _IdPool() if scenario.cancel_rate > 0 else None
        _seed(eng, scenario, depths, mids, rng, progress, ids)
        del depths
        phases.append(_measure("seeded", eng, time.perf_counter() - start))

        start = time.perf_counter()
        flow_count, flow_s, cancels, cancel_s, stalled = _trade(eng, scenario, mids, ids, rng, progress)
        del ids
        phases.append(_measure("traded", eng, time.perf_counter() - start))

        if inspect is not None:
            inspect(eng)
        lookups_per_s, p50, p99, histogram = _throughput_probes(eng, rng)
        throughput = Throughput(
            orders_per_s=flow_count / flow_s if flow_s else 0.0,
            flow_orders=flow_count,
            flow_seconds=flow_s,
            cancels=cancels,
            cancel_seconds=cancel_s,
            lookups_per_s=lookups_per_s,
            random_access_ns_p50=p50,
            random_access_ns_p99=p99,
            random_access_method=f"best bid of a random market, dependent chains timed in runs of {LATENCY_GROUP}",
            random_access_histogram=histogram,
        )
        stats = eng.market_stats()
        distributions = {
            "depth_by_rank": depth_by_rank(stats["resting_orders"]),
            "trades_lorenz": lorenz(stats["trade_count"]),
            "trades_top_share": top_share(stats["trade_count"], scenario.market_share) if stats["trade_count"].any() else 0.0,
            "top_market_share": scenario.market_share,
        }
        universe = Universe(scenario.markets, scenario.securities_share)
        return SimulationResult(
            scenario=scenario,
            baseline=baseline,
            phases=phases,
            throughput=throughput,
            elapsed_s=time.perf_counter() - began,
            market_checksum=market_checksum(eng),
            tape_checksum=tape_checksum(eng),
            estimate_bytes=estimate,
            universe={"securities": universe.securities, "crypto": universe.crypto},
            stalled=stalled,
            breakdown=breakdown_as_dict(breakdown(eng, scenario.tiers)),
            distributions=distributions,
        )
    finally:
        if started_tracing:
            tracemalloc.stop()
