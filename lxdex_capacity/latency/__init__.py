"""Latency under load: per-order service time and open-loop latency percentiles per offered rate."""

from .harness import LatencyResult, LatencyRig, Percentiles, RatePoint, ServiceTimes, measure_latency

__all__ = ["LatencyResult", "LatencyRig", "Percentiles", "RatePoint", "ServiceTimes", "measure_latency"]
