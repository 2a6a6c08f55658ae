"""Seeded random order flows (submits, cancels, reduces, amends) applied to the engine and to the
reference matcher side by side.

Every batch's statuses, fills and trades, and periodically every market's full book, must be
identical.  Engine ids are mapped onto the reference's arrival numbers as orders are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lxdex_capacity.engine import Engine
from lxdex_capacity.engine.reference import ReferenceEngine

UNKNOWN_REF_ID = -1


@dataclass
class FlowStats:
    operations: int = 0
    submits: int = 0
    cancels: int = 0
    reduces: int = 0
    amends: int = 0
    replaced: int = 0  # amends that were cancel-replaces
    trades: int = 0
    book_checks: int = 0


class Differential:
    def __init__(self, n_markets: int, seed: int, *, order_capacity: int = 8, level_capacity: int = 8, threads: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_markets = n_markets
        # Tiny initial pools force many growths mid-batch.
        self.eng = Engine(n_markets, order_capacity=order_capacity, level_capacity=level_capacity, tape_capacity=1 << 16, threads=threads)
        self.ref = ReferenceEngine(n_markets)
        self.eng_ids: list[int] = []  # engine id of the reference's order k
        self.ref_of: dict[int, int] = {}
        self.mid = self.rng.integers(50, 5000, size=n_markets)
        self.stats = FlowStats()
        self.accepted_qty = 0  # of the orders the reference accepted, replacements included

    # -------------------------------------------------------------- generators
    def _orders(self, n: int) -> tuple[np.ndarray, ...]:
        rng = self.rng
        markets = rng.integers(0, self.n_markets, size=n)
        sides = rng.integers(0, 2, size=n)
        # Offsets straddle the mid so that roughly half the limit orders cross.
        offsets = rng.integers(-6, 7, size=n)
        prices = self.mid[markets] + np.where(sides == 0, -offsets, offsets) - np.where(sides == 0, 1, -1)
        qtys = np.minimum(rng.pareto(1.5, size=n) * 3 + 1, 500).astype(np.int64)
        types = rng.choice(5, size=n, p=[0.6, 0.08, 0.12, 0.08, 0.12])
        bad = rng.random(n) < 0.02  # a few invalid orders of every kind
        if bad.any():
            which = rng.integers(0, 6, size=n)
            markets = np.where(bad & (which == 0), rng.choice([-1, self.n_markets]), markets)
            sides = np.where(bad & (which == 1), 2, sides)
            qtys = np.where(bad & (which == 2), rng.choice([0, -3]), qtys)
            prices = np.where(bad & (which == 3), rng.choice([0, -7]), prices)
            types = np.where(bad & (which == 4), 9, types)
        return markets, sides, prices, qtys, types

    def _targets(self, n: int) -> tuple[np.ndarray, list[int]]:
        """Engine ids and matching reference ids: mostly real (live or stale), some unknown."""
        eng_ids, ref_ids = [], []
        for _ in range(n):
            if self.eng_ids and self.rng.random() < 0.9:
                # Bias toward recent orders: those are the ones most likely still resting.
                back = int(min(self.rng.pareto(1.0) * 5, len(self.eng_ids) - 1))
                k = len(self.eng_ids) - 1 - back
                eng_ids.append(self.eng_ids[k])
                ref_ids.append(k)
            else:
                eng_ids.append(int(self.rng.choice([-1, 12345678901, 1 << 40, 7])))
                ref_ids.append(UNKNOWN_REF_ID)
        # An unknown engine id may collide with a real one only by chance: map it back if so.
        ref_ids = [self.ref_of.get(e, UNKNOWN_REF_ID) if r == UNKNOWN_REF_ID else r for e, r in zip(eng_ids, ref_ids, strict=True)]
        return np.array(eng_ids, dtype=np.int64), ref_ids

    # -------------------------------------------------------------- operations
    def submit(self, n: int) -> None:
        before = self.eng.trade_count
        markets, sides, prices, qtys, types = self._orders(n)
        res = self.eng.submit(markets, sides, prices, qtys, types)
        for j in range(n):
            ref_id, ref_filled, ref_status = self.ref.submit_one(
                int(markets[j]), int(sides[j]), int(prices[j]), int(qtys[j]), int(types[j])
            )
            got = (int(res.status[j]), int(res.filled[j]))
            assert got == (ref_status, ref_filled), f"order {j} {markets[j], sides[j], prices[j], qtys[j], types[j]}: engine {got} reference {(ref_status, ref_filled)}"
            if ref_id >= 0:
                assert ref_id == len(self.eng_ids)
                eng_id = int(res.order_ids[j])
                # Stronger than "not reused while live": an id is never issued twice.
                assert eng_id >= 0 and eng_id not in self.ref_of, f"order id {eng_id} issued twice"
                self.eng_ids.append(eng_id)
                self.ref_of[eng_id] = ref_id
                self.accepted_qty += int(qtys[j])
            else:
                assert res.order_ids[j] == -1
        self._check_new_trades(before)
        self.stats.submits += n
        self.stats.operations += n

    def _check_new_trades(self, before: int) -> None:
        new = self.eng.trade_count - before
        got = self.eng.trades()[len(self.eng.trades()) - new :] if new else []
        expected = self.ref.trades[len(self.ref.trades) - new :] if new else []
        assert len(self.ref.trades) - self.stats.trades == new, "engine and reference printed different trade counts"
        for t, r in zip(got, expected, strict=True):
            mapped = (int(t["market"]), int(t["price"]), int(t["qty"]), self.ref_of[int(t["maker_id"])], self.ref_of[int(t["taker_id"])], int(t["taker_side"]))
            assert mapped == (r.market, r.price, r.qty, r.maker_id, r.taker_id, r.taker_side), f"trade {mapped} != {r}"
        self.stats.trades += new

    def cancel(self, n: int) -> None:
        eng_ids, ref_ids = self._targets(n)
        ok = self.eng.cancel(eng_ids)
        for j in range(n):
            assert bool(ok[j]) == self.ref.cancel(ref_ids[j]), f"cancel of {eng_ids[j]} disagrees"
        self.stats.cancels += n
        self.stats.operations += n

    def reduce(self, n: int) -> None:
        eng_ids, ref_ids = self._targets(n)
        qtys = self.rng.integers(-1, 8, size=n)
        ok = self.eng.reduce(eng_ids, qtys)
        for j in range(n):
            assert bool(ok[j]) == self.ref.reduce(ref_ids[j], int(qtys[j])), f"reduce of {eng_ids[j]} disagrees"
        self.stats.reduces += n
        self.stats.operations += n

    def _amend_terms(self, ref_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """New prices and quantities for amends of ``ref_ids``: a third at the order's own price (in place
        when no larger), the rest around the mid so that some cross; a few out of range."""
        rng = self.rng
        n = len(ref_ids)
        prices = np.empty(n, dtype=np.int64)
        qtys = np.empty(n, dtype=np.int64)
        for j, ref_id in enumerate(ref_ids):
            market, side, own_price, own_qty = self.ref.resting(ref_id) or (0, 0, 100, 5)
            if rng.random() < 0.35:
                prices[j] = own_price
            else:
                offset = int(rng.integers(-6, 7))
                prices[j] = self.mid[market] + (-offset - 1 if side == 0 else offset + 1)
            qtys[j] = max(1, own_qty + int(rng.integers(-3, 4))) if rng.random() < 0.6 else int(rng.integers(1, 60))
            if rng.random() < 0.03:
                qtys[j] = rng.choice([0, -2, 1 << 31])
            elif rng.random() < 0.03:
                prices[j] = rng.choice([0, -5, 1 << 31])
        return prices, qtys

    def amend(self, n: int) -> None:
        before = self.eng.trade_count
        eng_ids, ref_ids = self._targets(n)
        resting = list(self.ref.where)
        if resting:  # most amends are of resting orders (the rest: stale, unknown)
            for j in np.flatnonzero(self.rng.random(n) < 0.75):
                ref_ids[j] = resting[int(self.rng.integers(len(resting)))]
                eng_ids[j] = self.eng_ids[ref_ids[j]]
        prices, qtys = self._amend_terms(ref_ids)
        res = self.eng.amend(eng_ids, prices, qtys)
        for j in range(n):
            ref_id, ref_filled, ref_status = self.ref.amend(ref_ids[j], int(prices[j]), int(qtys[j]))
            got = (int(res.status[j]), int(res.filled[j]))
            assert got == (ref_status, ref_filled), f"amend {j} of {eng_ids[j]} to {prices[j], qtys[j]}: engine {got} reference {(ref_status, ref_filled)}"
            eng_id = int(res.order_ids[j])
            if ref_id < 0:
                assert eng_id == -1
            elif ref_id == ref_ids[j]:  # in place: the same order, the same id
                assert eng_id == eng_ids[j]
            else:  # replaced: a new order, under an id never issued before
                assert ref_id == len(self.eng_ids)
                assert eng_id >= 0 and eng_id not in self.ref_of, f"order id {eng_id} issued twice"
                self.eng_ids.append(eng_id)
                self.ref_of[eng_id] = ref_id
                self.accepted_qty += int(qtys[j])
                self.stats.replaced += 1
        self._check_new_trades(before)
        self.stats.amends += n
        self.stats.operations += n

    def check_books(self) -> None:
        markets = np.arange(self.n_markets)
        assert self.eng.best_bid(markets).tolist() == [self.ref.best(m, 0) for m in range(self.n_markets)]
        assert self.eng.best_ask(markets).tolist() == [self.ref.best(m, 1) for m in range(self.n_markets)]
        for m in range(self.n_markets):
            for side in (0, 1):
                got = [(p, self.ref_of[i], q) for p, i, q in self.eng.book_orders(m, side).tolist()]
                assert got == self.ref.book_orders(m, side), f"book of market {m} side {side} differs"
                assert self.eng.depth(m, side, 5).tolist() == self.ref.depth(m, side, 5)
        assert self.eng.resting_orders == len(self.ref.where)
        # Counters: every accepted order (replacements too) counted once, and its quantity traded, resting or cancelled.
        totals = self.eng.totals()
        assert (totals["accepted_orders"], totals["accepted_qty"]) == (len(self.eng_ids), self.accepted_qty)
        resting_qty = sum(o.qty for orders in self.ref.books.values() for o in orders)
        assert totals["accepted_qty"] == 2 * totals["traded_qty"] + resting_qty + totals["cancelled_qty"]
        self.stats.book_checks += 1

    def run(self, n_operations: int, *, max_batch: int = 64, check_every: int = 20_000) -> FlowStats:
        next_check = check_every
        while self.stats.operations < n_operations:
            r = self.rng.random()
            n = int(self.rng.integers(1, max_batch + 1))
            if r < 0.55:
                self.submit(n)
            elif r < 0.75:
                self.cancel(n)
            elif r < 0.87:
                self.reduce(n)
            else:
                self.amend(n)
            if self.stats.operations >= next_check:
                self.check_books()
                next_check += check_every
        self.check_books()
        return self.stats
