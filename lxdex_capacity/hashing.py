"""64-bit hashing for compiled code: the counter-based random numbers and the run's checksums.

Numba functions, callable from other kernels (not from Python).  The mixer is SplitMix64's
finalizer (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014),
whose outputs pass BigCrush for consecutive inputs.  All arithmetic is on uint64: numba would turn
a mixed int64/uint64 expression into float64.
"""

from __future__ import annotations

from numba import njit, uint64

__all__ = ["GOLDEN", "mix", "hash2", "unit", "unit_open0"]

# Called only from compiled code, which inlines them: no Python wrapper, and not cached on their own
# (the kernels calling them are, with their code inside).
_kernel = njit(nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)  # type: ignore[call-overload]  # options numba's stubs omit

GOLDEN = uint64(0x9E3779B97F4A7C15)
_M1 = uint64(0xBF58476D1CE4E5B9)
_M2 = uint64(0x94D049BB133111EB)
_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@_kernel
def mix(z):
    """SplitMix64's finalizer of ``z`` (uint64): a bijection whose every output bit depends on every input bit."""
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@_kernel
def hash2(key, value):
    """A uint64 hash of ``value`` (any integer; negative ones by their two's complement) under ``key``."""
    return mix(uint64(key) ^ mix(uint64(value) * GOLDEN + GOLDEN))


@_kernel
def unit(h):
    """A uniform double in [0, 1) from the 53 high bits of ``h``."""
    return float(h >> uint64(11)) * _UNIT


@_kernel
def unit_open0(h):
    """A uniform double in (0, 1]."""
    return float((h >> uint64(11)) + uint64(1)) * _UNIT
