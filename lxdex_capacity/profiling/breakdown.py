"""Where an engine's bytes go: per market and per component, averaged and per tier, and the
compact order record set beside a naive object-per-order design measured with pympler.

Every per-market figure is computed from the engine's own counts (orders, price levels and
trades retained per market) times the record sizes of ``engine.layout``, so the per-market
figures add up exactly to ``engine.memory()``'s bytes used.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..engine import Engine
from ..engine.layout import (
    ID_INDEX_BYTES,
    LEVEL_COLUMNS,
    LEVEL_RECORD_BYTES,
    MARKET_RECORD_BYTES,
    ORDER_COLUMNS,
    ORDER_RECORD_BYTES,
    TRADE_FIELDS,
    TRADE_RECORD_BYTES,
)
from ..scenarios.tiers import Tier, tier_ranges

__all__ = ["COMPONENT_LABELS", "per_market_bytes", "TierSums", "TierBreakdown", "tier_names", "tier_sums", "breakdown",
           "breakdown_from_sums", "breakdown_as_dict", "layout_comparison"]

# The published report's names for the engine's components.
COMPONENT_LABELS = {
    "market_state": "book core / market state",
    "orders": "active orders",
    "price_levels": "price levels",
    "trade_tape": "trade history",
    "indexes": "metadata / indexes",
}


def per_market_bytes(eng: Engine) -> dict[str, np.ndarray]:
    """Bytes used per market, per component (arrays of length ``n_markets``).

    What no market owns (the engine's scalar state, a few hundred bytes) is shared out evenly under
    ``indexes``, so the arrays add up exactly to ``eng.memory().bytes_used``.
    """
    stats = eng.market_stats()
    in_tape = np.bincount(eng.trades()["market"], minlength=eng.n_markets)
    out = {
        "market_state": np.full(eng.n_markets, float(MARKET_RECORD_BYTES)),
        "orders": stats["resting_orders"] * float(ORDER_RECORD_BYTES),
        "price_levels": stats["price_levels"] * float(LEVEL_RECORD_BYTES),
        "trade_tape": in_tape * float(TRADE_RECORD_BYTES),
        "indexes": stats["resting_orders"] * float(ID_INDEX_BYTES),
    }
    shared = eng.memory().bytes_used - sum(float(v.sum()) for v in out.values())
    out["indexes"] += shared / eng.n_markets
    return out


@dataclass(frozen=True)
class TierSums:
    """Sums over the markets of one tier (or of all markets): what shards add up before averaging."""

    name: str
    markets: int
    resting_orders: int
    price_levels: int
    bytes: dict[str, float]  # component -> bytes used, summed over the markets

    def __add__(self, other: TierSums) -> TierSums:
        return TierSums(self.name, self.markets + other.markets, self.resting_orders + other.resting_orders,
                        self.price_levels + other.price_levels, {c: v + other.bytes[c] for c, v in self.bytes.items()})

    def means(self) -> TierBreakdown:
        n = max(self.markets, 1)
        return TierBreakdown(self.name, self.markets, self.resting_orders / n, self.price_levels / n,
                             {c: v / n for c, v in self.bytes.items()})


@dataclass(frozen=True)
class TierBreakdown:
    name: str
    markets: int
    resting_orders_mean: float
    price_levels_mean: float
    bytes_mean: dict[str, float]  # component -> mean bytes per market

    @property
    def total_mean(self) -> float:
        return sum(self.bytes_mean.values())


def _tier_name(tier: Tier, start: int) -> str:
    stop = "end" if tier.up_to_rank is None else f"{tier.up_to_rank:,}"
    return f"ranks {start + 1:,}-{stop} ({tier.low}-{tier.high} orders)"


def tier_names(tiers: tuple[Tier, ...], n_markets: int) -> list[str]:
    """The row name of each tier that holds markets, in table order."""
    return [_tier_name(tier, start) for tier, start, _ in tier_ranges(tiers, n_markets)]


def tier_sums(eng: Engine, names: list[str], slices: list[tuple[int, int]]) -> list[TierSums]:
    """``[all markets, tier 1, tier 2, ...]`` sums of one engine, whose tier ``i`` holds the markets
    ``slices[i]`` (a shard's markets of a tier are a contiguous run of its local indices)."""
    per_market = per_market_bytes(eng)
    stats = eng.market_stats()

    def total(name: str, lo: int, hi: int) -> TierSums:
        return TierSums(name, hi - lo, int(stats["resting_orders"][lo:hi].sum()), int(stats["price_levels"][lo:hi].sum()),
                        {c: float(v[lo:hi].sum()) for c, v in per_market.items()})

    return [total("all markets", 0, eng.n_markets)] + [total(name, lo, hi) for name, (lo, hi) in zip(names, slices, strict=True)]


def breakdown_from_sums(sums: list[TierSums], bytes_used: int, bytes_reserved: int) -> dict[str, Any]:
    """Per-market means over all markets and per tier, from ``[all, tiers...]`` sums of every engine
    of a run, with the pools' spare room (``bytes_used`` and ``bytes_reserved``: every engine's)."""
    everything = sums[0].means()
    return {
        "all": everything,
        "tiers": [t.means() for t in sums[1:]],
        "engine_bytes_used": bytes_used,
        "engine_bytes_reserved": bytes_reserved,
        "spare_pool_bytes_per_market": (bytes_reserved - bytes_used) / max(everything.markets, 1),
    }


def breakdown(eng: Engine, tiers: tuple[Tier, ...]) -> dict[str, Any]:
    """:func:`breakdown_from_sums` of one engine whose market ids are activity ranks."""
    slices = [(start, stop) for _, start, stop in tier_ranges(tiers, eng.n_markets)]
    memory = eng.memory()
    return breakdown_from_sums(tier_sums(eng, tier_names(tiers, eng.n_markets), slices), memory.bytes_used, memory.bytes_reserved)


def breakdown_as_dict(b: dict[str, Any]) -> dict[str, Any]:
    """:func:`breakdown`'s result, JSON-ready (each row with its ``total_mean``)."""

    def row(t: TierBreakdown) -> dict[str, Any]:
        return asdict(t) | {"total_mean": t.total_mean}

    return {"components": COMPONENT_LABELS, "all": row(b["all"]), "tiers": [row(t) for t in b["tiers"]]} | {
        k: b[k] for k in ("engine_bytes_used", "engine_bytes_reserved", "spare_pool_bytes_per_market")
    }


def _order_init(self: Any, order_id: int, market: int, side: int, price: int, qty: int, timestamp: float) -> None:
    self.order_id = order_id
    self.market = market
    self.side = side
    self.price = price
    self.qty = qty
    self.timestamp = timestamp


class _NaiveOrder:
    """The object-per-order design the compact layout is compared with."""

    __init__ = _order_init


class _SlottedOrder:
    """The same with ``__slots__``, the usual first optimisation."""

    __slots__ = ("order_id", "market", "side", "price", "qty", "timestamp")
    __init__ = _order_init


def _naive_book_bytes(cls: type, orders: np.ndarray) -> float:
    """pympler bytes per order of ``cls`` objects in the usual containers: an id -> order dict and
    a FIFO deque per (market, side, price), in a dict keyed by that triple."""
    from pympler import asizeof  # here, not at import: simulate imports this module and measures its own RSS

    by_id: dict[int, Any] = {}
    queues: dict[tuple[int, int, int], collections.deque] = {}
    for i, (market, side, price, qty) in enumerate(orders.tolist()):
        order = cls(i, market, side, price, qty, float(i))
        by_id[i] = order
        queues.setdefault((market, side, price), collections.deque()).append(order)
    return asizeof.asizeof(by_id, queues) / len(orders)


def layout_comparison(eng: Engine, sample: int = 20_000, seed: int = 0,
                      progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """The compact records field by field, against naive Python designs holding the same orders.

    The naive designs are measured with pympler on ``sample`` of the engine's resting orders
    (their real markets, sides, prices and quantities), containers included: seconds of work, over
    which ``progress("layout", done, 3)`` is called (the orders read, then each design measured).
    """
    progress = progress or (lambda phase, done, total: None)
    progress("layout", 0, 3)
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, int]] = []  # (market, side, price, qty)
    for market in rng.permutation(eng.n_markets):
        for side in (0, 1):
            book = eng.book_orders(int(market), side)
            rows.extend((int(market), side, int(p), int(q)) for p, q in zip(book["price"], book["qty"], strict=True))
        if len(rows) >= sample:
            break
    orders = np.array(rows[:sample] or [(0, 0, 1, 1)], dtype=np.int64)
    compact_all_in = eng.memory().bytes_per_resting_order
    progress("layout", 1, 3)
    naive = _naive_book_bytes(_NaiveOrder, orders)
    progress("layout", 2, 3)
    slotted = _naive_book_bytes(_SlottedOrder, orders)
    progress("layout", 3, 3)
    return {
        "compact": {
            "order_fields": [{"name": name, "dtype": "int32", "bytes": 4} for name in ORDER_COLUMNS],
            "order_record_bytes": ORDER_RECORD_BYTES + ID_INDEX_BYTES,
            "level_fields": [{"name": name, "dtype": "int32", "bytes": 4} for name in LEVEL_COLUMNS],
            "level_record_bytes": LEVEL_RECORD_BYTES,
            "trade_fields": [{"name": n[2:], "dtype": np.dtype(t).name, "bytes": np.dtype(t).itemsize} for n, t in TRADE_FIELDS.items()],
            "padding_bytes": 0,
            "all_in_bytes_per_order": compact_all_in,
        },
        "naive": {
            "sample_orders": len(orders),
            "object_per_order_bytes": naive,
            "slotted_object_per_order_bytes": slotted,
        },
    }
