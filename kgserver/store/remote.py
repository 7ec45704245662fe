"""A store held by another SPARQL engine, reached over the SPARQL 1.1 Protocol, Update and Graph Store Protocol.

`RemoteStore` offers `GraphStore` (interface.py) with pyoxigraph's terms and result types,
so the modules above cannot tell it from the embedded store: a query's answer is parsed
with pyoxigraph's own result parsers (a SELECT whose client asked for JSON is only counted
with it, and its bytes sent on: `select_json`), a pattern look-up is a SELECT, a graph is
read whole with the Graph Store Protocol. Every request has explicit connect and read timeouts and
goes through a pool of kept-alive connections: reads through urllib3's, which cost a
lookup 0.2-0.3 ms less than httpx's (measured against Oxigraph's server at 1M triples: a
lookup's whole request took 0.4-0.6 ms with urllib3, 0.7 with httpx), writes through httpx's,
which does the digest authentication Virtuoso asks of updates. What differs between engines is
in dialects.py. An answer that is not a complete result (an error or a cut result sent with
200, as Virtuoso and Oxigraph's server do past their limits) raises instead of being read as
one; so does an answer in another media type than asked for (a web server's page at a wrong
URL) or one that does not parse: the engine's failure, never the query's. The union of the
dataset's named graphs is asked for as the dialect says: a parameter (Oxigraph), or the
dataset's graphs named one by one (Virtuoso, whose default graph and `GRAPH ?g` would otherwise take in its own system graphs too). Blank nodes are looked up
again where the engine can name them in a query (Virtuoso's `<nodeID://...>`); elsewhere a
look-up by a blank node finds nothing, so such an engine's data should have none (skolemise
them when loading).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, NamedTuple

import httpx
import urllib3
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    Store,
    Triple,
    parse,
    parse_query_results,
    serialize,
)

from kgserver.errors import EngineError, InputError, KgError, UnavailableError
from kgserver.sparql_lexer import (
    declared_prefixes,
    names_its_dataset,
    read_form,
    tokens,
)
from kgserver.spool import Spool
from kgserver.store.dialects import Dialect
from kgserver.store.interface import GraphName, QueryResult, Subject

_RESULTS = "application/sparql-results+json"
# What an answer asked for in each media type is, and the types it may come in (N-Triples' older name, text/plain, too).
_ANSWERS = {
    _RESULTS: ("SPARQL results", ("application/sparql-results+json", "application/json")),
    "application/n-triples": ("N-Triples", ("application/n-triples", "text/plain")),
}
_SNIFF_BYTES = 4096  # how much of a 200 body is read to tell results from an error text
_CHUNK = 1 << 16
_SORT_MEMORY = "64M"  # what `sort` may hold in memory while it orders a graph's lines
_NO_GRAPH = "urn:x-kgserver:no-graph"  # a graph no store holds: an empty default graph, or no named graphs at all
_GRAPHS_SECONDS = 1.0  # how old the list of the dataset's graphs may be before it is read again
_GRAPH_NAMES = "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"  # Virtuoso: 20 ms, where DISTINCT takes 1.5 s
_READ_GRACE_SECONDS = 1.0
_BLANK_PATHS = 100_000  # blank nodes remembered with the path that led to them, at most
_PATH_STEPS = 8  # how deep a path of blank nodes is followed  # the wait for an answer outlasts the engine's own limit, so its cut answer arrives
PAST_DEADLINE = "query exceeded its time limit and was stopped"

# When the query being answered must be done (time.monotonic()); a read from the engine waits no longer,
# then closes its connection, which stops a query on an engine that watches for it (Virtuoso).
_answer_by: ContextVar[float | None] = ContextVar("answer_by", default=None)
# How many triples of a CONSTRUCT or DESCRIBE answer are read at most (the row cap and one more); None: all.
_most_triples: ContextVar[int | None] = ContextVar("most_triples", default=None)


@contextmanager
def answer_by(deadline: float | None, most_triples: int | None = None) -> Iterator[None]:
    """Within this block, every read from an engine ends by `deadline` (monotonic seconds), its connection closed.

    A graph answer (CONSTRUCT, DESCRIBE) is read to `most_triples` distinct triples at most, then
    its connection is closed: the engine knows no row cap, and may send the whole graph.
    """
    deadline_token, triples_token = _answer_by.set(deadline), _most_triples.set(most_triples)
    try:
        yield
    finally:
        _answer_by.reset(deadline_token)
        _most_triples.reset(triples_token)


class QueryRefusedError(InputError):
    """The engine refused a query's text (400), in its own words; the query gate (access.py) names a usual cause."""

    def __init__(self, engine: str, said: str) -> None:
        super().__init__(f"SPARQL error ({engine}): {said}")
        self.engine = engine


