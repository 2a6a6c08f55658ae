"""Simulation results for tests: typed results made up with the figures a test sets, and real saved
documents (simulate.json, a report's results.json) of tiny runs, to start hostile variants from."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from lxdex_capacity.profiling.memory import ProcessMemory
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.simulation.assignment import ASSIGNMENT
from lxdex_capacity.simulation.results import Execution, PhaseResult, SimulationResult, Throughput

__all__ = ["made_up_result", "saved_simulation", "saved_results", "DELETE", "INFINITY", "mutated", "write_json",
           "fail_shard_after_seeding"]


def made_up_result(scenario: Scenario, phases: list[dict[str, Any]], throughput: dict[str, Any], baseline_rss: int) -> SimulationResult:
    """A :class:`SimulationResult` of ``scenario`` whose phases and throughput hold the given figures
    (``phases``: dicts with ``name`` and any :class:`PhaseResult` field), the rest zero."""
    def phase(figures: dict[str, Any]) -> PhaseResult:
        base: dict[str, Any] = {"markets": scenario.markets, "resting_orders": 0, "price_levels": 0, "trades": 0,
                                "trades_retained": 0, "engine_bytes_used": 0, "engine_bytes_reserved": 0, "components": {},
                                "traced_bytes": 0, "rss_bytes": 0, "uss_bytes": 0, "book_bytes_per_order": 0.0, "seconds": 0.0}
        return PhaseResult(**(base | figures))

    rates: dict[str, Any] = {"orders_per_s": 0.0, "flow_orders": 0, "flow_seconds": 0.0, "cancels": 0, "cancel_seconds": 0.0,
                             "lookups_per_s": 0.0, "random_access_ns_p50": 0.0, "random_access_ns_p99": 0.0,
                             "random_access_method": "made up", "random_access_histogram": {"edges": [], "counts": []}}
    return SimulationResult(
        scenario=scenario, baseline=ProcessMemory(baseline_rss, baseline_rss), phases=[phase(p) for p in phases],
        throughput=Throughput(**(rates | throughput)), elapsed_s=0.0, market_checksum="0" * 64, tape_checksum="0" * 64,
        estimate_bytes=0, universe={"securities": 0, "crypto": 0}, stalled=False, breakdown={}, distributions={},
        execution=Execution(mode="process", shards=1, assignment=ASSIGNMENT),
    )


@cache
def _saved_simulation(markets: int, trades: int, shards: int) -> str:
    from lxdex_capacity.simulation import simulate

    return json.dumps(simulate(Scenario(markets=markets, trades=trades), shards=shards).to_dict(), allow_nan=False)


def saved_simulation(markets: int = 300, trades: int = 2_000, shards: int = 1) -> dict[str, Any]:
    """What ``lxdex simulate --out`` saves for a tiny run (simulated once per process, a fresh copy each call)."""
    return json.loads(_saved_simulation(markets, trades, shards))


@cache
def _saved_results(markets: int, trades: int, shards: int) -> str:
    from lxdex_capacity.capacity.hardware import load_profiles
    from lxdex_capacity.capacity.model import load_model
    from lxdex_capacity.capacity.plan import PlanRequest
    from lxdex_capacity.reporting.report import collect

    simulation = saved_simulation(markets, trades, shards)
    results = collect(simulation, load_model(), load_profiles(None), PlanRequest(markets=simulation["markets"]), "lxdex report --out r")
    return json.dumps(results, allow_nan=False)


def saved_results(markets: int = 300, trades: int = 2_000, shards: int = 1) -> dict[str, Any]:
    """A report's results.json for the tiny run of :func:`saved_simulation` (a fresh copy each call)."""
    return json.loads(_saved_results(markets, trades, shards))


DELETE = object()  # mutated(): remove the key (or the list item)
INFINITY = "__1e999__"  # write_json() writes it as the number 1e999, which JSON parsers read as infinity


def mutated(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with the value at ``path`` (keys and list indexes) replaced by ``value``, or removed (:data:`DELETE`)."""
    out = copy.deepcopy(doc)
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return out


def write_json(path: Path, doc: Any) -> Path:
    """``doc`` as JSON at ``path``, :data:`INFINITY` written as ``1e999``."""
    path.write_text(json.dumps(doc, indent=1).replace(f'"{INFINITY}"', "1e999"), encoding="utf-8")
    return path


def fail_shard_after_seeding(monkeypatch: Any, shard: int = 1, message: str = "disk on fire") -> None:
    """Make ``shard`` of every run fail with a :class:`CapacityError` from its first traded batch on: a run
    that loses a shard part-way, as a worker that runs out of memory would."""
    from lxdex_capacity.errors import CapacityError
    from lxdex_capacity.simulation.worker import ShardWorker

    real = ShardWorker.step

    def flaky(self: Any, start: int, count: int) -> Any:
        if self.shard.shard == shard and start > 0:
            raise CapacityError(message)
        return real(self, start, count)

    monkeypatch.setattr(ShardWorker, "step", flaky)
