#!/usr/bin/env python3
"""Engine benchmark: prints each figure with what it measured (medians of repeated runs, one core).

    python bench/engine_bench.py            # full sizes, adaptive repeats (at least 5 quiet runs) per workload
    python bench/engine_bench.py --json     # the same as one JSON object
    python bench/engine_bench.py --quick    # small smoke run

Workloads and targets are those of the engine issue; see lxdex_capacity/profiling/engine_bench.py.
"""

from __future__ import annotations

import argparse
import json
import sys

from lxdex_capacity.cli.render.bench import print_bench
from lxdex_capacity.profiling.report import BenchConfig, pin_to_one_core, run_benchmarks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="runs per timed workload (default: adaptive)")
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if (args.repeats is not None and args.repeats < 1) or args.markets < 1 or args.trades < 1:
        parser.error("--repeats, --markets and --trades must be at least 1")
    config = BenchConfig.quick() if args.quick else BenchConfig(markets=args.markets, trades=args.trades, repeats=args.repeats)
    pinned = pin_to_one_core()
    report = run_benchmarks(config, advance=lambda done, total, what: print(f"  {what}", file=sys.stderr))
    report["machine"]["pinning"] = pinned
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_bench(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
