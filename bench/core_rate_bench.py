#!/usr/bin/env python3
"""The sweep's per-core rate model alone: this machine's memory hierarchy, the engine across working sets, the fit
and its held-out errors, optionally into a model file.

    python bench/core_rate_bench.py
    python bench/core_rate_bench.py --repeat 5 --into lxdex_capacity/capacity/data/reference_model.json

This is what ``lxdex sweep`` measures after its points (:func:`lxdex_capacity.capacity.sweep.measure_core_rate`):
cache sizes from the OS, random-access latency from 16 KiB to past the last cache by pointer chases, the misses one
core keeps in flight, the clock; then ns per order of the default scenario's flow at every ``--working-sets`` size
(``--repeat`` runs each, the sizes interleaved), pinned to one core; the model fitted on all but
``--held-out`` and those predicted, with the error.  With ``--into`` it becomes that model's ``core_rate`` section,
with the bytes per market and per order of that model's fit, and its provenance records this command.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lxdex_capacity.atomic import write_text_atomic
from lxdex_capacity.capacity.core_rate import Access
from lxdex_capacity.capacity.model import CapacityModel, load_model
from lxdex_capacity.capacity.sweep import HELD_OUT_WORKING_SETS, WORKING_SET_ORDERS, WORKING_SETS, measure_core_rate
from lxdex_capacity.cli.render.capacity import print_core_rate
from lxdex_capacity.console import compile_step
from lxdex_capacity.machine import machine_info
from lxdex_capacity.measure import Figure, open_window
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.schema import read_json, read_text


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--working-sets", type=_sizes, default=list(WORKING_SETS))
    parser.add_argument("--held-out", type=_sizes, default=list(HELD_OUT_WORKING_SETS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--orders", type=int, default=WORKING_SET_ORDERS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (Linux; default: the last usable one)")
    parser.add_argument("--into", type=Path, help="a model file to add the core_rate section to (rewritten whole)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.repeat < 1 or args.orders < 1 or len(args.working_sets) - len(args.held_out) < 3:
        parser.error("--repeat and --orders must be at least 1, and at least 3 working sets must be fitted")
    import os

    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {args.cpu if args.cpu is not None else cpus[-1]})
    model = read_json(read_text(args.into, "model file"), str(args.into)) if args.into else None
    fitted = CapacityModel.from_dict(model, str(args.into)) if model is not None else load_model()
    compile_step()
    began = time.perf_counter()
    access = Access.of(fitted.fit.coefficients, Scenario())
    window = open_window()
    figures: dict[str, Figure] = {}
    try:
        core_rate = measure_core_rate(access, args.working_sets, args.held_out, repeat=args.repeat, orders=args.orders, seed=args.seed,
                                      advance=lambda label: print(f"{label} ({time.perf_counter() - began:,.0f} s)", file=sys.stderr),
                                      figures=figures)
    except ValueError as exc:
        print(f"core_rate_bench: {exc}", file=sys.stderr)
        return 1
    state = window.close()
    busy = "; ".join(state.busy_reasons()) or "quiet"
    unsteady = [f"{f.name}: {f.status} ({f.reason})" for f in figures.values() if f.status != "stable"]
    command = (f"python bench/core_rate_bench.py --working-sets {','.join(map(str, args.working_sets))} --held-out "
               f"{','.join(map(str, args.held_out))} --repeat {args.repeat} --orders {args.orders} --seed {args.seed}")
    if args.into and model is not None:
        provenance = model["provenance"] | {"core_rate_command": command + f" --into {args.into}",
                                            "core_rate_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                            "core_rate_machine": machine_info().summary()}
        data = model | {"core_rate": core_rate.as_dict(), "provenance": provenance}
        CapacityModel.from_dict(data, str(args.into))  # what plan will read: checked before it is written
        write_text_atomic(args.into, json.dumps(data, indent=2) + "\n")
    report = core_rate.as_dict() | {"machine": machine_info().summary(), "machine_state": state.as_dict(), "machine_busy": busy,
                                    "figures": {name: f.as_dict() for name, f in figures.items()}, "command": command}
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print_core_rate(report)
        for line in unsteady:
            print(f"  {line}")
        print(f"{machine_info().summary()}; machine over the run: {busy}; {len(unsteady)} of {len(figures)} working sets not stable; "
              f"{time.perf_counter() - began:,.0f} s" + (f"; written to {args.into}" if args.into else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
