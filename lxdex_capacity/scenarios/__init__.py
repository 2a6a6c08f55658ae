"""Power-law workloads: tiered book depth, Zipf market activity, Pareto order sizes, and the
counter-based :class:`Generator` that draws them the same way however a run is split."""

from .activity import top_share, zipf_cdf, zipf_exponent_for_share, zipf_weights
from .config import Scenario, load_scenario
from .flow import FlowParams
from .generator import FlowBatch, Generator, SeedBatch
from .tiers import DEFAULT_TIERS, Tier, expected_orders

__all__ = [
    "Scenario",
    "load_scenario",
    "Tier",
    "DEFAULT_TIERS",
    "expected_orders",
    "zipf_weights",
    "zipf_cdf",
    "zipf_exponent_for_share",
    "top_share",
    "FlowParams",
    "Generator",
    "SeedBatch",
    "FlowBatch",
]
