"""The one gate every web query passes: worker processes, the time limit, the row cap, streaming.

pyoxigraph cannot cancel a running query (and its own timeout does not stop, say, a
cross-product COUNT), so queries run in a small pool of worker processes. Each worker
opens the store read-only once and keeps it. A query over its time limit gets its worker
SIGKILLed and replaced; the client gets 503 "query exceeded the N s time limit and was
stopped". The worker serialises the result itself and sends it in chunks over a pipe, so
the web process never holds a large result whole.

The row cap is never applied silently: the worker reads up to cap+1 solutions (or
triples) before it writes anything, so the response headers can say whether the cap was
hit (`X-SPARQL-Truncated: true`). Those at most cap+1 rows are the only part of a result
that is held in memory, in the worker.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pyoxigraph import QueryBoolean, QuerySolutions, QueryTriples

from kgserver import formats
from kgserver import store as kgstore
from kgserver.config import ServerSettings
from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.sparql import paging

log = logging.getLogger("kgserver.sparql")

_CHUNK_BYTES = 256 * 1024
_WORKER_START_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


class QueryTimeoutError(UnavailableError):
    """A query ran past its time limit; its worker was killed."""


@dataclass(frozen=True)
class Job:
    """A query as a worker runs it: text, dataset, the negotiated format and the row cap."""

    sparql: str
    format_name: str
    default_graphs: tuple[str, ...] | None
    named_graphs: tuple[str, ...] | None
    row_cap: int
    base_iri: str | None = None
    version: str | None = None  # the dataset version the answer must reflect


@dataclass(frozen=True)
class Head:
    """What is known before the body is sent: its media type, row count and whether the cap cut it."""

    media_type: str
    rows: int
    truncated: bool
    paged: bool = False  # answered by paging's plan for deep ordered pages


class _ChunkWriter:
    """A binary file-like object that sends what is written over the pipe, head first, in chunks.

    A body smaller than one chunk goes with its head as one "whole" message, so a small
    answer costs the web process one wake-up rather than three.
    """

    def __init__(self, conn: Connection, head: Head) -> None:
        self._conn = conn
        self._head: Head | None = head
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= _CHUNK_BYTES:
            self._send_head()
            self._conn.send(("data", bytes(self._buffer)))
            self._buffer.clear()
        return len(data)

    def flush(self) -> None:
        """Nothing to do: the body is sent in chunks as it grows, and its end by `finish`."""

    def finish(self) -> None:
        """Send what is left and mark the end, in one message when the head has not gone yet."""
        if self._head is not None:
            self._conn.send(("whole", self._head, bytes(self._buffer)))
            return
        if self._buffer:
            self._conn.send(("data", bytes(self._buffer)))
        self._conn.send(("done",))

    def _send_head(self) -> None:
        if self._head is not None:
            self._conn.send(("head", self._head))
            self._head = None


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker if its parent dies, so no query outlives the server."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def worker_main(store_path: str, prefixes: Mapping[str, str], conn: Connection) -> None:
    """A worker process: open the store once, then run jobs from the pipe until it closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    store = _Snapshot(Path(store_path))
    conn.send(("ready",))
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            _run(store.at(job.version), prefixes, job, conn)
        except KgError as error:
            conn.send(("error", error.http_status, error.message))
        except Exception as error:  # the client gets a message, never a traceback
            conn.send(("error", 500, f"internal error while answering the query ({type(error).__name__})"))


