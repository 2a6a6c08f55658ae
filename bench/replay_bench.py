#!/usr/bin/env python3
"""LOBSTER replay benchmark: messages/s applied to the engine, parsing timed separately.

    python bench/replay_bench.py                      # every sample zip in ../shared/data/lobster
    python bench/replay_bench.py --data DIR --repeat 7

Target from the replay issue: at least 5M messages/s applied to the engine.  Each file is parsed
once, then replayed ``repeat`` times without the orderbook check (the figure the target is about)
and ``repeat`` times with it; medians are printed, with the range.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from lxdex_capacity.replay.lobster import read_messages, read_orderbook
from lxdex_capacity.replay.replay import replay

TARGET = 5e6
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lobster"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = sorted(args.data.glob("LOBSTER_SampleFile_*.zip"))
    if not files:
        raise SystemExit(f"no LOBSTER sample zips in {args.data}")
    print(f"{'file':<42} {'messages':>9} {'parse s':>8} {'apply msg/s (median, range)':>34} {'with check msg/s':>18} {'disagree':>8}")
    medians = []
    for path in files:
        messages = read_messages(path)
        book = read_orderbook(path, len(messages))
        plain = [replay(messages).messages_per_s for _ in range(args.repeat)]
        checked = [replay(messages, book) for _ in range(args.repeat)]
        median = statistics.median(plain)
        medians.append(median)
        print(f"{path.name:<42} {len(messages):>9,} {messages.parse_seconds:>8.3f} "
              f"{median / 1e6:>12.2f}M ({min(plain) / 1e6:.2f}–{max(plain) / 1e6:.2f}M) "
              f"{statistics.median(c.messages_per_s for c in checked) / 1e6:>17.2f}M {checked[0].disagreements:>8}")
    overall = statistics.median(medians)
    print(f"\nmedian over files: {overall / 1e6:.2f}M messages/s applied (target >= {TARGET / 1e6:.0f}M: {'met' if overall >= TARGET else 'short'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
