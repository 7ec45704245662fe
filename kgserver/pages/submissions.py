"""What the submissions pages show: every submission, newest first, and one submission with its triples.

Read from the record graphs (kgserver.curation.submissions writes them): who submitted, when,
the version it made, the sources it used, the warnings of its check, the triples it added
(while they are live: a retraction takes them out of the dataset, and its record stays), and
its retraction, if any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyoxigraph import Literal, NamedNode, QuerySolutions

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.store import GraphStore

PAGE_SIZE = 50
_PREFIXES = """PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX sh: <http://www.w3.org/ns/shacl#> """


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
    sources: list[Named]
    warnings: list[str]
    triples: list[tuple[Named, Named, Named]]  # empty once retracted
    turtle: str
    retraction: Retraction | None


def listed(store: GraphStore, settings: Settings, page: int) -> tuple[list[Listed], int]:
    """One page of the submissions, newest first, and how many there are in all."""
    ldn = settings.prefixes["ldn"]
    where = f"""?s a <{ldn}Submission> ; prov:wasAssociatedWith/rdfs:label ?curator ; prov:endedAtTime ?ended ;
                   <{ldn}resultingVersion> ?version ; prov:generated ?g .
                OPTIONAL {{ ?retraction a <{ldn}Retraction> ; prov:invalidated ?g }}"""
    total = _rows(store, f"{_PREFIXES} SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ {where} }}")[0]["n"]
    rows = _rows(store, f"""{_PREFIXES} SELECT ?s (SAMPLE(?curator) AS ?who) (SAMPLE(?ended) AS ?at) (SAMPLE(?version) AS ?v)
        (COUNT(?retraction) AS ?retractions) WHERE {{ {where} }} GROUP BY ?s ORDER BY DESC(?at) ?s
        LIMIT {PAGE_SIZE} OFFSET {max(0, page - 1) * PAGE_SIZE}""")
    return [
        Listed(row["s"].value, row["who"].value, row["at"].value, int(row["v"].value), int(row["retractions"].value) > 0)
        for row in rows
    ], int(total.value)


def detail(store: GraphStore, settings: Settings, iri: str) -> Submission | None:
    """The submission `iri` names, or None when no record has it."""
    ldn = settings.prefixes["ldn"]
    found = _rows(store, f"""{_PREFIXES} SELECT ?curator ?started ?ended ?version ?g WHERE {{
        <{iri}> a <{ldn}Submission> ; prov:wasAssociatedWith/rdfs:label ?curator ; prov:startedAtTime ?started ;
                prov:endedAtTime ?ended ; <{ldn}resultingVersion> ?version ; prov:generated ?g .
        FILTER NOT EXISTS {{ ?g a sh:ValidationReport }} FILTER (STRSTARTS(STR(?g), "{settings.base}graph/")) }} LIMIT 1""")
    if not found:
        return None
    row = found[0]
    graph = row["g"].value
    sources = [_named(r["source"], r.get("label")) for r in _rows(store, f"""{_PREFIXES} SELECT ?source (SAMPLE(?l) AS ?label)
        WHERE {{ <{iri}> prov:used ?source OPTIONAL {{ ?source rdfs:label ?l }} }} GROUP BY ?source ORDER BY ?source""")]
    warnings = [r["message"].value for r in _rows(store, f"""{_PREFIXES} SELECT DISTINCT ?message WHERE {{
        <{iri}> prov:generated ?report . ?report sh:result ?result .
        ?result sh:resultSeverity sh:Warning ; sh:resultMessage ?message }} ORDER BY ?message""")]
    triples = [
        (_named(r["s"], r.get("sl")), _named(r["p"], r.get("pl")), _named(r["o"], r.get("ol")))
        for r in _rows(store, f"""{_PREFIXES} SELECT ?s ?p ?o (SAMPLE(?sl0) AS ?sl) (SAMPLE(?pl0) AS ?pl) (SAMPLE(?ol0) AS ?ol)
            WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} OPTIONAL {{ ?s rdfs:label ?sl0 }} OPTIONAL {{ ?p rdfs:label ?pl0 }}
                     OPTIONAL {{ ?o rdfs:label ?ol0 }} }} GROUP BY ?s ?p ?o ORDER BY ?s ?p ?o""")
    ]
    turtle = ""
    if triples:
        added = kgstore.read_graph(store, graph)
        for prefix, namespace in settings.prefixes.items():
            added.bind(prefix, namespace)
        turtle = added.serialize(format="turtle")
    retractions = _rows(store, f"""{_PREFIXES} SELECT ?curator ?when ?version WHERE {{
        ?r a <{ldn}Retraction> ; prov:invalidated <{graph}> ; prov:wasAssociatedWith/rdfs:label ?curator ;
           prov:endedAtTime ?when ; <{ldn}resultingVersion> ?version }} LIMIT 1""")
    retraction = None
    if retractions:
        done = retractions[0]
        retraction = Retraction(done["curator"].value, done["when"].value, int(done["version"].value))
    return Submission(iri, row["curator"].value, row["started"].value, row["ended"].value, int(row["version"].value),
                      graph, sources, warnings, triples, turtle, retraction)


def _rows(store: GraphStore, text: str) -> list[dict[str, Any]]:
    """The solutions of a SELECT over the whole dataset, each as a dict of its bound variables."""
    result = kgstore.query(store, text)
    assert isinstance(result, QuerySolutions)
    names = [variable.value for variable in result.variables]
    return [{name: row[name] for name in names if row[name] is not None} for row in result]


def _named(term: object, label: object | None) -> Named:
    """A term for a table cell: an IRI with its label, or a literal's text."""
    if isinstance(term, NamedNode):
        return Named(term.value, label.value if isinstance(label, Literal) else term.value, True)
    return Named(getattr(term, "value", str(term)), getattr(term, "value", str(term)), False)
