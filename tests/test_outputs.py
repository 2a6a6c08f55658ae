"""Outputs are whole or absent: output paths checked before work, atomic files and report folders,
write failures that leave the previous output intact, signals that clean up, concurrent reports."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import assert_one_line_error, default_signals, run_cli
from lxdex_capacity import atomic
from lxdex_capacity.errors import OutputError

SMALL = ("--markets", "300", "--trades", "2000")


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a writer left behind (``.name.XXXX.tmp`` / ``.old``)."""
    return sorted(p.name for p in folder.rglob(".*") if p.name.endswith((".tmp", ".old")))


# --- output paths, checked before any work ------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (("simulate", *SMALL, "--out", ""), "must name a file or folder, not an empty string"),
    (("report", *SMALL, "--out", ""), "must name a file or folder, not an empty string"),
    (("sweep", "--markets", "100,200", "--out", ""), "must name a file or folder, not an empty string"),
    (("sweep", "--markets", "100,200", "--out", "{tmp}"), "is a folder; give a file name"),
    (("sweep", "--markets", "100,200", "--out", "{tmp}/missing/m.json"), "does not exist"),
    (("simulate", *SMALL, "--out", "{tmp}/file"), "is a file; give a folder"),
    (("report", *SMALL, "--out", "{tmp}/file"), "is a file; give a folder"),
    (("report", *SMALL, "--out", "{tmp}/file/sub"), "is a file, not a folder"),
    (("report", *SMALL, "--out", "{tmp}"), "which is not part of a report"),
    (("report", *SMALL, "--out", "{tmp}/hidden"), "holds '.git', which is not part of a report"),
    (("report", *SMALL, "--out", "{tmp}/old"), "holds 'charts/notes.txt', which is not part of a report"),
    (("report", *SMALL, "--out", "{tmp}/" + "n" * 300), "File name too long"),
    (("simulate", *SMALL, "--out", "{tmp}/" + "n" * 300), "File name too long"),
    (("sweep", "--markets", "100,200", "--out", "{tmp}/" + "n" * 300), "File name too long"),
    (("report", *SMALL, "--out", "{tmp}/loop"), "Symlink loop"),
    (("sweep", "--markets", "100,200", "--out", "{tmp}/new/"), "names a folder; give a file name"),
    (("report", "--results", "{tmp}/file", *SMALL, "--out", "{tmp}/r"), "--results re-renders a saved report, so --markets has nothing to do"),
    (("report", "--simulate", "{tmp}/file", "--seed", "3", "--out", "{tmp}/r"), "--simulate reports on a saved run, so --seed has nothing to do"),
])
def test_output_paths_are_refused_before_any_work(tmp_path: Path, args, message, monkeypatch):
    (tmp_path / "file").write_text("keep me")
    (tmp_path / "hidden" / ".git").mkdir(parents=True)
    (tmp_path / "old" / "charts").mkdir(parents=True)  # a previous report's folder, with a note among its charts
    (tmp_path / "old" / "report.md").write_text("# report")
    (tmp_path / "old" / "charts" / "notes.txt").write_text("mine")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    import lxdex_capacity.cli.capacity
    import lxdex_capacity.cli.reports
    import lxdex_capacity.cli.simulate

    def work(*args, **kwargs):  # every simulation, sweep and report goes through its compile step before it runs
        raise AssertionError("the command started its work before refusing the output path")

    for module in (lxdex_capacity.cli.simulate, lxdex_capacity.cli.capacity, lxdex_capacity.cli.reports):
        monkeypatch.setattr(module, "compile_step", work)
    result = run_cli(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert_one_line_error(result, message)  # refused up front, not after a simulation or a sweep
    assert (tmp_path / "file").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_an_unwritable_folder_is_refused_before_work(tmp_path: Path):
    if os.geteuid() == 0:
        pytest.skip("root may write into a read-only folder, so the check cannot be seen failing")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_one_line_error(run_cli("sweep", "--markets", "100,200", "--out", str(locked / "m.json")), "is not writable")


# --- files and folders written whole -----------------------------------------------------------


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path, monkeypatch):
    target = tmp_path / "model.json"
    target.write_text("previous")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(OutputError, match="No space left on device; the previous content is unchanged"):
        atomic.write_text_atomic(target, "new")
    assert target.read_text() == "previous"
    assert _leftovers(tmp_path) == []


