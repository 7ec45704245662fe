"""The check every addition passes before it may enter: SHACL shapes and OWL consistency, in the stored graph's context.

Both checks look at the addition's neighbourhood (curation/scope.py) rather than the whole
store: SHACL sees the addition plus the stored triples its constraints can reach, HermiT
sees the ontology plus that same neighbourhood. The shapes, parsed by pySHACL, and the
ontology, prepared for the warm HermiT (kgserver/hermit.py), are kept between checks and
parsed again only when the meta graph records new content for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from rdflib import Graph

from kgserver import changes, hermit
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.curation.scope import addition_nodes, context_graphs, neighbourhood
from kgserver.errors import KgError
from kgserver.validation import (
    ValidationReport,
    inconsistency_result,
    prepare_shapes,
    results_about,
    sorted_report,
    validate_prepared,
)

T = TypeVar("T")


def check_addition(store: kgstore.Store, settings: Settings, addition: Graph, with_reasoner: bool = True) -> ValidationReport:
    """Validate `addition` against the stored shapes and ontology, with the stored data as its context.

    Only results about nodes of the addition are reported; with `with_reasoner`, HermiT also
    checks that the ontology, the addition and the stored triples it touches are consistent,
    and an inconsistency is reported as a Violation without a focus node. The store is only read.
    """
    state = changes.read_state(store, settings)
    scope = neighbourhood(store, settings, addition, context_graphs(state, settings))
    with _shacl_lock:  # pySHACL runs in one thread at a time: its shapes and parsed queries are shared
        shapes = _cached(store, settings, state, settings.shapes_graph, prepare_shapes)
        report = validate_prepared(scope.data, shapes, scope.ontology, prefixes_from=scope.addition)
    results = results_about(report, addition_nodes(addition))
    if with_reasoner:
        ontology = _cached(store, settings, state, settings.ontology_graph, _ontology_document)
        consistent, explanation = hermit.shared().check_consistency(scope.data, ontology)
        if not consistent:
            results.append(inconsistency_result(explanation))
    return sorted_report(results)


def warm_up(store: kgstore.Store, settings: Settings) -> threading.Thread:
    """Prepare shapes and ontology and start HermiT in the background, so the first check is fast.

    For server start: returns at once. The store must stay open until the thread ends;
    a failure is left for the first real check to report.
    """

    def prepare() -> None:
        try:
            check_addition(store, settings, Graph(), with_reasoner=True)
        except KgError:
            pass

    thread = threading.Thread(target=prepare, name="curation-warm-up", daemon=True)
    thread.start()
    return thread


def _ontology_document(graph: Graph) -> hermit.OntologyDocument:
    """The ontology as the warm reasoner takes it."""
    return hermit.ontology_document(graph)


# -- what is parsed once per content ----------------------------------------------------------

_cache: dict[tuple[str, str], object] = {}
_cache_lock = threading.Lock()
_shacl_lock = threading.Lock()


def _cached(
    store: kgstore.Store, settings: Settings, state: changes.DatasetState, graph: str, prepare: Callable[[Graph], T]
) -> T:
    """`prepare` applied to a stored graph, reused while the meta graph records the same content hash.

    A store without change records (not made by `kgserver build`) is read and prepared every time.
    """
    change = state.change_of(graph)
    if change is None or change.content_hash is None:
        return prepare(kgstore.read_graph(store, graph))
    key = (graph, change.content_hash)
    with _cache_lock:
        if key in _cache:
            return _cache[key]  # type: ignore[return-value]
    prepared = prepare(kgstore.read_graph(store, graph))
    with _cache_lock:
        for old in [k for k in _cache if k[0] == graph]:
            del _cache[old]
        _cache[key] = prepared
    return prepared


def recheck_submissions(store: kgstore.Store, settings: Settings) -> list[tuple[str, ValidationReport]]:
    """Every live submission checked again against the stored shapes and ontology, oldest first.

    After a rebuild from changed sources the stored shapes are the new ones: this is how
    additions accepted under the old shapes are found to no longer conform (nothing is dropped).
    """
    prefix = f"{settings.base}graph/submission/"
    state = changes.read_state(store, settings)
    graphs = sorted(iri for iri in state.live_graphs if iri.startswith(prefix))
    return [(iri.removeprefix(prefix), check_addition(store, settings, kgstore.read_graph(store, iri))) for iri in graphs]
