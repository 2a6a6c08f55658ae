"""The latency percentiles every latency figure reports, by key and percentile (a light module: renderers
import it without loading the engine)."""

from __future__ import annotations

import math

__all__ = ["PERCENTILES", "resolved", "samples_needed", "DEFAULT_BUDGET_S", "REPORT_LATENCY_BUDGET_S"]

DEFAULT_BUDGET_S = 10.0  # seconds of adaptive repeats per offered rate (and for the service times)
REPORT_LATENCY_BUDGET_S = 5.0  # the same in a report (lxdex report), which measures four rates
PERCENTILES = (("p50_ns", 50.0), ("p90_ns", 90.0), ("p99_ns", 99.0), ("p999_ns", 99.9), ("p9999_ns", 99.99))


def samples_needed(percentile: float | None) -> int:
    """Samples that resolve ``percentile`` (None: the max): at least one beyond it (p99: 100, p99.9: 1,000,
    p99.99: 10,000)."""
    return 1 if percentile is None else math.ceil(round(100.0 / (100.0 - percentile), 6))


def resolved(percentile: float, samples: int) -> bool:
    """Whether ``samples`` resolve ``percentile`` (else it is only the max)."""
    return samples >= samples_needed(percentile)
