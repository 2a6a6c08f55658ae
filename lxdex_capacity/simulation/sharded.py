"""Sharded simulation: markets match independently, so a run splits by market across workers.

For the result not to depend on the number of shards, everything random is drawn per *block* of
:data:`BLOCK` markets (activity ranks ``b*BLOCK .. (b+1)*BLOCK-1``) from its own generator,
``default_rng([seed, b])``: depths, mids, seed orders and flow.  Each block receives a fixed share
of the flow, its Zipf weight times the run's flow budget (largest-remainder rounding), so a shard
knows its work in advance and never waits for another.  Shard ``k`` of ``K`` holds blocks
``b = k, k+K, k+2K, ...`` (spreading the busiest ranks).  The run's market checksum is the SHA-256
of the blocks' digests in block order: the same for any ``K``.

The flow budget is ``trades / taker_share`` flow orders (about one fill per taker), not an exact
trade count: that stopping rule would need the shards to talk.  Random cancels
(``cancel_rate``) are not supported here yet.
"""

from __future__ import annotations

import hashlib
import resource
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..engine import Engine
from ..errors import InputError, LxdexError
from ..profiling.memory import sample_process
from ..scenarios import flow_orders, seed_orders, zipf_exponent_for_share, zipf_weights
from ..scenarios.config import Scenario, scenario_from_dict
from ..scenarios.flow import mid_prices
from ..scenarios.tiers import tier_ranges

__all__ = ["BLOCK", "flow_budget", "block_flow", "run_shard", "simulate_sharded", "ShardedResult"]

BLOCK = 1 << 16


def flow_budget(scenario: Scenario) -> int:
    """Flow orders of a sharded run: about one fill per taker."""
    if scenario.taker_share <= 0:
        raise InputError("taker_share=0 makes no trades; a sharded run sizes its flow from trades / taker_share")
    return int(round(scenario.trades / scenario.taker_share))


def _weights(scenario: Scenario) -> np.ndarray:
    n = scenario.markets
    return zipf_weights(n, zipf_exponent_for_share(n, scenario.flow_share, scenario.market_share))


def block_flow(scenario: Scenario, weights: np.ndarray | None = None) -> np.ndarray:
    """Flow orders per block: the budget split by the blocks' Zipf weights, largest remainders first."""
    weights = _weights(scenario) if weights is None else weights
    shares = np.add.reduceat(weights, np.arange(0, scenario.markets, BLOCK)) * flow_budget(scenario)
    counts = np.floor(shares).astype(np.int64)
    short = flow_budget(scenario) - int(counts.sum())
    counts[np.argsort(-(shares - counts), kind="stable")[:short]] += 1
    return counts


