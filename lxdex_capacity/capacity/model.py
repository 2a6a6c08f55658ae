"""The cost model: engine bytes = base + a*markets + b*resting_orders + c*trades_retained.

Fitted by ordinary least squares (numpy) to measured sweep points, with 95% confidence intervals
on the coefficients (Student's t, scipy), R², residuals and 95% prediction intervals for new
loads.  A :class:`CapacityModel` couples the fit with the other measured figures a plan needs (the
process's runtime bytes, reserved/used ratios, per-core order throughput, and how the order rate
scales with cores) and is stored as JSON.

The scaling curve (optional: models written before it was measured have none) is the traded phase's
orders/s with 1, 2, ... threads at one size (``lxdex sweep --threads-up-to``), and Gunther's
Universal Scalability Law fitted to the speedups, speedup(N) = N / (1 + sigma*(N-1) + kappa*N*(N-1)).
:meth:`CapacityModel.speedup` gives the measured speedup within the measured thread counts
(interpolated), the fit beyond them, and ``cores`` (linear: an upper bound) with no curve.

A model file is checked by :class:`ModelFile` (:mod:`lxdex_capacity.schema`) before it is used:
finite coefficients (bytes per market, per resting order and per trade retained at least 0, or a
load would "fit" in negative bytes), a symmetric 4x4 covariance with a non-negative diagonal,
degrees of freedom that match the points, runtime bytes and throughputs in physical ranges.  A bad
file is one :class:`~lxdex_capacity.errors.InputError` naming the file and the key, e.g.
``m.json: fit.coefficients.markets.value=-3.0: input should be greater than or equal to 0``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..errors import InputError
from ..physics import (
    MAX_MEMORY_BYTES,
    MAX_ORDERS_PER_S_PER_CORE,
    MIN_PROCESS_RSS_BYTES,
    error_pct_problem,
    percent_error,
    too_many_orders,
    too_small_a_process,
)
from ..schema import Count, FileModel, PositiveCount, at_least, error_at, read_json, read_text, validate
from .core_rate import CoreRateModel, core_rate_from_file

__all__ = ["TERMS", "LinearFit", "CapacityModel", "ModelFile", "FitFile", "ScalingFile", "Scaling", "ScalingPoint", "fit_bytes", "fit_usl",
           "usl_speedup", "speedup_suffix", "load_model", "MODEL_FORMAT", "MAX_SCALING_THREADS"]

TERMS = ("base", "markets", "resting_orders", "trades_retained")
MODEL_FORMAT = "lxdex-capacity-model/1"

# --- the model file's schema --------------------------------------------------------------------
# Ranges: wide enough for any machine and engine, narrow enough that every product a plan takes of
# them (with a plan's own bounded inputs) stays a finite float.
MAX_RUNTIME_BYTES = float(MAX_MEMORY_BYTES)  # 64 TiB: the largest machine a hardware file may describe
MAX_BASE_BYTES = float(1 << 50)  # |base| up to 1 PiB
MAX_UNIT_BYTES = float(1 << 40)  # bytes per market, per resting order, per trade retained: up to 1 TiB
MAX_INTERVAL = 1e18  # a coefficient's 95% interval bounds
MAX_COVARIANCE = 1e40  # bytes² (the base term's variance is ~3e11 in the reference model)
MAX_DOF = 1_000_000
MAX_MARKETS = 10**12  # what lxdex plan accepts
MAX_ORDERS_PER_S = MAX_ORDERS_PER_S_PER_CORE  # one core (lxdex_capacity.physics)
# A stored fit against the one its stored points give (ordinary least squares is deterministic: only float rounding
# differs), and a coefficient's 95% interval against its variance (the t quantile differs by 1e-4 at most between
# the ways it has been computed).
REFIT_TOLERANCE = 1e-6
INTERVAL_TOLERANCE = 1e-3
# engine.partitioned.MAX_THREADS, not imported: plan reads a model without loading the engine's kernels
# (a test holds them equal).
MAX_SCALING_THREADS = 256
MAX_EFFICIENCY = 4.0  # superlinear speedups happen (caches), by more than 4x the threads never
MAX_SPEEDUP = MAX_EFFICIENCY * MAX_SCALING_THREADS
# Gunther's coefficients: sigma is the share of the work that serialises, kappa the cost of keeping threads
# coherent; beyond 1 either means a second thread already halves the rate, which a measurement may
# show but the law has nothing more to say about.
MAX_USL = 1.0
SPEEDUP_TOLERANCE = 1e-6  # relative: a stored speedup or efficiency against the rates it was computed from

def _not_an_object(value: Any) -> Any:
    raise PydanticCustomError("model_type", "must be a JSON object (the per-core rate model lxdex sweep writes), not {kind}",
                              {"kind": type(value).__name__})


IntervalBound = Annotated[float, Field(ge=-MAX_INTERVAL, le=MAX_INTERVAL)]


def _one_core(rate: float) -> float:
    """A rate one core measured: no more than one core matches (:mod:`lxdex_capacity.physics`)."""
    why = too_many_orders(rate)
    if why:
        raise ValueError(why)
    return rate


OneCoreRate = Annotated[float, Field(ge=0, le=MAX_ORDERS_PER_S), AfterValidator(_one_core)]
ShortText = Annotated[str, Field(max_length=10_000)]


class _JSONObject(FileModel):
    """A model of a JSON object: anything else is refused in words, naming the keys it should hold."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            keys = ", ".join(f.alias or name for name, f in cls.model_fields.items())
            raise PydanticCustomError("model_type", "must be a JSON object with the keys {keys}", {"keys": keys})
        return data


