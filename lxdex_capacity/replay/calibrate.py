"""``lxdex calibrate``: fit the scenario generator's parameters to a LOBSTER day.

What is fitted, and how (each maps onto a :class:`~lxdex_capacity.scenarios.config.Scenario` key):

- **order sizes** (``pareto_alpha``, ``min_qty``, ``max_qty``): classical Pareto by maximum
  likelihood over the new limit orders' sizes, ``x_min`` chosen by the Clauset-Shalizi-Newman
  method (the one whose fit is closest to the tail above it), capped at the 99.9th percentile;
  goodness of fit is the Kolmogorov-Smirnov test (scipy) of the tail against the fitted law.
- **maker distance** (``maker_distance_p``): ticks ($0.01) between a new limit order and the mid
  before it, at least 1, fitted as the generator's ``Geometric(p)`` (maximum likelihood: 1/mean).
- **takers** (``taker_share``, ``taker_reach_p``): a taker is one group of executions with the same
  time and direction; its reach is the ticks from the mid to the deepest price it executed at.
- **cancels** (``cancel_rate``): partial cancels and deletions per flow order (adds plus takers).
- **orders per level and message rate**: reported, not scenario keys (depth comes from the tier table).

The mid before each message needs the orderbook: from ``--orderbook``, or the orderbook member of
the same LOBSTER zip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import InputError
from ..scenarios.config import Scenario, scenario_from_dict
from .lobster import Messages

__all__ = ["Calibration", "calibrate", "to_toml"]

TICK = 100  # LOBSTER prices are dollars x 10000; a cent is 100
FITTED_KEYS = ("pareto_alpha", "min_qty", "max_qty", "maker_distance_p", "taker_reach_p", "taker_share", "cancel_rate")


@dataclass(frozen=True)
class Calibration:
    source: str
    fitted: dict[str, float]
    defaults: dict[str, float]
    size_ks_distance: float  # Kolmogorov-Smirnov D between the sizes and the fitted Pareto
    size_ks_pvalue: float
    round_lot_share: float  # sizes that are multiples of 100
    below_min_share: float  # sizes under the fitted x_min, which the generator does not produce
    adds: int
    takers: int
    cancels: int
    maker_distance_mean_ticks: float
    taker_reach_mean_ticks: float
    orders_per_level: float | None
    messages_per_s_mean: float
    messages_per_s_peak: float  # busiest one-second window
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _geometric_p(values: np.ndarray) -> float:
    """MLE of Geometric(p) on 1, 2, ...: 1 / mean."""
    return float(min(1.0, 1.0 / values.mean())) if len(values) else float("nan")


def _pareto_cdf(x_min: float, alpha: float, cap: float):
    def cdf(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= cap, 1.0, 1.0 - (x_min / np.maximum(x, x_min)) ** alpha)

    return cdf


def _fit_pareto(sizes: np.ndarray, cap: float) -> tuple[float, float, float]:
    """(x_min, alpha, KS distance): Clauset, Shalizi and Newman's method: for each candidate
    x_min, the maximum-likelihood alpha of the sizes above it; keep the x_min whose fit is
    closest (Kolmogorov-Smirnov) to the data above it."""
    best = (float(sizes.min()), 1.0, np.inf)
    candidates = np.unique(sizes)
    candidates = candidates[candidates < np.percentile(sizes, 90)]  # keep a tail to fit
    if len(candidates) > 200:  # continuous-looking sizes: scan quantiles rather than every value
        candidates = np.unique(np.quantile(candidates, np.linspace(0, 1, 200), method="nearest"))
    for x_min in candidates:
        tail = np.sort(sizes[sizes >= x_min])
        logs = np.log(tail / x_min).sum()
        if len(tail) < 50 or logs <= 0:
            continue
        alpha = min(len(tail) / logs, 100.0)
        model = _pareto_cdf(float(x_min), alpha, cap)(tail)
        empirical_hi = np.arange(1, len(tail) + 1) / len(tail)
        d = float(np.max(np.maximum(np.abs(empirical_hi - model), np.abs(empirical_hi - 1 / len(tail) - model))))
        if d < best[2]:
            best = (float(x_min), float(alpha), d)
    if not np.isfinite(best[2]):
        raise InputError("order sizes leave no tail to fit a Pareto law to")
    return best


def _mid_before(orderbook: np.ndarray) -> np.ndarray:
    """Mid price before each message (the book after the previous one); NaN where a side is empty."""
    ask, ask_size, bid, bid_size = (orderbook[:, c].astype(np.float64) for c in range(4))
    mid_after = np.where((ask_size > 0) & (bid_size > 0), (ask + bid) / 2, np.nan)
    return np.concatenate([[np.nan], mid_after[:-1]])


def calibrate(m: Messages, orderbook: np.ndarray, orders_per_level: float | None = None) -> Calibration:
    """Fit the scenario's flow parameters to messages ``m`` with their ``orderbook`` rows."""
    from scipy import stats

    if len(orderbook) != len(m):
        raise InputError("the orderbook must have one row per message")
    adds = m.type == 1
    if adds.sum() < 10:
        raise InputError(f"{m.source}: only {int(adds.sum())} new limit orders; too few to fit order sizes")
    mid = _mid_before(orderbook)

    sizes = m.size[adds].astype(np.float64)
    cap = float(np.percentile(sizes, 99.9))
    x_min, alpha, _ks_d = _fit_pareto(np.minimum(sizes, cap), cap)
    ks = stats.kstest(np.minimum(sizes[sizes >= x_min], cap), _pareto_cdf(x_min, alpha, cap))

    valid = adds & ~np.isnan(mid)
    distance = np.maximum(np.round(np.abs(m.price[valid] - mid[valid]) / TICK), 1.0)

    executions = (m.type == 4) | (m.type == 5)
    ex_time, ex_side, ex_price, ex_mid = m.time[executions], m.side[executions], m.price[executions], mid[executions]
    # A taker: consecutive executions at one time against one side.
    new_group = np.ones(len(ex_time), dtype=bool)
    new_group[1:] = (ex_time[1:] != ex_time[:-1]) | (ex_side[1:] != ex_side[:-1])
    group = np.cumsum(new_group) - 1
    takers = int(new_group.sum())
    reach = np.abs(ex_price - ex_mid) / TICK
    deepest = np.full(takers, np.nan)
    ok = ~np.isnan(reach)
    if takers:
        np.fmax.at(deepest, group[ok], reach[ok])
    deepest = np.maximum(np.round(deepest[~np.isnan(deepest)]), 1.0)

    cancels = int(((m.type == 2) | (m.type == 3)).sum())
    flow = int(adds.sum()) + takers
    span = float(m.time.max() - m.time.min()) or 1.0
    per_second = np.bincount((m.time - m.time.min()).astype(np.int64))

    fitted = {
        "pareto_alpha": round(max(alpha, 1e-3), 4),
        "min_qty": int(x_min),
        "max_qty": int(max(cap, x_min)),
        "maker_distance_p": round(_geometric_p(distance), 4),
        "taker_reach_p": round(_geometric_p(deepest), 4) if len(deepest) else Scenario().taker_reach_p,
        "taker_share": round(takers / flow, 4),
        "cancel_rate": round(cancels / flow, 4),
    }
    defaults = {f.name: getattr(Scenario(), f.name) for f in fields(Scenario) if f.name in FITTED_KEYS}
    scenario_from_dict(fitted)  # the values must make a valid scenario
    return Calibration(
        source=m.source,
        fitted=fitted,
        defaults=defaults,
        size_ks_distance=float(ks.statistic),
        size_ks_pvalue=float(ks.pvalue),
        round_lot_share=float(np.mean(sizes % 100 == 0)),
        below_min_share=float(np.mean(sizes < x_min)),
        adds=int(adds.sum()),
        takers=takers,
        cancels=cancels,
        maker_distance_mean_ticks=float(distance.mean()) if len(distance) else float("nan"),
        taker_reach_mean_ticks=float(deepest.mean()) if len(deepest) else float("nan"),
        orders_per_level=orders_per_level,
        messages_per_s_mean=len(m) / span,
        messages_per_s_peak=float(per_second.max()),
        seconds=span,
    )


def to_toml(c: Calibration) -> str:
    """A scenario file with the fitted keys (everything else stays at its default)."""
    lines = [
        f"# Scenario parameters fitted by lxdex calibrate to {c.source}",
        f"# order sizes: Pareto alpha by maximum likelihood above x_min = {c.fitted['min_qty']} (Clauset et al.), capped at the 99.9th",
        f"#   percentile; Kolmogorov-Smirnov D = {c.size_ks_distance:.3f}; {c.below_min_share:.0%} of sizes are below x_min and "
        f"{c.round_lot_share:.0%} are round lots of 100",
        f"# maker distance: mean {c.maker_distance_mean_ticks:.2f} ticks from the mid; taker reach: mean {c.taker_reach_mean_ticks:.2f} ticks",
        f"# {c.adds:,} new limit orders, {c.takers:,} takers, {c.cancels:,} cancels over {c.seconds:,.0f} s "
        f"({c.messages_per_s_mean:,.1f} messages/s, peak {c.messages_per_s_peak:,.0f} in one second)",
        "",
    ]
    for key in FITTED_KEYS:
        value = c.fitted[key]
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"
