"""The submission gate: check an addition and commit it with its provenance, or retract it later.

A submission is checked and committed while this process's write lock is held, so no other
commit comes between the check and the commit. One `LiveDataset.commit` then writes, in one
transaction, the addition as its own named graph `{base}graph/submission/{id}`, the record
graph `{base}graph/record/{id}` (who, when, which sources it uses, the validation report and
the version it made) and the change records that move the dataset version on. A retraction
deletes the submission graph and adds a retraction activity to the record, again in one
commit: the triples leave the live dataset, the record stays.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyoxigraph import NamedNode
from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.curation import reports
from kgserver.curation.checks import Checker
from kgserver.curation.curators import agent_iri
from kgserver.curation.scope import ox_term
from kgserver.dataset import LiveDataset
from kgserver.errors import KgError
from kgserver.store import GraphStore
from kgserver.validation import Severity, ValidationReport

PROV = Namespace("http://www.w3.org/ns/prov#")
CITO = Namespace("http://purl.org/spar/cito/")
ID_PATTERN = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{8}")


class SubmissionNotFound(KgError):
    """No submission has this id."""

    http_status = 404


class AlreadyRetracted(KgError):
    """The submission was retracted before; it cannot be retracted twice."""

    http_status = 409


class NothingToAdd(KgError):
    """Every statement of the addition is in the curated data already: committing it would add nothing."""

    http_status = 409


class RetractionRefused(KgError):
    """Retracting the submission would leave others that rest on it not conforming; nothing was changed."""

    http_status = 409


@dataclass(frozen=True)
class SubmissionIris:
    """The IRIs of one submission: the activity, its graph, its record graph and its retraction."""

    activity: str
    graph: str
    record: str
    retraction: str

    @classmethod
    def of(cls, base: str, submission_id: str) -> SubmissionIris:
        activity = f"{base}id/submission/{submission_id}"
        return cls(activity, f"{base}graph/submission/{submission_id}", f"{base}graph/record/{submission_id}",
                   f"{activity}/retraction")


@dataclass(frozen=True)
class Accepted:
    """A committed submission: where it lives and the version that holds it; the report has its warnings."""

    iris: SubmissionIris
    version: int
    report: ValidationReport


@dataclass(frozen=True)
class Rejected:
    """An addition that breaks the shapes or the ontology; nothing was written."""

    report: ValidationReport


@dataclass(frozen=True)
class Retracted:
    """A retracted submission: its graph is gone from the live dataset in `version`, its record stays."""

    iris: SubmissionIris
    version: int


def new_id(now: datetime) -> str:
    """A submission id that sorts by time (UTC, to the microsecond) and is unique (a random suffix)."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"


def submit(dataset: LiveDataset, checker: Checker, curator: str, addition: Graph, received: datetime) -> Accepted | Rejected:
    """Check the addition in the store's context and, if it conforms, commit it with its record."""
    settings = checker.settings
    with dataset.writing() as store:
        _refuse_if_nothing_new(store, settings, dataset.state.live_graphs, addition)
        report = checker.check(store, addition)
        if not report.conforms:
            return Rejected(report)
        now = datetime.now(UTC)
        iris = SubmissionIris.of(settings.base, new_id(now))
        version = dataset.state.version + 1
        used = cited_sources(store, settings, addition)
        record = submission_record(settings, iris, curator, (received, now), used, report, version)
        state = dataset.commit(replace={iris.graph: addition, iris.record: record})
    _expect_version(state.version, version)
    return Accepted(iris, state.version, report)


def retract(dataset: LiveDataset, checker: Checker, curator: str, submission_id: str) -> Retracted:
    """Delete a submission's graph and record who retracted it and when, in one commit.

    Refused (409, nothing changed) when a live submission that rests on it, one that mentions
    a thing it describes, would no longer conform without it: retract that one first.
    """
    settings = checker.settings
    if not ID_PATTERN.fullmatch(submission_id):
        raise SubmissionNotFound(f"no submission has the id '{submission_id}'")
    iris = SubmissionIris.of(settings.base, submission_id)
    with dataset.writing() as store:
        record_change = dataset.state.change_of(iris.record)
        if record_change is None or record_change.deleted:
            raise SubmissionNotFound(f"no submission has the id '{submission_id}'")
        graph_change = dataset.state.change_of(iris.graph)
        if graph_change is None or graph_change.deleted:
            when = f" (in version {graph_change.version})" if graph_change else ""
            raise AlreadyRetracted(f"submission {submission_id} was retracted already{when}")
        _refuse_if_others_rest_on(store, checker, dataset.state.live_graphs, iris)
        version = dataset.state.version + 1
        record = kgstore.read_graph(store, iris.record)
        record += retraction_record(settings, iris, curator, datetime.now(UTC), version)
        state = dataset.commit(replace={iris.record: record}, delete=[iris.graph])
    _expect_version(state.version, version)
    return Retracted(iris, state.version)


