"""Latency under load: per-order service time and open-loop latency percentiles per offered rate."""

from .harness import LatencyResult, Percentiles, RatePoint, measure_latency

__all__ = ["LatencyResult", "Percentiles", "RatePoint", "measure_latency"]
