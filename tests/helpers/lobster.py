"""Synthetic LOBSTER days (:class:`Exchange`, :func:`adds_only_day`), LOBSTER-style zips of them
(:func:`zip_day`), and the real sample files when they are there."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

LOBSTER = Path(__file__).resolve().parents[3] / "shared" / "data" / "lobster"  # ../shared/data/lobster beside the repository
SAMPLES = sorted(LOBSTER.glob("LOBSTER_SampleFile_*.zip")) if LOBSTER.is_dir() else []
needs_samples = pytest.mark.skipif(not SAMPLES, reason=f"LOBSTER sample data not found at {LOBSTER} (../shared/data/lobster)")
EMPTY = 9_999_999_999


class Exchange:
    """A full-depth price-time book that writes LOBSTER files of its top ``levels``.

    Like LOBSTER, it reports only events that touch the visible window (at a visible price before
    or after the event), so orders resting deeper, and orders resting before the first row, are
    unknown to a replay that starts from the files.
    """

    def __init__(self, levels: int, seed: int, with_book: bool = True):
        self.levels = levels
        self.with_book = with_book  # False: write no orderbook rows (a replay without --orderbook)
        self.rng = np.random.default_rng(seed)
        self.book: dict[int, dict[int, list[list[int]]]] = {0: {}, 1: {}}  # side -> price -> FIFO [id, qty]
        self.next_id = 1
        self.messages: list[str] = []
        self.rows: list[str] = []

    def _visible(self, side: int) -> list[int]:
        prices = sorted(self.book[side], reverse=side == 0)
        return prices[: self.levels]

    def _row(self) -> str:
        cells = []
        visible_of = {side: self._visible(side) for side in (0, 1)}
        for j in range(self.levels):
            for side, empty in ((1, EMPTY), (0, -EMPTY)):
                visible = visible_of[side]
                if j < len(visible):
                    p = visible[j]
                    cells += [p, sum(q for _, q in self.book[side][p])]
                else:
                    cells += [empty, 0]
        return ",".join(str(c) for c in cells)

    def _emit(self, kind: int, order_id: int, size: int, price: int, side: int, before: dict[int, list[int]]) -> None:
        if price in before[side] or price in self._visible(side):
            self.messages.append(f"{34200 + len(self.messages) * 0.001:.3f},{kind},{order_id},{size},{price},{1 if side == 0 else -1}")
            if self.with_book:
                self.rows.append(self._row())

    def step(self) -> None:
        rng = self.rng
        before = {s: self._visible(s) for s in (0, 1)}
        orders = [(s, p, i) for s in (0, 1) for p, q in self.book[s].items() for i in range(len(q))]
        action = rng.random()
        if action < 0.5 or len(orders) < 4:
            side = int(rng.integers(0, 2))
            best_ask = min(self.book[1], default=10_100)
            best_bid = max(self.book[0], default=9_900)
            price = (best_ask - 1 - int(rng.geometric(0.3)) + 1) if side == 0 else (best_bid + 1 + int(rng.geometric(0.3)) - 1)
            price = min(price, best_ask - 1) if side == 0 else max(price, best_bid + 1)
            size = int(rng.integers(1, 50))
            order_id, self.next_id = self.next_id, self.next_id + 1
            self.book[side].setdefault(price, []).append([order_id, size])
            self._emit(1, order_id, size, price, side, before)
        elif action < 0.85:
            side, price, i = orders[int(rng.integers(len(orders)))]
            queue = self.book[side][price]
            order_id, qty = queue[i]
            if rng.random() < 0.3 and qty > 1:
                cut = int(rng.integers(1, qty))
                queue[i][1] -= cut
                self._emit(2, order_id, cut, price, side, before)
            else:
                del queue[i]
                if not queue:
                    del self.book[side][price]
                self._emit(3, order_id, qty, price, side, before)
        else:
            side = int(rng.integers(0, 2))
            if not self.book[side]:
                return
            price = max(self.book[side]) if side == 0 else min(self.book[side])
            queue = self.book[side][price]
            order_id, qty = queue[0]
            size = int(rng.integers(1, qty + 1))
            if size == qty:
                queue.pop(0)
                if not queue:
                    del self.book[side][price]
            else:
                queue[0][1] -= size
            self._emit(4, order_id, size, price, side, before)

    def write(self, folder: Path, prefill: int, steps: int) -> tuple[Path, Path]:
        for _ in range(prefill):  # the day before the file: nothing of it is written
            self.step()
        self.messages.clear()
        self.rows.clear()
        for _ in range(steps):
            self.step()
        message_file, book_file = folder / f"X_message_{self.levels}.csv", folder / f"X_orderbook_{self.levels}.csv"
        message_file.write_text("\n".join(self.messages) + "\n")
        book_file.write_text("\n".join(self.rows) + "\n")
        return message_file, book_file


def adds_only_day(folder: Path, n: int, seed: int = 0, quoted: bool = True) -> tuple[Path, Path]:
    """A 1-level day of ``n`` new limit orders and nothing else (no executions, no cancels): buys below
    one resting ask (``quoted``), or buys alone, so that the book never has a mid.  Consistent with its
    orderbook file; sizes from 1 to 499, so there is a tail to fit."""
    rng = np.random.default_rng(seed)
    prices = rng.integers(10_000, 11_000, n)
    sizes = rng.integers(1, 500, n)
    messages, rows = [], []
    ask = 11_500 if quoted else EMPTY
    ask_size = 7 if quoted else 0
    best, at_best = -EMPTY, 0
    if quoted:
        messages.append(f"{34200:.3f},1,1,{ask_size},{ask},-1")
        rows.append(f"{ask},{ask_size},{-EMPTY},0")
    for i in range(n):
        price, size = int(prices[i]), int(sizes[i])
        if price > best:
            best, at_best = price, size
        elif price == best:
            at_best += size
        messages.append(f"{34200 + (len(messages) + 1) * 0.001:.3f},1,{i + 2},{size},{price},1")
        rows.append(f"{ask},{ask_size},{best},{at_best}")
    message_file, book_file = folder / "adds_message_1.csv", folder / "adds_orderbook_1.csv"
    message_file.write_text("\n".join(messages) + "\n")
    book_file.write_text("\n".join(rows) + "\n")
    return message_file, book_file


def zip_day(path: Path, message_file: Path | None, book_file: Path | None) -> Path:
    """A LOBSTER-style zip at ``path`` holding the given files (either may be left out)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in (message_file, book_file):
            if file is not None:
                archive.write(file, file.name)
    return path
