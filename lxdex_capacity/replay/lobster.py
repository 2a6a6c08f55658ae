"""Read LOBSTER message and orderbook files: CSV, or the published zip directly.

Message rows: time (seconds after midnight), type (1 new limit order, 2 partial cancel, 3 deletion,
4 execution of a visible order, 5 execution of a hidden order, 6 cross trade, 7 trading halt),
order id, size, price (dollars x 10000) and direction (1 buy, -1 sell).  Orderbook rows: ask price,
ask size, bid price, bid size, repeated per level; row i is the book after message i.  Empty
levels hold the sentinel prices +-9999999999 with size 0.

What LOBSTER itself writes is accepted: hidden executions (type 5) carry order id 0; cross trades
(type 6) carry negative pseudo order ids (-1 opening cross, -2 closing cross, ...); halts (type 7)
carry price -1, 0 or 1, size 0 and direction -1 (LOBSTER's sample-file readme, and its help pages).

A file is read in blocks of :data:`CHUNK_BYTES` (a zip member is decompressed as it is read, never
whole), and every block is checked column by column with numpy before it is kept.  The first bad
row is one :class:`~lxdex_capacity.errors.InputError` naming the file, the line and the column::

    AAPL_message_1.csv: line 12, column 5: price=1e30: must be a whole number of price units (...)

:func:`check_memory` refuses, before anything is read, a file whose parse and replay would not fit
in memory: it reads the sizes from the zip's directory (or the file system), so a small zip that
holds a huge member is refused from its declared size.
"""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np

from ..engine.layout import MAX_PRICE, MAX_QTY
from ..errors import InputError
from ..inputs import open_input
from ..memory_guard import refuse_unless_it_fits

__all__ = [
    "Messages", "Source", "locate", "read_messages", "read_orderbook", "check_memory", "estimate_bytes",
    "MESSAGE_TYPES", "MESSAGE_COLUMNS", "EMPTY_PRICE", "MAX_PRICE", "MAX_QTY", "DAY_SECONDS", "MAX_ORDER_ID",
    "PEAK_BYTES_PER_INPUT_BYTE", "CHUNK_BYTES",
]

MESSAGE_TYPES = {1: "new limit order", 2: "partial cancel", 3: "deletion", 4: "visible execution",
                 5: "hidden execution", 6: "cross trade", 7: "trading halt"}
MESSAGE_COLUMNS = ("time", "type", "order id", "size", "price", "direction")
BOOK_COLUMNS = ("ask price", "ask size", "bid price", "bid size")
EMPTY_PRICE = 9_999_999_999  # an empty level's price in an orderbook file (+ asks, - bids)
DAY_SECONDS = 86_400  # times are seconds after midnight: 0 to 86,400
MAX_ORDER_ID = 2**53  # the largest id a float64 parse holds exactly (LOBSTER's ids are near 3e8)

CHUNK_BYTES = 1 << 20  # bytes read (and decompressed) and parsed at a time: some 25,000 message rows
MAX_LINE_BYTES = 1 << 20  # a longer line is not a LOBSTER row (1,000 levels take some 40 kB)

# Peak bytes ``lxdex calibrate`` holds (parse both files, replay with the orderbook check, fit), per
# byte of CSV it reads (message plus orderbook, uncompressed); ``lxdex replay`` holds less.  Measured
# (Python 3.11, numpy 2.4) around read_messages + read_orderbook + replay + calibrate, after a warm-up,
# with tracemalloc (numpy reports its buffers to it) and as the growth of the process's peak RSS:
#                                                                    tracemalloc   peak RSS
#   the five LOBSTER sample days (2012-06-21; 3 to 25 MB, 1 and 5 levels)  1.7-3.0    1.9-3.5
#   dense synthetic days: millisecond times, $1-$10 prices, 1-digit sizes,
#   1 level, every message a resting new order (the most rows per byte, the
#   largest book, every row in the size fit); 1e5, 1e6 and 3e6 rows      3.0-3.6    3.1-3.7
# Memory follows rows: some 80 bytes per message (parsed columns, the id index, the engine, the fit's
# temporaries) and 8 per orderbook cell, plus about 8 MB for the block being parsed.  4.0 covers the
# densest case; rows shorter than LOBSTER writes could exceed it, and then an allocation that fails is
# a CapacityError too (lxdex_capacity.cli.data).
PEAK_BYTES_PER_INPUT_BYTE = 4.0

