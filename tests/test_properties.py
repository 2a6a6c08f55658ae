"""Stateful property tests (hypothesis): invariants that must hold after every batch.

* never crossed: best bid < best ask in every market;
* quantity conserved: accepted = 2 * traded + resting + cancelled (each trade fills a maker and a
  taker), with accepted quantity summed by the test from what it submitted;
* FIFO within a level: orders at one price are queued in arrival order;
* ids: every accepted order gets an id never issued before, so no live id is ever shared;
* amends: in place keeps the id and takes no more quantity; a cancel-replace issues a new id (its
  quantity accepted: the conservation above covers it) and the old id stops resting; a rejected
  amend is of an id not resting or of a bad quantity or price.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lxdex_capacity.engine import NO_PRICE, Engine, Status

N_MARKETS = 3

orders = st.lists(
    st.tuples(
        st.integers(0, N_MARKETS - 1),  # market
        st.integers(0, 1),  # side
        st.integers(95, 105),  # price: a narrow band, so orders cross often
        st.integers(1, 12),  # qty
        st.sampled_from([0, 0, 0, 1, 2, 3, 4]),  # type, LIMIT most often
    ),
    min_size=1,
    max_size=12,
)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.eng = Engine(N_MARKETS, order_capacity=2, level_capacity=2, tape_capacity=4)
        self.arrival: dict[int, int] = {}  # id -> arrival number
        self.accepted_qty = 0

    @rule(batch=orders)
    def submit(self, batch):
        m, s, p, q, t = (np.array(col, dtype=np.int64) for col in zip(*batch, strict=True))
        res = self.eng.submit(m, s, p, q, t)
        for order_id, qty, status in zip(res.order_ids.tolist(), q.tolist(), res.status.tolist(), strict=True):
            if status < 0:
                assert order_id == -1
                continue
            assert order_id >= 0 and order_id not in self.arrival, "id issued twice"
            self.arrival[order_id] = len(self.arrival)
            self.accepted_qty += qty

    @rule(picks=st.lists(st.integers(0, 10_000), max_size=6), junk=st.integers(-5, 1 << 40))
    def cancel(self, picks, junk):
        known = list(self.arrival)
        ids = [known[i % len(known)] for i in picks] if known else []
        ok = self.eng.cancel(np.array([*ids, junk], dtype=np.int64))
        assert len(ok) == len(ids) + 1

    @rule(picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=6), qty=st.integers(-1, 6))
    def reduce(self, picks, qty):
        known = list(self.arrival)
        if known:
            ids = np.array([known[i % len(known)] for i in picks], dtype=np.int64)
            self.eng.reduce(ids, np.full(len(ids), qty))

    @rule(picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=6),
          terms=st.lists(st.tuples(st.sampled_from([0, *range(94, 107)]), st.integers(-1, 14)), min_size=6, max_size=6))
    def amend(self, picks, terms):
        known = list(self.arrival)
        if not known:
            return
        ids = np.array([known[i % len(known)] for i in picks], dtype=np.int64)
        prices, qtys = (np.array(col[: len(ids)], dtype=np.int64) for col in zip(*terms, strict=True))
        resting_before = self.eng.open_qty(ids) > 0
        res = self.eng.amend(ids, prices, qtys)
        for j, (old, new, filled, status) in enumerate(zip(ids.tolist(), res.order_ids.tolist(), res.filled.tolist(), res.status.tolist(), strict=True)):
            if not resting_before[j]:  # an order that was not resting cannot come back
                assert status == Status.REJECTED_ID
            if status < 0:
                assert new == -1 and filled == 0
                assert status != Status.REJECTED_QTY or qtys[j] <= 0
                assert status != Status.REJECTED_PRICE or prices[j] <= 0
            elif new == old:  # in place: nothing traded, no quantity added
                assert status == Status.RESTING and filled == 0
                assert self.eng.open_qty([old])[0] <= qtys[j]
            else:  # replaced: a new order under a new id, its quantity accepted; the old id is gone
                assert new >= 0 and new not in self.arrival, "id issued twice"
                self.arrival[new] = len(self.arrival)
                self.accepted_qty += int(qtys[j])
                assert 0 <= filled <= qtys[j] and (status == Status.FILLED) == (filled == qtys[j])
                assert self.eng.open_qty([old])[0] == 0 and self.eng.open_qty([new])[0] <= qtys[j] - filled

    @invariant()
    def never_crossed(self):
        bids = self.eng.best_bid(np.arange(N_MARKETS))
        asks = self.eng.best_ask(np.arange(N_MARKETS))
        both = (bids != NO_PRICE) & (asks != NO_PRICE)
        assert (bids[both] < asks[both]).all()

    @invariant()
    def quantity_conserved(self):
        stats = self.eng.market_stats()
        totals = self.eng.totals()
        resting = int(stats["resting_qty"].sum())
        traded = int(stats["volume"].sum())
        assert self.accepted_qty == 2 * traded + resting + totals["cancelled_qty"]
        assert int(stats["resting_orders"].sum()) == self.eng.resting_orders

    @invariant()
    def fifo_within_levels_and_unique_live_ids(self):
        live = []
        for market in range(N_MARKETS):
            for side in (0, 1):
                book = self.eng.book_orders(market, side)
                live.extend(book["order_id"].tolist())
                prices = book["price"]
                # Price priority between levels, arrival priority within one.
                assert (np.diff(prices) <= 0).all() if side == 0 else (np.diff(prices) >= 0).all()
                for price in np.unique(prices):
                    queue = [self.arrival[i] for i in book["order_id"][prices == price].tolist()]
                    assert queue == sorted(queue)
        assert len(live) == len(set(live)) == self.eng.resting_orders


TestEngineMachine = EngineMachine.TestCase
TestEngineMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
