"""Read LOBSTER message and orderbook files: CSV, or the published zip directly.

Message rows: time (seconds after midnight), type (1 new limit order, 2 partial cancel, 3 deletion,
4 execution of a visible order, 5 execution of a hidden order, 6 cross trade, 7 trading halt),
order id, size, price (dollars x 10000) and direction (1 buy, -1 sell).  Orderbook rows: ask price,
ask size, bid price, bid size, repeated per level; row i is the book after message i.  Empty
levels hold the sentinel prices +-9999999999 with size 0.

Malformed rows are reported with their line number; files of the wrong shape by what is wrong.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Messages", "read_messages", "read_orderbook", "MESSAGE_TYPES"]

MESSAGE_TYPES = {1: "new limit order", 2: "partial cancel", 3: "deletion", 4: "visible execution",
                 5: "hidden execution", 6: "cross trade", 7: "trading halt"}
EMPTY_PRICE = 9_999_999_999
MAX_PRICE = np.iinfo(np.int32).max  # the engine's price ticks are int32


@dataclass(frozen=True)
class Messages:
    """Parsed message columns; ``order_index`` numbers the distinct order ids 0..n_ids-1."""

    time: np.ndarray  # float64 seconds after midnight
    type: np.ndarray  # int8
    order_id: np.ndarray  # int64, as in the file
    order_index: np.ndarray  # int64, dense
    n_ids: int
    size: np.ndarray  # int64
    price: np.ndarray  # int64, dollars x 10000
    side: np.ndarray  # int8: 0 buy, 1 sell (the engine's codes)
    source: str
    parse_seconds: float

    def __len__(self) -> int:
        return len(self.type)


def _open_text(path: str | Path, kind: str) -> tuple[str, str]:
    """(text, name) of a CSV file, or of the ``kind`` member (message/orderbook) of a LOBSTER zip."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{kind} file {str(path)!r} does not exist")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if kind in m.lower() and m.lower().endswith(".csv")]
                if len(members) != 1:
                    raise InputError(f"{path}: expected one *{kind}*.csv inside the zip, found {len(members)}")
                return archive.read(members[0]).decode("ascii"), f"{path}:{members[0]}"
        return path.read_text(encoding="ascii"), str(path)
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise InputError(f"{kind} file {str(path)!r} cannot be read: {exc}") from None


def _load(text: str, name: str, columns: int | None) -> np.ndarray:
    """Parse CSV text into a float64 matrix; errors name the line."""
    if not text.strip():
        raise InputError(f"{name}: the file is empty")
    try:
        data = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        row = re.search(r"row (\d+)", str(exc))
        where = f"line {int(row.group(1)) + (0 if 'changed' in str(exc) else 1)}" if row else "a row"
        detail = re.sub(r" at row \d+(, column \d+)?", "", str(exc).split(";")[0]).rstrip(".")
        raise InputError(f"{name}: malformed {where}: {detail}") from None
    if columns is not None and data.shape[1] != columns:
        raise InputError(f"{name}: a LOBSTER message file has {columns} columns per row, this one has {data.shape[1]}")
    return data


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask)) + 1  # 1-based line number


def read_messages(path: str | Path) -> Messages:
    """Parse a message file (or the message member of a zip); check every row's type, side, size and price."""
    start = time.perf_counter()
    text, name = _open_text(path, "message")
    data = _load(text, name, 6)
    kind = data[:, 1]
    if np.any(bad := ~np.isin(kind, list(MESSAGE_TYPES))):
        line = _first_bad(bad)
        raise InputError(f"{name}: line {line}: type {data[line - 1, 1]:g} is not a LOBSTER event type (1-7)")
    direction = data[:, 5]
    if np.any(bad := ~np.isin(direction, (1, -1))):
        line = _first_bad(bad)
        raise InputError(f"{name}: line {line}: direction {data[line - 1, 5]:g} must be 1 (buy) or -1 (sell)")
    book_event = kind <= 5
    for col, label, low, high in ((3, "size", 1, MAX_PRICE), (4, "price", 1, MAX_PRICE)):
        values = data[:, col]
        bad = book_event & ((values < low) | (values > high) | (values != np.floor(values)))
        if np.any(bad):
            line = _first_bad(bad)
            raise InputError(f"{name}: line {line}: {label} {values[line - 1]:g} must be a whole number in [{low}, {high:,}]")
    ids = data[:, 2].astype(np.int64)
    unique, dense = np.unique(ids, return_inverse=True)
    return Messages(
        time=data[:, 0].copy(),
        type=kind.astype(np.int8),
        order_id=ids,
        order_index=dense.astype(np.int64),
        n_ids=len(unique),
        size=data[:, 3].astype(np.int64),
        price=data[:, 4].astype(np.int64),
        side=np.where(direction > 0, 0, 1).astype(np.int8),
        source=name,
        parse_seconds=time.perf_counter() - start,
    )


def read_orderbook(path: str | Path, rows: int, levels: int | None = None) -> np.ndarray:
    """Parse an orderbook file into int64 (rows, 4 x levels); its rows must match the message file's."""
    text, name = _open_text(path, "orderbook")
    data = _load(text, name, None)
    if data.shape[1] % 4:
        raise InputError(f"{name}: an orderbook row holds 4 columns per level, this file has {data.shape[1]}")
    available = data.shape[1] // 4
    if levels is not None and levels > available:
        raise InputError(f"levels={levels} but {name} holds only {available} level(s)")
    if len(data) != rows:
        raise InputError(f"{name}: {len(data):,} rows but the message file has {rows:,}: they must be the same day's pair")
    book = data.astype(np.int64)
    return book[:, : 4 * (levels or available)]