_ALLOWED = np.zeros(256, dtype=np.bool_)  # bytes a numeric CSV line may hold
_ALLOWED[np.frombuffer(b"0123456789.,+-eE \t\r\n", dtype=np.uint8)] = True
_NL, _CR, _COMMA = ord("\n"), ord("\r"), ord(",")


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


# --- where the text comes from -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A LOBSTER table to read: a CSV file, or the ``kind`` member of a zip."""

    path: Path
    kind: str  # "message" or "orderbook"
    member: str | None = None  # the member's name inside a zip
    size: int = 0  # bytes of CSV text: the file's size, or the member's uncompressed size (zip directory)
    packed: int = 0  # a zip member's compressed size

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member is not None else str(self.path)

    def describe(self) -> str:
        """``name (X MB of CSV[, Y MB compressed])``, for the memory guard's message."""
        packed = f", {_mb(self.packed)} compressed" if self.member is not None else ""
        return f"{self.name} ({_mb(self.size)} of CSV{packed})"

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The table's bytes; the file is opened as every input is (:func:`~lxdex_capacity.inputs.open_input`),
        so a path swapped for a device or a pipe since :func:`locate` looked is refused, not read."""
        with open_input(self.path, f"{self.kind} file") as file:
            if self.member is None:
                yield file
            else:
                with zipfile.ZipFile(file) as archive, archive.open(self.member) as handle:
                    yield handle


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _mb(n: int) -> str:
    """A byte count for people: kB below a megabyte, else MB."""
    return f"{n / 1e3:,.1f} kB" if n < 1e6 else f"{n / 1e6:,.1f} MB"


# What reading a file or a zip member may raise that is the file's fault: a damaged or truncated zip
# (BadZipFile, zlib.error, EOFError), an encrypted member (RuntimeError), a compression zipfile lacks
# (NotImplementedError), or the file system's refusal (OSError).
_READ_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)


def _unreadable(kind: str, name: str, exc: BaseException) -> InputError:
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return InputError(f"{kind} file {name!r} cannot be read: {detail}")


def locate(path: str | Path | Source, kind: str) -> Source:
    """The ``kind`` (``"message"`` or ``"orderbook"``) table at ``path``: the CSV file itself, or the one
    ``*kind*.csv`` member of a zip.  Reads only the zip's directory, not its content."""
    if isinstance(path, Source):
        return path
    path = Path(path)
    what = f"{kind} file"
    with open_input(path, what) as file:  # a device, a pipe or a folder is refused here, unread
        try:
            if zipfile.is_zipfile(file):
                with zipfile.ZipFile(file) as archive:
                    infos = [i for i in archive.infolist() if not i.is_dir()
                             and kind in PurePosixPath(i.filename).name.lower() and i.filename.lower().endswith(".csv")]
                if len(infos) != 1:
                    found = f"found {len(infos)}" + (f": {', '.join(i.filename for i in infos)}" if infos else "")
                    raise InputError(f"{path}: expected one *{kind}*.csv inside the zip, {found}")
                info = infos[0]
                return Source(path, kind, info.filename, info.file_size, info.compress_size)
            file.seek(0)
            magic = file.read(4)
            if magic[:2] == b"PK":
                raise InputError(f"{what} {str(path)!r} is a damaged zip file (its directory is missing: truncated?)")
            if magic[:2] == b"\x1f\x8b":
                raise InputError(f"{what} {str(path)!r} is gzip-compressed: lxdex reads LOBSTER CSV files and zips; "
                                 "decompress it first")
            return Source(path, kind, None, os.fstat(file.fileno()).st_size)
        except _READ_ERRORS as exc:
            raise _unreadable(kind, str(path), exc) from None


# --- the memory guard ----------------------------------------------------------------------------


def estimate_bytes(sources: Sequence[Source]) -> int:
    """Peak bytes to parse ``sources`` and replay and calibrate on them (:data:`PEAK_BYTES_PER_INPUT_BYTE`)."""
    return int(PEAK_BYTES_PER_INPUT_BYTE * sum(s.size for s in sources))


