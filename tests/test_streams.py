"""The output layer (:func:`lxdex_capacity.console.standard_streams`): stdout and stderr in any encoding,
closed, full, or taking less than they are given, for every way lxdex writes to them.

In this process where the class allows (an encoding is a :class:`~typer.testing.CliRunner` charset, a
failing disk a stream whose writes fail); in real processes (``python -m lxdex_capacity``) where it needs one:
a closed file descriptor (``>&-``, ``2>&-``), a file-size limit (``RLIMIT_FSIZE``), a full tmpfs."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lxdex_capacity import console
from lxdex_capacity.cli import main

LXDEX = (sys.executable, "-m", "lxdex_capacity")
SMALL = ("--markets", "300", "--trades", "2000")
PACKAGE = Path(console.__file__).parent


def _run_in(charset: str, *args: str) -> tuple[int, bytes, bytes]:
    """``lxdex ARGS`` in this process with stdout and stderr in ``charset``: exit code and the bytes written."""
    code: object = 0
    with CliRunner(charset=charset).isolation() as (stdout, stderr, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
        captured = stdout.getvalue(), stderr.getvalue()
    return (code if isinstance(code, int) else int(code is not None)), *captured


def _run_with(stdout: object, stderr: object, *args: str) -> int:
    """``lxdex ARGS`` in this process with ``sys.stdout`` and ``sys.stderr`` as given (None: closed)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr  # type: ignore[assignment]
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.stdout, sys.stderr = saved
    raise AssertionError("main() returned")


def _text(buffer: io.BytesIO) -> io.TextIOWrapper:
    return io.TextIOWrapper(buffer, encoding="utf-8", write_through=True)


# --- any encoding ---------------------------------------------------------------------------------


def test_every_non_ascii_character_lxdex_prints_has_a_plain_ascii_spelling():
    """Every character outside ASCII in lxdex's own source (its texts, table boxes aside) is spelled in plain
    ASCII, not escaped: a new typographic character must get its entry in console's table."""
    found = {char for path in PACKAGE.rglob("*.py") for char in path.read_text(encoding="utf-8") if ord(char) > 127}
    assert found, "the scan found no typographic character: it looks in the wrong place"
    escaped = sorted(char for char in found if "\\" in char.encode("ascii", console.ASCII_FALLBACK).decode("ascii"))
    assert escaped == [], f"no ASCII spelling for {escaped}"


@pytest.mark.parametrize("encoding, text, spelled", [
    ("ascii", "3–5 × 2 ≤ 10 µs …", "3-5 x 2 <= 10 us ..."),
    ("latin-1", "3–5 × 2 ≤ 10 µs …", "3-5 × 2 <= 10 µs ..."),  # what latin-1 holds, it keeps
    ("ascii", "┌─┬─┐│╞═╡└┘", "+-+-+|+=+++"),
    ("ascii", "R² ± 2 → ok", "R^2 +/- 2 -> ok"),
    ("ascii", "caf\u00e9 \u4e2d", "caf\\xe9 \\u4e2d"),  # names: escaped exactly, as Python does on stderr
    ("ascii", "bad\udce9byte", "bad\\xe9byte"),  # a byte of a file name that was not UTF-8
    ("utf-8", "bad\udce9byte", "bad\\xe9byte"),
])
def test_the_ascii_fallback_spells_what_an_encoding_cannot_hold(encoding, text, spelled):
    assert text.encode(encoding, console.ASCII_FALLBACK).decode(encoding) == spelled


COMMANDS = [("hardware", "list"), ("hardware", "show", "Mac mini M4 16 GB"), ("scenario", "show"), ("plan",), ("plan", "--json"),
            ("--help",), ("simulate", "--help")]


@pytest.mark.parametrize("charset, args", [(charset, args) for charset in ("ascii", "latin-1") for args in COMMANDS]
                         + [("ascii", ("simulate", *SMALL))])  # a simulation once: its tables are simulation.py's
def test_every_command_prints_in_an_encoding_without_typographic_characters(charset, args):
    code, stdout, stderr = _run_in(charset, *args)
    assert code == 0, stderr.decode(charset)
    text = stdout.decode(charset)  # whole and in the charset, never a UnicodeEncodeError half-way
    assert text.strip() and "Traceback" not in stderr.decode(charset)
    if "--json" in args:
        json.loads(text)
    if charset == "ascii" and "--help" not in args and "--json" not in args:  # JSON escapes as JSON does
        assert "\\u" not in text and "\\x" not in text, text  # spelled, not escaped
    if args[:2] == ("hardware", "list"):
        assert "+---" in text and "|" in text  # rich's ASCII box


# --- stdout or stderr closed, failing, short --------------------------------------------------------


