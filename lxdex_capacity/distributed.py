"""Dask distributed, optional: a client for a local cluster (``--workers N``) or an existing one
(``--scheduler ADDRESS``), and a parallel map over it.

Dask is an extra (``pip install 'lxdex-capacity[distributed]'``); asking for workers without it is
one clear error.  Nothing here is imported unless those options are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import InputError, LxdexError

__all__ = ["dask_client", "parallel_map", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'lxdex-capacity[distributed]'"


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` if given, else a local cluster of ``workers``
    single-threaded worker processes on loopback (no dashboard)."""
    if workers is not None and scheduler is not None:
        raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        option = "--scheduler" if scheduler else "--workers"
        raise InputError(f"{option} needs Dask distributed, which is not installed: {INSTALL_HINT}") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
        yield client


def parallel_map(client: Any, fn: Callable[[Any], Any], items: Sequence[Any],
                 advance: Callable[[int, int, str], None] | None = None, describe: Callable[[Any], str] = str) -> list[Any]:
    """``[fn(item) for item in items]`` on the cluster, in order; progress as results arrive.

    A task that fails raises :class:`LxdexError` (of the task's own class, if it raised one) naming
    the item and the error."""
    from distributed import as_completed

    futures = client.map(fn, items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(items)
    for done, future in enumerate(as_completed(futures), start=1):
        i = index[future.key]
        try:
            results[i] = future.result()
        except LxdexError as exc:  # the same class, so the same exit code, naming the item
            raise type(exc)(f"{describe(items[i])}: {exc}") from None
        except Exception as exc:  # a worker's error, whatever it is, is reported as one line
            raise LxdexError(f"{describe(items[i])} failed on a Dask worker: {type(exc).__name__}: {exc}") from None
        if advance:
            advance(done, len(items), describe(items[i]))
    return results