class _Snapshot:
    """A worker's read-only view of the store, reopened when a job asks for a newer dataset version.

    A read-only store sees the data as it was when opened; the server's writer commits
    while workers run, so a worker reopens (about 15 ms) the first time it meets a new version.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._store = _open_read_only(path)
        self._version: str | None = None

    def at(self, version: str | None) -> kgstore.Store:
        if version is not None and version != self._version:
            del self._store
            self._store = _open_read_only(self._path)
            self._version = version
        return self._store


def _open_read_only(path: Path, attempts: int = 20) -> kgstore.Store:
    """Open the store read-only, retrying while the writer's background compaction swaps its files.

    A read-only open lists the live files and then opens them; when the writer deletes one
    in between, RocksDB reports corruption (a RuntimeError). The next attempt sees the new list.
    """
    for attempt in range(attempts):
        try:
            return kgstore.open_read_only(path)
        except (RuntimeError, KgError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def _run(store: kgstore.Store, prefixes: Mapping[str, str], job: Job, conn: Connection) -> None:
    """Evaluate, read ahead up to cap+1 rows, announce the head, then stream the serialisation."""
    result, paged = _evaluate(store, prefixes, job)
    fmt = formats.BY_NAME[job.format_name]
    is_graph = not isinstance(result, (tuple, QueryBoolean))
    if fmt.is_graph != is_graph:  # the policy guessed the form wrong: use the default
        fmt = formats.GRAPHS[0] if is_graph else formats.RESULTS[0]
    if isinstance(result, QueryBoolean):
        writer = _ChunkWriter(conn, Head(fmt.media_type, 1, False))
        formats.write_boolean(result, fmt.engine, writer)  # type: ignore[arg-type]
    elif isinstance(result, tuple):
        variables, solutions = result
        rows = list(islice(solutions, job.row_cap + 1))
        truncated = len(rows) > job.row_cap
        del rows[job.row_cap :]
        writer = _ChunkWriter(conn, Head(fmt.media_type, len(rows), truncated, paged))
        formats.write_solutions(variables, rows, fmt.engine, writer)  # type: ignore[arg-type]
    else:
        triples = list(islice(result, job.row_cap + 1))
        truncated = len(triples) > job.row_cap
        del triples[job.row_cap :]
        writer = _ChunkWriter(conn, Head(fmt.media_type, len(triples), truncated))
        formats.write_triples(triples, fmt.engine, writer, prefixes)  # type: ignore[arg-type]
    writer.finish()


Answer = QueryBoolean | QueryTriples | tuple[list[str], Iterable[Sequence[Any]]]


def _evaluate(store: kgstore.Store, prefixes: Mapping[str, str], job: Job) -> tuple[Answer, bool]:
    """The answer (a boolean, triples, or SELECT's variables and rows) and whether paging's plan made it."""
    order = paging.plan(job.sparql)
    if order is not None:
        solutions = kgstore.query(store, order.engine_text, prefixes, job.default_graphs, job.named_graphs, job.base_iri)
        try:
            return paging.page(solutions, order), True  # type: ignore[arg-type]
        except paging.GiveUp:
            pass
    result = kgstore.query(store, job.sparql, prefixes, job.default_graphs, job.named_graphs, job.base_iri)
    if isinstance(result, QuerySolutions):
        variables = [variable.value for variable in result.variables]
        return (variables, (tuple(solution) for solution in result)), False
    return result, False


# How a worker ends when the engine overflows its stack on a query too deeply nested or chained
# (50,000 `||`, UNION or `/` in a row): that query's fault, answered 400, not the server's.
_ENGINE_CRASHES = (-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS)
ENGINE_CRASHED = "the query engine could not evaluate this query: it is nested or chained too deeply; simplify it"


@dataclass
class _Worker:
    process: Any
    conn: Connection


class Execution:
    """A running query whose head is known: iterate it for the body, close it when done.

    The worker goes back to the pool when the body has been read to the end; if the
    response is abandoned (client gone, time limit hit mid-stream), the worker is killed.
    """

    def __init__(
        self, gate: QueryGate, worker: _Worker | None, head: Head, deadline: float, timeout: float, body: bytes | None = None
    ) -> None:
        self.head = head
        self._gate = gate
        self._worker = worker
        self._deadline = deadline
        self._timeout = timeout
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        if self._body is not None:  # the whole body came with the head; the worker is back in the pool
            yield self._body
            return
        worker = self._worker
        if worker is None:
            return
        while True:
            message = self._gate.receive(worker, self._deadline, self._timeout)
            if message[0] == "data":
                yield message[1]
            elif message[0] == "done":
                self._worker = None
                self._gate.release(worker)
                return
            else:
                raise KgError(f"the query failed while its results were being sent: {message[2]}")

    def close(self) -> None:
        """Kill the worker if the body was not read to the end: it may still be writing."""
        if self._worker is not None:
            self._gate.discard(self._worker)
            self._worker = None


class QueryGate:
    """A pool of query worker processes; `execute` is the only way a web query reaches the store.

    When every worker is busy a query waits at most `queue_wait` seconds, then gets 503
    "server busy", so a few slow queries delay others only briefly and never pile up.
    """

    def __init__(self, store_path: Path, prefixes: Mapping[str, str], limits: ServerSettings) -> None:
        self._store_path = str(store_path)
        self._prefixes = dict(prefixes)
        self._limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["kgserver.sparql.execution"])
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._closed = False
        for worker in [self._start() for _ in range(limits.query_workers)]:
            self._idle.put(self._wait_ready(worker))

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, args=(self._store_path, self._prefixes, child), daemon=True, name="kgserver-query"
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def _wait_ready(self, worker: _Worker) -> _Worker:
        if not worker.conn.poll(_WORKER_START_SECONDS) or worker.conn.recv() != ("ready",):
            self._kill(worker)
            raise KgError("a query worker could not open the store")
        return worker

    def _replace(self) -> None:
        """Start a fresh worker in the background, so the request that lost one answers at once."""
        try:
            worker = self._wait_ready(self._start())
        except (KgError, EOFError, OSError) as error:
            log.error("could not start a query worker: %s", error)
            return
        if self._closed:
            self._kill(worker)
        else:
            self._idle.put(worker)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join(5)
        worker.conn.close()

    def execute(self, job: Job, timeout: float) -> Execution:
        """Run `job` in a free worker within `timeout` seconds; the head is known on return."""
        deadline = time.monotonic() + timeout
        try:
            worker = self._idle.get(timeout=min(self._limits.queue_wait, timeout))
        except queue.Empty:
            raise UnavailableError("server busy: every query worker is occupied; retry shortly") from None
        try:
            worker.conn.send(job)
            message = self.receive(worker, deadline, timeout)
        except (EOFError, OSError):
            self.discard(worker)
            raise KgError("the query worker stopped unexpectedly") from None
        except BaseException:
            self.discard(worker)
            raise
        if message[0] == "error":
            self.release(worker)
            _, status, text = message
            error = KgError(text)
            error.http_status = status
            raise error
        if message[0] == "whole":
            self.release(worker)
            return Execution(self, None, message[1], deadline, timeout, message[2])
        return Execution(self, worker, message[1], deadline, timeout)

    def receive(self, worker: _Worker, deadline: float, timeout: float) -> tuple[Any, ...]:
        """The worker's next message, or QueryTimeoutError once the deadline has passed."""
        try:
            if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
                raise QueryTimeoutError(f"query exceeded the {timeout:g} s time limit and was stopped")
            return worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(1)
            if worker.process.exitcode in _ENGINE_CRASHES:  # the engine overflowed its stack on this query
                raise InputError(ENGINE_CRASHED) from None
            raise KgError("the query worker stopped unexpectedly") from None

    def release(self, worker: _Worker) -> None:
        """Give a worker that finished its job back to the pool."""
        self._idle.put(worker)

    def discard(self, worker: _Worker) -> None:
        """SIGKILL a worker that may still be running a query, and start a replacement."""
        self._kill(worker)
        if not self._closed:
            threading.Thread(target=self._replace, daemon=True, name="kgserver-query-replace").start()

    def close(self) -> None:
        """Stop every idle worker (at server shutdown)."""
        self._closed = True
        while True:
            try:
                self._kill(self._idle.get_nowait())
            except queue.Empty:
                return