class _Coefficient(_JSONObject):
    value: float
    ci95: Annotated[list[IntervalBound], Field(min_length=2, max_length=2)]  # [low, high] around value

    @field_validator("ci95")
    @classmethod
    def _around_value(cls, ci95: list[float], info: ValidationInfo) -> list[float]:
        value = info.data.get("value")
        if value is not None and not ci95[0] <= value <= ci95[1]:
            raise ValueError(f"must be [low, high] with low <= value ({value!r}) <= high")
        return ci95


class BaseCoefficient(_Coefficient):
    """Bytes of an engine with no market, order or trade; may be negative (it is an intercept)."""

    value: Annotated[float, Field(ge=-MAX_BASE_BYTES, le=MAX_BASE_BYTES)]


class UnitCoefficient(_Coefficient):
    """Bytes per market, per resting order or per trade retained: above 0 (each is a row of the engine's arrays: a
    market, an order or a trade that costs nothing would let any load fit)."""

    value: Annotated[float, Field(gt=0, le=MAX_UNIT_BYTES)]


class Coefficients(_JSONObject):
    base: BaseCoefficient
    markets: UnitCoefficient
    resting_orders: UnitCoefficient
    trades_retained: UnitCoefficient


class FitFile(_JSONObject):
    """``fit`` of a model file: :meth:`LinearFit.as_dict`."""

    terms: list[str] | None = None
    coefficients: Coefficients
    covariance: Annotated[list[Annotated[list[Annotated[float, Field(ge=-MAX_COVARIANCE, le=MAX_COVARIANCE)]], Field(max_length=64)]],
                          Field(max_length=64)]
    residual_std_bytes: Annotated[float, Field(ge=0, le=MAX_BASE_BYTES)]
    dof: Annotated[int, Field(ge=1, le=MAX_DOF)]  # points minus terms
    r2: Annotated[float, Field(ge=0, le=1)]
    n_points: Annotated[int, Field(ge=len(TERMS) + 1, le=MAX_DOF + len(TERMS))]

    @field_validator("terms")
    @classmethod
    def _terms(cls, terms: list[str] | None) -> list[str] | None:
        if terms is not None and tuple(terms) != TERMS:
            raise ValueError(f"must be {list(TERMS)}, in this order")
        return terms

    @field_validator("covariance")
    @classmethod
    def _covariance(cls, rows: list[list[float]]) -> list[list[float]]:
        p = len(TERMS)
        if len(rows) != p or any(len(row) != p for row in rows):
            shape = f"{len(rows)}x{max((len(r) for r in rows), default=0)}" if len({len(r) for r in rows}) <= 1 else f"{len(rows)} rows of unequal lengths"
            raise ValueError(f"must be a {p}x{p} matrix, a row and a column per term ({', '.join(TERMS)}), not {shape}")
        for i in range(p):
            if rows[i][i] < 0:
                raise error_at((i, i), rows[i][i], f"the variance of {TERMS[i]} must be at least 0")
        for i in range(p):
            for j in range(i + 1, p):
                a, b = rows[i][j], rows[j][i]
                scale = max(abs(a), abs(b), math.sqrt(rows[i][i] * rows[j][j]))
                if abs(a - b) > 1e-6 * scale:
                    raise error_at((j, i), b, f"the covariance must be symmetric, and [{i}][{j}] is {a!r}")
        return rows

    @field_validator("n_points")
    @classmethod
    def _points_and_dof(cls, n_points: int, info: ValidationInfo) -> int:
        dof = info.data.get("dof")
        if dof is not None and n_points != dof + len(TERMS):
            raise ValueError(f"must be dof + {len(TERMS)} = {dof + len(TERMS)} (one degree of freedom per point beyond the {len(TERMS)} terms)")
        return n_points

    @model_validator(mode="after")
    def _uncertainty(self) -> FitFile:
        """The covariance is a covariance (symmetric, positive semi-definite), zero exactly when the fit has no scatter,
        and each coefficient's interval is the one its variance gives."""
        cov = np.array(self.covariance, dtype=float)
        p = len(TERMS)
        if self.residual_std_bytes == 0:
            if self.r2 != 1:
                raise error_at(("r2",), self.r2, "must be 1: residual_std_bytes=0 (the fit goes through every point)")
            if cov.any():
                raise error_at(("covariance",), "...", "must be all zero: residual_std_bytes=0 (a fit without scatter is exact)")
        else:
            for i in range(p):
                if cov[i, i] <= 0:
                    raise error_at(("covariance", i, i), self.covariance[i][i],
                                   f"the variance of {TERMS[i]} must be above 0: residual_std_bytes={self.residual_std_bytes!r} "
                                   "(points scattered about the fit leave every coefficient uncertain)")
            sd = np.sqrt(np.diag(cov))
            correlation = cov / np.outer(sd, sd)
            lowest = float(np.linalg.eigvalsh((correlation + correlation.T) / 2).min())
            if lowest < -1e-6:
                raise error_at(("covariance",), "...", f"not positive semi-definite (its correlation matrix has the eigenvalue "
                                                       f"{lowest:.3g}): no variable has a negative variance along any direction")
        t = _t975(self.dof)
        for i, term in enumerate(TERMS):
            c = getattr(self.coefficients, term)
            half = t * math.sqrt(max(float(cov[i, i]), 0.0))
            slack = INTERVAL_TOLERANCE * half + 1e-9 * max(abs(c.value), 1.0)
            if abs(c.ci95[0] - (c.value - half)) > slack or abs(c.ci95[1] - (c.value + half)) > slack:
                raise error_at(("coefficients", term, "ci95"), c.ci95,
                               f"not value -/+ t(0.975, dof={self.dof}) x sqrt(covariance[{i}][{i}]) = "
                               f"[{c.value - half!r}, {c.value + half!r}]")
        return self


