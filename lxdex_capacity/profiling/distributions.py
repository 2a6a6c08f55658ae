"""Compact summaries of per-market distributions, small enough for a report's JSON at any size.

Book depth by activity rank (sampled at log-spaced ranks, for a log-log plot of the power law),
the Lorenz curve of flow across markets (how concentrated trading is), and a log-binned histogram.
The Lorenz curve and top share are computed from value counts (distinct value -> markets), which
shards of a run can add up before the curve is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["sample_ranks", "depth_by_rank", "value_counts", "merge_value_counts", "lorenz", "lorenz_from_counts",
           "top_share_from_counts", "log_histogram"]

ValueCounts = tuple[np.ndarray, np.ndarray]  # distinct values (ascending), markets holding each


def sample_ranks(n_markets: int, points: int = 400) -> np.ndarray:
    """About ``points`` log-spaced ranks in 1..n_markets (rank 1 = most active)."""
    if not n_markets:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.geomspace(1, n_markets, num=min(points, n_markets)).astype(np.int64))


def depth_by_rank(resting: np.ndarray, points: int = 400) -> dict[str, list[int]]:
    """Resting orders of the markets at ~``points`` log-spaced ranks."""
    ranks = sample_ranks(len(resting), points)
    return {"rank": ranks.tolist(), "resting_orders": resting[ranks - 1].astype(np.int64).tolist()}


def value_counts(values: np.ndarray) -> ValueCounts:
    distinct, counts = np.unique(np.asarray(values, dtype=np.int64), return_counts=True)
    return distinct, counts.astype(np.int64)


def merge_value_counts(parts: Iterable[ValueCounts]) -> ValueCounts:
    """The value counts of the union of the markets the ``parts`` count."""
    parts = list(parts)
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    values = np.concatenate([np.asarray(v, dtype=np.int64) for v, _ in parts])
    counts = np.concatenate([np.asarray(c, dtype=np.int64) for _, c in parts])
    distinct, where = np.unique(values, return_inverse=True)
    return distinct, np.bincount(where, weights=counts, minlength=len(distinct)).astype(np.int64)


def lorenz_from_counts(values: np.ndarray, counts: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """Cumulative share of activity held by the least active share of markets, at ``points`` shares.

    Exact: within a run of markets of equal activity the curve is a straight line."""
    values, counts = np.asarray(values, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    positions = np.concatenate([[0.0], np.cumsum(counts)])
    held = np.concatenate([[0.0], np.cumsum(values * counts)])
    total = held[-1]
    shares = np.linspace(0.0, 1.0, points)
    curve = np.interp(shares * positions[-1], positions, held / (total if total else 1.0))
    return {"market_share": shares.tolist(), "activity_share": curve.tolist()}


def lorenz(activity: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """:func:`lorenz_from_counts` of one array of per-market activity."""
    return lorenz_from_counts(*value_counts(activity), points=points)


def top_share_from_counts(values: np.ndarray, counts: np.ndarray, market_share: float) -> float:
    """Share of all activity held by the most active ``market_share`` of markets (0 without activity)."""
    values, counts = np.asarray(values, dtype=np.float64)[::-1], np.asarray(counts, dtype=np.int64)[::-1]
    total = float((values * counts).sum())
    if not total:
        return 0.0
    top = max(1, round(float(counts.sum()) * market_share))  # a Python float, so round() gives an int
    taken = np.minimum(counts, np.maximum(top - (np.cumsum(counts) - counts), 0))
    return float((values * taken).sum() / total)


def log_histogram(values: np.ndarray, low: float = 1.0, high: float = 1e5, bins: int = 60) -> dict[str, Any]:
    """Counts of ``values`` in log-spaced bins from ``low`` to ``high`` (values outside are clipped in)."""
    edges = np.geomspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(values, low, high * 0.999999), bins=edges)
    return {"edges": edges.tolist(), "counts": counts.astype(np.int64).tolist()}
