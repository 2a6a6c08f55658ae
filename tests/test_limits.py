"""Resource limits (``ulimit``): a soft limit below what lxdex needs is raised toward it at start, a hard one
too low is one line naming the limit, its value and the need (exit 2) before numba loads; what runs out
later (a process that cannot start, too many open files) is one line naming the limit too.

The limits are set on real processes with ``prlimit`` (util-linux); the refusals happen before the slow
import, so they take a fraction of a second each."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_cli
from lxdex_capacity import limits
from lxdex_capacity.errors import LxdexError, ResourceLimit

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and these limits are Linux's"),
              pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")]

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
SWEEP = ("sweep", "--markets", "300,600,1200", "--repeat", "1", "--trades", "3000", "--trades-retained", "1024",
         "--working-sets", "none")


def _lxdex(limit: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``lxdex ARGS`` in a process under ``prlimit LIMIT`` (e.g. ``--as=300000000``: soft and hard)."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run(["prlimit", limit, sys.executable, "-m", "lxdex_capacity", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _python(limit: str, code: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run(["prlimit", limit, sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.mark.parametrize(("limit", "words", "value", "least"), [
    ("--as=307200000", "the address-space limit (ulimit -v)", "300,000 KiB", "1,048,576 KiB"),
    ("--as=460800000", "the address-space limit (ulimit -v)", "450,000 KiB", "1,048,576 KiB"),  # plan spun for good
    ("--data=102400000", "the data-segment limit (ulimit -d)", "100,000 KiB", "524,288 KiB"),
    ("--stack=524288", "the stack limit (ulimit -s)", "512 KiB", "1,024 KiB"),
    ("--nofile=10", "the open-file limit (ulimit -n)", "10", "64"),
])
def test_a_hard_limit_below_the_need_is_one_line_before_numba_loads(limit, words, value, least):
    done = _lxdex(limit, "plan", "--markets", "100", timeout=30)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == (f"lxdex: error: {words} is {value}; lxdex needs at least {least} "
                                   f"{next(n.why for n in limits.NEEDS if n.words == words)}")


def test_soft_limits_below_the_need_are_raised_to_it_and_no_further():
    code = ("import resource\nfrom lxdex_capacity.limits import ensure_limits\nensure_limits()\n"
            "print(*(resource.getrlimit(getattr(resource, n))[0] for n in ('RLIMIT_AS', 'RLIMIT_DATA', 'RLIMIT_STACK', "
            "'RLIMIT_NOFILE')))")
    low = _python("--as=307200000:unlimited", code)
    assert low.returncode == 0, low.stderr
    as_soft = int(low.stdout.split()[0])
    assert as_soft == 1024 * MIB  # raised to the need, not to the hard limit (unlimited)
    every = subprocess.run(["prlimit", "--as=307200000:unlimited", "--data=102400000:unlimited", "--stack=131072:unlimited",
                            "--nofile=10:4096", sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert every.returncode == 0, every.stderr
    assert [int(v) for v in every.stdout.split()] == [1024 * MIB, 512 * MIB, 8 * MIB, 1024]
    # A soft limit a hard one caps below the need, but above the least: raised to the hard limit, and run.
    capped = _python("--nofile=10:100", code)
    assert capped.returncode == 0 and int(capped.stdout.split()[3]) == 100, capped.stderr
    # Generous limits are left as they are.
    high = _python("--as=4294967296:unlimited", code)
    assert int(high.stdout.split()[0]) == 4 << 30


def test_a_whole_command_runs_under_low_soft_limits():
    """``ulimit -S`` of each at once, below what loading numba needs: the command runs (Python itself may
    not start below ~96 KiB of stack, before any of lxdex runs, so 128 KiB is the lowest tried)."""
    done = subprocess.run(["prlimit", "--as=307200000:unlimited", "--data=102400000:unlimited", "--stack=131072:unlimited",
                           "--nofile=10:4096", sys.executable, "-m", "lxdex_capacity", "hardware", "list"],
                          capture_output=True, text=True, timeout=120, env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "EPYC" in done.stdout


def test_the_process_limit_counts_this_users_tasks():
    """RLIMIT_NPROC counts every process and thread of the user (not root's): too little room is refused."""
    code = ("import lxdex_capacity.limits as l\nl._room_for_tasks = lambda: (3, 10)\n"
            "try:\n    l.ensure_limits()\nexcept l.ResourceLimit as e:\n    print(e)\n")
    done = _python("--nproc=6", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("the process limit (ulimit -u) is 6 processes and threads, and this user runs 3; "
                                   "lxdex needs 10 more for numpy's and its own threads")
    raised = _python("--nproc=6:100", code + "import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC)[0])\n")
    assert raised.stdout.split() == ["13"], raised.stdout  # room made for the need, no more


def test_what_runs_out_later_names_its_limit():
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    emfile = limits.resource_limit(OSError(errno.EMFILE, "Too many open files"), "opening x")
    assert isinstance(emfile, ResourceLimit) and emfile.exit_code == 2
    assert str(emfile) == (f"opening x: too many open files (the open-file limit (ulimit -n) is {nofile:,}); "
                           "raise the limit or run less at once")
    thread = limits.resource_limit(RuntimeError("can't start new thread"), "starting the progress display")
    assert "no more threads or processes may start (the process limit (ulimit -u) is" in str(thread)
    assert limits.is_resource_error(RuntimeError("can't start new thread"))
    assert limits.is_resource_error(OSError("Could not find/load shared object file 'libllvmlite.so'"))
    assert limits.is_resource_error(BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"))
    assert not limits.is_resource_error(PermissionError(errno.EACCES, "Permission denied"))
    assert not limits.is_resource_error(RuntimeError("something else"))


def test_a_sweep_whose_worker_cannot_start_is_one_line(tmp_path, monkeypatch):
    not_executable = tmp_path / "python"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(0o644)
    monkeypatch.setattr(sys, "executable", str(not_executable))
    result = run_cli(*SWEEP, "--out", str(tmp_path / "m.json"))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == LxdexError.exit_code, result.stderr
    assert len(lines) == 1 and lines[0] == (f"lxdex: error: cannot start the process of sweep point markets=300 "
                                            f"({not_executable}): Permission denied"), result.stderr
    assert not (tmp_path / "m.json").exists()


def test_a_sweep_out_of_processes_names_the_limit(tmp_path, monkeypatch):
    import subprocess as sp

    def no_more(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(sp, "Popen", no_more)
    result = run_cli(*SWEEP, "--out", str(tmp_path / "m.json"))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("lxdex: error: starting the process of sweep point markets=300: no more threads or "
                                    "processes may start (the process limit (ulimit -u) is"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("failure", [RuntimeError("can't start new thread"), OSError(errno.EMFILE, "Too many open files"),
                                     MemoryError()], ids=["thread", "open files", "memory"])
def test_a_limit_met_where_no_command_expects_it_is_one_line(monkeypatch, failure):
    """Wherever a command meets a limit it did not name itself (a progress display's thread, a file, an array), the
    last line of defence names the limit: one line, exit 2, never a traceback."""
    from lxdex_capacity.capacity import hardware

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise failure

    monkeypatch.setattr(hardware, "load_profiles", fail)
    result = run_cli("hardware", "list")
    assert result.exit_code == ResourceLimit.exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lxdex: error: lxdex hardware list: ") and "raise the limit" in lines[0], result.stderr


def test_the_memory_guard_counts_the_data_segment_limit():
    """``ulimit -d`` (which Linux counts over numpy's arrays too) bounds what the memory guard sees as available."""
    code = "from lxdex_capacity.memory_guard import available_bytes\nprint(available_bytes())"
    done = _python("--data=700000000:unlimited", code)
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < 700_000_000