def check_memory(sources: Sequence[Source], doing: str, force: bool = False) -> int:
    """Refuse (:class:`~lxdex_capacity.errors.CapacityError`, naming the estimate) before anything is read
    if ``doing`` (``"replaying"``) ``sources`` would not fit in the memory available; return the estimate."""
    needed = estimate_bytes(sources)
    what = f"{doing} {' with '.join(s.describe() for s in sources)} needs"
    refuse_unless_it_fits(needed, what, "split the day into shorter files, use a machine with more memory, or --force",
                          force)
    return needed


# --- CSV blocks ----------------------------------------------------------------------------------


@dataclass
class _Block:
    """Whole lines of a file: their text, and the numbers of the leading lines that are well formed."""

    first_line: int  # the line number of row 0
    data: memoryview
    starts: np.ndarray  # each line's first byte
    ends: np.ndarray  # each line's end (before "\n" or "\r\n")
    values: np.ndarray  # float64 (rows, columns): the lines before the first malformed one
    pending: InputError | None  # what is wrong with the line after ``values``, raised once they are checked

    def text(self, row: int) -> str:
        return bytes(self.data[self.starts[row]:self.ends[row]]).decode("ascii", errors="replace")

    def field(self, row: int, col: int) -> str:
        cells = self.text(row).split(",")
        return cells[col].strip() if col < len(cells) else ""


