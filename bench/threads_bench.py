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

Targets (issue 15): 2 threads >= 1.8x one thread; >= 10M orders/s with 2 threads on the 2-core
machine; one thread >= 7M orders/s; goal 34M orders/s (the published figure).  Exit 0 when the
targets for the k run are met, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from lxdex_capacity.machine import machine_info
from lxdex_capacity.profiling import engine_bench as eb

TARGET_SPEEDUP_2, TARGET_RATE_2, TARGET_RATE_1, GOAL_RATE = 1.8, 10e6, 7e6, 34e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts; 1 is always run")
    parser.add_argument("--repeats", type=int, default=5)
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
    figures = {"machine": machine_info().summary(), "markets": args.markets, "trades": args.trades, "repeats": args.repeats,
               "rows": rows, "checks": checks, "seconds": time.perf_counter() - began}
    if args.json:
        print(json.dumps(figures, indent=2, allow_nan=False))
    else:
        print(f"machine: {figures['machine']}; {args.markets:,} markets until {args.trades:,} trades, {args.repeats} interleaved "
              f"repeats (median, low-high)")
        print(f"{'threads':>7} {'orders/s':>28} {'speed-up':>9}")
        for row in rows:
            o = row["orders_per_s"]
            print(f"{row['threads']:>7} {o['median'] / 1e6:>8.2f}M ({o['low'] / 1e6:.2f}-{o['high'] / 1e6:.2f}M) {row['speedup']:>8.2f}x")
        for name, ok in checks.items():
            print(f"{name}: {'met' if ok else 'NOT met'}")
        print(f"goal {GOAL_RATE / 1e6:.0f}M orders/s: best {max(medians.values()) / 1e6:.2f}M ({figures['seconds']:,.0f} s)")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
