"""Dask in a hostile world: scheduler addresses that are malformed, unreachable or not Dask's are one
line and exit 2, quickly; a Ctrl-C or SIGTERM while Dask runs is ``lxdex: interrupted`` and nothing
else, with no process left behind."""

from __future__ import annotations

import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import assert_one_line_error, default_signals, run_cli, skip_if_ignored
from lxdex_capacity import distributed as dx
from lxdex_capacity.errors import InputError

SWEEP = ("sweep", "--markets", "300,600,1200", "--repeat", "1", "--trades", "3000", "--trades-retained", "1024", "--working-sets", "none")
FORMS = "host:port, tcp://host:port or tls://host:port"


def sweep_on(scheduler: str, tmp_path: Path):
    return run_cli(*SWEEP, "--out", str(tmp_path / "m.json"), "--scheduler", scheduler)


# -- the address's form: refused before Dask is imported, let alone connected -------------------------------

@pytest.mark.parametrize(("address", "message"), [
    ("not a url", FORMS),
    ("127.0.0.1:abc", "the port 'abc' is not a number from 1 to 65535"),
    ("127.0.0.1:0", "the port '0' is not a number from 1 to 65535"),
    ("tcp://127.0.0.1:65536", "the port '65536' is not a number from 1 to 65535"),
    ("http://127.0.0.1:1", "'http://'"),
    ("ws://127.0.0.1:8786", "'ws://'"),
    ("127.0.0.1", "has no port"),
    ("tcp://:8786", "has no host"),
    ("", "is empty"),
    ("tcp://10.0.0.5:8786/status", "no path"),
    ("tcp://::1:8786", "IPv6 host goes in brackets"),
    ("tcp://[::1:8786", "no closing ']'"),
    ("tcp://[not-v6]:8786", "is not an IPv6 address"),
    ("tcp://bad_host!:8786", "is not a host name or IP address"),
])
def test_a_malformed_scheduler_address_is_one_line(address, message, tmp_path):
    result = sweep_on(address, tmp_path)
    assert_one_line_error(result, message)
    assert "--scheduler" in result.stderr
    if message in (FORMS, "'http://'", "'ws://'"):
        assert FORMS in result.stderr  # the accepted forms are named


def test_simulate_checks_the_address_too():
    assert_one_line_error(run_cli("simulate", "--markets", "1000", "--shards", "2", "--scheduler", "http://127.0.0.1:1"),
                          FORMS)


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1:8786", ("tcp", "127.0.0.1", 8786)),
    ("tcp://scheduler.internal:8786", ("tcp", "scheduler.internal", 8786)),
    ("TLS://10.0.0.5:1", ("tls", "10.0.0.5", 1)),
    ("tcp://[::1]:65535", ("tcp", "::1", 65535)),
    ("[fe80::1]:8786", ("tcp", "fe80::1", 8786)),
])
def test_the_accepted_address_forms(address, expected):
    assert dx.parse_scheduler_address(address) == expected


# -- the probe: nothing there, or something that is not a Dask scheduler ---------------------------------------