class ReservedRatio(_JSONObject):
    median: Annotated[float, Field(ge=1, le=1000)]  # engine bytes reserved / used: at least 1
    max: Annotated[float, Field(ge=1, le=1000)]

    _max_at_least_median = at_least("max", than="median")


class Throughput(_JSONObject):
    markets: Annotated[float, Field(ge=1, le=MAX_MARKETS)]
    orders_per_s: Annotated[OneCoreRate, Field(ge=1)]


class SweepPointEntry(_JSONObject):
    """One measured sweep point (:class:`lxdex_capacity.capacity.sweep.SweepPoint`), kept for the report's charts."""

    markets: Annotated[int, Field(ge=1, le=MAX_MARKETS)]
    variant: Annotated[str, Field(min_length=1, max_length=200)]
    seed: Count
    held_out: bool
    resting_orders: PositiveCount
    price_levels: Count
    trades: Count
    trades_retained: Count
    engine_bytes_used: PositiveCount
    engine_bytes_reserved: PositiveCount
    rss_bytes: Count
    runtime_bytes: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]  # RSS minus engine bytes: may come out below 0 at large sizes
    orders_per_s: OneCoreRate
    elapsed_s: Annotated[float, Field(gt=0, le=1e9)]  # a run that was measured took time
    peak_rss_bytes: Count = 0  # 0: not measured (models written before it was)

    @model_validator(mode="after")
    def _consistent(self) -> SweepPointEntry:
        for key, most, why in (("engine_bytes_used", "engine_bytes_reserved", "rows used are rows reserved"),
                               ("price_levels", "resting_orders", "a price level holds an order"),
                               ("trades_retained", "trades", "a tape keeps trades that were made")):
            if getattr(self, key) > getattr(self, most):
                raise error_at((key,), getattr(self, key), f"more than {most}={getattr(self, most)} ({why})")
        small = too_small_a_process(self.rss_bytes, self.engine_bytes_used) if self.rss_bytes else None  # 0: not measured
        if small:
            raise error_at(("rss_bytes",), self.rss_bytes, small)
        # Every resting order was submitted, and each trade used up a resting order or ended an incoming one: the run
        # submitted at least max(resting_orders, trades / 2) orders, and no core submits them faster than physics allows.
        orders = max(self.resting_orders, self.trades / 2)
        if self.elapsed_s < orders / MAX_ORDERS_PER_S_PER_CORE:
            raise error_at(("elapsed_s",), self.elapsed_s,
                           f"less than the {orders:,.0f} orders its resting orders and trades took need "
                           f"({orders / MAX_ORDERS_PER_S_PER_CORE:.3g} s at {MAX_ORDERS_PER_S_PER_CORE:,.0f} orders/s a core)")
        return self


class ValidationEntry(_JSONObject):
    """A held-out size: what the fit on the smaller sizes predicted and what was measured."""

    markets: Annotated[int, Field(ge=1, le=MAX_MARKETS)]
    predicted_bytes: Annotated[float, Field(ge=-MAX_INTERVAL, le=MAX_INTERVAL)]
    measured_bytes: Annotated[float, Field(gt=0, le=MAX_INTERVAL)]
    error_pct: Annotated[float, Field(ge=-1e9, le=1e9)]
    fitted_on_markets: Annotated[list[Annotated[int, Field(ge=1, le=MAX_MARKETS)]], Field(max_length=10_000)]

    @model_validator(mode="after")
    def _error(self) -> ValidationEntry:
        if error_pct_problem("error_pct", self.error_pct, self.predicted_bytes, self.measured_bytes):
            expected = percent_error(self.predicted_bytes, self.measured_bytes)
            raise error_at(("error_pct",), self.error_pct, f"not 100 x (predicted_bytes - measured_bytes) / measured_bytes ({expected!r})")
        return self


