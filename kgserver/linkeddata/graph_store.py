"""One graph of the dataset, named or the default, for the Graph Store Protocol's read side, streamed as it is written.

`/store?graph=IRI` and `/store?default` ask for one graph as Oxigraph's server and Fuseki
answer them; harvesters and replicas read graph by graph this way. The default graph is
what the SPARQL endpoint's default graph is: the union of the named graphs, each triple
once (Oxigraph's server answers `?default` with its store's own default graph even under
`--union-default-graph`; ours holds nothing, so that answer would be empty and misleading).

A graph is written by the engine's own writer (`dump` for a named graph; for the default
graph, `serialize` over the named graphs' triples, each once) in a thread of its own, into a
pipe the response reads chunk by chunk: at most `_DEPTH` chunks of `_CHUNK_BYTES` wait between
them, so a graph of any size passes through in constant memory, and a client that leaves
stops the writer.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO

from pyoxigraph import NamedNode, RdfFormat, Triple, serialize

from kgserver.changes import DatasetState
from kgserver.config import Settings
from kgserver.errors import InputError, KgError

if TYPE_CHECKING:
    from kgserver.store import GraphStore

log = logging.getLogger("kgserver.graph_store")

_CHUNK_BYTES = 64 * 1024
_DEPTH = 8
_POLL_SECONDS = 0.5
# The triples more than one named graph holds: what the union must not write twice (few, in practice).
_SHARED = "SELECT DISTINCT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } GRAPH ?h { ?s ?p ?o } FILTER(?g != ?h) }"

Chunks = Generator[bytes, None, None]  # closing it stops the writer


class GraphNotFoundError(KgError):
    """A graph IRI the dataset does not hold (never did, or no longer does)."""

    http_status = 404


@dataclass(frozen=True)
class Located:
    """A graph the dataset holds: its IRI (None for the default graph) and the version its content is from."""

    iri: str | None
    version: int  # the version in which it last changed: its content is the same until this moves
    modified: datetime | None
    dataset_version: int
    union_of: tuple[str, ...] = ()  # for the default graph: the named graphs it unites

    @property
    def name(self) -> str:
        return "the default graph (the union of the named graphs)" if self.iri is None else f"<{self.iri}>"


def requested(graphs: Sequence[str], default: bool) -> str | None:
    """The graph a request names: an absolute IRI by graph=, or None for ?default; exactly one of the two.

    >>> requested(["https://w3id.org/ldn-kg/graph/data"], False)
    'https://w3id.org/ldn-kg/graph/data'
    >>> requested([], True) is None
    True
    """
    if default and graphs:
        raise InputError("name one graph: graph=IRI or default, not both")
    if default:
        return None
    if not graphs:
        raise InputError("name the graph: /store?graph=IRI for a named graph, /store?default for the default graph")
    if len(graphs) > 1:
        raise InputError(f"name one graph: graph= is given {len(graphs)} times")
    iri = graphs[0]
    try:
        NamedNode(iri)
    except ValueError as error:
        raise InputError(f"graph={iri[:200]!r} is {_iri_problem(iri, error)}; give the graph's full IRI, "
                         "e.g. graph=https://w3id.org/ldn-kg/graph/data") from None
    return iri


def _iri_problem(iri: str, error: ValueError) -> str:
    """Why `iri` names no graph, in the client's terms: the parser's own words name a newline as ' ' and `_:` as ':'."""
    if iri.startswith("_:"):
        return "a blank node's label, which names nothing outside the document it is in"
    if ":" not in iri:
        return "a relative IRI"
    odd = next((char for char in iri if char.isspace() or not char.isprintable() or char in '<>"{}|\\^`'), None)
    if odd is not None:
        return f"not a valid IRI: it holds {odd!r}, which no IRI may"
    return f"not a valid IRI ({error})"


def locate(iri: str | None, state: DatasetState, graph_sizes: Mapping[str, int], settings: Settings) -> Located:
    """The graph as the dataset holds it at `state`; a 404 naming it (and when it went) if it holds no such graph."""
    if iri is None:  # the union changes with any graph
        return Located(None, state.version, state.modified, state.version, tuple(sorted(graph_sizes)))
    if iri == settings.meta_graph:  # it changes with every version
        return Located(iri, state.version, state.modified, state.version)
    change = state.change_of(iri)
    if iri in graph_sizes and (change is None or not change.deleted):
        if change is None:  # a store loaded without change records: its version stands for every graph
            return Located(iri, state.version, state.modified, state.version)
        return Located(iri, change.version, change.modified, state.version)
    if change is not None:
        raise GraphNotFoundError(f"the graph <{iri}> was deleted in version {change.version}; the dataset is at "
                                 f"version {state.version}")
    raise GraphNotFoundError(f"no graph <{iri}> in this dataset (version {state.version}); its named graphs are "
                             "listed in /.well-known/void (void:subset) and /sparql (sd:namedGraph)")


def stream(store: GraphStore, graph: Located, fmt: RdfFormat, prefixes: Mapping[str, str]) -> Chunks:
    """The graph serialised in `fmt`, chunk by chunk, written by the engine in a thread as the reader asks for more."""
    return _piped(lambda output: write_graph(store, graph, fmt, output, prefixes))


def write_graph(store: GraphStore, graph: Located, fmt: RdfFormat, output: BinaryIO, prefixes: Mapping[str, str]) -> None:
    """Serialise one graph to `output`: a named graph as stored, the default graph as the endpoint's union."""
    if graph.iri is None:
        serialize(union(store, graph.union_of), output, fmt, prefixes=dict(prefixes))
    else:
        store.dump(output, format=fmt, from_graph=NamedNode(graph.iri), prefixes=dict(prefixes))


