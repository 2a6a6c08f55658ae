#!/usr/bin/env python3
"""Sharded simulation benchmark: N markets on K Dask workers beside the same run in one process.

    python bench/sharded_bench.py                                  # 1,000,000 markets, 2 workers, 3 rounds
    python bench/sharded_bench.py --markets 10000000 --repeat 1

Each round runs ``lxdex simulate`` twice, each in a fresh process: once in one process and once as
``--shards K`` on a local Dask cluster of K workers; rounds alternate so that the machine's noise
falls on both.  Being one run, both must print the same market and tape checksums.  Printed per
shard: its markets, trades and orders/s through matching (``Engine.submit`` time only), and the
targets:

* balance: the busiest shard's trades at most 1.25x the quietest's;
* each shard's orders/s at least 0.8x the one-process rate (median over rounds).

Wall time is the whole command (interpreter, cluster start-up, building, seeding, trading).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BALANCE_TARGET = 1.25
RATE_TARGET = 0.8


def run(markets: int, trades: int, shards: int) -> dict:
    command = [sys.executable, "-m", "lxdex_capacity", "simulate", "--markets", str(markets), "--trades", str(trades), "--json"]
    if shards > 1:
        command += ["--shards", str(shards)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    report["wall_s"] = wall
    return report


def spread(values: list[float], scale: float = 1e6, unit: str = "M") -> str:
    return f"{statistics.median(values) / scale:,.2f}{unit} ({min(values) / scale:,.2f}-{max(values) / scale:,.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=1_000_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    one_runs, sharded_runs = [], []
    for round_ in range(args.repeat):
        for shards, runs in ((1, one_runs), (args.workers, sharded_runs)):
            report = run(args.markets, args.trades, shards)
            runs.append(report)
            label = "one process" if shards == 1 else f"{shards} shards on Dask"
            print(f"round {round_ + 1}, {label}: wall {report['wall_s']:,.1f} s, {report['throughput']['orders_per_s'] / 1e6:,.2f}M orders/s, "
                  f"checksum {report['market_checksum'][:16]}", flush=True)
    checksums = {(r["market_checksum"], r["tape_checksum"]) for r in one_runs + sharded_runs}
    one_rate = [r["throughput"]["orders_per_s"] for r in one_runs]
    print(f"\n{args.markets:,} markets, {args.trades:,} trades, {args.repeat} rounds; medians (range)")
    print(f"one process: {spread(one_rate)} orders/s, wall {spread([r['wall_s'] for r in one_runs], 1, ' s')}, "
          f"peak RSS {spread([r['phases'][-1]['rss_bytes'] for r in one_runs], 1e9, ' GB')} after trading")
    shard_rates = {}
    for k in range(args.workers):
        figures = [r["shards"][k] for r in sharded_runs]
        shard_rates[k] = statistics.median(f["orders_per_s"] for f in figures)
        f = figures[0]
        print(f"  shard {k}: {f['markets']:,} markets (expected flow share {f['expected_flow_share']:.3f}), "
              f"{f['trades']:,} trades, {f['resting_orders']:,} resting orders, {spread([x['orders_per_s'] for x in figures])} orders/s, "
              f"peak RSS {spread([x['peak_rss_bytes'] for x in figures], 1e9, ' GB')}")
    print(f"{args.workers} shards: wall {spread([r['wall_s'] for r in sharded_runs], 1, ' s')}, "
          f"all shards at once {spread([r['throughput']['parallel_orders_per_s'] for r in sharded_runs])} orders/s")
    trades = [s["trades"] for s in sharded_runs[0]["shards"]]
    balance = max(trades) / max(min(trades), 1)
    worst_rate = min(shard_rates.values()) / statistics.median(one_rate)
    same = len(checksums) == 1
    print(f"\nbalance: busiest/quietest shard trades {balance:.3f} (target <= {BALANCE_TARGET}): {'met' if balance <= BALANCE_TARGET else 'NOT met'}")
    print(f"slowest shard's orders/s / one process {worst_rate:.2f} (target >= {RATE_TARGET}): {'met' if worst_rate >= RATE_TARGET else 'NOT met'}")
    print(f"same run (market and tape checksums) in every round and execution: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
