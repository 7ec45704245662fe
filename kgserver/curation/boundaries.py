"""What no addition may state, whatever the shapes say: the server's own records, the ontology, ill-typed values.

A curator adds evidence, that is instance data. Three kinds of triple are refused before
the shapes and HermiT see the addition, each as a Violation naming its subject, predicate
and value:

- the server's records: anything about IRIs the server mints (submissions, curators, its
  graphs, its private graphs), a type only the server gives (ldn:Submission, ldn:Retraction),
  or a curator named as an object. Otherwise one curator could write a submission record
  attributed to another, or attribute a claim to them;
- the ontology: statements about the ontology's terms or the W3C vocabularies, and axioms
  (rdfs:subClassOf, owl:equivalentClass, owl:sameAs, declared classes and properties...).
  These change what every stored claim means, so one of them could make the whole graph
  unsatisfiable and every later addition refused; the ontology changes through its source
  file and a rebuild;
- literals whose text is not a value of their datatype ("abc"^^xsd:integer), which the
  reasoner cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rdflib import OWL, RDF, RDFS, SH, XSD, Graph, Literal, URIRef
from rdflib.term import Node

from kgserver.config import Settings
from kgserver.curation.curators import agent_iri
from kgserver.formats import compact_iri
from kgserver.store.dialects import PRIVATE_GRAPHS
from kgserver.validation import (
    Severity,
    ValidationReport,
    ValidationResult,
    sorted_report,
)

_W3C_PREFIXES = {"rdf": str(RDF), "rdfs": str(RDFS), "owl": str(OWL), "xsd": str(XSD), "sh": str(SH)}
_W3C_VOCABULARIES = tuple(_W3C_PREFIXES.values())
_SCHEMA_PREDICATES = frozenset({RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range})
_ANNOTATIONS_OF_OWL = frozenset({OWL.deprecated})
_INDIVIDUAL_TYPES = frozenset({OWL.NamedIndividual, OWL.Thing, RDFS.Resource,  # data's own types, not declarations
                               RDF.List, RDF.Seq, RDF.Bag, RDF.Alt, RDF.Statement})
_RECORD_TYPES = ("Submission", "Retraction")


def refusals(addition: Graph, settings: Settings) -> list[ValidationResult]:
    """A Violation for each triple of `addition` that no curator may state; none when it holds only data."""
    rules = _Rules(settings)
    return [result for triple in addition for result in rules.broken(*triple)]


def refusal_report(addition: Graph, settings: Settings) -> ValidationReport | None:
    """The report refusing `addition` for what it may not state, or None when the shapes and HermiT may judge it."""
    results = refusals(addition, settings)
    if not results:
        return None
    return sorted_report(results, _prefixes(addition, settings))


class _Rules:
    """The boundaries for one dataset's IRIs."""

    def __init__(self, settings: Settings) -> None:
        base, self.ldn = settings.base, settings.prefixes["ldn"]
        self.curators = agent_iri(base, "")
        self.server_spaces = (f"{base}id/submission/", self.curators, f"{base}graph/", settings.dataset_iri, PRIVATE_GRAPHS)
        self.record_types = frozenset(URIRef(f"{self.ldn}{name}") for name in _RECORD_TYPES)
        self.vocabularies = (self.ldn, *_W3C_VOCABULARIES)

    def broken(self, subject: Node, predicate: Node, obj: Node) -> Iterator[ValidationResult]:
        """What is wrong with one triple, each as a Violation (usually nothing)."""
        for message in self._messages(subject, predicate, obj):
            yield ValidationResult(
                severity=Severity.VIOLATION,
                focus_node=subject,
                focus_label=None,
                path=predicate if isinstance(predicate, URIRef) else None,
                value=obj,
                messages=(Literal(message),),
                source_shape=None,
            )

    def _messages(self, subject: Node, predicate: Node, obj: Node) -> Iterator[str]:
        if _within(subject, self.server_spaces):
            yield (f"<{subject}> is the server's own: it alone writes what is said about submissions, curators, "
                   "the dataset and its graphs")
        elif _within(subject, self.vocabularies):
            yield (f"<{subject}> is a term of the ontology or of a W3C vocabulary: an addition holds data, and the "
                   "ontology changes through its source file and a rebuild")
        if _within(obj, (self.curators,)):
            yield "an addition may not name a curator: the server records who submitted what"
        if predicate == OWL.sameAs:
            yield ("owl:sameAs would make two things one for the reasoner; link to another vocabulary with "
                   "skos:exactMatch or skos:closeMatch")
        elif predicate in _SCHEMA_PREDICATES or (_within(predicate, (str(OWL),)) and predicate not in _ANNOTATIONS_OF_OWL):
            yield "an addition holds data, not ontology axioms; the ontology changes through its source file and a rebuild"
        if predicate == RDF.type:
            yield from self._type_messages(obj)
        if isinstance(obj, Literal) and obj.ill_typed:
            yield _ill_typed_message(obj)

    def _type_messages(self, cls: Node) -> Iterator[str]:
        if cls in self.record_types:
            yield f"only the server makes an ldn:{str(cls).removeprefix(self.ldn)}, when a curator submits or retracts through it"
        elif _within(cls, _W3C_VOCABULARIES) and cls not in _INDIVIDUAL_TYPES:
            yield (f"the type {_short(cls)} declares ontology, not data: the ontology changes through its source file "
                   "and a rebuild")


def _ill_typed_message(literal: Literal) -> str:
    if literal.datatype == XSD.boolean:  # rdflib keeps no text of an ill-typed boolean, only "false"
        return "a literal typed xsd:boolean holds something other than true, false, 1 or 0"
    return f'"{literal}" is not a value of {_short(literal.datatype)}'


def _within(term: Node, spaces: Iterable[str]) -> bool:
    return isinstance(term, URIRef) and any(str(term).startswith(space) for space in spaces)


def _short(iri: Node | None) -> str:
    """A W3C term as people write it (xsd:integer), other IRIs in full."""
    return compact_iri(str(iri), _W3C_PREFIXES)


def _prefixes(addition: Graph, settings: Settings) -> tuple[tuple[str, str], ...]:
    declared = ((prefix, str(namespace)) for prefix, namespace in addition.namespaces())
    return tuple(dict.fromkeys([*declared, *settings.prefixes.items()]))
