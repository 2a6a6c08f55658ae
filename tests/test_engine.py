"""Engine semantics, one behaviour per test, on hand-written books."""

from __future__ import annotations

import numpy as np
import pytest

from lxdex_capacity.engine import NO_PRICE, Engine, OrderType, Side, Status
from lxdex_capacity.engine.layout import LEVEL_RECORD_BYTES, O_GEN, ORDER_RECORD_BYTES, S_RETIRED_SLOTS
from lxdex_capacity.errors import InputError

B, S = Side.BUY, Side.SELL
LIM, MKT, IOC, FOK, POST = (int(t) for t in OrderType)


def submit(eng: Engine, *orders: tuple[int, int, int, int, int]):
    """orders: (market, side, price, qty, type)."""
    m, s, p, q, t = (np.array(col, dtype=np.int64) for col in zip(*orders, strict=True))
    return eng.submit(m, s, p, q, t)


def test_limit_orders_rest_and_cross_at_maker_price():
    eng = Engine(2)
    res = submit(eng, (0, S, 105, 5, LIM), (0, S, 103, 5, LIM), (0, B, 110, 7, LIM))
    assert res.status.tolist() == [Status.RESTING, Status.RESTING, Status.FILLED]
    assert res.filled.tolist() == [0, 0, 7]
    tape = eng.trades()
    # Best price first (103), at the maker's price, not the taker's 110.
    assert tape[["price", "qty"]].tolist() == [(103, 5), (105, 2)]
    assert (tape["maker_id"] == res.order_ids[[1, 0]]).all()
    assert (tape["taker_id"] == res.order_ids[2]).all()
    assert eng.best_ask(0) == 105 and eng.depth(0, S, 5).tolist() == [(105, 3)]
    assert eng.best_bid(0) == NO_PRICE and eng.best_ask(1) == NO_PRICE


def test_fifo_within_a_level_and_partial_fill_keeps_priority():
    eng = Engine(1)
    first, second = submit(eng, (0, B, 100, 4, LIM), (0, B, 100, 4, LIM)).order_ids
    submit(eng, (0, S, 100, 3, LIM))
    assert eng.book_orders(0, B)[["order_id", "qty"]].tolist() == [(first, 1), (second, 4)]
    submit(eng, (0, S, 99, 2, LIM))
    assert eng.trades()["maker_id"].tolist() == [first, first, second]


def test_market_order_takes_any_price_and_cancels_remainder():
    eng = Engine(1)
    submit(eng, (0, S, 100, 2, LIM), (0, S, 10_000, 2, LIM))
    res = submit(eng, (0, B, 0, 10, MKT))
    assert (res.status[0], res.filled[0]) == (Status.CANCELLED, 4)
    assert eng.resting_orders == 0 and eng.totals()["cancelled_qty"] == 6


def test_ioc_respects_its_limit_and_never_rests():
    eng = Engine(1)
    submit(eng, (0, S, 100, 2, LIM), (0, S, 101, 2, LIM))
    res = submit(eng, (0, B, 100, 5, IOC))
    assert (res.status[0], res.filled[0]) == (Status.CANCELLED, 2)
    assert eng.best_bid(0) == NO_PRICE and eng.best_ask(0) == 101


def test_fok_fills_completely_or_not_at_all():
    eng = Engine(1)
    submit(eng, (0, S, 100, 2, LIM), (0, S, 101, 2, LIM), (0, S, 102, 9, LIM))
    killed = submit(eng, (0, B, 101, 5, FOK))
    assert (killed.status[0], killed.filled[0]) == (Status.CANCELLED, 0)
    assert killed.order_ids[0] >= 0 and eng.trade_count == 0
    done = submit(eng, (0, B, 102, 5, FOK))
    assert (done.status[0], done.filled[0]) == (Status.FILLED, 5)
    assert eng.depth(0, S, 3).tolist() == [(102, 8)]


def test_post_only_rejected_when_it_would_trade_else_rests():
    eng = Engine(1)
    submit(eng, (0, S, 100, 2, LIM))
    res = submit(eng, (0, B, 100, 1, POST), (0, B, 99, 1, POST))
    assert res.status.tolist() == [Status.REJECTED_WOULD_TRADE, Status.RESTING]
    assert res.order_ids[0] == -1 and eng.trade_count == 0 and eng.best_bid(0) == 99


