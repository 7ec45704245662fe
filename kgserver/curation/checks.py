"""The check every addition passes before it may enter: SHACL shapes and OWL consistency, in the stored graph's context.

Both checks look at the addition's neighbourhood (curation/scope.py) rather than the whole
store: SHACL sees the addition plus the stored triples its constraints can reach, HermiT
sees the ontology plus that same neighbourhood. The shapes, parsed by pySHACL, and the
ontology, prepared for the warm HermiT (kgserver/hermit.py), are kept between checks and
parsed again only when the meta graph records new content for them; so are the terms the
ontology declares, against which curation/boundaries.py refuses undeclared ones.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from rdflib import Graph

from kgserver import changes, hermit
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.curation.boundaries import DeclaredTerms, refusal_report
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


class Checker:
    """The check every addition passes, with what it keeps between checks: prepared shapes and ontology, a warm HermiT.

    The app (or a command) owns one; nothing is kept at module level. Prepared shapes and
    ontology are reused while the meta graph records the same content for them.
    """

    def __init__(self, settings: Settings, reasoner: hermit.WarmReasoner | None = None) -> None:
        self.settings = settings
        self.reasoner = reasoner or hermit.WarmReasoner()
        self._prepared: dict[tuple[str, Callable[[Graph], object]], tuple[str, object]] = {}  # (graph, prepare): (hash, prepared)
        self._prepared_lock = threading.Lock()
        self._shacl_lock = threading.Lock()  # pySHACL runs in one thread at a time: its parsed queries are shared

    def check(
        self, store: kgstore.GraphStore, addition: Graph, with_reasoner: bool = True, without: tuple[str, ...] = ()
    ) -> ValidationReport:
        """Validate `addition` against the stored shapes and ontology, with the stored data as its context.

        An addition that states what no curator may, or uses a term the ontology does not declare
        (curation/boundaries.py), is refused on that alone. Otherwise only results about nodes of
        the addition are reported; with `with_reasoner`, HermiT also checks that the ontology,
        the addition and the stored triples it touches are consistent,
        and an inconsistency is reported as a Violation without a focus node. `without` names live
        graphs left out of the context, as if they were gone (how a retraction is checked). The
        store is only read.
        """
        settings = self.settings
        state = changes.read_state(store, settings)
        declared = self._cached(store, state, settings.ontology_graph, DeclaredTerms.of)
        refused = refusal_report(addition, settings, declared)
        if refused is not None:  # the addition states what only the server or the ontology may: judged on that alone
            return refused
        graphs = tuple(graph for graph in context_graphs(state, settings) if graph not in without)
        scope = neighbourhood(store, settings, addition, graphs)
        with self._shacl_lock:
            shapes = self._cached(store, state, settings.shapes_graph, prepare_shapes)
            report = validate_prepared(scope.data, shapes, scope.ontology, prefixes_from=scope.addition)
        results = results_about(report, addition_nodes(addition))
        if with_reasoner:
            ontology = self._cached(store, state, settings.ontology_graph, hermit.ontology_document)
            consistent, explanation = self.reasoner.check_consistency(scope.data, ontology)
            if not consistent:
                results.append(inconsistency_result(explanation))
        return sorted_report(results, report.prefixes)

    def warm_up(self, store: kgstore.GraphStore) -> threading.Thread:
        """Prepare shapes and ontology and start HermiT in the background, so the first check is fast.

        For server start: returns at once. The store must stay open until the thread ends;
        a failure is left for the first real check to report.
        """

        def prepare() -> None:
            try:
                self.check(store, Graph(), with_reasoner=True)
            except KgError:
                pass

        thread = threading.Thread(target=prepare, name="curation-warm-up", daemon=True)
        thread.start()
        return thread

    def recheck_submissions(self, store: kgstore.GraphStore) -> list[tuple[str, ValidationReport]]:
        """Every live submission checked again against the stored shapes and ontology, oldest first.

        After a rebuild from changed sources the stored shapes are the new ones: this is how
        additions accepted under the old shapes are found to no longer conform (nothing is dropped).
        """
        prefix = self.settings.submission_graphs
        state = changes.read_state(store, self.settings)
        graphs = state.live_under(prefix)
        return [(iri.removeprefix(prefix), self.check(store, kgstore.read_graph(store, iri))) for iri in graphs]

    def close(self) -> None:
        """Stop HermiT's JVM."""
        self.reasoner.close()

    def _cached(self, store: kgstore.GraphStore, state: changes.DatasetState, graph: str, prepare: Callable[[Graph], T]) -> T:
        """`prepare` applied to a stored graph, reused while the meta graph records the same content hash.

        One graph may be prepared in more than one way (the ontology for HermiT and as declared
        terms); each is kept. A store without change records (not made by `kgserver build`) is
        read and prepared every time.
        """
        change = state.change_of(graph)
        if change is None or change.content_hash is None:
            return prepare(kgstore.read_graph(store, graph))
        key = (graph, prepare)
        with self._prepared_lock:
            kept = self._prepared.get(key)
            if kept is not None and kept[0] == change.content_hash:
                return kept[1]  # type: ignore[return-value]
        prepared = prepare(kgstore.read_graph(store, graph))
        with self._prepared_lock:
            self._prepared[key] = (change.content_hash, prepared)
        return prepared
