"""Every terminating signal (SIGINT, SIGTERM, SIGHUP) cleans up whatever instruction it lands on: temporary
files and folders are registered before they are created (:mod:`lxdex_capacity.atomic`), so an interrupt
between the system call that creates one and the ``try`` that removes it, or in the middle of removing it,
leaves nothing; the command says ``lxdex: interrupted`` and exits 128 + the signal's number."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import default_signals, run_cli, skip_if_ignored
from helpers.results import saved_results, write_json
from lxdex_capacity import atomic

SMALL = ("--markets", "300", "--trades", "2000")
SIGNALS = [(signal.SIGHUP, 129), (signal.SIGINT, 130), (signal.SIGTERM, 143)]


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders left in ``folder`` (``.name.XXXX.tmp`` / ``.old``)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if p.name.endswith((".tmp", ".old")))


@pytest.fixture(autouse=True)
def _no_temporary_registered():  # type: ignore[no-untyped-def]
    yield
    assert atomic._temporaries == {}, "a temporary is still registered"


def _interrupt_once_after(monkeypatch, name: str, marker: str, exception: type[BaseException] = KeyboardInterrupt) -> None:  # type: ignore[no-untyped-def]
    """``os.<name>`` (open, mkdir) of a path holding ``marker`` does its work, then raises ``exception``: a signal landing
    just after the system call that created a temporary, before anything could note that it exists."""
    real = getattr(os, name)

    def interrupted(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        made = real(path, *args, **kwargs)
        if marker in str(path):
            if isinstance(made, int):
                os.close(made)
            raise exception()
        return made

    monkeypatch.setattr(os, name, interrupted)


# --- the registry, in this process ---------------------------------------------------------------------------


def test_an_interrupt_right_after_a_temporary_file_is_created_still_removes_it(tmp_path: Path, monkeypatch):
    target = tmp_path / "m.json"
    target.write_text("previous")
    _interrupt_once_after(monkeypatch, "open", ".m.json.")
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text_atomic(target, "new")
    assert target.read_text() == "previous"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["report folder", "output folder check"])
def test_an_interrupt_right_after_a_temporary_folder_is_created_still_removes_it(tmp_path: Path, monkeypatch, where):
    _interrupt_once_after(monkeypatch, "mkdir", ".r.")
    with pytest.raises(KeyboardInterrupt):
        if where == "report folder":
            with atomic.replaced_folder(tmp_path / "r"):
                raise AssertionError("the block ran although the folder's creation was interrupted")
        else:
            atomic.check_output_folder(tmp_path / "r")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_cleanup_an_interrupt_cut_short_is_finished_by_remove_temporaries(tmp_path: Path, monkeypatch):
    target = tmp_path / "m.json"

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    real_unlink = Path.unlink

    def interrupted_unlink(self, missing_ok=False):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(Path, "unlink", real_unlink)  # once
        raise KeyboardInterrupt()

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    monkeypatch.setattr(Path, "unlink", interrupted_unlink)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text_atomic(target, "new")
    assert len(_leftovers(tmp_path)) == 1  # the removal itself was interrupted: still there, still registered
    atomic.remove_temporaries()  # what main does after an interrupt, and what runs at exit
    assert _leftovers(tmp_path) == [] and not target.exists()


def _interrupt_once_as_closed(monkeypatch, marker: str) -> None:  # type: ignore[no-untyped-def]
    """``os.close`` of a descriptor on a path holding ``marker`` closes it, then raises KeyboardInterrupt, once: a
    signal landing between the close and the line noting it, where ``shutil.rmtree`` (3.11) then closes the
    descriptor again in its ``finally``, and what comes out of it is an EBADF ``OSError``, the interrupt its context."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to tell which descriptor is the temporary folder's")
    real = os.close
    done = []

    def interrupted(fd: int) -> None:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        real(fd)
        if marker in target and not done:
            done.append(fd)
            raise KeyboardInterrupt()

    monkeypatch.setattr(os, "close", interrupted)


