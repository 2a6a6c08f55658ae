#!/usr/bin/env python3
"""First-run benchmark: `lxdex simulate` on a fresh install (numba's cache empty), against a warm cache.

    python bench/first_run_bench.py                  # 21,000 markets, 3 cold runs, 3 warm runs
    python bench/first_run_bench.py --runs 5 --warm-runs 1

A fresh install is simulated by pointing NUMBA_CACHE_DIR at a new empty folder for each cold run
(numba keeps every cached kernel there instead of beside the sources); the warm runs reuse the
last cold run's folder.  Each run is `lxdex simulate --markets N --json` in a fresh process.  Per run:

* first result: from starting the process to the first byte of its result on stdout;
* until the run starts: first result less the run's own ``elapsed_s`` (interpreter start-up,
  imports, and on a cold run the compile step, "compiling the engine (first run only)");
* run: ``elapsed_s``, the simulation itself (a cold run's includes loading the kernels its compile
  step left in the cache).

Target from the first-run issue: the first result within 15 s on a fresh install on this machine.
The machine is shared and the figures move with what else runs: each run is printed with the cores
standing idle just before it (sampled for half a second).  A cold run compiles on two processes
when at least 1.5 cores stand idle, else in one (lxdex_capacity.kernel_cache).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_SECONDS = 15.0


def run_once(markets: int, cache_dir: str) -> dict[str, float | str]:
    env = os.environ | {"NUMBA_CACHE_DIR": cache_dir}
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: nothing blocks while stdout is read
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", "from lxdex_capacity.cli import main; main()", "simulate", "--markets", str(markets), "--json"],
            stdout=subprocess.PIPE, stderr=stderr, env=env,
        )
        assert proc.stdout is not None
        first = proc.stdout.read(1)
        first_result = time.perf_counter() - start
        rest = proc.stdout.read()
        proc.wait()
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not first:
            stderr.seek(0)
            raise SystemExit(f"simulate --markets {markets} failed (exit {proc.returncode}): {stderr.read().decode().strip()}")
    report = json.loads(first + rest)
    elapsed = float(report["elapsed_s"])
    return {"first_result_s": first_result, "wall_s": wall, "run_s": elapsed, "start_s": first_result - elapsed,
            "market_checksum": report["market_checksum"], "tape_checksum": report["tape_checksum"]}


def _summary(label: str, runs: list[dict[str, float | str]], key: str) -> str:
    values = [float(r[key]) for r in runs]
    return f"{label} median {statistics.median(values):.1f} s (range {min(values):.1f}-{max(values):.1f})"


def _idle_cores() -> float:
    import psutil

    return (psutil.cpu_count() or 1) * (1 - psutil.cpu_percent(interval=0.5) / 100)


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=21_000)
    parser.add_argument("--runs", type=int, default=3, help="cold runs, each with a fresh empty numba cache")
    parser.add_argument("--warm-runs", type=int, default=3, help="runs with the cache the last cold run left")
    args = parser.parse_args()
    if args.markets < 1 or args.runs < 1 or args.warm_runs < 0:
        parser.error("--markets and --runs must be at least 1, --warm-runs at least 0")
    print(f"`lxdex simulate --markets {args.markets} --json`, {os.cpu_count()} CPUs, load average {_load()} (1, 5, 15 min)")
    print(f"{'run':>4} {'cache':>5} {'idle cores':>10} {'first result s':>15} {'until run starts s':>19} {'run s':>7}")
    cold: list[dict[str, float | str]] = []
    warm: list[dict[str, float | str]] = []
    with tempfile.TemporaryDirectory(prefix="lxdex-first-run-") as root:
        cache = root
        for i in range(args.runs):
            cache = tempfile.mkdtemp(prefix=f"cold{i}-", dir=root)
            idle = _idle_cores()
            cold.append(run_once(args.markets, cache))
            r = cold[-1]
            print(f"{i + 1:>4} {'cold':>5} {idle:>10.1f} {r['first_result_s']:>15.1f} {r['start_s']:>19.1f} {r['run_s']:>7.1f}", flush=True)
        for i in range(args.warm_runs):
            idle = _idle_cores()
            warm.append(run_once(args.markets, cache))
            r = warm[-1]
            print(f"{i + 1:>4} {'warm':>5} {idle:>10.1f} {r['first_result_s']:>15.1f} {r['start_s']:>19.1f} {r['run_s']:>7.1f}", flush=True)
    print(f"cold, {len(cold)} run(s): {_summary('first result', cold, 'first_result_s')}; "
          f"{_summary('until the run starts (start-up, imports, compile step)', cold, 'start_s')}")
    if warm:
        print(f"warm, {len(warm)} run(s): {_summary('first result', warm, 'first_result_s')}; "
              f"{_summary('until the run starts', warm, 'start_s')}")
        compile_s = statistics.median(float(r["start_s"]) for r in cold) - statistics.median(float(r["start_s"]) for r in warm)
        print(f"  the compile step: about {compile_s:.1f} s (cold less warm, medians of 'until the run starts')")
    median = statistics.median(float(r["first_result_s"]) for r in cold)
    print(f"target: first result on a fresh install <= {TARGET_SECONDS:.0f} s: {'pass' if median <= TARGET_SECONDS else 'short'} "
          f"(median {median:.1f} s)")
    checksums = {(r["market_checksum"], r["tape_checksum"]) for r in cold + warm}
    print(f"checksums identical across runs: {len(checksums) == 1}; load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
