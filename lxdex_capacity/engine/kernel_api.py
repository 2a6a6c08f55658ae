"""The engine's kernel helpers that other compiled code may build on, under stable names.

Numba code outside the engine that must store and remove orders exactly as :meth:`Engine.submit`
and :meth:`Engine.cancel` do (the LOBSTER replay kernels) composes these helpers rather than
re-implementing the book.  They take the engine's arrays (:attr:`Engine.book`, a
:class:`~lxdex_capacity.engine.layout.Book`) and work in place; none allocates a pool slot beyond
what exists, so callers reserve room first (:meth:`Engine.reserve`).

=====================  ==================================================================
helper                 what it does
=====================  ==================================================================
``kernel``             the decorator of the engine's kernels called from Python (cached, no NRT)
``helper``             the decorator of their helpers, called only from compiled code (no
                       Python wrapper, not cached on its own: the kernels calling it are)
``row_index(i)``       ``i`` as an unsigned row index (spares numba's wraparound check)
``alloc_order(book)``  take a free order slot
``append_order``       ``(book, level, slot, qty)``: queue a slot at the tail of a level
``find_or_add_level``  ``(book, market, side, price)``: the level at a price, created if needed
``order_id``           ``(book, slot)``: the id of the order in a slot
``live_slot``          ``(book, order_id)``: the slot of a resting order, or -1
``cancel_slot``        ``(book, slot)``: cancel the order in a slot
``reduce_slot``        ``(book, slot, qty)``: take ``qty`` lots off a resting order, keeping its place
``crosses``            ``(side, level_price, limit)``: would a ``side`` order at ``limit`` trade there
``better``             ``(side, a, b)``: is price ``a`` better than ``b`` for ``side``
``depth``              the helper behind :meth:`Engine.depth`
``submit_range``       ``submit`` of orders ``start .. stop - 1`` that prefetches for the orders
                       after ``stop`` (the latency harness: one order at a time, seeing the queue)
=====================  ==================================================================
"""

from __future__ import annotations

from ._kernels import _alloc_order as alloc_order
from ._kernels import _append_order as append_order
from ._kernels import _better as better
from ._kernels import _cancel_slot as cancel_slot
from ._kernels import _crosses as crosses
from ._kernels import _depth as depth
from ._kernels import _find_or_add_level as find_or_add_level
from ._kernels import _helper as helper
from ._kernels import _kernel as kernel
from ._kernels import _live_slot as live_slot
from ._kernels import _order_id as order_id
from ._kernels import _reduce_slot as reduce_slot
from ._kernels import _row as row_index
from ._kernels import _submit_range as submit_range

__all__ = ["kernel", "helper", "row_index", "alloc_order", "append_order", "find_or_add_level", "order_id", "live_slot", "cancel_slot",
           "reduce_slot", "crosses", "better", "depth", "submit_range"]
