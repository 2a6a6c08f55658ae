#!/usr/bin/env python3
"""End-to-end `lxdex simulate` benchmark: each size in a fresh process, its figures printed.

    python bench/simulate_bench.py                          # 21,000 markets, 3 runs
    python bench/simulate_bench.py --markets 1000000,10000000 --repeat 1

Targets from the simulate issue, checked for the 21,000-market run: end to end well under a minute,
and the traded phase's engine memory at most 42 MB (half the published 83 MB).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict

from lxdex_capacity.simulation.results import SimulationResult

TARGET_SECONDS = 60
TARGET_ENGINE_MB = 42


def run_once(markets: int) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "from lxdex_capacity.cli import main; main()", "simulate", "--markets", str(markets), "--json"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"simulate --markets {markets} failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    report["wall_s"] = wall  # includes interpreter start-up and loading the compiled kernels
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", default="21000", help="comma-separated market counts")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        sizes = [int(m) for m in args.markets.split(",")]
    except ValueError:
        parser.error(f"--markets={args.markets!r} must be comma-separated integers")
    if args.repeat < 1 or any(m < 1 for m in sizes):
        parser.error("--repeat and every market count must be at least 1")
    print(f"{'markets':>11} {'wall s':>8} {'engine MB':>10} {'reserved MB':>12} {'RSS MB':>8} {'B/market':>9} {'B/order':>8} {'orders/s':>10} {'resting':>12}")
    for markets in sizes:
        runs = [run_once(markets) for _ in range(args.repeat)]
        traded = [asdict(SimulationResult.from_dict(r).traded) for r in runs]
        med = statistics.median
        wall = med(r["wall_s"] for r in runs)
        used = med(t["engine_bytes_used"] for t in traded) / 1e6
        reserved = med(t["engine_bytes_reserved"] for t in traded) / 1e6
        print(
            f"{markets:>11,} {wall:>8.1f} {used:>10.2f} {reserved:>12.2f} {med(t['rss_bytes'] for t in traded) / 1e6:>8.0f} "
            f"{med(r['per_market_bytes'] for r in runs):>9.1f} {med(r['per_order_bytes'] for r in runs):>8.2f} "
            f"{med(r['throughput']['orders_per_s'] for r in runs) / 1e6:>9.2f}M {traded[0]['resting_orders']:>12,}"
        )
        if markets == 21_000:
            print(f"  target: end to end < {TARGET_SECONDS} s: {'met' if wall < TARGET_SECONDS else 'NOT met'} ({wall:.1f} s); "
                  f"traded-phase engine memory <= {TARGET_ENGINE_MB} MB: used {used:.2f} MB, reserved {reserved:.2f} MB: "
                  f"{'met' if reserved <= TARGET_ENGINE_MB else 'NOT met'}")
        checksums = {r["market_checksum"] for r in runs}
        print(f"  {len(runs)} run(s), median shown; market checksums identical: {len(checksums) == 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
