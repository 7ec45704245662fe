"""A store held by another SPARQL engine, reached over the SPARQL 1.1 Protocol, Update and Graph Store Protocol.

`RemoteStore` offers `GraphStore` (interface.py) with pyoxigraph's terms and result types,
so the modules above cannot tell it from the embedded store: a query's answer is parsed
with pyoxigraph's own result parsers, a pattern look-up is a SELECT, a graph is read whole
with the Graph Store Protocol. Every request has explicit connect and read timeouts and
goes through one pool of kept-alive connections (httpx). What differs between engines is
in dialects.py. An answer that is not a complete result (an error or a cut result sent with
200, as Virtuoso and Oxigraph's server do past their limits) raises instead of being read as
one. Blank nodes cannot be named across requests: a look-up by a blank node finds nothing,
so a remote engine's data should have none (skolemise them when loading).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

import httpx
from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryResultsFormat,
    QueryTriples,
    RdfFormat,
    Store,
    parse,
    parse_query_results,
    serialize,
)

from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.sparql_lexer import read_form
from kgserver.store.dialects import Dialect
from kgserver.store.interface import GraphName, QueryResult, Subject

_RESULTS = "application/sparql-results+json"
_SNIFF_BYTES = 4096  # how much of a 200 body is read to tell results from an error text
_CHUNK = 1 << 16


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
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_seconds, connect=connect_seconds),
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
        text = _prologue(prefixes, base_iri) + query
        params: list[tuple[str, str]] = [("query", text)]
        if use_default_graph_as_union and default_graph is None and named_graphs is None:
            params += list(self.dialect.union_default_graph.items())
        params += [("default-graph-uri", term.value) for term in _graphs(default_graph)]
        params += [("named-graph-uri", term.value) for term in named_graphs or ()]
        params += list(self.dialect.time_limit(self._read_seconds).items())
        form, _ = read_form(text)
        graph_answer = form in ("CONSTRUCT", "DESCRIBE")
        accept = "application/n-triples" if graph_answer else _RESULTS
        body = self._read(self.dialect.query_path, params, accept)
        if graph_answer:
            return _as_query_triples(body)
        return parse_query_results(body, format=QueryResultsFormat.JSON)

    def quads_for_pattern(
        self,
        subject: Subject | None,
        predicate: NamedNode | None,
        object: NamedNode | BlankNode | Literal | None,
        graph_name: GraphName | None = None,
    ) -> Iterator[Quad]:
        """The quads matching a pattern, from a SELECT over the named graphs (or the default graph)."""
        if any(isinstance(term, BlankNode) for term in (subject, object, graph_name)):
            return iter(())  # a blank node of an earlier answer names nothing in a new request
        s, p, o = (_pattern_term(term, name) for term, name in ((subject, "?s"), (predicate, "?p"), (object, "?o")))
        if isinstance(graph_name, DefaultGraph):
            sparql = f"SELECT ?s ?p ?o WHERE {{ {s} {p} {o} }}"
        else:
            g = str(graph_name) if isinstance(graph_name, NamedNode) else "?g"
            sparql = f"SELECT ?s ?p ?o ?g WHERE {{ GRAPH {g} {{ {s} {p} {o} }} }}"
        solutions = self.query(sparql)
        return (
            Quad(
                subject or row["s"], predicate or row["p"], object or row["o"],  # type: ignore[index]
                graph_name if graph_name is not None else row["g"],  # type: ignore[index]
            )
            for row in solutions  # type: ignore[union-attr]
        )

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
        params = [("default", "")] if isinstance(from_graph, DefaultGraph) else [("graph", from_graph.value)]
        data = self._read(self.dialect.graph_store_path, params, "application/n-triples", missing_ok=True)
        if fmt == RdfFormat.N_TRIPLES and not prefixes:
            if output is None:
                return data
            output.write(data)
            return None
        return serialize(parse(data, format=RdfFormat.N_TRIPLES), output, fmt, prefixes=prefixes, base_iri=base_iri)

    def _dump_dataset(self, output: IO[bytes] | None, fmt: RdfFormat, prefixes: dict[str, str] | None) -> bytes | None:
        """Every named graph, each read with the Graph Store Protocol, as quads in a dataset format."""
        if not fmt.supports_datasets:
            raise KgError(f"{fmt.name} cannot hold named graphs; dump the dataset as N-Quads or TriG")
        names = self.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g")
        quads = [
            Quad(triple.subject, triple.predicate, triple.object, row["g"])  # type: ignore[index]
            for row in names  # type: ignore[union-attr]
            for triple in parse(self.dump(from_graph=row["g"]) or b"", format=RdfFormat.N_TRIPLES)  # type: ignore[index]
        ]
        return serialize(quads, output, fmt, prefixes=prefixes)

    # ------------------------------------------------------------------------------ writing

    def update(self, update: str, *, base_iri: str | None = None) -> None:
        """Send a SPARQL Update (form-encoded) with the store's credentials; KgError when the engine refuses it."""
        text = _prologue(None, base_iri) + update
        auth = self._auth()
        try:
            response = self._client.post(self.url + self.dialect.update_path, data={"update": text}, auth=auth)
        except httpx.TransportError as error:
            raise _unavailable(error) from None
        if response.status_code >= 300:
            raise KgError(f"{self.dialect.name} refused the update ({response.status_code}): {_gist(response.content)}")
        failure = self.dialect.failure(response.headers, response.content[:_SNIFF_BYTES])
        if failure:
            raise KgError(failure)

    def flush(self) -> None:
        """Nothing to do: the engine makes its commits durable itself."""

    def close(self) -> None:
        """Close the pool's connections."""
        self._client.close()

    # ------------------------------------------------------------------------------ the wire

    def _auth(self) -> httpx.Auth | None:
        if self._credentials is None:
            return None
        user, password = self._credentials.user, self._credentials.password
        return httpx.DigestAuth(user, password) if self.dialect.digest_auth else httpx.BasicAuth(user, password)

    def _read(self, path: str, params: list[tuple[str, str]], accept: str, missing_ok: bool = False) -> bytes:
        """GET (or form POST, for long texts) `path` and return the whole body, after checking it is a real answer."""
        url = self.url + path
        headers = {"Accept": accept}
        try:
            if sum(len(value) for _, value in params) > 4000:  # long queries as a form: never a raw query body
                request = self._client.build_request("POST", url, data=dict(params), headers=headers)
            else:
                request = self._client.build_request("GET", url, params=params, headers=headers)
            response = self._client.send(request, stream=True)
        except httpx.TransportError as error:
            raise _unavailable(error) from None
        try:
            if missing_ok and response.status_code == 404:
                return b""
            body = b"".join(response.iter_bytes(_CHUNK))
        except httpx.TransportError as error:
            raise _unavailable(error) from None
        finally:
            response.close()
        if response.status_code == 400:  # the engine parses the text: its word on a bad query is the client's answer
            raise InputError(f"SPARQL error ({self.dialect.name}): {_gist(body)}")
        if response.status_code >= 300:
            raise KgError(f"{self.dialect.name} answered {response.status_code}: {_gist(body)}")
        failure = self.dialect.failure(response.headers, body[:_SNIFF_BYTES])
        if failure:
            raise KgError(failure)
        return body


