"""Run the engine benchmark workloads with repeats and summarise them as figures with intervals (:mod:`lxdex_capacity.measure`).

Shared by ``lxdex bench`` and ``bench/engine_bench.py`` so both print the same figures.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .. import __version__
from ..machine import cpu_affinity, machine_info
from ..measure import Figure, RepeatPolicy, judge, run_repeats
from . import engine_bench as eb

__all__ = ["BenchConfig", "Target", "TARGETS", "run_benchmarks", "pin_to_one_core", "pin_to_cores"]

@dataclass(frozen=True)
class Target:
    """A figure's target from the engine issue: ``value op target`` (in ``unit``), and a goal beyond it."""

    op: str  # ">=" or "<="
    target: float
    unit: str
    goal: float | None = None

    def verdict(self, figure: Figure) -> str:
        """holds, fails or too noisy to call, from the figure's interval (:func:`lxdex_capacity.measure.judge`)."""
        return judge(figure, self.op, self.target)


TARGETS: dict[str, Target] = {
    "seeded_flow.orders_per_s": Target(">=", 10e6, "orders/s", goal=34e6),
    "cancel_heavy.messages_per_s": Target(">=", 10e6, "msg/s"),
    "lookups.lookups_per_s": Target(">=", 70e6, "lookups/s"),
    "footprint.bytes_per_order_used": Target("<=", 24, "B"),
    "footprint.bytes_per_empty_market": Target("<=", 64, "B"),
}

# Each workload's figures that say how fast (key -> unit, which way is better); the rest are counts.
TIMED: dict[str, dict[str, tuple[str, str]]] = {
    "seeded_flow": {"orders_per_s": ("orders/s", "higher"), "seed_orders_per_s": ("orders/s", "higher")},
    "cancel_heavy": {"messages_per_s": ("msg/s", "higher")},
    "lookups": {"lookups_per_s": ("lookups/s", "higher"), "ns_per_lookup": ("ns", "lower")},
    "footprint": {},
}
COUNTED: dict[str, dict[str, tuple[str, str]]] = {
    "footprint": {"bytes_per_order_used": ("B", "lower"), "bytes_per_empty_market": ("B", "lower")},
}
PRIMARY = {"seeded_flow": "orders_per_s", "cancel_heavy": "messages_per_s", "lookups": "lookups_per_s"}
DEFAULT_BUDGET_S = 30.0  # seconds of adaptive repeats per workload


@dataclass(frozen=True)
class BenchConfig:
    markets: int = 21_000
    trades: int = 1_000_000
    cancel_messages: int = 4_000_000
    lookups: int = 10_000_000
    repeats: int | None = None  # recorded runs per timed workload; None: adaptive (RepeatPolicy), within budget_s each
    warmup: int = 1  # unrecorded runs first: a fresh process's first run pays for cold memory
    seed: int = 0
    threads: int = 1  # the seeded flow's engine: Engine(threads=k)
    budget_s: float = DEFAULT_BUDGET_S

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(markets=2_000, trades=50_000, cancel_messages=200_000, lookups=500_000, repeats=1, warmup=0)

    def policy(self) -> RepeatPolicy:
        return RepeatPolicy(repeats=self.repeats, warmup=self.warmup, budget_s=self.budget_s)


def pin_to_one_core() -> str:
    """Pin this process to one CPU, as the benchmarks are specified; return what was done."""
    return pin_to_cores(1)


def pin_to_cores(cores: int) -> str:
    """Pin this process to its ``cores`` lowest CPUs (an engine of that many threads); return what was done."""
    allowed = cpu_affinity()
    if allowed is None or not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    usable = sorted(allowed)
    if cores > len(usable):
        return f"not pinned: {cores} threads, {len(usable)} CPUs usable"
    chosen = set(usable[:cores])
    os.sched_setaffinity(0, chosen)
    return f"pinned to CPU {usable[0]}" if cores == 1 else f"pinned to CPUs {', '.join(map(str, sorted(chosen)))}"


def _median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], (int, float)) else runs[0][k] for k in keys}


def run_benchmarks(config: BenchConfig, advance: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Every workload warmed up ``config.warmup`` times unrecorded, then repeated as ``config.policy()`` says
    (run ``i`` on seed ``seed + i``), each run in its own machine window; the footprint, counted exactly, once.
    Returns each workload's medians, runs and figures (:class:`~lxdex_capacity.measure.Figure`), and every
    target's verdict from its figure's interval."""
    progress = advance or (lambda done, total, what: None)
    eb.warm_up()
    policy = config.policy()
    warm_seed = config.seed + policy.most  # warm-up runs use seeds after the recorded ones'
    workloads: dict[str, Callable[[int], dict[str, Any]]] = {
        "seeded_flow": lambda s: eb.seeded_flow(config.markets, config.trades, seed=s, threads=config.threads).as_dict(),
        "cancel_heavy": lambda s: eb.cancel_heavy(config.cancel_messages, seed=s),
        "lookups": lambda s: eb.lookups(config.markets, config.lookups, seed=s),
        "footprint": lambda s: eb.footprint(config.markets, seed=s),
    }
    results: dict[str, Any] = {}
    figures: dict[str, Figure] = {}
    for name, workload in workloads.items():
        runs: list[dict[str, Any]] = []

        def measure(i: int, workload: Callable[[int], dict[str, Any]] = workload, runs: list[dict[str, Any]] = runs) -> dict[str, float]:
            run = workload(config.seed + i if i >= 0 else warm_seed - i - 1)
            if i >= 0:
                runs.append(run)
            return {k: float(v) for k, v in run.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

        timed = name in PRIMARY
        workload_policy = policy if timed else RepeatPolicy(repeats=1, warmup=0)
        repeated = run_repeats(measure, workload_policy, primary=[PRIMARY[name]] if timed else (), progress=progress, what=name)
        own = {key: repeated.figure(key, unit, better=better, label=f"{name}.{key}")  # type: ignore[arg-type]
               for key, (unit, better) in TIMED[name].items()}
        own |= {key: repeated.figure(key, unit, better=better, timed=False, label=f"{name}.{key}")  # type: ignore[arg-type]
                for key, (unit, better) in COUNTED.get(name, {}).items()}
        figures |= {f"{name}.{key}": f for key, f in own.items()}
        results[name] = {"median": _median_runs(runs), "runs": runs, "stop": repeated.stop,
                         "figures": {key: f.as_dict() for key, f in own.items()}}
    verdicts = {}
    for key, target in TARGETS.items():
        figure = figures[key]
        verdict = target.verdict(figure)
        verdicts[key] = {"value": figure.value, "low": figure.low, "high": figure.high, "op": target.op, "target": target.target,
                         "unit": target.unit, "goal": target.goal, "verdict": verdict, "status": figure.status, "met": verdict == "holds"}
    return {
        "kind": "bench",
        "version": __version__,
        "config": asdict(config) | {"policy": policy.describe()},
        "machine": machine_info().as_dict(),
        "results": results,
        "targets": verdicts,
        "figures": {key: f.as_dict() for key, f in figures.items()},
    }
