"""The one gate every web query passes: a query process, the time limit, light and heavy queries, streaming.

A query gets an idle query process (pool.py), waiting at most `queue_wait` seconds for one
(503 "server busy" after). It is light until its process has spent `heavy_after` seconds of
CPU on it (time spent waiting for a CPU on a busy machine does not count); then the
scheduler (scheduling.py) counts it as heavy or refuses it (429 for the client's own limits,
503 when the server's heavy share is full), and its process drops to a lower CPU priority so
light queries are scheduled first. A query over its time limit has its process SIGKILLed
and replaced; the client gets 503 "query exceeded the N s time limit and was stopped".

The process serialises the answer and sends it in chunks (worker.py); the web process
streams them to the client as they come. Where the store is another engine's, a query is
a thread waiting for the engine instead (threads.py), its engine reads bounded by the
query's deadline: the gate and the scheduler are the same.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from kgserver.config import ServerSettings
from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.sparql.pool import PoolStatus, Worker, WorkerPool, malloc_library
from kgserver.sparql.scheduling import QUICK_SECONDS, Limits, Scheduler, Ticket
from kgserver.sparql.threads import EngineThreads, ThreadWorker
from kgserver.sparql.worker import Head, Job
from kgserver.store.dialects import DIALECTS
from kgserver.store.location import StoreLocation

__all__ = ["ENGINE_CRASHED", "Execution", "GateObserver", "Head", "Job", "QueryGate", "QueryTimeoutError"]


Lent = Worker | ThreadWorker  # what the pool lends a query: a query process, or a thread waiting for an engine


class QueryTimeoutError(UnavailableError):
    """A query ran past its time limit; its process was killed."""


# How a process ends when the engine overflows its stack on a query too deeply nested or chained
# (50,000 `||`, UNION or `/` in a row): that query's fault, answered 400, not the server's.
_ENGINE_CRASHES = (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS)
ENGINE_CRASHED = "the query engine could not evaluate this query: it is nested or chained too deeply; simplify it"
_ENGINE_GRACE_SECONDS = 1.0  # an engine's own limit sits this far past ours, so ours is the one a client meets
_RECHECK_SECONDS = 0.05  # how soon a query that has waited more than computed is looked at again


class GateObserver(Protocol):
    """What the gate reports as it works, for the metrics (kept out of this module: it knows no Prometheus)."""

    def waited(self, seconds: float) -> None:
        """A query waited this long for a query process (whether it got one or not)."""

    def finished(self, heavy: bool, seconds: float) -> None:
        """A query that had a process ended (answered, failed or stopped), light or heavy."""

    def refused(self, reason: str) -> None:
        """A query was refused: `busy` (no process), `heavy-share`, `client-heavy` (a 429)."""


class _Unobserved:
    def waited(self, seconds: float) -> None:
        pass

    def finished(self, heavy: bool, seconds: float) -> None:
        pass

    def refused(self, reason: str) -> None:
        pass


class Execution:
    """A running query whose head is known: iterate it for the body, close it when done.

    The process goes back to the pool when the body has been read to the end; if the
    response is abandoned (client gone, time limit hit mid-stream), the process is killed.
    """

    def __init__(
        self, gate: QueryGate, worker: Lent | None, ticket: Ticket, head: Head, timeout: float,
        body: bytes | None = None,
    ) -> None:
        self.head = head
        self._gate = gate
        self._worker = worker
        self._ticket = ticket
        self._timeout = timeout
        self._body = body

    @property
    def whole(self) -> bytes | None:
        """The whole body, when it came with the head (a small answer); None when it streams."""
        return self._body

    def __iter__(self) -> Iterator[bytes]:
        if self._body is not None:  # the whole body came with the head; the process is back in the pool
            yield self._body
            return
        worker = self._worker
        if worker is None:
            return
        while True:
            message = self._gate.receive(worker, self._ticket, self._timeout, refusable=False)
            if message[0] == "data":
                yield message[1]
            elif message[0] == "done":
                worker.cpu = message[1]
                self._worker = None
                self._gate.release(worker, self._ticket)
                return
            else:
                raise KgError(f"the query failed while its results were being sent: {message[2]}")

    def close(self) -> None:
        """Kill the process if the body was not read to the end: it may still be writing."""
        if self._worker is not None:
            self._gate.discard(self._worker, self._ticket)
            self._worker = None


class QueryGate:
    """The query processes and the scheduler; `execute` is the only way a web query reaches the store."""

    def __init__(
        self, place: StoreLocation | Path, prefixes: Mapping[str, str], limits: ServerSettings,
        observer: GateObserver | None = None, version: Callable[[], str | None] | None = None,
    ) -> None:
        """`version` reads the dataset version: a query process started at it does not reopen the store for it."""
        self._limits = limits
        self._observer: GateObserver = observer or _Unobserved()
        self.scheduler = Scheduler(Limits.of(limits))
        location = StoreLocation.of(place)
        read_seconds = limits.query_timeout + _ENGINE_GRACE_SECONDS
        self._pool: WorkerPool | EngineThreads
        # an engine that sorts a deep ordered page fast itself gets the query as sent (paging.py is for Oxigraph's sort)
        self._engine_pages = not location.embedded and DIALECTS[str(location.engine)].pages_ordered
        if location.embedded:
            self._pool = WorkerPool(
                location, prefixes, limits.query_workers, limits.max_query_workers, limits.query_idle,
                malloc_library(limits.query_malloc), read_seconds=read_seconds, quick_seconds=QUICK_SECONDS,
                version=version,
            )
        else:  # the engine computes: a thread waits for it, its reads bounded by the query's deadline
            self._pool = EngineThreads(location.open_reader(read_seconds, researchers=True), prefixes, limits.max_query_workers)

    def status(self) -> dict[str, Any]:
        """The processes and the heavy queries now, and the limits, for /health."""
        pool: PoolStatus = self._pool.status()  # in front of an engine: query threads, not processes
        limits = self._limits
        return {
            "processes": pool.processes,
            "idle": pool.idle,
            "starting": pool.starting,
            "heavy": self.scheduler.heavy_running,
            "limits": {
                "min_processes": limits.query_workers,
                "max_processes": limits.max_query_workers,
                "query_timeout_seconds": limits.query_timeout,
                "queue_wait_seconds": limits.queue_wait,
                "heavy_after_seconds": limits.heavy_after,
                "max_heavy_queries": limits.effective_heavy_share,
                "heavy_queries_per_client": limits.heavy_per_client,
                "heavy_seconds_per_client_per_minute": limits.heavy_budget,
                "query_malloc": self._pool.malloc_in_use,
            },
        }

    def execute(self, job: Job, timeout: float, client: str = "", shape: str = "") -> Execution:
        """Run `job` in a query process within `timeout` seconds; the head is known on return."""
        arrived = time.monotonic()
        deadline = arrived + timeout
        job = dataclasses.replace(job, deadline=deadline, order=None if self._engine_pages else job.order)
        worker = self._pool.acquire(min(self._limits.queue_wait, timeout), self.scheduler.expected_seconds(shape))
        self._observer.waited(time.monotonic() - arrived)
        if worker is None:
            self._observer.refused("busy")
            raise UnavailableError("server busy: every query process is occupied; retry shortly", retry_after=1)
        started = time.monotonic()
        ticket = Ticket(
            client, shape, started, deadline, check_heavy=started + self._limits.heavy_after, cpu_start=worker.cpu
        )
        if self.scheduler.promote_predicted(ticket):  # a shape that turned heavy: heavy from its start
            self._pool.hold_heavy(worker, self._limits.heavy_nice)
        elif self.scheduler.predicted_heavy(shape):  # a limit is reached: light for now, yet at low priority
            self._pool.lower_priority(worker, self._limits.heavy_nice)
        try:
            worker.conn.send(job)
            message = self.receive(worker, ticket, timeout)
        except (EOFError, OSError):
            self.discard(worker, ticket)
            raise KgError("the query process stopped unexpectedly") from None
        except BaseException:
            self.discard(worker, ticket)
            raise
        if message[0] == "error":
            _, status, text, worker.cpu, retry_after = message
            self.release(worker, ticket)
            if status == 503:  # the store (an engine) did not answer, or is damaged: the client may come back
                raise UnavailableError(text, retry_after=retry_after or 5)
            error = KgError(text)
            error.http_status = status
            raise error
        if message[0] == "whole":
            worker.cpu = message[3]
            self.release(worker, ticket)
            return Execution(self, None, ticket, message[1], timeout, message[2])
        return Execution(self, worker, ticket, message[1], timeout)

    def receive(self, worker: Lent, ticket: Ticket, timeout: float, refusable: bool = True) -> tuple[Any, ...]:
        """The process's next message; QueryTimeoutError past the deadline; the query turns heavy on the way.

        A query is heavy once its process has used `heavy_after` seconds of CPU on it: a light
        query that waits for a CPU on a busy machine stays light.
        """
        try:
            while True:
                until = ticket.deadline if ticket.heavy else min(ticket.deadline, ticket.check_heavy)
                ready = worker.conn.poll(max(0.0, until - time.monotonic()))
                now = time.monotonic()
                if now >= ticket.deadline:  # also when a message is ready: a process sending fast never waits for poll
                    raise QueryTimeoutError(f"query exceeded the {timeout:g} s time limit and was stopped")
                if ready:
                    return worker.conn.recv()
                used = worker.cpu_since_last_job()
                if used is not None and used < self._limits.heavy_after:
                    ticket.check_heavy = now + max(self._limits.heavy_after - used, _RECHECK_SECONDS)
                    continue
                self._turn_heavy(worker, ticket, refusable)
        except (EOFError, OSError):
            worker.process.join(1)
            if worker.process.exitcode in _ENGINE_CRASHES:  # the engine overflowed its stack on this query
                raise InputError(ENGINE_CRASHED) from None
            raise KgError("the query process stopped unexpectedly") from None

    def _turn_heavy(self, worker: Lent, ticket: Ticket, refusable: bool) -> None:
        """The query has run `heavy_after` seconds: count it heavy (or refuse it), lower its priority, free its place."""
        try:
            self.scheduler.promote(ticket, refusable)
        except UnavailableError as refusal:
            self._observer.refused("client-heavy" if refusal.http_status == 429 else "heavy-share")
            raise
        self._pool.hold_heavy(worker, self._limits.heavy_nice)

    def release(self, worker: Lent, ticket: Ticket) -> None:
        """Give a process that finished its job back to the pool."""
        ticket.cpu_used = worker.cpu - ticket.cpu_start
        self._finish(ticket)
        self._pool.release(worker)

    def discard(self, worker: Lent, ticket: Ticket) -> None:
        """SIGKILL a process that may still be running a query; the pool starts another if it needs one."""
        self._finish(ticket)
        self._pool.discard(worker)

    def _finish(self, ticket: Ticket) -> None:
        if not ticket.finished:
            self._observer.finished(ticket.heavy, time.monotonic() - ticket.started)
        self.scheduler.finish(ticket)

    def close(self) -> None:
        """Stop every idle query process (at server shutdown)."""
        self._pool.close()