class ScalingEntry(_JSONObject):
    """The traded phase's orders/s with ``threads`` threads: median, lowest and highest of ``runs`` runs."""

    threads: Annotated[int, Field(ge=1, le=MAX_SCALING_THREADS)]
    orders_per_s: Annotated[float, Field(gt=0, le=MAX_ORDERS_PER_S)]
    low: Annotated[float, Field(gt=0, le=MAX_ORDERS_PER_S)]
    high: Annotated[float, Field(gt=0, le=MAX_ORDERS_PER_S)]
    speedup: Annotated[float, Field(gt=0, le=MAX_SPEEDUP)]  # orders_per_s over one thread's
    efficiency: Annotated[float, Field(gt=0, le=MAX_EFFICIENCY)]  # speedup / threads
    runs: Annotated[int, Field(ge=1, le=MAX_DOF)] = 1

    @model_validator(mode="after")
    def _consistent(self) -> ScalingEntry:
        if not self.low <= self.orders_per_s <= self.high:
            raise error_at(("orders_per_s",), self.orders_per_s, f"must be the median of the runs: low ({self.low!r}) <= orders_per_s <= high ({self.high!r})")
        for key in ("orders_per_s", "high"):
            why = too_many_orders(getattr(self, key), self.threads)
            if why:
                raise error_at((key,), getattr(self, key), why)
        if self.speedup > MAX_EFFICIENCY * self.threads:
            raise error_at(("speedup",), self.speedup, f"more than {MAX_EFFICIENCY:g}x the {self.threads} thread(s): not a speedup threads give")
        if not math.isclose(self.efficiency, self.speedup / self.threads, rel_tol=SPEEDUP_TOLERANCE):
            raise error_at(("efficiency",), self.efficiency, f"must be speedup / threads = {self.speedup / self.threads!r}")
        return self


class USLFile(_JSONObject):
    """``scaling.fit``: the Universal Scalability Law's coefficients, fitted to the measured speedups."""

    law: Literal["USL"]
    sigma: Annotated[float, Field(ge=0, le=MAX_USL)]
    kappa: Annotated[float, Field(ge=0, le=MAX_USL)]


class ScalingFile(_JSONObject):
    """``scaling`` of a model file: :meth:`Scaling.as_dict` (``lxdex sweep --threads-up-to``)."""

    markets: Annotated[int, Field(ge=1, le=MAX_MARKETS)]
    same_trades: Literal[True]  # every thread count gave each seed's trades (the checksums agreed); else nothing was written
    measured: Annotated[list[ScalingEntry], Field(min_length=2, max_length=MAX_SCALING_THREADS)]  # 1 thread and more
    fit: USLFile

    @field_validator("measured")
    @classmethod
    def _a_curve(cls, rows: list[ScalingEntry]) -> list[ScalingEntry]:
        if rows[0].threads != 1:
            raise error_at((0, "threads"), rows[0].threads, "the curve must start at 1 thread, the rate every speedup is relative to")
        for k in range(1, len(rows)):
            if rows[k].threads <= rows[k - 1].threads:
                raise error_at((k, "threads"), rows[k].threads, f"must be above measured[{k - 1}].threads={rows[k - 1].threads}: "
                                                               "one entry per thread count, fewest threads first")
        one = rows[0].orders_per_s
        for k, row in enumerate(rows):
            if not math.isclose(row.speedup, row.orders_per_s / one, rel_tol=SPEEDUP_TOLERANCE):
                raise error_at((k, "speedup"), row.speedup, f"must be orders_per_s / measured[0].orders_per_s = {row.orders_per_s / one!r}")
        return rows

    @model_validator(mode="after")
    def _fitted(self) -> ScalingFile:
        """The fit must be the one the measured speedups give: a hand-edited law would plan what nothing measured."""
        sigma, kappa = fit_usl([r.threads for r in self.measured], [r.speedup for r in self.measured])
        for name, stored, fitted in (("sigma", self.fit.sigma, sigma), ("kappa", self.fit.kappa, kappa)):
            if not math.isclose(stored, fitted, rel_tol=SPEEDUP_TOLERANCE, abs_tol=1e-9):
                raise error_at(("fit", name), stored, f"not the law fitted to the measured speedups (sigma={sigma:.6g}, kappa={kappa:.6g})")
        return self


