"""Query threads, where the store is another engine's: the engine computes, a thread of the web process waits for it.

In front of an engine no query is evaluated here, so there is nothing a query process would
be killed for: the time limit is the engine request's own. Every read from the engine waits
at most until the query's deadline (store.answer_by), then closes its connection (which
stops the query on Virtuoso) and the thread ends; the gate has answered 503 by then. A
thread runs the job as a query process would (worker.answer: ask, read up to cap+1 rows,
serialise in chunks; a SELECT's JSON is counted and sent on as the engine wrote it) and
sends the same messages over a bounded queue instead of a pipe, so the gate
(execution.py) and its scheduler treat both alike. What they call CPU seconds is
the time of day here: a query whose engine answer takes `heavy_after` seconds is heavy.

Without query processes a frontend is one process: no fork server, no copy of the
modules per process (about 45 MB each), and no pipe between the web process and the
answer. At most `maximum` light queries (heavy ones on top, as with processes) wait for
the engine at once, a query whose answer was dropped counted until its thread returns.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kgserver.sparql.pool import PoolStatus
from kgserver.sparql.worker import Job, answer
from kgserver.store.interface import GraphStore

_OUTBOX_CHUNKS = 4  # messages a thread may have sent ahead of the web process reading them
_PUT_SECONDS = 0.1  # how often a thread whose reader has gone quiet looks whether it was abandoned


class Abandoned(BaseException):
    """The web process no longer reads this thread's answer (the client left, or the time limit fired).

    Not an Exception: the job's own error handling (worker.answer) must not catch it and send a message.
    """


@dataclass(eq=False)
class _Channel:
    """A query thread's messages to the web process: a bounded queue read like a pipe (poll, recv)."""

    outbox: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(_OUTBOX_CHUNKS))
    abandoned: threading.Event = field(default_factory=threading.Event)
    _next: list[Any] = field(default_factory=list)

    def send(self, message: Any) -> None:
        """From the thread: queue a message, waiting while the reader is behind; stop if it has gone."""
        while True:
            if self.abandoned.is_set():
                raise Abandoned
            try:
                self.outbox.put(message, timeout=_PUT_SECONDS)
                return
            except queue.Full:
                continue

    def poll(self, timeout: float) -> bool:
        """From the web process: whether a message arrives within `timeout` seconds."""
        if not self._next:
            try:
                self._next.append(self.outbox.get(timeout=max(timeout, 0.0)) if timeout > 0 else self.outbox.get_nowait())
            except queue.Empty:
                return False
        return True

    def recv(self) -> Any:
        """From the web process: the next message, waiting for it."""
        return self._next.pop() if self._next else self.outbox.get()


@dataclass(eq=False)
class ThreadWorker:
    """One query's thread, lent by `acquire`: what the gate reads from a query process, for one job only."""

    store: GraphStore
    prefixes: Mapping[str, str]
    on_abandoned_end: Callable[[ThreadWorker], None]  # gives back the place of a thread whose answer was dropped
    run: Callable[..., None]  # runs a function on a thread of the pool's
    channel: _Channel = field(default_factory=_Channel)
    cpu: float = field(default_factory=time.monotonic)  # when the job began, then when it ended (the gate's "CPU")
    heavy: bool = False
    nice: int = 0
    _ending: threading.Lock = field(default_factory=threading.Lock)
    _ended: bool = False  # the thread has returned

    @property
    def conn(self) -> ThreadWorker:
        return self

    def send(self, job: Job) -> None:
        """From the gate: run the job on a thread of its own (an idle one of the pool's, else a new one)."""
        self.run(self._answer, job)

    def poll(self, timeout: float) -> bool:
        return self.channel.poll(timeout)

    def recv(self) -> Any:
        return self.channel.recv()

    def cpu_since_last_job(self) -> float:
        """How long the job has run: the engine's time is what makes a query heavy here."""
        return time.monotonic() - self.cpu

    def _answer(self, job: Job) -> None:
        try:
            answer(self.store, self.prefixes, job, self.channel, time.monotonic)
        except Abandoned:
            pass
        finally:
            with self._ending:
                self._ended = True
                abandoned = self.channel.abandoned.is_set()
            if abandoned:
                self.on_abandoned_end(self)

    def abandon(self) -> bool:
        """The answer is no longer read; True if the thread has already returned (else it gives its place back itself)."""
        with self._ending:
            self.channel.abandoned.set()
            return self._ended


class _Threads:
    """Threads kept for the next queries, one started whenever none is idle; daemons, like the queries' own.

    Starting a thread for each query took 0.7-1 ms of its time (at 1M triples behind Virtuoso,
    a lookup's whole answer took the engine 1.2 ms). There are never more threads than queries
    once ran at the same time.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def run(self, function: Callable[..., None], *args: Any) -> None:
        """Call `function(*args)` on an idle thread, or on a new one."""
        with self._lock:
            start = self._idle == 0
            self._idle -= 0 if start else 1
        self._jobs.put((function, args))
        if start:
            threading.Thread(target=self._serve, daemon=True, name="kgserver-query").start()

    def _serve(self) -> None:
        while True:
            function, args = self._jobs.get()
            function(*args)  # ThreadWorker._answer: it sends its own errors as messages
            with self._lock:
                self._idle += 1


class EngineThreads:
    """The query pool in front of an engine: a thread per query, `maximum` light ones at once; nothing to kill."""

    malloc_in_use = "none: the engine runs the queries"

    def __init__(self, store: GraphStore, prefixes: Mapping[str, str], maximum: int) -> None:
        self._store = store
        self._prefixes = dict(prefixes)
        self._maximum = maximum
        self._lock = threading.Condition()
        self._threads = _Threads()
        self._busy = 0
        self._heavy = 0
        self._closed = False

    @property
    def maximum(self) -> int:
        return self._maximum

    def acquire(self, timeout: float, expected: float = 0.0) -> ThreadWorker | None:
        """A thread for one query, waiting at most `timeout` seconds while `maximum` light ones wait for the engine."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy - self._heavy >= self._maximum and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)
            if self._closed:
                return None
            self._busy += 1
        return ThreadWorker(self._store, self._prefixes, self._end, self._threads.run)

    def release(self, worker: ThreadWorker) -> None:
        """The query's answer was read to the end."""
        self._end(worker)

    def discard(self, worker: ThreadWorker) -> None:
        """The answer is no longer read: the thread stops at its next message, or its engine read at the deadline.

        Its place is given back when the thread has returned, so the engine never has more than
        `maximum` light queries of this frontend running, even from clients that went away.
        """
        if worker.abandon():
            self._end(worker)

    def _end(self, worker: ThreadWorker) -> None:
        with self._lock:
            if worker.heavy:
                worker.heavy = False
                self._heavy -= 1
            self._busy -= 1
            self._lock.notify()

    def hold_heavy(self, worker: ThreadWorker, nice: int) -> None:
        """The query turned heavy: no longer counted among the light ones (its priority is the engine's business)."""
        with self._lock:
            if not worker.heavy:
                worker.heavy = True
                self._heavy += 1
                self._lock.notify()

    def lower_priority(self, worker: ThreadWorker, nice: int) -> None:
        """Nothing to lower: the query runs in the engine."""

    def status(self) -> PoolStatus:
        with self._lock:
            return PoolStatus(self._busy, max(0, self._maximum - (self._busy - self._heavy)), 0, self._heavy)

    def close(self) -> None:
        """Wake the queries that wait for a thread; they give up."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
