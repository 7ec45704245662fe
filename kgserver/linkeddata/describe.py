"""What the server says about one IRI: its bounded description as triples, and the facts its page shows.

RDF answers carry the concise bounded description (CBD): every triple with the IRI as subject,
followed through blank-node objects, plus the labels of the IRIs it links to, over the union
of all graphs. An IRI declared an owl:Ontology (the ontology, the shapes) names a document: its
answer is the whole graph declaring it plus the description of every `IRI#term` in it, so
`{base}ontology#Drug` resolves, fragment dropped, to the document that defines it.

    iri = mentions(store, ["https://w3id.org/ldn-kg/id/naltrexone"])   # None: no graph uses it (a 404)
    description = describe(store, settings, iri)
    summary = summarise(store, description, text_origin(settings))   # label, types, properties, incoming links

A page marks every literal by whose words or encoding it is: the ldn:textOrigin its property
declares in the ontology (the article's words, a source's, bibliographic data, the curators'
text or encoding), read from the store with the property, never listed per page.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    Quad,
    QuerySolutions,
    Triple,
)

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.store import GraphStore

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
OWL_ONTOLOGY = "http://www.w3.org/2002/07/owl#Ontology"
OWL_VERSION_IRI = "http://www.w3.org/2002/07/owl#versionIRI"
LABELS = (
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://www.w3.org/2000/01/rdf-schema#label",
    "http://purl.org/dc/terms/title",
)
DEFINITIONS = (
    "http://www.w3.org/2004/02/skos/core#definition",
    "http://www.w3.org/2000/01/rdf-schema#comment",
    "http://purl.org/dc/terms/description",
)
INCOMING_LIMIT = 500
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_NESTING_LIMIT = 8


@dataclass(frozen=True)
class Description:
    """The triples an RDF answer about `iri` carries; `document` is True when `iri` names a whole document.

    `iri` is the IRI described: the ontology's own IRI when its version IRI was asked for.
    """

    iri: str
    triples: tuple[Triple, ...]
    document: bool = False

    @property
    def types(self) -> frozenset[str]:
        """The IRI's classes, asserted and inferred, as the special pages are chosen by them."""
        return frozenset(
            t.object.value for t in self.triples
            if t.subject == NamedNode(self.iri) and t.predicate.value == RDF_TYPE and isinstance(t.object, NamedNode)
        )


class Named(NamedTuple):
    """An IRI and its label (None when the store has none; pages then show the compact IRI)."""

    iri: str
    label: str | None


class Property(NamedTuple):
    """One predicate of a resource with its label, all its values, and whose words its literals are.

    `origin` is the label of the property's ldn:textOrigin ("the article's words", "curators'
    text"...), None when it declares none.
    """

    iri: str
    label: str | None
    values: list[Term]
    origin: str | None = None


class Incoming(NamedTuple):
    """A link to the resource: who links (subject) and how (predicate)."""

    subject: str
    subject_label: str | None
    predicate: str
    predicate_label: str | None


@dataclass(frozen=True)
class Term:
    """One value as a page shows it: a link (kind "iri"), text ("literal") or a nested description ("bnode")."""

    kind: str
    value: str
    label: str | None = None
    datatype: str | None = None
    language: str | None = None
    properties: list[Property] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    """The facts a resource page shows, as data; templates render them."""

    iri: str
    label: str | None
    types: list[Named]
    definition: str | None
    properties: list[Property]
    incoming: list[Incoming]
    incoming_truncated: bool
    terms: list[Named]
    definition_origin: str | None = None  # whose words the definition is (its property's ldn:textOrigin)


def mentions(store: GraphStore, iris: Iterable[str]) -> str | None:
    """The first of `iris` that some graph uses anywhere (subject, predicate, object or graph name), else None.

    Only those IRIs resolve. A request asks once: `/id/x.ttl` names two candidates, the IRI
    `{base}id/x.ttl` (which wins if used) and `{base}id/x` (as Turtle), looked up together.
    """
    for iri in iris:
        node = NamedNode(iri)
        patterns = ((node, None, None, None), (None, None, node, None), (None, node, None, None), (None, None, None, node))
        if any(_first(store.quads_for_pattern(*pattern)) is not None for pattern in patterns):
            return iri
    return None


def describe(store: GraphStore, settings: Settings, iri: str) -> Description:
    """The description of `iri`, an IRI the request found used (`mentions`): that look-up is not repeated here."""
    document = document_of(store, iri)
    if document is not None:
        return Description(document, tuple(_with_labels(store, _document_triples(store, document))), document=True)
    return Description(iri, tuple(_with_labels(store, concise_description(store, NamedNode(iri)))))


def document_of(store: GraphStore, iri: str) -> str | None:
    """The document `iri` names: itself if declared an owl:Ontology, the ontology if it is its version IRI."""
    node = NamedNode(iri)
    if _first(store.quads_for_pattern(node, NamedNode(RDF_TYPE), NamedNode(OWL_ONTOLOGY))) is not None:
        return iri
    version_of = _first(store.quads_for_pattern(None, NamedNode(OWL_VERSION_IRI), node))
    return version_of.subject.value if version_of is not None and isinstance(version_of.subject, NamedNode) else None