class ModelFile(FileModel):
    """A model file, as :meth:`CapacityModel.as_dict` writes it (``lxdex sweep --out``)."""

    format: Literal["lxdex-capacity-model/1"]
    target: ShortText | None = None
    formula: ShortText | None = None
    fit: FitFile
    runtime_bytes: Annotated[float, Field(ge=MIN_PROCESS_RSS_BYTES, le=MAX_RUNTIME_BYTES)]  # no process holds fewer (physics)
    reserved_ratio: ReservedRatio
    throughput_per_core: Annotated[list[Throughput], Field(min_length=1, max_length=10_000)]
    largest_markets: Annotated[int, Field(ge=1, le=MAX_MARKETS)]
    provenance: dict[str, ShortText | int | float | bool | None] = Field(default_factory=dict)
    points: Annotated[list[SweepPointEntry], Field(max_length=1_000_000)] = Field(default_factory=list)
    validation: Annotated[list[ValidationEntry], Field(max_length=10_000)] = Field(default_factory=list)
    scaling: ScalingFile | None = None  # None: never measured (models written before it was, or --threads-up-to 1)
    # None: never measured (models written before it was, or a sweep with no working sets)
    core_rate: Annotated[Any, Field(default=None)] = None

    @field_validator("core_rate", mode="before")
    @classmethod
    def _core_rate(cls, value: Any) -> Any:
        """The per-core rate model's section, checked by its own schema (:mod:`.core_rate`); its errors keep their keys."""
        if value is None:
            return None
        from .core_rate import core_rate_schema

        return core_rate_schema().model_validate(value, strict=False) if isinstance(value, dict) else _not_an_object(value)

    @model_validator(mode="after")
    def _measured(self) -> ModelFile:
        """Every figure measured from the stored sweep points must be the one they give (:func:`points_problem`)."""
        problem = points_problem(self)
        if problem:
            loc, value, why = problem
            raise error_at(loc, value, why)
        return self

    @field_validator("throughput_per_core")
    @classmethod
    def _distinct_sizes(cls, rows: list[Throughput]) -> list[Throughput]:
        first: dict[float, int] = {}
        for k, t in enumerate(rows):
            if t.markets in first:
                raise error_at((k, "markets"), t.markets, f"throughput_per_core[{first[t.markets]}] measures this size already: one throughput per size")
            first[t.markets] = k
        return rows

    @field_validator("provenance")
    @classmethod
    def _texts(cls, provenance: dict[str, Any]) -> dict[str, Any]:
        for key in ("command", "created", "processor", "machine"):
            if key in provenance and not isinstance(provenance[key], str):
                raise error_at((key,), provenance[key], "input should be a valid string")
        return provenance


def points_problem(m: ModelFile) -> tuple[tuple[int | str, ...], Any, str] | None:
    """(key, value, why) of the first figure of ``m`` that its stored sweep points contradict, or None (also when it
    stores none: models written before points were kept).

    The fit is refitted (ordinary least squares is deterministic): coefficients, R², scatter and covariance must be
    what the points give, so a hand-edited coefficient, or a point moved under an unchanged R², is refused.  The
    held-out validation is predicted again by the fit on the other points, and the runtime, reserved ratios, largest
    size and per-core rates are recomputed from the points as ``lxdex sweep`` computed them."""
    points = m.points
    if not points:
        return None
    if m.fit.n_points != len(points):
        return ("fit", "n_points"), m.fit.n_points, f"the fit is of the stored points, and points holds {len(points)}"
    columns = ([p.markets for p in points], [p.resting_orders for p in points], [p.trades_retained for p in points],
               [p.engine_bytes_used for p in points])
    try:
        refit = fit_bytes(*columns)
    except InputError as exc:
        return ("points",), f"{len(points)} points", str(exc)
    stored = LinearFit.from_file(m.fit)
    for i, term in enumerate(TERMS):
        spread = math.sqrt(max(refit.covariance[i][i], 0.0))
        if not math.isclose(stored.coefficients[i], refit.coefficients[i], rel_tol=REFIT_TOLERANCE, abs_tol=REFIT_TOLERANCE * spread + 1e-9):
            return (("fit", "coefficients", term, "value"), stored.coefficients[i],
                    f"not what the stored points give ({refit.coefficients[i]!r}): refit with lxdex sweep")
    if not math.isclose(stored.r2, refit.r2, rel_tol=0, abs_tol=1e-9 + REFIT_TOLERANCE * (1 - refit.r2)):
        return ("fit", "r2"), stored.r2, f"not the R² of the stored points about the fit ({refit.r2!r})"
    if not math.isclose(stored.residual_std, refit.residual_std, rel_tol=REFIT_TOLERANCE, abs_tol=1e-6):
        return ("fit", "residual_std_bytes"), stored.residual_std, f"not the scatter of the stored points about the fit ({refit.residual_std!r})"
    for i in range(len(TERMS)):
        for j in range(len(TERMS)):
            scale = math.sqrt(max(refit.covariance[i][i], 0.0) * max(refit.covariance[j][j], 0.0))
            if not math.isclose(stored.covariance[i][j], refit.covariance[i][j], rel_tol=REFIT_TOLERANCE, abs_tol=REFIT_TOLERANCE * scale + 1e-12):
                return (("fit", "covariance", i, j), stored.covariance[i][j],
                        f"not what the stored points give ({refit.covariance[i][j]!r})")
    sizes = sorted({p.markets for p in points})
    if m.largest_markets != sizes[-1]:
        return ("largest_markets",), m.largest_markets, f"not the largest size of the stored points ({sizes[-1]:,})"
    runtime = float(np.median([p.runtime_bytes for p in points if p.markets == sizes[0]]))
    if not math.isclose(m.runtime_bytes, runtime, rel_tol=REFIT_TOLERANCE):
        return ("runtime_bytes",), m.runtime_bytes, f"not the median runtime_bytes of the points at the smallest size ({runtime!r})"
    ratios = [p.engine_bytes_reserved / p.engine_bytes_used for p in points]
    for key, value in (("median", float(np.median(ratios))), ("max", max(ratios))):
        if not math.isclose(getattr(m.reserved_ratio, key), value, rel_tol=REFIT_TOLERANCE):
            return ("reserved_ratio", key), getattr(m.reserved_ratio, key), f"not the {key} of the points' engine_bytes_reserved / engine_bytes_used ({value!r})"
    for k, t in enumerate(m.throughput_per_core):
        rates = [p.orders_per_s for p in points if p.markets == t.markets]
        # A size's rate is the median of its quiet runs: within the runs measured there.
        if rates and not min(rates) * (1 - REFIT_TOLERANCE) <= t.orders_per_s <= max(rates) * (1 + REFIT_TOLERANCE):
            return (("throughput_per_core", k, "orders_per_s"), t.orders_per_s,
                    f"outside the orders/s the points measured at {t.markets:,.0f} markets ({min(rates)!r} to {max(rates)!r})")
    return _validation_problem(m)


