"""Compact summaries of per-market distributions, small enough for a report's JSON at any size.

Book depth by activity rank (sampled at log-spaced ranks, for a log-log plot of the power law),
the Lorenz curve of flow across markets (how concentrated trading is), and a log-binned histogram.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["depth_by_rank", "lorenz", "log_histogram"]


def depth_by_rank(resting: np.ndarray, points: int = 400) -> dict[str, list[int]]:
    """Resting orders of the markets at ~``points`` log-spaced ranks (rank 1 = most active)."""
    n = len(resting)
    ranks = np.unique(np.geomspace(1, n, num=min(points, n)).astype(np.int64)) if n else np.empty(0, dtype=np.int64)
    return {"rank": ranks.tolist(), "resting_orders": resting[ranks - 1].astype(np.int64).tolist()}


def lorenz(activity: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """Cumulative share of ``activity`` held by the least active share of markets, at ``points`` shares."""
    ordered = np.sort(np.asarray(activity, dtype=np.float64))
    total = ordered.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(ordered)]) / (total if total else 1.0)
    shares = np.linspace(0.0, 1.0, points)
    held = np.interp(shares * len(ordered), np.arange(len(ordered) + 1), cumulative)
    return {"market_share": shares.tolist(), "activity_share": held.tolist()}


def log_histogram(values: np.ndarray, low: float = 1.0, high: float = 1e5, bins: int = 60) -> dict[str, Any]:
    """Counts of ``values`` in log-spaced bins from ``low`` to ``high`` (values outside are clipped in)."""
    edges = np.geomspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(values, low, high * 0.999999), bins=edges)
    return {"edges": edges.tolist(), "counts": counts.astype(np.int64).tolist()}
