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

Order sizes must be fitted (a day without enough new limit orders is an error that says so); any
other key the day cannot fit (no executions, no quoted book, a value outside the scenario's range)
keeps its default and is listed in :attr:`Calibration.not_fitted` with the reason: a figure that
cannot be computed is ``None``, never NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats  # here, not in calibrate(): imported before a day's arrays take the memory it needs

from ..errors import InputError
from ..scenarios.config import Scenario, scenario_from_dict
from .lobster import Messages

__all__ = ["Calibration", "calibrate", "to_toml", "FITTED_KEYS", "MIN_TAIL"]

TICK = 100  # LOBSTER prices are dollars x 10000; a cent is 100
FITTED_KEYS = ("pareto_alpha", "min_qty", "max_qty", "maker_distance_p", "taker_reach_p", "taker_share", "cancel_rate")
MIN_TAIL = 50  # sizes at or above x_min a Pareto fit needs


@dataclass(frozen=True)
class Calibration:
    source: str
    fitted: dict[str, float]  # the keys that were fitted (a subset of FITTED_KEYS)
    not_fitted: dict[str, str]  # the others: key -> why not (the scenario keeps its default)
    defaults: dict[str, float]
    size_ks_distance: float | None  # Kolmogorov-Smirnov D between the sizes and the fitted Pareto
    size_ks_pvalue: float | None
    round_lot_share: float  # sizes that are multiples of 100
    below_min_share: float  # sizes under the fitted x_min, which the generator does not produce
    adds: int
    takers: int
    cancels: int
    maker_distance_mean_ticks: float | None  # None: no new limit order arrived with both sides quoted
    taker_reach_mean_ticks: float | None  # None: no execution with both sides quoted
    orders_per_level: float | None
    messages_per_s_mean: float | None  # None: every message has the same time
    messages_per_s_peak: float  # busiest one-second window
    seconds: float

    @property
    def flow_orders(self) -> int:
        """New limit orders plus takers: what ``taker_share`` and ``cancel_rate`` are shares of."""
        return self.adds + self.takers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None if it is not finite (a degenerate test statistic)."""
    number = float(value)
    return number if np.isfinite(number) else None


def _pareto_cdf(x_min: float, alpha: float, cap: float):
    def cdf(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= cap, 1.0, 1.0 - (x_min / np.maximum(x, x_min)) ** alpha)

    return cdf


def _fit_pareto(sizes: np.ndarray, cap: float) -> tuple[float, float, float] | None:
    """(x_min, alpha, KS distance), or None if no candidate leaves a tail of :data:`MIN_TAIL` sizes:
    Clauset, Shalizi and Newman's method: for each candidate x_min, the maximum-likelihood alpha of
    the sizes above it; keep the x_min whose fit is closest (Kolmogorov-Smirnov) to the data above it."""
    best: tuple[float, float, float] | None = None
    candidates = np.unique(sizes)
    candidates = candidates[candidates < np.percentile(sizes, 90)]  # keep a tail to fit
    if len(candidates) > 200:  # continuous-looking sizes: scan quantiles rather than every value
        candidates = np.unique(np.quantile(candidates, np.linspace(0, 1, 200), method="nearest"))
    for x_min in candidates:
        if x_min <= 0:
            continue
        tail = np.sort(sizes[sizes >= x_min])
        if len(tail) < MIN_TAIL:
            continue
        logs = np.log(tail / x_min).sum()
        if logs <= 0:
            continue
        alpha = min(len(tail) / logs, 100.0)
        model = _pareto_cdf(float(x_min), alpha, cap)(tail)
        empirical_hi = np.arange(1, len(tail) + 1) / len(tail)
        d = float(np.max(np.maximum(np.abs(empirical_hi - model), np.abs(empirical_hi - 1 / len(tail) - model))))
        if best is None or d < best[2]:
            best = (float(x_min), float(alpha), d)
    return best


def _mid_before(orderbook: np.ndarray) -> np.ndarray:
    """Mid price before each message (the book after the previous one); NaN where a side is empty."""
    n = len(orderbook)
    mid = np.empty(n, dtype=np.float64)
    mid[0] = np.nan
    if n > 1:
        after = mid[1:]
        np.add(orderbook[:-1, 0], orderbook[:-1, 2], out=after, dtype=np.float64)
        after *= 0.5
        after[(orderbook[:-1, 1] <= 0) | (orderbook[:-1, 3] <= 0)] = np.nan
    return mid


def _geometric_p(values: np.ndarray) -> float:
    """MLE of Geometric(p) on 1, 2, ... (``values`` not empty, each at least 1): 1 / mean."""
    return float(min(1.0, 1.0 / values.mean()))


def _in_range(candidate: dict[str, float], fitted: dict[str, float], not_fitted: dict[str, str]) -> None:
    """Keep ``candidate``'s keys in ``fitted`` if a scenario accepts them, else say why in ``not_fitted``."""
    try:
        scenario_from_dict(candidate)
    except InputError as exc:
        reason = str(exc).removeprefix("scenario: ")
        for key in candidate:
            not_fitted[key] = f"the fitted value is outside what a scenario allows: {reason}"
        return
    fitted.update(candidate)


def calibrate(m: Messages, orderbook: np.ndarray, orders_per_level: float | None = None) -> Calibration:
    """Fit the scenario's flow parameters to messages ``m`` with their ``orderbook`` rows."""
    if len(orderbook) != len(m):
        raise InputError("the orderbook must have one row per message")
    adds = m.type == 1
    n_adds = int(adds.sum())
    sizes = m.size[adds].astype(np.float64)
    cap = float(np.percentile(sizes, 99.9)) if n_adds else 0.0
    fit = _fit_pareto(np.minimum(sizes, cap), cap) if n_adds >= MIN_TAIL else None
    if fit is None:
        raise InputError(f"{m.source}: cannot fit order sizes: {n_adds:,} new limit order(s) leave no tail of "
                         f"{MIN_TAIL} sizes or more to fit a Pareto law to (calibrate needs a day with more new orders)")
    x_min, alpha, _ks_d = fit
    ks = stats.kstest(np.minimum(sizes[sizes >= x_min], cap), _pareto_cdf(x_min, alpha, cap))
    mid = _mid_before(orderbook)
    fitted: dict[str, float] = {}
    not_fitted: dict[str, str] = {}

    sizes_fit = {"pareto_alpha": round(alpha, 4), "min_qty": int(x_min), "max_qty": int(max(cap, x_min))}
    try:
        scenario_from_dict(sizes_fit)
    except InputError as exc:
        raise InputError(f"{m.source}: the order sizes' fitted Pareto law is outside what a scenario allows: "
                         f"{str(exc).removeprefix('scenario: ')}") from None
    fitted.update(sizes_fit)

    valid = adds & ~np.isnan(mid)
    distance = np.maximum(np.round(np.abs(m.price[valid] - mid[valid]) / TICK), 1.0)
    if len(distance):
        _in_range({"maker_distance_p": round(_geometric_p(distance), 4)}, fitted, not_fitted)
    else:
        not_fitted["maker_distance_p"] = "no new limit order arrived with both sides of the book quoted, so no mid"

    executions = (m.type == 4) | (m.type == 5)
    ex_time, ex_side, ex_price, ex_mid = m.time[executions], m.side[executions], m.price[executions], mid[executions]
    # A taker: consecutive executions at one time against one side.
    new_group = np.ones(len(ex_time), dtype=bool)
    new_group[1:] = (ex_time[1:] != ex_time[:-1]) | (ex_side[1:] != ex_side[:-1])
    group = np.cumsum(new_group) - 1
    takers = int(new_group.sum())
    reach = np.abs(ex_price - ex_mid) / TICK
    deepest = np.full(takers, np.nan)
    quoted = ~np.isnan(reach)
    if takers:
        np.fmax.at(deepest, group[quoted], reach[quoted])
    deepest = np.maximum(np.round(deepest[~np.isnan(deepest)]), 1.0)
    if len(deepest):
        _in_range({"taker_reach_p": round(_geometric_p(deepest), 4)}, fitted, not_fitted)
    else:
        not_fitted["taker_reach_p"] = ("no executions" if not takers else "no execution with both sides of the book "
                                       "quoted, so no mid to measure the reach from")

    cancels = int(((m.type == 2) | (m.type == 3)).sum())
    flow = n_adds + takers  # at least MIN_TAIL: the sizes were fitted
    _in_range({"taker_share": round(takers / flow, 4)}, fitted, not_fitted)
    _in_range({"cancel_rate": round(cancels / flow, 4)}, fitted, not_fitted)

    start, end = float(m.time[0]), float(m.time[-1])  # times do not decrease (checked when read)
    span = end - start
    per_second = np.bincount((m.time - start).astype(np.int64))  # times are within one day: at most 86,401 bins
    defaults = {name: getattr(Scenario(), name) for name in Scenario.model_fields if name in FITTED_KEYS}
    return Calibration(
        source=m.source,
        fitted={key: fitted[key] for key in FITTED_KEYS if key in fitted},
        not_fitted={key: not_fitted[key] for key in FITTED_KEYS if key in not_fitted},
        defaults=defaults,
        size_ks_distance=_finite(ks.statistic),
        size_ks_pvalue=_finite(ks.pvalue),
        round_lot_share=float(np.count_nonzero(sizes % 100 == 0) / n_adds),
        below_min_share=float(np.count_nonzero(sizes < x_min) / n_adds),
        adds=n_adds,
        takers=takers,
        cancels=cancels,
        maker_distance_mean_ticks=float(distance.mean()) if len(distance) else None,
        taker_reach_mean_ticks=float(deepest.mean()) if len(deepest) else None,
        orders_per_level=orders_per_level,
        messages_per_s_mean=len(m) / span if span > 0 else None,
        messages_per_s_peak=float(per_second.max()),
        seconds=span,
    )


def _figure(value: float | None, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def to_toml(c: Calibration) -> str:
    """A scenario file with the fitted keys (everything else stays at its default; keys that could not
    be fitted are comments saying why)."""
    rate = (f"{c.messages_per_s_mean:,.1f} messages/s, peak {c.messages_per_s_peak:,.0f} in one second"
            if c.messages_per_s_mean is not None else "every message at the same time")
    lines = [
        f"# Scenario parameters fitted by lxdex calibrate to {c.source}",
        f"# order sizes: Pareto alpha by maximum likelihood above x_min = {c.fitted['min_qty']} (Clauset et al.), capped at the 99.9th",
        f"#   percentile; Kolmogorov-Smirnov D = {_figure(c.size_ks_distance, '.3f')}; {c.below_min_share:.0%} of sizes are below "
        f"x_min and {c.round_lot_share:.0%} are round lots of 100",
        f"# maker distance: mean {_figure(c.maker_distance_mean_ticks, '.2f')} ticks from the mid; taker reach: mean "
        f"{_figure(c.taker_reach_mean_ticks, '.2f')} ticks",
        f"# {c.adds:,} new limit orders, {c.takers:,} takers, {c.cancels:,} cancels over "
        f"{c.seconds:,.0f} s ({rate})" if c.seconds >= 10 else
        f"# {c.adds:,} new limit orders, {c.takers:,} takers, {c.cancels:,} cancels over {c.seconds:.3f} s ({rate})",
        "",
    ]
    for key in FITTED_KEYS:
        if key in c.fitted:
            lines.append(f"{key} = {c.fitted[key]}")
        else:
            lines.append(f"# {key} not fitted ({c.not_fitted[key]}): the default stays")
    return "\n".join(lines) + "\n"
