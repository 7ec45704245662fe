"""The index a server searches, kept at the dataset's version: updated by each commit, caught up or rebuilt when behind.

Each server process keeps its own index directory, which it alone writes (it holds a lock on
it): the writer (the embedded store's server, or the engine's writer) keeps the one
`kgserver build` writes beside the store; any other frontend takes the first free numbered
directory beside it and keeps that one. An index is never shared between writers, so a
frontend on another machine needs nothing but its own disk.

A commit updates the documents of the graphs it changed before it returns, so the answer to
the curator (201) is sent after a search can find the change. An index behind the dataset
(another frontend's commit, a server started on an older index) catches up the same way from
the graphs changed since its version; a missing or much older index is rebuilt, with
progress lines in the log (before the server answers for a small store; for a large one in
the background, in a process of its own at a lower CPU priority), and searches meanwhile get
503 with Retry-After, never a stale answer. A store on a read-only disk keeps its index under
the system's temporary directory.

A catch-up or rebuild that fails is tried again by itself, after a wait that doubles each time:
from a second to RETRY_STORE_SECONDS when the store did not answer (an engine that is down;
the index is kept, and searches it cannot answer get the store's own 503), to
RETRY_FAILED_SECONDS otherwise (a full disk, which a rebuild may meet after reading the whole
store). Until the index holds the dataset's version again /health says "failed"; then "ready".
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import tantivy
from pyoxigraph import NamedNode

from kgserver.changes import DatasetState, read_state, read_version
from kgserver.config import Settings
from kgserver.errors import KgError, UnavailableError
from kgserver.search.documents import RDF_TYPE, DocumentReader, searchable_graphs
from kgserver.search.index import SearchIndex, index_directory, read_stamp, write_index
from kgserver.store import GraphStore, read_existing
from kgserver.store.location import StoreLocation, try_lock

log = logging.getLogger("kgserver.search")

CATCH_UP_TRIPLES = 50_000  # a change this large or smaller is applied in place; a larger one rebuilds
_RETRY_AFTER = 5
REBUILD_NICE = 10  # a rebuilding process yields the CPU to the query processes
RETRY_FIRST_SECONDS = 1.0  # a failed catch-up or rebuild is tried again after this long, then twice as long...
RETRY_STORE_SECONDS = 10.0  # ...up to this while the store does not answer (each try: one small read of it)
RETRY_FAILED_SECONDS = 60.0  # ...and up to this for another failure (each try may read the whole store)


def claim_directory(store_path: Path, writer: bool) -> tuple[Path, TextIO]:
    """The index directory this process keeps, and the lock that makes it this process's alone.

    Beside the store when that can be written; else (a store on a read-only disk) under the
    system's temporary directory, named after the store, with a log line saying so.
    """
    try:
        return _claim_beside(store_path, writer)
    except OSError as error:
        digest = hashlib.sha256(str(store_path.resolve()).encode()).hexdigest()[:12]
        elsewhere = Path(tempfile.gettempdir()) / f"kgserver-search-{digest}" / store_path.name
        log.warning("search index: cannot write beside %s (%s); keeping it in %s", store_path, error, elsewhere.parent)
        return _claim_beside(elsewhere, writer)


def _claim_beside(store_path: Path, writer: bool) -> tuple[Path, TextIO]:
    """The first index directory beside `store_path` no other process holds, locked."""
    main = index_directory(store_path)
    candidates = ([main] if writer else []) + [main.with_name(f"{main.name}-{n}") for n in range(1, 65)]
    main.parent.mkdir(parents=True, exist_ok=True)
    for directory in candidates:
        handle = try_lock(directory.with_name(f"{directory.name}.lock"))
        if handle is not None:
            return directory, handle
    raise UnavailableError(f"no free search index directory beside {store_path} (64 servers hold one each)", retry_after=60)


def rebuild(settings: Settings, store: GraphStore, state: DatasetState, directory: Path,
            progress: logging.Logger | None = None) -> int:
    """Write the whole index of `store` at `directory`, stamped with `state`'s version; the number of documents."""
    reader = DocumentReader(settings, store, searchable_graphs(settings, state.live_graphs))
    started = time.monotonic()

    def report(count: int) -> None:
        if progress is not None:
            progress.info("search index: %d documents written (%.0f s)", count, time.monotonic() - started)

    stamp = write_index(directory, reader.all_documents(), state.version, _modified(state), report)
    return stamp.documents


