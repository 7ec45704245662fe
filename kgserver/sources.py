"""The graphs a command works on: ontology, data and shapes, from the source files or a built store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from kgserver import store as kgstore
from kgserver.config import DEFAULT_BASE, Settings
from kgserver.errors import KgError
from kgserver.parsing import parse_file

Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class Sources:
    """The three asserted graphs of LDN-KG."""

    ontology: Graph
    data: Graph
    shapes: Graph


def read_sources(settings: Settings, progress: Progress = quiet) -> Sources:
    """Parse ontology/, graph/ and shapes/ under the project root; any parse error stops here."""
    return Sources(
        ontology=_read_dir(settings, "ontology", settings.ontology_files(), progress),
        data=_read_dir(settings, "graph", settings.data_files(), progress),
        shapes=_read_dir(settings, "shapes", settings.shapes_files(), progress),
    )


def read_store_sources(store: kgstore.GraphStore, settings: Settings) -> Sources:
    """The asserted graphs as they were loaded into a built store (or an engine)."""
    graphs = [
        kgstore.read_graph(store, iri)
        for iri in (settings.ontology_graph, settings.data_graph, settings.shapes_graph)
    ]
    for graph in graphs:
        for prefix, namespace in settings.prefixes.items():
            graph.bind(prefix, namespace)
    return Sources(*graphs)


def rebase(graph: Graph, base: str) -> Graph:
    """The graph with the project's IRIs moved from DEFAULT_BASE to `base` (itself when they are the same).

    The sources mint IRIs under https://w3id.org/ldn-kg/; a deployment under another base
    (LDNKG_BASE) rewrites every IRI under it, and the base inside literals such as the
    shapes' SPARQL text and namespace declarations, so the whole graph moves together.
    """
    if base == DEFAULT_BASE:
        return graph
    moved = Graph()
    for prefix, namespace in graph.namespaces():
        moved.bind(prefix, _move(namespace, base), override=True)
    for triple in graph:
        moved.add(tuple(_move(term, base) for term in triple))  # type: ignore[arg-type]
    return moved


def _move(term: Node, base: str) -> Node:
    """One term under the new base: IRIs by prefix, literals wherever their text names the old base."""
    if isinstance(term, URIRef) and term.startswith(DEFAULT_BASE):
        return URIRef(base + term[len(DEFAULT_BASE):])
    if isinstance(term, Literal) and DEFAULT_BASE in term:
        return Literal(str(term).replace(DEFAULT_BASE, base), lang=term.language, datatype=term.datatype)
    return term


def _read_dir(settings: Settings, folder: str, files: list[Path], progress: Progress) -> Graph:
    if not files:
        raise KgError(f"no source files: {settings.root / folder}/*.ttl matches nothing")
    merged = Graph()
    for path in files:
        label = str(path.relative_to(settings.root))
        graph = rebase(parse_file(path, settings.base, label=label), settings.base)
        progress(f"parsing {label} ... {len(graph)} triples")
        merged += graph
        for prefix, namespace in graph.namespaces():
            merged.bind(prefix, namespace, override=False)
    return merged
