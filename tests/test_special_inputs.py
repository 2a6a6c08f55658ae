"""Inputs that are not regular files: a device, a named pipe, a socket or a folder where lxdex reads a file
is one line naming the file's role, the path and what it is, exit 2, before a byte is read; a named pipe
never makes lxdex wait (a watchdog feeds it an end of file after a few seconds, so a hang fails the test
instead of hanging it)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli
from lxdex_capacity import inputs
from lxdex_capacity.errors import InputError
from lxdex_capacity.replay.lobster import locate
from lxdex_capacity.schema import read_text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="devices, FIFOs and Unix sockets are POSIX's")

WATCHDOG_SECONDS = 5.0


@contextlib.contextmanager
def fed_if_read(fifo: Path) -> Iterator[list[bool]]:
    """While this lasts, a reader blocked on ``fifo`` for over :data:`WATCHDOG_SECONDS` gets an end of file
    (and the list it yields records that it had to); without one, nothing happens."""
    done = threading.Event()
    fed: list[bool] = []

    def watch() -> None:
        if done.wait(WATCHDOG_SECONDS):
            return
        while not done.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody reads it
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    return
                done.wait(0.05)
                continue
            fed.append(True)
            os.close(fd)  # the reader sees an end of file
            return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield fed
    finally:
        done.set()
        thread.join()


@pytest.fixture(scope="module")
def specials(tmp_path_factory) -> dict[str, tuple[Path, str]]:  # type: ignore[no-untyped-def]
    """Each kind of non-file, with the words its refusal uses."""
    folder = tmp_path_factory.mktemp("special")
    fifo = folder / "pipe.csv"
    os.mkfifo(fifo)
    sock_path = folder / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    kinds = {
        "character device": (Path("/dev/zero"), "is not a regular file: it is a character device"),
        "random device": (Path("/dev/urandom"), "is not a regular file: it is a character device"),
        "named pipe": (fifo, "is not a regular file: it is a named pipe (FIFO)"),
        "socket": (sock_path, "is not a regular file: it is a socket"),
        "folder": (folder, "is a directory, not a file"),
    }
    yield kinds
    sock.close()


def _commands(path: str, tmp: Path) -> dict[str, tuple[str, ...]]:
    """Every command option that reads a file, given ``path``."""
    return {
        "scenario show --scenario": ("scenario", "show", "--scenario", path),
        "simulate --scenario": ("simulate", "--scenario", path),
        "plan --model": ("plan", "--markets", "100", "--model", path),
        "plan --hardware": ("plan", "--markets", "100", "--hardware", path),
        "report --results": ("report", "--results", path, "--out", str(tmp / "r")),
        "report --simulate": ("report", "--simulate", path, "--out", str(tmp / "r")),
        "audit claims": ("audit", path),
        "compare base": ("compare", path, path),
        "replay": ("replay", path),
        "calibrate": ("calibrate", path, "--out", str(tmp / "s.toml")),
        "latency --day": ("latency", "--markets", "100", "--arrivals", "lobster", "--day", path),
    }


@pytest.mark.parametrize("kind", ["character device", "random device", "named pipe", "socket", "folder"])
def test_every_command_refuses_what_is_not_a_file(kind, specials, tmp_path):
    path, words = specials[kind]
    failures = []
    for name, args in _commands(str(path), tmp_path).items():
        with fed_if_read(path) if kind == "named pipe" else contextlib.nullcontext([]) as fed:
            result = run_cli(*args)
        lines = result.stderr.strip().splitlines()
        if fed or result.exit_code != 2 or len(lines) != 1 or words not in lines[0] or str(path) not in lines[0]:
            failures.append(f"{name}: exit {result.exit_code}{' (it waited on the pipe)' if fed else ''}: {result.stderr!r}")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "s.toml").exists() and not (tmp_path / "r").exists()


def test_the_library_readers_refuse_before_reading(specials):
    for path, words in specials.values():
        for read in (lambda p: read_text(p, "scenario file"), lambda p: locate(p, "message"),
                     lambda p: inputs.open_input(p, "--day file")):
            with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
                read(path)


def test_a_path_swapped_for_a_pipe_after_its_check_is_refused_without_waiting(specials, monkeypatch):
    """Between the look at the path and its opening, a FIFO takes a file's place: the open does not wait
    for a writer (O_NONBLOCK), and the opened file's own type refuses it."""
    fifo, _ = specials["named pipe"]
    monkeypatch.setattr(inputs, "check_input", lambda path, what, hint="": os.stat(__file__))  # it looked like a file
    with fed_if_read(fifo) as fed, pytest.raises(InputError, match=r"is not a regular file: it is a named pipe"):
        inputs.open_input(fifo, "scenario file")
    assert not fed


def test_regular_files_still_read(tmp_path):
    text = tmp_path / "s.toml"
    text.write_bytes(b"markets = 5\r\nseed = 1\r")
    assert read_text(text, "scenario file") == "markets = 5\nseed = 1\n"  # universal newlines, as before
    assert "Name:" in read_text("/proc/self/status", "file") if os.path.exists("/proc/self/status") else True
    link = tmp_path / "link.toml"
    link.symlink_to(text)
    assert read_text(link, "scenario file").startswith("markets")
    with pytest.raises(InputError, match="does not exist"):
        read_text(tmp_path / "missing.toml", "scenario file")


def test_a_symbolic_link_to_a_device_is_refused_as_the_device(tmp_path):
    link = tmp_path / "day.csv"
    link.symlink_to("/dev/zero")
    assert_one_line_error(run_cli("replay", str(link)), "is not a regular file: it is a character device")