def _refuse_if_nothing_new(store: GraphStore, settings: Settings, live: Iterable[str], addition: Graph) -> None:
    """Refuse (409) an addition every statement of which the curated data states already: sent twice, say.

    Curated data is the bundled data graph and the live submissions, not what the reasoner
    inferred. A statement with a blank node is always new (the store's blank nodes are its own).
    """
    statements = [tuple(ox_term(term) for term in triple) for triple in addition]
    if not statements or any(None in statement for statement in statements):
        return
    curated = {NamedNode(iri) for iri in live if iri == settings.data_graph or iri.startswith(settings.submission_graphs)}
    holders: set[str] = set()
    for subject, predicate, value in statements:
        found = {quad.graph_name.value for quad in store.quads_for_pattern(subject, predicate, value, None)  # type: ignore[arg-type]
                 if quad.graph_name in curated and quad.object == value}  # the store matches "1"^^xsd:int to 1
        if not found:
            return
        holders |= found
    names = sorted("the bundled data" if iri == settings.data_graph else f"submission {iri.rsplit('/', 1)[-1]}"
                   for iri in holders)
    count = f"each of its {len(statements)} statements is" if len(statements) > 1 else "its one statement is"
    raise NothingToAdd(f"nothing to add: {count} in the graph already (in {', '.join(names)})")


def _refuse_if_others_rest_on(store: GraphStore, checker: Checker, live: Iterable[str], iris: SubmissionIris) -> None:
    """Check again, as if `iris.graph` were gone, every live submission resting on it; refuse if one would not conform."""
    broken = []
    for graph in _resting_on(store, checker.settings, live, iris.graph):
        report = checker.check(store, kgstore.read_graph(store, graph), without=(iris.graph,))
        if not report.conforms:
            broken.append((graph.rsplit("/", 1)[-1], report))
    if broken:
        names = ", ".join(submission_id for submission_id, _ in broken)
        first = next(result for result in broken[0][1].results if result.severity == Severity.VIOLATION)
        raise RetractionRefused(
            f"retracting submission {iris.graph.rsplit('/', 1)[-1]} would leave submission {names} not conforming "
            f"(such as: {first.message}); retract {'it' if len(broken) == 1 else 'them'} first"
        )


def _resting_on(store: GraphStore, settings: Settings, live: Iterable[str], graph: str) -> list[str]:
    """The other live submissions' graphs that mention (as subject or object) an IRI `graph` describes."""
    others = sorted(iri for iri in live if iri.startswith(settings.submission_graphs) and iri != graph)
    if not others:
        return []
    query = f"""SELECT DISTINCT ?g WHERE {{
        GRAPH <{graph}> {{ ?node ?p ?o FILTER(isIRI(?node)) }}
        GRAPH ?g {{ {{ ?node ?p2 ?o2 }} UNION {{ ?s2 ?p3 ?node }} }}
        FILTER(?g != <{graph}>) }}"""
    named = [NamedNode(iri) for iri in (graph, *others)]
    return sorted(solution["g"].value for solution in store.query(query, named_graphs=named))  # type: ignore[union-attr, index]


def cited_sources(store: GraphStore, settings: Settings, addition: Graph) -> set[URIRef]:
    """The sources an addition rests on: objects of cito:citesAsEvidence and its sub-properties, the article
    its claims are stated in (ldn:statedIn), and typed sources."""
    ldn = settings.prefixes["ldn"]
    citing = _closure(store, settings, RDFS.subPropertyOf, CITO.citesAsEvidence) | {CITO.citesAsEvidence, URIRef(f"{ldn}statedIn")}
    source_classes = _closure(store, settings, RDFS.subClassOf, URIRef(f"{ldn}Source")) | {URIRef(f"{ldn}Source")}
    used = {obj for _s, predicate, obj in addition if predicate in citing and isinstance(obj, URIRef)}
    used |= {subject for subject, _p, cls in addition.triples((None, RDF.type, None)) if cls in source_classes and isinstance(subject, URIRef)}
    return used