def union(store: GraphStore, graphs: Sequence[str]) -> Iterator[Triple]:
    """The triples of `graphs`, each once, remembering only the few triples that several graphs hold.

    The engine names those first (one query, its answer as long as they are many); then each
    graph is read through and a shared triple goes out the first time it is met. A CONSTRUCT
    over the union gives the same triples, but the engine keeps every triple it has sent to
    drop repeats: 390 MB for a million, where this holds a few chunks and the shared triples.
    """
    shared = {(row["s"], row["p"], row["o"]) for row in store.query(_SHARED)}  # type: ignore[index, union-attr]
    sent: set[tuple[object, object, object]] = set()
    for iri in graphs:
        for quad in store.quads_for_pattern(None, None, None, NamedNode(iri)):
            if shared:
                key = (quad.subject, quad.predicate, quad.object)
                if key in shared:
                    if key in sent:
                        continue
                    sent.add(key)
            yield quad.triple


@dataclass(frozen=True)
class _End:
    """The writer's last word: done, or the error that stopped it."""

    error: BaseException | None = None


class _Pipe:
    """What the writer thread writes to: bytes gathered into chunks and handed to the reader, waiting when it lags."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | _End] = queue.Queue(maxsize=_DEPTH)
        self.abandoned = threading.Event()
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= _CHUNK_BYTES:
            self._hand_over(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def flush(self) -> None:
        """Chunks go when full: the engine's flushes would only make them small."""

    def finish(self, error: BaseException | None) -> None:
        """Hand over what is left and say the writing is over."""
        try:
            if self._buffer and error is None:
                self._hand_over(bytes(self._buffer))
            self._hand_over(_End(error))
        except BrokenPipeError:  # the reader has gone; nobody waits for the end
            pass

    def _hand_over(self, item: bytes | _End) -> None:
        while not self.abandoned.is_set():
            try:
                self.chunks.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue
        raise BrokenPipeError("the reader of this graph has gone")


def _piped(write: Callable[[BinaryIO], None]) -> Chunks:
    """Run `write` in a thread (started on the first read) and yield what it writes; closing stops the writer."""
    pipe = _Pipe()

    def run() -> None:
        error: BaseException | None = RuntimeError("the graph's writer stopped before its end")
        try:
            write(pipe)  # type: ignore[arg-type]  # a file object as far as the writers are concerned
            error = None
        except Exception as caught:  # noqa: BLE001 -- handed to the reader, who raises it
            error = caught
        finally:
            pipe.finish(error)

    writer = threading.Thread(target=run, name="graph-store-writer", daemon=True)
    writer.start()
    try:
        while True:
            item = pipe.chunks.get()
            if isinstance(item, _End):
                if item.error is not None:
                    if not isinstance(item.error, BrokenPipeError):
                        log.error("writing a graph failed: %s", item.error)
                    raise item.error
                return
            yield item
    finally:
        pipe.abandoned.set()
