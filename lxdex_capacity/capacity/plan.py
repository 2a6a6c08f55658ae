"""``lxdex plan``: which machine holds a load, with what headroom, how many when one is not enough,
and one answer to buy.

Every memory figure comes from the capacity estimator (:mod:`.estimator`).  For a load (markets,
resting orders per market, trades retained, order rate) and each hardware profile:

- **engines**: one engine addresses at most 2^31 - 1 order and level slots, and runs on one core.
  A machine runs the fewest engines that address its share of the load and sustain its share of
  the order rate (at most its performance cores), each as a process with its own runtime.
- **memory**: required = the estimator's process RSS with the engine's part at least ``safety`` x
  the bytes it uses (pools double when full), per engine process; usable = memory minus the OS
  reserve.  A load that does not fit says how far short it is ("short 3.1 GiB", or "needs 4.2x this
  memory" beyond twice).
- **order rate**: per core, the profile's own measured rate when its hardware file gives one
  (``orders_per_s_per_core``, "user-given"), the rate ``plan --check`` measured on this machine
  ("measured here"), or else the capacity model's one-core rate at the markets each engine holds,
  measured on the sweep's machine ("extrapolated"); times the **speedup** of the cores the engines
  run on (``min(engines, performance cores)``): the capacity model's scaling curve, measured by
  ``lxdex sweep`` with 1..k threads, interpolated up to k and the Universal Scalability Law fitted
  to it beyond (:meth:`~.model.CapacityModel.speedup`), or, for a model without one, the cores
  themselves, an upper bound (``scaling_source`` "measured", "USL fit" or "linear"; ``scaling_basis``
  says which, in words).  With a latency SLO (``plan --latency-slo``,
  :mod:`lxdex_capacity.latency.slo`) every profile is planned at the highest rate per core that met
  it on one core of this machine ("latency SLO"); when no rate met it, at none: no profile's order
  capacity is known within the SLO, so none holds a load that has an order rate (the memory figures
  stand), and the plan's ``latency_slo`` section says so.
- the **bottleneck**: the resource with the highest use; the most markets the memory holds; the
  machines needed with the load sharded evenly (N, and N+1 for one spare).
- the **recommendation**: the cheapest single machine, or N+1 cluster, that meets memory and rate
  with the safety margin, by yearly cost (cloud: hourly x 8,760 hours; purchase: price over
  :data:`PURCHASE_YEARS` years), with watts per million markets where power is published.

Every figure is finite and no byte count is negative: the request is checked (:class:`PlanRequest`),
the model and the profiles were checked when they were read, and a figure that has no value says so
(``headroom_pct`` is ``None`` when the load does not fit in memory; ``max_markets`` stops at
:data:`MAX_PLAN_MARKETS` when memory is not what limits it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from ..errors import CapacityError, InputError
from ..scenarios.tiers import DEFAULT_TIERS, expected_orders
from .core_rate import ProfileMemory, quantised_markets
from .estimator import Estimator, Load, default_tape
from .hardware import GIB, HardwareProfile
from .model import CapacityModel, speedup_suffix

if TYPE_CHECKING:
    from ..latency.slo import SLOSearch
    from .core_rate import CoreRateModel

__all__ = ["PlanRequest", "ProfilePlan", "Calibration", "plan", "with_spare", "machines_text", "memory_verdict", "highest_use_text", "recommendation_text", "use_pct", "SCALING_MARKETS", "orders_per_market_default", "PURCHASE_YEARS",
           "HOURS_PER_YEAR", "MAX_MACHINES", "MAX_PLAN_MARKETS", "SLO_RATE_SOURCE", "MODELLED", "SWEPT_THERE", "swept_on", "slo_section", "slo_verdict"]

SCALING_MARKETS = (21_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 10_000_000)
MAX_MACHINES = 1 << 20
MAX_PLAN_MARKETS = 10**12  # the most markets a plan considers (max_markets stops here)
PURCHASE_YEARS = 3  # a bought machine's price is spread over this many years
HOURS_PER_YEAR = 8_760
SLO_RATE_SOURCE = "latency SLO"  # a profile's rate_source when plan --latency-slo set its rate per core
MODELLED = "modelled"  # a profile's rate_source (and scaling_source) when the per-core rate model computed it from its hierarchy
SWEPT_THERE = "swept there"  # a profile's rate_source when the model's own sweep ran on its chip: the sweep's measured rates

# A request's ranges: (low, high, integer); every product a plan takes of them stays a finite float.
_REQUEST_RANGES: dict[str, tuple[float, float, bool]] = {
    "markets": (1, MAX_PLAN_MARKETS, True),
    "orders_per_market": (0, 1e12, False),
    "trades_retained": (0, 10**15, True),
    "safety": (1.0, 100.0, False),
    "os_reserve_gib": (0.0, 65_536.0, False),
    "order_rate": (0.0, 1e15, False),
    "engines": (1, 1 << 20, True),
}


def orders_per_market_default(markets: int) -> float:
    """Resting orders per market the default tier table gives ``markets`` markets."""
    return expected_orders(DEFAULT_TIERS, markets) / markets


@dataclass(frozen=True)
class PlanRequest:
    markets: int
    orders_per_market: float | None = None  # None: the default tier table's mean at this size
    trades_retained: int | None = None  # None: one engine's tape capacity, as simulate keeps
    safety: float = 2.0  # pools double when full: reserved bytes run up to twice those used
    os_reserve_gib: float = 4.0
    order_rate: float = 1_000_000.0  # orders/s the exchange must sustain
    engines: int | None = None  # engines per machine; None: the fewest that hold the load and its rate

    def __post_init__(self) -> None:
        for name, (low, high, integer) in _REQUEST_RANGES.items():
            value = getattr(self, name)
            if value is None and name in ("orders_per_market", "trades_retained", "engines"):
                continue
            kind = "an integer" if integer else "a finite number"
            is_number = isinstance(value, Integral) if integer else isinstance(value, Real) and math.isfinite(value)
            if isinstance(value, bool) or not is_number or not low <= value <= high:
                raise InputError(f"{name}={value!r}: must be {kind} from {low:,.0f} to {high:,.0f}")

    def opm(self, markets: int | None = None) -> float:
        m = self.markets if markets is None else markets
        return self.orders_per_market if self.orders_per_market is not None else orders_per_market_default(m)

    @property
    def tape(self) -> int:
        return self.trades_retained if self.trades_retained is not None else default_tape()

    def load(self, markets: int | None = None) -> Load:
        m = self.markets if markets is None else markets
        return Load(markets=m, resting_orders=self.opm(m) * m, trades_retained=self.tape, order_rate=self.order_rate)


@dataclass(frozen=True)
class Rate:
    """How fast one core of a profile matches, and where that figure comes from."""

    per_core: float | None  # flat, when measured (user-given, here or by an SLO search); None: a model's, by markets per engine
    source: str  # "user-given", "measured here", "modelled", "extrapolated" or "latency SLO"
    basis: str
    scale: float = 1.0  # the model's curve times this (a Calibration's factor)
    memory: ProfileMemory | None = None  # "modelled": the profile's hierarchy, which the per-core rate model runs on


@dataclass(frozen=True)
class Calibration:
    """This machine's rate per core, measured now (``plan --check``, a report's simulation): measured beats
    extrapolated, so the model's curve, which every extrapolated profile is planned on, is scaled by
    ``measured_per_s / model_per_s`` (the model's rate at the markets measured).  A measurement taken on a
    busy machine calibrates nothing (the caller passes none)."""

    markets: int
    measured_per_s: float
    model_per_s: float
    source: str  # what measured it: "plan --check", "lxdex report's simulation"

    def __post_init__(self) -> None:
        for name in ("measured_per_s", "model_per_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 1e15):
                raise InputError(f"calibration {name}={value!r}: must be a rate above 0")

    @property
    def factor(self) -> float:
        return self.measured_per_s / self.model_per_s

    def text(self) -> str:
        return (f"scaled x{self.factor:.2f} to this machine's {self.measured_per_s:,.0f} orders/s per core at {self.markets:,} markets "
                f"measured by {self.source} (the model says {self.model_per_s:,.0f})")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"factor": self.factor}


@dataclass(frozen=True)
class MachineLoad:
    """One machine of N running its share of the load: its engines, memory and order capacity."""

    load: Load
    engines: int
    required: tuple[float, float, float]  # bytes: required, low, high
    order_capacity: float  # orders/s of its engines (as many as it has cores for)
    cores: int  # the cores those engines run on: min(engines, performance cores)
    fits_memory: bool
    fits_rate: bool
    fits_cores: bool  # an engine per core: no more engines than performance cores

    @property
    def holds(self) -> bool:
        return self.fits_memory and self.fits_rate and self.fits_cores


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
    memory_use_pct: float  # required / usable; above 100 when it does not fit
    max_markets: int  # at most MAX_PLAN_MARKETS (memory is then not what limits the markets)
    engines_per_machine: int  # on one machine holding the whole load (or trying to)
    cores_use_pct: float  # engines over performance cores: one engine per core
    order_capacity_per_s: float  # of those engines
    order_rate_use_pct: float
    orders_per_s_per_core: float  # at the markets each engine holds
    rate_source: str  # user-given, measured here, modelled, extrapolated, latency SLO
    rate_basis: str
    rate_model: dict[str, Any] | None  # "modelled": the figures the per-core rate came from (clock, levels, shares, why)
    cores: int  # the cores its engines run on: min(engines, performance cores)
    speedup: float  # of those cores over one: order_capacity_per_s = orders_per_s_per_core x speedup
    scaling_source: str  # "measured", "USL fit" or "linear" (no scaling measured: an upper bound)
    scaling_basis: str
    fits: bool
    bottleneck: str  # "memory", "order rate" or "cores": whichever uses the most of its capacity
    machines: int | None  # sharded, no spare; None when no number of these machines holds it
    machines_n_plus_1: int | None
    machine_engines: int | None  # engines on each of the N machines
    machine_markets: int | None  # markets on the busiest machine of the N (the per-shard load)
    machine_required_bytes: float | None  # what that machine needs
    price_usd: float | None
    price_usd_hour: float | None
    cluster_price_usd: float | None  # N+1 machines
    cluster_price_usd_hour: float | None
    yearly_cost_usd: float | None  # one machine: price / PURCHASE_YEARS, or hourly x HOURS_PER_YEAR
    max_power_w: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Sizing:
    """The estimator and the request's margins, applied to machines of one profile."""

    def __init__(self, estimator: Estimator, request: PlanRequest, here: str | None = None, slo: SLOSearch | None = None,
                 calibration: Calibration | None = None):
        self.estimator = estimator
        self.model = estimator.model
        self.request = request
        self.safety = request.safety
        self.os_reserve = request.os_reserve_gib * GIB
        self.here = here  # the profile whose orders_per_s_per_core plan --check measured on this machine
        self.slo = slo  # plan --latency-slo's search: its rate per core (orders/s) replaces every profile's
        self.calibration = calibration  # this machine's measured rate: the model's curve scaled to it
        self._modelled: dict[tuple[int, int, int], float] = {}  # per_core of modelled rates, by (hierarchy, markets, sharing)
        # The per-core rate model on the planned books: the tier table scaled to the orders per market asked for.
        self.core_rate = self.model.core_rate
        if self.core_rate is not None and request.orders_per_market is not None:
            self.core_rate = self.core_rate.with_depth(request.markets, request.opm() * request.markets)

    def rate(self, profile: HardwareProfile) -> Rate:
        if self.slo is not None:
            return Rate(self.slo.orders_per_s, SLO_RATE_SOURCE, _slo_basis(self.slo))
        if profile.orders_per_s_per_core is not None:
            source = "measured here" if profile.name == self.here else "user-given"
            basis = profile.source if source == "measured here" else "orders_per_s_per_core in the hardware file"
            return Rate(profile.orders_per_s_per_core, source, basis)
        processor = str(self.model.provenance.get("processor") or "the sweep's machine")
        if swept_on(profile, self.model.provenance.get("processor")):
            # The model's own machine: its measured rates beat a model of its published figures (the calibration,
            # measured here, may still scale them).
            basis = f"one core of this chip ({processor}) measured by the lxdex sweep that wrote the model, at the markets each engine holds"
            if self.calibration is not None:
                return Rate(None, SWEPT_THERE, f"{basis}, {self.calibration.text()}", self.calibration.factor)
            return Rate(None, SWEPT_THERE, basis)
        if profile.memory is not None and self.core_rate is not None:
            return Rate(None, MODELLED, f"the per-core rate model fitted on {processor} ({_held_out_text(self.core_rate)}), "
                                        f"on this profile's {profile.memory.describe()}", memory=profile.memory)
        basis = f"one core of {processor} measured by lxdex sweep, at the markets each engine holds"
        if self.calibration is not None:
            return Rate(None, "extrapolated", f"{basis}, {self.calibration.text()}", self.calibration.factor)
        return Rate(None, "extrapolated", basis)

    def per_core(self, rate: Rate, markets_per_engine: float, sharing: int = 1) -> float:
        """One core's orders/s at ``markets_per_engine``; a modelled rate with ``sharing`` engines sharing the machine's
        shared caches and memory bandwidth."""
        if rate.per_core is not None:
            return rate.per_core
        if rate.memory is not None and self.core_rate is not None:
            # Memoised here by small keys: the engine and machine searches ask for the same few thousand figures
            # hundreds of thousands of times, and hashing a profile's hierarchy each time would cost more than the model.
            key = (id(rate.memory), quantised_markets(markets_per_engine), sharing)
            if (found := self._modelled.get(key)) is None:
                found = self._modelled[key] = self.core_rate.orders_per_s(markets_per_engine, rate.memory, sharing)
            return found
        return self.model.orders_per_s_per_core(markets_per_engine) * rate.scale

    def speedup(self, rate: Rate, markets_per_engine: float, cores: int) -> float:
        """How many one-core rates ``cores`` engines sustain: a modelled profile's from its shared caches and bandwidth
        (:mod:`.core_rate`), any other's from the capacity model's scaling curve (:meth:`CapacityModel.speedup`)."""
        if rate.memory is not None and self.core_rate is not None:
            alone = self.per_core(rate, markets_per_engine, 1)
            return cores * self.per_core(rate, markets_per_engine, cores) / alone if alone > 0 else float(cores)
        return self.model.speedup(cores)

    def scaling(self, rate: Rate, markets_per_engine: float, cores: int) -> tuple[str, str]:
        """(scaling_source, scaling_basis) of :meth:`speedup`."""
        if rate.memory is not None and self.core_rate is not None:
            return MODELLED, (f"{cores} engine{'s' if cores != 1 else ''} sharing this profile's shared caches and memory bandwidth "
                              f"(per-core rate model){speedup_suffix(self.speedup(rate, markets_per_engine, cores), cores)}")
        return self.model.scaling_source(cores), self.model.scaling_basis(cores)

    def usable(self, profile: HardwareProfile) -> int:
        return max(int(profile.memory_bytes - self.os_reserve), 0)

    def required(self, load: Load, engines: int) -> tuple[float, float, float]:
        """Bytes ``engines`` engine processes holding ``load`` need: each process its runtime and slack."""
        return self.estimator.machine_bytes(load, engines, self.safety)

    def machine(self, profile: HardwareProfile, load: Load) -> MachineLoad:
        """One machine holding ``load``: the fewest engines that address it and sustain its rate."""
        rate = self.rate(profile)
        engines = max(self.request.engines or 1, load.engines_needed(self.estimator.price_levels(load)))
        if self.request.engines is None and rate.per_core != 0:  # at no rate per core (an SLO unmet), more engines add nothing
            # The fewest engines that sustain the rate; if none does, the count with the most capacity (more engines
            # hold fewer markets each, and one core's rate by markets held need not rise as they fall).
            most = max(min(profile.p_cores, math.floor(load.markets)), engines)  # an engine holds at least one market
            best, best_capacity = engines, self.capacity(rate, load, engines, min(engines, profile.p_cores))
            while engines < most and self.capacity(rate, load, engines, engines) < load.order_rate:
                engines += 1
                if (capacity := self.capacity(rate, load, engines, engines)) > best_capacity:
                    best, best_capacity = engines, capacity
            if self.capacity(rate, load, engines, min(engines, profile.p_cores)) < load.order_rate:
                engines = best
        cores = min(engines, profile.p_cores)
        capacity = self.capacity(rate, load, engines, cores)
        required = self.required(load, engines)
        return MachineLoad(load, engines, required, capacity, cores, required[0] <= self.usable(profile), load.order_rate <= capacity,
                           engines <= profile.p_cores)

    def capacity(self, rate: Rate, load: Load, engines: int, cores: int) -> float:
        """Orders/s of ``engines`` engines holding ``load`` on ``cores`` cores: one core's rate at the markets each
        engine holds, times the model's speedup of that many cores (measured, fitted, or the cores: linear)."""
        return self.per_core(rate, load.markets / engines) * self.speedup(rate, load.markets / engines, cores)

    def machines(self, profile: HardwareProfile, load: Load) -> tuple[int, MachineLoad] | None:
        """Fewest machines holding ``load`` split evenly, and the busiest machine's share."""
        hi = 1
        while not (m := self.machine(profile, load.split(hi))).holds:
            if hi >= load.markets or hi >= MAX_MACHINES:
                return None  # even one market per machine is too much
            hi = min(hi * 2, int(load.markets), MAX_MACHINES)
        found = m
        lo = hi // 2 + 1 if hi > 1 else 1
        while lo < hi:
            mid = (lo + hi) // 2
            if (m := self.machine(profile, load.split(mid))).holds:
                hi, found = mid, m
            else:
                lo = mid + 1
        if found.load.markets != math.ceil(load.markets / hi):
            found = self.machine(profile, load.split(hi))
        return hi, found

    def max_markets(self, profile: HardwareProfile, opm: float, trades_retained: float) -> int:
        """Most markets the profile's usable memory holds (at this depth and tape), at most :data:`MAX_PLAN_MARKETS`."""
        usable = self.usable(profile)

        def fits(markets: int) -> bool:
            load = Load(markets, opm * markets, int(trades_retained))
            engines = max(self.request.engines or 1, load.engines_needed(self.estimator.price_levels(load)))
            return self.required(load, engines)[0] <= usable

        if not fits(1):
            return 0
        lo, hi = 1, 2
        while fits(hi):
            if hi >= MAX_PLAN_MARKETS:
                return MAX_PLAN_MARKETS
            lo, hi = hi, min(hi * 2, MAX_PLAN_MARKETS)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo


def swept_on(profile: HardwareProfile, processor: Any) -> bool:
    """Whether the sweep that wrote the model ran on this profile's chip: its processor is the chip ("Apple M2 Ultra"
    is "M2 Ultra", and not "M2"), or starts with it ("AMD EPYC 9654 96-Core Processor" is "2x AMD EPYC 9654")."""
    if not isinstance(processor, str) or not processor.strip():
        return False
    name = " ".join(processor.split()).lower()
    chip = " ".join(profile.chip.split()).lower()
    chip = chip.split("x ", 1)[1] if chip[:1].isdigit() and "x " in chip[:4] else chip
    if name.startswith("apple "):
        return name.removeprefix("apple ") == chip
    return name == chip or (name.startswith(chip) and not name[len(chip)].isalnum())


def _held_out_text(core_rate: CoreRateModel) -> str:
    errors = ", ".join(f"{v['markets']:,} markets {v['error_pct']:+.1f}%" for v in core_rate.validation)
    return f"held-out working sets {errors}" if errors else "no working set held out"


def _rate_model(sizing: _Sizing, rate: Rate, markets_per_engine: float, cores: int) -> dict[str, Any] | None:
    """What a modelled per-core rate came from: the profile's clock and levels (each engine's share of a shared one),
    the share of the flow each level holds, the serial lines per order beyond each, and one sentence why."""
    core_rate = sizing.core_rate
    if rate.memory is None or core_rate is None:
        return None
    memory, sharing = rate.memory, max(cores, 1)
    alone, shared = core_rate.explain(markets_per_engine, memory, 1), core_rate.explain(markets_per_engine, memory, sharing)
    return {
        "markets_per_engine": markets_per_engine,
        "engines_sharing": sharing,
        "clock_ghz": memory.clock_ghz,
        "bandwidth_gb_s": memory.bandwidth_gb_s,
        "levels": alone["levels"],
        "levels_shared": shared["levels"],
        "working_set_bytes": alone["working_set_bytes"],
        "ns_per_order_alone": core_rate.ns_per_order(markets_per_engine, memory, 1),
        "ns_per_order_shared": core_rate.ns_per_order(markets_per_engine, memory, sharing),
        "bandwidth_bound": core_rate.bandwidth_bound(markets_per_engine, memory, sharing),
        "bandwidth_bound_alone": core_rate.bandwidth_bound(markets_per_engine, memory, 1),
        "why": shared["why"],
    }


def _slo_basis(search: SLOSearch) -> str:
    where = f"one core of this machine at {search.markets:,} markets, measured by plan --latency-slo"
    if search.outcome == "too noisy to call":
        return f"{search.slo} is too noisy to call on {where}: order capacity unknown"
    if not search.met:
        return f"no rate meets {search.slo} on {where}: order capacity unmet"
    return f"the highest rate meeting {search.slo} on {where}"


def slo_section(search: SLOSearch, request: PlanRequest) -> dict[str, Any]:
    """The plan's ``latency_slo`` section: the search (:meth:`~lxdex_capacity.latency.slo.SLOSearch.as_dict`),
    the markets planned, and the verdict in one sentence (:func:`slo_verdict`)."""
    section = search.as_dict() | {"planned_markets": request.markets}
    return section | {"verdict": slo_verdict(section, request.order_rate)}


def slo_verdict(section: dict[str, Any], order_rate: float) -> str:
    """One sentence: the SLO's rate per core, which the plan's order capacity uses, or that no rate meets
    the SLO here, so that the order rate cannot be planned within it."""
    if section.get("outcome") == "too noisy to call":
        return (f"the latency SLO {section['slo']} is too noisy to call on this machine ({section.get('reason') or 'the machine was busy'}): "
                "no profile's order capacity within it is known; run the search again on a quiet machine")
    if not section["met"]:
        unmet = (f"the {order_rate:,.0f} orders/s to sustain cannot be planned within it: order capacity unmet" if order_rate > 0
                 else "no order rate is to be sustained, so the plan stands")
        return f"no rate meets the latency SLO {section['slo']} on this machine; {unmet}"
    per_core = f"{section['orders_per_s']:,.0f} orders/s per core"
    if section["cancels_per_order"]:
        per_core += f" ({section['rate_per_s']:,.0f} messages/s with the cancels)"
    if section["ceiling_per_s"] is None:  # it held at the top of the search
        per_core += f" (the highest rate searched, {section['high_per_s']:,.0f} messages/s)"
    return (f"the latency SLO {section['slo']} holds up to {per_core} on this machine: every profile's order capacity "
            "is planned at that rate per core")


def yearly_cost(price_usd: float | None, price_usd_hour: float | None) -> tuple[float, str] | None:
    """(US dollars a year, how): a purchase spread over :data:`PURCHASE_YEARS` years, or hourly all year."""
    if price_usd is not None:
        return price_usd / PURCHASE_YEARS, f"purchase ${price_usd:,.0f} over {PURCHASE_YEARS} years"
    if price_usd_hour is not None:
        return price_usd_hour * HOURS_PER_YEAR, f"${price_usd_hour:,.4g}/h x {HOURS_PER_YEAR:,} h"
    return None


def _profile_plan(sizing: _Sizing, profile: HardwareProfile, load: Load, opm: float) -> ProfilePlan:
    one = sizing.machine(profile, load)
    required, low, high = one.required
    usable = sizing.usable(profile)
    memory_use = required / usable if usable else math.inf
    rate_use = load.order_rate / one.order_capacity if one.order_capacity else (0.0 if load.order_rate == 0 else math.inf)
    cores_use = one.engines / profile.p_cores
    found = sizing.machines(profile, load)
    machines, shard = (found[0], found[1]) if found is not None else (None, None)
    spare = with_spare(machines)
    rate = sizing.rate(profile)
    scaling = sizing.scaling(rate, load.markets / one.engines, one.cores)
    cost = yearly_cost(profile.price_usd, profile.price_usd_hour)
    return ProfilePlan(
        name=profile.name,
        kind=profile.kind,
        memory_bytes=profile.memory_bytes,
        usable_bytes=usable,
        required_bytes=required,
        required_bytes_low=low,
        required_bytes_high=high,
        fits_memory=one.fits_memory,
        headroom_pct=100.0 * (usable - required) / usable if usable and one.fits_memory else None,
        memory_use_pct=min(100.0 * memory_use, 1e18),
        max_markets=sizing.max_markets(profile, opm, load.trades_retained),
        engines_per_machine=one.engines,
        cores_use_pct=100.0 * cores_use,
        order_capacity_per_s=one.order_capacity,
        order_rate_use_pct=min(100.0 * rate_use, 1e18),
        orders_per_s_per_core=sizing.per_core(rate, load.markets / one.engines),
        rate_source=rate.source,
        rate_basis=rate.basis,
        rate_model=_rate_model(sizing, rate, load.markets / one.engines, one.cores),
        cores=one.cores,
        speedup=sizing.speedup(rate, load.markets / one.engines, one.cores),
        scaling_source=scaling[0],
        scaling_basis=scaling[1],
        fits=one.holds,
        # Memory or order rate, whichever is nearer its limit; cores only when there are too few of them
        # (an engine on each of 1 of 4 cores is no constraint).
        bottleneck="cores" if cores_use > 1 else ("memory" if memory_use >= rate_use else "order rate"),
        machines=machines,
        machines_n_plus_1=spare,
        machine_engines=shard.engines if shard else None,
        machine_markets=int(shard.load.markets) if shard else None,
        machine_required_bytes=shard.required[0] if shard else None,
        price_usd=profile.price_usd,
        price_usd_hour=profile.price_usd_hour,
        cluster_price_usd=spare * profile.price_usd if spare and profile.price_usd is not None else None,
        cluster_price_usd_hour=spare * profile.price_usd_hour if spare and profile.price_usd_hour is not None else None,
        yearly_cost_usd=cost[0] if cost else None,
        max_power_w=profile.max_power_w,
    )


def _cheapest(plans: Sequence[ProfilePlan], price: str) -> ProfilePlan | None:
    priced = [p for p in plans if getattr(p, price) is not None]
    return min(priced, key=lambda p: (getattr(p, price), -(p.headroom_pct or 0.0)), default=None)


def recommendation(plans: Sequence[ProfilePlan], markets: int) -> dict[str, Any] | None:
    """The cheapest way, by yearly cost, to meet memory and rate with the safety margin: one machine
    that holds the whole load (no spare), or N+1 machines of one profile (N >= 2) sharing it with a spare.

    ``watts``: the machines' full power (every one of them, the spare too) where the profile publishes it.
    ``watts_per_million_markets``: that power over the markets, only when the load fills at least half of
    the machines carrying it (the spare aside), in memory or in order capacity; None otherwise, as for a
    load that fills 2% of one machine, whose watts say nothing per market."""
    options = []
    for p in plans:
        cost = yearly_cost(p.price_usd, p.price_usd_hour)
        if cost is None or p.machines is None:
            continue
        count = 1 if p.machines == 1 else p.machines + 1  # as the plan's rows count them: one holding it needs no spare
        options.append((count * cost[0], count, p, cost[1]))
    if not options:
        return None
    total, count, p, basis = min(options, key=lambda o: (o[0], o[1], -(o[2].headroom_pct or 0.0)))
    single = count == 1
    watts = count * p.max_power_w if p.max_power_w is not None else None
    if single:  # the one machine's own use of its memory and of its order capacity
        fill = max(p.memory_use_pct, p.order_rate_use_pct) / 100
    else:  # each of the N machines carrying the load (the spare carries none): its memory; its order capacity, by
        # the one machine's use spread over N (each holds 1/N of the markets and of the order rate)
        carrying = count - 1
        memory = p.machine_required_bytes / p.usable_bytes if p.machine_required_bytes is not None and p.usable_bytes else 0.0
        fill = max(memory, p.order_rate_use_pct / 100 / carrying)
    meaningful = 0.5  # "fills most of the machines": below half, watts per market would mostly be idle power
    per_million = watts / (markets / 1e6) if watts is not None and fill >= meaningful else None
    return {
        "kind": "single machine" if single else "cluster",
        "profile": p.name,
        "machines": count,
        "spare": 0 if single else 1,
        "engines_per_machine": p.engines_per_machine if single else p.machine_engines,
        "markets_per_machine": markets if single else p.machine_markets,
        "required_bytes_per_machine": p.required_bytes if single else p.machine_required_bytes,
        "usable_bytes_per_machine": p.usable_bytes,
        "yearly_cost_usd": total,
        "cost_basis": f"{count} x {basis}" if count > 1 else basis,
        "watts": watts,
        "watts_per_million_markets": per_million,
        "rate_source": p.rate_source,
    }


def memory_verdict(p: dict[str, Any]) -> str:
    """Headroom (the share of usable memory left) when the load fits in memory; otherwise how far short (GiB),
    or, beyond twice, how many times its usable memory it needs ("needs 4.2x")."""
    if p["headroom_pct"] is not None:
        return f"{p['headroom_pct']:,.1f}%"
    if p["usable_bytes"] <= 0:
        return "no usable memory"
    ratio = p["required_bytes"] / p["usable_bytes"]
    if ratio > 2:
        return f"needs {ratio:,.1f}x"
    return f"short {(p['required_bytes'] - p['usable_bytes']) / GIB:,.2f} GiB"


def _significant(value: float) -> str:
    """Three significant figures, thousands separated: 3,100, 6.2, 0.00123."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def use_pct(p: dict[str, Any], resource: str) -> float:
    """A profile's use of ``resource`` (memory, order rate, cores), percent."""
    return {"memory": p["memory_use_pct"], "order rate": p["order_rate_use_pct"], "cores": p["cores_use_pct"]}[resource]


def highest_use_text(p: dict[str, Any]) -> str:
    """A profile's resource with the highest use, and that use ("order rate 16%"): above 100% it runs out."""
    use = use_pct(p, p["bottleneck"])
    return f"{p['bottleneck']} {use:,.0f}%" if use < 1e6 else f"{p['bottleneck']} (out)"


def recommendation_text(rec: dict[str, Any] | None, markets: int, calibration: dict[str, Any] | None = None) -> str:
    """One sentence: what to buy for the load (its machines counted as the plan's rows count them: "1 x" for one
    machine holding it, no spare; "N+1 x" machines, N sharing it and a spare), what it costs a year, its power at
    full load, and that power per million markets when the load fills most of the machines.  ``calibration``
    (a plan's, :meth:`Calibration.as_dict`) says an extrapolated rate was scaled to this machine's measured one."""
    if rec is None:
        return "no priced profile (or N+1 cluster of one) holds this load"
    machines = rec["machines"]
    what = (f"1 x {rec['profile']} (one machine holds it: no spare)" if rec["kind"] == "single machine"
            else f"{machines} x {rec['profile']} ({machines - 1} + 1 spare, {rec['markets_per_machine']:,} markets each)")
    watts = ""
    if rec.get("watts") is not None:
        power = "its" if machines == 1 else f"the {machines} machines'"
        watts = f"; {_significant(rec['watts'])} W at {power} full power"
        if rec["watts_per_million_markets"] is not None:
            watts += f", {_significant(rec['watts_per_million_markets'])} W per million markets"
        else:
            watts += " (the load fills under half of " + ("it" if machines == 1 else "them") + ": no figure per million markets)"
    engines = rec["engines_per_machine"]
    source = "at the latency SLO's rate per core, measured here" if rec["rate_source"] == SLO_RATE_SOURCE else rec["rate_source"]
    if rec["rate_source"] == "extrapolated" and calibration is not None:
        source += (f" from the sweep's machine, scaled x{calibration['factor']:.2f} to this machine's measured "
                   f"{calibration['measured_per_s']:,.0f} orders/s per core (measured beats extrapolated)")
    return (f"{what}: ${rec['yearly_cost_usd']:,.0f} a year ({rec['cost_basis']}){watts}; each machine needs "
            f"{rec['required_bytes_per_machine'] / GIB:,.2f} GiB of {rec['usable_bytes_per_machine'] / GIB:,.1f} GiB usable, "
            f"{engines} engine{'s' if engines != 1 else ''}; order rate {source}")


def plan(model: CapacityModel, profiles: Sequence[HardwareProfile], request: PlanRequest,
         scaling_markets: Sequence[int] = SCALING_MARKETS, estimator: Estimator | None = None,
         measured_here: str | None = None, latency_slo: SLOSearch | None = None,
         calibration: Calibration | None = None) -> dict[str, Any]:
    """The whole plan as a JSON-ready dict (see the module docstring).  ``measured_here`` names the
    profile (of ``profiles``) whose per-core rate ``plan --check`` measured on this machine;
    ``calibration``, this machine's rate measured now, scales the model's curve for every extrapolated profile;
    ``latency_slo``, a search for the highest rate meeting a latency SLO on this machine, sets every
    profile's rate per core (none when no rate met it) and adds the ``latency_slo`` section."""
    estimator = estimator or Estimator(model)
    sizing = _Sizing(estimator, request, measured_here, latency_slo, calibration)
    opm = request.opm()
    load = request.load()
    plans = [_profile_plan(sizing, p, load, opm) for p in profiles]
    if all(p.machines is None for p in plans):
        # With no rate meeting the SLO no machine sustains any order rate: the plan is still made (its
        # memory figures stand) and says so; a load no profile's memory holds is refused all the same.
        unmet = latency_slo is not None and not latency_slo.met
        problem = _unplannable_memory(sizing, profiles, load, request) if unmet else _unplannable(sizing, profiles, load, request)
        if problem is not None:
            raise problem
    fitting = [p for p in plans if p.fits]
    cheapest = _cheapest(fitting, "price_usd")
    cheapest_cloud = _cheapest(fitting, "price_usd_hour")
    clusters = [p for p in plans if p.machines is not None]
    cluster = _cheapest([p for p in clusters if p.cluster_price_usd is not None], "cluster_price_usd")
    cluster_cloud = _cheapest([p for p in clusters if p.cluster_price_usd_hour is not None], "cluster_price_usd_hour")

    scaling = []
    for markets in scaling_markets:
        row = request.load(markets)
        required, low, high = sizing.required(row, row.engines_needed(estimator.price_levels(row)))
        holding = [p for p in profiles if sizing.machine(p, row).holds]
        smallest = min(holding, key=lambda p: (p.memory_bytes, p.price_usd if p.price_usd is not None else math.inf), default=None)
        scaling.append({
            "markets": markets,
            "orders_per_market": request.opm(markets),
            "required_bytes": required,
            "required_bytes_low": low,
            "required_bytes_high": high,
            "extrapolated": markets > model.largest_markets,
            "smallest_fit": smallest.name if smallest else None,
        })
    estimate = estimator.estimate(load)  # over as many engines as the load's slots need
    report: dict[str, Any] = {
        "load": load.as_dict() | {"safety": request.safety, "os_reserve_gib": request.os_reserve_gib,
                                  "engines_per_machine": request.engines,
                                  "trades_retained_source": "given" if request.trades_retained is not None else "one engine's tape capacity"},
        "request": asdict(request) | {"orders_per_market": opm, "resting_orders": load.resting_orders, "trades_retained": load.trades_retained},
        "model": {
            "runtime_bytes": model.runtime_bytes,
            "coefficients": dict(zip(("base", "markets", "resting_orders", "trades_retained"), model.fit.coefficients, strict=True)),
            "r2": model.fit.r2,
            "largest_markets_measured": model.largest_markets,
            "extrapolated": request.markets > model.largest_markets,
            "provenance": model.provenance,
            "scaling": model.scaling.as_dict() if model.scaling is not None else None,
        },
        "engine_bytes": estimate.engine_bytes_used.bytes,
        "estimate": estimate.as_dict(),
        "profiles": [p.as_dict() for p in plans],
        "cheapest_fit": cheapest.name if cheapest else None,
        "cheapest_cloud_fit": cheapest_cloud.name if cheapest_cloud else None,
        "cluster": _cluster_summary(cluster, "price_usd"),
        "cluster_cloud": _cluster_summary(cluster_cloud, "price_usd_hour"),
        "recommendation": recommendation(plans, request.markets),
        "scaling": scaling,
        "calibration": calibration.as_dict() if calibration is not None else None,
    }
    if latency_slo is not None:  # only then: a plan without an SLO is as it always was
        report["latency_slo"] = slo_section(latency_slo, request)
    return report


def _unplannable_memory(sizing: _Sizing, profiles: Sequence[HardwareProfile], load: Load, request: PlanRequest) -> CapacityError | None:
    """The one-line error when no profile has the cores or the memory for the load, however it is sharded; None when one has."""
    most_cores = max(p.p_cores for p in profiles)
    if request.engines is not None and request.engines > most_cores:
        return CapacityError(f"engines={request.engines:,}: more engines than any profile has performance cores (at most "
                             f"{most_cores:,}); one engine runs on one core")
    n = min(request.markets, MAX_MACHINES)
    shard = load.split(n)  # the most the load can be split
    spread = "one market per machine" if n == request.markets else f"over {n:,} machines"
    largest = max(profiles, key=lambda p: p.memory_bytes)
    needed = sizing.required(shard, 1)[0]
    roomy = [p for p in profiles if needed <= sizing.usable(p)]
    if not roomy:
        return CapacityError(
            f"no profile can hold this load, even sharded {spread}: {shard.markets:,.0f} market(s) with {request.opm():,.0f} resting "
            f"orders each need {needed / GIB:,.1f} GiB with the runtime, and the largest profile ({largest.name}) "
            f"has {sizing.usable(largest) / GIB:,.1f} GiB usable"
        )
    return None


def _unplannable(sizing: _Sizing, profiles: Sequence[HardwareProfile], load: Load, request: PlanRequest) -> CapacityError:
    """The one-line error when no profile holds the load, however it is sharded."""
    problem = _unplannable_memory(sizing, profiles, load, request)
    if problem is not None:
        return problem
    n = min(request.markets, MAX_MACHINES)
    shard = load.split(n)  # the most the load can be split
    spread = "one market per machine" if n == request.markets else f"over {n:,} machines"
    needed = sizing.required(shard, 1)[0]
    roomy = [p for p in profiles if needed <= sizing.usable(p)]
    fastest = max(roomy, key=lambda p: sizing.machine(p, shard).order_capacity)
    return CapacityError(
        f"no profile can sustain this order rate, even sharded {spread}: each machine would take {shard.order_rate:,.0f} "
        f"orders/s, and the fastest profile with the memory for it ({fastest.name}) handles "
        f"{sizing.machine(fastest, shard).order_capacity:,.0f} orders/s (one engine per performance core)"
    )


def with_spare(machines: int | None) -> int | None:
    """The machines to buy for ``machines`` sharing a load: one that holds it alone needs no spare (nothing to fail
    over to that a second copy would not also need); N >= 2 sharing it, N + 1."""
    if machines is None:
        return None
    return machines + 1 if machines > 1 else 1


def machines_text(machines: int | None) -> str:
    """The machines a profile needs, as rows and the recommendation say it: "1", "4 (3+1)", or "—" (none holds it)."""
    if machines is None:
        return "—"
    return "1" if machines == 1 else f"{machines + 1} ({machines}+1)"


def _cluster_summary(p: ProfilePlan | None, price: str) -> dict[str, Any] | None:
    """The cheapest cluster of one profile: N machines sharing the load, plus a spare when N >= 2 (one machine that
    holds the load alone needs none, as :func:`recommendation` counts it), and their price."""
    if p is None or p.machines is None:
        return None
    total = "cluster_price_usd" if price == "price_usd" else "cluster_price_usd_hour"
    count = with_spare(p.machines)
    each = getattr(p, price)
    return {"profile": p.name, "machines": p.machines, "machines_n_plus_1": count,
            total: count * each if each is not None else getattr(p, total),
            "machine_markets": p.machine_markets, "machine_required_bytes": p.machine_required_bytes}
