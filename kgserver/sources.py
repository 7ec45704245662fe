"""The graphs a command works on: ontology, data and shapes, from the source files or a built store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph

from kgserver import store as kgstore
from kgserver.config import Settings
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


def read_store_sources(store_path: Path, settings: Settings) -> Sources:
    """The asserted graphs as they were loaded into a built store."""
    store = kgstore.open_read_only(store_path)
    graphs = [
        kgstore.read_graph(store, iri)
        for iri in (settings.ontology_graph, settings.data_graph, settings.shapes_graph)
    ]
    for graph in graphs:
        for prefix, namespace in settings.prefixes.items():
            graph.bind(prefix, namespace)
    return Sources(*graphs)


def _read_dir(settings: Settings, folder: str, files: list[Path], progress: Progress) -> Graph:
    if not files:
        raise KgError(f"no source files: {settings.root / folder}/*.ttl matches nothing")
    merged = Graph()
    for path in files:
        label = str(path.relative_to(settings.root))
        graph = parse_file(path, settings.base, label=label)
        progress(f"parsing {label} ... {len(graph)} triples")
        merged += graph
        for prefix, namespace in graph.namespaces():
            merged.bind(prefix, namespace, override=False)
    return merged
