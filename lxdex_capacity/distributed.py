"""Dask distributed, optional: a client for a local cluster (``--workers N``) or an existing one
(``--scheduler ADDRESS``), and a parallel map over it.

Dask is an extra (``pip install 'lxdex-capacity[distributed]'``); asking for workers without it is
one clear error.  Nothing here is imported unless those options are used.

An existing scheduler's address is checked before Dask sees it: its form (:func:`parse_scheduler_address`),
then a plain TCP connection that must answer with the opening of Dask's comm handshake
(:func:`probe_scheduler`), so that a wrong address is one line, not a hang, a traceback, or a huge
allocation from a stranger's bytes read as a frame length.

Stopping is quiet: the local cluster's worker processes are started with SIGINT blocked (the block
is inherited through fork and exec, by every worker the cluster ever starts), so a terminal's Ctrl-C
reaches only ``lxdex``.  There a Ctrl-C or SIGTERM raises as usual, except while Dask starts or
stops, when it is held until Dask is done; and one that Python would swallow (raised inside a
finalizer or a gc callback) is kept and raised again by the waits here.  The cluster is then closed
with Dask's log records, warnings and "Exception ignored" reports silenced (its workers log nothing
below CRITICAL in any case), the workers' running tasks abandoned, and no process left behind; the
command reports ``lxdex: interrupted``.

Starting is quiet too, whatever else runs on this machine: a local cluster has no dashboard, takes no
fixed port (another cluster's 8787 is not ours to want), and no Dask warning or log line reaches the
terminal, from this process or its workers (:func:`_local_cluster`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import multiprocessing
import os
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

from .errors import InputError, LxdexError
from .limits import is_resource_error, resource_limit

__all__ = ["dask_client", "parallel_map", "wait_done", "raise_if_interrupted", "parse_scheduler_address", "probe_scheduler",
           "INSTALL_HINT"]

INSTALL_HINT = "pip install 'lxdex-capacity[distributed]'"

PROBE_TIMEOUT = 3.0  # seconds, for the TCP connection and again for the scheduler's handshake
CONNECT_TIMEOUT = "10s"  # distributed.Client's, once the probe has passed

_FORMS = "host:port, tcp://host:port or tls://host:port (e.g. tcp://10.0.0.5:8786)"
_SCHEMES = ("tcp", "tls")
_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?")

# Dask's handshake, as distributed.comm.tcp writes any message: a uint64 (the byte count of the
# block that follows), then the block: a uint64 frame count, a uint64 length per frame, the frames;
# in native byte order, as Dask reads them.  A handshake is a small dict (compression, python version,
# pickle protocol: ~60 bytes).
_U64 = struct.Struct("Q")
_MAX_HANDSHAKE_BYTES = 64 * 1024
_MAX_HANDSHAKE_FRAMES = 64


def parse_scheduler_address(address: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a scheduler address ``[tcp://|tls://]host:port`` (an IPv6 host in
    brackets); anything else is an :class:`InputError` naming the accepted forms."""
    where = f"--scheduler {address!r}"
    if not address.strip():
        raise InputError(f"{where} is empty; give {_FORMS}")
    if any(c.isspace() for c in address):
        raise InputError(f"{where} is not an address (it holds spaces); give {_FORMS}")
    scheme, sep, rest = address.partition("://")
    if sep:
        scheme = scheme.lower()
        if scheme not in _SCHEMES:
            raise InputError(f"{where}: a Dask scheduler is not reached over {scheme + '://'!r}; give {_FORMS}")
    else:
        scheme, rest = "tcp", address
    if any(c in rest for c in "/?#@"):
        raise InputError(f"{where} is not an address (only host and port, no path or user); give {_FORMS}")
    if rest.startswith("["):  # [IPv6]:port
        host, bracket, tail = rest[1:].partition("]")
        if not bracket:
            raise InputError(f"{where}: the IPv6 host has no closing ']'; give {_FORMS}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InputError(f"{where}: {host!r} is not an IPv6 address") from None
        if not tail.startswith(":"):
            raise InputError(f"{where} has no port; give {_FORMS}")
        port_text = tail[1:]
    else:
        host, colon, port_text = rest.rpartition(":")
        if not colon:
            raise InputError(f"{where} has no port; give {_FORMS}")
        if ":" in host:
            raise InputError(f"{where}: an IPv6 host goes in brackets, e.g. tcp://[::1]:8786")
        if not host:
            raise InputError(f"{where} has no host; give {_FORMS}")
        if len(host) > 253 or not _HOST_NAME.fullmatch(host):
            raise InputError(f"{where}: {host!r} is not a host name or IP address")
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise InputError(f"{where}: the port {port_text!r} is not a number from 1 to 65535")
    return scheme, host, int(port_text)


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    return exc.strerror or " ".join(str(exc).split()) or type(exc).__name__


def _shown(data: bytes) -> str:
    """The first bytes a stranger sent, printable and on one line."""
    text = repr(data[:24])[2:-1]  # b'...' without b and quotes: escapes for the unprintable
    return f"'{text}{'...' if len(data) > 24 else ''}'"


def _recv_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    """``n`` bytes from ``sock``, or fewer if the peer closes or ``deadline`` passes."""
    data = bytearray()
    while len(data) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(n - len(data))
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _check_handshake(sock: socket.socket, timeout: float) -> str | None:
    """What is wrong with the peer on ``sock``, as a Dask server (None if it opened with a plausible
    handshake: small, and its frame count and lengths consistent)."""
    stranger = "the server there does not speak Dask's protocol"
    deadline = time.monotonic() + timeout
    try:
        head = _recv_exactly(sock, _U64.size, deadline)
        if not head:
            if time.monotonic() >= deadline:
                return f"the server there sent nothing within {timeout:g} s, where a Dask scheduler sends its handshake at once"
            return f"{stranger} (it closed the connection at once)"
        if len(head) < _U64.size:
            return f"{stranger} (it sent only {_shown(head)})"
        (size,) = _U64.unpack(head)
        if not 2 * _U64.size <= size <= _MAX_HANDSHAKE_BYTES:  # never read that many bytes: a stranger's
            return f"{stranger} (it answered {_shown(head + _peek(sock))})"
        block = _recv_exactly(sock, size, deadline)
    except OSError as exc:
        return f"the connection failed: {_reason(exc)}"
    if len(block) < size:
        return f"{stranger} (its answer stopped after {len(block) + _U64.size} bytes)"
    (frames,) = _U64.unpack_from(block)
    prelude = _U64.size * (1 + frames)
    if not 1 <= frames <= _MAX_HANDSHAKE_FRAMES or prelude > size:
        return f"{stranger} (it answered {_shown(head + block)})"
    lengths = struct.unpack_from(f"{frames}Q", block, _U64.size)
    if not size <= prelude + sum(lengths) <= _MAX_HANDSHAKE_BYTES:
        return f"{stranger} (it answered {_shown(head + block)})"
    return None


def _peek(sock: socket.socket) -> bytes:
    """A few more bytes, if they are already there (to show what a stranger sent)."""
    try:
        sock.settimeout(0.05)
        return sock.recv(16)
    except OSError:
        return b""


def probe_scheduler(scheme: str, host: str, port: int, timeout: float | None = None) -> None:
    """Refuse, as one :class:`InputError`, a scheduler address where nothing answers within
    ``timeout`` seconds, or where the answer is not the opening of Dask's handshake (an HTTP server,
    a silent listener).  A Dask server writes its handshake as soon as a connection opens.

    For ``tls://`` only the TCP connection is checked: a TLS server says nothing before the
    client's TLS hello, so its handshake cannot be read in plain text."""
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    url = _url(scheme, host, port)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {url}: {_reason(exc)}") from None
    with sock:
        if scheme == "tls":
            return
        why = _check_handshake(sock, timeout)
    if why is not None:
        raise InputError(f"cannot reach the Dask scheduler at {url}: {why}; is that the scheduler's address "
                         "(its default port is 8786)?")


# Stopping.  A terminal's Ctrl-C is SIGINT to the whole foreground process group: the local
# cluster's workers get it too, and each would print its KeyboardInterrupt traceback.  They are
# therefore started with SIGINT blocked (_sigint_blocked), and only this process acts on it: it
# closes the cluster (_close_quietly), which ends the workers and, through them, their children.

@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread, and in the threads and processes started meanwhile (they
    inherit the block, across fork and exec, for good)."""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None:  # not POSIX
        yield
        return
    previous = block(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        block(signal.SIG_SETMASK, previous)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, if it is not running: starting it unblocks
    SIGINT in the thread that does it (``resource_tracker.ensure_running``), so that must not first
    happen in the cluster's event-loop thread, whose block every worker inherits."""
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except (ImportError, AttributeError, OSError):  # not POSIX, or a Python that does it otherwise
        pass


_HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))