def _depths(start: int, stop: int, scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    depths = np.zeros(stop - start, dtype=np.int64)
    for tier, lo, hi in tier_ranges(scenario.tiers, stop):
        lo, hi = max(lo, start), min(hi, stop)
        if hi > lo:
            depths[lo - start : hi - start] = rng.integers(tier.low, tier.high + 1, size=hi - lo)
    return depths


def _run_block(eng: Engine, scenario: Scenario, b: int, offset: int, flow: int, weights: np.ndarray,
               resting: np.ndarray, targets: np.ndarray) -> tuple[int, float, int]:
    """Seed and trade block ``b``, whose markets are the engine's ``offset ..``; return (flow orders, submit s, cancels).

    ``resting`` and ``targets`` are the shard's per-market bookkeeping arrays (see ``_apply_flow_batch``)."""
    from .run import _apply_flow_batch, _batch_size

    start, stop = b * BLOCK, min((b + 1) * BLOCK, scenario.markets)
    size = stop - start
    rng = np.random.default_rng([scenario.seed, b])
    depths = _depths(start, stop, scenario, rng)
    mids = mid_prices(size, rng, scenario.flow)
    markets, sides, prices, qtys = seed_orders(depths, mids, rng, scenario.flow)
    eng.submit(markets + offset, sides, prices, qtys)
    cdf = np.cumsum(weights[start:stop] / weights[start:stop].sum())
    # Seed orders never cross (buys below the mid, sells above), so every one rests.
    resting[offset : offset + size] = depths
    targets[offset : offset + size] = depths
    done = cancels = 0
    seconds = 0.0
    while done < flow:
        batch = flow_orders(min(_batch_size(eng, scenario, flow - done), flow - done), cdf, mids, rng, scenario.flow)
        batch = (batch[0] + offset, *batch[1:])
        submit_s, batch_cancels, _ = _apply_flow_batch(eng, scenario, batch, resting, targets, None, rng)
        seconds += submit_s
        cancels += batch_cancels
        done += len(batch[0])
    return done, seconds, cancels


def _block_digest(stats: dict[str, np.ndarray], lo: int, hi: int) -> str:
    columns = ("trade_count", "volume", "last_price", "resting_orders")
    block = np.stack([stats[c][lo:hi] for c in columns], axis=1).astype("<i8")
    return hashlib.sha256(block.tobytes()).hexdigest()


def run_shard(spec: dict[str, Any]) -> dict[str, Any]:
    """One shard, in this process (a Dask task, or inline): ``spec`` = scenario dict, shard, shards.

    Never raises: a failure comes back as ``{"shard": k, "error": "..."}`` so the others are kept."""
    shard, shards = spec["shard"], spec["shards"]
    try:
        began = time.perf_counter()
        scenario = scenario_from_dict(spec["scenario"])
        n_blocks = -(-scenario.markets // BLOCK)
        blocks = list(range(shard, n_blocks, shards))
        sizes = [min((b + 1) * BLOCK, scenario.markets) - b * BLOCK for b in blocks]
        baseline = sample_process()
        eng = Engine(max(sum(sizes), 1), tape_capacity=scenario.trades_retained)
        weights = _weights(scenario)
        flows = block_flow(scenario, weights)
        resting = np.zeros(eng.n_markets, dtype=np.int64)
        targets = np.zeros(eng.n_markets, dtype=np.int64)
        offset = 0
        flow_total = cancels = 0
        flow_seconds = 0.0
        for b, size in zip(blocks, sizes):
            done, seconds, block_cancels = _run_block(eng, scenario, b, offset, int(flows[b]), weights, resting, targets)
            flow_total += done
            flow_seconds += seconds
            cancels += block_cancels
            offset += size
        del weights, resting, targets
        stats = eng.market_stats()
        digests, offset = {}, 0
        for b, size in zip(blocks, sizes):
            digests[b] = _block_digest(stats, offset, offset + size)
            offset += size
        memory = eng.memory()
        process = sample_process()
        return {
            "shard": shard,
            "blocks": len(blocks),
            "markets": sum(sizes),
            "resting_orders": memory.resting_orders,
            "price_levels": memory.price_levels,
            "trades": eng.trade_count,
            "flow_orders": flow_total,
            "flow_seconds": flow_seconds,
            "orders_per_s": flow_total / flow_seconds if flow_seconds else 0.0,
            "cancels": cancels,
            "engine_bytes_used": memory.bytes_used,
            "engine_bytes_reserved": memory.bytes_reserved,
            "rss_bytes": process.rss_bytes,
            "baseline_rss_bytes": baseline.rss_bytes,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "elapsed_s": time.perf_counter() - began,
            "block_digests": {str(b): d for b, d in digests.items()},
        }
    except Exception as exc:  # reported per shard; the other shards' results stand
        message = str(exc) if isinstance(exc, LxdexError) else f"{type(exc).__name__}: {exc}"
        return {"shard": shard, "error": message}


@dataclass(frozen=True)
class ShardedResult:
    scenario: Scenario
    shards: list[dict[str, Any]]
    wall_seconds: float

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [s for s in self.shards if "error" in s]

    def as_dict(self) -> dict[str, Any]:
        ok = [s for s in self.shards if "error" not in s]
        total = {key: sum(s[key] for s in ok) for key in ("markets", "resting_orders", "price_levels", "trades", "flow_orders",
                                                          "cancels", "engine_bytes_used", "engine_bytes_reserved", "rss_bytes")}
        total["orders_per_s_sum"] = sum(s["orders_per_s"] for s in ok)  # every shard matching at once
        total["orders_per_s_wall"] = total["flow_orders"] / self.wall_seconds if self.wall_seconds else 0.0
        digests = {int(b): d for s in ok for b, d in s["block_digests"].items()}
        complete = not self.failed
        checksum = hashlib.sha256("".join(digests[b] for b in sorted(digests)).encode()).hexdigest() if complete else None
        return {
            "markets": self.scenario.markets,
            "seed": self.scenario.seed,
            "shards": len(self.shards),
            "block_markets": BLOCK,
            "flow_budget": flow_budget(self.scenario),
            "per_shard": [{k: v for k, v in s.items() if k != "block_digests"} for s in self.shards],
            "total": total,
            "failed_shards": [s["shard"] for s in self.failed],
            "market_checksum": checksum,
            "wall_seconds": self.wall_seconds,
            "scenario": self.scenario.as_dict(),
        }


def simulate_sharded(scenario: Scenario, shards: int, client: Any = None,
                     advance: Callable[[int, int, str], None] | None = None) -> ShardedResult:
    """Run ``scenario`` as ``shards`` shards: on a Dask ``client``'s workers, or one after another here."""
    if scenario.cancel_rate > 0:
        raise InputError("cancel_rate > 0 is not supported by sharded runs yet; use a single process")
    if shards > -(-scenario.markets // BLOCK):
        raise InputError(f"shards={shards} is more than the {-(-scenario.markets // BLOCK)} block(s) of {BLOCK:,} markets "
                         f"that {scenario.markets:,} markets make")
    flow_budget(scenario)
    specs = [{"scenario": scenario.as_dict(), "shard": k, "shards": shards} for k in range(shards)]
    began = time.perf_counter()
    if client is None:
        results = []
        for k, spec in enumerate(specs):
            if advance:
                advance(k, shards, f"shard {k}")
            results.append(run_shard(spec))
    else:
        futures = client.map(run_shard, specs, pure=False)
        from distributed import as_completed

        results = [None] * shards
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                r = future.result()
            except Exception as exc:  # the worker itself died
                r = {"shard": futures.index(future), "error": f"{type(exc).__name__}: {exc}"}
            results[r["shard"]] = r
            if advance:
                advance(done, shards, f"shard {r['shard']} done")
    return ShardedResult(scenario=scenario, shards=results, wall_seconds=time.perf_counter() - began)
