"""The query processes: started, reused last-in first-out, grown on demand, shrunk when idle, killed at will.

`minimum` processes are started with the server and always kept. When a query takes the
last idle one, the pool starts another in the background (up to `maximum`), so the next query
finds one ready. A process running a heavy query (`hold_heavy`) is not counted against
`maximum`: heavy queries (at most the scheduler's heavy share) get processes on top of those
light queries may use, so two heavy queries do not halve the processes light ones queue for;
when a heavy query ends, its process stops if the pool is then over `maximum`. Queries that
find none idle wait in a queue ordered by arrival plus their expected time, and are handed
the next process freed. Light queries expected to take longer than `quick_seconds` (a
light aggregation, a star join) may hold at most all but one of the `maximum` processes:
the last is kept for quick ones (a lookup, an ASK), which would otherwise queue behind them
(at 1M triples under load, a lookup waited 10 ms for a process that aggregations held; its
own work took 2 ms). A process beyond the minimum that has
been idle for `idle_seconds` is stopped. A process may be given a lower CPU priority while it
runs a long query (`lower_priority`); it gets its normal priority back when it is released,
or is replaced if the operating system does not allow that (raising a priority needs
privilege where RLIMIT_NICE is 0).

Query processes may run with another malloc than the C library's: the forkserver they are
forked from is started with it in LD_PRELOAD (`malloc`). With jemalloc, Oxigraph's joins spend
about 30% less CPU (a star join over 250 claims at 1M triples: 10-14 -> 7-7.7 ms); the
allocator a process really runs with is read from its memory map (`malloc_in_use`).
"""

from __future__ import annotations

import ctypes.util
import heapq
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kgserver.errors import KgError
from kgserver.sparql.worker import worker_main
from kgserver.store.location import StoreLocation

log = logging.getLogger("kgserver.sparql")

