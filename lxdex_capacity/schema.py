"""The one validation layer for the files lxdex reads: scenario, hardware, model and claims files and
saved results are parsed here (TOML or JSON) and checked by pydantic models built on :class:`FileModel`.

A file model is strict (``true`` is not a number, ``"1"`` is not an integer, ``2.0`` is not an
integer), forbids unknown keys, refuses NaN and infinities anywhere (``allow_inf_nan=False``, so
``1e999`` is refused too, which parses as infinity), and states each field's physical range with the
annotated types below.  Whatever is wrong becomes one :class:`~lxdex_capacity.errors.InputError`
line naming the file, the key path (``machine[0].memory_gib[1]``) and, for TOML, the line::

    hw.toml: line 4: machine[0].memory_gib[0]=inf: input should be a finite number

LOBSTER files are CSV tables of millions of rows; they are checked column by column with numpy in
:mod:`lxdex_capacity.replay.lobster`, with the same kind of message.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .errors import InputError
from .inputs import open_input

__all__ = [
    "FileModel", "FILE_CONFIG", "validate", "error_message", "error_at", "at_least", "read_toml", "read_json", "read_text",
    "Finite", "NonNegative", "Positive", "Share", "OpenShare", "Count", "PositiveCount", "Name", "one_line_text",
]

FILE_CONFIG = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class FileModel(BaseModel):
    """Base of every file schema: strict types, no unknown keys, finite numbers only, immutable."""

    model_config = FILE_CONFIG


# Numbers as files may hold them.  Every float is finite (FILE_CONFIG); these add the range.
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]  # a fraction, 0 and 1 included
OpenShare = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]  # a fraction strictly between 0 and 1
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]  # fits an int64
PositiveCount = Annotated[int, Field(ge=1, le=2**63 - 1)]
def one_line_text(value: str) -> str:
    """A text shown in one line of output: not blank, no control characters (a newline would forge a line)."""
    if not value.strip():
        raise ValueError("must not be blank")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be one line of text, without control characters")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line_text)]

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, origin: str, text: str | None = None) -> M:
    """``data`` checked by ``model``; any problem is one :class:`InputError` naming ``origin`` and the key
    (and the line, when ``text`` is the TOML it was parsed from)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(error_message(exc, origin, model, text)) from None


def at_least(*fields: str, than: str) -> Any:
    """A field validator for ``fields`` (declared after ``than``): none may be below ``than``'s value, as a
    tier's ``high`` not below its ``low``."""

    def check(cls: type, value: Any, info: ValidationInfo) -> Any:
        bound = info.data.get(than)
        if bound is not None and value < bound:
            raise ValueError(f"must be at least {than}={bound!r}")
        return value

    return field_validator(*fields)(classmethod(check))


def error_at(loc: tuple[int | str, ...], value: Any, message: str) -> ValidationError:
    """An error at ``loc`` inside the field a validator checks: raised there, pydantic puts the field's own
    path before ``loc`` (``machine[0].memory_gib`` + ``[1]``), so the message names the very element."""
    kind = PydanticCustomError("value_error", "{message}", {"message": message})
    return ValidationError.from_exception_data("file", [InitErrorDetails(type=kind, loc=loc, input=value)])


# pydantic's wording where it would name our classes ("a valid dictionary or instance of Tier").
_TABLE_KINDS = {"model_type", "dict_type", "model_attributes_type"}


