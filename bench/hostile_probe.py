"""The outside probe of issue 24: what the machine, the environment or a saved file can do to ``lxdex``.

Not a benchmark: a list of hostile cases, each run as a real ``lxdex`` process the way a user would (closed
streams, odd encodings, devices and FIFOs as inputs, resource limits, unbounded requests, hand-edited saved
files, damaged kernel caches, signals mid-write), and judged from outside:

* **traceback**: ``Traceback`` or an unmapped exception on stderr;
* **hang**: still running at the case's time limit (killed);
* **exit**: an exit code other than the case's (2 bad input or a refused size or time, 1 a failed check or
  an output that could not be written, 0 a whole result, 128+n a signal);
* **noise**: more than one line on stderr where one is expected;
* **leftover**: a temporary file or folder left in the output folder or the temporary folder;
* **accepted**: a hostile file or request run as if it were fine (exit 0);
* **half-written**: a JSON output that does not parse; **silent**: a recovery (a damaged cache) that did not say so.

Usage: ``python bench/hostile_probe.py [--lxdex 'PYTHON -m lxdex_capacity'] [--only CLASS] [--json]``.  It prints
one line per case and the counts per class and outcome.  It needs a compiled kernel cache (any earlier run) and
takes a few minutes; it makes its own files in a temporary folder and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOBSTER = Path(__file__).resolve().parents[2] / "shared" / "data" / "lobster"


@dataclass
class Case:
    """One hostile case: ``command`` is a bash command line where ``LXDEX`` stands for the program."""

    kind: str
    name: str
    command: str
    expect: tuple[int, ...]
    timeout_s: float = 120.0
    env: dict[str, str] = field(default_factory=dict)
    one_line: bool = True  # stderr is at most one line (warnings about a busy machine aside)
    setup: Callable[[Path], None] | None = None
    signal_after_s: float | None = None  # send SIGHUP this long after start
    whole_json_stdout: bool = False
    stderr_says: str | None = None  # a line stderr must hold (the one line that tells the user what happened)


@dataclass
class Outcome:
    case: Case
    code: int | None
    seconds: float
    problems: list[str]
    stderr_tail: str


def _edit_json(source: str, target: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        data = json.loads((work / source).read_text())
        edit(data)
        (work / target).write_text(json.dumps(data))
    return setup


def _parent(data: dict, path: str) -> tuple[Any, Any]:
    """The container holding ``path``'s last key (``a.2.b``: keys and list indices) and that key."""
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    return node, int(last) if isinstance(node, list) else last


def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node, key = _parent(data, path)
        node[key] = value
    return edit


def _scale(path: str, factor: float) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node, key = _parent(data, path)
        node[key] = type(node[key])(node[key] * factor)
    return edit


