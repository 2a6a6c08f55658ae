#!/usr/bin/env python3
"""Cost-model validation benchmark: fit on small sizes, predict large ones, print the errors.

    python bench/model_bench.py                             # fit on <= 21,000; predict 100,000 and 10,000,000
    python bench/model_bench.py --held-out 100000 --repeat 1   # quicker: 100,000 only

Every point runs in a fresh process (``lxdex sweep``'s runner).  Targets from the capacity issue:
predicting 100,000 markets from points of at most 21,000 misses the measurement by at most 5%;
predicting 10,000,000 by at most 10%.
"""

from __future__ import annotations

import argparse
import time

from lxdex_capacity.capacity.sweep import run_sweep

FIT_SIZES = (1_000, 5_000, 21_000)
TARGET_PCT = {100_000: 5.0, 10_000_000: 10.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", default="100000,10000000", help="comma-separated sizes to predict")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    held_out = [int(s) for s in args.held_out.split(",")]
    start = time.perf_counter()
    result = run_sweep([*FIT_SIZES, *held_out], repeat=args.repeat, fit_up_to=max(FIT_SIZES),
                       advance=lambda i, n, what: print(f"  [{i}/{n}] {what}", flush=True))
    fit = result.validation_fit
    print(f"\nfitted on {len([p for p in result.points if not p.held_out])} points of {', '.join(f'{s:,}' for s in FIT_SIZES)} markets "
          f"(R² {fit.r2:.6f}); {time.perf_counter() - start:.0f} s in all")
    for term, value, lo, hi in zip(("base", "markets", "resting_orders", "trades_retained"), fit.coefficients, fit.ci_low, fit.ci_high, strict=True):
        print(f"  {term:<16} {value:>14,.2f}   95% CI {lo:,.2f} … {hi:,.2f}")
    print(f"\n{'markets':>12} {'predicted MB':>14} {'measured MB':>14} {'error':>8} {'target':>8}  met")
    for v in result.validation:
        target = TARGET_PCT.get(v["markets"])
        met = "—" if target is None else ("yes" if abs(v["error_pct"]) <= target else "NO")
        print(f"{v['markets']:>12,} {v['predicted_bytes'] / 1e6:>14,.2f} {v['measured_bytes'] / 1e6:>14,.2f} "
              f"{v['error_pct']:>+7.2f}% {'' if target is None else f'≤{target:g}%':>8}  {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
