"""A query process: it opens the store read-only once, then runs jobs from its pipe until the pipe closes.

pyoxigraph cannot cancel a running query, so queries run in processes that the gate
(execution.py) can kill. Each process serialises its answer itself and sends it in chunks,
so the web process never holds a large result whole.

The row cap is never applied silently: the process serialises up to cap rows, and reads
one more, before it sends anything, so the response headers can say whether the cap was hit
(`X-SPARQL-Truncated: true`). The serialised answer is held meanwhile in a spool
(kgserver/spool.py): in memory while small, in a temporary file past 4 MB, so a raised row
cap does not raise a process's memory with it.

Messages to the gate: ("ready", cpu) once the store is open; then per job either
("whole", Head, body, cpu) for an answer that fits one chunk, or ("head", Head), ("data", bytes)...,
("done", cpu); or ("error", status, message, cpu, retry_after or None). `cpu` is the CPU seconds the process has used
so far, so the gate can tell a query that computes from one that waits for a CPU.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from pyoxigraph import QueryBoolean, QueryResultsFormat, QuerySolutions, QueryTriples

from kgserver import formats, representations
from kgserver import store as kgstore
from kgserver.errors import InputError, KgError
from kgserver.sparql import paging
from kgserver.spool import Spool
from kgserver.store.location import StoreLocation

CHUNK_BYTES = 256 * 1024
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Job:
    """A query as a query process runs it: text, dataset, the negotiated format, the row cap, the paging plan."""

    sparql: str
    format_name: str
    default_graphs: tuple[str, ...] | None
    named_graphs: tuple[str, ...] | None
    row_cap: int
    base_iri: str | None = None
    version: str | None = None  # the dataset version the answer must reflect
    order: paging.PagedOrder | None = None  # the plan for a deep ordered page, made from the text in the web process
    deadline: float | None = None  # when it must be answered (time.monotonic(), the same clock in every process)


@dataclass(frozen=True)
class Head:
    """What is known before the body is sent: its media type, row count and whether the cap cut it."""

    media_type: str
    rows: int
    truncated: bool
    paged: str = ""  # the paging plan that answered a deep ordered page ("heap" or "ties"), if any


class Sender(Protocol):
    """Where a job's messages go: a pipe to the web process, or a queue in it (threads.py)."""

    def send(self, message: Any) -> None: ...


def _send(conn: Sender, head: Head, body: Spool, clock: Callable[[], float]) -> None:
    """Send a held answer: one "whole" message when it is smaller than a chunk (one wake-up of the web process,
    not three), else its head, its body in chunks and its end."""
    if body.size < CHUNK_BYTES:
        conn.send(("whole", head, body.value(), clock()))
        return
    conn.send(("head", head))
    for chunk in body.chunks(CHUNK_BYTES):
        conn.send(("data", chunk))
    conn.send(("done", clock()))


class _Capped:
    """Rows read up to the cap; one more is read, not passed on, so the head can say whether the cap cut them."""

    def __init__(self, rows: Iterable[Any], cap: int) -> None:
        self._rows = rows
        self._cap = cap
        self.count = 0
        self.truncated = False

    def __iter__(self) -> Iterator[Any]:
        for row in self._rows:
            if self.count == self._cap:
                self.truncated = True
                return
            self.count += 1
            yield row


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process if its parent dies, so no query outlives the server."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def worker_main(
    location: StoreLocation, prefixes: Mapping[str, str], conn: Connection, read_seconds: float,
    version: str | None = None,
) -> None:
    """A query process: open the store once, then run jobs from the pipe until it closes.

    `version` is the dataset version the server had read before it started this process: the
    store opened here holds that version's data or newer, so a job at that version needs no reopen.
    An engine's store is a pool of connections to it, each answer awaited at most
    `read_seconds`; the server's time limit kills this process, which closes them.
    """
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when query processes stop
    store = (_Snapshot(location.path, version) if location.path is not None
             else _Fixed(location.open_reader(read_seconds, researchers=True)))  # the endpoint's: the engine's union
    conn.send(("ready", time.process_time()))
    prefixes = dict(prefixes)
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        answer(store.at(job.version), prefixes, job, conn, time.process_time)


def answer(
    store: kgstore.GraphStore, prefixes: Mapping[str, str], job: Job, conn: Sender, clock: Callable[[], float],
) -> None:
    """Run one job and send its answer, or its error as a message: the client gets a message, never a traceback.

    `clock` is what the messages report as the time used: the process's CPU seconds in a query
    process, the time of day where the store is an engine's and a thread waits for it.
    """
    try:
        with kgstore.answer_by(job.deadline, job.row_cap + 1):
            _run(store, prefixes, job, conn, clock)
    except KgError as error:
        conn.send(("error", error.http_status, error.message, clock(), getattr(error, "retry_after", None)))
    except Exception as error:  # the client gets a message, never a traceback
        if kgstore.is_damage(error):  # a block of the store's files fails its check: the operator's to mend
            unavailable = kgstore.damaged_to_clients()
            conn.send(("error", unavailable.http_status, unavailable.message, clock(), unavailable.retry_after))
            return
        message = f"internal error while answering the query ({type(error).__name__})"
        conn.send(("error", 500, message, clock(), None))


