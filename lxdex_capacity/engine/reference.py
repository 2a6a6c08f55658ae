"""A small, obviously correct pure-Python matcher: the oracle the compiled engine is tested against.

It favours clarity over speed: each side of each market is a list of resting orders kept sorted
by (price priority, arrival number), and matching always takes the first entry.  Order ids are
arrival numbers 0, 1, 2, ... of accepted orders; tests map the engine's ids onto them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .codes import (
    BUY,
    CANCELLED,
    FILLED,
    FOK,
    LIMIT,
    MARKET,
    NO_PRICE,
    POST_ONLY,
    REJECTED_ID,
    REJECTED_MARKET,
    REJECTED_PRICE,
    REJECTED_QTY,
    REJECTED_SIDE,
    REJECTED_TYPE,
    REJECTED_WOULD_TRADE,
    RESTING,
)
from .layout import MAX_PRICE, MAX_QTY

__all__ = ["ReferenceEngine", "RefTrade"]


@dataclass(frozen=True)
class RefTrade:
    market: int
    price: int
    qty: int
    maker_id: int
    taker_id: int
    taker_side: int


@dataclass
class _Resting:
    sort_key: tuple[int, int]  # (price key, arrival): smaller is matched first
    order_id: int
    price: int
    qty: int


@dataclass
class ReferenceEngine:
    n_markets: int
    books: dict[tuple[int, int], list[_Resting]] = field(default_factory=dict)
    where: dict[int, tuple[int, int]] = field(default_factory=dict)  # resting id -> (market, side)
    trades: list[RefTrade] = field(default_factory=list)
    next_id: int = 0

    def _side(self, market: int, side: int) -> list[_Resting]:
        return self.books.setdefault((market, side), [])

    @staticmethod
    def _crosses(side: int, resting_price: int, limit: int | None) -> bool:
        if limit is None:  # market order: any price
            return True
        return resting_price <= limit if side == BUY else resting_price >= limit

    def submit_one(self, market: int, side: int, price: int, qty: int, kind: int) -> tuple[int, int, int]:
        """Process one order; return (order id or -1, filled, status)."""
        if kind not in (0, 1, 2, 3, 4):
            return -1, 0, REJECTED_TYPE
        if not 0 <= market < self.n_markets:
            return -1, 0, REJECTED_MARKET
        if side not in (0, 1):
            return -1, 0, REJECTED_SIDE
        if qty <= 0 or qty > MAX_QTY:
            return -1, 0, REJECTED_QTY
        if kind != MARKET and not 0 < price <= MAX_PRICE:
            return -1, 0, REJECTED_PRICE
        limit = None if kind == MARKET else price
        opposite = self._side(market, 1 - side)
        if kind == POST_ONLY and opposite and self._crosses(side, opposite[0].price, limit):
            return -1, 0, REJECTED_WOULD_TRADE
        order_id = self.next_id
        self.next_id += 1
        if kind == FOK:
            available = sum(o.qty for o in opposite if self._crosses(side, o.price, limit))
            if available < qty:
                return order_id, 0, CANCELLED
        remaining = qty
        while remaining and opposite and self._crosses(side, opposite[0].price, limit):
            maker = opposite[0]
            fill = min(remaining, maker.qty)
            self.trades.append(RefTrade(market, maker.price, fill, maker.order_id, order_id, side))
            remaining -= fill
            maker.qty -= fill
            if maker.qty == 0:
                opposite.pop(0)
                del self.where[maker.order_id]
        if remaining == 0:
            return order_id, qty, FILLED
        if kind in (LIMIT, POST_ONLY):
            key = (-price if side == BUY else price, order_id)
            bisect.insort(self._side(market, side), _Resting(key, order_id, price, remaining), key=lambda o: o.sort_key)
            self.where[order_id] = (market, side)
            return order_id, qty - remaining, RESTING
        return order_id, qty - remaining, CANCELLED

    def _find(self, order_id: int) -> tuple[list[_Resting], int] | None:
        if order_id not in self.where:
            return None
        orders = self._side(*self.where[order_id])
        index = next(i for i, o in enumerate(orders) if o.order_id == order_id)
        return orders, index

    def resting(self, order_id: int) -> tuple[int, int, int, int] | None:
        """(market, side, price, open quantity) of a resting order, or None."""
        found = self._find(order_id)
        if found is None:
            return None
        order = found[0][found[1]]
        return (*self.where[order_id], order.price, order.qty)

    def cancel(self, order_id: int) -> bool:
        found = self._find(order_id)
        if found is None:
            return False
        orders, index = found
        orders.pop(index)
        del self.where[order_id]
        return True

    def reduce(self, order_id: int, qty: int) -> bool:
        found = self._find(order_id)
        if found is None or qty <= 0:
            return False
        orders, index = found
        if qty >= orders[index].qty:
            return self.cancel(order_id)
        orders[index].qty -= qty
        return True

    def amend(self, order_id: int, price: int, qty: int) -> tuple[int, int, int]:
        """Give a resting order a new limit price and open quantity; return (order id or -1, filled, status).

        The same price and no more quantity: in place (same id, same place).  Otherwise the order
        is cancelled and a LIMIT order of the new price and quantity is submitted on its market and
        side, with a new arrival number as its id."""
        found = self._find(order_id)
        if found is None:
            return -1, 0, REJECTED_ID
        if qty <= 0 or qty > MAX_QTY:
            return -1, 0, REJECTED_QTY
        if not 0 < price <= MAX_PRICE:
            return -1, 0, REJECTED_PRICE
        orders, index = found
        if price == orders[index].price and qty <= orders[index].qty:
            orders[index].qty = qty
            return order_id, 0, RESTING
        market, side = self.where[order_id]
        self.cancel(order_id)
        return self.submit_one(market, side, price, qty, LIMIT)

    def best(self, market: int, side: int) -> int:
        orders = self._side(market, side)
        return orders[0].price if orders else NO_PRICE

    def depth(self, market: int, side: int, n_levels: int) -> list[tuple[int, int]]:
        levels: list[tuple[int, int]] = []
        for order in self._side(market, side):
            if levels and levels[-1][0] == order.price:
                levels[-1] = (order.price, levels[-1][1] + order.qty)
            elif len(levels) == n_levels:
                break
            else:
                levels.append((order.price, order.qty))
        return levels

    def book_orders(self, market: int, side: int) -> list[tuple[int, int, int]]:
        return [(o.price, o.order_id, o.qty) for o in self._side(market, side)]