def index_after_build(settings: Settings, location: StoreLocation, progress: Callable[[str], None]) -> None:
    """Write the index a build leaves beside its store, unless a running server keeps it (it catches up itself)."""
    store_path = location.local_path
    directory, lock = claim_directory(store_path, writer=True)
    try:
        if directory != index_directory(store_path):
            progress("search index: a running server keeps it, and catches up with this build itself")
            return
        started = time.monotonic()
        if location.path is not None:
            documents = read_existing(location.path, lambda store: rebuild(settings, store, read_state(store, settings),
                                                                          directory), 0)
        else:
            store = location.open_reader(read_seconds=600.0)
            try:
                documents = rebuild(settings, store, read_state(store, settings), directory)
            finally:
                store.close()  # type: ignore[attr-defined]
        progress(f"search index: {documents} documents ({time.monotonic() - started:.1f} s)")
    finally:
        lock.close()


def rebuild_in_child(settings: Settings, location: StoreLocation, directory: Path) -> int:
    """Rebuild the index in a process of its own, at a lower CPU priority; the number of documents.

    The server's own memory stays as it was (Python keeps what a million-triple pass
    allocated), and its query processes keep the CPU first. The child reads the store at
    whatever version it holds then; the server catches up from there.
    """
    context = multiprocessing.get_context("spawn")
    results = context.SimpleQueue()
    child = context.Process(target=_rebuild_child, args=(settings, location, directory, results),
                            name="kgserver-search-rebuild", daemon=True)
    child.start()
    child.join()
    if results.empty():
        raise KgError(f"the index's rebuilding process ended with code {child.exitcode} and said nothing")
    outcome, value = results.get()
    if outcome == "unavailable":
        raise UnavailableError(str(value))
    if outcome != "ok":
        raise KgError(str(value))
    return int(value)


def _rebuild_child(settings: Settings, location: StoreLocation, directory: Path, results) -> None:
    """The rebuilding process: open the store for reading, write the index, send back the count or the failure."""
    os.nice(REBUILD_NICE)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s [%(process)d] %(name)s %(message)s")
    try:
        store = location.open_reader(read_seconds=600.0)  # an engine streams each graph whole
        documents = rebuild(settings, store, read_state(store, settings), directory, log)
    except UnavailableError as error:  # the store did not answer: the server says so, and tries again
        results.put(("unavailable", error.message))
        return
    except Exception as error:  # noqa: BLE001 -- sent to the server, which logs it and says it in 503s
        results.put(("error", f"{type(error).__name__}: {error}"))
        return
    results.put(("ok", documents))


def _modified(state: DatasetState) -> str:
    """When the state's version was made, as the index's stamp keeps it."""
    return state.modified.isoformat() if state.modified is not None else ""