class _Fixed:
    """A store that always shows its latest version (an engine's): nothing to reopen."""

    def __init__(self, store: kgstore.GraphStore) -> None:
        self._store = store

    def at(self, version: str | None) -> kgstore.GraphStore:
        return self._store


class _Snapshot:
    """A read-only view of the store, reopened when a job asks for a newer dataset version.

    A read-only store sees the data as it was when opened; the server's writer commits
    while queries run, so a process reopens (about 15 ms) the first time it meets a new version.
    """

    def __init__(self, path: Path, version: str | None = None) -> None:
        self._path = path
        self._store = kgstore.open_read_only(path)
        self._version = version  # opened after the server read it: this version's data, or newer

    def at(self, version: str | None) -> kgstore.GraphStore:
        if version is not None and version != self._version:
            del self._store
            self._store = kgstore.open_read_only(self._path)
            self._version = version
        return self._store


def _run(
    store: kgstore.GraphStore, prefixes: Mapping[str, str], job: Job, conn: Sender, clock: Callable[[], float],
) -> None:
    """Evaluate, read ahead up to cap+1 rows, announce the head, then stream the serialisation."""
    fmt = representations.BY_NAME[job.format_name]  # negotiated in the web process for the form its tokenizer read
    if job.order is None and fmt.engine == QueryResultsFormat.JSON:
        passed = kgstore.select_json(store, job.sparql, prefixes, job.default_graphs, job.named_graphs, job.base_iri)
        if passed is not None:
            _send_on(passed, job, fmt.media_type, conn, clock)
            return
    result, paged = _evaluate(store, prefixes, job)
    if fmt.is_graph != (not isinstance(result, (tuple, QueryBoolean))):
        raise InputError("the query's form (SELECT, ASK, CONSTRUCT or DESCRIBE) could not be read from its text "
                         "before it ran; write its keyword plainly, outside comments, strings and IRIs")
    with Spool() as body:
        if isinstance(result, QueryBoolean):
            formats.write_boolean(result, fmt.engine, body)  # type: ignore[arg-type]
            head = Head(fmt.media_type, 1, False)
        elif isinstance(result, tuple):
            variables, solutions = result
            rows = _Capped(solutions, job.row_cap)
            formats.write_solutions(variables, rows, fmt.engine, body)  # type: ignore[arg-type]
            head = Head(fmt.media_type, rows.count, rows.truncated, paged)
        else:
            triples = _Capped(result, job.row_cap)
            formats.write_triples(triples, fmt.engine, body, prefixes)  # type: ignore[arg-type]
            head = Head(fmt.media_type, triples.count, triples.truncated)
        _send(conn, head, body, clock)


def _send_on(passed: kgstore.JsonSolutions, job: Job, media_type: str, conn: Sender, clock: Callable[[], float]) -> None:
    """An engine's JSON answer of at most cap rows as it came; one cut at the cap written again from its first rows."""
    try:
        rows = passed.count(job.row_cap + 1)
        if rows <= job.row_cap:
            _send(conn, Head(media_type, rows, False), passed.body(), clock)  # read to its end and checked first
            return
        with Spool() as rewritten:  # only a cut answer is written again
            formats.write_solutions(passed.variables, passed.first(job.row_cap), QueryResultsFormat.JSON, rewritten)  # type: ignore[arg-type]
            _send(conn, Head(media_type, job.row_cap, True), rewritten, clock)
    finally:
        passed.close()


Answer = QueryBoolean | QueryTriples | tuple[list[str], Iterable[Sequence[Any]]]


def _evaluate(store: kgstore.GraphStore, prefixes: Mapping[str, str], job: Job) -> tuple[Answer, str]:
    """The answer (a boolean, triples, or SELECT's variables and rows) and the paging plan that made it, if any."""

    def select(text: str) -> tuple[list[str], Any]:
        solutions = kgstore.query(store, text, prefixes, job.default_graphs, job.named_graphs, job.base_iri)
        if not isinstance(solutions, QuerySolutions):
            raise paging.GiveUp("the query is not a SELECT")
        return [variable.value for variable in solutions.variables], iter(solutions)  # rows made of the page only

    if job.order is not None:
        try:
            variables, rows, plan = paging.answer(select, job.order)
            return (variables, rows), plan
        except (paging.GiveUp, InputError):  # the text as sent says what, if anything, is wrong with it
            pass
    result = kgstore.query(store, job.sparql, prefixes, job.default_graphs, job.named_graphs, job.base_iri)
    if isinstance(result, QuerySolutions):
        variables = [variable.value for variable in result.variables]
        return (variables, (tuple(solution) for solution in result)), ""
    return result, ""
