"""The cost model: engine bytes = base + a*markets + b*resting_orders + c*trades_retained.

Fitted by ordinary least squares (numpy) to measured sweep points, with 95% confidence intervals
on the coefficients (Student's t, scipy), R², residuals and 95% prediction intervals for new
loads.  A :class:`CapacityModel` couples the fit with the other measured figures a plan needs (the
process's runtime bytes, reserved/used ratios, per-core order throughput) and is stored as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import parse_json, read_input_file

__all__ = ["TERMS", "LinearFit", "CapacityModel", "fit_bytes", "load_model"]

TERMS = ("base", "markets", "resting_orders", "trades_retained")
MODEL_FORMAT = "lxdex-capacity-model/1"


@dataclass(frozen=True)
class LinearFit:
    """OLS of bytes on (1, markets, resting_orders, trades_retained)."""

    coefficients: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    residual_std: float  # bytes; 0 when the fit is exact
    dof: int  # points minus terms
    r2: float
    n_points: int

    def design_row(self, markets: float, resting_orders: float, trades_retained: float) -> np.ndarray:
        return np.array([1.0, markets, resting_orders, trades_retained])

    def predict(self, markets: float, resting_orders: float, trades_retained: float) -> float:
        return float(self.design_row(markets, resting_orders, trades_retained) @ np.array(self.coefficients))

    def interval(self, markets: float, resting_orders: float, trades_retained: float) -> tuple[float, float]:
        """95% prediction interval for one new measurement at this load (fit uncertainty plus scatter)."""
        x = self.design_row(markets, resting_orders, trades_retained)
        centre = float(x @ np.array(self.coefficients))
        if self.dof <= 0:
            return centre, centre
        spread = math.sqrt(max(float(x @ np.array(self.covariance) @ x), 0.0) + self.residual_std**2)
        half = _t975(self.dof) * spread
        return centre - half, centre + half

    def as_dict(self) -> dict[str, Any]:
        return {
            "terms": list(TERMS),
            "coefficients": {t: {"value": v, "ci95": [lo, hi]} for t, v, lo, hi in zip(TERMS, self.coefficients, self.ci_low, self.ci_high, strict=True)},
            "covariance": [list(row) for row in self.covariance],
            "residual_std_bytes": self.residual_std,
            "dof": self.dof,
            "r2": self.r2,
            "n_points": self.n_points,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearFit:
        coefs = data["coefficients"]
        return cls(
            coefficients=tuple(float(coefs[t]["value"]) for t in TERMS),
            ci_low=tuple(float(coefs[t]["ci95"][0]) for t in TERMS),
            ci_high=tuple(float(coefs[t]["ci95"][1]) for t in TERMS),
            covariance=tuple(tuple(float(v) for v in row) for row in data["covariance"]),
            residual_std=float(data["residual_std_bytes"]),
            dof=int(data["dof"]),
            r2=float(data["r2"]),
            n_points=int(data["n_points"]),
        )


def _t975(dof: int) -> float:
    """Two-sided 95% Student-t quantile.  scipy is imported here, not at module level, so that
    sweep workers (which import this package) do not count it in the runtime they measure."""
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))


def fit_bytes(markets: Iterable[float], resting_orders: Iterable[float], trades_retained: Iterable[float], measured: Iterable[float]) -> LinearFit:
    """Least-squares fit of ``measured`` bytes; refuses designs that cannot separate the four terms."""
    x = np.column_stack([np.ones(len(m := np.asarray(list(markets), dtype=float))), m,
                         np.asarray(list(resting_orders), dtype=float), np.asarray(list(trades_retained), dtype=float)])
    y = np.asarray(list(measured), dtype=float)
    n, p = x.shape
    # Columns span 1 to 1e8: scale them to unit norm so the solve and the inverse are well conditioned.
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    xs = x / scale
    if n < p or np.linalg.matrix_rank(xs, tol=1e-9) < p:
        raise InputError(
            f"{n} sweep point(s) cannot separate base, markets, resting orders and trades retained: "
            "measure several sizes with different depths and tape lengths (lxdex sweep does)"
        )
    coef_s, *_ = np.linalg.lstsq(xs, y, rcond=None)
    coef = coef_s / scale
    residuals = y - x @ coef
    dof = n - p
    rss = float(residuals @ residuals)
    tss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - rss / tss if tss > 0 else 1.0
    sigma2 = rss / dof if dof > 0 else 0.0
    cov_s = sigma2 * np.linalg.inv(xs.T @ xs)
    cov = cov_s / np.outer(scale, scale)
    half = _t975(dof) * np.sqrt(np.diag(cov)) if dof > 0 else np.zeros(p)
    return LinearFit(
        coefficients=tuple(float(c) for c in coef),
        ci_low=tuple(float(c - h) for c, h in zip(coef, half, strict=True)),
        ci_high=tuple(float(c + h) for c, h in zip(coef, half, strict=True)),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        residual_std=math.sqrt(sigma2),
        dof=dof,
        r2=r2,
        n_points=n,
    )


@dataclass(frozen=True)
class CapacityModel:
    """Everything ``lxdex plan`` needs, measured: the byte fit and the process's other costs."""

    fit: LinearFit
    runtime_bytes: float  # resident bytes of the interpreter, numpy, numba and kernels (no engine)
    reserved_ratio_median: float  # engine bytes reserved / used across the sweep points
    reserved_ratio_max: float
    throughput: list[dict[str, float]]  # [{"markets", "orders_per_s"}] per core, by size
    largest_markets: int  # beyond this the model extrapolates
    provenance: dict[str, Any] = field(default_factory=dict)  # machine, command, date, versions
    points: list[dict[str, Any]] = field(default_factory=list)  # the sweep's measured points
    validation: list[dict[str, Any]] = field(default_factory=list)  # held-out sizes: predicted vs measured

    def engine_bytes(self, markets: float, resting_orders: float, trades_retained: float) -> float:
        return self.fit.predict(markets, resting_orders, trades_retained)

    def orders_per_s_per_core(self, markets_per_core: float) -> float:
        """Measured order throughput of one core holding ``markets_per_core`` markets.

        Interpolated in log(markets) between the sweep's sizes; held flat beyond them.
        """
        points = sorted(self.throughput, key=lambda t: t["markets"])
        xs = np.log([max(t["markets"], 1) for t in points])
        ys = np.array([t["orders_per_s"] for t in points])
        return float(np.interp(math.log(max(markets_per_core, 1.0)), xs, ys))

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "target": "engine bytes used (live rows of every engine array)",
            "formula": "bytes = base + markets*a + resting_orders*b + trades_retained*c",
            "fit": self.fit.as_dict(),
            "runtime_bytes": self.runtime_bytes,
            "reserved_ratio": {"median": self.reserved_ratio_median, "max": self.reserved_ratio_max},
            "throughput_per_core": self.throughput,
            "largest_markets": self.largest_markets,
            "provenance": self.provenance,
            "points": self.points,
            "validation": self.validation,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CapacityModel:
        return cls(
            fit=LinearFit.from_dict(data["fit"]),
            runtime_bytes=float(data["runtime_bytes"]),
            reserved_ratio_median=float(data["reserved_ratio"]["median"]),
            reserved_ratio_max=float(data["reserved_ratio"]["max"]),
            throughput=[{"markets": float(t["markets"]), "orders_per_s": float(t["orders_per_s"])} for t in data["throughput_per_core"]],
            largest_markets=int(data["largest_markets"]),
            provenance=dict(data.get("provenance", {})),
            points=list(data.get("points", [])),
            validation=list(data.get("validation", [])),
        )


def load_model(path: str | Path | None = None) -> CapacityModel:
    """Read a model JSON written by ``lxdex sweep``; ``None`` reads the reference model shipped with the package."""
    if path is None:
        from importlib import resources

        text = resources.files(__package__).joinpath("data/reference_model.json").read_text(encoding="utf-8")
        origin = "built-in reference_model.json"
    else:
        origin = str(path)
        text = read_input_file(path, "model file", " (write one with 'lxdex sweep --out')")
    data = parse_json(text, origin)
    if data.get("format") != MODEL_FORMAT:
        raise InputError(f"{origin}: not an lxdex capacity model (format must be {MODEL_FORMAT!r})")
    try:
        model = CapacityModel.from_dict(data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{origin}: incomplete or invalid model ({type(exc).__name__}: {exc})") from None
    if not model.throughput:
        raise InputError(f"{origin}: the model holds no throughput measurements")
    return model
