"""One simulation, whatever executes it: the phases of ``lxdex simulate`` and what each costs.

A run is defined by its scenario (markets, tier table, flow, seed, trades) alone.  Phases:
**empty** (the markets exist), **seeded** (books filled per the tier table), **traded** (the
scenario's flow until it has printed ``scenario.trades`` trades).  After each phase: the engines'
own bytes by component, numpy's traced bytes, and the processes' RSS and USS.  Then throughput
probes, checksums, the per-market breakdown and distributions.

Execution: ``shards=1`` runs one engine in this process; ``shards=K`` splits the markets over K
engines (:mod:`.assignment`), in this process or, given a Dask ``client``, on its workers.  The
coordinator drives every shard through the same steps in lockstep: the flow is cut into batches of
flow indices, every shard takes its own orders of each batch (:mod:`.shard`), and the trades all
shards printed decide the next batch.  Every market sees the same orders in the same order for any
K, so the markets, the trades, ``market_checksum`` and ``tape_checksum`` are the same for any K.

Stopping rule: batches hold ``min(batch, trades still wanted, trades_retained / 4)`` flow orders,
and the run stops after the first batch that brings the trades to ``scenario.trades`` or more
(it overshoots by the fills of that batch's last orders, a handful at most), or after
:data:`STALL_BATCHES` batches in a row without a trade.

Library entry points: :func:`estimate_memory`, :func:`check_memory` and :func:`simulate`.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine.partitioned import MAX_THREADS
from ..errors import CapacityError, InputError
from ..measure import Figure, MachineState, open_window, summarise
from ..memory_guard import refuse_unless_it_fits
from ..profiling.breakdown import breakdown_as_dict, breakdown_from_sums
from ..profiling.distributions import log_histogram, lorenz_from_counts, merge_value_counts, top_share_from_counts
from ..profiling.memory import ProcessMemory, numpy_traced_bytes, sample_process
from ..scenarios.config import Scenario
from ..scenarios.generator import Part
from ..scenarios.tiers import expected_orders
from ..scenarios.universe import Universe
from ._kernels import LANES
from .assignment import ASSIGNMENT, expected_load, split
from .executors import Executor, InProcess, OnDask
from .results import LOOKUPS, MAX_SHARDS, Execution, PhaseResult, ShardResult, SimulationResult, Throughput
from .worker import ShardPhase, ShardProbes, ShardSummary, warm_up_kernels

__all__ = ["PhaseResult", "Throughput", "SimulationResult", "estimate_memory", "check_memory", "simulate", "batch_size"]

Progress = Callable[[str, int, int], None]  # (phase, completed, total)
LATENCY_LOOKUPS = 1 << 20
LATENCY_GROUP = 16
STALL_BATCHES = 16  # consecutive flow batches without a fill after which the traded phase stops


def expected_resting(scenario: Scenario) -> float:
    """Mean resting orders the tier table gives ``scenario.markets`` markets."""
    return expected_orders(scenario.tiers, scenario.markets)


def estimate_memory(scenario: Scenario, shards: int = 1, threads: int = 1) -> int:
    """Peak bytes of a run of ``scenario`` split into ``shards`` engines of ``threads`` partitions each in
    one process, before anything is allocated (for a run on Dask workers, ask with ``shards=1``: the
    whole run in one process).  The capacity estimator's figure
    (:meth:`~lxdex_capacity.capacity.estimator.Estimator.simulate_peak`)."""
    from ..capacity.estimator import Estimator

    return Estimator.default().simulate_peak(scenario, shards, threads)


def check_engine_limits(scenario: Scenario, shards: int = 1) -> None:
    """Refuse, before anything is allocated, a run whose engines would each need more order or level
    slots than one engine addresses (2^31 - 1): name how many shards it needs."""
    from ..capacity.estimator import MAX_SLOTS, Estimator, Load

    load = Load.of_scenario(scenario, shards)
    per_shard = load.per_engine()
    estimator = Estimator.default()
    if per_shard.engines_needed(estimator.price_levels(per_shard)) > 1:
        need = load.engines_needed(estimator.price_levels(load))
        raise CapacityError(f"{scenario.markets:,} markets rest about {load.resting_orders:,.0f} orders: one engine addresses at most "
                            f"{MAX_SLOTS:,} order slots, so the run needs at least {need:,} engines; use --shards {max(need, shards + 1):,} "
                            "or shallower tiers")


def check_memory(scenario: Scenario, force: bool = False, shards: int = 1, threads: int = 1) -> int:
    """Return the estimate; raise :class:`CapacityError` if it exceeds available memory (unless forced)
    or if an engine would need more slots than it addresses (forced or not)."""
    check_engine_limits(scenario, shards)
    estimate = estimate_memory(scenario, shards, threads)
    refuse_unless_it_fits(estimate, f"{scenario.markets:,} markets need", "use fewer markets or --force", force)
    return estimate


def batch_size(scenario: Scenario, wanted: int) -> int:
    """Flow orders in the next batch, given the trades still ``wanted``.

    Most orders fill at most once, so batches no larger than the fills still wanted keep the run
    from overshooting its target by more than a few fills; a quarter of the tape holds all of a
    batch's trades, which the bookkeeping reads back."""
    return max(1, min(scenario.batch, wanted, scenario.trades_retained // 4))


def _no_progress(phase: str, completed: int, total: int) -> None:
    pass


def _phase(name: str, seconds: float, markets: int, shards: list[ShardPhase], process: ProcessMemory | None) -> PhaseResult:
    """One phase's figures: the engines' summed, and ``process`` (this process) or every shard's own process."""
    components: dict[str, dict[str, int]] = {}
    for s in shards:
        for c, (used, reserved) in s.components.items():
            entry = components.setdefault(c, {"bytes_used": 0, "bytes_reserved": 0})
            entry["bytes_used"] += used
            entry["bytes_reserved"] += reserved
    resting = sum(s.resting_orders for s in shards)
    if process is not None:
        rss, uss, traced = process.rss_bytes, process.uss_bytes, numpy_traced_bytes()
    else:
        rss = sum(s.process.rss_bytes for s in shards if s.process)
        uss = sum(s.process.uss_bytes for s in shards if s.process)
        traced = sum(s.traced_bytes for s in shards)
    return PhaseResult(
        name=name,
        markets=markets,
        resting_orders=resting,
        price_levels=sum(s.price_levels for s in shards),
        trades=sum(s.trades for s in shards),
        trades_retained=sum(s.trades_retained for s in shards),
        engine_bytes_used=sum(s.engine_bytes_used for s in shards),
        engine_bytes_reserved=sum(s.engine_bytes_reserved for s in shards),
        components=components,
        traced_bytes=traced,
        rss_bytes=rss,
        uss_bytes=uss,
        book_bytes_per_order=sum(s.book_bytes_used for s in shards) / max(resting, 1),
        seconds=seconds,
    )


class _Run:
    """The coordinator of one run: it calls the executor's shards phase by phase and adds up their figures."""

    def __init__(self, scenario: Scenario, executor: Executor, progress: Progress) -> None:
        self.scenario = scenario
        self.executor = executor
        self.progress = progress
        self.in_process = executor.mode != "dask"
        self.phases: list[PhaseResult] = []
        self.last: list[ShardPhase | None] = [None] * executor.shards
        self.stalled = False
        self.batch_states: list[MachineState] = []  # the machine over each traded batch (lxdex_capacity.measure)

    @property
    def failed(self) -> bool:
        return bool(self.executor.failed)

    def measure(self, name: str, seconds: float) -> None:
        for k, phase in enumerate(self.executor.call("measure")):
            if phase is not None:
                self.last[k] = phase
        live = [p for k, p in enumerate(self.last) if p is not None and k not in self.executor.failed]
        process = sample_process() if self.in_process else None
        self.phases.append(_phase(name, seconds, self.scenario.markets, live, process))

    def seed(self) -> None:
        executor = self.executor
        if isinstance(executor, InProcess):
            chunks = [(k, lo, hi) for k, w in enumerate(executor.workers) for lo, hi in w.seed_chunks()]
            for done, (k, lo, hi) in enumerate(chunks, start=1):
                executor.call_one(k, "seed", lo, hi)
                self.progress("seeded", done, len(chunks))
        else:
            self.progress("seeded", 0, 1)
            executor.call("seed")
            self.progress("seeded", 1, 1)

    def trade(self) -> None:
        target = self.scenario.trades
        trades = start = idle = 0
        self.progress("traded", 0, target)
        while trades < target and idle < STALL_BATCHES and not self.failed:
            count = batch_size(self.scenario, target - trades)
            window = open_window()
            printed = sum(t for t in self.executor.call("step", start, count) if t is not None)
            self.batch_states.append(window.close())
            start += count
            trades += printed
            idle = 0 if printed else idle + 1
            self.progress("traded", min(trades, target), target)
        self.stalled = idle >= STALL_BATCHES


def _checksum(kind: str, markets: int, lanes: list[list[int]]) -> str:
    """SHA-256 of the lane sums (mod 2**64) over every shard, with the market count."""
    total = np.zeros(LANES, dtype=np.uint64)
    for part in lanes:
        total += np.array(part, dtype=np.uint64)
    return hashlib.sha256(f"lxdex {kind} v2 {markets}".encode() + total.astype("<u8").tobytes()).hexdigest()


def batch_figure(summaries: list[ShardSummary], states: list[MachineState], observed: bool = True) -> Figure | None:
    """One core's orders/s through matching, batch by batch (every shard's orders of a batch over their seconds in
    ``submit``), each batch in the machine's window over it: the traded phase's repeats (its batches of at least half
    the largest batch's orders).  ``observed``: the machine
    the windows saw ran the shards (not a remote cluster's)."""
    batches = min((len(s.batch_seconds) for s in summaries), default=0)
    orders = [sum(s.batch_orders[b] for s in summaries) for b in range(batches)]
    seconds = [sum(s.batch_seconds[b] for s in summaries) for b in range(batches)]
    # The repeats are the batches of (nearly) full size: the last few, cut to the trades still wanted, are short
    # and pay a batch's fixed costs over a handful of orders.
    full = [b for b in range(batches) if seconds[b] > 0 and orders[b] * 2 >= max(orders)]
    rates = [orders[b] / seconds[b] for b in full]
    if not rates:
        return None
    windows = [states[b] for b in full] if observed and len(states) >= batches else []
    stop = "every batch of the traded phase" + ("" if observed else "; the machine's state not observed (the shards ran on a remote cluster)")
    return summarise("orders_per_s by batch", "orders/s", rates, windows, stop=stop)


def _throughput(summaries: list[ShardSummary], probes: list[ShardProbes], states: list[MachineState] | None = None,
                observed: bool = True) -> Throughput:
    flow_orders = sum(s.flow_orders for s in summaries)
    flow_seconds = sum(s.flow_seconds for s in summaries)
    latency = np.concatenate([p.latency_ns for p in probes]) if probes else np.zeros(1)
    p50, p99 = np.percentile(latency, [50, 99])
    lookup_seconds = sum(p.lookup_seconds for p in probes)
    return Throughput(
        orders_per_s=flow_orders / flow_seconds if flow_seconds else 0.0,
        flow_orders=flow_orders,
        flow_seconds=flow_seconds,
        cancels=sum(s.cancels for s in summaries),
        cancel_seconds=sum(s.cancel_seconds for s in summaries),
        lookups_per_s=sum(p.lookups for p in probes) / lookup_seconds if lookup_seconds else 0.0,
        random_access_ns_p50=float(p50),
        random_access_ns_p99=float(p99),
        random_access_method=f"best bid of a random market, dependent chains timed in runs of {LATENCY_GROUP}",
        random_access_histogram=log_histogram(latency, low=1.0, high=1e4, bins=48),
        parallel_orders_per_s=sum(s.flow_orders / s.flow_seconds for s in summaries if s.flow_seconds),
        batches=figure.as_dict() if (figure := batch_figure(summaries, states or [], observed)) is not None else None,
    )


def _shard_results(scenario: Scenario, parts: list[Part], run: _Run, summaries: list[ShardSummary | None]) -> list[ShardResult]:
    loads = expected_load(scenario, parts)
    out = []
    for k, load in enumerate(loads):
        phase, summary = run.last[k], summaries[k]
        figures: dict[str, Any] = {}
        if phase is not None:
            figures.update(resting_orders=phase.resting_orders, price_levels=phase.price_levels, trades=phase.trades,
                           engine_bytes_used=phase.engine_bytes_used, engine_bytes_reserved=phase.engine_bytes_reserved,
                           rss_bytes=phase.process.rss_bytes if phase.process else 0)
        if summary is not None:
            figures.update(flow_orders=summary.flow_orders, flow_seconds=summary.flow_seconds, cancels=summary.cancels,
                           orders_per_s=summary.flow_orders / summary.flow_seconds if summary.flow_seconds else 0.0,
                           peak_rss_bytes=summary.peak_rss_bytes if phase is not None and phase.process else 0,
                           elapsed_s=summary.elapsed_s)
        out.append(ShardResult(shard=k, markets=load.markets, expected_flow_share=load.flow_share,
                               expected_resting_orders=load.resting_orders, error=run.executor.failed.get(k), **figures))
    return out


def simulate(
    scenario: Scenario,
    progress: Progress | None = None,
    force: bool = False,
    inspect: Callable[[Any], None] | None = None,
    *,
    shards: int = 1,
    client: Any = None,
    threads: int = 1,
) -> SimulationResult:
    """Run ``scenario`` as ``shards`` shards (in this process, or on the Dask ``client``'s workers).

    Refuses first, naming its estimate, if the run would not fit in memory (unless ``force``).
    ``inspect``, if given, is called with the engine once the traded phase has been measured
    (``lxdex profile`` reads the books there); it needs one shard in this process.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= min(MAX_SHARDS, scenario.markets):
        raise InputError(f"shards={shards!r} must be an integer from 1 to {min(MAX_SHARDS, scenario.markets):,} "
                         f"(at most one shard per market)")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= min(MAX_THREADS, scenario.markets):
        raise InputError(f"threads={threads!r} must be an integer from 1 to {min(MAX_THREADS, scenario.markets):,} "
                         f"(at most one thread per market)")
    if inspect is not None and (shards != 1 or client is not None):
        raise InputError("inspecting the engine needs the run in one process (shards=1, no Dask client)")
    progress = progress or _no_progress
    # Guarded here when the engines live in this process; a cluster's workers hold them otherwise
    # (``lxdex simulate --shards`` guards a local cluster before starting it).
    estimate = check_memory(scenario, force, shards, threads) if client is None else estimate_memory(scenario, shards, threads)
    began = time.perf_counter()
    # Before tracing: numba's own allocations would swamp the traces.  On a fresh install this is
    # where the kernels compile; a command shows that step before it calls this function
    # (lxdex_capacity.console.compile_step), so no progress is reported here.
    warm_up_kernels()
    baseline = sample_process()
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    executor: Executor | None = None
    try:
        start = time.perf_counter()
        parts = split(scenario, shards)
        executor = InProcess(scenario, parts, threads) if client is None else OnDask(client, scenario, parts, threads)
        run = _Run(scenario, executor, progress)
        progress("empty", 1, 1)
        run.measure("empty", time.perf_counter() - start)
        if not run.failed:
            start = time.perf_counter()
            run.seed()
            run.measure("seeded", time.perf_counter() - start)
        if not run.failed:
            start = time.perf_counter()
            run.trade()
            run.measure("traded", time.perf_counter() - start)
        while len(run.phases) < 3:  # a shard failed: the phases not reached repeat the last figures
            run.measure(("empty", "seeded", "traded")[len(run.phases)], 0.0)
        if inspect is not None and isinstance(executor, InProcess):
            if started_tracing:  # every traced figure is taken: inspecting untraced is ~4x faster (pympler)
                tracemalloc.stop()
                started_tracing = False
            inspect(executor.workers[0].engine)
        share = max(1, executor.shards)
        progress("summary", 0, 2)  # the lookup probes, then every shard's figures
        probes = [p for p in executor.call("probes", max(LOOKUPS // share, 1024), max(LATENCY_LOOKUPS // share, 1024),
                                           LATENCY_GROUP) if p is not None]
        progress("summary", 1, 2)
        summaries: list[ShardSummary | None] = list(executor.call("summary"))
        progress("summary", 2, 2)
        live = [s for s in summaries if s is not None]
        complete = not executor.failed
        traded = run.phases[-1]
        trade_counts = merge_value_counts(s.trade_counts for s in live)
        depth = sorted((r, d) for s in live for r, d in s.depth_samples.items())
        sums = [sum(parts[1:], parts[0]) for parts in zip(*(s.tier_sums for s in live), strict=True)] if live else []
        universe = Universe(scenario.markets, scenario.securities_share)
        return SimulationResult(
            scenario=scenario,
            baseline=baseline,
            phases=run.phases,
            throughput=_throughput(live, probes, run.batch_states, observed=client is None or getattr(client, "cluster", None) is not None),
            elapsed_s=time.perf_counter() - began,
            market_checksum=_checksum("market", scenario.markets, [s.market_lanes for s in live]) if complete else None,
            tape_checksum=_checksum("tape", scenario.markets, [s.tape_lanes for s in live]) if complete else None,
            estimate_bytes=estimate,
            universe={"securities": universe.securities, "crypto": universe.crypto},
            stalled=run.stalled,
            breakdown=breakdown_as_dict(breakdown_from_sums(sums, traded.engine_bytes_used, traded.engine_bytes_reserved)) if sums else {},
            distributions={
                "depth_by_rank": {"rank": [r for r, _ in depth], "resting_orders": [d for _, d in depth]},
                "trades_lorenz": lorenz_from_counts(*trade_counts),
                "trades_top_share": top_share_from_counts(*trade_counts, scenario.market_share),
                "top_market_share": scenario.market_share,
            },
            execution=Execution(mode=executor.mode, shards=executor.shards, assignment=ASSIGNMENT, scheduler=executor.scheduler,
                                threads=threads),
            shards=_shard_results(scenario, parts, run, summaries) if executor.shards > 1 else [],
            failed_shards=sorted(executor.failed),
        )
    finally:
        if executor is not None:
            executor.close()
        if started_tracing:
            tracemalloc.stop()