@dataclass(frozen=True)
class Credentials:
    """Who the store writes as: never on a command line, never in a log line or an answer."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=<hidden>)"


class RemoteStore:
    """A `GraphStore` over HTTP: queries, look-ups and graph reads to the engine, updates with its credentials."""

    def __init__(
        self, url: str, dialect: Dialect, credentials: Credentials | None = None, connect_seconds: float = 5.0,
        read_seconds: float = 60.0, connections: int = 16,
    ) -> None:
        self.url = url.rstrip("/")
        self.dialect = dialect
        self._credentials = credentials
        self._read_seconds = read_seconds
        self._connect_seconds = connect_seconds
        self._graphs = _graph_list(self.url)  # shared by this process's stores of the engine
        self._blank_paths: dict[str, tuple[NamedNode | BlankNode, NamedNode]] = {}  # label -> (subject, predicate) before it
        wait = read_seconds + dialect.timeout_tick + _READ_GRACE_SECONDS
        self._wait = wait
        self._path = urllib.parse.urlsplit(self.url).path  # the pool addresses its host; a request names the whole path
        self._reads = urllib3.connection_from_url(
            self.url, maxsize=connections, block=True, retries=False, timeout=urllib3.Timeout(connect=connect_seconds, read=wait),
        )
        self._client = httpx.Client(
            timeout=httpx.Timeout(wait, connect=connect_seconds),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
        )

    # ------------------------------------------------------------------------------ reading

    def query(
        self,
        query: str,
        *,
        base_iri: str | None = None,
        prefixes: dict[str, str] | None = None,
        use_default_graph_as_union: bool = False,
        default_graph: Sequence[GraphName] | GraphName | None = None,
        named_graphs: Sequence[NamedNode | BlankNode] | None = None,
    ) -> QueryResult:
        """Send a query with the Protocol's dataset parameters; parse the answer into pyoxigraph's types."""
        params = self._query_parameters(query, base_iri, prefixes, use_default_graph_as_union, default_graph, named_graphs)
        form, _ = read_form(query)  # the text as given: the prologue added here holds no keyword but PREFIX and BASE
        graph_answer = form in ("CONSTRUCT", "DESCRIBE")
        accept = "application/n-triples" if graph_answer else _RESULTS
        if graph_answer:
            return _as_query_triples(self._send(query, params, accept), _most_triples.get(), self.dialect.name)
        result = _results(self._send(query, params, accept), self.dialect.name)  # read as the rows are asked for
        if form == "ASK" and isinstance(result, QuerySolutions) and self.dialect.ask_variable:
            return _boolean(any(True for _ in result))  # the engine's table of one variable: a row means true
        return result

    def select_json(
        self,
        query: str,
        *,
        base_iri: str | None = None,
        prefixes: dict[str, str] | None = None,
        use_default_graph_as_union: bool = False,
        default_graph: Sequence[GraphName] | GraphName | None = None,
        named_graphs: Sequence[NamedNode | BlankNode] | None = None,
    ) -> JsonSolutions | None:
        """A SELECT's answer as the engine's JSON, to be counted and sent on as it came; None (nothing sent) for another form."""
        if read_form(query)[0] != "SELECT":
            return None
        params = self._query_parameters(query, base_iri, prefixes, use_default_graph_as_union, default_graph, named_graphs)
        return JsonSolutions(self._send(query, params, _RESULTS), self.dialect.name)

    def _send(self, query: str, params: list[tuple[str, str]], accept: str) -> _Answer:
        """The answer to `query` sent with `params`; the engine's word on a bad query counts the author's lines only."""
        prologue = params[0][1].count("\n") - query.count("\n")  # the lines `_prologue` put before the text
        answer = self._open(self.dialect.query_path, params, accept, lines_added=prologue)
        assert answer is not None  # only a graph read may be missing
        return answer

    def _query_parameters(
        self, query: str, base_iri: str | None, prefixes: dict[str, str] | None, union: bool,
        default_graph: Sequence[GraphName] | GraphName | None, named_graphs: Sequence[NamedNode | BlankNode] | None,
    ) -> list[tuple[str, str]]:
        """A query's form fields: its text after the prologue, the dataset's parameters, the engine's own time limit."""
        params = [("query", _prologue(prefixes, base_iri, query) + query)]
        params += self._dataset(union, default_graph, named_graphs, query, prefixes)
        return params + list(self.dialect.time_limit(self._read_seconds).items())

    def _dataset(
        self, union: bool, default_graph: Sequence[GraphName] | GraphName | None,
        named_graphs: Sequence[NamedNode | BlankNode] | None, text: str = "", prefixes: dict[str, str] | None = None,
    ) -> list[tuple[str, str]]:
        """The Protocol's dataset parameters meaning what pyoxigraph's arguments mean on the embedded store.

        There, the default graph is the store's own (empty in a built store) unless the union
        is asked for or graphs are given, and GRAPH ranges over every named graph unless they
        are given. An engine whose default graph is everything, its own graphs included
        (Virtuoso), is told each of the dataset's graphs instead; an empty list is a graph
        nobody holds, since no parameter at all would mean the engine's whole default. A query
        with its own FROM keeps its dataset; a graph the text names (`GRAPH <g>`) is added to
        the named graphs, as Virtuoso answers ASK and COUNT wrongly (true, 1) for a graph
        outside them. A query without GRAPH is sent no named graphs: only GRAPH reads them,
        and each graph named cost Virtuoso time (a lookup at 1M triples: 1.4 ms with no
        dataset, 2.0 with the two default graphs, 2.2 with the named ones too).
        """
        naming = self.dialect.names_dataset_graphs
        params: list[tuple[str, str]] = []
        if union and default_graph is None and named_graphs is None:
            if names_its_dataset(text):  # the query's FROM is its dataset (an engine's union would replace it)
                return []
            if not naming:
                return list(self.dialect.union_default_graph.items())
            has_graph, _, named_in_text = _graphs_in_text(text, prefixes)
            graphs = self.dataset_graphs() or (_NO_GRAPH,)
            defaults = [("default-graph-uri", iri) for iri in graphs]
            if not has_graph:  # named graphs matter to GRAPH only; each one named costs Virtuoso time
                return defaults
            named = list(dict.fromkeys([*graphs, *named_in_text]))
            return defaults + [("named-graph-uri", iri) for iri in named]
        if default_graph is not None:
            params += [("default-graph-uri", term.value) for term in _graphs(default_graph)] or [("default-graph-uri", _NO_GRAPH)]
        elif not self.dialect.has_default_graph:
            params.append(("default-graph-uri", _NO_GRAPH))
        if named_graphs is not None:
            params += [("named-graph-uri", term.value) for term in named_graphs if isinstance(term, NamedNode)] or [
                ("named-graph-uri", _NO_GRAPH)]
        elif naming:
            patterns = _graphs_in_text(text, prefixes)
            # an engine whose GRAPH <g> is exact needs them named only for GRAPH ?g: a look-up in one graph (the meta
            # graph's version, read every second) then costs no read of the graph list
            if patterns.variable or not self.dialect.exact_graph_names:
                named = list(dict.fromkeys([*self.dataset_graphs(), *patterns.named])) or [_NO_GRAPH]
                params += [("named-graph-uri", iri) for iri in named]
        return params

    def dataset_parameters(self, query: str, prefixes: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """The dataset parameters sent with `query` over the union of the dataset's graphs, as the endpoint asks for it.

        The bench sends them with the query to the engine directly, so that what a frontend adds
        is timed against the same request's cost to the engine.
        """
        return self._dataset(True, None, None, query, prefixes)

    def dataset_graphs(self) -> tuple[str, ...]:
        """The named graphs that hold data, the engine's own left out; read again when over a second old."""
        known = self._graphs
        with known.lock:
            if known.graphs is not None and time.monotonic() - known.read_at < _GRAPHS_SECONDS:
                return known.graphs
            graphs = self._read_graph_names()
            known.read_at, known.graphs = time.monotonic(), graphs
            return graphs

    def _read_graph_names(self) -> tuple[str, ...]:
        """The named graphs that hold data, the engine's own and kgserver's left out, as the engine holds them now."""
        body = self._read(self.dialect.query_path, [("query", _GRAPH_NAMES)], _RESULTS)
        names = _results(self.dialect.standard_results(body), self.dialect.name)
        return tuple(sorted(
            row["g"].value for row in names  # type: ignore[union-attr, index]
            if isinstance(row["g"], NamedNode) and not self.dialect.is_own_graph(row["g"].value)  # type: ignore[index]
        ))

    def quads_for_pattern(
        self,
        subject: Subject | None,
        predicate: NamedNode | None,
        object: NamedNode | BlankNode | Literal | None,
        graph_name: GraphName | None = None,
    ) -> Iterator[Quad]:
        """The quads matching a pattern, from a SELECT over the named graphs (or the default graph).

        A blank node is named as the engine names it (Virtuoso), or found again by the path
        that led to it from an IRI in an earlier answer, on an engine whose labels hold from
        one answer to the next (Oxigraph's server); otherwise it matches nothing.
        """
        prefix = self.dialect.blank_node_prefix
        blanks = [term for term in (subject, object) if isinstance(term, BlankNode)]
        path = ""
        if isinstance(graph_name, BlankNode) or (blanks and prefix is None and not self.dialect.stable_blank_labels):
            return iter(())  # a blank node of an earlier answer names nothing in a new request to this engine
        if blanks and prefix is None:
            found = self._path_to(blanks[0]) if len(blanks) == 1 else None
            if found is None:
                return iter(())  # not reached from an IRI here: it cannot be asked for
            path = found
        s, p, o = (_pattern_term(term, name, prefix) for term, name in ((subject, "?s"), (predicate, "?p"), (object, "?o")))
        found_var = " ?_b0" if path else ""
        if isinstance(graph_name, DefaultGraph):
            sparql = f"SELECT ?s ?p ?o{found_var} WHERE {{ {path} {s} {p} {o} }}"
        else:
            g = str(graph_name) if isinstance(graph_name, NamedNode) else "?g"
            sparql = f"SELECT ?s ?p ?o ?g{found_var} WHERE {{ {path} GRAPH {g} {{ {s} {p} {o} }} }}"
        solutions = self.query(sparql)
        quads = (
            Quad(
                subject or row["s"], predicate or row["p"], object or row["o"],  # type: ignore[index]
                graph_name if graph_name is not None else row["g"],  # type: ignore[index]
            )
            for row in solutions  # type: ignore[union-attr]
            if not path or row["_b0"] == blanks[0]  # type: ignore[index]
        )
        return self._remembering(quads) if self.dialect.stable_blank_labels and prefix is None else quads

    def _remembering(self, quads: Iterator[Quad]) -> Iterator[Quad]:
        """The quads as they come, each blank object remembered with the subject and predicate that led to it."""
        for quad in quads:
            node, parent = quad.object, quad.subject
            if isinstance(node, BlankNode) and node.value not in self._blank_paths and (
                    isinstance(parent, NamedNode) or (isinstance(parent, BlankNode) and parent.value in self._blank_paths)):
                if len(self._blank_paths) >= _BLANK_PATHS:
                    self._blank_paths.clear()  # a bound on memory: later look-ups start again from IRIs
                self._blank_paths[node.value] = (parent, quad.predicate)
            yield quad

    def _path_to(self, blank: BlankNode) -> str | None:
        """Triple patterns from an IRI down to `?_b0`, which matches `blank` among others; None if it was not reached so."""
        patterns: list[str] = []
        node: NamedNode | BlankNode | Triple = blank
        while isinstance(node, BlankNode):
            step = self._blank_paths.get(node.value)
            if step is None or len(patterns) >= _PATH_STEPS:
                return None
            parent, predicate = step
            index = len(patterns)
            source = str(parent) if isinstance(parent, NamedNode) else f"?_b{index + 1}"
            patterns.append(f"GRAPH ?_g{index} {{ {source} {predicate} ?_b{index} }}")
            node = parent
        return " ".join(patterns) + " FILTER(isBlank(?_b0))"

    def contains_named_graph(self, graph_name: NamedNode | BlankNode) -> bool:
        """Whether the engine has a graph of that name with at least one triple in it."""
        if isinstance(graph_name, BlankNode):
            return False
        return bool(self.query(f"ASK {{ GRAPH {graph_name} {{ ?s ?p ?o }} }}"))

    def dump(
        self,
        output: IO[bytes] | None = None,
        format: RdfFormat | None = None,
        *,
        from_graph: GraphName | None = None,
        prefixes: dict[str, str] | None = None,
        base_iri: str | None = None,
    ) -> bytes | None:
        """One graph read with the Graph Store Protocol (N-Triples) and written in `format`; streamed to `output`."""
        if from_graph is None:
            return self._dump_dataset(output, format or RdfFormat.N_QUADS, prefixes)
        if isinstance(from_graph, BlankNode):
            raise KgError("a graph named by a blank node cannot be read from a remote store")
        fmt = format or RdfFormat.N_TRIPLES
        if isinstance(from_graph, DefaultGraph) and not self.dialect.has_default_graph:
            return serialize([], output, fmt, prefixes=prefixes, base_iri=base_iri)  # the engine keeps none: it is empty
        answers = self._graph_answers(None if isinstance(from_graph, DefaultGraph) else from_graph.value)
        if fmt == RdfFormat.N_TRIPLES and not prefixes:
            if output is None:
                return b"".join(answer.read() for answer in answers)
            for answer in answers:
                for chunk in answer.chunks():  # a graph of millions of triples is copied through, never held
                    output.write(chunk)
            return None
        triples = (triple for answer in answers for triple in _triples(answer, self.dialect.name))
        return serialize(triples, output, fmt, prefixes=prefixes, base_iri=base_iri)

    def _dump_dataset(self, output: IO[bytes] | None, fmt: RdfFormat, prefixes: dict[str, str] | None) -> bytes | None:
        """Every named graph of the dataset (the engine's own and kgserver's left out), each read with the Graph
        Store Protocol, as quads in a dataset format. Its list is read afresh: a dump names the version it holds."""
        if not fmt.supports_datasets:
            raise KgError(f"{fmt.name} cannot hold named graphs; dump the dataset as N-Quads or TriG")
        names = [NamedNode(name) for name in self._read_graph_names()]
        quads = (
            Quad(triple.subject, triple.predicate, triple.object, name)
            for name in names
            for triple in self._graph_triples(name)
        )
        return serialize(quads, output, fmt, prefixes=prefixes)

    def _graph_triples(self, name: NamedNode) -> Iterator[Triple]:
        """One named graph's triples as the engine sends them (N-Triples)."""
        for answer in self._graph_answers(name.value):
            yield from _triples(answer, self.dialect.name)

    def _graph_answers(self, name: str | None) -> Iterator[_Answer | _SortedLines]:
        """A graph (None: the default graph) as N-Triples answers, each streamed; none for a graph the engine lacks.

        One Graph Store Protocol read, unless the graph holds more triples than the engine puts
        in one answer (dialect.graph_read_triples): then one CONSTRUCT per predicate, each
        within it, their lines sorted together so that each subject's triples come together (as
        Oxigraph's server gives a whole graph; Virtuoso's whole reads do not). A predicate with
        more triples than that is an error that names the limit.
        """
        limit = self.dialect.graph_read_triples
        if limit is None or name is None or self._triples_in(name) <= limit:
            params = [("graph", name)] if name is not None else [("default", "")]
            answer = self._open(self.dialect.graph_store_path, params, "application/n-triples", missing_ok=True)
            if answer is not None:
                yield answer
            return
        graph = NamedNode(name)
        rows = self.query(f"SELECT ?p (COUNT(*) AS ?n) WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }} GROUP BY ?p ORDER BY ?p")
        parts = [(row["p"], int(row["n"].value)) for row in rows]  # type: ignore[union-attr, index]
        for predicate, count in parts:
            if count > limit:
                raise EngineError(
                    f"the graph <{name}> has {count} triples of <{predicate.value}>, more than {self.dialect.name} "
                    f"puts in one answer ({limit}); raise that limit (Virtuoso: MaxVectorSize in virtuoso.ini)"
                )
        yield _SortedLines(  # each subject's triples together, as Oxigraph's whole graph read gives them
            self._open(self.dialect.query_path, [("query", text)], "application/n-triples")
            for text in (f"CONSTRUCT {{ ?s {p} ?o }} WHERE {{ GRAPH {graph} {{ ?s {p} ?o }} }}" for p, _ in parts)
        )

    def _triples_in(self, name: str) -> int:
        """How many triples a named graph holds (0 if the engine has no such graph)."""
        rows = self.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH {NamedNode(name)} {{ ?s ?p ?o }} }}")
        return sum(int(row["n"].value) for row in rows)  # type: ignore[union-attr, index]

    # ------------------------------------------------------------------------------ writing

    def update(self, update: str, *, base_iri: str | None = None) -> None:
        """Send a SPARQL Update (form-encoded) with the store's credentials; KgError when the engine refuses it."""
        text = _prologue(None, base_iri) + update
        auth = self._auth()
        try:
            response = self._client.post(self.url + self.dialect.update_path, data={"update": text}, auth=auth)
        except httpx.TransportError as error:
            raise _unavailable(error) from None
        self._graphs.forget()  # the update may have made or dropped a graph: this process's stores see it at once
        if response.status_code >= 300:
            raise KgError(f"{self.dialect.name} refused the update ({response.status_code}): {self._refusal(response)}")
        failure = self.dialect.failure(response.headers, response.content[:_SNIFF_BYTES])
        if failure:
            raise EngineError(failure)

    def load(self, input: bytes | None = None, format: RdfFormat | None = None, *,
             to_graph: NamedNode | None = None, **_: object) -> None:
        """Add N-Triples to a named graph with the Graph Store Protocol (POST): the engine's bulk way in.

        Sent as Turtle, which every engine's endpoint takes (N-Triples is Turtle); a blank node
        keeps its links within one request. KgError when the engine refuses it.
        """
        if to_graph is None or format not in (RdfFormat.N_TRIPLES, None) or input is None:
            raise KgError("a remote store loads N-Triples into a named graph only")
        try:
            response = self._client.post(self.url + self.dialect.graph_store_write_path, params={"graph": to_graph.value},
                                         content=input, headers={"Content-Type": "text/turtle"}, auth=self._auth())
        except httpx.TransportError as error:
            raise _unavailable(error) from None
        self._graphs.forget()
        if response.status_code >= 300:
            raise KgError(f"{self.dialect.name} refused the load into {to_graph.value} "
                          f"({response.status_code}): {self._refusal(response)}")

    def flush(self) -> None:
        """Nothing to do: the engine makes its commits durable itself."""

    def close(self) -> None:
        """Close the pools' connections."""
        self._reads.close()
        self._client.close()

    # ------------------------------------------------------------------------------ the wire

    def _refusal(self, response: httpx.Response) -> str:
        """Why the engine refused a write: for 401 what it means here (Virtuoso says nothing), else its own words."""
        if response.status_code == 401:
            if self._credentials is None:
                return ("the engine asks for credentials: set LDNKG_ENGINE_USER and LDNKG_ENGINE_PASSWORD "
                        "(or LDNKG_ENGINE_CREDENTIALS)")
            return ("wrong credentials: the engine does not take the user and password of LDNKG_ENGINE_USER and "
                    "LDNKG_ENGINE_PASSWORD (or LDNKG_ENGINE_CREDENTIALS)")
        return _gist(response.content) or response.reason_phrase or "no reason given"

    def _auth(self) -> httpx.Auth | None:
        if self._credentials is None:
            return None
        user, password = self._credentials.user, self._credentials.password
        return httpx.DigestAuth(user, password) if self.dialect.digest_auth else httpx.BasicAuth(user, password)

    def _read(self, path: str, params: list[tuple[str, str]], accept: str, missing_ok: bool = False) -> bytes:
        """The whole body of an answer (a short one: a list of graphs, a graph for a look-up), checked as `_open` does."""
        answer = self._open(path, params, accept, missing_ok)
        return answer.read() if answer is not None else b""

    def _open(
        self, path: str, params: list[tuple[str, str]], accept: str, missing_ok: bool = False, lines_added: int = 0,
    ) -> _Answer | None:
        """A query as a form POST, a graph read as a GET; the answer as it arrives, once its status, first bytes and
        media type are checked.

        None for a 404 when `missing_ok`. The answer is never held whole here: the parser reads
        it as the engine sends it (a result of a million rows cut at the row cap reads no further).
        `lines_added` is how many lines kgserver put before a query's text: the engine's message
        on it gives the author's line numbers.
        """
        headers = {"Accept": accept}
        deadline = _answer_by.get()
        timeout, waited = self._until(deadline)
        encoded = urllib.parse.urlencode(params)
        method, target, body = "GET", f"{self._path}{path}?{encoded}", None
        if path == self.dialect.query_path or len(encoded) > 4000:
            # A query goes as a form, never as a raw body (Virtuoso hangs on one); not in the URL, which urllib3
            # re-encodes character by character in Python (0.1-0.3 ms of a lookup whose text has its prefixes).
            method, target, body = "POST", self._path + path, encoded
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = self._reads.urlopen(
                method, target, body=body, headers=headers, timeout=timeout, pool_timeout=waited, retries=False,
                redirect=False, preload_content=False, decode_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise _past_deadline() if _passed(deadline) else _unavailable(error) from None
        answer = _Answer(response, self.dialect, deadline)
        if missing_ok and response.status == 404:
            answer.close()
            return None
        if response.status >= 300:
            said = _gist(self.dialect.query_error(answer.read().decode("utf-8", "replace"), lines_added))
            if response.status == 400:  # the engine parses the text: its word on a bad query is the client's answer
                raise QueryRefusedError(self.dialect.name, said)
            raise EngineError(f"{self.dialect.name} answered {response.status}: {said}")
        answer.check_start()
        self._check_media_type(answer, response.headers.get("Content-Type", ""), accept)
        return answer

    def _check_media_type(self, answer: _Answer, given: str, accept: str) -> None:
        """An answer of another media type than the one asked for is no engine's: a web server's page, a proxy's."""
        media = given.split(";")[0].strip().lower()
        what, types = _ANSWERS[accept]
        if media and media not in types:
            answer.close()
            # no URL: a 502 goes to any client, and the engine's address is the operator's to know
            raise EngineError(f"the engine answered {media}, not {what}: is --engine-url the engine's base URL?")

    def _until(self, deadline: float | None) -> tuple[urllib3.Timeout, float]:
        """The timeouts of one read that must be answered by `deadline` (the store's own if there is none), and the
        longest wait for a free connection."""
        remaining = self._wait if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            raise _past_deadline()
        return urllib3.Timeout(connect=min(self._connect_seconds, remaining), read=remaining), remaining


@dataclass(eq=False)
class _GraphList:
    """The dataset's graphs as last read from one engine, and when: one list for the process's stores of that engine.

    A frontend holds two stores of its engine (the dataset's, and its query threads'); each
    read of the list costs Virtuoso about 20 ms at 1M triples, so they share one.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    read_at: float = 0.0
    graphs: tuple[str, ...] | None = None

    def forget(self) -> None:
        with self.lock:
            self.graphs = None


_GRAPH_LISTS: dict[str, _GraphList] = {}
_GRAPH_LISTS_LOCK = threading.Lock()


def _graph_list(url: str) -> _GraphList:
    """The shared list of the dataset's graphs of the engine at `url`."""
    with _GRAPH_LISTS_LOCK:
        return _GRAPH_LISTS.setdefault(url, _GraphList())


class _Answer:
    """An engine's answer body as it arrives, read by a parser (`read`) or copied (`chunks`).

    Each chunk is checked on the way: the query's deadline, the engine's signs of a failed
    answer (Oxigraph's "cancelled" may come after results have started), and blank node labels
    are put the standard's way (dialect.standard_results), the last `_CARRY` bytes held back so
    that a label or a sign cut between two chunks is seen whole. The connection is closed at
    the end, or when the answer is dropped unread (a result cut at the row cap).
    """

    _CARRY = 256  # longer than any blank-node label prefix or failure sign, with the JSON around it

    def __init__(self, response: urllib3.BaseHTTPResponse, dialect: Dialect, deadline: float | None) -> None:
        self._response = response
        self._dialect = dialect
        self._deadline = deadline
        self._incoming = response.stream(_CHUNK)
        self._ready = bytearray()  # checked and rewritten, to hand out
        self._held = b""  # checked and rewritten, held back until the next chunk is seen with it
        self._ended = False

    def check_start(self) -> None:
        """Read the first bytes and the headers for a sign that the answer is an error or was cut (before any is used)."""
        while len(self._ready) + len(self._held) < _SNIFF_BYTES and not self._ended:
            self._pull()
        failure = self._dialect.failure(self._response.headers, bytes(self._ready) + self._held)
        if failure:
            self.close()
            raise EngineError(failure)

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left for -1), b"" at the end."""
        while (size < 0 or len(self._ready) < size) and not self._ended:
            self._pull()
        if self._ended and self._held:
            self._ready += self._held
            self._held = b""
        count = len(self._ready) if size < 0 else min(size, len(self._ready))
        out = bytes(self._ready[:count])
        del self._ready[:count]
        return out

    def chunks(self) -> Iterator[bytes]:
        """The rest of the answer, a chunk at a time."""
        while chunk := self.read(_CHUNK):
            yield chunk

    def _pull(self) -> None:
        """Take the next chunk from the engine, within the deadline; at the end, close the connection."""
        if _passed(self._deadline):
            self.close()
            raise _past_deadline()
        try:
            chunk = next(self._incoming, None)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            self.close()
            raise _past_deadline() if _passed(self._deadline) else _unavailable(error) from None
        if chunk is None:
            self.close()
            self._check_cut()
            return
        seen = self._dialect.standard_results(self._held + chunk)
        if self._response.status < 300 and (failure := self._dialect.failure({}, seen)):
            self.close()
            raise EngineError(failure)
        self._ready += seen[: -self._CARRY]
        self._held = seen[-self._CARRY :]

    def _check_cut(self) -> None:
        """At the end of an answer the engine cut at its own row limit: an error, since a reader reached the cut."""
        header = self._dialect.max_rows_header
        if header and self._response.status < 300 and header in self._response.headers:
            raise EngineError(
                f"{self._dialect.name} cut its answer at {self._response.headers[header]} rows, its own limit "
                f"({header}); raise that limit (Virtuoso: ResultSetMaxRows) above kgserver's row cap"
            )

    def close(self) -> None:
        """Close the connection (an engine that watches for it stops the query), then give its place back to the pool."""
        self._ended = True
        if not self._response.closed:
            self._response.close()
        self._response.release_conn()

    def __del__(self) -> None:
        if not self._ended:
            self.close()


class JsonSolutions:
    """A SELECT answer in the standard's JSON: parsed as it arrives to count and check its rows, its bytes kept to send on.

    Parsing an engine's JSON into terms and writing them out again cost a frontend about 3 ms of
    a 400-row answer (80 KB) and 30 ms of a 10,000-row one; counting the rows with the same parser
    and sending the bytes as they came costs a third of that. The bytes kept are the standard's
    (`_Answer` rewrites an engine's blank node labels and literal types), no more than the parser
    has read, in a spool (kgserver/spool.py): past 4 MB on disk, not in the frontend's memory.
    """

    def __init__(self, answer: _Answer, engine: str) -> None:
        self._kept = _Keeping(answer)
        self._engine = engine
        self._solutions = _results(self._kept, engine)
        assert isinstance(self._solutions, QuerySolutions)  # a SELECT's answer, or the parser has raised

    @property
    def variables(self) -> list[str]:
        return [variable.value for variable in self._solutions.variables]

    def count(self, most: int) -> int:
        """How many rows the answer holds, read up to `most` (the parser reads no further); no row is kept."""
        try:
            return sum(1 for _ in islice(self._solutions, most))
        except SyntaxError as error:
            raise _unreadable(self._engine, "SPARQL results", error) from None

    def body(self) -> Spool:
        """The whole answer, once every row has been counted: the rest is read and checked to its end first,
        so that an error or a cut the engine shows only there is raised before any byte is sent on."""
        for chunk in self._kept.answer.chunks():
            self._kept.spool.write(chunk)
        return self._kept.spool

    def first(self, count: int) -> Iterator[tuple[NamedNode | BlankNode | Literal | Triple | None, ...]]:
        """The first `count` rows, as terms (for an answer cut at the row cap, written again), parsed again from the
        bytes kept, as they are asked for: only a cut answer needs them, so counting keeps none."""
        again = parse_query_results(self._kept.spool.reader(), format=QueryResultsFormat.JSON)
        assert isinstance(again, QuerySolutions)  # the same bytes parsed once already
        return (tuple(solution) for solution in islice(again, count))  # type: ignore[misc]

    def close(self) -> None:
        """Stop reading: the connection is closed (an engine that watches for it stops the query), the bytes let go."""
        self._kept.spool.close()
        self._kept.answer.close()


@dataclass(eq=False)
class _Keeping:
    """What the parser of a `JsonSolutions` reads from: the engine's answer, each piece kept in a spool as it goes by.

    The parser holds its reader, so the reader must not hold the parser: a cycle through
    pyoxigraph's parser is never collected (each answer sent on was kept for good, 1.5 MB a
    10,000-row answer, until the frontend's PSS doubled).
    """

    answer: _Answer
    spool: Spool = field(default_factory=Spool)

    def read(self, size: int = -1) -> bytes:
        data = self.answer.read(size)
        self.spool.write(data)
        return data


def line_sorter(stdout: int | IO[bytes], spill: str) -> subprocess.Popen[bytes]:
    """The system's `sort`, bytewise: lines written to its stdin come out in order on `stdout`.

    An N-Triples line begins with its subject, so sorted lines put a subject's triples
    together. It holds at most `_SORT_MEMORY` in memory and spills the rest to `spill`.
    """
    return subprocess.Popen(["sort", "-S", _SORT_MEMORY, "-T", spill], stdin=subprocess.PIPE, stdout=stdout,
                            env={**os.environ, "LC_ALL": "C"})


class _SortedLines:
    """N-Triples answers read through the system's `sort` (bytewise, spilling to temporary files): one body, by line.

    Sorted lines put a subject's triples together (`line_sorter`), whatever the size of the graph.
    """

    def __init__(self, answers: Iterable[_Answer | None]) -> None:
        try:
            self._sorter = line_sorter(subprocess.PIPE, tempfile.gettempdir())
        except OSError as error:
            raise KgError(f"a graph this large is read in parts put in order by the system's sort, which failed: {error}") from None
        stdin = self._sorter.stdin
        assert stdin is not None and self._sorter.stdout is not None
        try:
            for answer in answers:
                last = b"\n"
                for chunk in answer.chunks() if answer is not None else ():
                    stdin.write(chunk)
                    last = chunk[-1:]
                if last != b"\n":
                    stdin.write(b"\n")  # a part's last line is a line of its own
            stdin.close()
        except BaseException:
            self.close()
            raise
        self._out = self._sorter.stdout

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of the sorted lines (all that is left for -1), b"" at the end."""
        data = self._out.read(size)
        if not data:
            self.close()
        return data

    def chunks(self) -> Iterator[bytes]:
        while chunk := self.read(_CHUNK):
            yield chunk

    def close(self) -> None:
        if self._sorter.poll() is None:
            self._sorter.kill()
        self._sorter.wait()

    def __del__(self) -> None:
        if hasattr(self, "_sorter"):
            self.close()


def _passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _past_deadline() -> UnavailableError:
    """What a read stopped at its request's deadline raises: 503 with Retry-After (for a query the gate has told the
    client already; a page whose reads did not end within the time limit is told so by this)."""
    return UnavailableError(PAST_DEADLINE, retry_after=5)


def _as_query_triples(answer: _Answer | None, most: int | None, engine: str) -> QueryTriples:
    """A CONSTRUCT or DESCRIBE answer (N-Triples, read as it arrives) as pyoxigraph's QueryTriples, the type the writers take.

    pyoxigraph makes that type only from its own queries, so the triples pass through an
    in-memory store. At most `most` distinct triples are read (the row cap and one more, so a
    cut is seen); the connection is closed then, the rest of the answer never read.
    """
    triples: set[Triple] = set()
    if answer is not None:
        try:
            for triple in _triples(answer, engine):
                triples.add(triple)
                if most is not None and len(triples) >= most:
                    break
        finally:
            answer.close()
    memory = Store()
    memory.extend(Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in triples)
    return memory.query("CONSTRUCT WHERE { ?s ?p ?o }")  # type: ignore[return-value]


def _results(source: _Answer | _Keeping | bytes, engine: str) -> QueryResult:
    """An engine's SPARQL JSON results, read as the rows are asked for; a beginning that does not parse is its failure."""
    try:
        return parse_query_results(source, format=QueryResultsFormat.JSON)
    except SyntaxError as error:
        raise _unreadable(engine, "SPARQL results", error) from None


def _triples(answer: _Answer | _SortedLines, engine: str) -> Iterator[Triple]:
    """An engine's N-Triples answer, triple by triple as it arrives; a line that does not parse is its failure."""
    try:
        yield from parse(answer, format=RdfFormat.N_TRIPLES)
    except SyntaxError as error:
        raise _unreadable(engine, "N-Triples", error) from None


def _unreadable(engine: str, what: str, error: SyntaxError) -> EngineError:
    """An answer with the right media type that does not parse as one: the engine's failure, not the query's."""
    return EngineError(f"{engine} answered something that is not {what} ({_gist(str(error))})")


class _GraphPatterns(NamedTuple):
    """What a query's GRAPH patterns are: whether it has one, one over a variable (`GRAPH ?g`), the graphs named after GRAPH."""

    present: bool
    variable: bool
    named: list[str]


def _graphs_in_text(text: str, prefixes: dict[str, str] | None = None) -> _GraphPatterns:
    """Whether a query has a GRAPH pattern, one over a variable, and the graphs it names after GRAPH (a FROM is
    `names_its_dataset`'s).

    Keywords only count as keywords (not in a string, an IRI or a comment); prefixed names are
    resolved by the text's own PREFIX declarations, else by `prefixes` (those sent before it).
    """
    found = list(tokens(text))
    declared = {**(prefixes or {}), **declared_prefixes(found)}
    named: list[str] = []
    has_graph = variable = False
    for index, token in enumerate(found):
        word = token.text.upper() if token.kind == "word" else ""
        following = found[index + 1] if index + 1 < len(found) else None
        if word == "GRAPH":
            has_graph = True
            variable = variable or (following is not None and following.kind == "var")
            if following is not None and following.kind == "iri" and ":" in following.text:
                named.append(following.text[1:-1])
            elif following is not None and following.kind == "pname":
                prefix, _, local = following.text.partition(":")
                if prefix in declared:
                    named.append(declared[prefix] + local)
    return _GraphPatterns(has_graph, variable, named)


def _prologue(prefixes: dict[str, str] | None, base_iri: str | None, text: str = "") -> str:
    """PREFIX and BASE declarations for what pyoxigraph takes as arguments and an engine only as text.

    With the query's `text`, only the prefixes whose `name:` appears in it are declared (each
    declaration cost an engine 5-10 us to parse: 0.03-0.1 ms of a lookup for the server's eleven).
    """
    lines = [f"BASE <{base_iri}>"] if base_iri else []
    lines += [f"PREFIX {name}: <{iri}>" for name, iri in (prefixes or {}).items() if not text or f"{name}:" in text]
    return "\n".join(lines) + "\n" if lines else ""


def _graphs(default_graph: Sequence[GraphName] | GraphName | None) -> list[NamedNode]:
    """The named graphs a query's default graph is the merge of (the default graph itself needs no parameter)."""
    if default_graph is None:
        return []
    graphs = default_graph if isinstance(default_graph, (list, tuple)) else [default_graph]
    return [graph for graph in graphs if isinstance(graph, NamedNode)]


def _pattern_term(term: NamedNode | BlankNode | Literal | None, variable: str, blank_prefix: str | None) -> str:
    """A term as SPARQL text (pyoxigraph writes N-Triples syntax, valid in SPARQL), or the variable when unbound.

    A blank node is written as the engine names it in a query (Virtuoso: `<nodeID://b123>`),
    or as `?_b0`, the end of the path that finds it again (`_path_to`).
    """
    if term is None:
        return variable
    if isinstance(term, BlankNode):
        return f"<{blank_prefix}{term.value}>" if blank_prefix else "?_b0"
    return str(term)


def _boolean(value: bool) -> QueryBoolean:
    """pyoxigraph's boolean answer, which it makes only from a parsed result."""
    answer = b'{"head":{},"boolean":true}' if value else b'{"head":{},"boolean":false}'
    return parse_query_results(answer, format=QueryResultsFormat.JSON)  # type: ignore[return-value]


def _gist(body: bytes | str, limit: int = 200) -> str:
    text = " ".join((body.decode("utf-8", "replace") if isinstance(body, bytes) else body).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unavailable(error: Exception) -> UnavailableError:
    """The engine could not be reached or stopped answering: the client is told to come back."""
    return UnavailableError(f"the store is unavailable: the SPARQL engine did not answer ({type(error).__name__})",
                            retry_after=5)
