#!/usr/bin/env python3
"""The capacity estimator against `lxdex simulate`: each size run in a fresh process, predicted vs measured.

    python bench/estimator_bench.py                               # 21,000, 1,000,000 and 10,000,000 markets
    python bench/estimator_bench.py --markets 21000 --repeat 3

For each size this is `lxdex plan --check` (lxdex_capacity.capacity.check): the default scenario at
that size (tier table, 262,144-trade tape, 1,000,000 trades), one process holding one engine. Targets
(issue 13), printed with each figure:

* engine bytes used: predicted within +-5% of measured;
* the plan's required memory: at least the RSS measured after the traded phase, at most 2x it;
* the memory guard's estimate of simulate's peak: within -5% .. +35% of the measured peak RSS.

Memory figures of a seeded run repeat exactly; RSS and peak RSS vary a little between runs (allocator
and page-cache state), so with --repeat > 1 the median and the range are printed. A size whose run
would not fit in this machine's memory is skipped and said so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from lxdex_capacity.capacity.check import check_plan
from lxdex_capacity.capacity.estimator import Estimator
from lxdex_capacity.capacity.plan import PlanRequest
from lxdex_capacity.errors import CapacityError
from lxdex_capacity.machine import machine_info


def _fmt(row: dict, value: float) -> str:
    return f"{value / 1e6:,.1f} MB" if row["unit"] == "bytes" else f"{value / 1e6:,.2f}M/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", default="21000,1000000,10000000", help="comma-separated market counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (each a fresh process)")
    args = parser.parse_args()
    try:
        sizes = [int(m) for m in args.markets.split(",")]
    except ValueError:
        parser.error(f"--markets={args.markets!r} must be comma-separated integers")
    estimator = Estimator.default()
    print(f"machine: {machine_info().summary()}; model: {estimator.model.provenance.get('command', 'reference model')}")
    failed = False
    for markets in sizes:
        runs = []
        for r in range(args.repeat):
            start = time.perf_counter()
            try:
                checked = check_plan(PlanRequest(markets=markets), estimator)
            except CapacityError as exc:
                print(f"{markets:,} markets: skipped ({exc})")
                break
            if checked.markets != markets:
                print(f"{markets:,} markets: skipped, this machine holds at most {checked.markets:,} of it")
                break
            runs.append(checked)
            print(f"  run {r + 1}/{args.repeat} at {markets:,} markets: {time.perf_counter() - start:,.0f} s", file=sys.stderr)
        if not runs:
            continue
        print(f"\n{markets:,} markets ({len(runs)} run(s)):")
        print(f"  {'figure':<52} {'predicted':>12} {'measured (median, range)':>36} {'error':>8}  target      met")
        for i, row in enumerate(runs[0].as_dict()["rows"]):
            measured = [c.as_dict()["rows"][i]["measured"] for c in runs]
            errors = [c.as_dict()["rows"][i]["error_pct"] for c in runs]
            passed = [c.rows[i].passed for c in runs]
            median = statistics.median(measured)
            spread = f" ({_fmt(row, min(measured))}–{_fmt(row, max(measured))})" if len(runs) > 1 else ""
            met = "—" if passed[0] is None else ("yes" if all(passed) else f"NO ({passed.count(False)} of {len(runs)})")
            failed |= any(p is False for p in passed)
            print(f"  {row['figure']:<52} {_fmt(row, row['predicted']):>12} {_fmt(row, median) + spread:>36} "
                  f"{statistics.median(errors):+7.1f}%  {row['target']:<11} {met}")
    print("\nerror = (predicted - measured) / measured; for the plan's required memory the target is a ratio to the RSS.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
