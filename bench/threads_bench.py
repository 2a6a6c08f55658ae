#!/usr/bin/env python3
"""Orders/s through matching with the markets partitioned across threads: one thread against k, in one run.

    python bench/threads_bench.py                       # 21,000 markets until 1,000,000 trades, k = 1 and 2, 5 repeats
    python bench/threads_bench.py --threads 1,2,4 --repeats 3 --json

The workload is `lxdex bench`'s seeded flow (lxdex_capacity.profiling.engine_bench.seeded_flow): the
default scenario's tiered books seeded untimed, then its Zipf flow in batches of 65,536 orders through
`Engine.submit` until 1,000,000 trades; only `submit` is timed.  With k threads the engine is
`Engine(n, threads=k)`, its markets partitioned as a threaded simulation partitions them (balanced by
expected load).  The repeats are interleaved (round r runs every k once), so the machine's slow
moments fall on every k alike; medians and ranges are printed, and each k's speed-up over one thread
(the ratio of the medians).  Every k must print the same trades and leave the same resting orders as
one thread (checked here; the tests check every order).

Then latency under load with the same k (`lxdex latency --threads k`, lxdex_capacity.latency): per k one
rig seeded with the same books (pools reserved), Poisson arrivals at each of `--latency-rates`, each
partition taking its own markets' messages on its own core; the repeats interleaved across k and rates;
medians of p50, p99 and the achieved rate.  `--latency-rates ""` skips it.

Targets (issue 15): 2 threads >= 1.8x one thread; >= 10M orders/s with 2 threads on the 2-core
machine; one thread >= 7M orders/s; goal 34M orders/s (the published figure).  Exit 0 when the
targets for the k run are met, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from lxdex_capacity.machine import machine_info
from lxdex_capacity.profiling import engine_bench as eb

TARGET_SPEEDUP_2, TARGET_RATE_2, TARGET_RATE_1, GOAL_RATE = 1.8, 10e6, 7e6, 34e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts; 1 is always run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-rates", default="1e6,2e6,3e6,4e6", help="offered messages/s for the latency part; empty: skip it")
    parser.add_argument("--latency-orders", type=int, default=200_000, help="messages offered per latency run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = sorted({1, *(int(t) for t in args.threads.split(","))})
    began = time.perf_counter()
    eb.warm_up()
    eb.seeded_flow(200, 2_000, threads=max(counts))  # the partition kernels, compiled before anything is timed
    runs: dict[int, list[eb.SeededFlowResult]] = {k: [] for k in counts}
    for r in range(args.repeats):
        for k in counts:
            print(f"round {r + 1}/{args.repeats}, {k} thread(s) ({time.perf_counter() - began:,.0f} s)", file=sys.stderr)
            runs[k].append(eb.seeded_flow(args.markets, args.trades, seed=0, threads=k))
    same = all((x.flow_trades, x.resting_after, x.flow_orders) == (runs[1][0].flow_trades, runs[1][0].resting_after, runs[1][0].flow_orders)
               for k in counts for x in runs[k])
    rates = {k: [x.orders_per_s for x in runs[k]] for k in counts}
    medians = {k: statistics.median(v) for k, v in rates.items()}
    rows = [{"threads": k, "orders_per_s": {"median": medians[k], "low": min(rates[k]), "high": max(rates[k])},
             "speedup": medians[k] / medians[1], "flow_orders": runs[k][0].flow_orders, "trades": runs[k][0].flow_trades}
            for k in counts]
    checks = {"one thread >= 7M orders/s": medians[1] >= TARGET_RATE_1}
    if 2 in medians:
        checks["2 threads >= 1.8x one thread"] = medians[2] / medians[1] >= TARGET_SPEEDUP_2
        checks["2 threads >= 10M orders/s"] = medians[2] >= TARGET_RATE_2
    checks["same trades and resting orders for every k"] = same
    latency = _latency(args, counts, began) if args.latency_rates.strip() else []
    figures = {"machine": machine_info().summary(), "markets": args.markets, "trades": args.trades, "repeats": args.repeats,
               "rows": rows, "latency": latency, "checks": checks, "seconds": time.perf_counter() - began}
    if args.json:
        print(json.dumps(figures, indent=2, allow_nan=False))
    else:
        print(f"machine: {figures['machine']}; {args.markets:,} markets until {args.trades:,} trades, {args.repeats} interleaved "
              f"repeats (median, low-high)")
        print(f"{'threads':>7} {'orders/s':>28} {'speed-up':>9}")
        for row in rows:
            o = row["orders_per_s"]
            print(f"{row['threads']:>7} {o['median'] / 1e6:>8.2f}M ({o['low'] / 1e6:.2f}-{o['high'] / 1e6:.2f}M) {row['speedup']:>8.2f}x")
        if latency:
            print(f"latency (Poisson arrivals, {args.latency_orders:,} messages per run, pools reserved; median of {args.repeats}, low-high)")
            print(f"{'offered/s':>10} {'threads':>7} {'achieved/s':>11} {'p50':>22} {'p99':>22}")
            for row in latency:
                p50, p99 = row["p50_ns"], row["p99_ns"]
                print(f"{row['offered_per_s'] / 1e6:>9.1f}M {row['threads']:>7} {row['achieved_per_s']['median'] / 1e6:>10.2f}M "
                      f"{_us(p50['median']):>10} ({_us(p50['low'])}-{_us(p50['high'])}) {_us(p99['median']):>10} ({_us(p99['low'])}-{_us(p99['high'])})")
        for name, ok in checks.items():
            print(f"{name}: {'met' if ok else 'NOT met'}")
        print(f"goal {GOAL_RATE / 1e6:.0f}M orders/s: best {max(medians.values()) / 1e6:.2f}M ({figures['seconds']:,.0f} s)")
    return 0 if all(checks.values()) else 1


def _us(ns: float) -> str:
    return f"{ns / 1000:,.2f} us" if ns < 10_000 else f"{ns / 1000:,.0f} us"


def _latency(args: argparse.Namespace, counts: list[int], began: float) -> list[dict[str, Any]]:
    """Per offered rate and k: medians and ranges over the repeats of p50, p99 and the achieved rate."""
    from lxdex_capacity.latency import LatencyRig
    from lxdex_capacity.latency.harness import warm_up
    from lxdex_capacity.scenarios.config import Scenario

    warm_up()
    offered = [float(r) for r in args.latency_rates.split(",")]
    rigs = {k: LatencyRig(Scenario(markets=args.markets, seed=0), reserve=True, orders_per_rate=args.latency_orders, threads=k)
            for k in counts if k <= (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)}
    points: dict[tuple[float, int], list[Any]] = {(rate, k): [] for rate in offered for k in rigs}
    for r in range(args.repeats):
        print(f"latency round {r + 1}/{args.repeats} ({time.perf_counter() - began:,.0f} s)", file=sys.stderr)
        for rate in offered:
            for k, rig in rigs.items():
                points[rate, k].append(rig.offer(rate))

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "low": min(values), "high": max(values)}

    return [{"offered_per_s": rate, "threads": k, "achieved_per_s": spread([p.achieved_per_s for p in runs]),
             "p50_ns": spread([p.latency.p50_ns for p in runs]), "p99_ns": spread([p.latency.p99_ns for p in runs])}
            for (rate, k), runs in points.items()]


if __name__ == "__main__":
    sys.exit(main())
