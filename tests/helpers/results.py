"""Typed simulation results made up for tests: every field the schema needs, the figures a test sets."""

from __future__ import annotations

from typing import Any

from lxdex_capacity.profiling.memory import ProcessMemory
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.simulation.assignment import ASSIGNMENT
from lxdex_capacity.simulation.results import Execution, PhaseResult, SimulationResult, Throughput

__all__ = ["made_up_result"]


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