def _validation_problem(m: ModelFile) -> tuple[tuple[int | str, ...], Any, str] | None:
    """The held-out sizes' entries must be what the fit on the other stored points predicts for them."""
    held = sorted({p.markets for p in m.points if p.held_out})
    fitted_on = [p for p in m.points if not p.held_out]
    if [v.markets for v in m.validation] != held:
        return ("validation",), f"{len(m.validation)} entries", f"must hold one entry per held-out size of the points ({held}), in order"
    if not held:
        return None
    try:
        fit = fit_bytes([p.markets for p in fitted_on], [p.resting_orders for p in fitted_on], [p.trades_retained for p in fitted_on],
                        [p.engine_bytes_used for p in fitted_on])
    except InputError as exc:
        return ("points",), f"{len(m.points)} points", f"the points not held out: {exc}"
    for k, v in enumerate(m.validation):
        at = [p for p in m.points if p.markets == v.markets]
        measured = float(np.mean([p.engine_bytes_used for p in at]))
        predicted = float(np.mean([fit.predict(p.markets, p.resting_orders, p.trades_retained) for p in at]))
        if not math.isclose(v.measured_bytes, measured, rel_tol=REFIT_TOLERANCE):
            return ("validation", k, "measured_bytes"), v.measured_bytes, f"not the mean engine_bytes_used of the points at that size ({measured!r})"
        if not math.isclose(v.predicted_bytes, predicted, rel_tol=REFIT_TOLERANCE, abs_tol=1e-6):
            return (("validation", k, "predicted_bytes"), v.predicted_bytes,
                    f"not what the fit on the points not held out predicts at that size ({predicted!r})")
        if v.fitted_on_markets != sorted({p.markets for p in fitted_on}):
            return ("validation", k, "fitted_on_markets"), v.fitted_on_markets, "not the sizes of the points not held out"
    return None


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
    def from_dict(cls, data: Any, origin: str = "model fit") -> LinearFit:
        """The fit :meth:`as_dict` wrote, checked by :class:`FitFile` (an :class:`InputError` naming ``origin`` and the key)."""
        return cls.from_file(validate(FitFile, data, origin))

    @classmethod
    def from_file(cls, fit: FitFile) -> LinearFit:
        coefs = [getattr(fit.coefficients, t) for t in TERMS]
        return cls(
            coefficients=tuple(c.value for c in coefs),
            ci_low=tuple(c.ci95[0] for c in coefs),
            ci_high=tuple(c.ci95[1] for c in coefs),
            covariance=tuple(tuple(row) for row in fit.covariance),
            residual_std=fit.residual_std_bytes,
            dof=fit.dof,
            r2=fit.r2,
            n_points=fit.n_points,
        )


# scipy.stats.t.ppf(0.975, dof) for 1 to 4 degrees of freedom, where the expansion below is not accurate.
_T975_EXACT = {1: 12.706204736174698, 2: 4.302652729749464, 3: 3.182446305284263, 4: 2.7764451051977934}


