"""``lxdex plan``: which machine holds a load, with what headroom, and how many when one is not enough.

For a load (markets, resting orders per market, trades retained, order rate) and each hardware
profile:

- **memory**: required = runtime + safety x engine bytes (the fitted model); usable = memory minus
  the OS reserve.  ``safety`` covers pool growth (pools double when full) and bursts.
- **order rate**: the measured one-core throughput at the markets each core would hold, times the
  profile's performance cores (markets sharded one engine per core).  Measured on the machine the
  model was fitted on, not on the profile's own cores: a stated approximation.
- the resource that runs out first (the higher share of its capacity), the most markets the
  profile's memory holds, and the machines needed with markets sharded across them (N, and N+1 for
  one spare).

Plus the cheapest single profile that fits and a scaling table from 21K to 10M markets.

Every figure is finite and no byte count is negative: the request is checked (:class:`PlanRequest`),
the model and the profiles were checked when they were read, the engine's predicted bytes are held
at 0 or more (the fit's intercept may be negative), and a figure that has no value says so
(``headroom_pct`` is ``None`` when the load does not fit in memory; ``max_markets`` stops at
:data:`MAX_PLAN_MARKETS` when memory is not what limits it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

from ..errors import CapacityError, InputError
from ..scenarios.tiers import DEFAULT_TIERS, expected_orders
from .hardware import GIB, HardwareProfile
from .model import CapacityModel

__all__ = ["PlanRequest", "ProfilePlan", "plan", "SCALING_MARKETS", "orders_per_market_default"]

SCALING_MARKETS = (21_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 10_000_000)
MAX_MACHINES = 1 << 20
MAX_PLAN_MARKETS = 10**12  # the most markets a plan considers (max_markets stops here)

# A request's ranges: (low, high, integer); every product a plan takes of them stays a finite float.
_REQUEST_RANGES: dict[str, tuple[float, float, bool]] = {
    "markets": (1, MAX_PLAN_MARKETS, True),
    "orders_per_market": (0, 1e12, False),
    "trades_retained": (0, 10**15, True),
    "safety": (1.0, 100.0, False),
    "os_reserve_gib": (0.0, 65_536.0, False),
    "order_rate": (0.0, 1e15, False),
}


def orders_per_market_default(markets: int) -> float:
    """Resting orders per market the default tier table gives ``markets`` markets."""
    return expected_orders(DEFAULT_TIERS, markets) / markets


@dataclass(frozen=True)
class PlanRequest:
    markets: int
    orders_per_market: float | None = None  # None: the default tier table's mean at this size
    trades_retained: int = 1_000_000
    safety: float = 2.0  # pools double when full: reserved bytes run up to twice those used
    os_reserve_gib: float = 4.0
    order_rate: float = 1_000_000.0  # orders/s the exchange must sustain

    def __post_init__(self) -> None:
        for name, (low, high, integer) in _REQUEST_RANGES.items():
            value = getattr(self, name)
            if value is None and name == "orders_per_market":
                continue
            kind = "an integer" if integer else "a finite number"
            is_number = isinstance(value, Integral) if integer else isinstance(value, Real) and math.isfinite(value)
            if isinstance(value, bool) or not is_number or not low <= value <= high:
                raise InputError(f"{name}={value!r}: must be {kind} from {low:,.0f} to {high:,.0f}")

    def opm(self, markets: int | None = None) -> float:
        m = self.markets if markets is None else markets
        return self.orders_per_market if self.orders_per_market is not None else orders_per_market_default(m)


@dataclass(frozen=True)
class Load:
    markets: float
    resting_orders: float
    trades_retained: float
    order_rate: float


@dataclass(frozen=True)
class ProfilePlan:
    name: str
    kind: str
    memory_bytes: int
    usable_bytes: int
    required_bytes: float
    required_bytes_low: float
    required_bytes_high: float
    fits_memory: bool
    headroom_pct: float | None  # share of usable memory left; None when the load does not fit in memory
    max_markets: int  # at most MAX_PLAN_MARKETS (memory is then not what limits the markets)
    order_capacity_per_s: float
    order_rate_use_pct: float
    fits: bool
    bottleneck: str  # "memory" or "order rate": whichever uses more of its capacity
    machines: int | None  # sharded, no spare; None when no number of these machines holds it
    machines_n_plus_1: int | None
    machine_markets: int | None  # markets on the busiest machine of the N (the per-shard load)
    machine_required_bytes: float | None  # what that machine needs: runtime + safety x its shard's engine bytes
    price_usd: float | None
    price_usd_hour: float | None
    cluster_price_usd: float | None  # N+1 machines
    cluster_price_usd_hour: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shard_load(load: Load) -> Any:
    """``share(n)``: the load of the busiest of ``n`` machines with markets, orders, tape and flow split evenly."""
    opm = load.resting_orders / load.markets

    def share(n: int) -> Load:
        markets = math.ceil(load.markets / n)
        return Load(markets, opm * markets, load.trades_retained / n, load.order_rate / n)

    return share


class _Sizing:
    """The model and the request's margins, applied to one machine."""

    def __init__(self, model: CapacityModel, request: PlanRequest):
        self.model = model
        self.safety = request.safety
        self.os_reserve = request.os_reserve_gib * GIB

    def required(self, load: Load) -> tuple[float, float, float]:
        """(required, low, high) bytes: runtime plus ``safety`` x the engine's predicted bytes (95% interval)."""
        fit = self.model.fit
        # The engine cannot use fewer than 0 bytes, whatever a negative intercept says of a tiny load.
        centre = max(fit.predict(load.markets, load.resting_orders, load.trades_retained), 0.0)
        low, high = (max(v, 0.0) for v in fit.interval(load.markets, load.resting_orders, load.trades_retained))
        runtime = self.model.runtime_bytes
        return runtime + self.safety * centre, runtime + self.safety * low, runtime + self.safety * high

    def usable(self, profile: HardwareProfile) -> int:
        return max(int(profile.memory_bytes - self.os_reserve), 0)

    def order_capacity(self, profile: HardwareProfile, markets: float) -> float:
        cores = profile.p_cores
        return cores * self.model.orders_per_s_per_core(markets / cores)

    def holds(self, profile: HardwareProfile, load: Load) -> bool:
        return self.required(load)[0] <= self.usable(profile) and load.order_rate <= self.order_capacity(profile, load.markets)

    def max_markets(self, profile: HardwareProfile, opm: float, trades_retained: float) -> int:
        """Most markets the profile's usable memory holds (the model is linear, so this is exact), at most
        :data:`MAX_PLAN_MARKETS`."""
        base, a, b, c = self.model.fit.coefficients
        usable = self.usable(profile)
        if self.model.runtime_bytes > usable:
            return 0  # the runtime alone does not fit
        per_market = self.safety * (a + b * opm)  # a, b >= 0 (the model file is checked)
        room = usable - self.model.runtime_bytes - self.safety * (base + c * trades_retained)
        if room < 0:
            return 0
        if per_market <= 0 or room >= per_market * MAX_PLAN_MARKETS:
            return MAX_PLAN_MARKETS
        return min(int(room // per_market), MAX_PLAN_MARKETS)

    def machines(self, profile: HardwareProfile, load: Load) -> int | None:
        """Fewest machines holding ``load`` with markets, orders, trades and order rate split evenly."""

        share = _shard_load(load)
        hi = 1
        while not self.holds(profile, share(hi)):
            if hi >= load.markets or hi >= MAX_MACHINES:
                return None  # even one market per machine is too much
            hi = min(hi * 2, int(load.markets), MAX_MACHINES)
        lo = hi // 2 + 1 if hi > 1 else 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.holds(profile, share(mid)):
                hi = mid
            else:
                lo = mid + 1
        return hi


def _profile_plan(sizing: _Sizing, profile: HardwareProfile, load: Load, opm: float) -> ProfilePlan:
    required, low, high = sizing.required(load)
    usable = sizing.usable(profile)
    capacity = sizing.order_capacity(profile, load.markets)
    memory_use = required / usable if usable else math.inf
    rate_use = load.order_rate / capacity if capacity else math.inf
    machines = sizing.machines(profile, load)
    spare = machines + 1 if machines is not None else None
    shard = _shard_load(load)(machines) if machines is not None else None
    return ProfilePlan(
        name=profile.name,
        kind=profile.kind,
        memory_bytes=profile.memory_bytes,
        usable_bytes=usable,
        required_bytes=required,
        required_bytes_low=low,
        required_bytes_high=high,
        fits_memory=required <= usable,
        headroom_pct=100.0 * (usable - required) / usable if usable and required <= usable else None,
        max_markets=sizing.max_markets(profile, opm, load.trades_retained),
        order_capacity_per_s=capacity,
        order_rate_use_pct=100.0 * rate_use,
        fits=required <= usable and rate_use <= 1.0,
        bottleneck="memory" if memory_use >= rate_use else "order rate",
        machines=machines,
        machines_n_plus_1=spare,
        machine_markets=int(shard.markets) if shard else None,
        machine_required_bytes=sizing.required(shard)[0] if shard else None,
        price_usd=profile.price_usd,
        price_usd_hour=profile.price_usd_hour,
        cluster_price_usd=spare * profile.price_usd if spare and profile.price_usd is not None else None,
        cluster_price_usd_hour=spare * profile.price_usd_hour if spare and profile.price_usd_hour is not None else None,
    )


def _cheapest(plans: Sequence[ProfilePlan], price: str) -> ProfilePlan | None:
    priced = [p for p in plans if getattr(p, price) is not None]
    return min(priced, key=lambda p: (getattr(p, price), -(p.headroom_pct or 0.0)), default=None)


def plan(model: CapacityModel, profiles: Sequence[HardwareProfile], request: PlanRequest,
         scaling_markets: Sequence[int] = SCALING_MARKETS) -> dict[str, Any]:
    """The whole plan as a JSON-ready dict (see the module docstring)."""
    sizing = _Sizing(model, request)
    opm = request.opm()
    load = Load(request.markets, opm * request.markets, request.trades_retained, request.order_rate)
    plans = [_profile_plan(sizing, p, load, opm) for p in profiles]
    if all(p.machines is None for p in plans):
        n = min(request.markets, MAX_MACHINES)
        shard = _shard_load(load)(n)  # the most the load can be split
        spread = "one market per machine" if n == request.markets else f"over {n:,} machines"
        largest = max(profiles, key=lambda p: p.memory_bytes)
        needed = sizing.required(shard)[0]
        roomy = [p for p in profiles if needed <= sizing.usable(p)]
        if not roomy:
            raise CapacityError(
                f"no profile can hold this load, even sharded {spread}: {shard.markets:,.0f} market(s) with {opm:,.0f} resting "
                f"orders each need {needed / GIB:,.1f} GiB with the runtime, and the largest profile ({largest.name}) "
                f"has {sizing.usable(largest) / GIB:,.1f} GiB usable"
            )
        fastest = max(roomy, key=lambda p: sizing.order_capacity(p, shard.markets))
        raise CapacityError(
            f"no profile can sustain this order rate, even sharded {spread}: each machine would take {shard.order_rate:,.0f} "
            f"orders/s, and the fastest profile with the memory for it ({fastest.name}) handles "
            f"{sizing.order_capacity(fastest, shard.markets):,.0f} orders/s (the model's one-core throughput x its performance cores)"
        )
    fitting = [p for p in plans if p.fits]
    cheapest = _cheapest(fitting, "price_usd")
    cheapest_cloud = _cheapest(fitting, "price_usd_hour")
    clusters = [p for p in plans if p.machines is not None]
    cluster = _cheapest([p for p in clusters if p.cluster_price_usd is not None], "cluster_price_usd")
    cluster_cloud = _cheapest([p for p in clusters if p.cluster_price_usd_hour is not None], "cluster_price_usd_hour")

    scaling = []
    for markets in scaling_markets:
        row_opm = request.opm(markets)
        row = Load(markets, row_opm * markets, request.trades_retained, request.order_rate)
        required, low, high = sizing.required(row)
        holding = [p for p in profiles if sizing.holds(p, row)]
        smallest = min(holding, key=lambda p: (p.memory_bytes, p.price_usd if p.price_usd is not None else math.inf), default=None)
        scaling.append({
            "markets": markets,
            "orders_per_market": row_opm,
            "required_bytes": required,
            "required_bytes_low": low,
            "required_bytes_high": high,
            "extrapolated": markets > model.largest_markets,
            "smallest_fit": smallest.name if smallest else None,
        })

    return {
        "request": asdict(request) | {"orders_per_market": opm, "resting_orders": load.resting_orders},
        "model": {
            "runtime_bytes": model.runtime_bytes,
            "coefficients": dict(zip(("base", "markets", "resting_orders", "trades_retained"), model.fit.coefficients, strict=True)),
            "r2": model.fit.r2,
            "largest_markets_measured": model.largest_markets,
            "extrapolated": request.markets > model.largest_markets,
            "provenance": model.provenance,
        },
        "engine_bytes": model.engine_bytes(load.markets, load.resting_orders, load.trades_retained),
        "profiles": [p.as_dict() for p in plans],
        "cheapest_fit": cheapest.name if cheapest else None,
        "cheapest_cloud_fit": cheapest_cloud.name if cheapest_cloud else None,
        "cluster": _cluster_summary(cluster, "price_usd"),
        "cluster_cloud": _cluster_summary(cluster_cloud, "price_usd_hour"),
        "scaling": scaling,
    }


def _cluster_summary(p: ProfilePlan | None, price: str) -> dict[str, Any] | None:
    if p is None:
        return None
    total = "cluster_price_usd" if price == "price_usd" else "cluster_price_usd_hour"
    return {"profile": p.name, "machines": p.machines, "machines_n_plus_1": p.machines_n_plus_1, total: getattr(p, total),
            "machine_markets": p.machine_markets, "machine_required_bytes": p.machine_required_bytes}
