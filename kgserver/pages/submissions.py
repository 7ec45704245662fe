"""What the submissions pages show: every submission, newest first, and one submission with its triples.

Read from the record graphs (kgserver.curation.submissions writes them): who submitted, when,
the version it made, the sources it used, the warnings of its check, the triples it added
(while they are live: a retraction takes them out of the dataset, and its record stays), and
its retraction, if any.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyoxigraph import Literal, NamedNode

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.pages.values import Link, display_name, iri_term, select
from kgserver.store import GraphStore

PAGE_SIZE = 50


@dataclass(frozen=True)
class Listed:
    """One submission in the list."""

    iri: str
    curator: str
    when: str
    version: int
    retracted: bool


@dataclass(frozen=True)
class Named:
    """A term with the label people read it by (its IRI's or literal's text when it has none)."""

    value: str
    label: str
    is_iri: bool


@dataclass(frozen=True)
class Retraction:
    curator: str
    when: str
    version: int


@dataclass(frozen=True)
class Submission:
    """One submission as its page shows it."""

    iri: str
    curator: str
    started: str
    ended: str
    version: int
    graph: str
    sources: list[Link]
    warnings: list[str]
    triples: list[tuple[Named, Named, Named]]  # empty once retracted
    turtle: str
    retraction: Retraction | None


def listed(store: GraphStore, settings: Settings, page: int) -> tuple[list[Listed], int]:
    """One page of the submissions, newest first, and how many there are in all."""
    where = """?s a ldn:Submission ; prov:wasAssociatedWith/rdfs:label ?curator ; prov:endedAtTime ?ended ;
                   ldn:resultingVersion ?version ; prov:generated ?g .
                OPTIONAL { ?retraction a ldn:Retraction ; prov:invalidated ?g }"""
    total = int(select(store, settings, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ {where} }}")[0]["n"].value)
    if (page - 1) * PAGE_SIZE >= total:  # past the last page (or none yet): nothing to ask for
        return [], total
    rows = select(store, settings, f"""SELECT ?s (SAMPLE(?curator) AS ?who) (SAMPLE(?ended) AS ?at) (SAMPLE(?version) AS ?v)
        (COUNT(?retraction) AS ?retractions) WHERE {{ {where} }} GROUP BY ?s ORDER BY DESC(?at) ?s
        LIMIT {PAGE_SIZE} OFFSET {max(0, page - 1) * PAGE_SIZE}""")
    return [
        Listed(row["s"].value, row["who"].value, row["at"].value, int(row["v"].value), int(row["retractions"].value) > 0)
        for row in rows
    ], total


def detail(store: GraphStore, settings: Settings, iri: str) -> Submission | None:
    """The submission `iri` names, or None when no record has it."""
    activity = iri_term(iri)
    found = select(store, settings, f"""SELECT ?curator ?started ?ended ?version ?g WHERE {{
        {activity} a ldn:Submission ; prov:wasAssociatedWith/rdfs:label ?curator ; prov:startedAtTime ?started ;
                prov:endedAtTime ?ended ; ldn:resultingVersion ?version ; prov:generated ?g .
        FILTER NOT EXISTS {{ ?g a sh:ValidationReport }} FILTER (STRSTARTS(STR(?g), "{settings.base}graph/")) }} LIMIT 1""")
    if not found:
        return None
    row = found[0]
    graph = row["g"].value
    sources = [
        Link(r["source"].value, r["label"].value if "label" in r else r["source"].value)
        for r in select(store, settings, f"""SELECT ?source (SAMPLE(?l) AS ?label) WHERE {{
            {activity} prov:used ?source OPTIONAL {{ ?source rdfs:label ?l }} }} GROUP BY ?source ORDER BY ?source""")
    ]
    warnings = [r["message"].value for r in select(store, settings, f"""SELECT DISTINCT ?message WHERE {{
        {activity} prov:generated ?report . ?report sh:result ?result .
        ?result sh:resultSeverity sh:Warning ; sh:resultMessage ?message }} ORDER BY ?message""")]
    triples = [
        (_named(settings, r["s"], r.get("sl")), _named(settings, r["p"], r.get("pl")), _named(settings, r["o"], r.get("ol")))
        for r in select(store, settings, f"""SELECT ?s ?p ?o (SAMPLE(?sl0) AS ?sl) (SAMPLE(?pl0) AS ?pl) (SAMPLE(?ol0) AS ?ol)
            WHERE {{ GRAPH {iri_term(graph)} {{ ?s ?p ?o }} OPTIONAL {{ ?s rdfs:label ?sl0 }} OPTIONAL {{ ?p rdfs:label ?pl0 }}
                     OPTIONAL {{ ?o rdfs:label ?ol0 }} }} GROUP BY ?s ?p ?o ORDER BY ?s ?p ?o""")
    ]
    turtle = ""
    if triples:
        added = kgstore.read_graph(store, graph)
        for prefix, namespace in settings.prefixes.items():
            added.bind(prefix, namespace)
        turtle = added.serialize(format="turtle")
    retractions = select(store, settings, f"""SELECT ?curator ?when ?version WHERE {{
        ?r a ldn:Retraction ; prov:invalidated {iri_term(graph)} ; prov:wasAssociatedWith/rdfs:label ?curator ;
           prov:endedAtTime ?when ; ldn:resultingVersion ?version }} LIMIT 1""")
    retraction = None
    if retractions:
        done = retractions[0]
        retraction = Retraction(done["curator"].value, done["when"].value, int(done["version"].value))
    return Submission(iri, row["curator"].value, row["started"].value, row["ended"].value, int(row["version"].value),
                      graph, sources, warnings, triples, turtle, retraction)


def _named(settings: Settings, term: object, label: object | None) -> Named:
    """A term for a table cell: an IRI with its label (prefixed, rdf:type, when it has none), or a literal's text."""
    if isinstance(term, NamedNode):
        return Named(term.value, display_name(settings, term.value, label.value if isinstance(label, Literal) else None), True)
    return Named(getattr(term, "value", str(term)), getattr(term, "value", str(term)), False)
