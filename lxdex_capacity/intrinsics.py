"""Numba intrinsics for two CPU instructions numba does not expose, for any compiled code of the package.

* ``prefetch_row`` (``llvm.prefetch``): matching across many markets waits on memory, each order's
  market, level and queue sitting in different cold cache lines, one dependent on the next.  A
  batch knows its future orders, so the submit kernel fetches their lines a few orders ahead.
* ``cycle_counter``: times single memory accesses inside compiled code, where a Python timer's own
  overhead would be a thousand times larger.  On x86-64 it is ``llvm.readcyclecounter``, the TSC
  (``rdtsc``).  On aarch64 (Linux and macOS) it reads the generic timer's virtual count
  (``mrs cntvct_el0``), which user code may always read: older LLVM releases lower
  ``readcyclecounter`` there to the PMU's ``PMCCNTR_EL0``, which Linux and macOS keep from user code
  (SIGILL).  That timer ticks at a fixed rate, coarser than a cycle (24 MHz, a step of ~42 ns, on
  Apple silicon; 1 GHz on Armv8.6 and later cores): callers calibrate ticks per ns
  (:func:`lxdex_capacity.engine.core.cycles_per_ns`) and measure the step
  (``latency._kernels.counter_granularity``) rather than assume either.
"""

from __future__ import annotations

import llvmlite.ir as ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "cycle_counter", "read_counter", "inline_asm"]

# Target triples' architectures (``aarch64-unknown-linux-gnu``, ``arm64-apple-darwin23.0.0``) whose counter is the
# generic timer's virtual count.
_AARCH64 = ("aarch64", "aarch64_be", "arm64", "arm64e")


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


def inline_asm(builder: ir.IRBuilder, text: str, constraints: str) -> ir.Instruction:
    """An int64 from the inline assembly ``text`` (LLVM ``constraints``, e.g. ``=r``), emitted with ``builder`` as
    volatile: never merged with another, nor moved out of a loop.  numba registers the native target's assembly
    printer but not its parser, and LLVM ends the process ("Inline asm not supported by this streamer") when it
    compiles inline assembly it cannot parse: the parser is registered first (registering it again does nothing)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_asmparser()
    return builder.asm(ir.FunctionType(ir.IntType(64), []), text, constraints, [], side_effect=True, name="counter")


def read_counter(builder: ir.IRBuilder) -> ir.Instruction:
    """Emit, with ``builder``, a read of the CPU's counter for the architecture of the module's target triple (the
    process's own when the module has none) as an int64: ``llvm.readcyclecounter`` (``rdtsc`` on x86-64), or
    ``mrs cntvct_el0`` on aarch64."""
    import llvmlite.binding as llvm

    triple = builder.module.triple or llvm.get_process_triple()
    if triple.partition("-")[0].lower() in _AARCH64:
        return inline_asm(builder, "mrs $0, cntvct_el0", "=r")
    fn_type = ir.FunctionType(ir.IntType(64), [])
    fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.readcyclecounter")
    return builder.call(fn, [])


@intrinsic
def cycle_counter(typingctx):
    """The CPU's counter as an int64 (see :func:`read_counter`): the TSC on x86-64, the virtual timer on aarch64."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        return read_counter(builder)

    return sig, codegen