def _act_as(handler: Any, signum: int) -> None:
    """Do now what ``handler`` (the handler before ours) does with ``signum``: raise KeyboardInterrupt
    for Ctrl-C, or whatever the command's own SIGTERM handler raises."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_IGN:
        return
    elif signum == signal.SIGINT:
        raise KeyboardInterrupt
    else:  # the default action of SIGTERM: the end of this process
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@contextmanager
def _interrupts_held(reraise: bool = True) -> Iterator[None]:
    """SIGINT and SIGTERM held while Dask starts or stops (in the main thread; elsewhere Python
    delivers no signal): one that arrives is noted and, if ``reraise``, acted on when this ends,
    so that it does not cut through Dask's start or stop halfway; a second one acts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[int, Any] = {}

    def hold(signum: int, frame: Any) -> None:
        if caught:
            _act_as(previous[signum], signum)
        caught.append(signum)

    for sig in _HELD:
        previous[sig] = signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be set back
                signal.signal(sig, handler)
        if caught and reraise:
            _act_as(previous[caught[0]], caught[0])


# Interrupts that Python swallowed: a Ctrl-C (KeyboardInterrupt) or SIGTERM raised while the main
# thread ran a finalizer or a gc callback is reported as "Exception ignored" and lost.  While a Dask
# client is open they are kept here instead, unprinted, and raised again by raise_if_interrupted(),
# which the waits on Dask call.
_swallowed: list[BaseException] = []