def _closure(store: GraphStore, settings: Settings, hierarchy: URIRef, top: URIRef) -> set[URIRef]:
    """Every term below `top` in the ontology's hierarchy (sub-properties or sub-classes), at any depth."""
    query = f"SELECT DISTINCT ?term WHERE {{ GRAPH <{settings.ontology_graph}> {{ ?term <{hierarchy}>+ <{top}> }} }}"
    return {URIRef(solution["term"].value) for solution in store.query(query) if isinstance(solution["term"], NamedNode)}


def submission_record(
    settings: Settings,
    iris: SubmissionIris,
    curator: str,
    times: tuple[datetime, datetime],
    used: set[URIRef],
    report: ValidationReport,
    version: int,
) -> Graph:
    """The record graph of a submission: the PROV activity, its curator, the sources used and the report."""
    ldn = Namespace(settings.prefixes["ldn"])
    activity, graph, agent = URIRef(iris.activity), URIRef(iris.graph), URIRef(agent_iri(settings.base, curator))
    report_node = URIRef(f"{iris.activity}#report")
    record = _with_agent(settings, curator)
    started, ended = times
    _add_all(record, activity, [
        (RDF.type, PROV.Activity),
        (RDF.type, ldn.Submission),
        (RDFS.label, Literal(f"Submission {iris.activity.rsplit('/', 1)[-1]} by {curator}", lang="en")),
        (PROV.wasAssociatedWith, agent),
        (PROV.startedAtTime, _time(started)),
        (PROV.endedAtTime, _time(ended)),
        (PROV.generated, graph),
        (PROV.generated, report_node),
        (ldn.resultingVersion, Literal(version, datatype=XSD.integer)),
        *((PROV.used, source) for source in sorted(used)),
    ])
    _add_all(record, graph, [
        (RDF.type, PROV.Entity),
        (PROV.wasGeneratedBy, activity),
        (PROV.wasAttributedTo, agent),
        (PROV.generatedAtTime, _time(ended)),
    ])
    record += reports.to_graph(report, report_node, lambda number: URIRef(f"{iris.activity}#result-{number}"))
    record.add((report_node, PROV.wasGeneratedBy, activity))
    return record


def retraction_record(settings: Settings, iris: SubmissionIris, curator: str, when: datetime, version: int) -> Graph:
    """What a retraction adds to the record: the activity, who did it, when, and the graph it invalidated."""
    ldn = Namespace(settings.prefixes["ldn"])
    retraction, graph = URIRef(iris.retraction), URIRef(iris.graph)
    record = _with_agent(settings, curator)
    _add_all(record, retraction, [
        (RDF.type, PROV.Activity),
        (RDF.type, ldn.Retraction),
        (RDFS.label, Literal(f"Retraction of submission {iris.activity.rsplit('/', 1)[-1]} by {curator}", lang="en")),
        (PROV.wasAssociatedWith, URIRef(agent_iri(settings.base, curator))),
        (PROV.endedAtTime, _time(when)),
        (PROV.invalidated, graph),
        (ldn.resultingVersion, Literal(version, datatype=XSD.integer)),
    ])
    _add_all(record, graph, [(PROV.wasInvalidatedBy, retraction), (PROV.invalidatedAtTime, _time(when))])
    return record


def _with_agent(settings: Settings, curator: str) -> Graph:
    """A graph that states who the curator is, so every record can be read on its own."""
    graph = Graph()
    graph.bind("prov", PROV)
    agent = URIRef(agent_iri(settings.base, curator))
    graph.add((agent, RDF.type, PROV.Agent))
    graph.add((agent, RDFS.label, Literal(curator)))
    return graph


def _add_all(graph: Graph, subject: URIRef, pairs: list[tuple[URIRef, Node]]) -> None:
    """Describe one subject in a block, as the record reads in Turtle."""
    for predicate, obj in pairs:
        graph.add((subject, predicate, obj))


def _time(moment: datetime) -> Literal:
    """An xsd:dateTime in UTC to the microsecond, so activities in one second still order."""
    return Literal(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), datatype=XSD.dateTime)


def _expect_version(committed: int, recorded: int) -> None:
    """The record names the version before the commit makes it; they must agree, or the record lies."""
    if committed != recorded:
        raise KgError(f"the commit made version {committed}, but its record says {recorded}")
