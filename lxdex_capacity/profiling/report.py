"""Run the engine benchmark workloads with repeats and summarise them as medians.

Shared by ``lxdex bench`` and ``bench/engine_bench.py`` so both print the same figures.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..machine import machine_info
from . import engine_bench as eb

__all__ = ["BenchConfig", "Target", "TARGETS", "run_benchmarks", "pin_to_one_core", "pin_to_cores"]

@dataclass(frozen=True)
class Target:
    """A figure's target from the engine issue: ``value op target`` (in ``unit``), and a goal beyond it."""

    op: str  # ">=" or "<="
    target: float
    unit: str
    goal: float | None = None

    def met(self, value: float) -> bool:
        return value >= self.target if self.op == ">=" else value <= self.target


TARGETS: dict[str, Target] = {
    "seeded_flow.orders_per_s": Target(">=", 10e6, "orders/s", goal=34e6),
    "cancel_heavy.messages_per_s": Target(">=", 10e6, "msg/s"),
    "lookups.lookups_per_s": Target(">=", 70e6, "lookups/s"),
    "footprint.bytes_per_order_used": Target("<=", 24, "B"),
    "footprint.bytes_per_empty_market": Target("<=", 64, "B"),
}


@dataclass(frozen=True)
class BenchConfig:
    markets: int = 21_000
    trades: int = 1_000_000
    cancel_messages: int = 4_000_000
    lookups: int = 10_000_000
    repeat: int = 5
    warmup: int = 1  # unrecorded runs first: a fresh process's first run pays for cold memory
    seed: int = 0
    threads: int = 1  # the seeded flow's engine: Engine(threads=k)

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(markets=2_000, trades=50_000, cancel_messages=200_000, lookups=500_000, repeat=1, warmup=0)


def pin_to_one_core() -> str:
    """Pin this process to one CPU, as the benchmarks are specified; return what was done."""
    return pin_to_cores(1)


def pin_to_cores(cores: int) -> str:
    """Pin this process to its ``cores`` lowest CPUs (an engine of that many threads); return what was done."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    usable = sorted(os.sched_getaffinity(0))
    if cores > len(usable):
        return f"not pinned: {cores} threads, {len(usable)} CPUs usable"
    chosen = set(usable[:cores])
    os.sched_setaffinity(0, chosen)
    return f"pinned to CPU {usable[0]}" if cores == 1 else f"pinned to CPUs {', '.join(map(str, sorted(chosen)))}"


def _median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], (int, float)) else runs[0][k] for k in keys}


def run_benchmarks(config: BenchConfig, advance: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every workload ``config.warmup`` times unrecorded, then ``config.repeat`` times (seeds
    ``seed..seed+repeat-1``); medians and all recorded runs."""
    advance = advance or (lambda label: None)
    eb.warm_up()
    workloads: dict[str, Callable[[int], dict[str, Any]]] = {
        "seeded_flow": lambda s: eb.seeded_flow(config.markets, config.trades, seed=s, threads=config.threads).as_dict(),
        "cancel_heavy": lambda s: eb.cancel_heavy(config.cancel_messages, seed=s),
        "lookups": lambda s: eb.lookups(config.markets, config.lookups, seed=s),
        "footprint": lambda s: eb.footprint(config.markets, seed=s),
    }
    results: dict[str, Any] = {}
    for name, workload in workloads.items():
        for i in range(config.warmup):
            workload(config.seed + config.repeat + i)
            advance(name)
        runs = []
        for i in range(config.repeat):
            runs.append(workload(config.seed + i))
            advance(name)
        results[name] = {"median": _median_runs(runs), "runs": runs}
    verdicts = {}
    for key, target in TARGETS.items():
        section, figure = key.split(".")
        value = results[section]["median"][figure]
        verdicts[key] = {"value": value, "op": target.op, "target": target.target, "unit": target.unit, "goal": target.goal, "met": target.met(value)}
    return {
        "version": __version__,
        "config": config.__dict__,
        "machine": machine_info().as_dict(),
        "results": results,
        "targets": verdicts,
    }