@contextmanager
def _interrupts_kept() -> Iterator[None]:
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _swallowed.append(unraisable.exc_value)
        else:
            previous(unraisable)

    _swallowed.clear()
    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def raise_if_interrupted() -> None:
    """Raise again an interrupt that Python swallowed in a finalizer or a gc callback (see above)."""
    if _swallowed:
        exc = _swallowed[0]
        _swallowed.clear()
        raise exc.with_traceback(None)


def wait_done(futures: Iterable[Any], poll: float = 0.05) -> None:
    """Wait until every future (Dask's, or an actor call's) is done, in a way a swallowed interrupt
    cannot stall: the wait polls, and raises it (:func:`raise_if_interrupted`)."""
    for future in futures:
        while not future.done():
            raise_if_interrupted()
            time.sleep(poll)
    raise_if_interrupted()


def _no_gc_callback() -> None:
    """Unhook the gc callback that a local cluster's scheduler hooks into this process (Dask's GC
    diagnosis, log lines at debug level), where most swallowed Ctrl-Cs would happen."""
    try:
        from distributed.gc import disable_gc_diagnosis

        disable_gc_diagnosis(force=True)
    except (ImportError, AttributeError, AssertionError, ValueError):  # another Dask: raise_if_interrupted still copes
        pass


@contextmanager
def _silenced() -> Iterator[None]:
    """No log record, warning or "Exception ignored" report from anything while this lasts: Dask's
    chatter while it stops."""
    level = logging.root.manager.disable
    hook = sys.unraisablehook
    logging.disable(logging.CRITICAL)
    sys.unraisablehook = lambda unraisable: None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.unraisablehook = hook
        logging.disable(level)


def _close_quietly(closers: Sequence[Callable[[bool], Any]], failing: bool) -> None:
    """Run every closer, interrupts held and Dask silenced.  If the run is ``failing`` (an error,
    an interrupt), that is what is reported: an interrupt meanwhile is dropped, as are the closers'
    errors; otherwise an interrupt meanwhile, or the first closer's error, is raised at the end.
    Each closer is told whether the run is failing (then it need not be gentle)."""
    error: Exception | None = None
    with _interrupts_held(reraise=not failing), _silenced():
        for close in closers:
            try:
                close(failing)
            except Exception as exc:
                error = error or exc
    if error is not None and not failing:
        raise error


