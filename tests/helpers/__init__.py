"""What the tests share, apart from the tests: running ``lxdex`` in this process, checking its
one-line errors; the differential driver (:mod:`helpers.differential`) and synthetic LOBSTER days
(:mod:`helpers.lobster`) are submodules."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from typer.testing import CliRunner

__all__ = ["Result", "run_cli", "assert_one_line_error", "pretend_available", "skip_if_ignored", "default_signals"]


@dataclass(frozen=True)
class Result:
    """How an ``lxdex`` command ended: its exit code and what it wrote to stdout and stderr."""

    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> Result:
    """``lxdex ARGS`` in this process, through :func:`lxdex_capacity.cli.main` (so through its map from
    errors to exit codes and one-line messages), with stdout and stderr captured by typer's
    :class:`~typer.testing.CliRunner`.  An exception ``main`` does not map (a bug) propagates."""
    from lxdex_capacity.cli import main

    code: object = 0
    with CliRunner().isolation() as (stdout, stderr, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        captured = stdout.getvalue().decode(), stderr.getvalue().decode()
    exit_code = code if isinstance(code, int) else (0 if code is None else 1)
    return Result(exit_code, *captured)


def assert_one_line_error(result: Result, message: str) -> None:
    """Exit code 2, nothing on stdout, and one ``lxdex: error:`` line on stderr holding ``message``."""
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lxdex: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def default_signals() -> None:
    """``preexec_fn`` of a child that a test signals: SIGINT, SIGHUP and SIGTERM at their default action, as a
    terminal's foreground job has them, whatever this test process inherited (a shell's background job ignores
    SIGINT, ``nohup`` SIGHUP; lxdex leaves an ignored signal ignored, as a program started that way must)."""
    import signal

    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def skip_if_ignored(sig: int) -> None:
    """Skip a test that delivers ``sig`` to this very process when it was started ignoring it (see
    :func:`default_signals`; a child can be given the default action instead)."""
    import signal

    import pytest

    if signal.getsignal(sig) is signal.SIG_IGN:
        pytest.skip(f"this test process was started ignoring {signal.Signals(sig).name} (a background job, nohup), "
                    "and lxdex leaves it ignored")


def pretend_available(monkeypatch, available: int) -> None:  # type: ignore[no-untyped-def]
    """Make the memory guard see ``available`` bytes of memory (psutil's figure; a cgroup limit still applies)."""
    from types import SimpleNamespace

    from lxdex_capacity import memory_guard

    monkeypatch.setattr(memory_guard.psutil, "virtual_memory", lambda: SimpleNamespace(available=available))