def test_a_closed_stdout_loses_the_output_so_the_command_fails_with_one_line():
    stderr = io.StringIO()
    assert _run_with(None, stderr, "hardware", "list") == 1
    assert stderr.getvalue() == "lxdex: error: cannot write to standard output: Bad file descriptor\n"


def test_a_closed_stderr_keeps_the_commands_exit_code_and_its_output():
    stdout = io.BytesIO()
    text = _text(stdout)  # kept: the buffer lives as long as its text stream
    assert _run_with(text, None, "scenario", "show") == 0
    assert "markets" in stdout.getvalue().decode()
    assert _run_with(_text(io.BytesIO()), None, "plan", "--markets", "0") == 2  # an error said to nobody: still 2


class _FillingDisk(io.RawIOBase):
    """A file on a disk with ``room`` bytes left: a write beyond takes what fits (a short write), the next fails."""

    def __init__(self, room: int, error: int = errno.ENOSPC) -> None:
        super().__init__()
        self.room, self.error, self.data = room, error, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        if self.room == 0:
            raise OSError(self.error, os.strerror(self.error))
        taken = bytes(data[:self.room])
        self.data += taken
        self.room -= len(taken)
        return len(taken)


class _ShortWriter(io.BufferedIOBase):
    """What CPython's buffered writer does on a real descriptor that fills part-way: returns the short count
    and keeps the error to itself (a text stream over it drops the rest without a word)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room, self.data = room, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        taken = bytes(data[:max(self.room, 0)])
        self.data += taken
        self.room -= len(taken)
        if not taken:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        return len(taken)


@pytest.mark.parametrize("target", ["short write", "full disk at flush"])
def test_a_write_that_is_cut_short_is_a_failure_never_a_silent_success(target):
    short = _ShortWriter(1000) if target == "short write" else io.BufferedWriter(_FillingDisk(1000), buffer_size=64)
    stderr = io.StringIO()
    stdout = io.TextIOWrapper(short, encoding="utf-8")
    assert _run_with(stdout, stderr, "plan", "--json") == 1
    reason = "File too large" if target == "short write" else "No space left on device"
    assert stderr.getvalue() == f"lxdex: error: cannot write to standard output: {reason}\n"


@pytest.mark.parametrize("descriptor", [True, False], ids=["writable descriptor", "no descriptor"])
def test_a_stream_that_takes_nothing_is_a_failure_not_a_spin(tmp_path, descriptor):
    with open(tmp_path / "file", "wb") as file:
        class TakesNothing(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
                return 0

            def fileno(self) -> int:
                if not descriptor:
                    raise io.UnsupportedOperation("no descriptor")
                return file.fileno()

        writer = console._CheckedWriter(TakesNothing())  # type: ignore[arg-type]
        assert writer.write(b"data") == 4  # taken by the layer: the stream is lost, the command goes on
        assert writer.failure is not None and writer.failure.errno in (errno.EIO, errno.EAGAIN)


def test_a_full_non_blocking_pipe_is_waited_for_not_an_error():
    read, write = os.pipe()
    os.set_blocking(write, False)  # as a parent sharing the pipe (node, some CI runners) may leave it
    received = bytearray()

    def reader() -> None:
        threading.Event().wait(0.3)  # let the pipe fill (64 KiB) before reading
        with open(read, "rb") as pipe:
            received.extend(pipe.read())

    thread = threading.Thread(target=reader)
    thread.start()
    stdout = open(write, "w", encoding="utf-8")  # noqa: SIM115 - closed below, after main
    try:
        code = _run_with(stdout, io.StringIO(), "plan", "--json")
    finally:
        stdout.close()
        thread.join()
    assert code == 0
    assert len(received) > 65536 and json.loads(received)


def test_the_streams_are_given_back_as_they_were():
    before = sys.stdout, sys.stderr
    with console.standard_streams() as streams:
        assert sys.stdout is not before[0]
        print("through the layer")
    assert (sys.stdout, sys.stderr) == before and streams.stdout_failure() is None


# --- real processes: closed descriptors, a file-size limit, a full file system ---------------------


FILE_SIZE_LIMIT = 4096  # RLIMIT_FSIZE of the limited cases: plan --json prints about 120 kB


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, resource.RLIM_INFINITY))


# Each case: command, how stdout and stderr are set up ("closed", "file" or "pipe"), and whether the file size is
# limited.  Few, as each costs a process start on a busy machine: the rest of each class is tested in this process.
Case = tuple[tuple[str, ...], str, str, bool]
CASES: dict[str, Case] = {
    "hardware list >&-": (("hardware", "list"), "closed", "pipe", False),
    "usage error 2>&-": (("--no-such-option",), "pipe", "closed", False),
    "plan --json over RLIMIT_FSIZE": (("plan", "--json"), "file", "pipe", True),
}
SIMULATE_WITHOUT_STDERR: Case = (("simulate", *SMALL, "--out", "run"), "pipe", "closed", False)


def _run_all(cases: dict[str, Case], folders) -> dict[str, tuple[int, str, str, Path]]:  # type: ignore[no-untyped-def]
    """Every case's exit code, stdout, stderr and folder (its working folder, from ``folders``, pytest's
    tmp_path_factory); run all at once, as each spends its second importing."""
    running = {}
    for name, (args, stdout, stderr, limited) in cases.items():
        folder = folders.mktemp("case")
        redirections = (" >&-" if stdout == "closed" else "") + (" 2>&-" if stderr == "closed" else "")
        with open(folder / "stdout", "wb") as file:
            running[name] = (subprocess.Popen(["/bin/sh", "-c", f"exec {' '.join(map(_quote, (*LXDEX, *args)))}{redirections}"],
                                              cwd=folder, stdin=subprocess.DEVNULL, preexec_fn=_limit_file_size if limited else None,
                                              stdout=file if stdout == "file" else subprocess.PIPE, stderr=subprocess.PIPE), folder)
    results = {}
    for name, (proc, folder) in running.items():
        out, err = proc.communicate(timeout=180)
        if cases[name][1] == "file":
            out = (folder / "stdout").read_bytes()
        (folder / "stdout").unlink()
        results[name] = (proc.returncode, out.decode(), err.decode(), folder)
    return results


@pytest.fixture(scope="module")
def ended(tmp_path_factory) -> dict[str, tuple[int, str, str, Path]]:
    return _run_all(CASES, tmp_path_factory)


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_a_command_with_stdout_closed_exits_1_with_one_line(ended):
    code, _, stderr, _ = ended["hardware list >&-"]
    assert (code, stderr) == (1, "lxdex: error: cannot write to standard output: Bad file descriptor\n")


def test_an_error_with_stderr_closed_keeps_its_exit_code(ended):
    assert ended["usage error 2>&-"][:2] == (2, "")  # said to nobody, not turned into 1 (faulthandler had no stderr)


@pytest.mark.slow  # a simulation in its own process: 5 to 20 s on a busy machine
def test_a_successful_simulate_with_stderr_closed_exits_0_and_writes_its_output(tmp_path_factory):
    code, stdout, _, folder = _run_all({"simulate": SIMULATE_WITHOUT_STDERR}, tmp_path_factory)["simulate"]
    assert code == 0 and "orders/s" in stdout
    assert json.loads((folder / "run" / "simulate.json").read_text())["markets"] == 300
    assert sorted(p.name for p in folder.rglob(".*")) == []  # no temporary left


def test_output_beyond_the_file_size_limit_is_an_error_not_a_truncated_success(ended):
    code, stdout, stderr, _ = ended["plan --json over RLIMIT_FSIZE"]
    assert (code, stderr) == (1, "lxdex: error: cannot write to standard output: File too large\n")  # not SIGXFSZ's death
    assert len(stdout.encode()) == FILE_SIZE_LIMIT  # what fitted; the exit code says it is not all


@pytest.mark.slow  # mounts a tmpfs (root only) and runs a process: a few seconds
def test_a_file_system_that_fills_part_way_is_an_error(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode != 0:
        pytest.skip("this system does not let us mount a tmpfs")
    try:
        (disk / "fill").write_bytes(b"\0" * 40 * 1024)
        with open(disk / "plan.json", "wb") as stdout:
            run = subprocess.run([*LXDEX, "plan", "--json"], stdout=stdout, stderr=subprocess.PIPE, timeout=120)
        assert (run.returncode, run.stderr.decode()) == (1, "lxdex: error: cannot write to standard output: No space left on device\n")
        assert 0 < (disk / "plan.json").stat().st_size < 65536
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_closed_descriptors_0_1_2_are_kept_from_files_lxdex_opens(tmp_path):
    """With stdout closed, the first file opened would take descriptor 1, and a child's or a C library's
    writes to "stdout" would land in it: the entry point opens /dev/null there first."""
    probe = ("import os, sys; told = int(sys.argv[1]); os.close(1); os.close(2); "
             "from lxdex_capacity.entry import _keep_standard_descriptors_open as keep; keep(); "
             "fd = os.open('f', os.O_WRONLY | os.O_CREAT); "
             "os.write(told, ' '.join([str(fd), os.readlink('/proc/self/fd/1'), str(os.get_inheritable(1))]).encode())")
    read, write = os.pipe()
    run = subprocess.run([sys.executable, "-c", probe, str(write)], cwd=tmp_path, pass_fds=(write,), timeout=60)
    os.close(write)
    with open(read) as told:
        fd, where, inheritable = told.read().split()
    assert run.returncode == 0 and int(fd) > 2 and where == os.devnull and inheritable == "True"

