#!/usr/bin/env python3
"""The time guard's estimates against measured runs: for a few commands and sizes, the estimate the guard
refuses on (:mod:`lxdex_capacity.time_guard`) and the wall and CPU seconds of the command run in a fresh process.

    python bench/time_estimate_bench.py            # a few small runs, a minute or two
    python bench/time_estimate_bench.py --large    # also 1 million markets and 10 million trades (several minutes)

The estimates are rough by design (they decide whether a run is refused before it starts, against a limit of an
hour by default): within a factor of about 2 of the CPU seconds of a run on a quiet machine is what they aim at.
On a busy machine the wall time is longer than the CPU time by the share of the cores others take.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxdex_capacity.machine import usable_cores
from lxdex_capacity.measure import RepeatPolicy
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.time_guard import Estimate, simulation_estimate

LXDEX = [sys.executable, "-m", "lxdex_capacity"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``lxdex ARGS`` in a fresh process (its children included), allowed any time."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run([*LXDEX, *args, "--max-time", "none"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def latency_estimate(markets: int, rates: list[float], orders: int, repeats: int) -> Estimate:
    from lxdex_capacity.latency.harness import estimate_latency

    return estimate_latency(Scenario(markets=markets), rates, orders, RepeatPolicy(repeats=repeats, warmup=1))


def replay_estimate(size_bytes: int) -> Estimate:
    from lxdex_capacity.time_guard import REPLAY_BYTES_PER_S, SIMULATION_COSTS, clock_scale

    return Estimate(SIMULATION_COSTS.fixed_s + size_bytes / REPLAY_BYTES_PER_S * clock_scale(), "replaying")


def cases(large: bool, folder: Path) -> list[tuple[str, Callable[[], Estimate], list[str]]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from helpers.lobster import adds_only_day

    messages, book = adds_only_day(folder, 300_000)
    size = messages.stat().st_size + book.stat().st_size
    found: list[tuple[str, Callable[[], Estimate], list[str]]] = [
        ("simulate 1,000 markets, 200,000 trades", lambda: simulation_estimate(Scenario(markets=1000, trades=200_000)),
         ["simulate", "--markets", "1000", "--trades", "200000", "--json"]),
        ("simulate 21,000 markets, 1,000,000 trades", lambda: simulation_estimate(Scenario()), ["simulate", "--json"]),
        ("simulate 21,000 markets, 3,000,000 trades", lambda: simulation_estimate(Scenario(trades=3_000_000)),
         ["simulate", "--trades", "3000000", "--json"]),
        ("latency 2,000 markets, 2 rates x 4 runs", lambda: latency_estimate(2000, [1e5, 1e6], 50_000, 3),
         ["latency", "--markets", "2000", "--rates", "100000,1000000", "--orders-per-rate", "50000", "--repeats", "3", "--json"]),
        (f"replay {size / 1e6:.0f} MB of CSV", lambda: replay_estimate(size),
         ["replay", str(messages), "--orderbook", str(book), "--json"]),
    ]
    if usable_cores() > 1:
        found.append(("simulate 21,000 markets, 3,000,000 trades, 2 threads",
                      lambda: simulation_estimate(Scenario(trades=3_000_000), threads=2, cores=usable_cores()),
                      ["simulate", "--trades", "3000000", "--threads", "2", "--json"]))
    if large:
        found += [
            ("simulate 1,000,000 markets", lambda: simulation_estimate(Scenario(markets=1_000_000)),
             ["simulate", "--markets", "1000000", "--json"]),
            ("simulate 21,000 markets, 10,000,000 trades", lambda: simulation_estimate(Scenario(trades=10_000_000)),
             ["simulate", "--trades", "10000000", "--json"]),
        ]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also runs of a million markets and ten million trades")
    args = parser.parse_args()
    subprocess.run([*LXDEX, "simulate", "--markets", "10", "--trades", "10"], check=True, stdout=subprocess.DEVNULL)  # kernels cached
    print(f"{'command':<55} {'estimate s':>10} {'wall s':>8} {'cpu s':>8} {'estimate/cpu':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for name, estimate, command in cases(args.large, Path(folder)):
            guessed = estimate().seconds
            wall, cpu = measured(command)
            print(f"{name:<55} {guessed:>10.1f} {wall:>8.1f} {cpu:>8.1f} {guessed / cpu if cpu else float('nan'):>12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