def _worker_processes(started_before: set[int]) -> list[Any]:
    """The local cluster's worker processes: this process's multiprocessing children that were not
    there before the cluster started."""
    return [p for p in multiprocessing.active_children() if p.pid not in started_before]


def _end_task_processes(started_before: set[int], failing: bool) -> None:
    """Kill the processes that the workers' running tasks started (a sweep point each): a worker
    closes only once its running task returns, and that task waits for its process."""
    if not failing:  # nothing runs any more
        return
    try:
        import psutil
    except ImportError:  # distributed depends on psutil; without it the workers close more slowly
        return
    for worker in _worker_processes(started_before):
        with suppress(psutil.Error):
            for child in psutil.Process(worker.pid).children(recursive=True):
                with suppress(psutil.Error):
                    child.kill()


def _close_cluster(cluster: Any, failing: bool) -> None:
    """Close the local cluster; if the run is failing, its workers' running tasks are abandoned, and
    each worker gets half a second to stop before it is killed (Dask would wait 4 s for it)."""
    if failing:
        with suppress(Exception):
            cluster.sync(_stop_workers_now, list(cluster.workers.values()))
    cluster.close()


async def _stop_workers_now(nannies: list[Any]) -> None:
    await asyncio.gather(*(nanny.close(timeout=0.5) for nanny in nannies), return_exceptions=True)


def _end_worker_processes(started_before: set[int], failing: bool) -> None:
    """Kill what is left of the workers once the cluster has closed (nothing, unless it failed to)."""
    for worker in _worker_processes(started_before):
        worker.kill()
        worker.join(5)


def _check_tls_settings(url: str) -> None:
    """tls:// needs this client's certificate settings in the Dask configuration; refuse without."""
    from distributed.security import Security

    try:
        context = Security().get_connection_args("client").get("ssl_context")
    except Exception as exc:  # a file named there is missing or is not a certificate
        raise InputError(f"cannot connect to the Dask scheduler at {url}: Dask's TLS settings: {_one_line(exc)}") from None
    if context is None:
        raise InputError(f"cannot connect to the Dask scheduler at {url}: tls:// needs Dask's TLS settings "
                         "(distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key in the Dask "
                         "configuration), and none are set")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# A local cluster says nothing and serves nothing but its workers.  Its scheduler starts an HTTP server
# even with no dashboard, on port 8787 unless told otherwise; when another cluster on this machine
# holds that port (a normal situation), Dask warns "Port 8787 is already in use" and takes another.
# So: no dashboard, the HTTP servers (scheduler's and workers') on an ephemeral loopback port with no
# routes, Dask's log records and warnings silenced while it starts (here, where the scheduler and the
# nannies run) and for good in the worker processes (_quiet_worker), whose stderr is the terminal's.
# What matters reaches this process as a task's error, and is reported as one line.

_NO_HTTP_ROUTES: dict[str, list[str]] = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}


def _local_cluster(local_cluster: Any, workers: int, scratch: str) -> Any:
    """A ``distributed.LocalCluster`` (the class is ``local_cluster``) of ``workers`` single-threaded
    worker processes on loopback, started in silence: no dashboard, nothing on any fixed port; the
    workers' files in ``scratch`` (Dask's default, ``dask-scratch-space`` in the temporary folder,
    would outlive the run)."""
    import dask
    from distributed import Nanny

    settings = _NO_HTTP_ROUTES | {"temporary-directory": scratch}
    with dask.config.set(settings), _silenced():  # the workers take the configuration as they spawn
        return local_cluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                             local_directory=scratch, worker_class=partial(Nanny, worker_class=_quiet_worker),
                             silence_logs=logging.CRITICAL)


def _scratch_folder() -> str:
    """A temporary folder of the local cluster's own, for its workers' files; removed when it closes."""
    try:
        return tempfile.mkdtemp(prefix="lxdex-dask-")
    except OSError as exc:
        if is_resource_error(exc):
            raise resource_limit(exc, "creating the Dask workers' scratch folder") from None
        raise LxdexError(f"the local Dask cluster did not start: no scratch folder in {tempfile.gettempdir()!r}: "
                         f"{exc.strerror or exc}") from None


