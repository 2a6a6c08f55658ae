#!/usr/bin/env python3
"""Per-order latency under load at 21,000 markets, one core: medians of repeats against issue 14's targets.

    python bench/latency_bench.py                      # 21,000 markets, 5 repeats, 200,000 messages per run
    python bench/latency_bench.py --repeats 3 --orders 50000 --json

What it runs (lxdex_capacity.latency; the same code as `lxdex latency`), in one process pinned to one
core, on one engine seeded with the default scenario's books (seed 0), pools reserved:

1. the core's own interruptions (a spinning loop's gaps) and the latency floor they set, per repeat;
2. the service time of each order and each cancel alone;
3. Poisson arrivals at each offered rate, the repeats interleaved across the rates (round r offers
   every rate once), so that the machine's slow moments fall on all rates alike; per rate, the median
   and range over repeats of p50 .. p99.99 and max;
4. at 1M/s, in the same rounds: variants (no look-ahead; batches of 64; bursty arrivals; one cancel
   per order); then stalls: books that keep what rests, pools not reserved, offered run after run
   until a pool doubles (the runs before it, and the one that stalls);
5. the highest offered rate whose median p99 is at most 1 µs (lxdex_capacity.latency.slo's search).

Targets (issue 14): at 1M orders/s offered, p99 <= 1 µs and p99.9 <= 5 µs; the highest rate with
p99 <= 1 µs, goal >= 3M orders/s.  Exit 0 when both 1M/s targets are met, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from lxdex_capacity.latency import LatencyRig
from lxdex_capacity.latency.harness import warm_up
from lxdex_capacity.latency.platform import measure_interruptions
from lxdex_capacity.machine import machine_info
from lxdex_capacity.profiling.report import pin_to_one_core
from lxdex_capacity.scenarios.config import Scenario

STATS = ("p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns")
TARGET_RATE, TARGET_P99_NS, TARGET_P999_NS, GOAL_RATE = 1_000_000, 1_000.0, 5_000.0, 3_000_000
MAX_GROWING_RUNS = 30  # runs offered to growing books to catch a pool doubling (net growth ~30,000 orders a run here)


def _us(ns: float) -> str:
    return f"{ns / 1000:,.2f}" if ns < 10_000 else f"{ns / 1000:,.0f}"


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "low": min(values), "high": max(values)}


def _row(name: str, points: list[Any]) -> dict[str, Any]:
    return {"name": name, "repeats": len(points), "samples": points[0].latency.samples,
            "achieved_per_s": _summary([p.achieved_per_s for p in points]), "stalls": sum(p.stalls for p in points),
            **{s: _summary([getattr(p.latency, s) for p in points]) for s in STATS}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--rates", default="200000,500000,1000000,2000000,3000000", help="comma-separated offered rates per second")
    parser.add_argument("--repeats", type=int, default=5, help="offered runs per rate and variant (medians and ranges over them)")
    parser.add_argument("--orders", type=int, default=200_000, help="messages per offered run")
    parser.add_argument("--no-search", action="store_true", help="skip the search for the highest rate with p99 <= 1 µs")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    began = time.perf_counter()
    pinned = pin_to_one_core()
    warm_up()
    scenario = Scenario(markets=args.markets)
    rig = LatencyRig(scenario, reserve=True, orders_per_rate=args.orders)
    variants = {
        "no look-ahead": LatencyRig(scenario, reserve=True, orders_per_rate=args.orders, look_ahead=False),
        "batches of 64": LatencyRig(scenario, reserve=True, orders_per_rate=args.orders, batch=64),
        "bursty arrivals": LatencyRig(scenario, reserve=True, orders_per_rate=args.orders, arrivals="bursty"),
        "1 cancel per order": LatencyRig(scenario, reserve=True, orders_per_rate=args.orders, cancels_per_order=1.0),
    }
    service = rig.service()
    for other in variants.values():
        other.service()
    floors, by_rate = [], {rate: [] for rate in rates}
    by_variant: dict[str, list[Any]] = {name: [] for name in variants}
    for r in range(args.repeats):
        print(f"round {r + 1}/{args.repeats} ({time.perf_counter() - began:,.0f} s)", file=sys.stderr)
        floors.append(measure_interruptions(0.5))
        for rate in rates:
            by_rate[rate].append(rig.offer(rate))
        for name, other in variants.items():
            by_variant[name].append(other.offer(TARGET_RATE))
    # Stalls: stationary books never outgrow their pools once warm, so books that keep what rests (not cut
    # back to their seeded depth) are offered run after run, pools not reserved, until one run's pool doubles.
    growing = LatencyRig(scenario.model_copy(update={"stationary": False}), orders_per_rate=args.orders)
    growing.service()
    calm: list[Any] = []
    stalled: list[Any] = []
    while not stalled and len(calm) < MAX_GROWING_RUNS:
        print(f"growing books: run {len(calm) + 1}", file=sys.stderr)
        point = growing.offer(TARGET_RATE)
        (stalled if point.stalls else calm).append(point)
    search = None
    if not args.no_search:
        from lxdex_capacity.latency.slo import highest_rate, parse_slo

        print("searching the highest rate with p99 <= 1 µs", file=sys.stderr)
        search = highest_rate(rig, parse_slo("p99<=1us"), repeats=args.repeats)
    at_target = _row("1M/s", by_rate[TARGET_RATE]) if TARGET_RATE in by_rate else _row("1M/s", [rig.offer(TARGET_RATE)])
    met = at_target["p99_ns"]["median"] <= TARGET_P99_NS and at_target["p999_ns"]["median"] <= TARGET_P999_NS
    figures = {
        "machine": machine_info().summary(), "pinned": pinned, "markets": args.markets, "repeats": args.repeats, "orders": args.orders,
        "service": {"orders": vars(service.orders), "cancels": vars(service.cancels), "capacity_per_s": service.capacity_per_s},
        "interruptions": {"per_s": _summary([f.per_s for f in floors]), "lost_share": _summary([f.lost_share for f in floors]),
                          "floor_p99_ns": _summary([f.floor["p99_ns"] for f in floors]),
                          "floor_p999_ns": _summary([f.floor["p999_ns"] for f in floors])},
        "rates": [{"offered_per_s": rate, **_row(f"{rate:,.0f}/s", points)} for rate, points in by_rate.items()],
        "variants_at_1m": [_row(name, points) for name, points in by_variant.items()]
        + ([_row("growing books, no stall", calm)] if calm else []) + ([_row("growing books, a pool doubles", stalled)] if stalled else []),
        "highest_rate_p99_le_1us": search.rate_per_s if search is not None else None,
        "targets": {"p99_at_1m_ns": TARGET_P99_NS, "p999_at_1m_ns": TARGET_P999_NS, "goal_rate": GOAL_RATE, "met": met},
        "seconds": time.perf_counter() - began,
    }
    if args.json:
        print(json.dumps(figures, indent=2, allow_nan=False, default=float))
        return 0 if met else 1
    print(f"machine: {figures['machine']}; {pinned}; {args.markets:,} markets, Poisson arrivals, pools reserved, "
          f"{args.orders:,} messages per run, {args.repeats} repeats (median, low-high), times in µs")
    s = service
    print(f"service time alone: orders p50 {_us(s.orders.p50_ns)}, p99 {_us(s.orders.p99_ns)}, p99.9 {_us(s.orders.p999_ns)}; "
          f"cancels p50 {_us(s.cancels.p50_ns)}, p99 {_us(s.cancels.p99_ns)}; capacity {s.capacity_per_s / 1e6:,.2f}M/s")
    i = figures["interruptions"]
    print(f"this core's interruptions: {i['per_s']['median']:,.0f}/s, {i['lost_share']['median']:.1%} of the time; floor p99 "
          f"{_us(i['floor_p99_ns']['median'])} ({_us(i['floor_p99_ns']['low'])}-{_us(i['floor_p99_ns']['high'])}), p99.9 "
          f"{_us(i['floor_p999_ns']['median'])}")
    header = f"{'offered':>30} {'achieved/s':>11} " + " ".join(f"{s[:-3]:>22}" for s in STATS) + f" {'stalls':>7}"
    print(header)
    for row in figures["rates"] + figures["variants_at_1m"]:
        cells = " ".join(f"{_us(row[s]['median']):>8} ({_us(row[s]['low'])}-{_us(row[s]['high'])})".rjust(22) for s in STATS)
        print(f"{row['name']:>30} {row['achieved_per_s']['median'] / 1e6:>10.2f}M {cells} {row['stalls']:>7,}")
    verdict = "met" if met else "NOT met"
    print(f"\ntargets at 1M/s: p99 {_us(at_target['p99_ns']['median'])} µs (<= 1), p99.9 {_us(at_target['p999_ns']['median'])} µs (<= 5): "
          f"{verdict}")
    if search is not None:
        found = f"{search.rate_per_s:,.0f}/s" if search.rate_per_s > 0 else "none (no rate tried meets it)"
        print(f"highest offered rate with median p99 <= 1 µs: {found} (goal >= {GOAL_RATE:,}/s)")
    print(f"({figures['seconds']:,.0f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
