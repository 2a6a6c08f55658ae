"""The compact multi-market matching engine: numpy structure-of-arrays, numba kernels.

>>> from lxdex_capacity.engine import Engine, Side, OrderType
>>> eng = Engine(n_markets=2)
>>> res = eng.submit([0, 0], [Side.SELL, Side.BUY], [101, 101], [5, 3])
>>> res.filled.tolist(), eng.best_ask(0)
([0, 3], 101)
"""

from .codes import NO_PRICE, OrderType, Side, Status
from .core import BOOK_ORDER_DTYPE, LEVEL_DTYPE, TRADE_DTYPE, Engine, MemoryReport, SubmitResult

__all__ = [
    "Engine",
    "Side",
    "OrderType",
    "Status",
    "NO_PRICE",
    "SubmitResult",
    "MemoryReport",
    "TRADE_DTYPE",
    "LEVEL_DTYPE",
    "BOOK_ORDER_DTYPE",
]
