"""The capacity estimator: what a load costs in memory, the one place every command asks.

``plan``, ``report``, ``scenario show``, ``audit``, ``sweep`` and every memory guard (``simulate``,
``profile``, ``bench``) take their figures from :class:`Estimator`.  For a :class:`Load` (markets,
resting orders, trades retained, order rate, engines) it predicts, each figure saying what it
predicts (:class:`Figure`, bytes with a low-high range):

* **engine bytes used**: the live rows of every engine array after trading, from the capacity
  model's fit (``bytes = base + a*markets + b*resting_orders + c*trades_retained``, measured by
  ``lxdex sweep``), summed over the engines;
* **engine bytes reserved**: the arrays as allocated.  Pools start at 1,024 slots and double when
  full, so each engine's order and level pools are the power of two at or above its peak count
  (price levels come from the sweep's measured points), its tape the power of two at or above its
  share of the trades, plus its market rows; the range takes the next power of two when the count
  is within its uncertainty of a boundary;
* **process RSS**: the resident memory of a process holding those engines after trading: the
  runtime (interpreter, numpy, numba, kernels: the model's measured ``runtime_bytes``) + the
  engines' reserved bytes + the working arrays of a run (:data:`WORKING_BYTES_PER_MARKET`) + what
  the allocator keeps of freed temporaries (the median of the sweep points' RSS not accounted for,
  its range the points' spread);
* **simulate's peak** (the guard's figure): the process RSS plus the seeding transient, when the
  generator's arrays for one chunk of markets (:data:`SEED_BYTES_PER_ORDER`) coexist with the pools
  growing (their old arrays are alive while the new ones are filled: half of each final pool).

One engine addresses at most :data:`MAX_SLOTS` (2^31 - 1) order slots and as many level slots
(int32 links): a larger load needs several engines, and :meth:`Load.engines_needed` says how
many.  ``bench/estimator_bench.py`` checks the figures against ``lxdex simulate`` at 21,000,
1,000,000 and 10,000,000 markets; ``lxdex plan --check`` does it for one load on this machine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine.layout import (
    ID_INDEX_BYTES,
    LEVEL_RECORD_BYTES,
    MARKET_RECORD_BYTES,
    MAX_ORDER_SLOTS,
    N_STATE,
    ORDER_RECORD_BYTES,
    TRADE_RECORD_BYTES,
)
from ..errors import CapacityError

if TYPE_CHECKING:
    from ..scenarios.config import Scenario
    from .model import CapacityModel

__all__ = ["Load", "Figure", "Estimate", "Estimator", "MAX_SLOTS", "MIN_POOL_SLOTS", "WORKING_BYTES_PER_MARKET",
           "SEED_BYTES_PER_ORDER", "SCHEDULE_BYTES_PER_ORDER", "default_tape", "pow2_at_least"]

MAX_SLOTS = int(MAX_ORDER_SLOTS)  # order slots, and level slots, one engine can address (int32 links)
MIN_POOL_SLOTS = 1024  # a pool's first allocation (Engine's MIN_CAPACITY)
_I64, _I32 = 8, 4
# A run's own arrays per market, beside the engine: the generator's rank map (int64) and activity
# table (cdf float64 + guide int32), the shard's mids, seeded depths, resting counts and digests
# (int64 each).  Measured by tracemalloc as the run's numpy bytes beyond the engine's: 52 B.
WORKING_BYTES_PER_MARKET = _I64 + (_I64 + _I32) + 4 * _I64
# What seeding one order costs while its chunk is in flight: the generator's market, local index,
# side, price, quantity and due columns (int64 each) and the engine's result (id and fill int64,
# status int8), plus the int32 copies ``submit`` passes to the kernel.
SEED_BYTES_PER_ORDER = 6 * _I64 + (2 * _I64 + 1) + 4 * _I32
# A run with random cancels (cancel_rate > 0) schedules every resting order's cancel: its id, market
# and due flow index (int64 each) wait in the schedule.
SCHEDULE_BYTES_PER_ORDER = 3 * _I64
_COUNT_UNCERTAINTY = 0.05  # relative: a predicted count this close to a power of two may cross it
# The counts a figure's (centre, low, high) are computed at: as predicted, and that uncertainty either side.
_SCALES = (1.0, 1.0 - _COUNT_UNCERTAINTY, 1.0 + _COUNT_UNCERTAINTY)


def pow2_at_least(n: float, floor: int = MIN_POOL_SLOTS) -> int:
    """The smallest power of two >= ``n`` and >= ``floor`` (a pool's or a tape's size)."""
    return max(floor, 1 << max(0, math.ceil(math.log2(max(n, 1.0)))))


def default_tape() -> int:
    """Trades one engine retains by default: its tape capacity (the same in simulate, plan, report, audit)."""
    from ..engine.core import DEFAULT_TAPE_CAPACITY

    return DEFAULT_TAPE_CAPACITY


@dataclass(frozen=True)
class Load:
    """What an exchange holds: ``markets`` with ``resting_orders`` in all, ``trades_retained`` trades kept
    (all engines together), ``order_rate`` orders/s to sustain, split over ``engines`` engines.

    ``in_flight`` is the orders a run places before it cancels back to depth (simulate's flow batch):
    the pools must hold them too.  ``seed_chunk_orders`` is the most orders one seeding step creates
    at once (simulate only; 0 for a plan's steady state)."""

    markets: int
    resting_orders: float
    trades_retained: int
    order_rate: float = 0.0
    engines: int = 1
    in_flight: float = 0.0
    seed_chunk_orders: float = 0.0
    scheduled_orders: float = 0.0  # resting orders whose random cancel a run has scheduled (simulate with cancel_rate > 0)

    @classmethod
    def of_scenario(cls, scenario: Scenario, shards: int = 1, threads: int = 1) -> Load:
        """The load a ``simulate`` run of ``scenario`` over ``shards`` engines, each of ``threads`` partitions, puts on
        one process (each partition keeps a tape of its own)."""
        from ..scenarios.tiers import expected_orders
        from ..simulation.shard import SEED_CHUNK_MARKETS

        flow = scenario.flow
        return cls(
            markets=scenario.markets,
            resting_orders=expected_orders(scenario.tiers, scenario.markets),
            trades_retained=shards * threads * scenario.trades_retained,  # every engine (every partition) keeps its own tape
            engines=shards,
            in_flight=shards * min(scenario.batch, scenario.trades_retained // 4) * (1.0 - flow.taker_share),
            seed_chunk_orders=expected_orders(scenario.tiers, min(scenario.markets, SEED_CHUNK_MARKETS)),
            scheduled_orders=expected_orders(scenario.tiers, scenario.markets) if scenario.cancel_rate > 0 else 0.0,
        )

    def engines_needed(self, levels: float = 0.0) -> int:
        """Fewest engines that address this load's order and level slots (at most 2^31 - 1 each), whole
        markets to an engine (a market's book lives in one engine): :class:`CapacityError` when one
        market alone would need more slots than an engine has."""
        per_market = max(self.resting_orders + self.in_flight, levels) / self.markets
        if per_market > MAX_SLOTS:
            raise CapacityError(f"{per_market:,.0f} resting orders per market: one market's book lives in one engine, which "
                                f"addresses at most {MAX_SLOTS:,} order slots")
        per_engine = max(1, math.floor(MAX_SLOTS / per_market)) if per_market > 0 else self.markets
        return max(1, math.ceil(self.markets / per_engine))

    def addressable(self, levels: float = 0.0) -> Load:
        """This load over at least as many engines as its slots need."""
        needed = self.engines_needed(levels)
        return self if self.engines >= needed else replace(self, engines=needed)

    def split(self, parts: int) -> Load:
        """The busiest of ``parts`` equal shares (markets rounded up; orders, tape and rate in proportion)."""
        markets = math.ceil(self.markets / parts)
        share = markets / self.markets
        return replace(self, markets=markets, resting_orders=self.resting_orders * share,
                       trades_retained=math.ceil(self.trades_retained / parts), order_rate=self.order_rate / parts,
                       engines=max(1, math.ceil(self.engines / parts)), in_flight=self.in_flight / parts,
                       scheduled_orders=self.scheduled_orders * share)

    def per_engine(self) -> Load:
        """The busiest engine's share of this load (the load itself on one engine)."""
        return self.split(self.engines) if self.engines > 1 else self

    def as_dict(self) -> dict[str, Any]:
        return {"markets": self.markets, "orders_per_market": self.resting_orders / self.markets,
                "resting_orders": self.resting_orders, "trades_retained": self.trades_retained,
                "order_rate": self.order_rate, "engines": self.engines}


@dataclass(frozen=True)
class Figure:
    """One predicted figure: what it predicts, the bytes, and the range the prediction allows."""

    predicts: str
    bytes: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    load: Load
    price_levels: float  # predicted, all engines
    runtime_bytes: float
    working_bytes: float
    engine_bytes_used: Figure
    engine_bytes_reserved: Figure
    process_rss: Figure
    simulate_peak: Figure

    def as_dict(self) -> dict[str, Any]:
        return {
            "load": self.load.as_dict(),
            "price_levels": self.price_levels,
            "runtime_bytes": self.runtime_bytes,
            "working_bytes": self.working_bytes,
            "engine_bytes_used": self.engine_bytes_used.as_dict(),
            "engine_bytes_reserved": self.engine_bytes_reserved.as_dict(),
            "process_rss": self.process_rss.as_dict(),
            "simulate_peak": self.simulate_peak.as_dict(),
        }


class Estimator:
    """Predictions for loads from one capacity model (the built-in reference model by default)."""

    @classmethod
    def default(cls) -> Estimator:
        """The estimator of the built-in reference model (read once per process)."""
        if cls._default is None:
            cls._default = cls()
        return cls._default

    _default: Estimator | None = None

    def __init__(self, model: CapacityModel | None = None) -> None:
        if model is None:
            from .model import load_model

            model = load_model()
        self.model = model
        self._levels = self._fit_levels(model)
        self._slack = self._allocator_slack(model)

    # ------------------------------------------------------------------ what the model's points say
    @staticmethod
    def _fit_levels(model: CapacityModel) -> tuple[float, float]:
        """(per market, per resting order): price levels as the sweep measured them, least squares
        through the origin.  Without points: what the byte fit leaves for levels once the markets',
        orders' and tape's own rows are paid."""
        points = [p for p in model.points if p.get("resting_orders")]
        if len(points) >= 2:
            x = np.array([[p["markets"], p["resting_orders"]] for p in points], dtype=float)
            y = np.array([p["price_levels"] for p in points], dtype=float)
            coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            return max(float(coef[0]), 0.0), max(float(coef[1]), 0.0)
        _, a, b, _ = model.fit.coefficients
        return max((a - MARKET_RECORD_BYTES) / LEVEL_RECORD_BYTES, 0.0), max((b - ORDER_RECORD_BYTES - ID_INDEX_BYTES) / LEVEL_RECORD_BYTES, 0.0)

    @staticmethod
    def _allocator_slack(model: CapacityModel) -> tuple[float, float, float]:
        """(median, low, high) bytes a run's process holds beyond runtime + engine reserved + working
        arrays: the allocator's arenas keeping freed temporaries, page tables.  From the sweep's points."""
        rest = [p["rss_bytes"] - model.runtime_bytes - p["engine_bytes_reserved"] - WORKING_BYTES_PER_MARKET * p["markets"]
                for p in model.points if p.get("rss_bytes")]
        if not rest:
            return 0.0, 0.0, 0.0
        return max(float(np.median(rest)), 0.0), max(float(min(rest)), 0.0), max(float(max(rest)), 0.0)

    # ------------------------------------------------------------------ the figures
    def price_levels(self, load: Load) -> float:
        """Price levels the books hold: the sweep's measured rate, and never more than one per order."""
        per_market, per_order = self._levels
        return min(per_market * load.markets + per_order * load.resting_orders, max(load.resting_orders + load.in_flight, 0.0))

    def engine_bytes_used(self, load: Load) -> tuple[float, float, float]:
        """(centre, low, high): the fit at the whole load plus each further engine's scalar state, held
        between the rows that are certainly live (markets, orders, the retained trades) and the
        arrays as reserved (a live row sits in an allocated slot), whatever the fit says far from
        the sizes it was measured at."""
        fit = self.model.fit
        centre = fit.predict(load.markets, load.resting_orders, load.trades_retained)
        low, high = fit.interval(load.markets, load.resting_orders, load.trades_retained)
        extra = (load.engines - 1) * N_STATE * _I64  # each engine's scalar state; its base is in the fit once
        floor = (load.markets * MARKET_RECORD_BYTES + load.resting_orders * (ORDER_RECORD_BYTES + ID_INDEX_BYTES)
                 + load.trades_retained * TRADE_RECORD_BYTES + load.engines * N_STATE * _I64)
        reserved, _, reserved_high = self.engine_bytes_reserved(load)
        middle = min(max(centre + extra, floor), reserved)
        return middle, min(max(low + extra, floor), middle), max(min(max(high + extra, floor), reserved_high), middle)

    def _pool_bytes(self, per_engine: Load, scale: float) -> float:
        """One engine's order and level pools at the powers of two holding its counts x ``scale``."""
        order_slots = min(pow2_at_least((per_engine.resting_orders + per_engine.in_flight) * scale), MAX_SLOTS)
        level_slots = min(pow2_at_least(self.price_levels(per_engine) * scale), MAX_SLOTS)
        return order_slots * (ORDER_RECORD_BYTES + ID_INDEX_BYTES) + level_slots * LEVEL_RECORD_BYTES

    def engine_bytes_reserved(self, load: Load) -> tuple[float, float, float]:
        """(centre, low, high): every engine's pools at their powers of two, tapes and market rows."""
        per = load.per_engine()
        tape = pow2_at_least(per.trades_retained) * TRADE_RECORD_BYTES
        fixed = per.markets * MARKET_RECORD_BYTES + tape + N_STATE * _I64
        # The busiest engine times the engines: an upper bound when markets do not split evenly.
        centre, low, high = (load.engines * (fixed + self._pool_bytes(per, s)) for s in _SCALES)
        return centre, low, high

    def _growth_transient(self, load: Load, scale: float) -> float:
        """Bytes of the old pools alive while their last doubling copies them: half of each final pool.
        Both count, because the engine grows a full order pool and a full level pool in one step and
        frees the old arrays only after both are copied."""
        return load.engines * self._pool_bytes(load.per_engine(), scale) / 2

    @staticmethod
    def working_bytes(load: Load) -> float:
        """A run's own arrays beside the engines: per market, and the cancel schedule when there is one."""
        return WORKING_BYTES_PER_MARKET * load.markets + SCHEDULE_BYTES_PER_ORDER * load.scheduled_orders

    def _rss(self, reserved: float, working: float, slack: float) -> float:
        return self.model.runtime_bytes + reserved + working + slack

    def _peak(self, load: Load, rss: float, scale: float) -> float:
        return rss + load.seed_chunk_orders * SEED_BYTES_PER_ORDER + self._growth_transient(load, scale)

    def estimate(self, load: Load) -> Estimate:
        """Every figure for ``load``, over at least as many engines as its slots need."""
        load = load.addressable(self.price_levels(load))
        used = self.engine_bytes_used(load)
        reserved = self.engine_bytes_reserved(load)
        working = self.working_bytes(load)
        rss = tuple(self._rss(r, working, s) for r, s in zip(reserved, self._slack, strict=True))
        peak = tuple(self._peak(load, r, s) for r, s in zip(rss, _SCALES, strict=True))
        return Estimate(
            load=load,
            price_levels=self.price_levels(load),
            runtime_bytes=self.model.runtime_bytes,
            working_bytes=working,
            engine_bytes_used=Figure("engine bytes used after trading (live rows of every engine array)", *used),
            engine_bytes_reserved=Figure("engine bytes reserved after trading (the arrays as allocated)", *reserved),
            process_rss=Figure("resident memory of a process holding the engines after trading "
                               "(runtime + engine reserved + working arrays + allocator slack)", *rss),
            simulate_peak=Figure("peak resident memory of an 'lxdex simulate' run of this load "
                                 "(seeding's generator arrays and a pool's last doubling included)", *peak),
        )

    def required_bytes(self, load: Load, safety: float) -> tuple[float, float, float]:
        """(required, low, high) memory a machine must give a process holding ``load``: the process RSS
        with the allocator slack at its largest measured, and the engine's part at least ``safety`` x
        the bytes it uses (room for the pools to double once more, and for bursts).  ``low`` and
        ``high`` carry the fit's 95% interval (``low`` with the median slack)."""
        e = self.estimate(load)
        base = e.runtime_bytes + e.working_bytes
        median_slack, _, most_slack = self._slack
        used, reserved = e.engine_bytes_used, e.engine_bytes_reserved
        return (base + most_slack + max(reserved.bytes, safety * used.bytes),
                base + median_slack + max(reserved.low, safety * used.low),
                base + most_slack + max(reserved.high, safety * used.high))

    def process_overhead(self) -> float:
        """What each further engine process costs beyond its engine: its runtime and the allocator's median slack."""
        return self.model.runtime_bytes + self._slack[0]

    def machine_bytes(self, load: Load, engines: int, safety: float) -> tuple[float, float, float]:
        """(required, low, high) memory of one machine running ``load`` as ``engines`` engine processes:
        :meth:`required_bytes` over that many engines, and each further process's :meth:`process_overhead`."""
        centre, low, high = self.required_bytes(replace(load, engines=engines), safety)
        extra = (engines - 1) * self.process_overhead()
        return centre + extra, low + extra, high + extra

    def simulate_peak(self, scenario: Scenario, shards: int = 1, threads: int = 1) -> int:
        """The guard's figure: the peak RSS of simulating ``scenario`` over ``shards`` engines of ``threads``
        partitions each in one process (the central prediction; no interval, so that the guard does not
        import scipy into the process whose baseline it is about to measure).  Each partition of a
        threaded engine keeps its own tape and, beside it, a ring of its trades' arrival numbers."""
        load = Load.of_scenario(scenario, shards, threads)
        load = load.addressable(self.price_levels(load))
        reserved = self.engine_bytes_reserved(load)[0]
        rss = self._rss(reserved, self.working_bytes(load), self._slack[0])
        rings = load.trades_retained * _I64 if threads > 1 else 0
        return int(self._peak(load, rss, 1.0)) + rings