def test_an_interrupt_that_a_folders_removal_turns_into_an_oserror_is_raised_and_the_folder_removed(tmp_path: Path, monkeypatch):
    """Suppressed as a failed removal, the EBADF would lose the signal (the run went on, exit 0) and leave the folder."""
    _interrupt_once_as_closed(monkeypatch, "/.r.")
    with pytest.raises(KeyboardInterrupt):
        atomic.check_output_folder(tmp_path / "r")  # its name probed: a temporary sibling made and removed
    monkeypatch.undo()
    assert len(_leftovers(tmp_path)) == 1  # closed, not yet removed: still there, still registered
    atomic.remove_temporaries()  # what main does after an interrupt: still registered, so removed now
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_name_another_run_holds_is_drawn_again_and_left_alone(tmp_path: Path, monkeypatch):
    tokens = iter(["taken", "free"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(tokens))
    (tmp_path / ".m.json.taken.tmp").write_text("another run's")
    atomic.write_text_atomic(tmp_path / "m.json", "mine")
    assert (tmp_path / ".m.json.taken.tmp").read_text() == "another run's"
    assert (tmp_path / "m.json").read_text() == "mine" and not (tmp_path / ".m.json.free.tmp").exists()


# --- the command line, in this process: a signal while an output's temporary exists --------------------------


def _signal_during_fsync(monkeypatch, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    """The first fsync of a temporary output sends ``sig`` to this process: it lands while the temporary exists."""
    skip_if_ignored(sig)
    real = atomic.os.fsync
    sent = []

    def fsync(fd: int) -> None:
        if not sent:
            sent.append(sig)
            os.kill(os.getpid(), sig)
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


# SIGHUP in the default suite; SIGINT and SIGTERM take the same way out (a simulation each: 2 to 5 s).
@pytest.mark.parametrize("sig, code", [SIGNALS[0], *(pytest.param(*s, marks=pytest.mark.slow) for s in SIGNALS[1:])])
def test_a_signal_while_simulate_writes_its_output_leaves_nothing(tmp_path: Path, monkeypatch, sig, code):
    _signal_during_fsync(monkeypatch, sig)
    result = run_cli("simulate", *SMALL, "--out", str(tmp_path / "run"))
    assert (result.exit_code, result.stderr.splitlines()[-1:]) == (code, ["lxdex: interrupted"])
    assert _leftovers(tmp_path) == [] and not (tmp_path / "run" / "simulate.json").exists()


def _fake_charts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Charts that cost nothing to draw: what is tested here is the folder, not the charts."""
    from lxdex_capacity.reporting import charts

    monkeypatch.setattr(charts, "render_charts", lambda results: {"breakdown": {"png": b"png", "svg": b"<svg/>", "title": "t"}})


def test_a_sighup_while_a_report_is_written_keeps_the_previous_report_and_leaves_nothing(tmp_path: Path, monkeypatch):
    _fake_charts(monkeypatch)
    results = write_json(tmp_path / "results.json", saved_results())
    out = tmp_path / "r"
    assert run_cli("report", "--results", str(results), "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    _signal_during_fsync(monkeypatch, signal.SIGHUP)
    result = run_cli("report", "--results", str(results), "--out", str(out))
    assert (result.exit_code, result.stderr.splitlines()[-1:]) == (129, ["lxdex: interrupted"])
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert _leftovers(tmp_path) == []


# --- real processes: the signal as a shell or a terminal sends it -------------------------------------------

# The console script's entry point, with os.<call> of a path holding MARKER sending SIGNAL to the process right
# after it returns: the signal lands between the system call that created a temporary and anything after it.
_DRIVER = textwrap.dedent("""
    import os, signal, sys
    call, marker, signum = sys.argv[1], sys.argv[2], int(sys.argv[3])
    real = getattr(os, call)

    def signalled(path, *args, **kwargs):
        made = real(path, *args, **kwargs)
        if marker in str(path):
            os.kill(os.getpid(), signum)
        return made

    setattr(os, call, signalled)
    sys.argv = ["lxdex", *sys.argv[4:]]
    from lxdex_capacity.entry import main
    main()
""")


def _driven(call: str, marker: str, sig: signal.Signals, *args: str, cwd: Path, stderr: int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _DRIVER, call, marker, str(int(sig)), *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=stderr, preexec_fn=default_signals)


def test_sighup_at_the_creation_of_a_temporary_folder_leaves_nothing_even_without_stderr(tmp_path: Path):
    """report --out checks the folder's name by creating and removing a temporary sibling, before any work:
    SIGHUP right after that mkdir, in two processes at once, one whose stderr is closed (a terminal gone)."""
    (tmp_path / "said").mkdir()
    (tmp_path / "unsaid").mkdir()
    said = _driven("mkdir", ".r.", signal.SIGHUP, "report", *SMALL, "--out", "r", cwd=tmp_path / "said")
    unsaid = _driven("mkdir", ".r.", signal.SIGHUP, "report", *SMALL, "--out", "r", cwd=tmp_path / "unsaid", stderr=subprocess.DEVNULL)
    _, stderr = said.communicate(timeout=120)
    unsaid.communicate(timeout=120)
    assert (said.returncode, stderr.decode()) == (129, "lxdex: interrupted\n")
    assert unsaid.returncode == 129
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["said", "unsaid"]


@pytest.mark.slow  # a simulation and a report in their own processes, per signal: 10 to 40 s on a busy machine
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_real_signal_at_the_creation_of_an_outputs_temporary_leaves_nothing(tmp_path: Path, sig, code):
    (tmp_path / "r").mkdir()  # there already: its name is not probed, so the first ".r." folder made is the report's own
    runs = [_driven("open", ".simulate.json.", sig, "simulate", *SMALL, "--out", "run", cwd=tmp_path),
            _driven("mkdir", ".r.", sig, "report", *SMALL, "--no-latency", "--out", "r", cwd=tmp_path)]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert (run.returncode, stderr.decode().splitlines()[-1:]) == (code, ["lxdex: interrupted"]), stderr.decode()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r", "run"]  # simulate's folder, made before its file: empty


# strace delivers the signal at the system call itself, whatever Python instruction is running.  The temporary's
# name is fixed (secrets.token_hex) so that strace's -P selects the system calls on it: the closes of its
# descriptors as shutil.rmtree removes it (the scandir's copy first, then its own).
_FIXED_NAMES = textwrap.dedent("""
    import secrets, sys
    secrets.token_hex = lambda n: "probe"
    sys.argv = ["lxdex", *sys.argv[1:]]
    from lxdex_capacity.entry import main
    main()
""")


@pytest.mark.slow  # strace, and a process per case: about 3 s each
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (syscall injection) to deliver the signal at a system call")
@pytest.mark.parametrize("close", [1, 2])
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_at_each_close_while_a_temporary_folder_is_removed_leaves_nothing(tmp_path: Path, sig, code, close):
    probe = tmp_path / ".run.probe.tmp"  # simulate --out run checks the name by making and removing this folder
    run = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(probe), "-e", "trace=close",
                          "-e", f"inject=close:signal={sig.name}:when={close}",
                          sys.executable, "-c", _FIXED_NAMES, "simulate", *SMALL, "--out", str(tmp_path / "run")],
                         cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, timeout=300, preexec_fn=default_signals)
    if run.returncode != code and b"ptrace" in run.stderr:
        pytest.skip(f"strace cannot trace here: {run.stderr.decode().strip()}")
    assert (run.returncode, run.stderr.decode()) == (code, "lxdex: interrupted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