@functools.lru_cache(maxsize=64)
def _t975(dof: int) -> float:
    """Two-sided 95% Student-t quantile.  From 5 degrees of freedom on, the Cornish-Fisher expansion
    around the normal quantile (four terms: within 1.1e-4 relative at 5, 1e-7 at 20), so that plan
    and every memory guard answer without importing scipy (2.5 s, and counted in the runtime a guard
    is about to measure); below 5, scipy's exact quantile."""
    if dof < 5:
        return _T975_EXACT[dof]
    z = NormalDist().inv_cdf(0.975)
    terms = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96, (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
             (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160)
    return z + sum(g / dof ** (k + 1) for k, g in enumerate(terms))


MIN_SPREAD = 0.05  # a term's column must vary by at least this share of its largest value for its coefficient to be measured


def separability_problem(markets: Sequence[float] | np.ndarray, resting_orders: Sequence[float] | np.ndarray,
                         trades_retained: Sequence[float] | np.ndarray) -> str | None:
    """Why points at these loads cannot separate base, markets, resting orders and trades retained, or None.

    Each term must vary across the points (by :data:`MIN_SPREAD` of its largest value: a tape that is
    never filled retains the same trades at every point, and its bytes per trade is then noise), and
    together with the intercept the columns must be independent (every size the same depth ratio
    ties orders to markets)."""
    n = len(markets)
    if n < len(TERMS):
        return f"{n} point(s) for {len(TERMS)} terms"
    columns = {"markets": markets, "resting orders": resting_orders, "trades retained": trades_retained}
    for name, values in columns.items():
        v = np.asarray(values, dtype=float)
        top = float(np.max(np.abs(v)))
        if top == 0 or (float(v.max()) - float(v.min())) < MIN_SPREAD * top:
            return f"{name} do not vary across the points ({v.min():,.0f} to {v.max():,.0f})"
    x = np.column_stack([np.ones(n), *(np.asarray(v, dtype=float) for v in columns.values())])
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    if np.linalg.matrix_rank(x / scale, tol=1e-6) < len(TERMS):
        return "markets, resting orders and trades retained move together across the points"
    return None


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
    problem = separability_problem(x[:, 1], x[:, 2], x[:, 3])
    if problem:
        raise InputError(
            f"{n} sweep point(s) cannot separate base, markets, resting orders and trades retained ({problem}): "
            "measure several sizes with different depths and tape lengths, with enough trades to fill the tapes (lxdex sweep does)"
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


def usl_speedup(threads: float, sigma: float, kappa: float) -> float:
    """Gunther's Universal Scalability Law: the speedup of ``threads`` threads over one."""
    n = max(float(threads), 1.0)
    return n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def fit_usl(threads: Sequence[float], speedups: Sequence[float]) -> tuple[float, float]:
    """(sigma, kappa) of the Universal Scalability Law fitted to measured speedups, both in [0, :data:`MAX_USL`].

    Least squares on the law's linear form, N/speedup(N) - 1 = sigma*(N-1) + kappa*N*(N-1) (Gunther's own way to
    fit it), with sigma, kappa >= 0: the unconstrained solution when it is feasible, else the better of sigma
    alone and kappa alone.  With one thread count above 1 (1 and 2 threads, say) kappa is 0 and sigma solves that
    point exactly.  A superlinear speedup gives sigma = kappa = 0 (linear), never a negative coefficient;
    a non-finite or non-positive speedup is refused."""
    pairs = [(float(n), float(s)) for n, s in zip(threads, speedups, strict=True) if n > 1]
    if any(not math.isfinite(s) or s <= 0 or not math.isfinite(n) for n, s in pairs):
        raise InputError(f"speedups={list(speedups)!r}: every speedup must be a finite number above 0")
    if not pairs:
        return 0.0, 0.0
    x = np.array([[n - 1.0, n * (n - 1.0)] for n, _ in pairs])
    y = np.array([n / s - 1.0 for n, s in pairs])

    def one(column: int) -> np.ndarray:
        c = x[:, column]
        coefficient = np.zeros(2)
        coefficient[column] = max(float(c @ y) / float(c @ c), 0.0)
        return coefficient

    candidates = [one(0)]  # sigma alone: all that one thread count above 1 determines
    if len({n for n, _ in pairs}) >= 2:
        candidates.append(one(1))
        both, *_ = np.linalg.lstsq(x, y, rcond=None)
        if (both >= 0).all():
            candidates.append(both)
    best = min(candidates, key=lambda c: float(((x @ c - y) ** 2).sum()))
    sigma, kappa= (min(max(float(v), 0.0), MAX_USL) for v in best)
    return sigma, kappa


@dataclass(frozen=True)
class ScalingPoint:
    """The traded phase's orders/s with ``threads`` threads, over ``runs`` runs."""

    threads: int
    orders_per_s: float  # median
    low: float
    high: float
    speedup: float  # median over one thread's median
    efficiency: float  # speedup / threads
    runs: int


@dataclass(frozen=True)
class Scaling:
    """How the order rate scales with threads at ``markets`` markets: measured, and the USL fitted to it."""

    markets: int
    measured: tuple[ScalingPoint, ...]  # threads 1, 2, ..., fewest first
    sigma: float
    kappa: float

    @classmethod
    def from_rates(cls, markets: int, rates: Mapping[int, Sequence[float]]) -> Scaling:
        """From every run's orders/s by thread count (1 among them): medians, spreads, speedups and the fit."""
        if 1 not in rates or len(rates) < 2 or any(not r for r in rates.values()):
            raise InputError(f"thread counts {sorted(rates)}: a scaling curve needs runs with 1 thread and with more, at every count")
        one = float(np.median(rates[1]))
        points = []
        for threads in sorted(rates):
            median = float(np.median(rates[threads]))
            speedup = median / one
            points.append(ScalingPoint(threads, median, float(min(rates[threads])), float(max(rates[threads])), speedup,
                                       speedup / threads, len(rates[threads])))
        sigma, kappa= fit_usl([p.threads for p in points], [p.speedup for p in points])
        return cls(markets, tuple(points), sigma, kappa)

    @property
    def most_threads(self) -> int:
        return self.measured[-1].threads

    def speedup(self, cores: float) -> float:
        """How many one-thread rates exactly ``cores`` cores sustain: measured (linear between the measured thread
        counts) up to the most threads measured; beyond, the last measured speedup carried along the USL fit (so
        the curve does not jump where the fit takes over).  It may fall below fewer cores' (contention), which is
        why ``plan`` chooses how many engines to run by the capacity they give."""
        n = max(float(cores), 1.0)
        last = self.measured[-1]
        if n <= last.threads:
            return float(np.interp(n, [p.threads for p in self.measured], [p.speedup for p in self.measured]))
        return last.speedup * usl_speedup(n, self.sigma, self.kappa) / usl_speedup(last.threads, self.sigma, self.kappa)

    def as_dict(self) -> dict[str, Any]:
        return {
            "markets": self.markets,
            "same_trades": True,
            "measured": [asdict(p) for p in self.measured],
            "fit": {"law": "USL", "sigma": self.sigma, "kappa": self.kappa},
        }

    @classmethod
    def from_file(cls, f: ScalingFile) -> Scaling:
        return cls(f.markets, tuple(ScalingPoint(**e.model_dump()) for e in f.measured), f.fit.sigma, f.fit.kappa)


NO_SCALING = "no scaling measured: cores × one core, an upper bound"


def speedup_suffix(speedup: float, cores: int) -> str:
    """`` (1.42× at 2)``: how a measured or fitted scaling basis ends."""
    return f" ({speedup:.2f}× at {cores})"


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
    scaling: Scaling | None = None  # orders/s by threads; None: never measured (cores x one core is then all a plan has)
    core_rate: CoreRateModel | None = None  # the per-core rate model (hierarchy, working sets, fit); None: never measured

    def engine_bytes(self, markets: float, resting_orders: float, trades_retained: float) -> float:
        """The fit's prediction, at least 0: a negative intercept can take a tiny load below zero bytes."""
        return max(self.fit.predict(markets, resting_orders, trades_retained), 0.0)

    def orders_per_s_per_core(self, markets_per_core: float) -> float:
        """Measured order throughput of one core holding ``markets_per_core`` markets.

        Interpolated in log(markets) between the sweep's sizes; held flat beyond them.
        """
        points = sorted(self.throughput, key=lambda t: t["markets"])
        xs = np.log([max(t["markets"], 1) for t in points])
        ys = np.array([t["orders_per_s"] for t in points])
        return float(np.interp(math.log(max(markets_per_core, 1.0)), xs, ys))

    def speedup(self, cores: float) -> float:
        """How many one-core rates ``cores`` cores sustain: :meth:`Scaling.speedup`, or ``cores`` with no curve."""
        return self.scaling.speedup(cores) if self.scaling is not None else max(float(cores), 1.0)

    def scaling_source(self, cores: float) -> str:
        """Where :meth:`speedup` of ``cores`` comes from: "measured", "USL fit" or "linear"."""
        if self.scaling is None:
            return "linear"
        return "measured" if cores <= self.scaling.most_threads else "USL fit"

    def scaling_basis(self, cores: int) -> str:
        """One sentence: where the speedup of ``cores`` cores came from, and that speedup (:func:`speedup_suffix`)."""
        s = self.scaling
        if s is None:
            return NO_SCALING
        processor = str(self.provenance.get("processor") or "the sweep's machine")
        measured = f"measured with 1–{s.most_threads} threads on {processor} at {s.markets:,} markets"
        if cores > s.most_threads:
            measured = (f"extrapolated beyond {s.most_threads} threads along the USL fit (sigma={s.sigma:.3g}, kappa={s.kappa:.3g}) "
                        f"of the speedups {measured}")
        return measured + speedup_suffix(self.speedup(cores), cores)

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
        } | ({"scaling": self.scaling.as_dict()} if self.scaling is not None else {}) | (
            {"core_rate": self.core_rate.as_dict()} if self.core_rate is not None else {})

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any, origin: str = "model") -> CapacityModel:
        """The model :meth:`as_dict` wrote, checked by :class:`ModelFile`: any problem is one
        :class:`InputError` naming ``origin`` and the key."""
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            found = f"format={data.get('format')!r}: " if isinstance(data, dict) else ""
            raise InputError(f"{origin}: {found}not an lxdex capacity model (a JSON object with \"format\": {MODEL_FORMAT!r}, "
                             "written by 'lxdex sweep --out')")
        m = validate(ModelFile, data, origin)
        return cls(
            fit=LinearFit.from_file(m.fit),
            runtime_bytes=m.runtime_bytes,
            reserved_ratio_median=m.reserved_ratio.median,
            reserved_ratio_max=m.reserved_ratio.max,
            throughput=[{"markets": t.markets, "orders_per_s": t.orders_per_s} for t in m.throughput_per_core],
            largest_markets=m.largest_markets,
            provenance=dict(m.provenance),
            points=[p.model_dump() for p in m.points],
            validation=[v.model_dump() for v in m.validation],
            scaling=Scaling.from_file(m.scaling) if m.scaling is not None else None,
            core_rate=core_rate_from_file(m.core_rate) if m.core_rate is not None else None,
        )


def load_model(path: str | Path | None = None) -> CapacityModel:
    """Read a model JSON written by ``lxdex sweep``; ``None`` reads the reference model shipped with the package."""
    if path is None:
        from importlib import resources

        text = resources.files(__package__).joinpath("data/reference_model.json").read_text(encoding="utf-8")
        origin = "built-in reference_model.json"
    else:
        origin = str(path)
        text = read_text(path, "model file", " (write one with 'lxdex sweep --out')")
    return CapacityModel.from_dict(read_json(text, origin), origin)