class LiveSearch:
    """The search index of one server process, following the version of the dataset it serves."""

    def __init__(self, settings: Settings, directory: Path, lock: TextIO, store_of: Callable[[], GraphStore],
                 state_of: Callable[[], DatasetState], location: StoreLocation | None = None) -> None:
        self.settings = settings
        self.location = location  # given: a rebuild in the background runs in a process of its own
        self.directory = directory
        self._lock_file = lock
        self._store_of = store_of  # () -> GraphStore, opened when first needed
        self._state_of = state_of  # () -> DatasetState, the dataset's current state
        self._lock = threading.RLock()
        self._index: SearchIndex | None = None
        self._rebuilding: threading.Thread | None = None
        self.failure: Exception | None = None  # why the index could not follow the dataset, until it does
        self._retry: threading.Timer | None = None  # the next try, while one is due
        self._wait = RETRY_FIRST_SECONDS
        self._closed = False

    def start(self) -> None:
        """Open the index, catching it up or rebuilding it when it is behind the dataset (in the background, if large)."""
        state = self._state_of()
        size = sum(change.triples for change in state.changes if not change.deleted)
        with self._lock:
            self._follow(state, background=size > CATCH_UP_TRIPLES)

    @property
    def version(self) -> int | None:
        """The dataset version the index holds, or None while there is none."""
        index = self._index
        return index.stamp.version if index is not None and index.stamp is not None else None

    def status(self) -> dict[str, object]:
        """What /health says of the index: the version it holds, and whether it is ready, being rebuilt, or failed.

        "failed" lasts, between tries, until the index holds the dataset's version again.
        """
        state = "rebuilding" if self._rebuilding is not None else "failed" if self.failure is not None else "ready"
        return {"state": state, "version": self.version, "directory": self.directory.name}

    def _holds(self, state: DatasetState) -> bool:
        """Whether the index is that of this state: its version, made at the same time."""
        stamp = self._index.stamp if self._index is not None else None
        return stamp is not None and stamp.version == state.version and stamp.modified == _modified(state)

    def searcher(self) -> tantivy.Searcher:
        """A searcher at the dataset's current version; UnavailableError (503) while the index cannot be.

        The 503 says why: the index is being rebuilt, the store did not answer (its own message),
        or the index could not be built.
        """
        state = self._state_of()
        with self._lock:
            if not self._holds(state):
                self._follow(state, background=True)
            if self._index is None or not self._holds(state):
                raise self._why_not(state)
            return self._index.searcher()

    def _why_not(self, state: DatasetState) -> UnavailableError:
        """The 503 of a search the index cannot answer at `state`."""
        if self._rebuilding is not None or self.failure is None:
            return UnavailableError(f"the search index is being rebuilt for version {state.version}; try again in a "
                                    "few seconds", retry_after=_RETRY_AFTER)
        if isinstance(self.failure, UnavailableError):  # the store's own words: "the store is unavailable: ..."
            return UnavailableError(self.failure.message, retry_after=self.failure.retry_after)
        return UnavailableError(f"the search index could not be built ({_said(self.failure)})", retry_after=_RETRY_AFTER)

    def committed(self, state: DatasetState, graphs: Iterable[str]) -> None:
        """Apply a commit (these graphs replaced or deleted, now at `state`) before its answer is sent.

        An index left behind by an earlier failure takes the graphs it missed in the same update.
        """
        with self._lock:
            version = self.version
            if self._index is not None and self._rebuilding is None and version is not None:
                try:
                    self._apply(state, set(graphs) | {change.graph for change in state.since(version)})
                    return
                except UnavailableError as error:  # the commit stands; the store is tried again later
                    self._try_again_later(error, f"update for version {state.version}")
                    return
                except Exception as error:  # noqa: BLE001 -- the commit stands; the index is rebuilt instead
                    log.error("search index: update for version %s failed (%s); rebuilding", state.version, error)
            self._follow(state, background=True)

    def _follow(self, state: DatasetState, background: bool) -> None:
        """Bring the index to `state`: open it, apply the graphs changed since its version, or rebuild it."""
        if self._rebuilding is not None or self._retry is not None:
            return  # a rebuild runs, or a failure is tried again when its wait is over: searches say why meanwhile
        if self._index is None and read_stamp(self.directory) is not None:
            self._index = SearchIndex(self.directory)
        index = self._index
        if index is not None and index.stamp is not None:
            if self._holds(state):
                self._recovered()
                return
            if index.stamp.version < state.version:
                since = state.since(index.stamp.version)
                if sum(change.triples for change in since) <= CATCH_UP_TRIPLES:
                    try:
                        self._apply(state, {change.graph for change in since})
                        return
                    except UnavailableError as error:  # a rebuild would fail as well: the index is kept
                        self._try_again_later(error, f"catching up to version {state.version}")
                        return
                    except Exception as error:  # noqa: BLE001 -- a rebuild follows
                        log.error("search index: catching up to version %s failed (%s); rebuilding", state.version, error)
        self._start_rebuild(state, background)

    def _try_again_later(self, error: Exception, what: str) -> None:
        """Say why the index cannot follow the dataset (log, 503s, /health) and try again after a wait.

        The wait doubles with each failure, so a store that is down is asked once a wait, not
        once a search; it is shorter for a store that did not answer (a small read tells whether
        it is back) than for another failure (a rebuild may read the whole store to fail again).
        """
        self.failure = error
        if self._closed or self._retry is not None:
            return
        wait = min(self._wait, RETRY_STORE_SECONDS if isinstance(error, UnavailableError) else RETRY_FAILED_SECONDS)
        self._wait = wait * 2
        log.error("search index: %s failed (%s); trying again in %.0f s", what, _said(error), wait)
        self._retry = threading.Timer(wait, self._again)
        self._retry.daemon = True
        self._retry.start()

    def _again(self) -> None:
        """A failure's wait is over: once the store answers, follow the dataset's state as it is now."""
        if self._closed:
            return
        try:
            if isinstance(self.failure, UnavailableError):  # one small read before anything larger
                read_version(self._store_of(), self.settings)
            state = self._state_of()  # outside the lock: searches need not wait for the store
        except Exception as error:  # noqa: BLE001 -- this thread has no one to tell but the log: tried again later
            with self._lock:
                self._retry = None
                self._try_again_later(error, "reading the store")
            return
        with self._lock:
            self._retry = None
            if not self._closed:
                self._follow(state, background=True)

    def _recovered(self) -> None:
        """The index holds the dataset's version: no failure to tell of, nor to try again."""
        if self.failure is not None:
            log.info("search index: ready again at version %s", self.version)
        self.failure = None
        self._wait = RETRY_FIRST_SECONDS
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    def _apply(self, state: DatasetState, graphs: set[str]) -> None:
        """Replace the documents the changed graphs held before and hold now (and those they link to)."""
        index = self._index
        assert index is not None
        started = time.monotonic()
        store = self._store_of()
        reader = DocumentReader(self.settings, store, searchable_graphs(self.settings, state.live_graphs))
        before, before_links = index.documents_in_graphs(graphs)
        now, now_links = set(), set()
        for graph in graphs & set(reader.graphs):
            for iri, links in _subjects_and_links(store, graph):
                now.add(iri)
                now_links.update(links)
        documents, gone = reader.documents_of(before | before_links | now | now_links)
        index.replace(documents, gone, state.version, _modified(state))
        log.info("search index: version %s, %d documents updated in %.0f ms", state.version,
                 len(documents) + len(gone), (time.monotonic() - started) * 1000)
        self._recovered()

    def _start_rebuild(self, state: DatasetState, background: bool) -> None:
        """Rebuild the index from the store, in a thread when `background`; searches get 503 until it is done."""
        if self._index is not None:
            self._index.close()
        self._index = None

        def run() -> None:
            started = time.monotonic()
            log.info("search index: rebuilding %s for dataset version %s", self.directory, state.version)
            try:
                if background and self.location is not None:
                    documents = rebuild_in_child(self.settings, self.location, self.directory)
                else:
                    documents = rebuild(self.settings, self._store_of(), state, self.directory, log)
            except Exception as error:  # noqa: BLE001 -- said in the log and in every search's 503, and tried again
                with self._lock:
                    self._rebuilding = None
                    self._try_again_later(error, "rebuild")
                return
            log.info("search index: %d documents for version %s in %.1f s", documents, state.version,
                     time.monotonic() - started)
            with self._lock:
                self._index = SearchIndex(self.directory)
                self._rebuilding = None
                self._recovered()

        if background:
            self._rebuilding = threading.Thread(target=run, name="search-rebuild", daemon=True)
            self._rebuilding.start()
        else:
            run()

    def close(self) -> None:
        """Let go of the index and its directory, and of any try still due."""
        with self._lock:
            self._closed = True
            if self._retry is not None:
                self._retry.cancel()
            if self._index is not None:
                self._index.close()
            self._lock_file.close()


def _said(error: Exception) -> str:
    """A failure in one line: the project's own message, or the exception's type and text."""
    return error.message if isinstance(error, KgError) else f"{type(error).__name__}: {error}"


def _subjects_and_links(store: GraphStore, graph: str) -> Iterable[tuple[str, set[str]]]:
    """The IRIs a graph describes, each with the IRIs it points to from that graph."""
    found: dict[str, set[str]] = {}
    for quad in store.quads_for_pattern(None, None, None, NamedNode(graph)):
        if isinstance(quad.subject, NamedNode):
            links = found.setdefault(quad.subject.value, set())
            if isinstance(quad.object, NamedNode) and quad.predicate.value != RDF_TYPE:
                links.add(quad.object.value)
    return found.items()