def _damage_cache(how: str, program: str, folder: str) -> Callable[[Path], None]:
    """A copy of a complete kernel cache (``NUMBA_CACHE_DIR``, filled once by a small run) in ``work/folder`` with
    its ``submit`` entries damaged ``how``."""
    def setup(work: Path) -> None:
        pristine = work / "cache-pristine"
        if not pristine.exists():
            subprocess.run(["bash", "-c", f"{program} simulate --markets 100 --trades 1000"], cwd=work, check=True,
                           env={**os.environ, "NUMBA_CACHE_DIR": str(pristine)}, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        cache = work / folder
        shutil.copytree(pristine, cache)
        hits = sorted(cache.rglob("*submit*.nbi" if how.startswith("index") else "*submit*.nbc"))
        if not hits:
            raise RuntimeError(f"no submit entries in {cache}")
        for path in hits:
            data = path.read_bytes()
            if how.endswith("truncated"):
                path.write_bytes(data[: len(data) // 2])
            elif how.endswith("garbage"):
                path.write_bytes(b"\x00garbage" * 16)
            elif how.endswith("empty"):
                path.write_bytes(b"")
    return setup


def _fifo(name: str) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        os.mkfifo(work / name)
    return setup


def cases(work: Path, program: str) -> list[Case]:
    day = LOBSTER / "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip"
    sim = "sim/simulate.json"
    cases = [
        # Streams and encodings.
        Case("streams", "hardware list >&-", "LXDEX hardware list >&-", (1,)),
        Case("streams", "plan --json >&-", "LXDEX plan --markets 21000 --json >&-", (1,)),
        Case("streams", "plan --json | head -c 10", "LXDEX plan --markets 21000 --json | head -c 10 >/dev/null; "
             "exit ${PIPESTATUS[0]}", (141,)),
        Case("streams", "plan --json whole", "LXDEX plan --markets 21000 --json", (0,), whole_json_stdout=True),
        Case("streams", "simulate --json ascii whole", "LXDEX simulate --markets 200 --trades 2000 --json", (0,),
             env={"PYTHONIOENCODING": "ascii"}, whole_json_stdout=True),
        Case("streams", "simulate --out 2>&-", "LXDEX simulate --markets 200 --trades 2000 --out out1 --json >/dev/null 2>&-", (0,)),
        Case("streams", "hardware list ascii", "LXDEX hardware list", (0,), env={"PYTHONIOENCODING": "ascii"}),
        Case("streams", "scenario show latin-1", "LXDEX scenario show", (0,), env={"PYTHONIOENCODING": "latin-1"}),
        Case("streams", "simulate ascii", "LXDEX simulate --markets 200 --trades 2000", (0,), env={"PYTHONIOENCODING": "ascii"}),
        Case("streams", "plan C locale", "LXDEX plan --markets 21000", (0,), env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
                                                                             "PYTHONIOENCODING": "ascii:strict"}),
        Case("streams", "plan --json > /dev/full", "LXDEX plan --markets 21000 --json > /dev/full", (1,)),
        Case("streams", "plan --json fsize limit", "ulimit -f 2; LXDEX plan --markets 21000 --json > big.json", (1,)),
        # Inputs that are not regular files.
        Case("inputs", "replay /dev/zero", "LXDEX replay /dev/zero", (2,), timeout_s=30),
        Case("inputs", "calibrate /dev/urandom", "LXDEX calibrate /dev/urandom", (2,), timeout_s=30),
        Case("inputs", "latency --day fifo", "LXDEX latency --arrivals lobster --day fifo1", (2,), timeout_s=30, setup=_fifo("fifo1")),
        Case("inputs", "plan --model fifo", "LXDEX plan --model fifo2", (2,), timeout_s=30, setup=_fifo("fifo2")),
        Case("inputs", "report --results /dev/zero", "LXDEX report --results /dev/zero --out rep0", (2,), timeout_s=30),
        Case("inputs", "simulate --scenario fifo", "LXDEX simulate --scenario fifo3", (2,), timeout_s=30, setup=_fifo("fifo3")),
        Case("inputs", "audit claims /dev/zero", "LXDEX audit /dev/zero", (2,), timeout_s=30),
        Case("inputs", "compare fifo", "LXDEX compare fifo4 fifo4", (2,), timeout_s=30, setup=_fifo("fifo4")),
        Case("inputs", "replay --orderbook /dev/zero", f"LXDEX replay {day} --orderbook /dev/zero", (2,), timeout_s=60),
        # Unbounded work.
        Case("time", "latency 20 slow rates", "LXDEX latency --orders-per-rate 1000 --rates " + ",".join(["2"] * 20), (2,),
             timeout_s=60),
        Case("time", "latency 2000 rates", "LXDEX latency --rates " + ",".join(["1e9"] * 2000), (2,), timeout_s=60),
        Case("time", "simulate 1 market 1e12 trades", "LXDEX simulate --markets 1 --trades 1000000000000", (2,), timeout_s=60),
        # plan --check runs the most of a huge plan that fits (~21 million markets here: ~4 min, within the default
        # hour); what must hold is that a limit below its estimate refuses it before it starts.
        Case("time", "plan 1e12 markets --check", "LXDEX plan --markets 1000000000000 --check --max-time 2m", (2,),
             timeout_s=60),
        Case("time", "audit claim 1e12 trades", "LXDEX audit claims.toml", (2,), timeout_s=60,
             setup=lambda w: (w / "claims.toml").write_text(
                 '[[claim]]\nid = "huge"\ntext = "one market, 10^12 trades, in 1 GB"\nmetric = "memory"\nmarkets = 1\n'
                 'resting_orders = 10\ntrades = 1000000000000\ntrades_retained = 1000\nphase = "traded"\nat_most = "1 GB"\n')),
        # Resource limits.
        Case("limits", "ulimit -v 300000", "ulimit -v 300000; LXDEX plan --markets 100", (0, 2), timeout_s=60),
        Case("limits", "ulimit -u 1", "ulimit -u 1; LXDEX simulate --markets 100 --trades 1000", (0, 2), timeout_s=60),
        Case("limits", "ulimit -d 200000", "ulimit -d 200000; LXDEX simulate --markets 100 --trades 1000", (0, 2), timeout_s=60),
        Case("limits", "ulimit -n 12", "ulimit -n 12; LXDEX simulate --markets 100 --trades 1000", (0, 2), timeout_s=60),
        # Under ~80 KiB the interpreter itself dies as it starts (python -c pass too), before lxdex runs: not probed.
        Case("limits", "ulimit -s 100", "ulimit -s 100; LXDEX simulate --markets 100 --trades 1000", (0, 2), timeout_s=60),
        Case("limits", "ulimit -Ss 100", "ulimit -Ss 100; LXDEX simulate --markets 100 --trades 1000", (0,), timeout_s=60,
             one_line=False),
        Case("limits", "deleted cwd", "mkdir gone && cd gone && rmdir ../gone && LXDEX plan --markets 100", (0, 2), timeout_s=60),
        Case("limits", "deleted cwd report", "mkdir gone2 && cd gone2 && rmdir ../gone2 && LXDEX report --out ../rep1", (0, 2),
             timeout_s=300),
        # Saved files that break physics (from a real simulate --out made in setup).
        Case("physics", "simulate file untouched", f"LXDEX report --simulate {sim} --out rep2", (0,), timeout_s=300),
    ]
    def both(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
        def edit(data: dict) -> None:
            for one in edits:
                one(data)
        return edit

    edits = [
        ("orders/s x1000 (seconds to match)", both(_scale("throughput.orders_per_s", 1000.0),
                                                   _scale("throughput.flow_seconds", 0.001))),
        ("lookups 1e15/s", _set("throughput.lookups_per_s", 1e15)),
        ("random access 0 ns", _set("throughput.random_access_ns_p50", 0.0)),
        ("trades x50", _scale("phases.2.trades", 50)),
        ("resting x2", _scale("phases.2.resting_orders", 2)),
        ("rss 1 byte", _set("phases.2.rss_bytes", 1)),
        ("100,000 cores", _set("machine.cores", 100000)),
    ]
    for label, edit in edits:
        cases.append(Case("physics", f"simulate file {label}", f"LXDEX report --simulate edited.{len(cases)}.json --out rep3",
                          (2,), timeout_s=300, setup=_edit_json(sim, f"edited.{len(cases)}.json", edit)))
    # Damaged kernel caches.
    for number, how in enumerate(("index truncated", "index garbage", "data truncated", "data garbage", "data empty")):
        folder = f"cache{number}"
        cases.append(Case("cache", f"cache {how}", "LXDEX simulate --markets 100 --trades 1000 --json", (0,), timeout_s=600,
                          env={"NUMBA_CACHE_DIR": str(work / folder)}, setup=_damage_cache(how, program, folder),
                          one_line=False, stderr_says="discarded, recompiling"))
    # Signals mid-write.
    cases.append(Case("signals", "SIGHUP simulate --out", "LXDEX simulate --markets 20000 --trades 2000000 --out hup1", (129,),
                      signal_after_s=3.0))
    cases.append(Case("signals", "SIGHUP report", "LXDEX report --out hup2", (129,), signal_after_s=8.0, timeout_s=300))
    cases.append(Case("leftovers", "simulate --shards 2 scratch", "LXDEX simulate --markets 400 --trades 4000 --shards 2", (0,),
                      timeout_s=300))
    return cases


def _leftovers(work: Path, tmp: Path, before: set[str]) -> list[str]:
    found = [str(p.relative_to(work)) for p in work.rglob("*") if p.name.endswith((".tmp", ".old")) or "dask-scratch" in p.name]
    found += [name for name in os.listdir(tmp) if name not in before]
    return found


def run_case(case: Case, program: str, work: Path, tmp: Path) -> Outcome:
    if case.setup is not None:
        case.setup(work)
    before = set(os.listdir(tmp))
    command = case.command.replace("LXDEX", program)
    env = {**os.environ, "TMPDIR": str(tmp), **case.env}
    start = time.monotonic()
    process = subprocess.Popen(["bash", "-c", command], cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    problems: list[str] = []
    try:
        if case.signal_after_s is not None:
            time.sleep(case.signal_after_s)
            os.killpg(process.pid, signal.SIGHUP)
        stdout, stderr = process.communicate(timeout=case.timeout_s)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        code = None
        problems.append("hang")
    seconds = time.monotonic() - start
    text = stderr.decode(errors="replace")
    if "Traceback" in text or ("Error:" in text and "lxdex: error" not in text):
        problems.append("traceback")
    if code is not None and code not in case.expect:
        problems.append("accepted" if code == 0 else f"exit {code}")
    lines = [line for line in text.splitlines() if line.strip() and "busy" not in line and "noisy" not in line]
    if case.one_line and len(lines) > 1 and "traceback" not in problems:
        problems.append("noise")
    if case.stderr_says is not None and case.stderr_says not in text:
        problems.append("silent")
    if case.whole_json_stdout and code == 0:
        try:
            json.loads(stdout)
        except ValueError:
            problems.append("half-written")
    time.sleep(0.5)
    left = _leftovers(work, tmp, before)
    if left:
        problems.append("leftover: " + ", ".join(left[:3]))
        for name in left:
            path = work / name if (work / name).exists() else tmp / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    tail = " | ".join(text.strip().splitlines()[-2:])[:200]
    return Outcome(case, code, seconds, problems, tail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lxdex", default=f"{shlex.quote(sys.executable)} -m lxdex_capacity", help="how to run lxdex")
    parser.add_argument("--only", default=None, help="run only the cases of this class (streams, inputs, time, ...)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lxdex-probe.") as base:
        work, tmp = Path(base) / "work", Path(base) / "tmp"
        work.mkdir()
        tmp.mkdir()
        all_cases = cases(work, args.lxdex)
        if args.only is None or args.only == "physics":
            subprocess.run(["bash", "-c", f"{args.lxdex} simulate --markets 2000 --trades 20000 --out sim"], cwd=work,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        outcomes = []
        for case in all_cases:
            if args.only and case.kind != args.only:
                continue
            outcome = run_case(case, args.lxdex, work, tmp)
            outcomes.append(outcome)
            if not args.json:
                verdict = "ok" if not outcome.problems else "; ".join(outcome.problems)
                print(f"{case.kind:<9} {case.name:<32} exit {outcome.code!s:<4} {outcome.seconds:6.1f} s  {verdict}"
                      + (f"   [{outcome.stderr_tail}]" if outcome.problems else ""), flush=True)
    counts = Counter(problem.split(":")[0] for outcome in outcomes for problem in outcome.problems)
    failing = sum(1 for outcome in outcomes if outcome.problems)
    if args.json:
        print(json.dumps({"cases": len(outcomes), "failing": failing, "problems": dict(counts),
                          "failures": [{"kind": o.case.kind, "name": o.case.name, "exit": o.code, "problems": o.problems}
                                       for o in outcomes if o.problems]}, indent=2))
    else:
        print(f"\n{len(outcomes)} cases, {failing} failing; " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
