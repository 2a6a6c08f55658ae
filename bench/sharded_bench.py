#!/usr/bin/env python3
"""Sharded simulation benchmark: N markets on K local Dask workers against one process.

    python bench/sharded_bench.py                              # 10,000,000 markets, 2 workers
    python bench/sharded_bench.py --markets 1000000 --workers 2

Both runs use the block-seeded (shardable) simulation, so their markets must come out identical:
the checksums are printed side by side.  Wall time is the whole command (interpreter, Dask cluster
start-up, building, seeding, trading); peak memory is each worker process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def run(markets: int, trades: int, shards: int) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "from lxdex_capacity.cli import main; main()", "simulate", "--markets", str(markets),
         "--trades", str(trades), "--shards", str(shards), "--json"],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"--shards {shards} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=10_000_000)
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for shards in (1, args.workers):
        report, wall = run(args.markets, args.trades, shards)
        rows.append((shards, report, wall))
        label = "1 process" if shards == 1 else f"{shards} Dask workers"
        print(f"{label}: wall {wall:,.1f} s; engine {report['total']['engine_bytes_used'] / 1e9:,.2f} GB used; "
              f"checksum {report['market_checksum'][:16]}")
        for s in report["per_shard"]:
            print(f"    shard {s['shard']}: {s['markets']:,} markets, {s['resting_orders']:,} resting orders, {s['trades']:,} trades, "
                  f"peak RSS {s['peak_rss_bytes'] / 1e9:,.2f} GB, {s['elapsed_s']:,.1f} s, {s['orders_per_s'] / 1e6:,.2f}M orders/s")
    (_, one, one_wall), (_, many, many_wall) = rows
    same = one["market_checksum"] == many["market_checksum"]
    print(f"\nspeed-up {one_wall / many_wall:,.2f}x wall; largest worker peak {max(s['peak_rss_bytes'] for s in many['per_shard']) / 1e9:,.2f} GB "
          f"vs {one['per_shard'][0]['peak_rss_bytes'] / 1e9:,.2f} GB in one process; same markets: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