class _Table:
    """The rows of a LOBSTER CSV, block by block, with its structure checked: ASCII numbers only,
    ``columns`` fields on every line (None: as many as on line 1, a multiple of 4), no blank lines."""

    def __init__(self, source: Source, columns: int | None, label: Callable[[int], str]):
        self.source = source
        self.name = source.name
        self.columns = columns
        self.label = label

    def _chunks(self) -> Iterator[bytes]:
        try:
            with self.source.open() as handle:
                while True:
                    try:
                        chunk = handle.read(CHUNK_BYTES)
                    except _READ_ERRORS as exc:
                        raise _unreadable(self.source.kind, self.name, exc) from None
                    if not chunk:
                        return
                    yield chunk
        except _READ_ERRORS as exc:  # opening it
            raise _unreadable(self.source.kind, self.name, exc) from None

    def _whole_lines(self) -> Iterator[memoryview]:
        """The file in pieces of whole lines, each ending with a newline (added to a last line without one)."""
        carry = b""
        lines = 0
        for chunk in self._chunks():
            if carry:
                chunk = carry + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                carry = chunk
                if len(carry) > MAX_LINE_BYTES:
                    raise InputError(f"{self.name}: line {lines + 1} is longer than {MAX_LINE_BYTES >> 20} MiB: "
                                     "not a LOBSTER file")
                continue
            carry = chunk[cut:]
            piece = memoryview(chunk)[:cut]
            lines += chunk.count(b"\n", 0, cut)
            yield piece
        if carry:
            yield memoryview(carry + b"\n")

    def blocks(self) -> Iterator[_Block]:
        line = 1
        empty = True
        for data in self._whole_lines():
            empty = False
            block = self._parse(data, line)
            line += len(block.starts)
            yield block
        if empty:
            raise InputError(f"{self.name}: the file is empty")

    def _at(self, line: int, col: int, value: str, what: str) -> InputError:
        value = value if len(value) <= 40 else value[:37] + "..."
        return InputError(f"{self.name}: line {line}, column {col + 1}: {self.label(col)}={value}: {what}")

    def _parse(self, data: memoryview, first_line: int) -> _Block:
        a = np.frombuffer(data, dtype=np.uint8)
        nl = np.flatnonzero(a == _NL)
        starts = np.empty_like(nl)
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
        ends = nl.copy()
        crlf = (nl > starts) & (a[np.maximum(nl - 1, 0)] == _CR)
        ends[crlf] -= 1
        block = _Block(first_line, data, starts, ends, np.empty((0, self.columns or 0)), None)
        problems: list[tuple[int, InputError]] = []  # (line index in the block, what is wrong)

        # A byte no number holds, or a carriage return that does not end a line.
        bad = np.flatnonzero(~_ALLOWED[a])
        cr = np.flatnonzero(a == _CR)
        stray = cr[a[cr + 1] != _NL]
        if len(bad) or len(stray):
            p = int(min(bad[0] if len(bad) else len(a), stray[0] if len(stray) else len(a)))
            row = int(np.searchsorted(nl, p))
            col = int(np.count_nonzero(a[starts[row]:p] == _COMMA))
            if a[p] == _CR:
                error = InputError(f"{self.name}: line {first_line + row}, column {col + 1}: a carriage return inside "
                                   "the line (old Mac line endings?); LOBSTER lines end with a newline")
            elif a[p] >= 0x7f or a[p] < 0x20:
                cell = bytes(data[starts[row]:ends[row]]).split(b",")[col].strip()[:40]
                value = "".join(chr(c) if 0x20 <= c < 0x7f else f"\\x{c:02x}" for c in cell)
                kind = "is not ASCII" if a[p] >= 0x80 else "is a control character"
                error = self._at(first_line + row, col, value, f"not a number (byte 0x{a[p]:02x} {kind}; not a CSV file?)")
            else:
                value = block.field(row, col)
                if value.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                    what = "not a finite number"
                elif first_line + row == 1 and re.search("[A-Za-z]", value):
                    what = "not a number (a header row? LOBSTER files have none)"
                else:
                    what = "not a number"
                error = self._at(first_line + row, col, repr(value), what)
            problems.append((row, error))

        # Every line: the same number of fields, none blank.
        commas = np.flatnonzero(a == _COMMA)
        fields = np.searchsorted(commas, nl) - np.searchsorted(commas, starts) + 1
        if self.columns is None:
            self.columns = self._book_columns(block, int(fields[0]))
        wrong = np.flatnonzero(fields != self.columns)
        if len(wrong):
            row = int(wrong[0])
            problems.append((row, self._wrong_columns(block, row, int(fields[row]))))

        row_end = min((r for r, _ in problems), default=len(nl))
        values, number_problem = self._numbers(data, starts, row_end, first_line)
        if number_problem is not None:
            problems.append(number_problem)
        block.values = values
        block.pending = min(problems, key=lambda p: p[0])[1] if problems else None
        return block

    def _book_columns(self, block: _Block, fields: int) -> int:
        """The column count of an orderbook file, from its line 1: 4 per level, as its name says."""
        if not block.text(0).strip():
            raise InputError(f"{self.name}: line 1 is blank; LOBSTER files have no blank lines")
        if fields % 4:
            raise InputError(f"{self.name}: line 1 has {fields} columns; an orderbook row holds 4 columns per level "
                             "(ask price, ask size, bid price, bid size)")
        named = re.search(r"orderbook_(\d+)\.csv$", PurePosixPath(self.name).name, flags=re.IGNORECASE)
        if named and int(named.group(1)) * 4 != fields:
            raise InputError(f"{self.name}: line 1 has {fields} columns ({_count(fields // 4, 'level')}) but the file's "
                             f"name says {_count(int(named.group(1)), 'level')} ({4 * int(named.group(1))} columns)")
        return fields

    def _wrong_columns(self, block: _Block, row: int, fields: int) -> InputError:
        line = block.first_line + row
        if not block.text(row).strip():
            return InputError(f"{self.name}: line {line} is blank; LOBSTER files have no blank lines")
        if self.source.kind == "message":
            return InputError(f"{self.name}: line {line} has {fields} columns; a LOBSTER message file has 6 "
                              f"({', '.join(MESSAGE_COLUMNS)})")
        return InputError(f"{self.name}: line {line} has {fields} columns but line 1 has {self.columns}: "
                          "every orderbook row holds the same levels")

    def _numbers(self, data: memoryview, starts: np.ndarray, rows: int,
                 first_line: int) -> tuple[np.ndarray, tuple[int, InputError] | None]:
        """The numbers of the block's first ``rows`` lines (all well formed), and the first field that is
        not a number, if any (the rows before it are returned)."""
        assert self.columns is not None
        if rows == 0:
            return np.empty((0, self.columns)), None
        end = int(starts[rows]) if rows < len(starts) else len(data)
        try:
            return self._loadtxt(data[:end]), None
        except ValueError:
            pass
        # Find the field numpy refused, then read the lines before it.
        text = str(data[:end], "ascii")
        for row, line in enumerate(text.split("\n")[:rows]):
            for col, cell in enumerate(line.split(",")):
                try:
                    float(cell)
                except ValueError:
                    error = self._at(first_line + row, col, repr(cell.strip()), "not a number")
                    end = int(starts[row])
                    return (self._loadtxt(data[:end]) if row else np.empty((0, self.columns))), (row, error)
        raise InputError(f"{self.name}: lines {first_line} to {first_line + rows - 1} hold a value that is not a number")

    def _loadtxt(self, data: memoryview) -> np.ndarray:
        # From bytes: numpy decodes them as it goes (a str in a StringIO would take 4 bytes a character).
        return np.loadtxt(io.BytesIO(data), delimiter=",", comments=None, dtype=np.float64, ndmin=2, encoding="ascii")


