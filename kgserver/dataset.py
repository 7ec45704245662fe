"""The live dataset: the store as one process serves and changes it, its state (version, graphs), and its one writer.

Exactly one process may open the store for writing (RocksDB locks it); the server's
process is that one. Its threads share one store: pyoxigraph reads are
thread-safe and each sees a consistent snapshot. Writes are serialised by `writing()`, so
validation and commit of one submission see no other commit in between; the query
worker processes read through read-only handles that they reopen when the version moves.

A store held by a SPARQL engine (store/location.py) is read by every server in front of it;
its state is read from the engine again when it is over a second old, so a commit made
through another server is seen within that second. That reading runs on a thread of its own,
one at a time, its version read within the query time limit: a request waits for it half a
second at most, so an engine that stops answering (paused, or behind a half-open connection)
holds no request up past that, and /health can say so within its own short wait. Only the server given the writer role
(`LDNKG_ENGINE_WRITER=1`) commits: it holds an exclusive lock on a file no other writer on its
machine can hold and a lease in the engine for writers on other machines (store/writer_lease.py),
re-reads the state from the engine under its write lock before each commit, sends the commit as
one update request, and reads the version back to be sure the engine kept it.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from rdflib import Graph

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import ServerSettings, Settings
from kgserver.errors import KgError, UnavailableError
from kgserver.store.location import StoreLocation

log = logging.getLogger("kgserver.dataset")

_ENGINE_STATE_SECONDS = 1.0  # how old an engine's dataset state may be before it is read again
_STATE_WAIT_SECONDS = 0.5  # how long a request waits for a reading of the engine's state before it goes on without it

T = TypeVar("T")


class LiveDataset:
    """The store as the web routes see it: its state (version, graphs, sizes), a handle, and commits.

    The handle is opened on first use, in the process that uses it (the server's, never
    a query process). It is opened for writing when it can be; a store that cannot be written
    (read-only files, another process holding it) is served read-only and refuses commits.
    Routes read `state` (or `version`) once per request and use it for ETags and cache keys.
    """

    def __init__(self, settings: Settings, place: StoreLocation | Path, writer: bool = False,
                 time_limit: float = ServerSettings.query_timeout) -> None:
        """`time_limit` (seconds) bounds the engine's answer to each reading of the dataset's version."""
        self.settings = settings
        self.location = StoreLocation.of(place)
        self._writer_lock = self.location.hold_writer_role() if writer and not self.location.embedded else None
        self.path = self.location.local_path  # where dumps (and an embedded store's curators) lie beside the store
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._store: kgstore.GraphStore | None = None
        self._writable = False
        self._broken = False
        self._started = datetime.now(UTC).replace(microsecond=0)
        self._read_at = 0.0  # when the last reading of the engine's state ended
        self._time_limit = time_limit
        self._reading: _Reading | None = None  # the reading of the engine's state under way, if one is
        self._reading_lock = threading.Lock()
        self.unavailable: str | None = None  # why the engine's state could not be read last time, if it could not
        self._commit_failure: tuple[float, str] | None = None  # when the last commit failed and why, until one succeeds
        self._listeners: list[Callable[[changes.DatasetState, frozenset[str]], None]] = []
        if self.location.embedded:
            self._state = kgstore.read_existing(self.path, lambda store: changes.read_state(store, settings),
                                                changes.DatasetState())
        else:
            self._state = changes.read_state(self.store, settings)
            self._read_at = time.monotonic()

    @property
    def store(self) -> kgstore.GraphStore:
        """The store, opened on first use in this process: for writing if possible, else read-only."""
        with self._open_lock:
            if self._store is None:
                self._store, self._writable = _open(self.location)
            return self._store

    @property
    def writable(self) -> bool:
        """Whether this process can commit (it holds the store open for writing)."""
        self.store  # noqa: B018 -- opening decides it
        return self._writable

    @property
    def state(self) -> changes.DatasetState:
        """The dataset's state; an engine's version is read again when it is over a second old, the rest if it moved.

        The whole state is three requests to the engine and five per graph; the version alone is
        one, and every commit, retraction and changed build moves it. A request waits for that
        reading half a second at most, then goes on with the state as it was.
        """
        if not self.location.embedded:
            self._read_engine_state(_STATE_WAIT_SECONDS)
        return self._state

    def engine_problem(self, seconds: float) -> str | None:
        """Why the engine does not answer now, for /health; None when it does (or the store is embedded).

        Its version is read again if over a second old, waited for `seconds` at most: an engine
        that has not told its version by then does not answer, whatever the reason.
        """
        if self.location.embedded:
            return None
        reading = self._read_engine_state(seconds)
        if reading is not None and not reading.answered.is_set():  # waited for as long as `seconds` allow
            return f"the store is unavailable: the SPARQL engine has not answered for {reading.age():.0f} s"
        return self.unavailable

    def _read_engine_state(self, wait: float) -> _Reading | None:
        """Start reading the engine's state if the last reading is over a second old, and wait for the reading under
        way until it has run `wait` seconds; that reading, or None if none was under way.

        One reading at a time, on a thread of its own: a request that finds one under way waits
        for it no longer than that, and a reading that failed is tried again a second after it
        ended, by one thread, not by every request at once.
        """
        with self._reading_lock:
            reading = self._reading
            if reading is None and time.monotonic() - self._read_at > _ENGINE_STATE_SECONDS:
                reading = self._reading = _Reading()
                thread = threading.Thread(target=self._reading_thread, args=(reading,), name="dataset-state", daemon=True)
                thread.start()
        if reading is not None:
            reading.done.wait(max(0.0, wait - reading.age()))
        return reading

    def _reading_thread(self, reading: _Reading) -> None:
        """Read the version within the time limit, the whole state if it moved; say why if the engine did not answer."""
        try:
            deadline = time.monotonic() + self._time_limit
            try:
                with kgstore.answer_by(deadline):
                    version = changes.read_version(self.store, self.settings)
            except KgError as error:
                raise (_silent(self._time_limit) if time.monotonic() >= deadline else error) from None
            self._answered()
            reading.answered.set()
            if version != self._state.version:
                fresh = changes.read_state(self.store, self.settings)
                if fresh.version >= self._state.version:  # a read begun before this server's own commit is older
                    self._state = fresh
        except KgError as error:
            self._not_answered(error.message)
        except Exception as error:  # noqa: BLE001 -- this thread has no one to tell but the log and /health
            log.exception("reading the dataset's state from the engine failed")
            self._not_answered(f"the dataset's state could not be read from the engine ({type(error).__name__})")
        finally:
            with self._reading_lock:
                self._read_at = time.monotonic()
                self._reading = None
            reading.answered.set()
            reading.done.set()

    def _answered(self) -> None:
        """The engine told its version: whatever kept it from answering is over."""
        if self.unavailable is not None:
            log.info("the engine answers again: %s", self.location)
        self.unavailable = None

    def _not_answered(self, why: str) -> None:
        """The engine's state could not be read: /health says why; the log says it once for each outage."""
        if self.unavailable is None:
            log.warning("could not read the dataset's state from the engine: %s", why)
        self.unavailable = why

    @property
    def version(self) -> str | None:
        """The version as text for ETags and cache keys; None for a store without records."""
        state = self.state
        return str(state.version) if state.version else None

    @property
    def last_modified(self) -> datetime:
        """When the dataset last changed, to the second, for Last-Modified."""
        state = self.state
        if state.modified is not None:
            return state.modified
        if not self.location.embedded:
            return self._started
        return datetime.fromtimestamp(int(kgstore.built_at(self.path)), tz=UTC)

    @property
    def graph_sizes(self) -> dict[str, int]:
        """Triples per live named graph, the meta graph included, as recorded with each change."""
        state = self.state
        sizes = {change.graph: change.triples for change in state.changes if not change.deleted}
        if not sizes:  # a store loaded by other means: count what is there
            return kgstore.graph_sizes(self.store, self.settings.named_graphs)
        return {**sizes, self.settings.meta_graph: state.meta_triples}

    @contextmanager
    def writing(self) -> Iterator[kgstore.GraphStore]:
        """Hold the one write lock of this process: check and commit with no other commit in between.

        A store that could not be written before (opened read-only, or a commit failed, as on a
        full disk) is opened again first, so the server recovers once the cause is gone.
        """
        with self._write_lock:
            if not self.location.embedded:
                if self._writer_lock is None:
                    raise UnavailableError("this server reads the engine's store and does not commit "
                                           "(another server holds the writer role); nothing was committed")
                self._writer_lock.check()  # another machine's writer may have taken the role
                self._state = changes.read_state(self.store, self.settings)  # what the engine holds now
                self._read_at = time.monotonic()
                yield self.store
                return
            if self._broken or not self.writable:
                self._reopen()
            if not self._writable:
                raise UnavailableError("the store is open read-only on this server (its log says why); nothing was committed")
            yield self.store

    def _reopen(self) -> None:
        """Drop this process's handle and open the store again, for writing if that works now."""
        with self._open_lock:
            self._store = None
            gc.collect()  # the old handle must close (and release RocksDB's lock) before the new one opens
            self._store, self._writable = _open(self.location)
            self._broken = False

    def on_commit(self, listener: Callable[[changes.DatasetState, frozenset[str]], None]) -> None:
        """Call `listener` with the new state and the graphs changed after each commit, before the commit returns."""
        self._listeners.append(listener)

    def commit(self, replace: Mapping[str, Graph], delete: Iterable[str] = ()) -> changes.DatasetState:
        """Replace and delete named graphs in one transaction; call inside `writing()`.

        The new state is published only after the store has the change, so a reader that
        sees the new version finds the data of that version. Listeners (the search index)
        have seen it too by the time this returns, so the answer sent after it is true of them.
        """
        delete = tuple(delete)
        state = self._commit(replace, delete)
        self._commit_failure = None
        changed = frozenset(replace) | frozenset(delete)
        for listener in self._listeners:
            listener(state, changed)
        return state

    def _commit(self, replace: Mapping[str, Graph], delete: tuple[str, ...]) -> changes.DatasetState:
        """The commit itself, to the embedded store or to the engine."""
        if not self._write_lock.locked():
            raise RuntimeError("commit outside writing()")
        if not self.location.embedded:
            self._state = self._commit_to_engine(replace, delete)
            return self._state
        try:
            state = changes.commit(self.store, self.settings, replace, delete, previous=self._state)
        except OSError as error:  # RocksDB wrote nothing of the batch; it may refuse writes until reopened
            self._broken = True
            self._commit_failed(f"commit failed, nothing written: {error}")
            raise UnavailableError("the store could not be written (the server's log says why); nothing was committed") from None
        self._state = state
        try:
            self.store.flush()  # to table files: a query worker reopening at the new version replays no long log
        except OSError as error:  # the commit stands (it is in the write-ahead log); flushing can wait
            self._broken = True
            log.warning("flush after commit %s failed: %s", state.version, error)
        return state

    def _commit_failed(self, why: str) -> None:
        """Log why a commit failed, naming the engine, and keep it for /health until a commit succeeds.

        /health and the curator's answer go to anyone: they say what failed, not where the engine is.
        """
        log.error("%s (%s)", why, self.location)
        self._commit_failure = (time.time(), why)

    def writer_status(self) -> dict[str, object]:
        """This server's part in commits, for /health: its role, its lease in the engine, the last commit's failure."""
        if not self.location.embedded and self._writer_lock is None:
            return {"role": "reader"}  # it commits nothing: a submission is forwarded to the writer, or refused
        status: dict[str, object] = {"role": "writer" if not self.location.embedded or self.writable else "read-only"}
        if self._writer_lock is not None:
            status.update(self._writer_lock.lease.status())
        failure = self._commit_failure
        status["last_commit_error"] = None if failure is None else {"at": _stamp(failure[0]), "error": failure[1]}
        return status

    def writer_problem(self) -> str | None:
        """Why this server, the writer, cannot count on committing now; None when it can, or commits nothing.

        A commit's failure counts until a commit succeeds, or (on an engine) the lease is written
        after it: that write shows the engine takes this writer's updates again.
        """
        lease = self._writer_lock.lease if self._writer_lock is not None else None
        if lease is not None and (problem := lease.problem()):
            return problem
        failure = self._commit_failure
        if failure is not None and (lease is None or lease.written_at < failure[0]):
            return f"this writer's last commit failed ({failure[1]})"
        return None

    def _commit_to_engine(self, replace: Mapping[str, Graph], delete: Iterable[str]) -> changes.DatasetState:
        """One update request to the engine (call inside `writing()`), then the version read back from it."""
        previous = self._state
        try:
            state = changes.commit(self.store, self.settings, replace, delete, previous=previous)
        except KgError as error:
            self._commit_failed(f"the commit failed: {error.message}")
            try:  # the update may have been applied with its answer lost: the engine's version says
                kept = changes.read_state(self.store, self.settings)
            except KgError:
                raise UnavailableError("the store did not answer; whether the change was committed "
                                       "is not known: look for it in /changes before sending it again") from None
            if kept.version == previous.version:
                raise UnavailableError("the store could not be written (the engine did not take the commit); "
                                       "nothing was committed") from None
            self._read_at = time.monotonic()
            return kept  # it was applied: the answer was lost on the way back
        kept = changes.read_state(self.store, self.settings)
        if kept.version != state.version:
            self._commit_failed(f"the commit of version {state.version}: the engine holds version {kept.version}")
            raise UnavailableError(f"the store did not keep the commit (it holds version {kept.version}); "
                                   "the server's log says more")
        self._read_at = time.monotonic()
        return kept


