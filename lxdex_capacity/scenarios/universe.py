"""The market universe: which markets are securities and which crypto pairs, their symbols and ticks.

Market ids are activity ranks.  The two classes are interleaved in proportion through the ranks
(so both have hot and cold markets).  Symbols are computed on demand from the id, never stored, so
a universe of 100M markets costs nothing until a symbol is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Universe", "SECURITY", "CRYPTO", "TICK_SIZE"]

SECURITY = 0
CRYPTO = 1
# Price of one tick in the quote currency, per class: US equities trade in cents; crypto venues
# quote most pairs to a hundredth of a cent.
TICK_SIZE = {SECURITY: 0.01, CRYPTO: 0.0001}
_QUOTES = ("USDT", "USD", "BTC", "ETH", "USDC")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _code(index: int, length: int) -> str:
    chars = []
    for _ in range(length):
        index, digit = divmod(index, 26)
        chars.append(_LETTERS[digit])
    return "".join(reversed(chars))


@dataclass(frozen=True)
class Universe:
    markets: int
    securities_share: float

    @property
    def securities(self) -> int:
        return round(self.markets * self.securities_share)

    @property
    def crypto(self) -> int:
        return self.markets - self.securities

    def classes(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Class per market (``SECURITY`` or ``CRYPTO``): a market is a security when the running
        count of securities steps up at its rank, spreading both classes evenly over the ranks."""
        ids = np.arange(self.markets) if ids is None else np.asarray(ids)
        share = self.securities / self.markets
        return np.where(np.floor((ids + 1) * share) > np.floor(ids * share), SECURITY, CRYPTO).astype(np.int8)

    def class_index(self, market: int) -> int:
        """Position of ``market`` among the markets of its class (0-based)."""
        share = self.securities / self.markets
        securities_before = int(np.floor(market * share))
        if self.classes(np.array([market]))[0] == SECURITY:
            return securities_before
        return market - securities_before

    def symbol(self, market: int) -> str:
        """``AAPL``-like tickers for securities (AAAA, AAAB, ...), ``XYZ-USDT``-like pairs for crypto."""
        if not 0 <= market < self.markets:
            raise IndexError(f"market={market} must be in 0..{self.markets - 1}")
        k = self.class_index(market)
        if self.classes(np.array([market]))[0] == SECURITY:
            length = 4 if k < 26**4 else 6
            return _code(k, length)
        base, quote = divmod(k, len(_QUOTES))
        return f"{_code(base, 3 if base < 26**3 else 5)}-{_QUOTES[quote]}"

    def tick_size(self, market: int) -> float:
        return TICK_SIZE[int(self.classes(np.array([market]))[0])]