# --- the checks ----------------------------------------------------------------------------------


_Check = tuple[int, np.ndarray, str | Callable[[int], str]]  # (column, bad rows, what is wrong)


def _first_problem(block: _Block, table: _Table, checks: list[_Check]) -> InputError | None:
    """The problem of the first bad row (the leftmost column, then the first check, on a tie)."""
    best: tuple[int, int, int] | None = None
    for order, (col, bad, _) in enumerate(checks):
        if bad.any():
            row = int(np.argmax(bad))
            if best is None or (row, col, order) < best:
                best = (row, col, order)
    if best is None:
        return None
    row, col, order = best
    what = checks[order][2]
    return table._at(block.first_line + row, col, block.field(row, col), what if isinstance(what, str) else what(row))


def _check_messages(block: _Block, table: _Table, v: np.ndarray, previous_time: float) -> None:
    t, kind, oid, size, price, direction = (v[:, c] for c in range(6))
    finite = np.isfinite(v)
    whole = v == np.floor(v)
    book = (kind >= 1) & (kind <= 5)  # events on a limit order: a size of at least 1 and a real price
    earlier = np.empty(len(t), dtype=np.bool_)
    earlier[0] = t[0] < previous_time
    earlier[1:] = t[1:] < t[:-1]

    def not_before(row: int) -> str:
        before = float(t[row - 1]) if row else previous_time
        return f"earlier than the line before ({before!r}): times must not decrease"

    def size_floor(row: int) -> str:
        return f"a {MESSAGE_TYPES[int(kind[row])]} (type {int(kind[row])}) needs a size of at least 1"

    checks: list[_Check] = [(c, ~finite[:, c], "not a finite number") for c in range(6)]
    checks += [
        (0, (t < 0) | (t > DAY_SECONDS), f"must be seconds after midnight, from 0 to {DAY_SECONDS:,}"),
        (0, earlier, not_before),
        (1, ~np.isin(kind, list(MESSAGE_TYPES)), "must be a LOBSTER event type, a whole number from 1 to 7"),
        (2, ~whole[:, 2], "must be a whole number"),
        (2, (oid < 0) & (kind != 6), "must be 0 or more (only cross trades, type 6, carry negative ids)"),
        (2, np.abs(oid) > MAX_ORDER_ID, f"must be at most 2**53 = {MAX_ORDER_ID:,} (the largest id read exactly)"),
        (3, ~whole[:, 3], "must be a whole number of shares"),
        (3, book & (size < 1), size_floor),
        (3, size < 0, "must be 0 or more"),
        (3, size > MAX_QTY, f"must be at most {MAX_QTY:,} (the engine's largest quantity)"),
        (4, ~whole[:, 4], "must be a whole number (dollars x 10000)"),
        (4, book & ((price < 1) | (price > MAX_PRICE)),
         f"must be from 1 to {MAX_PRICE:,} (dollars x 10000), the engine's price range"),
        (4, (kind == 6) & ((price < 0) | (price > MAX_PRICE)), f"a cross trade's price must be from 0 to {MAX_PRICE:,}"),
        (4, (kind == 7) & ((price < -1) | (price > MAX_PRICE)) & (np.abs(price) != EMPTY_PRICE),
         "a trading halt's price must be -1, 0 or 1 (halt, quoting, resume)"),
        (5, (direction != 1) & (direction != -1), "must be 1 (buy) or -1 (sell)"),
    ]
    problem = _first_problem(block, table, checks)
    if problem is not None:
        raise problem