def test_a_full_disk_during_simulate_out_is_one_line_and_exit_1(tmp_path: Path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "simulate.json").write_text("{}")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    result = run_cli("simulate", *SMALL, "--out", str(out), "--json")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"lxdex: error: cannot write '{out / 'simulate.json'}': No space left on device; the previous content is unchanged"]
    assert (out / "simulate.json").read_text() == "{}"
    assert _leftovers(tmp_path) == []


def test_a_replaced_folder_is_the_old_or_the_new_never_a_mix(tmp_path: Path):
    out = tmp_path / "report"
    with atomic.replaced_folder(out) as building:
        (building / "a").write_text("1")
    assert sorted(p.name for p in out.iterdir()) == ["a"]
    with pytest.raises(RuntimeError), atomic.replaced_folder(out) as building:
        (building / "b").write_text("2")
        raise RuntimeError("failed half-way")
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # the failed build left the old folder as it was
    with atomic.replaced_folder(out) as building:
        (building / "c").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["c"]  # a new build replaces the whole folder
    assert _leftovers(tmp_path) == []


def test_replacing_a_folder_without_an_atomic_exchange_still_swaps_it_whole(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # as on a system without renameat2
    out = tmp_path / "report"
    for name in ("a", "b"):
        with atomic.replaced_folder(out) as building:
            (building / name).write_text(name)
        assert sorted(p.name for p in out.iterdir()) == [name]
    assert _leftovers(tmp_path) == []


def test_concurrent_folder_replacements_leave_exactly_one_whole_output(tmp_path: Path):
    out = tmp_path / "report"
    errors: list[BaseException] = []

    def build(k: int) -> None:
        try:
            for round_ in range(20):
                with atomic.replaced_folder(out) as building:
                    for i in range(5):
                        (building / f"part{i}").write_text(f"{k}:{round_}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    contents = {p.read_text() for p in out.iterdir()}
    assert len(contents) == 1 and len(list(out.iterdir())) == 5  # one build's five parts, nothing else
    assert _leftovers(tmp_path) == []


# --- a user's file put into a report folder while the report is written -------------------------


def _report_with_files_put_in_meanwhile(tmp_path: Path, monkeypatch, files: dict[str, str],
                                        when: str = "render_html") -> tuple[Path, Path, object]:
    """A report folder ``r`` from a saved results.json, then a second report into it during which ``files`` (relative
    path: text) appear in ``r``, as ``report.<when>`` runs; returns the folder, the results file and the second run's
    result."""
    from helpers.results import saved_results, write_json
    from lxdex_capacity.reporting import charts, report

    monkeypatch.setattr(charts, "render_charts", lambda results: {"breakdown": {"png": b"png", "svg": b"<svg/>", "title": "t"}})
    results = write_json(tmp_path / "results.json", saved_results())
    out = tmp_path / "r"
    assert run_cli("report", "--results", str(results), "--out", str(out)).exit_code == 0
    real = getattr(report, when)

    def meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        for relative, text in files.items():
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            (out / relative).write_text(text)
        return real(*args, **kwargs)

    monkeypatch.setattr(report, when, meanwhile)
    return out, results, run_cli("report", "--results", str(results), "--out", str(out))


@pytest.mark.parametrize("exchange, when", [("renameat2", "render_html"), ("two renames", "render_html"),
                                            ("renameat2", "load_results")])  # while it is written; while its work runs
def test_a_file_put_into_a_report_folder_while_the_report_runs_is_kept_and_said(tmp_path: Path, monkeypatch, exchange, when):
    if exchange == "two renames":
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    files = {"notes.txt": "my notes", "charts/mine.txt": "mine", "drafts/a.md": "draft"}
    out, results, result = _report_with_files_put_in_meanwhile(tmp_path, monkeypatch, files, when)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (f"lxdex: warning: --out {str(out)!r}: kept 'charts/mine.txt', 'drafts', 'notes.txt', put there while "
                             "the report ran and not part of it; the next report into this folder refuses it until it is moved out\n")
    assert {relative: (out / relative).read_text() for relative in files} == files
    assert sorted(p.name for p in out.iterdir()) == ["charts", "drafts", "notes.txt", "report.html", "report.md", "results.json"]
    assert _leftovers(tmp_path) == []
    assert_one_line_error(run_cli("report", "--results", str(results), "--out", str(out)), "holds 'charts/mine.txt', which is not part of a report")


@pytest.mark.parametrize("previous_renamed", [True, False], ids=["kept beside, visible", "kept where it is"])
def test_a_users_file_that_cannot_be_moved_keeps_the_previous_folder_whole(tmp_path: Path, monkeypatch, previous_renamed):
    real_rename = os.rename

    def rename(source, target):  # type: ignore[no-untyped-def]
        if Path(source).name == "notes.txt" or (not previous_renamed and ".previous-" in Path(target).name):
            raise OSError(errno.EXDEV, "Invalid cross-device link")  # as across file systems, or a folder without write permission
        return real_rename(source, target)

    monkeypatch.setattr(atomic.os, "rename", rename)
    out, _, result = _report_with_files_put_in_meanwhile(tmp_path, monkeypatch, {"notes.txt": "my notes"})
    assert result.exit_code == 0, result.stderr
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("r.previous-" if previous_renamed else ".r.")]
    assert len(kept) == 1 and (kept[0] / "notes.txt").read_text() == "my notes"  # not deleted, whatever failed
    assert result.stderr == (f"lxdex: warning: --out {str(out)!r}: 'notes.txt', put there while the report ran, could not be "
                             f"moved into it; the previous folder is kept whole as {str(kept[0])!r}\n")
    assert sorted(p.name for p in out.iterdir()) == ["charts", "report.html", "report.md", "results.json"]
    assert len(_leftovers(tmp_path)) == (0 if previous_renamed else 1)


# --- signals and concurrent runs, as a user's shell sends them ---------------------------------


def _lxdex(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "lxdex_capacity", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=default_signals)


def _report_is_whole(folder: Path) -> str:
    """The seed of the one run whose complete report ``folder`` holds (asserting it is complete)."""
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["charts", "report.html", "report.md", "results.json"], names
    results = json.loads((folder / "results.json").read_text())
    checksum = results["simulate"]["market_checksum"]
    assert checksum[:12] in (folder / "report.md").read_text()
    assert checksum[:12] in (folder / "report.html").read_text()
    assert len(list((folder / "charts").iterdir())) >= 2
    return str(results["simulate"]["scenario"]["seed"])


@pytest.mark.slow  # three reports of 20,000 markets per signal: about 45 s each
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_report_keeps_the_previous_report_whole(tmp_path: Path, sig, code):
    out = tmp_path / "report"
    first = _lxdex("report", *SMALL, "--seed", "1", "--out", str(out), cwd=tmp_path)
    assert first.wait(timeout=300) == 0, first.stderr.read() if first.stderr else ""
    assert _report_is_whole(out) == "1"
    outcomes = set()
    for delay in (1.5, 3.0, 5.0):  # after the interpreter itself has started (its first ~0.1 s are Python's)
        run = _lxdex("report", "--markets", "20000", "--trades", "200000", "--seed", "2", "--out", str(out), cwd=tmp_path)
        time.sleep(delay)
        (os.killpg if sig == signal.SIGINT else os.kill)(run.pid, sig)  # Ctrl-C reaches the group; kill the process
        _, stderr = run.communicate(timeout=300)
        text = stderr.decode()
        assert "Traceback" not in text, text
        assert run.returncode in (0, code), text
        if run.returncode == code:
            assert text.strip().splitlines()[-1] == "lxdex: interrupted", text
        outcomes.add(run.returncode)
        assert _report_is_whole(out) in ("1", "2")
        assert _leftovers(tmp_path) == []
    assert code in outcomes


@pytest.mark.parametrize("command", [("simulate", "--markets", "300000", "--out", "run"),
                                     ("sweep", "--markets", "200000,300000", "--fit-up-to", "300000", "--repeat", "1", "--out", "m.json")])
def test_sigterm_during_a_run_with_out_writes_nothing_and_says_interrupted(tmp_path: Path, command):
    run = _lxdex(*command, cwd=tmp_path)
    time.sleep(4.0)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 143, stderr.decode()
    assert stderr.decode().strip().splitlines()[-1] == "lxdex: interrupted"
    assert "Traceback" not in stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output and no temporary file


@pytest.mark.slow  # two report processes at once: about 40 s
def test_two_reports_into_one_folder_at_once_leave_one_whole_report(tmp_path: Path):
    out = tmp_path / "report"
    runs = [_lxdex("report", *SMALL, "--seed", str(seed), "--out", str(out), cwd=tmp_path) for seed in (1, 2)]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr.decode()
    assert _report_is_whole(out) in ("1", "2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