@pytest.mark.parametrize(
    "order, status",
    [
        ((0, B, 100, 0, LIM), Status.REJECTED_QTY),
        ((0, B, 100, -5, LIM), Status.REJECTED_QTY),
        ((0, B, 100, 2**31, LIM), Status.REJECTED_QTY),
        ((0, B, 0, 5, LIM), Status.REJECTED_PRICE),
        ((0, B, -1, 5, IOC), Status.REJECTED_PRICE),
        ((0, B, 2**31, 5, LIM), Status.REJECTED_PRICE),
        ((3, B, 100, 5, LIM), Status.REJECTED_MARKET),
        ((-1, B, 100, 5, LIM), Status.REJECTED_MARKET),
        ((0, 2, 100, 5, LIM), Status.REJECTED_SIDE),
        ((0, B, 100, 5, 7), Status.REJECTED_TYPE),
    ],
)
def test_rejections_leave_no_trace_and_do_not_stop_the_batch(order, status):
    eng = Engine(3)
    res = submit(eng, (0, S, 100, 1, LIM), order, (0, B, 100, 1, LIM))
    assert res.status.tolist() == [Status.RESTING, status, Status.FILLED]
    assert res.order_ids[1] == -1 and res.filled[1] == 0
    assert eng.totals()["accepted_orders"] == 2


def test_cancel_reports_unknown_filled_and_repeated_ids():
    eng = Engine(1)
    live, filled = submit(eng, (0, B, 100, 5, LIM), (0, B, 101, 1, LIM)).order_ids
    submit(eng, (0, S, 101, 1, LIM))
    ok = eng.cancel([live, live, filled, -1, 987654321, 1 << 62])
    assert ok.tolist() == [True, False, False, False, False, False]
    assert eng.resting_orders == 0 and eng.price_levels == 0


def test_reduce_keeps_queue_place_and_full_reduce_cancels():
    eng = Engine(1)
    a, b = submit(eng, (0, B, 100, 5, LIM), (0, B, 100, 5, LIM)).order_ids
    assert eng.reduce([a, b, a], [3, 0, -1]).tolist() == [True, False, False]
    assert eng.book_orders(0, B)[["order_id", "qty"]].tolist() == [(a, 2), (b, 5)]
    assert eng.reduce([a], [2]).tolist() == [True]
    assert eng.book_orders(0, B)["order_id"].tolist() == [b]
    assert eng.reduce([a], [1]).tolist() == [False]


def test_levels_sorted_from_both_ends_and_removed_from_the_middle():
    eng = Engine(1)
    prices = [100, 90, 95, 99, 91, 98, 92, 97, 93, 96, 94, 50, 150]
    ids = submit(eng, *[(0, B, p, 1, LIM) for p in prices]).order_ids
    assert eng.depth(0, B, 100)["price"].tolist() == sorted(prices, reverse=True)
    eng.cancel(ids[[2, 11, 12]])  # middle, worst, best
    assert eng.depth(0, B, 100)["price"].tolist() == sorted(set(prices) - {95, 50, 150}, reverse=True)
    asks = submit(eng, *[(0, S, p + 100, 1, LIM) for p in prices]).order_ids
    assert eng.depth(0, S, 100)["price"].tolist() == sorted(p + 100 for p in prices)
    assert eng.cancel(asks).all() and eng.best_ask(0) == NO_PRICE


def test_best_price_queries_scalar_in_scalar_out_and_bad_market():
    eng = Engine(3)
    submit(eng, (1, B, 7, 1, LIM), (1, S, 9, 1, LIM))
    assert eng.best_bid(1) == 7 and isinstance(eng.best_bid(1), int)
    assert eng.best_ask(np.array([0, 1, 2])).tolist() == [NO_PRICE, 9, NO_PRICE]
    with pytest.raises(InputError, match="market=3"):
        eng.best_bid([0, 3])


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 0], [0], [1], [1]), "equal lengths"),
        (([0.5], [0], [1], [1]), "must hold integers"),
        ((np.zeros((2, 2), dtype=int), [0, 0], [1, 1], [1, 1]), "1-D"),
        ((["a"], [0], [1], [1]), "must hold integers"),
    ],
)
def test_bad_shapes_and_dtypes_raise_value_error_before_anything_changes(args, message):
    eng = Engine(2)
    with pytest.raises(ValueError, match=message):
        eng.submit(*args)
    assert eng.totals()["accepted_orders"] == 0


def test_constructor_validates_arguments():
    with pytest.raises(InputError, match="n_markets=0 must be at least 1"):
        Engine(0)
    with pytest.raises(InputError, match="tape_capacity=1000 must be a power of two"):
        Engine(1, tape_capacity=1000)