def error_message(exc: ValidationError, origin: str | None = None, model: type[BaseModel] | None = None,
                  text: str | None = None) -> str:
    """The first error of ``exc`` as one line: ``origin: line N: key.path=value: what is wrong``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    key = _path(loc)
    kind = first["type"]
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1]) if model is not None else []
        where = f" in {_path(loc[:-1])}" if loc[:-1] else ""
        message = f"unknown key {str(loc[-1])!r}{where}" + (f" (known: {', '.join(known)})" if known else "")
    elif kind == "missing":
        message = f"{key} is required"
    else:
        msg = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind in _TABLE_KINDS and "valid dictionary" in msg:
            msg = "must be a table of keys"
        msg = msg[:1].lower() + msg[1:]
        message = f"{key}={_short(first.get('input'))}: {msg}" if key else msg
    line = _line_of(text, loc) if text is not None else None
    parts = [p for p in (origin, f"line {line}" if line else None, message) if p]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ": ".join(parts) + more


# Scenario, hardware, model and claims files and saved results are kilobytes; a larger file is not one of them
# (and /dev/zero would never end).  LOBSTER files are streamed by their own reader.
MAX_FILE_BYTES = 256 << 20


def read_text(path: str | Path, what: str, hint: str = "") -> str:
    """The text of a user's ``what`` file (``"scenario file"``, ...), or one ``InputError`` saying why not:
    missing, not a regular file (a folder, a device, a named pipe: :func:`~lxdex_capacity.inputs.open_input`
    refuses them before reading), larger than :data:`MAX_FILE_BYTES`, not UTF-8, unreadable."""
    with open_input(path, what, hint) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise InputError(f"{what} {str(path)!r} holds {size:,} bytes, more than any {what} "
                                 f"({MAX_FILE_BYTES >> 20} MiB at most)")
            data = handle.read(MAX_FILE_BYTES + 1)  # bounded: a file in /proc says size 0, one may grow meanwhile
        except OSError as exc:
            if isinstance(exc, IsADirectoryError):
                raise InputError(f"{what} {str(path)!r} is a directory, not a file{hint}") from None
            raise InputError(f"{what} {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{what} {str(path)!r} holds more than {MAX_FILE_BYTES >> 20} MiB, more than any {what}")
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode reads
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start})") from None


def read_toml(text: str, origin: str) -> dict[str, Any]:
    """The TOML document ``text``; a syntax error names ``origin`` and the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{origin}: malformed TOML: {exc}") from None
    except RecursionError:
        raise InputError(f"{origin}: TOML nested too deeply") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"key {key!r} appears twice in one object")
    return dict(pairs)


def read_json(text: str, origin: str) -> Any:
    """The JSON document ``text``, strictly: NaN and Infinity (which Python's json would accept) are
    refused; a syntax error names ``origin``, the line and the column."""
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        if "appears twice" in str(exc):
            raise InputError(f"{origin}: {exc}") from None
        found = re.search(r"(?<![\w\"])-?(NaN|Infinity)(?![\w\"])", text)
        line = f"line {text.count(chr(10), 0, found.start()) + 1}: " if found else ""
        raise InputError(f"{origin}: {line}{exc} (JSON has no NaN or infinity)") from None
    except RecursionError:
        raise InputError(f"{origin}: JSON nested too deeply") from None


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``annotation`` (``list[M]``, ``M | None``, ``tuple[M, ...]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap_model(typing.get_args(annotation)[0])
    if origin in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap_model(arg)
            if found is not None:
                return found
    return None


def _known_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys the table at ``loc`` may hold, following ``model``'s fields."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = _unwrap_model(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best effort: the line of ``text`` (TOML) where the key at ``loc`` is set, e.g. the ``memory_gib``
    line of the second ``[[machine]]`` table."""
    if not loc or not isinstance(loc[0], str):
        return None
    lines = text.splitlines()
    start, stop = 0, len(lines)
    key = loc[0]
    if len(loc) >= 3 and isinstance(loc[1], int) and isinstance(loc[2], str):
        headers = [i for i, line in enumerate(lines) if re.match(rf"\s*\[\[\s*{re.escape(loc[0])}\s*\]\]", line)]
        if loc[1] >= len(headers):
            return None
        start = headers[loc[1]] + 1
        following = [i for i, line in enumerate(lines) if i >= start and re.match(r"\s*\[", line)]
        stop = following[0] if following else len(lines)
        key = loc[2]
    else:  # a top-level key: before the first table
        tables = [i for i, line in enumerate(lines) if re.match(r"\s*\[", line)]
        stop = tables[0] if tables else len(lines)
    pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for i in range(start, stop):
        if pattern.match(lines[i]):
            return i + 1
    return None
