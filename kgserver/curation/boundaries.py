"""What no addition may state, whatever the shapes say: the server's own records, the ontology, unknown terms, ill-typed values.

A curator adds evidence, that is instance data. Five kinds of triple are refused before
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
- terms the ontology does not declare: a predicate that is not one of its properties, or a
  type that is not one of its classes, in ldn: or in a vocabulary it declares terms of
  (schema:, prov:, skos:, dct:, qudt:, cito:...). A typo (ldn:studiedToTreet) would otherwise
  be stored where no shape, query or reasoning looks; the message offers the declared term
  nearest in spelling. The ontology aligns those vocabularies by declaring each term the graph
  uses, never by import, so what it declares is the whole of what may be used. The same
  vocabularies under the other scheme (http: for https:) and any term minted under the base
  count too. A term of a W3C vocabulary (rdf:, rdfs:, owl:, xsd:, sh:) need not be declared
  (rdfs:seeAlso is data), but must be one the vocabulary defines (not rdfs:lable); a type
  that is a blank node or a literal is refused;
- descriptions of things no request here reaches: a subject IRI outside the base (the dataset
  mints its own IRI and links the outside one), or under it but not {base}id/ followed by
  clean path segments;
- an IRI ending with '.', which Turtle writes only escaped and rdflib cannot read back;
- literals whose text is not a value of their datatype ("abc"^^xsd:integer), which the
  reasoner cannot read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

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
# The terms each W3C vocabulary defines (rdflib's closed namespaces), against which a typo (rdfs:lable) is found.
_W3C_TERMS = frozenset(URIRef(f"{space}{name}") for space in (RDF, RDFS, OWL, XSD, SH)
                       for name in (*space.__annotations__, *getattr(space, "_extras", ())))
_CONTAINER_MEMBER = re.compile(re.escape(str(RDF)) + r"_[1-9][0-9]*")  # rdf:_1, rdf:_2...
# A new thing's IRI: under {base}id/, segments of unreserved characters, none of them . or .. (so it dereferences).
_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*|[A-Za-z0-9._~-]*[A-Za-z0-9_~-]")
_SCHEMA_PREDICATES = frozenset({RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range})
_ANNOTATIONS_OF_OWL = frozenset({OWL.deprecated})
_INDIVIDUAL_TYPES = frozenset({OWL.NamedIndividual, OWL.Thing, RDFS.Resource,  # data's own types, not declarations
                               RDF.List, RDF.Seq, RDF.Bag, RDF.Alt, RDF.Statement})
_RECORD_TYPES = ("Submission", "Retraction")
_CLASS_KINDS = (OWL.Class, RDFS.Class)
_NEW_TERMS = "a term the ontology lacks is added through its source file and a rebuild"
_PROPERTY_KINDS = (OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty, RDF.Property)


@dataclass(frozen=True)
class DeclaredTerms:
    """The classes and properties an ontology declares, and the vocabularies in which nothing else may be used.

    Read once per ontology content (Checker keeps it beside the reasoner's copy), then asked for
    every triple of every addition.
    """

    classes: frozenset[URIRef]
    properties: frozenset[URIRef]
    closed: frozenset[str]  # namespaces the ontology declares terms in, W3C's left out

    @classmethod
    def of(cls, ontology: Graph) -> DeclaredTerms:
        """The terms `ontology` declares; with an owl:imports, only its own namespace (ldn:) is closed.

        An imported ontology's terms are not in the graph, so a vocabulary it shares could not be
        known whole; this ontology imports nothing and declares each external term it uses.
        """
        classes, properties = (
            frozenset(term for kind in kinds for term in ontology.subjects(RDF.type, kind) if isinstance(term, URIRef))
            for kinds in (_CLASS_KINDS, _PROPERTY_KINDS)
        )
        imports = (None, OWL.imports, None) in ontology
        closed = frozenset() if imports else {_namespace(term) for term in classes | properties} - set(_W3C_VOCABULARIES)
        return cls(classes, properties, frozenset(closed))


def refusals(addition: Graph, settings: Settings, declared: DeclaredTerms) -> list[ValidationResult]:
    """A Violation for each triple of `addition` that no curator may state; none when it holds only data.

    `declared` is what the ontology in force declares (DeclaredTerms.of the stored or source ontology).
    """
    rules = _Rules(settings, declared, dict(_prefixes(addition, settings)))
    return [result for triple in addition for result in rules.broken(*triple)]


def refusal_report(addition: Graph, settings: Settings, declared: DeclaredTerms) -> ValidationReport | None:
    """The report refusing `addition` for what it may not state, or None when the shapes and HermiT may judge it."""
    results = refusals(addition, settings, declared)
    if not results:
        return None
    return sorted_report(results, _prefixes(addition, settings))


class _Rules:
    """The boundaries for one dataset's IRIs and ontology; `names` are the prefixes its messages write terms with."""

    def __init__(self, settings: Settings, declared: DeclaredTerms, names: dict[str, str]) -> None:
        base, self.ldn = settings.base, settings.prefixes["ldn"]
        self.base = base
        self.curators = agent_iri(base, "")
        self.server_spaces = (f"{base}id/submission/", self.curators, f"{base}graph/", settings.dataset_iri, PRIVATE_GRAPHS)
        self.record_types = frozenset(URIRef(f"{self.ldn}{name}") for name in _RECORD_TYPES)
        self.vocabularies = (self.ldn, self.ldn.rstrip("#/"), *_W3C_VOCABULARIES)  # the ontology's own IRI too
        self.declared = declared
        closed = declared.closed | {self.ldn}
        self.closed = frozenset(closed | {_twin(space) for space in closed})  # http: for https: is a slip too
        self.things = f"{base}id/"
        self.names = names

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
        elif isinstance(subject, URIRef) and not str(subject).startswith(self.base):
            yield (f"<{subject}> is outside this dataset ({self.base}), so its description could not be dereferenced "
                   f"here: describe it as {self.things}... and link the outside IRI with skos:exactMatch")
        elif isinstance(subject, URIRef) and not self._dereferenceable(str(subject)):
            yield (f"<{subject}> could not be dereferenced here: a new thing is named {self.things} followed by "
                   "path segments of letters, digits and - . _ ~ (none of them . or ..)")
        for term in dict.fromkeys((subject, obj)):
            if isinstance(term, URIRef) and str(term).endswith("."):
                yield (f"<{term}> ends with '.', which Turtle can write only escaped (rdflib cannot read it back) and "
                       "which is lost when the IRI ends a sentence: name it without the final '.'")
        if _within(obj, (self.curators,)):
            yield "an addition may not name a curator: the server records who submitted what"
        if predicate == OWL.sameAs:
            yield ("owl:sameAs would make two things one for the reasoner; link to another vocabulary with "
                   "skos:exactMatch or skos:closeMatch")
        elif predicate in _SCHEMA_PREDICATES or (_within(predicate, (str(OWL),)) and predicate not in _ANNOTATIONS_OF_OWL):
            yield "an addition holds data, not ontology axioms; the ontology changes through its source file and a rebuild"
        if predicate == RDF.type:
            yield from self._type_messages(subject, obj)
        elif self._undeclared(predicate, self.declared.properties):
            yield self._undeclared_message(subject, "is stated with", predicate, "a property", self.declared.properties)
        if isinstance(obj, Literal) and obj.ill_typed:
            yield _ill_typed_message(obj)

    def _type_messages(self, subject: Node, cls: Node) -> Iterator[str]:
        if not isinstance(cls, URIRef):  # a blank node or a literal: no class a shape or query could name
            yield f"{self._name(subject)} is typed with {'a literal' if isinstance(cls, Literal) else 'a blank node'}: " \
                  "a type is a class of the ontology, named by its IRI"
        elif cls in self.record_types:
            yield f"only the server makes an ldn:{str(cls).removeprefix(self.ldn)}, when a curator submits or retracts through it"
        elif _within(cls, _W3C_VOCABULARIES) and cls not in _INDIVIDUAL_TYPES:
            yield (f"the type {_short(cls)} declares ontology, not data: the ontology changes through its source file "
                   "and a rebuild")
        elif self._undeclared(cls, self.declared.classes):
            yield self._undeclared_message(subject, "is typed", cls, "a class", self.declared.classes)

    def _undeclared(self, term: Node, declared: frozenset[URIRef]) -> bool:
        """Whether `term` is of a closed vocabulary (ldn:, anything under the base, one the ontology declares terms
        of, or a W3C one) but not declared there."""
        if not isinstance(term, URIRef) or term in declared:
            return False
        if _within(term, _W3C_VOCABULARIES):
            return term not in _W3C_TERMS and not _CONTAINER_MEMBER.fullmatch(term)
        return _namespace(term) in self.closed or _within(term, (self.base, _twin(self.base)))

    def _dereferenceable(self, iri: str) -> bool:
        """Whether a subject under the base names a thing whose page this server serves: {base}id/ and clean segments."""
        return iri.startswith(self.things) and all(_SEGMENT.fullmatch(part) for part in iri.removeprefix(self.things).split("/"))

    def _undeclared_message(self, subject: Node, verb: str, term: URIRef, kind: str, declared: frozenset[URIRef]) -> str:
        """E.g. kg:x is stated with ldn:studiedToTreet, which the ontology does not declare as a property; did you mean ...?"""
        if _within(term, _W3C_VOCABULARIES):  # the vocabulary's own typo: no ontology change would make it right
            said = f"{self._name(subject)} {verb} {self._name(term)}, which its vocabulary does not define"
            meant = _nearest(term, _W3C_TERMS)
            return f"{said}; did you mean {self._name(meant)}?" if meant is not None else said
        said = f"{self._name(subject)} {verb} {self._name(term)}, which the ontology does not declare as {kind}"
        meant = _nearest(term, declared)
        if meant is not None:
            return f"{said}; did you mean {self._name(meant)}? ({_NEW_TERMS})"
        return f"{said}: {_NEW_TERMS}"

    def _name(self, node: Node) -> str:
        return compact_iri(str(node), self.names) if isinstance(node, URIRef) else "a blank node"


def _ill_typed_message(literal: Literal) -> str:
    if literal.datatype == XSD.boolean:  # rdflib keeps no text of an ill-typed boolean, only "false"
        return "a literal typed xsd:boolean holds something other than true, false, 1 or 0"
    return f'"{literal}" is not a value of {_short(literal.datatype)}'


def _nearest(term: URIRef, declared: Collection[URIRef]) -> URIRef | None:
    """The declared term of `term`'s vocabulary closest in spelling (case aside), if one is close.

    A term of a vocabulary nothing is declared in (http: for https:, a property minted under
    the base) is compared with every declared term by its local name.
    """
    namespace = _namespace(term)
    mine = [known for known in sorted(declared) if _namespace(known) == namespace]
    by_name = {str(known).removeprefix(_namespace(known)).lower(): known for known in reversed(mine or sorted(declared))}
    close = difflib.get_close_matches(str(term).removeprefix(namespace).lower(), by_name, n=1)
    return by_name[close[0]] if close else None


def _twin(space: str) -> str:
    """The same vocabulary under the other scheme: http://schema.org/ for https://schema.org/ and back."""
    if space.startswith("https://"):
        return "http://" + space.removeprefix("https://")
    return "https://" + space.removeprefix("http://") if space.startswith("http://") else space


def _namespace(iri: str) -> str:
    """The vocabulary of an IRI: up to its last '#' or '/' (ldn:Drug's is https://w3id.org/ldn-kg/ontology#)."""
    return iri[: max(iri.rfind("#"), iri.rfind("/")) + 1]


def _within(term: Node, spaces: Iterable[str]) -> bool:
    return isinstance(term, URIRef) and any(str(term).startswith(space) for space in spaces)


def _short(iri: Node | None) -> str:
    """A W3C term as people write it (xsd:integer), other IRIs in full."""
    return compact_iri(str(iri), _W3C_PREFIXES)


def _prefixes(addition: Graph, settings: Settings) -> tuple[tuple[str, str], ...]:
    declared = ((prefix, str(namespace)) for prefix, namespace in addition.namespaces())
    return tuple(dict.fromkeys([*declared, *settings.prefixes.items()]))