def concise_description(store: GraphStore, subject: NamedNode | BlankNode) -> list[Triple]:
    """Every triple about `subject` over all graphs, followed through blank-node objects; each triple once."""
    seen: set[Triple] = set()
    triples: list[Triple] = []
    pending: list[NamedNode | BlankNode] = [subject]
    visited: set[NamedNode | BlankNode] = {subject}
    while pending:
        for quad in store.quads_for_pattern(pending.pop(), None, None, None):
            triple = quad.triple
            if triple in seen:
                continue
            seen.add(triple)
            triples.append(triple)
            if isinstance(triple.object, BlankNode) and triple.object not in visited:
                visited.add(triple.object)
                pending.append(triple.object)
    return triples


def _document_triples(store: GraphStore, document: str) -> list[Triple]:
    """The graphs that declare `document`, whole, then what other graphs say about it and its `#` terms."""
    node = NamedNode(document)
    graphs = {quad.graph_name for quad in store.quads_for_pattern(node, NamedNode(RDF_TYPE), NamedNode(OWL_ONTOLOGY))}
    triples = dict.fromkeys(
        quad.triple for graph in graphs for quad in store.quads_for_pattern(None, None, None, graph)
    )
    for subject in [node, *(NamedNode(iri) for iri in _hash_terms(store, document))]:
        triples.update(dict.fromkeys(concise_description(store, subject)))
    return list(triples)


def _hash_terms(store: GraphStore, document: str) -> list[str]:
    """The IRIs `document#...` that are the subject of some triple, in any graph."""
    result = kgstore.query(
        store, f"SELECT DISTINCT ?s WHERE {{ ?s ?p ?o FILTER(STRSTARTS(STR(?s), CONCAT(STR(<{document}>), '#'))) }}"
    )
    assert isinstance(result, QuerySolutions)
    return sorted(solution["s"].value for solution in result)


def _with_labels(store: GraphStore, triples: list[Triple]) -> Iterator[Triple]:
    """The triples, then the labels of every IRI they link to that they do not already label, each once
    (a curator's label is in the record of each of their submissions)."""
    yield from triples
    described = {t.subject for t in triples}
    linked = dict.fromkeys(t.object for t in triples if isinstance(t.object, NamedNode) and t.object not in described)
    yield from dict.fromkeys(
        quad.triple for iri in linked for predicate in LABELS
        for quad in store.quads_for_pattern(iri, NamedNode(predicate), None, None)
    )


def text_origin(settings: Settings) -> str:
    """The annotation by which the ontology says whose words a property's values are."""
    return f"{settings.prefixes['ldn']}textOrigin"


def summarise(store: GraphStore, description: Description, origin_property: str | None = None) -> Summary:
    """What the page of a described resource shows: label, types, definition, properties and incoming links.

    With `origin_property` (ldn:textOrigin, see `text_origin`), each property and the
    definition carry whose words their literals are, as the ontology declares it.
    """
    subject = NamedNode(description.iri)
    by_subject: dict[NamedNode | BlankNode, list[Triple]] = {}
    for triple in description.triples:
        by_subject.setdefault(triple.subject, []).append(triple)  # type: ignore[arg-type]
    own = by_subject.get(subject, [])
    labels = _Labels(store, description.triples)
    origins = _Origins(store, origin_property, labels)
    types = sorted(
        {Named(t.object.value, labels.of(t.object.value)) for t in own if t.predicate.value == RDF_TYPE},
        key=_by_label,
    )
    incoming, truncated = _incoming(store, subject, labels)
    terms = (
        sorted({Named(s.value, labels.of(s.value)) for s in by_subject if _is_term_of(s, description.iri)}, key=_by_label)
        if description.document else []
    )
    definition = _preferred_triple(t for t in own if t.predicate.value in DEFINITIONS)
    return Summary(
        iri=description.iri,
        label=labels.of(description.iri),
        types=types,
        definition=definition.object.value if definition is not None else None,
        properties=_properties(own, by_subject, labels, origins, 0),
        incoming=incoming,
        incoming_truncated=truncated,
        terms=terms,
        definition_origin=origins.of(definition.predicate.value) if definition is not None else None,
    )


def _is_term_of(node: NamedNode | BlankNode, document: str) -> bool:
    return isinstance(node, NamedNode) and node.value.startswith(document + "#")


def _properties(
    triples: list[Triple], by_subject: dict[NamedNode | BlankNode, list[Triple]], labels: _Labels, origins: _Origins, depth: int
) -> list[Property]:
    """The triples grouped by predicate (rdf:type left to the types), blank-node values described in place."""
    grouped: dict[str, list[Term]] = {}
    for triple in triples:
        if triple.predicate.value != RDF_TYPE or depth > 0:
            grouped.setdefault(triple.predicate.value, []).append(_term(triple.object, by_subject, labels, origins, depth))
    return sorted(
        (
            Property(iri, labels.of(iri), sorted(values, key=lambda t: (t.kind, t.label or t.value)), origins.of(iri))
            for iri, values in grouped.items()
        ),
        key=_by_label,
    )