_START_SECONDS = 60.0
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(eq=False)
class Worker:
    """One query process and the parent's end of its pipe."""

    process: Any
    conn: Connection
    idle_since: float = 0.0
    nice: int = 0
    cpu: float = 0.0  # CPU seconds the process had used when its last job ended
    heavy: bool = False  # running a heavy query: not counted against the pool's maximum
    long: bool = False  # running a light query expected to take longer than the pool's quick_seconds

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def cpu_since_last_job(self) -> float | None:
        """CPU seconds the process has used since its last job ended (from /proc); None where unknown."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / _TICKS - self.cpu


@dataclass(order=True)
class _Waiter:
    """A query waiting for a process: served by `due` (arrival plus expected seconds), then arrival."""

    due: float
    arrival: int
    wake: threading.Condition = field(compare=False)
    worker: Worker | None = field(default=None, compare=False)
    long: bool = field(default=False, compare=False)  # expected to take longer than quick_seconds
    gone: bool = field(default=False, compare=False)  # gave up waiting; skipped when its turn comes


@dataclass(frozen=True)
class PoolStatus:
    """How many query processes there are, idle and starting, for /health and /metrics."""

    processes: int
    idle: int
    starting: int
    heavy: int = 0  # processes running a heavy query (not counted against the maximum)
    waiting: int = 0  # queries waiting for a process


class WorkerPool:
    """Query processes with the store open read-only; `acquire` lends one, `release` or `discard` ends the loan."""

    def __init__(
        self, place: StoreLocation | Path, prefixes: Mapping[str, str], minimum: int, maximum: int, idle_seconds: float,
        malloc: str | None = None, read_seconds: float = 60.0, quick_seconds: float = 0.0,
        version: Callable[[], str | None] | None = None,
    ) -> None:
        self._location = StoreLocation.of(place)
        self._version = version or (lambda: None)  # the dataset version now, read before a process opens the store
        self._read_seconds = read_seconds
        self._prefixes = dict(prefixes)
        self._minimum, self._maximum, self._idle_seconds = minimum, max(minimum, maximum), idle_seconds
        self._quick_seconds = quick_seconds
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["kgserver.sparql.worker"])
        _start_forkserver(malloc)
        self._lock = threading.Lock()
        self._idle: list[Worker] = []  # the most recently used last, so reuse keeps caches warm
        self._live = 0  # processes running or starting
        self._heavy = 0  # processes running a heavy query (counted in _live, not against the maximum)
        self._long = 0  # processes running a light query expected to be long (at most all but one of the maximum)
        self._starting = 0
        self._waiting = 0  # acquirers waiting for a process
        self._queue: list[_Waiter] = []  # a heap: the next to be served first
        self._arrivals = itertools.count()
        self._closed = False
        self._stopping = threading.Event()
        started = [self._start() for _ in range(minimum)]
        for worker in started:
            self._idle.append(self._wait_ready(worker))
        self._live = len(self._idle)
        self.malloc_in_use = _mapped_malloc(self._idle[-1].pid, malloc) if self._idle and malloc else "libc"
        threading.Thread(target=self._reap, daemon=True, name="kgserver-query-reaper").start()

    # ---------------------------------------------------------------------------- lending

    def acquire(self, timeout: float, expected: float = 0.0) -> Worker | None:
        """An idle process, or the next one freed; None after `timeout` seconds.

        Queries that must wait are served in the order of their arrival plus their `expected`
        seconds: a lookup does not wait behind a query known to take longer, and a longer
        query waits at most about its own cost for lookups that arrived after it. A query
        expected to take longer than `quick_seconds` does not take the last process light
        queries may use.
        """
        now = time.monotonic()
        long = self._quick_seconds > 0 and expected > self._quick_seconds
        with self._lock:
            if self._idle and not self._waiting and self._may_take(long):
                return self._take(long)
            if self._closed:
                return None
            waiter = _Waiter(now + expected, next(self._arrivals), threading.Condition(self._lock), long=long)
            heapq.heappush(self._queue, waiter)
            self._waiting += 1
            if self._below_maximum() and self._starting < self._waiting:
                self._grow()
            self._dispatch()
            while waiter.worker is None:
                remaining = now + timeout - time.monotonic()
                if remaining <= 0 or self._closed:
                    waiter.gone = True
                    self._waiting -= 1
                    return None
                waiter.wake.wait(remaining)
            return waiter.worker

    def _may_take(self, long: bool) -> bool:
        """Whether a query may have a process now: a long one not the last the light queries may use (the lock is held)."""
        return not long or self._maximum < 2 or self._long < self._maximum - 1

    def _take(self, long: bool = False) -> Worker:
        """The most recently used idle process (the lock is held); the next one is started if it was the last."""
        worker = self._idle.pop()
        if long:
            worker.long = True
            self._long += 1
        if not self._idle and not self._starting and self._below_maximum():
            self._grow()  # the last idle one is taken: have the next one ready before it is asked for
        return worker

    def _below_maximum(self) -> bool:
        """Whether another process may start: those running heavy queries are not counted (the lock is held)."""
        return self._live - self._heavy < self._maximum

    def _dispatch(self) -> None:
        """Hand idle processes to waiting queries, first in the queue's order (the lock is held).

        A long query that may not take the last process keeps its place for the next one freed.
        """
        passed: list[_Waiter] = []
        while self._idle and self._queue:
            waiter = heapq.heappop(self._queue)
            if waiter.gone:
                continue
            if not self._may_take(waiter.long):
                passed.append(waiter)
                continue
            self._waiting -= 1
            waiter.worker = self._take(waiter.long)
            waiter.wake.notify()
        for waiter in passed:
            heapq.heappush(self._queue, waiter)

    def release(self, worker: Worker) -> None:
        """Take back a process that finished its job, at its normal priority again; one over the maximum stops."""
        if worker.nice and not self._set_priority(worker, 0):
            self.discard(worker)
            return
        with self._lock:
            self._end_heavy(worker)
            self._end_long(worker)
            kept = self._live - self._heavy <= self._maximum and self._keep_idle(worker)
            if not kept:
                self._live -= 1
        if not kept:
            self._kill(worker)

    def discard(self, worker: Worker) -> None:
        """SIGKILL a process that may still be running a query; a new one starts if the pool needs it.

        A heavy query's process was on top of the maximum: with it gone, the light queries have
        as many processes as before, and none starts for them while they are at the maximum (one
        started there was killed again when next released, each time a heavy query reached the
        time limit: at 1M triples about 35 ms of CPU to be ready, then its first queries on a cold
        cache).
        """
        self._kill(worker)
        with self._lock:
            self._end_heavy(worker)
            self._end_long(worker)
            self._live -= 1
            wanted = self._live < self._minimum or (self._waiting > self._starting and self._below_maximum())
            if not self._closed and wanted:
                self._grow()

    def lower_priority(self, worker: Worker, nice: int) -> None:
        """Let a process running a long query yield the CPU to the others (a higher nice lowers its priority)."""
        if nice > worker.nice:
            self._set_priority(worker, nice)

    def hold_heavy(self, worker: Worker, nice: int) -> None:
        """A process now runs a heavy query: at `nice`, and no longer counted against the maximum.

        A process is started at once if no idle one is left for light queries (or queries wait).
        """
        self.lower_priority(worker, nice)
        with self._lock:
            self._end_long(worker)  # counted among the heavy ones now
            if not worker.heavy:
                worker.heavy = True
                self._heavy += 1
            spare = not self._idle or self._waiting > self._starting
            if not self._closed and spare and self._starting <= self._waiting and self._below_maximum():
                self._grow()

    def _end_long(self, worker: Worker) -> None:
        """The process's long light query ended or turned heavy: a long one waiting may have its place (the lock is held)."""
        if worker.long:
            worker.long = False
            self._long -= 1
            self._dispatch()

    def _end_heavy(self, worker: Worker) -> None:
        """The process's heavy query ended: it counts against the maximum again (the lock is held)."""
        if worker.heavy:
            worker.heavy = False
            self._heavy -= 1

    def status(self) -> PoolStatus:
        with self._lock:
            return PoolStatus(self._live - self._starting, len(self._idle), self._starting, self._heavy, self._waiting)

    @property
    def maximum(self) -> int:
        return self._maximum

    def close(self) -> None:
        """Stop every idle process (at server shutdown); busy ones are stopped when released."""
        with self._lock:
            self._closed = True
            self._stopping.set()
            idle, self._idle = self._idle, []
            for waiter in self._queue:
                waiter.wake.notify()
        for worker in idle:
            self._kill(worker)

    # --------------------------------------------------------------------------- processes

    def _grow(self) -> None:
        """Start one more process in the background (the lock is held)."""
        self._live += 1
        self._starting += 1
        threading.Thread(target=self._add, daemon=True, name="kgserver-query-start").start()

    def _add(self) -> None:
        try:
            worker = self._wait_ready(self._start())
        except (KgError, EOFError, OSError) as error:
            log.error("could not start a query process: %s", error)
            with self._lock:
                self._live -= 1
                self._starting -= 1
            return
        with self._lock:
            self._starting -= 1
            kept = self._keep_idle(worker)
        if not kept:
            self._kill(worker)

    def _keep_idle(self, worker: Worker) -> bool:
        """Put a process among the idle ones (the lock is held), unless the pool is closing."""
        if self._closed:
            return False
        worker.idle_since = time.monotonic()
        self._idle.append(worker)
        self._dispatch()
        return True

    def _start(self) -> Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, args=(self._location, self._prefixes, child, self._read_seconds, self._version()),
            daemon=True, name="kgserver-query",
        )
        process.start()
        child.close()
        return Worker(process, parent)

    def _wait_ready(self, worker: Worker) -> Worker:
        message = worker.conn.recv() if worker.conn.poll(_START_SECONDS) else None
        if not message or message[0] != "ready":
            self._kill(worker)
            raise KgError("a query process could not open the store")
        worker.cpu = message[1]
        return worker

    def _reap(self) -> None:
        """Stop processes beyond the minimum that have been idle too long, the least recently used first."""
        while not self._stopping.wait(max(0.05, self._idle_seconds / 4)):
            with self._lock:
                now = time.monotonic()
                victims = []
                while (
                    self._idle
                    and self._live > self._minimum
                    and now - self._idle[0].idle_since >= self._idle_seconds
                ):
                    victims.append(self._idle.pop(0))
                    self._live -= 1
            for worker in victims:
                self._kill(worker)

    @staticmethod
    def _set_priority(worker: Worker, nice: int) -> bool:
        try:
            os.setpriority(os.PRIO_PROCESS, worker.pid, nice)
        except OSError:  # raising it back needs privilege; the process is gone
            return False
        worker.nice = nice
        return True

    @staticmethod
    def _kill(worker: Worker) -> None:
        worker.process.kill()
        worker.process.join(5)
        worker.conn.close()


def malloc_library(setting: str) -> str | None:
    """The library to preload into query processes: the system's jemalloc (if it has one) for `jemalloc`, a path, or None."""
    if setting == "none":
        return None
    if setting == "jemalloc":
        return ctypes.util.find_library("jemalloc")
    return setting


def _start_forkserver(malloc: str | None) -> None:
    """Start the process query processes are forked from, with `malloc` preloaded (no-op if it already runs)."""
    if not malloc:
        return
    before = os.environ.get("LD_PRELOAD")
    os.environ["LD_PRELOAD"] = f"{malloc} {before}" if before else malloc
    try:
        forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["LD_PRELOAD"]
        else:
            os.environ["LD_PRELOAD"] = before


def _mapped_malloc(pid: int, malloc: str) -> str:
    """The preloaded library's file name if process `pid` has it mapped, else `libc` (it did not load)."""
    name = Path(malloc).name
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            return name if any(name in line for line in maps) else "libc"
    except OSError:
        return "libc"