def _check_orderbook(block: _Block, table: _Table, v: np.ndarray) -> None:
    columns = v.shape[1]
    finite = np.isfinite(v)
    whole = v == np.floor(v)
    price, size = v[:, 0::2], v[:, 1::2]  # (ask price, bid price, ...), (ask size, bid size, ...)
    empty = np.abs(price) == EMPTY_PRICE
    # Each check as a (rows, columns) mask: the first bad row is found row-major, the leftmost column first.
    masks: list[tuple[np.ndarray, str]] = [(~finite, "not a finite number"), (~whole, "must be a whole number")]
    bad_price = np.zeros_like(finite)
    bad_price[:, 0::2] = ~empty & ((price < 1) | (price > MAX_PRICE))
    masks.append((bad_price, f"must be from 1 to {MAX_PRICE:,} (dollars x 10000), or the empty-level sentinel "
                             f"+-{EMPTY_PRICE}"))
    bad_size = np.zeros_like(finite)
    bad_size[:, 1::2] = (size < 0) | (size > MAX_QTY)
    masks.append((bad_size, f"must be from 0 to {MAX_QTY:,} (the engine's largest quantity)"))
    sized_empty = np.zeros_like(finite)
    sized_empty[:, 1::2] = empty & (size != 0)
    masks.append((sized_empty, f"must be 0 on an empty level (price +-{EMPTY_PRICE})"))
    best: tuple[int, int, int] | None = None
    for order, (mask, _) in enumerate(masks):
        flat = mask.reshape(-1)
        if flat.any():
            row, col = divmod(int(np.argmax(flat)), columns)
            if best is None or (row, col, order) < best:
                best = (row, col, order)
    if best is not None:
        row, col, order = best
        raise table._at(block.first_line + row, col, block.field(row, col), masks[order][1])


# --- the readers ---------------------------------------------------------------------------------


def read_messages(path: str | Path | Source) -> Messages:
    """Parse a message file (or the message member of a zip), checking every row column by column."""
    start = time.perf_counter()
    source = locate(path, "message")
    table = _Table(source, 6, lambda col: MESSAGE_COLUMNS[col])
    parts: list[list[np.ndarray]] = [[] for _ in range(6)]
    previous_time = -np.inf
    for block in table.blocks():
        v = block.values
        if len(v):
            _check_messages(block, table, v, previous_time)
            previous_time = float(v[-1, 0])
            parts[0].append(v[:, 0].copy())
            parts[1].append(v[:, 1].astype(np.int8))
            parts[2].append(v[:, 2].astype(np.int64))
            parts[3].append(v[:, 3].astype(np.int64))
            parts[4].append(v[:, 4].astype(np.int64))
            parts[5].append(np.where(v[:, 5] > 0, 0, 1).astype(np.int8))
        if block.pending is not None:
            raise block.pending
    columns = []
    for pieces in parts:  # one column at a time, each block's piece let go as the column is joined
        columns.append(np.concatenate(pieces))
        pieces.clear()
    time_, kind, ids, size, price, side = columns
    unique, dense = np.unique(ids, return_inverse=True)
    return Messages(time=time_, type=kind, order_id=ids, order_index=dense.astype(np.int64, copy=False), n_ids=len(unique),
                    size=size, price=price, side=side, source=source.name, parse_seconds=time.perf_counter() - start)


def _book_label(col: int) -> str:
    return f"{BOOK_COLUMNS[col % 4]} {col // 4 + 1}"


def read_orderbook(path: str | Path | Source, rows: int, levels: int | None = None) -> np.ndarray:
    """Parse an orderbook file into int64 (rows, 4 x levels), each row checked; its rows must match the
    message file's (``rows``), and it must hold at least ``levels`` (default: all it holds)."""
    source = locate(path, "orderbook")
    table = _Table(source, None, _book_label)
    book: np.ndarray | None = None
    filled = 0
    for block in table.blocks():
        v = block.values
        if book is None:
            assert table.columns is not None
            available = table.columns // 4
            if levels is not None and levels > available:
                raise InputError(f"levels={levels} but {source.name} holds only {available} level(s)")
            book = np.empty((rows, 4 * (levels or available)), dtype=np.int64)
        take = min(len(v), rows - filled)
        if take:
            _check_orderbook(block, table, v[:take])
            book[filled:filled + take] = v[:take, : book.shape[1]]
            filled += take
        if take < len(v):
            raise InputError(f"{source.name}: line {rows + 1}: more rows than the message file's {rows:,}: they must be "
                             "the same day's pair")
        if block.pending is not None:
            raise block.pending
    if filled != rows or book is None:
        raise InputError(f"{source.name}: {_count(filled, 'row')} but the message file has {_count(rows, 'row')}: they "
                         "must be the same day's pair")
    return book
