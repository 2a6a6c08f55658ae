#!/usr/bin/env python3
"""Figures that hold still: bench, latency and the latency-SLO search on a quiet machine and with every core busy
(one ``while True`` process pinned to each core), interleaved, with each figure's status and verdicts; then
``lxdex compare`` of the two quiet bench runs.

    python bench/stability_bench.py                      # 21,000 markets, two rounds of quiet / busy
    python bench/stability_bench.py --markets 2000 --rounds 1 --quick

Each command runs as a user runs it (``lxdex ... --json`` in a fresh process); the hogs are not its children, so
the measurement discipline sees them as other processes' work, as it would a user's other programs.  What it
prints: per round and condition, the status of every timed figure, the medians with their intervals, and the
verdicts (bench's targets, the SLO's outcome).  The quiet rounds must agree with each other; a busy round must
say "disturbed" / "too noisy to call", never a flipped hold or fail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.hogs import cpu_hogs  # the tests' hogs: detached, one pinned to each core

LXDEX = [sys.executable, "-m", "lxdex_capacity.cli"]


def run(*args: str) -> tuple[dict[str, Any], str]:
    done = subprocess.run([*LXDEX, *args, "--json"], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"lxdex {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout), done.stderr.strip()


def fmt(value: float, unit: str) -> str:
    if unit in ("ns",):
        return f"{value / 1e3:,.1f} µs"
    if value >= 1e6:
        return f"{value / 1e6:,.2f}M"
    return f"{value:,.1f}"


def figure_line(name: str, f: dict[str, Any]) -> str:
    return (f"    {name:<36} {fmt(f['value'], f['unit']):>10} ({fmt(f['low'], f['unit'])}–{fmt(f['high'], f['unit'])}) "
            f"CV {f['cv']:.1%}, {f['repeats']} runs, {f['status']}")


def bench(markets: int, quick: bool, into: Path | None) -> None:
    args = ["bench", "--markets", str(markets)] + (["--trades", "50000", "--repeats", "5"] if quick else [])
    report, stderr = run(*args)
    if into is not None:
        into.write_text(json.dumps(report))
    for key in ("seeded_flow.orders_per_s", "cancel_heavy.messages_per_s", "lookups.lookups_per_s"):
        print(figure_line(key, report["figures"][key]))
    verdicts = ", ".join(f"{k.split('.')[0]}: {t['verdict']}" for k, t in report["targets"].items() if report["figures"][k]["timed"])
    print(f"    targets: {verdicts}")
    if stderr:
        print(f"    stderr: {stderr}")


def latency(markets: int, quick: bool) -> None:
    args = ["latency", "--markets", str(markets), "--rates", "200000,1000000"] + (["--orders-per-rate", "20000", "--repeats", "5"] if quick else [])
    result, stderr = run(*args)
    print(figure_line("capacity_per_s", result["capacity"]))
    for rate in result["rates"]:
        f = rate["figures"]["p99_ns"]
        floor = (rate.get("floor") or {}).get("p99_ns", 0.0)
        print(figure_line(f"p99 at {rate['offered_per_s']:,.0f}/s", f) + f"; floor p99 {floor / 1e3:,.1f} µs")
    if stderr:
        print(f"    stderr: {stderr}")


def slo(markets: int) -> None:
    report, stderr = run("plan", "--markets", str(markets), "--latency-slo", "p99<=50us")
    s = report["latency_slo"]
    cap = s.get("capacity") or {}
    print(f"    SLO outcome: {s['outcome']}; rate {s['rate_per_s']:,.0f}/s (fails at {s['ceiling_per_s'] or 0:,.0f}/s); capacity "
          f"{s['capacity_per_s']:,.0f}/s ({cap.get('status')}); {s['offers']} runs, {s['beyond_per_run']} samples beyond the p99 each")
    if stderr:
        print(f"    stderr: {stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small runs with 5 repeats each (a smoke test of the script)")
    args = parser.parse_args()
    quiet_benches: list[Path] = []
    folder = Path(tempfile.mkdtemp(prefix="lxdex-stability-"))
    for r in range(args.rounds):
        for busy in (False, True):
            print(f"round {r + 1}, {'every core busy (a hog pinned to each)' if busy else 'quiet'}:", flush=True)
            into = None if busy else folder / f"bench-quiet-{r + 1}.json"
            if into is not None:
                quiet_benches.append(into)
            if busy:
                with cpu_hogs():
                    bench(args.markets, args.quick, into)
                    latency(args.markets, args.quick)
                    slo(args.markets)
            else:
                bench(args.markets, args.quick, into)
                latency(args.markets, args.quick)
                slo(args.markets)
    if len(quiet_benches) >= 2:
        print(f"lxdex compare {quiet_benches[0]} {quiet_benches[1]}:", flush=True)
        subprocess.run([*LXDEX, "compare", str(quiet_benches[0]), str(quiet_benches[1])])
    return 0


if __name__ == "__main__":
    sys.exit(main())
