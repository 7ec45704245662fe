"""The one interface through which every module reaches the data: `GraphStore`.

It is the part of pyoxigraph's `Store` the modules use (queries, pattern look-ups, graph
dumps, updates), with pyoxigraph's terms and result types, so the embedded store is one
implementation as it is; a store held by another engine is another (remote.py). Only this
package opens a store: no module outside it imports pyoxigraph's `Store`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Protocol

from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
)

QueryResult = QuerySolutions | QueryBoolean | QueryTriples
Subject = NamedNode | BlankNode
GraphName = NamedNode | BlankNode | DefaultGraph


class GraphStore(Protocol):
    """A quad store with SPARQL: what the web routes, pages, curation and commands need of one."""

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
        """Answer a SPARQL query; the dataset arguments are those of the SPARQL Protocol."""
        ...

    def quads_for_pattern(
        self,
        subject: Subject | None,
        predicate: NamedNode | None,
        object: NamedNode | BlankNode | Literal | None,
        graph_name: GraphName | None = None,
    ) -> Iterator[Quad]:
        """The quads matching a pattern, None matching anything."""
        ...

    def dump(
        self,
        output: IO[bytes] | None = None,
        format: RdfFormat | None = None,
        *,
        from_graph: GraphName | None = None,
        prefixes: dict[str, str] | None = None,
        base_iri: str | None = None,
    ) -> bytes | None:
        """Serialise a graph (or the whole dataset) to `output`, or return the bytes when no output is given."""
        ...

    def update(self, update: str, *, base_iri: str | None = None) -> None:
        """Apply a SPARQL Update, all of it or nothing."""
        ...

    def load(self, input: bytes | None = None, format: RdfFormat | None = None, *,
             to_graph: NamedNode | None = None) -> None:
        """Add the triples of `input` (N-Triples) to a named graph, in bulk: a commit's staging."""
        ...

    def contains_named_graph(self, graph_name: NamedNode | BlankNode) -> bool:
        """Whether the store has this named graph."""
        ...

    def flush(self) -> None:
        """Make the writes so far durable."""
        ...
