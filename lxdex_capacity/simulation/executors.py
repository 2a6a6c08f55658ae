"""Where a run's shards execute: in this process, or as Dask actors on a cluster's workers.

An executor holds one :class:`~lxdex_capacity.simulation.worker.ShardWorker` per shard and calls a
method on all of them at once (:meth:`call`), returning their results in shard order.  The
coordinator (``run.simulate``) drives every shard through the same calls in lockstep, so the run
is one run whatever executes it.  A shard whose call fails is recorded in ``failed`` with its
error and is not called again; the others' results stand.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..distributed import wait_done
from ..errors import LxdexError
from ..scenarios.config import Scenario
from ..scenarios.generator import Generator, Part
from .worker import ShardWorker

__all__ = ["Executor", "InProcess", "OnDask"]


class Executor(Protocol):
    mode: str
    shards: int
    threads: int  # each shard's engine's threads
    failed: dict[int, str]
    scheduler: str | None

    def call(self, method: str, *args: Any) -> list[Any]:
        """``method(*args)`` on every live shard at once; results in shard order (``None`` for failed shards)."""
        ...

    def close(self) -> None: ...


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LxdexError) else f"{type(exc).__name__}: {exc}"


class InProcess:
    """Every shard in this process, called one after another (their numbers are the same as in parallel)."""

    scheduler: str | None = None

    def __init__(self, scenario: Scenario, parts: list[Part], threads: int = 1) -> None:
        self.shards = shards = len(parts)
        self.threads = threads
        self.mode = "process" if shards == 1 else "shards"
        self.failed: dict[int, str] = {}
        first = Generator(scenario, parts[0])
        self.workers = [ShardWorker(scenario, part, generator=first.for_shard(part.shard), threads=threads) for part in parts]

    def call(self, method: str, *args: Any) -> list[Any]:
        return [self.call_one(k, method, *args) for k in range(self.shards)]

    def call_one(self, shard: int, method: str, *args: Any) -> Any:
        """``method(*args)`` on one shard; ``None`` if it has failed (now or before)."""
        if shard in self.failed:
            return None
        try:
            return getattr(self.workers[shard], method)(*args)
        except LxdexError as exc:  # reported with the other shards' results; a bug still raises
            self.failed[shard] = _message(exc)
            return None

    def close(self) -> None:
        self.workers.clear()


class OnDask:
    """Each shard an actor on a Dask worker of ``client``'s cluster, spread over the workers round-robin."""

    def __init__(self, client: Any, scenario: Scenario, parts: list[Part], threads: int = 1) -> None:
        self.client = client
        self.threads = threads
        self.shards = len(parts)
        self.mode = "dask"
        self.failed: dict[int, str] = {}
        self.scheduler: str | None = str(getattr(client, "scheduler", None) and client.scheduler.address)
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise LxdexError("the Dask cluster has no workers")
        futures = [client.submit(ShardWorker, scenario.as_dict(), part, True, None, threads, actor=True, pure=False,
                                 workers=[workers[k % len(workers)]]) for k, part in enumerate(parts)]
        self.actors: dict[int, Any] = {}
        wait_done(futures)  # polls: an interrupt that Python swallowed is raised while waiting (see distributed.py)
        for k, future in enumerate(futures):
            try:
                self.actors[k] = future.result()
            except Exception as exc:  # the shard could not start; reported with the others' results
                self.failed[k] = _message(exc)

    def call(self, method: str, *args: Any) -> list[Any]:
        pending = {k: getattr(actor, method)(*args) for k, actor in self.actors.items()}
        results: list[Any] = [None] * self.shards
        wait_done(pending.values())
        for k, future in pending.items():
            try:
                results[k] = future.result()
            except Exception as exc:  # a shard's error, or its worker died: the others go on
                self.failed[k] = _message(exc)
                del self.actors[k]
        return results

    def close(self) -> None:
        self.actors.clear()