def _as_query_triples(body: bytes) -> QueryTriples:
    """A CONSTRUCT or DESCRIBE answer (N-Triples) as pyoxigraph's QueryTriples, the type the writers take.

    pyoxigraph makes that type only from its own queries, so the triples pass through an
    in-memory store; an answer is at most the row cap's worth of triples.
    """
    memory = Store()
    memory.extend(Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in parse(body, format=RdfFormat.N_TRIPLES))
    return memory.query("CONSTRUCT WHERE { ?s ?p ?o }")  # type: ignore[return-value]


def _prologue(prefixes: dict[str, str] | None, base_iri: str | None) -> str:
    """PREFIX and BASE declarations for what pyoxigraph takes as arguments and an engine only as text."""
    lines = [f"BASE <{base_iri}>"] if base_iri else []
    lines += [f"PREFIX {name}: <{iri}>" for name, iri in (prefixes or {}).items()]
    return "\n".join(lines) + "\n" if lines else ""


def _graphs(default_graph: Sequence[GraphName] | GraphName | None) -> list[NamedNode]:
    """The named graphs a query's default graph is the merge of (the default graph itself needs no parameter)."""
    if default_graph is None:
        return []
    graphs = default_graph if isinstance(default_graph, (list, tuple)) else [default_graph]
    return [graph for graph in graphs if isinstance(graph, NamedNode)]


def _pattern_term(term: NamedNode | Literal | None, variable: str) -> str:
    """A term as SPARQL text (pyoxigraph writes N-Triples syntax, valid in SPARQL), or the variable when unbound."""
    return variable if term is None else str(term)


def _gist(body: bytes, limit: int = 200) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unavailable(error: Exception) -> UnavailableError:
    """The engine could not be reached or stopped answering: the client is told to come back."""
    return UnavailableError(f"the store is unavailable: the SPARQL engine did not answer ({type(error).__name__})",
                            retry_after=5)
