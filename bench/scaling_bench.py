#!/usr/bin/env python3
"""The sweep's scaling measurement alone: orders/s with 1..K threads at one size, into a model file.

    python bench/scaling_bench.py --markets 21000 --threads-up-to 2 --repeat 3
    python bench/scaling_bench.py --markets 21000 --repeat 3 --into lxdex_capacity/capacity/data/reference_model.json

This is what ``lxdex sweep`` measures after its points (:func:`lxdex_capacity.capacity.sweep.measure_scaling`):
the default scenario at ``--markets`` markets (seeds seed..seed+repeat-1), each run a fresh process pinned
to as many cores as it has threads, the thread counts interleaved, and every thread count of a seed
checked to make the same trades.  With ``--into`` the curve becomes that model's ``scaling`` section
(a model swept before the curve was measured, the reference model say, gets one without sweeping
again), and its provenance records this command (``scaling_command``), when and where it ran.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lxdex_capacity.atomic import write_text_atomic
from lxdex_capacity.capacity.model import CapacityModel
from lxdex_capacity.capacity.sweep import check_scaling, measure_scaling
from lxdex_capacity.cli.render.capacity import print_scaling
from lxdex_capacity.console import compile_step
from lxdex_capacity.machine import machine_info, usable_cores
from lxdex_capacity.scenarios.config import Scenario
from lxdex_capacity.schema import read_json, read_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--threads-up-to", type=int, default=usable_cores())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--into", type=Path, help="a model file to add the scaling section to (rewritten whole)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if min(args.markets, args.trades, args.repeat) < 1 or args.threads_up_to < 2 or args.seed < 0:
        parser.error("--markets, --trades and --repeat must be at least 1, --threads-up-to at least 2, --seed at least 0")
    check_scaling(args.threads_up_to, args.markets)
    # The file as it is, checked before anything runs; written back with the scaling section and its
    # provenance only, every other key as it was.
    model = read_json(read_text(args.into, "model file"), str(args.into)) if args.into else None
    if model is not None:
        CapacityModel.from_dict(model, str(args.into))
    compile_step()
    began = time.perf_counter()
    base = Scenario(markets=args.markets, trades=args.trades, seed=args.seed)
    scaling = measure_scaling(base, args.markets, args.threads_up_to, args.repeat,
                              advance=lambda label: print(f"{label} ({time.perf_counter() - began:,.0f} s)", file=sys.stderr))
    if args.into and model is not None:
        command = (f"python bench/scaling_bench.py --markets {args.markets} --trades {args.trades} --threads-up-to {args.threads_up_to} "
                   f"--repeat {args.repeat} --seed {args.seed} --into {args.into}")
        provenance = model["provenance"] | {"scaling_command": command,
                                            "scaling_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                            "scaling_machine": machine_info().summary()}
        data = model | {"scaling": scaling.as_dict(), "provenance": provenance}
        CapacityModel.from_dict(data, str(args.into))  # what plan will read: checked before it is written
        write_text_atomic(args.into, json.dumps(data, indent=2) + "\n")
    if args.json:
        print(json.dumps(scaling.as_dict(), indent=2, allow_nan=False))
    else:
        print_scaling(scaling.as_dict())
        print(f"{machine_info().summary()}; {time.perf_counter() - began:,.0f} s" + (f"; written to {args.into}" if args.into else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
