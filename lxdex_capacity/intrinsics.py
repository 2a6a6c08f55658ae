"""Numba intrinsics for two CPU instructions numba does not expose, for any compiled code of the package.

* ``prefetch_row`` (``llvm.prefetch``): matching across many markets waits on memory, each order's
  market, level and queue sitting in different cold cache lines, one dependent on the next.  A
  batch knows its future orders, so the submit kernel fetches their lines a few orders ahead.
* ``cycle_counter`` (``llvm.readcyclecounter``, the TSC on x86): times single memory accesses
  inside compiled code, where a Python timer's own overhead would be a thousand times larger.
"""

from __future__ import annotations

import llvmlite.ir as ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "cycle_counter"]


@intrinsic
def prefetch_row(typingctx, array, row):
    """Hint the CPU to load the cache line holding ``array[row, 0]`` (read, high locality)."""
    sig = types.void(array, row)

    def codegen(context, builder, signature, args):
        array_type, row_type = signature.args
        view = context.make_array(array_type)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        index = [context.cast(builder, args[1], row_type, types.intp)] + [zero] * (array_type.ndim - 1)
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, index, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn_type = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.prefetch.p0i8")
        # (address, rw=0 read, locality=3 keep in all levels, cache type=1 data)
        builder.call(fn, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def cycle_counter(typingctx):
    """The CPU's cycle (time-stamp) counter as an int64."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        fn_type = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return sig, codegen

