"""Sides, order types and status codes: plain integers for the kernels, enums for users.

Status codes returned per order by :meth:`Engine.submit` and per amend by :meth:`Engine.amend`
(``res.status``, int8):

====================  =====  ==========================================================
name                  value  meaning
====================  =====  ==========================================================
RESTING                  0   accepted; the (possibly partly filled) remainder rests
FILLED                   1   accepted and filled completely
CANCELLED                2   accepted; the unfilled remainder was cancelled (MARKET,
                             IOC, or a FOK that could not fill completely: filled = 0)
REJECTED_TYPE           -1   order type not in 0..4
REJECTED_MARKET         -2   market id outside 0..n_markets-1
REJECTED_SIDE           -3   side not 0 (buy) or 1 (sell)
REJECTED_QTY            -4   quantity <= 0 or above 2**31 - 1
REJECTED_PRICE          -5   price <= 0 on a priced type (all but MARKET)
REJECTED_WOULD_TRADE    -6   POST_ONLY order that would have traded on arrival
REJECTED_ID             -7   amend of an id that is not resting (unknown, filled,
                             cancelled, replaced by an earlier amend)
====================  =====  ==========================================================

Rejected orders and amends get order id -1 and leave no trace in the engine.  An amend is
checked for its id first, then its quantity (REJECTED_QTY), then its price (REJECTED_PRICE).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Side", "OrderType", "Status", "NO_PRICE"]

BUY = 0
SELL = 1

LIMIT = 0
MARKET = 1
IOC = 2
FOK = 3
POST_ONLY = 4

RESTING = 0
FILLED = 1
CANCELLED = 2
REJECTED_TYPE = -1
REJECTED_MARKET = -2
REJECTED_SIDE = -3
REJECTED_QTY = -4
REJECTED_PRICE = -5
REJECTED_WOULD_TRADE = -6
REJECTED_ID = -7

# best_bid/best_ask of an empty side.  Prices are strictly positive ticks, so 0 is never a price.
NO_PRICE = 0


class Side(IntEnum):
    BUY = BUY
    SELL = SELL


class OrderType(IntEnum):
    LIMIT = LIMIT
    MARKET = MARKET
    IOC = IOC
    FOK = FOK
    POST_ONLY = POST_ONLY


class Status(IntEnum):
    RESTING = RESTING
    FILLED = FILLED
    CANCELLED = CANCELLED
    REJECTED_TYPE = REJECTED_TYPE
    REJECTED_MARKET = REJECTED_MARKET
    REJECTED_SIDE = REJECTED_SIDE
    REJECTED_QTY = REJECTED_QTY
    REJECTED_PRICE = REJECTED_PRICE
    REJECTED_WOULD_TRADE = REJECTED_WOULD_TRADE
    REJECTED_ID = REJECTED_ID

    @property
    def accepted(self) -> bool:
        return self >= 0
