"""Power-law workloads: tiered book depth, Zipf market activity, Pareto order sizes."""

from .tiers import DEFAULT_TIERS, Tier, draw_depths
from .activity import zipf_exponent_for_share, zipf_weights, top_share
from .flow import FlowParams, seed_orders, flow_orders

__all__ = [
    "Tier",
    "DEFAULT_TIERS",
    "draw_depths",
    "zipf_weights",
    "zipf_exponent_for_share",
    "top_share",
    "FlowParams",
    "seed_orders",
    "flow_orders",
]