def test_trade_ring_keeps_the_latest_trades_oldest_first_and_aggregates_everything():
    eng = Engine(1, tape_capacity=8)
    for i in range(20):
        submit(eng, (0, S, 100 + i, 1, LIM), (0, B, 100 + i, 1, LIM))
    tape = eng.trades()
    assert tape["price"].tolist() == list(range(112, 120))
    stats = eng.market_stats()
    assert (stats["trade_count"][0], stats["volume"][0], stats["last_price"][0]) == (20, 20, 119)
    assert eng.trade_count == 20 and eng.memory().trades_retained == 8


def test_pools_grow_inside_one_batch_and_steady_churn_does_not_grow_memory():
    eng = Engine(4, order_capacity=2, level_capacity=2)
    rng = np.random.default_rng(5)
    n = 5_000
    res = eng.submit(rng.integers(0, 4, n), np.zeros(n, int), rng.integers(1, 500, n), np.ones(n, int))
    assert (res.status == Status.RESTING).all() and eng.resting_orders == n
    reserved = eng.memory().bytes_reserved
    for _ in range(50):  # cancel half, add as many back: the book size stays put
        victims = rng.choice(res.order_ids, size=n // 2, replace=False)
        keep = np.setdiff1d(res.order_ids, victims)
        assert eng.cancel(victims).all()
        new = eng.submit(rng.integers(0, 4, n // 2), np.zeros(n // 2, int), rng.integers(1, 500, n // 2), np.ones(n // 2, int))
        res = type(res)(np.concatenate([keep, new.order_ids]), res.filled, res.status)
    assert eng.resting_orders == n
    assert eng.memory().bytes_reserved == reserved


def test_memory_report_is_exact_from_the_arrays():
    eng = Engine(10, order_capacity=64, level_capacity=32, tape_capacity=16)
    submit(eng, (0, B, 100, 1, LIM), (0, B, 100, 1, LIM), (0, B, 99, 1, LIM), (0, S, 99, 1, LIM))
    mem = eng.memory()
    assert mem.components["orders"] == (2 * 16, 64 * 16) and ORDER_RECORD_BYTES == 16
    # The sell fills one bid at 100: one order left at 100 and one at 99, on two levels.
    assert mem.components["price_levels"] == (2 * 16, 32 * 16) and LEVEL_RECORD_BYTES == 16
    assert mem.components["indexes"][0] == 2 * 4 + eng._book.state.nbytes
    assert mem.components["market_state"][0] == 10 * 40
    assert mem.bytes_reserved == sum(a.nbytes for a in eng._book)
    assert mem.as_dict()["bytes_used"] == mem.bytes_used


def test_exhausted_id_generation_retires_the_slot_instead_of_reusing_an_id():
    eng = Engine(1, order_capacity=2)
    book = eng._book
    book.orders[:, O_GEN] = 0x7FFFFFFE  # two departures from exhaustion
    seen = set()
    for _ in range(6):
        order_id = int(submit(eng, (0, B, 100, 1, LIM)).order_ids[0])
        assert order_id not in seen
        seen.add(order_id)
        assert eng.cancel([order_id]).tolist() == [True]
    assert book.state[S_RETIRED_SLOTS] >= 2


def test_cancel_furthest_takes_the_side_that_reaches_furthest_from_its_best():
    eng = Engine(1)
    submit(eng, (0, B, 10, 1, LIM), (0, B, 9, 1, LIM), (0, B, 5, 1, LIM), (0, S, 11, 1, LIM), (0, S, 12, 1, LIM))
    # Bids span 10..5 (5 ticks), asks 11..12 (1 tick): the bid at 5 goes first.
    assert eng.cancel_furthest([0], [1]).tolist() == [1]
    assert eng.depth(0, B, 5)["price"].tolist() == [10, 9]
    # Spans equal (1 tick each): bids go first; asking for more than rests cancels what there is.
    assert eng.cancel_furthest([0], [1]).tolist() == [1] and eng.best_bid(0) == 10
    assert eng.cancel_furthest([0], [10]).tolist() == [3] and eng.resting_orders == 0
    with pytest.raises(InputError, match="counts=-2"):
        eng.cancel_furthest([0], [-2])


# ---------------------------------------------------------------------- amend
def book(eng: Engine, side: int, market: int = 0) -> list[tuple[int, int, int]]:
    return eng.book_orders(market, side).tolist()


def test_amend_in_place_keeps_place_and_id_and_counts_the_cut_as_cancelled():
    eng = Engine(1)
    a, b = submit(eng, (0, B, 100, 5, LIM), (0, B, 100, 5, LIM)).order_ids
    res = eng.amend([a, b], [100, 100], [2, 5])  # smaller; the same
    assert res.order_ids.tolist() == [a, b] and res.filled.tolist() == [0, 0]
    assert res.status.tolist() == [Status.RESTING, Status.RESTING]
    assert book(eng, B) == [(100, a, 2), (100, b, 5)]
    reduced = Engine(1)
    submit(reduced, (0, B, 100, 5, LIM), (0, B, 100, 5, LIM))
    reduced.reduce([a], [3])
    assert eng.totals() == reduced.totals()


def test_amend_up_in_size_or_to_a_new_price_goes_to_the_back_with_a_new_id():
    eng = Engine(1)
    a, b, c = submit(eng, (0, B, 100, 5, LIM), (0, B, 100, 5, LIM), (0, B, 99, 1, LIM)).order_ids
    up = eng.amend([a], [100], [6])
    (new_a,) = up.order_ids
    assert new_a not in (a, b, c) and (up.status[0], up.filled[0]) == (Status.RESTING, 0)
    assert book(eng, B) == [(100, b, 5), (100, new_a, 6), (99, c, 1)]
    moved = eng.amend([b], [99], [5])  # to an existing level: behind c
    (new_b,) = moved.order_ids
    assert book(eng, B) == [(100, new_a, 6), (99, c, 1), (99, new_b, 5)]
    assert eng.open_qty([a, b]).tolist() == [0, 0] and eng.cancel([a, b]).tolist() == [False, False]
    # As cancel then submit: the old open quantity cancelled, one more order accepted.
    same = Engine(1)
    a2, b2, _ = submit(same, (0, B, 100, 5, LIM), (0, B, 100, 5, LIM), (0, B, 99, 1, LIM)).order_ids
    same.cancel([a2])
    submit(same, (0, B, 100, 6, LIM))
    same.cancel([b2])
    submit(same, (0, B, 99, 5, LIM))
    assert eng.totals() == same.totals() and eng.totals()["accepted_orders"] == 5


def test_amend_that_crosses_fills_completely_as_an_incoming_order():
    eng = Engine(1)
    ask, ask2, bid = submit(eng, (0, S, 101, 3, LIM), (0, S, 102, 4, LIM), (0, B, 100, 5, POST)).order_ids
    res = eng.amend([bid], [102], [6])  # a resting POST_ONLY amended across: it trades, as a LIMIT
    (new,) = res.order_ids
    assert (res.status[0], res.filled[0]) == (Status.FILLED, 6) and new not in (ask, ask2, bid) and new >= 0
    tape = eng.trades()
    assert tape[["price", "qty", "maker_id", "taker_id", "taker_side"]].tolist() == [(101, 3, ask, new, B), (102, 3, ask2, new, B)]
    assert book(eng, B) == [] and book(eng, S) == [(102, ask2, 1)]
    assert eng.open_qty([bid, new]).tolist() == [0, 0] and eng.amend([new], [102], [1]).status[0] == Status.REJECTED_ID
    assert eng.market_stats()["volume"][0] == 6 and eng.resting_orders == 1


def test_amend_that_crosses_partly_rests_the_rest_at_the_new_price():
    eng = Engine(2)
    submit(eng, (1, B, 100, 1, LIM))  # another market, untouched
    bid, ask = submit(eng, (0, B, 101, 2, LIM), (0, S, 105, 4, LIM)).order_ids
    res = eng.amend([ask], [100], [7])  # down across the bid at 101, the rest at 100
    (new,) = res.order_ids
    assert (res.status[0], res.filled[0]) == (Status.RESTING, 2)
    assert eng.trades()[["price", "qty", "maker_id", "taker_id", "taker_side"]].tolist() == [(101, 2, bid, new, S)]
    assert book(eng, S) == [(100, new, 5)] and book(eng, B) == [] and eng.best_bid(1) == 100
    assert eng.totals()["cancelled_qty"] == 4 and eng.totals()["accepted_qty"] == 1 + 2 + 4 + 7


def test_amend_leaving_a_level_empty_removes_it_and_an_emptied_level_comes_back():
    eng = Engine(1)
    a, b = submit(eng, (0, S, 105, 1, LIM), (0, S, 107, 1, LIM)).order_ids
    (a2,) = eng.amend([a], [106], [1]).order_ids  # the best level left empty: gone
    assert eng.depth(0, S, 5).tolist() == [(106, 1), (107, 1)] and eng.price_levels == 2
    (a3,) = eng.amend([a2], [106], [3]).order_ids  # alone on its level and larger: the level goes and comes back
    assert a3 != a2 and book(eng, S) == [(106, a3, 3), (107, b, 1)] and eng.price_levels == 2
    (a4,) = eng.amend([a3], [105], [3]).order_ids  # back onto the price whose level was emptied first
    assert book(eng, S) == [(105, a4, 3), (107, b, 1)] and eng.price_levels == 2
    submit(eng, (0, B, 107, 4, LIM))  # empties both levels: their orders' ids end
    assert eng.amend([a4, b], [105, 107], [1, 1]).status.tolist() == [Status.REJECTED_ID, Status.REJECTED_ID]
    assert book(eng, S) == [] and eng.price_levels == 0


def test_amend_of_a_stale_id_after_its_slot_is_reused_is_rejected():
    eng = Engine(1, order_capacity=1)
    (a,) = submit(eng, (0, B, 100, 5, LIM)).order_ids
    eng.cancel([a])
    (b,) = submit(eng, (0, B, 100, 5, LIM)).order_ids
    assert b & 0xFFFFFFFF == a & 0xFFFFFFFF and b != a  # the same slot, a later generation
    before = eng.totals()
    res = eng.amend([a, a, a], [100, 101, 100], [1, 9, 5])
    assert res.status.tolist() == [Status.REJECTED_ID] * 3 and res.order_ids.tolist() == [-1] * 3
    assert book(eng, B) == [(100, b, 5)] and eng.totals() == before


@pytest.mark.parametrize(
    "price, qty, status",
    [(100, 0, Status.REJECTED_QTY), (100, -1, Status.REJECTED_QTY), (100, 2**31, Status.REJECTED_QTY),
     (0, 5, Status.REJECTED_PRICE), (-3, 5, Status.REJECTED_PRICE), (2**31, 5, Status.REJECTED_PRICE),
     (0, 0, Status.REJECTED_QTY)],  # the quantity is checked before the price
)
def test_amend_rejections_change_nothing_and_do_not_stop_the_batch(price, qty, status):
    eng = Engine(1)
    a, b = submit(eng, (0, B, 100, 5, LIM), (0, B, 99, 5, LIM)).order_ids
    before = eng.totals()
    res = eng.amend([a, -1, 1 << 40, b], [price, 100, 100, 99], [qty, 1, 1, 4])
    assert res.status.tolist() == [status, Status.REJECTED_ID, Status.REJECTED_ID, Status.RESTING]
    assert res.order_ids.tolist() == [-1, -1, -1, b] and res.filled.tolist() == [0, 0, 0, 0]
    assert book(eng, B) == [(100, a, 5), (99, b, 4)]
    assert eng.totals() == {**before, "cancelled_qty": 1}


def test_amend_finds_the_market_and_side_of_an_order_deep_in_its_book():
    eng = Engine(3)
    prices = list(range(200, 240))
    ids = submit(eng, *[(2, S, p, 1, LIM) for p in prices], (2, B, 150, 1, LIM), (1, S, 210, 1, LIM)).order_ids
    near_worst, middle, best = ids[37], ids[20], ids[0]
    res = eng.amend([near_worst, middle, best], [199, 245, 260], [2, 2, 2])
    assert (res.status == Status.RESTING).all() and (res.order_ids >= 0).all()
    asks = book(eng, S, market=2)
    assert asks[0] == (199, res.order_ids[0], 2) and asks[-3:] == [(239, ids[39], 1), (245, res.order_ids[1], 2), (260, res.order_ids[2], 2)]
    assert len(asks) == 40 and book(eng, B, market=2) == [(150, ids[40], 1)] and book(eng, S, market=1) == [(210, ids[41], 1)]


def test_amend_grows_full_pools_mid_batch_before_its_cancel():
    eng = Engine(1, order_capacity=1, level_capacity=1)
    (a,) = submit(eng, (0, B, 100, 5, LIM)).order_ids  # both pools now full
    res = eng.amend([a, a, a], [100, 101, 101], [4, 4, 4])
    assert res.status.tolist() == [Status.RESTING, Status.RESTING, Status.REJECTED_ID]
    assert res.order_ids[0] == a and res.order_ids[1] not in (a, -1)
    assert book(eng, B) == [(101, res.order_ids[1], 4)] and len(eng.book.orders) > 1 and len(eng.book.levels) > 1


def test_amend_checks_its_arrays():
    eng = Engine(1)
    with pytest.raises(InputError, match="equal lengths"):
        eng.amend([0, 1], [100], [1, 1])
    with pytest.raises(InputError, match="must hold integers"):
        eng.amend([0], [100.5], [1])
