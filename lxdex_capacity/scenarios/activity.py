"""Zipf market activity: weights ``rank**-s`` with ``s`` solved so the top X% of markets get Y% of flow."""

from __future__ import annotations

import numpy as np

__all__ = ["zipf_weights", "zipf_cdf", "top_share", "zipf_exponent_for_share", "reachable_flow_shares", "MAX_EXPONENT"]

MAX_EXPONENT = 20.0  # the steepest Zipf law solved for: the busiest market already takes all but 1e-6 of the flow


def zipf_weights(n_markets: int, exponent: float) -> np.ndarray:
    """Normalised weights ``(rank+1) ** -exponent`` for ranks 0..n-1."""
    weights = np.arange(1, n_markets + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def zipf_cdf(n_markets: int, exponent: float) -> np.ndarray:
    """Cumulative activity weights by rank (the last is 1 up to rounding): what flow draws markets from."""
    return np.cumsum(zipf_weights(n_markets, exponent))


def top_share(weights: np.ndarray, market_share: float) -> float:
    """Share of total weight held by the top ``market_share`` fraction of markets."""
    top = max(1, round(len(weights) * market_share))
    return float(np.sort(weights)[::-1][:top].sum() / weights.sum())


_EXACT_TERMS = 100_000


def _power_sum(first: int, last: int, exponent: float, exact_terms: int = _EXACT_TERMS) -> float:
    """``sum(r ** -exponent for r in first..last)``: exact for the first ``exact_terms`` terms (100,000), and the
    midpoint-rule integral beyond, whose error is negligible where the terms vary so slowly."""
    if last < first:
        return 0.0
    exact_last = min(last, first + exact_terms - 1)
    total = float(np.sum(np.arange(first, exact_last + 1, dtype=np.float64) ** -exponent))
    if last > exact_last:
        a, b = exact_last + 0.5, last + 0.5
        total += np.log(b / a) if exponent == 1.0 else (b ** (1 - exponent) - a ** (1 - exponent)) / (1 - exponent)
    return total


def _share_at(n_markets: int, top: int, exponent: float, exact_terms: int = _EXACT_TERMS) -> float:
    head = _power_sum(1, top, exponent, exact_terms)
    return head / (head + _power_sum(top + 1, n_markets, exponent, exact_terms))


def _top_count(n_markets: int, market_share: float) -> int:
    return max(1, round(n_markets * market_share))


def reachable_flow_shares(n_markets: int, market_share: float) -> tuple[float, float]:
    """The least and the most flow a Zipf law (exponent 0 to :data:`MAX_EXPONENT`) gives the busiest
    ``market_share`` of ``n_markets`` markets: uniform flow gives them their share of the markets
    (counted in whole markets, at least one), the steepest law nearly everything."""
    if n_markets <= 1:
        return 1.0, 1.0
    top = _top_count(n_markets, market_share)
    return top / n_markets, _share_at(n_markets, top, MAX_EXPONENT)


def zipf_exponent_for_share(n_markets: int, flow_share: float = 0.8, market_share: float = 0.2,
                            exact_terms: int = _EXACT_TERMS) -> float:
    """Exponent ``s`` such that the top ``market_share`` of markets receive ``flow_share`` of flow.

    The share is increasing in ``s``, so bisection converges; with too few markets to reach the
    share (e.g. one market) the closest exponent in [0, 20] is returned.  Each step costs
    O(``exact_terms``) whatever the number of markets, so 100M markets take as long as 100K; a caller
    that solves hundreds of laws (the per-core rate model) asks for fewer exact terms.
    """
    if n_markets <= 1:
        return 0.0
    top = _top_count(n_markets, market_share)
    low, high = 0.0, MAX_EXPONENT
    for _ in range(60):
        mid = (low + high) / 2
        if _share_at(n_markets, top, mid, exact_terms) < flow_share:
            low = mid
        else:
            high = mid
    return (low + high) / 2