@dataclass(eq=False)
class _Reading:
    """One reading of an engine's dataset state, on a thread of its own: when it began, and how far it has got."""

    began: float = field(default_factory=time.monotonic)
    answered: threading.Event = field(default_factory=threading.Event)  # the engine told its version, or failed to
    done: threading.Event = field(default_factory=threading.Event)

    def age(self) -> float:
        """Seconds since it began: how long a request has already waited for it, at most."""
        return time.monotonic() - self.began


def _stamp(seconds: float) -> str:
    """A time (seconds since the epoch) as /health shows it: UTC, to the second."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _silent(seconds: float) -> UnavailableError:
    """The engine did not tell its version within the time limit: paused, overloaded, or behind a half-open connection."""
    return UnavailableError(f"the store is unavailable: the SPARQL engine did not answer within {seconds:g} s")


def _open(location: StoreLocation) -> tuple[kgstore.GraphStore, bool]:
    """The store for writing, or read-only (with a log line saying why) when it cannot be written; an engine's, read-only."""
    if location.path is None:
        return location.open_reader(), False
    path = location.path
    try:
        return kgstore.open_writable(path), True
    except OSError as error:
        log.warning("%s: serving read-only, commits are refused (%s)", path, error)
    return kgstore.open_read_only(path), False


class PerVersion(Generic[T]):
    """A value computed once for each dataset version and kept until the version moves on."""

    def __init__(self, compute: Callable[[int], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._version: int | None = None
        self._value: T | None = None

    def get(self, version: int) -> T:
        """The value for `version`, computed by the first request that asks for it."""
        with self._lock:
            if self._version != version or self._value is None:
                self._value = self._compute(version)
                self._version = version
            return self._value
