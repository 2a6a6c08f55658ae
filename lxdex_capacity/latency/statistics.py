"""The latency percentiles every latency figure reports, by key and percentile (a light module: renderers
import it without loading the engine)."""

from __future__ import annotations

__all__ = ["PERCENTILES", "resolved"]

PERCENTILES = (("p50_ns", 50.0), ("p90_ns", 90.0), ("p99_ns", 99.0), ("p999_ns", 99.9), ("p9999_ns", 99.99))


def resolved(percentile: float, samples: int) -> bool:
    """Whether ``samples`` resolve ``percentile``: at least one sample lies beyond it (else it is the max)."""
    return samples * (1.0 - percentile / 100.0) >= 1.0 - 1e-9