@contextmanager
def stranger(reply: bytes | None, hold: bool = True) -> Iterator[int]:
    """A loopback TCP server that is not Dask: on each connection it sends ``reply`` (if any), then
    holds the connection open (``hold``) or closes it.  Yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if reply:
                conn.sendall(reply)
            if hold:
                held.append(conn)
            else:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()
        for conn in held:
            conn.close()


@pytest.fixture
def short_probe(monkeypatch):
    monkeypatch.setattr(dx, "PROBE_TIMEOUT", 0.5)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def test_nothing_listening_is_one_line(tmp_path):
    port = free_port()
    assert_one_line_error(sweep_on(f"tcp://127.0.0.1:{port}", tmp_path), "connection refused")


def test_an_unknown_host_is_one_line(tmp_path):
    assert_one_line_error(sweep_on("tcp://no-such-host.invalid:8786", tmp_path), "unknown host")


@pytest.mark.parametrize(("reply", "hold", "said"), [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", True, "it answered 'HTTP/1.1 400 Bad Request"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", False, "it answered 'HTTP/1.1 400 Bad Request"),
    (None, True, "sent nothing within 0.5 s"),  # a silent listener (nc -l)
    (None, False, "it closed the connection at once"),
    (b"\xff" * 8 + b"garbage", True, "it answered '\\xff\\xff"),  # read as a frame length: 16 EiB
    (struct.pack("Q", 3 << 60), True, "it answered"),  # 3 EiB, as in the report
    (b"SSH-2", False, "it sent only 'SSH-2'"),
    (struct.pack("QQ", 64, 1), False, "its answer stopped after 16 bytes"),  # a plausible start, then nothing
    (struct.pack("QQQ", 16, 1000, 0), True, "it answered"),  # a frame count the block cannot hold
])
def test_a_server_that_is_not_dask_is_refused_quickly(reply, hold, said, tmp_path, short_probe, monkeypatch):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")

    def client(*args, **kwargs):
        raise AssertionError("Dask's client was started: its connect timeout (10 s), not the probe's, would decide")

    monkeypatch.setattr(distributed, "Client", client)
    with stranger(reply, hold) as port:
        result = sweep_on(f"127.0.0.1:{port}", tmp_path)
    # The probe's verdict (within its 0.5 s timeout, which "sent nothing within 0.5 s" names), Dask never asked.
    assert_one_line_error(result, "cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert said in result.stderr and "is that the scheduler's address" in result.stderr
    assert os.listdir(tmp_path) == []


def test_the_probe_accepts_a_dask_handshake():
    handshake = b'\x83\xabcompression\xc0\xa6python\x93\x03\x0b\x07\xafpickle-protocol\x05'  # as a 2026.8 scheduler sends it
    block = struct.pack("QQ", 1, len(handshake)) + handshake
    with stranger(struct.pack("Q", len(block)) + block) as port:
        dx.probe_scheduler("tcp", "127.0.0.1", port, timeout=2)


def test_tls_needs_tls_settings(tmp_path, short_probe):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    with stranger(None) as port:  # a TLS server says nothing first: only the TCP connection is probed
        assert_one_line_error(sweep_on(f"tls://127.0.0.1:{port}", tmp_path), "tls:// needs Dask's TLS settings")


def test_a_real_scheduler_passes_the_probe_and_the_local_workers_ignore_ctrl_c():
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    if not hasattr(signal, "pthread_sigmask"):
        pytest.skip("signal masks are POSIX")
    with dx.dask_client(workers=1) as client:
        dx.probe_scheduler(*dx.parse_scheduler_address(client.scheduler.address))
        masks = client.run(lambda: sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    assert masks and all(signal.SIGINT in mask for mask in masks.values())
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # this process still gets Ctrl-C


def test_a_local_cluster_that_does_not_start_is_one_line(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Cluster failed to start: [Errno 24] Too many open files")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    result = run_cli(*SWEEP, "--out", str(tmp_path / "m.json"), "--workers", "2")
    assert result.exit_code == 2, result.stderr  # a resource limit, named
    assert result.stderr.strip() == ("lxdex: error: starting the local Dask cluster: too many open files (the open-file "
                                     f"limit (ulimit -n) is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]:,}); raise the "
                                     "limit or run less at once")

    def no_ports(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Cluster failed to start: no port")

    monkeypatch.setattr(distributed, "LocalCluster", no_ports)
    result = run_cli(*SWEEP, "--out", str(tmp_path / "m.json"), "--workers", "2")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.strip() == "lxdex: error: the local Dask cluster did not start: RuntimeError: Cluster failed to start: no port"
    assert not (tmp_path / "m.json").exists()


# -- interrupts swallowed by Python, held while Dask starts or stops ----------------------------------------

class _RaisesInDel:
    def __del__(self) -> None:
        raise KeyboardInterrupt


def test_an_interrupt_swallowed_by_a_finalizer_is_raised_again(capsys):
    with dx._interrupts_kept():
        _RaisesInDel()  # Python reports "Exception ignored in ..." and goes on, unless kept
        with pytest.raises(KeyboardInterrupt):
            dx.raise_if_interrupted()
        dx.raise_if_interrupted()  # raised once
    assert capsys.readouterr().err == ""


def test_a_signal_while_dask_starts_is_acted_on_once_it_has_started():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    skip_if_ignored(signal.SIGINT)
    reached = False
    with pytest.raises(KeyboardInterrupt), dx._interrupts_held():
        signal.raise_signal(signal.SIGINT)  # this thread, at once (os.kill may land on another thread, later, on a busy machine)
        for _ in range(50):  # the handler runs between bytecodes: give it many
            time.sleep(0.01)
        reached = True
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_probe_errors_are_input_errors():
    with pytest.raises(InputError, match="connection refused"):
        dx.probe_scheduler("tcp", "127.0.0.1", free_port(), timeout=1)


# -- Ctrl-C and SIGTERM while a sweep runs on a local cluster -------------------------------------------------

def _start(argv: list[str]) -> subprocess.Popen[str]:
    """``python -m lxdex_capacity.cli ARGV`` in its own session and process group (as a shell runs
    a job), with its signals at their default action whatever this test runner has."""
    return subprocess.Popen([sys.executable, "-m", "lxdex_capacity.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_signals)


def _descendants_once_busy(proc: subprocess.Popen[str], count: int, timeout: float = 90) -> list:
    """The command's descendant processes once there are ``count`` of them (the cluster's worker
    processes and the sweep points they run), polled with psutil."""
    psutil = pytest.importorskip("psutil")
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the command ended before it was interrupted: {proc.returncode}\n{proc.stderr.read() if proc.stderr else ''}")
        with_children = parent.children(recursive=True)
        if len(with_children) >= count:
            return with_children
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"fewer than {count} processes under the command after {timeout} s")


def _gone(processes: list, timeout: float = 10) -> list:
    """Those of ``processes`` still alive after ``timeout`` seconds (zombies count as gone)."""
    psutil = pytest.importorskip("psutil")
    deadline = time.monotonic() + timeout
    alive = processes
    while time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.2)
    for p in alive:  # do not leave them to the next test
        p.kill()
    return alive


def _interrupt(signum: int, whole_group: bool, argv: list[str], busy: int) -> tuple[int, str]:
    proc = _start(argv)
    try:
        descendants = _descendants_once_busy(proc, busy)
        time.sleep(0.5)
        if whole_group:  # a terminal's Ctrl-C: the whole foreground process group
            os.killpg(proc.pid, signum)
        else:  # kill PID, a supervisor's stop: the command alone
            proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _gone(descendants) == [], "processes left behind"
    return proc.returncode, stderr


def _assert_interrupted_quietly(code: int, stderr: str, expected: int) -> None:
    assert code == expected, stderr
    assert "lxdex: interrupted" in stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "distributed." not in stderr and " - ERROR - " not in stderr and "Warning" not in stderr, stderr


SWEEP_ON_TWO = ["sweep", "--workers", "2", "--markets", "1000,2000", "--fit-up-to", "2000", "--trades", "20000", "--trades-retained", "1024",
                "--working-sets", "none"]


@pytest.mark.slow  # a signal to a sweep on a Dask cluster, ~6 s, as its SIGTERM twin; CI runs it in the slow pass
def test_ctrl_c_during_a_sweep_on_two_workers_is_one_line(tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    # 5: the resource tracker, two workers, and a sweep point running on each
    code, stderr = _interrupt(signal.SIGINT, True, [*SWEEP_ON_TWO, "--out", str(tmp_path / "m.json")], busy=5)
    _assert_interrupted_quietly(code, stderr, 130)
    assert os.listdir(tmp_path) == []  # no model, no temporary file


@pytest.mark.slow
def test_sigterm_during_a_sweep_on_two_workers_is_one_line(tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    code, stderr = _interrupt(signal.SIGTERM, False, [*SWEEP_ON_TWO, "--out", str(tmp_path / "m.json")], busy=5)
    _assert_interrupted_quietly(code, stderr, 143)
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_in_fresh_processes_is_one_line(tmp_path):
    code, stderr = _interrupt(signal.SIGINT, True,
                              ["sweep", "--markets", "1000,2000", "--fit-up-to", "2000", "--trades", "20000", "--trades-retained", "1024", "--working-sets", "none", "--out", str(tmp_path / "m.json")], busy=1)
    _assert_interrupted_quietly(code, stderr, 130)
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "whole_group", "expected"), [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)])
def test_an_interrupted_sharded_simulation_is_one_line(signum, whole_group, expected, tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    code, stderr = _interrupt(signum, whole_group, ["simulate", "--markets", "50000", "--shards", "2"], busy=3)
    _assert_interrupted_quietly(code, stderr, expected)


@pytest.mark.slow  # two sharded simulations, ~20 s
def test_a_local_cluster_leaves_nothing_in_the_temporary_folder(tmp_path):
    """The workers' scratch space is a temporary folder of the cluster's own (not Dask's shared
    ``dask-scratch-space``), removed when the cluster closes: after a run, and after an interrupted one."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = os.environ | {"TMPDIR": str(temporary)}
    done = subprocess.run([sys.executable, "-m", "lxdex_capacity", "simulate", "--markets", "100", "--shards", "2",
                           "--trades", "10000"], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    assert os.listdir(temporary) == []
    proc = subprocess.Popen([sys.executable, "-m", "lxdex_capacity.cli", "simulate", "--markets", "50000", "--shards", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    try:
        descendants = _descendants_once_busy(proc, 3)
        assert [p for p in os.listdir(temporary) if p.startswith("lxdex-dask-")], "the cluster's scratch folder is not in TMPDIR"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _gone(descendants) == []
    _assert_interrupted_quietly(proc.returncode, stderr, 143)
    assert os.listdir(temporary) == []
