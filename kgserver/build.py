"""Sources into the store: parse, validate, reason, load, version."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.errors import KgError, NotConformingError
from kgserver.examples import example_graph
from kgserver.reasoning import reason
from kgserver.sources import Progress, quiet, read_sources
from kgserver.store.location import StoreLocation
from kgserver.validation import render_text, validate


@dataclass(frozen=True)
class BuildSummary:
    """What a build produced, for the closing table."""

    graph_sizes: dict[str, int]
    version: int
    changed: bool
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.graph_sizes.values())


def build(settings: Settings, place: Path | StoreLocation, progress: Progress = quiet) -> BuildSummary:
    """Build the store at `place` (a directory, or an engine) from the project's sources.

    Any failure (a parse error, a Violation, an inconsistency) stops the build before the
    store is touched: the new store is written aside and only replaces the directory whole;
    an engine gets the whole change as one update request, under the writer role.
    """
    location = StoreLocation.of(place)
    started = time.perf_counter()
    sources = read_sources(settings, progress)

    progress("validating graph/ against shapes/ ...")
    report = validate(sources.data, sources.shapes, sources.ontology)
    if not report.conforms:
        raise NotConformingError(
            f"build stopped: graph/ does not conform to shapes/ ({report.count('Violation')} violations)",
            detail=render_text(report),
        )
    warnings = report.count("Warning")
    progress(f"  conforms ({warnings} {'warning' if warnings == 1 else 'warnings'})")
    if report.results:
        progress(render_text(report))

    progress("reasoning with HermiT ...")
    reasoning = reason(sources.ontology, sources.data)
    if not reasoning.consistent:
        raise NotConformingError(f"build stopped: the graph is inconsistent with the ontology. {reasoning.explanation}")
    progress(f"  consistent, {len(reasoning.inferred)} inferred triples ({reasoning.seconds:.1f} s)")

    progress(f"loading into {location} ...")
    graphs = {
        settings.ontology_graph: sources.ontology,
        settings.data_graph: sources.data,
        settings.shapes_graph: sources.shapes,
        settings.inferred_graph: reasoning.inferred,
        settings.examples_graph: example_graph(settings),
    }
    if location.path is None:
        return _build_into_engine(settings, location, graphs, progress, started)
    store_dir = location.path
    previous, carried = kgstore.read_replaced(store_dir, lambda store: _history(store, settings), (changes.DatasetState(), {}))
    if carried:
        progress(f"keeping {len(carried)} graphs added since the last build (curators' submissions and their records)")
    graphs |= carried

    state, sizes = kgstore.write_store(store_dir, lambda store: _commit_build(store, settings, graphs, previous))
    return BuildSummary(sizes, state.version, state.version != previous.version, time.perf_counter() - started)


def _build_into_engine(
    settings: Settings, location: StoreLocation, graphs: dict[str, Graph], progress: Progress, started: float
) -> BuildSummary:
    """The build's graphs into an engine: curators' graphs kept, the change sent as one update and read back.

    The writer role is held meanwhile, so no server commits to the engine between the
    history read here and the commit (a running writer makes the build stop, as a running
    server does for a store directory). Oxigraph's server applies the one update all or
    nothing, so a failed build leaves the dataset served as it was.
    """
    role = location.hold_writer_role()
    store = location.open_reader(read_seconds=600.0)
    try:
        previous, carried = _history(store, settings)
        if carried:
            progress(f"keeping {len(carried)} graphs added since the last build (curators' submissions and their records)")
        state, sizes = _commit_build(store, settings, graphs | carried, previous)
        kept = changes.read_state(store, settings)
        if kept.version != state.version:
            raise KgError(f"{location} did not keep the build (it holds version {kept.version}, not {state.version})")
    finally:
        store.close()  # type: ignore[attr-defined]
        role.close()
    return BuildSummary(sizes, state.version, state.version != previous.version, time.perf_counter() - started)


def _commit_build(
    store: kgstore.GraphStore, settings: Settings, graphs: dict[str, Graph], previous: changes.DatasetState
) -> tuple[changes.DatasetState, dict[str, int]]:
    """The build's graphs committed over `previous`, the curators' words attributed to them; the state and sizes.

    The ontology, data, shapes and examples graphs hold the LDN-KG curators' words; the
    inferred graph is HermiT's.
    """
    written = (settings.ontology_graph, settings.data_graph, settings.shapes_graph, settings.examples_graph)
    attributed = {iri: curators_iri(settings) for iri in written}
    state = changes.commit(store, settings, graphs, previous=previous, attributed=attributed)
    return state, kgstore.graph_sizes(store, settings.named_graphs)


def curators_iri(settings: Settings) -> str:
    """The LDN-KG curators (kg:ldn-kg-curators in graph/entities.ttl), whose words and encodings the
    build's graphs hold: the meta graph attributes the ontology, data, shapes and examples to them.
    The inferred graph is HermiT's and holds no literal."""
    return f"{settings.base}id/ldn-kg-curators"


def _history(store: kgstore.GraphStore, settings: Settings) -> tuple[changes.DatasetState, dict[str, Graph]]:
    """The state of the store a build replaces, and the graphs it holds that no build makes.

    Those graphs came in through the curation gate after the last build; a rebuild from
    the sources must keep them, so the new store starts with them unchanged.
    """
    state = changes.read_state(store, settings)
    built = set(settings.named_graphs)
    return state, {iri: kgstore.read_graph(store, iri) for iri in state.live_graphs if iri not in built}


def render_summary(summary: BuildSummary) -> str:
    """The closing table of a build: triples per graph, total, version and time."""
    width = max(len(iri) for iri in summary.graph_sizes)
    rows = [f"{'graph':<{width}}  {'triples':>9}"]
    rows += [f"{iri:<{width}}  {count:>9}" for iri, count in summary.graph_sizes.items()]
    rows.append(f"{'total':<{width}}  {summary.total:>9}")
    rows.append(f"dataset version  {summary.version}{'' if summary.changed else ' (unchanged)'}")
    rows.append(f"time taken       {summary.seconds:.1f} s")
    return "\n".join(rows)

