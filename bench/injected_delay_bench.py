#!/usr/bin/env python3
"""An injected service delay adds its own length to the service and the latency, and no more: measured, not asserted.

    python bench/injected_delay_bench.py                 # 5 rounds, 200 markets, 2,000 orders at 5,000/s offered
    python bench/injected_delay_bench.py --rounds 9 --json

Each round runs the latency harness (the same code as `lxdex latency`) twice on the same seeded books, without and
with a 20 µs busy-wait injected into every service, one after the other (so that the machine's slow moments fall on
both alike), and prints, per round and as medians, how much the injected delay added to the service p50 and to the
latency p50, and each run's capacity.  What it checks is the harness's arithmetic under a real machine: the service
p50 should grow by 19-25 µs, the latency p50 by 19-30 µs, and the capacity fall below 50,000/s (one service per
20 µs) while the plain one stays above.  These were a test's assertions; a figure that depends on how busy the
machine is belongs here (tests/test_latency.py keeps what holds however slow the machine is: every service and
latency takes at least the delay).  Exit 0 when the medians are within those ranges, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from lxdex_capacity.latency import measure_latency
from lxdex_capacity.machine import machine_info
from lxdex_capacity.measure import RepeatPolicy, open_window
from lxdex_capacity.scenarios.config import Scenario

DELAY_NS = 20_000
SERVICE_ADDED = (19_000, 25_000)
LATENCY_ADDED = (19_000, 30_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    once = RepeatPolicy(repeats=1, warmup=0)
    scenario = Scenario(markets=200)
    rounds, busy = [], []
    for _ in range(args.rounds):
        window = open_window()
        plain = measure_latency(scenario, [5_000], orders_per_rate=2_000, reserve=True, policy=once)
        slowed = measure_latency(scenario, [5_000], orders_per_rate=2_000, reserve=True, inject_delay_ns=DELAY_NS, policy=once)
        busy.extend(window.close().busy_reasons())
        rounds.append({"service_added_ns": slowed.service.p50_ns - plain.service.p50_ns,
                       "latency_added_ns": slowed.rates[0].latency.p50_ns - plain.rates[0].latency.p50_ns,
                       "plain_capacity_per_s": plain.capacity_per_s, "slowed_capacity_per_s": slowed.capacity_per_s})
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    met = (SERVICE_ADDED[0] <= medians["service_added_ns"] <= SERVICE_ADDED[1]
           and LATENCY_ADDED[0] <= medians["latency_added_ns"] <= LATENCY_ADDED[1]
           and medians["slowed_capacity_per_s"] < 1e9 / DELAY_NS < medians["plain_capacity_per_s"])
    machine = "; ".join(sorted(set(busy))) or "quiet"
    if args.json:
        print(json.dumps({"rounds": rounds, "medians": medians, "met": met, "machine": machine_info().summary(),
                          "machine_state": machine}, indent=2, allow_nan=False))
    else:
        for i, r in enumerate(rounds, 1):
            print(f"round {i}: service p50 +{r['service_added_ns'] / 1e3:,.1f} µs, latency p50 +{r['latency_added_ns'] / 1e3:,.1f} µs, "
                  f"capacity {r['plain_capacity_per_s']:,.0f}/s plain, {r['slowed_capacity_per_s']:,.0f}/s slowed")
        print(f"medians of {args.rounds}: service p50 +{medians['service_added_ns'] / 1e3:,.1f} µs (target 19–25), latency p50 "
              f"+{medians['latency_added_ns'] / 1e3:,.1f} µs (target 19–30), capacity {medians['plain_capacity_per_s']:,.0f}/s plain, "
              f"{medians['slowed_capacity_per_s']:,.0f}/s slowed (50,000/s between them): {'met' if met else 'NOT met'}; "
              f"{machine_info().summary()}; machine: {machine}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
