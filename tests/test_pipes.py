"""How ``lxdex`` ends when its reader leaves early (``lxdex ... | head``) and when a signal arrives after
its work is done, in real processes (``python -m lxdex_capacity``): a closed pipe is a quiet 141, never 1
(a result that failed its check); a late Ctrl-C or SIGTERM leaves the command's own exit code, never a
silent 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

LXDEX = (sys.executable, "-m", "lxdex_capacity")

# The console script's entry point (lxdex_capacity.entry) with a command that prints its result and exits 3,
# sending itself SIGNAL as the process exits: "atexit" from an atexit callback (Python's exit work, when
# signal handlers still run), "teardown" from a finaliser in the interpreter's teardown (past the last
# atexit callback: Python runs no signal handler any more and the default action, death by the signal,
# is back).  The command stands in for lxdex_capacity.cli.main, whose import would take a second.
_SIGNAL_AT_EXIT = textwrap.dedent("""
    import atexit, os, sys, types
    when, signum = sys.argv[1], int(sys.argv[2])

    class SignalWhenFinalised:
        def __del__(self):
            os.kill(os.getpid(), signum)

    if when == "teardown":
        hook = SignalWhenFinalised()  # a global of __main__: finalised as the interpreter tears down

    def command():
        if when == "atexit":
            atexit.register(os.kill, os.getpid(), signum)  # after the entry point's own: so it runs first
        print("the result", flush=True)
        sys.exit(3)

    cli = types.ModuleType("lxdex_capacity.cli")
    cli.main = command
    sys.modules["lxdex_capacity.cli"] = cli
    from lxdex_capacity.entry import main
    main()
""")

# Each case: its command line, and which of stdout and stderr go to a pipe whose reader has already gone
# (so every write fails with EPIPE, whenever it comes: no race with a ``head`` exiting).
CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rich tables": ((*LXDEX, "scenario", "show"), ("stdout",)),
    "--json": ((*LXDEX, "hardware", "list", "--json"), ("stdout",)),
    "typer's help": ((*LXDEX, "--help"), ("stdout",)),
    "2>&1 | head": ((*LXDEX, "scenario", "show"), ("stdout", "stderr")),
    "2>&1 >/dev/null | head": ((*LXDEX, "--no-such-option"), ("stderr",)),
    **{f"{when} {sig.name}": ((sys.executable, "-c", _SIGNAL_AT_EXIT, when, str(int(sig))), ())
       for when, sig in [("teardown", signal.SIGINT), ("teardown", signal.SIGTERM), ("atexit", signal.SIGINT)]},
}


@pytest.fixture(scope="module")
def ended() -> dict[str, tuple[int, str, str]]:
    """Every case's exit code, stdout and stderr (what did not go to the closed pipe); run all at once, as
    each spends its second importing."""
    running = {}
    for name, (command, closed) in CASES.items():
        read, write = os.pipe()
        os.close(read)
        streams = {stream: write if stream in closed else subprocess.PIPE for stream in ("stdout", "stderr")}
        running[name] = subprocess.Popen(command, stdin=subprocess.DEVNULL, **streams)  # type: ignore[call-overload]
        os.close(write)  # the child holds its own copy
    results = {}
    for name, proc in running.items():
        stdout, stderr = proc.communicate(timeout=120)
        results[name] = (proc.returncode, (stdout or b"").decode(), (stderr or b"").decode())
    return results


# --- a reader that has gone ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["rich tables", "--json", "typer's help"])
def test_a_closed_stdout_exits_141_and_says_nothing(ended, case):
    code, _, stderr = ended[case]
    assert (code, stderr) == (141, "")  # no traceback, no "Exception ignored ... BrokenPipeError"


def test_stdout_and_stderr_on_one_closed_pipe_exit_141(ended):
    assert ended["2>&1 | head"][0] == 141


def test_an_error_with_stderr_closed_keeps_its_exit_code(ended):
    code, stdout, _ = ended["2>&1 >/dev/null | head"]
    assert (code, stdout) == (2, "")


# --- a signal once the work is done ----------------------------------------------------------------


@pytest.mark.parametrize("case", ["teardown SIGINT", "teardown SIGTERM", "atexit SIGINT"])
def test_a_signal_after_the_work_is_done_leaves_the_commands_exit_code(ended, case):
    # Not -2 or -15 (killed by the signal: a shell's silent 130 or 143), nor a KeyboardInterrupt printed as
    # "Exception ignored in atexit callback", nor "lxdex: interrupted": the command had finished.
    assert ended[case] == (3, "the result\n", "")