def _term(
    node: object, by_subject: dict[NamedNode | BlankNode, list[Triple]], labels: _Labels, origins: _Origins, depth: int
) -> Term:
    """One value for a page; a blank node carries its own properties, up to a fixed depth."""
    if isinstance(node, NamedNode):
        return Term("iri", node.value, labels.of(node.value))
    if isinstance(node, Literal):
        datatype = node.datatype.value
        return Term(
            "literal", node.value, datatype=None if datatype in (_XSD_STRING, _RDF_LANG_STRING) else datatype,
            language=node.language or None,
        )
    if isinstance(node, BlankNode):
        nested = by_subject.get(node, []) if depth < _NESTING_LIMIT else []
        return Term("bnode", node.value, properties=_properties(nested, by_subject, labels, origins, depth + 1))
    return Term("literal", str(node))


def _incoming(store: GraphStore, subject: NamedNode, labels: _Labels) -> tuple[list[Incoming], bool]:
    """Who links to `subject` and how, at most INCOMING_LIMIT links; a blank node stands for the IRI holding it."""
    links: dict[tuple[str, str], None] = {}
    for quad in itertools.islice(store.quads_for_pattern(None, None, subject, None), INCOMING_LIMIT * 4):
        owner = _owner(store, quad.subject)
        if owner is not None and owner != subject:
            links[(owner.value, quad.predicate.value)] = None
        if len(links) > INCOMING_LIMIT:
            break
    truncated = len(links) > INCOMING_LIMIT
    chosen = list(links)[:INCOMING_LIMIT]
    incoming = [Incoming(s, labels.of(s), p, labels.of(p)) for s, p in chosen]
    return sorted(incoming, key=lambda link: (link.predicate_label or link.predicate, link.subject_label or link.subject)), truncated


def _owner(store: GraphStore, node: NamedNode | BlankNode | Triple) -> NamedNode | None:
    """The IRI a blank node hangs from (climbing a few levels), or the node itself when it is an IRI."""
    for _ in range(_NESTING_LIMIT):
        if isinstance(node, NamedNode):
            return node
        parent = _first(store.quads_for_pattern(None, None, node, None))
        if parent is None:
            return None
        node = parent.subject
    return None


class _Labels:
    """Labels of IRIs, from the description first and the store for the rest (predicates, linking subjects)."""

    def __init__(self, store: GraphStore, triples: Iterable[Triple]) -> None:
        self._store = store
        self._known: dict[str, list[Literal]] = {}
        for triple in triples:
            if triple.predicate.value in LABELS and isinstance(triple.object, Literal) and isinstance(triple.subject, NamedNode):
                self._known.setdefault(triple.subject.value, []).append(triple.object)
        self._looked_up: dict[str, str | None] = {}

    def of(self, iri: str) -> str | None:
        """The English (or untagged) label if there is one, else any label, else None."""
        if iri in self._known:
            return _preferred(self._known[iri])
        if iri not in self._looked_up:
            found = [
                quad.object for predicate in LABELS
                for quad in self._store.quads_for_pattern(NamedNode(iri), NamedNode(predicate), None, None)
            ]
            self._looked_up[iri] = _preferred(found)
        return self._looked_up[iri]


class _Origins:
    """Whose words each property's values are: the label of its ldn:textOrigin, looked up once per property."""

    def __init__(self, store: GraphStore, origin_property: str | None, labels: _Labels) -> None:
        self._store = store
        self._property = NamedNode(origin_property) if origin_property else None
        self._labels = labels
        self._known: dict[str, str | None] = {}

    def of(self, predicate: str) -> str | None:
        """The origin's label (its IRI's name when it has none), or None when the property declares none."""
        if self._property is None:
            return None
        if predicate not in self._known:
            origin = _first(self._store.quads_for_pattern(NamedNode(predicate), self._property, None, None))
            if origin is None or not isinstance(origin.object, NamedNode):
                self._known[predicate] = None
            else:
                iri = origin.object.value
                self._known[predicate] = self._labels.of(iri) or iri.rsplit("#", 1)[-1]
        return self._known[predicate]


def _preferred_triple(triples: Iterable[Triple]) -> Triple | None:
    """The triple with the first English or untagged literal object, else the first with a literal."""
    literal = [t for t in triples if isinstance(t.object, Literal)]
    for triple in literal:
        if (triple.object.language or "en").lower().startswith("en"):
            return triple
    return literal[0] if literal else None


def _preferred(values: Iterable[object]) -> str | None:
    """The first English or untagged literal, else the first literal, as text."""
    literals = [value for value in values if isinstance(value, Literal)]
    for literal in literals:
        if (literal.language or "en").lower().startswith("en"):
            return literal.value
    return literals[0].value if literals else None


def _by_label(item: Named | Property) -> tuple[str, str]:
    return ((item.label or item.iri).lower(), item.iri)


def _first(quads: Iterable[Quad]) -> Quad | None:
    return next(iter(quads), None)
