"""Central ``check_*`` helpers for the engine's Python API (order arrays and their arguments): each
raises :class:`InputError` with a ``name=value must ...`` message.  Files are checked by the schema
layer, :mod:`lxdex_capacity.schema`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["check_int", "check_int_array", "check_same_length"]

_INT64_MAX = np.iinfo(np.int64).max


def check_int(name: str, value: Any, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise ``InputError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name}={value!r} must be an integer")
    value = int(value)
    if min_value is not None and value < min_value:
        raise InputError(f"{name}={value} must be at least {min_value}")
    if max_value is not None and value > max_value:
        raise InputError(f"{name}={value} must be at most {max_value}")
    return value


def check_int_array(name: str, values: Any) -> np.ndarray:
    """Return ``values`` as a contiguous 1-D ``int64`` array, or raise ``InputError``.

    Scalars become one-element arrays.  Floats, booleans, objects and 2-D input are refused rather
    than silently truncated: an order book must never guess at a price.
    """
    array = np.asarray(values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise InputError(f"{name} must be a 1-D array, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise InputError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
        raise InputError(f"{name} holds a value above {_INT64_MAX}, the int64 maximum")
    return np.ascontiguousarray(array, dtype=np.int64)


def check_same_length(**arrays: np.ndarray) -> int:
    """Return the common length of ``arrays`` or raise ``InputError`` listing every length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InputError(f"arrays must have equal lengths, got {listed}")
    return next(iter(lengths.values()), 0)