def _quiet_worker(*args: Any, **kwargs: Any) -> Any:
    """A Dask worker, made in its own process (what its nanny calls there): Dask's warnings and every
    log record, its own and asyncio's or tornado's, silenced in that process for good; lxdex's own
    warnings still shown.  (The worker's parts made before its preloads would run warn too, e.g. about
    a slow scratch directory: hence a factory, not a preload.)"""
    from distributed import Worker

    warnings.simplefilter("ignore")
    warnings.filterwarnings("default", module=r"lxdex_capacity(\.|$)")
    logging.disable(logging.CRITICAL)
    return Worker(*args, **kwargs)


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` if given (checked and probed first), else a local
    cluster of ``workers`` single-threaded worker processes on loopback (no dashboard, no fixed port,
    no warning or log line from Dask: see :func:`_local_cluster`)."""
    if workers is not None and scheduler is not None:
        raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if scheduler is not None:
        address = parse_scheduler_address(scheduler)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        option = "--scheduler" if scheduler else "--workers"
        raise InputError(f"{option} needs Dask distributed, which is not installed: {INSTALL_HINT}") from None
    closers: list[Callable[[bool], Any]] = []  # in order: the client's, the cluster's, what is left
    with _interrupts_kept():
        try:
            with _interrupts_held():  # a Ctrl-C while Dask starts is raised once it has started, below
                if scheduler is not None:
                    probe_scheduler(*address)
                    url = _url(*address)
                    if address[0] == "tls":
                        _check_tls_settings(url)
                    try:
                        with _silenced():
                            client = Client(url, timeout=CONNECT_TIMEOUT)
                    except Exception as exc:  # whatever Dask raises (OSError, TimeoutError, a protocol error)
                        raise InputError(f"cannot connect to the Dask scheduler at {url}: {_one_line(exc)}") from None
                    closers.append(lambda failing: client.close())
                else:
                    _start_resource_tracker()
                    before = {p.pid for p in multiprocessing.active_children() if p.pid is not None}
                    scratch = _scratch_folder()
                    closers.append(partial(_end_worker_processes, before))
                    closers.append(lambda failing: shutil.rmtree(scratch, ignore_errors=True))  # last: no worker left
                    with _sigint_blocked():  # inherited by the workers: Ctrl-C reaches only this process
                        try:
                            cluster = _local_cluster(LocalCluster, workers or 1, scratch)
                        except Exception as exc:  # no ports, no processes, no room for the workers' files
                            if is_resource_error(exc):
                                raise resource_limit(exc, "starting the local Dask cluster") from None
                            raise LxdexError(f"the local Dask cluster did not start: {_one_line(exc)}") from None
                        closers[:0] = [partial(_end_task_processes, before), partial(_close_cluster, cluster)]
                        with _silenced():
                            client = Client(cluster)
                        closers.insert(0, lambda failing: client.close())
                    _no_gc_callback()
            yield client
            raise_if_interrupted()
        except BaseException:
            _close_quietly(closers, failing=True)
            raise
        _close_quietly(closers, failing=False)


def parallel_map(client: Any, fn: Callable[[Any], Any], items: Sequence[Any],
                 advance: Callable[[int, int, str], None] | None = None, describe: Callable[[Any], str] = str) -> list[Any]:
    """``[fn(item) for item in items]`` on the cluster, in order; progress as results arrive.

    A task that fails raises :class:`LxdexError` (of the task's own class, if it raised one) naming
    the item and the error."""
    futures = client.map(fn, items, pure=False)
    pending = dict(enumerate(futures))
    results: list[Any] = [None] * len(items)
    done = 0
    while pending:
        finished = [i for i, future in pending.items() if future.done()]
        if not finished:
            raise_if_interrupted()
            time.sleep(0.05)
            continue
        for i in finished:
            future = pending.pop(i)
            try:
                results[i] = future.result()
            except LxdexError as exc:  # the same class, so the same exit code, naming the item
                raise type(exc)(f"{describe(items[i])}: {exc}") from None
            except Exception as exc:  # a worker's error, whatever it is, is reported as one line
                raise LxdexError(f"{describe(items[i])} failed on a Dask worker: {_one_line(exc)}") from None
            done += 1
            if advance:
                advance(done, len(items), describe(items[i]))
    return results
