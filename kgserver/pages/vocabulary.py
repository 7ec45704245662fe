"""Documentation generated from the ontology and the shapes: terms, definitions, alignments, constraints."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyoxigraph import BlankNode, Literal, NamedNode

from kgserver.config import Settings
from kgserver.formats import compact_iri
from kgserver.pages.values import (
    ALIGNMENT_PROPERTIES,
    DCT,
    OWL,
    PROPERTY_CHARACTERISTICS,
    RDF_FIRST,
    RDF_NIL,
    RDF_REST,
    RDF_TYPE,
    RDFS,
    SH,
    SKOS,
    Facts,
    Field,
    Link,
    Namer,
    Value,
    iri_term,
    select,
)
from kgserver.store import GraphStore


@dataclass
class Term:
    """One class, property or individual of the ontology as its documentation shows it."""

    iri: str
    anchor: str | None
    label: str
    definition: str | None = None
    comments: list[str] = field(default_factory=list)
    superclasses: list[Link] = field(default_factory=list)
    restrictions: list[tuple[Link, str, Link | str]] = field(default_factory=list)
    alignments: list[tuple[str, Link]] = field(default_factory=list)
    characteristics: list[str] = field(default_factory=list)
    domain: list[Link] = field(default_factory=list)
    range: list[Link] = field(default_factory=list)
    super_properties: list[Link] = field(default_factory=list)
    inverse_of: list[Link] = field(default_factory=list)
    rank: str | None = None


@dataclass(frozen=True)
class VocabularyGroup:
    """The individuals of one class, such as every ldn:Stance."""

    kind: Link
    anchor: str | None
    members: tuple[Term, ...]


@dataclass(frozen=True)
class OntologyDoc:
    """The ontology's header and its terms grouped as the documentation lists them."""

    iri: str
    title: str
    fields: tuple[Field, ...]
    classes: tuple[Term, ...]
    object_properties: tuple[Term, ...]
    datatype_properties: tuple[Term, ...]
    own_annotation_properties: tuple[Term, ...]  # the ontology's own (ldn:textOrigin...), documented as its terms are
    annotation_properties: tuple[Term, ...]  # those of other vocabularies it uses, named only
    vocabularies: tuple[VocabularyGroup, ...]


_ABOUT_TERMS = """
SELECT ?term ?p ?o WHERE {
  GRAPH %s { ?term ?p ?o }
  FILTER (isIRI(?term))
}
"""
_LABELS = "SELECT ?x ?label WHERE { GRAPH %s { ?x rdfs:label ?label } FILTER (isIRI(?x)) }"
_RESTRICTIONS = """
SELECT ?class ?property ?kind ?filler WHERE {
  GRAPH %s { ?class rdfs:subClassOf ?r . ?r owl:onProperty ?property ; ?kind ?filler }
  FILTER (isBlank(?r) && ?kind IN (owl:someValuesFrom, owl:allValuesFrom, owl:hasValue, owl:minCardinality,
                                   owl:maxCardinality, owl:cardinality, owl:qualifiedCardinality))
} ORDER BY ?class ?property
"""


def anchor(settings: Settings, iri: str) -> str | None:
    """The fragment of an ontology or shapes term (`Drug` for ldn:Drug), so hash IRIs land on its entry."""
    for namespace in (settings.prefixes["ldn"], settings.prefixes["shp"]):
        if iri.startswith(namespace) and len(iri) > len(namespace):
            return iri[len(namespace):]
    return None


def ontology_doc(store: GraphStore, settings: Settings) -> OntologyDoc:
    """The ontology graph as documentation: classes, properties and controlled vocabularies."""
    graph = iri_term(settings.ontology_graph)
    labels = {row["x"].value: row["label"].value for row in select(store, settings, _LABELS % graph)}
    statements: dict[str, Facts] = {}
    for row in select(store, settings, _ABOUT_TERMS % graph):
        statements.setdefault(row["term"].value, []).append((row["p"].value, row["o"]))

    def link(iri: str) -> Link:
        return Link(iri, labels.get(iri) or compact_iri(iri, settings.prefixes).strip("<>"))

    ldn = settings.prefixes["ldn"]
    terms = {iri: _term(settings, iri, facts, link) for iri, facts in statements.items()}
    for row in select(store, settings, _RESTRICTIONS % graph):
        if row["class"].value in terms:
            filler = row["filler"]
            shown: Link | str = link(filler.value) if isinstance(filler, NamedNode) else filler.value
            terms[row["class"].value].restrictions.append((link(row["property"].value), _local(row["kind"].value), shown))

    def typed(kind: str, only_ldn: bool = True) -> tuple[Term, ...]:
        chosen = [terms[iri] for iri, facts in statements.items() if (RDF_TYPE, NamedNode(kind)) in facts and (iri.startswith(ldn) or not only_ldn)]
        return tuple(sorted(chosen, key=lambda term: term.label.lower()))

    ontology_iri = settings.base + "ontology"
    header = statements.get(ontology_iri, [])
    return OntologyDoc(
        iri=ontology_iri,
        title=next((o.value for p, o in header if p == f"{DCT}title"), labels.get(ontology_iri, "Ontology")),
        fields=_header_fields(header, link, {f"{DCT}title"}),
        classes=typed(f"{OWL}Class"),
        object_properties=typed(f"{OWL}ObjectProperty"),
        datatype_properties=typed(f"{OWL}DatatypeProperty"),
        own_annotation_properties=typed(f"{OWL}AnnotationProperty"),
        annotation_properties=tuple(term for term in typed(f"{OWL}AnnotationProperty", only_ldn=False)
                                    if not term.iri.startswith(ldn)),
        vocabularies=_vocabularies(settings, statements, terms, link),
    )


def _local(iri: str) -> str:
    """The name after the namespace, such as `someValuesFrom`."""
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _term(settings: Settings, iri: str, facts: Facts, link: Namer) -> Term:
    """A term's documentation from its statements in the ontology graph."""
    ldn = settings.prefixes["ldn"]
    term = Term(iri, anchor(settings, iri), link(iri).label)
    for prop, value in facts:
        if isinstance(value, Literal):
            if prop == f"{SKOS}definition" and term.definition is None:
                term.definition = value.value
            elif prop in (f"{RDFS}comment", f"{SKOS}scopeNote", f"{SKOS}note"):
                term.comments.append(value.value)
            elif prop == f"{ldn}rank":
                term.rank = value.value
            continue
        if not isinstance(value, NamedNode):
            continue
        target = value.value
        if prop == f"{RDFS}subClassOf":
            (term.superclasses if target.startswith(ldn) else term.alignments).append(
                link(target) if target.startswith(ldn) else ("rdfs:subClassOf", link(target))
            )
        elif prop in ALIGNMENT_PROPERTIES:
            term.alignments.append((compact_iri(prop, settings.prefixes).strip("<>"), link(target)))
        elif prop == RDF_TYPE and target in PROPERTY_CHARACTERISTICS:
            term.characteristics.append(_local(target).removesuffix("Property").lower())
        elif prop == f"{RDFS}domain":
            term.domain.append(link(target))
        elif prop == f"{RDFS}range":
            term.range.append(link(target))
        elif prop == f"{RDFS}subPropertyOf":
            term.super_properties.append(link(target))
        elif prop == f"{OWL}inverseOf":
            term.inverse_of.append(link(target))
    return term


def _header_fields(header: Facts, link: Namer, skip: set[str]) -> tuple[Field, ...]:
    """The ontology's own annotations (version, description, licence...) as fields."""
    grouped: dict[str, list[Value]] = {}
    for prop, value in header:
        if prop in skip or prop == RDF_TYPE:
            continue
        if isinstance(value, NamedNode):
            shown = Value(link(value.value).label, value.value, local=True)
        else:
            shown = Value(value.value)
        grouped.setdefault(prop, []).append(shown)
    return tuple(Field(link(prop).label if link(prop).label != prop else _local(prop), tuple(values)) for prop, values in grouped.items())


def _vocabularies(settings: Settings, statements: dict[str, Facts], terms: dict[str, Term], link: Namer) -> tuple[VocabularyGroup, ...]:
    """The named individuals of the ontology, grouped by their class, classes in label order."""
    groups: dict[str, list[Term]] = {}
    for iri, facts in statements.items():
        kinds = [o.value for p, o in facts if p == RDF_TYPE and isinstance(o, NamedNode)]
        if f"{OWL}NamedIndividual" not in kinds:
            continue
        for kind in kinds:
            if kind != f"{OWL}NamedIndividual":
                groups.setdefault(kind, []).append(terms[iri])
    ordered = sorted(groups.items(), key=lambda item: link(item[0]).label.lower())
    return tuple(
        VocabularyGroup(
            link(kind),
            f"vocabulary-{anchor(settings, kind) or _local(kind)}",
            tuple(sorted(members, key=lambda term: (int(term.rank) if term.rank and term.rank.isdigit() else 0, term.label.lower()))),
        )
        for kind, members in ordered
    )


@dataclass(frozen=True)
class Option:
    """One shape a logical constraint combines, as its parameters; a class or datatype alone is named without `sh:class`."""

    parameters: tuple[tuple[str | None, tuple[Value, ...]], ...]  # None: the values say it all (a class, a datatype, a shape)
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Choice:
    """A logical constraint (sh:or, sh:xone, sh:and, sh:not) as a reader says it: "one of: X or Y"."""

    name: str  # sh:or
    lead: str  # one of
    joiner: str  # or
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Constraint:
    """One property shape (or one alternative of sh:or): its path, its parameters, severity and message."""

    path: str
    parameters: tuple[tuple[str, tuple[Value, ...]], ...]
    severity: str | None
    message: str | None
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class SparqlCheck:
    """A SPARQL-based constraint: what it tells the curator and the query that finds the problem."""

    message: str | None
    severity: str | None
    select: str


@dataclass(frozen=True)
class NodeShape:
    """A node shape as the shapes documentation shows it."""

    iri: str
    anchor: str | None
    label: str
    targets: tuple[tuple[str, Value], ...]
    severity: str | None
    message: str | None
    properties: tuple[Constraint, ...]
    alternatives: tuple[Constraint, ...]
    sparql: tuple[SparqlCheck, ...]


@dataclass(frozen=True)
class ShapesDoc:
    """The shapes graph's header and every node shape."""

    iri: str
    title: str
    description: str | None
    shapes: tuple[NodeShape, ...]
    groups: tuple[tuple[str, str, str], ...] = ()  # (anchor, label, IRI) of each sh:PropertyGroup, in sh:order


_GROUPS = """
SELECT ?group (SAMPLE(COALESCE(?l, STR(?group))) AS ?label) (MIN(?o) AS ?order) WHERE {
  GRAPH %s { ?group a sh:PropertyGroup OPTIONAL { ?group rdfs:label ?l } OPTIONAL { ?group sh:order ?o } }
  FILTER (isIRI(?group))
} GROUP BY ?group ORDER BY ?order ?group
"""
_SHAPES = """
SELECT ?shape ?p ?o WHERE { GRAPH %s { ?shape a sh:NodeShape ; ?p ?o } } ORDER BY ?shape
"""
_SHAPE_PARTS = """
SELECT ?shape ?link ?part ?p ?o WHERE {
  GRAPH %s { ?shape a sh:NodeShape ; ?link ?part . ?part ?p ?o }
  FILTER (isBlank(?part) && ?link IN (sh:property, sh:sparql))
}
"""
_SHAPE_ALTERNATIVES = """
SELECT ?shape ?alternative ?p ?o WHERE {
  GRAPH %s { ?shape a sh:NodeShape ; sh:or/rdf:rest*/rdf:first ?alternative . ?alternative ?p ?o }
}
"""
_TARGETS = ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf")
_NOT_PARAMETERS = {f"{SH}path", f"{SH}message", f"{SH}severity", RDF_TYPE}
# The logical constraints, each with how its shapes are read out: "one of: X or Y".
_LOGICAL = {
    f"{SH}or": ("one of", "or"),
    f"{SH}xone": ("exactly one of", "or"),
    f"{SH}and": ("all of", "and"),
    f"{SH}not": ("not", ""),
}
_NAMED_ALONE = {f"{SH}class", f"{SH}datatype", f"{SH}node"}  # in an option, "ldn:Drug" says "sh:class ldn:Drug"


def shapes_doc(store: GraphStore, settings: Settings) -> ShapesDoc:
    """The shapes graph as documentation: each node shape, its targets, constraints and messages."""
    graph = iri_term(settings.shapes_graph)
    labels = {row["x"].value: row["label"].value for row in select(store, settings, _LABELS % iri_term(settings.ontology_graph))}

    def show(term: NamedNode | BlankNode | Literal) -> tuple[Value, ...]:
        if isinstance(term, NamedNode):
            return (Value(compact_iri(term.value, settings.prefixes).strip("<>"), term.value, local=True),)
        if isinstance(term, BlankNode):
            return tuple(value for member in _rdf_list(store, term, settings.shapes_graph) for value in show(member))
        return (Value(term.value),)

    shapes: dict[str, Facts] = {}
    for row in select(store, settings, _SHAPES % graph):
        shapes.setdefault(row["shape"].value, []).append((row["p"].value, row["o"]))
    parts: dict[str, dict[str, tuple[str, Facts]]] = {}
    for row in select(store, settings, _SHAPE_PARTS % graph):
        parts.setdefault(row["shape"].value, {}).setdefault(str(row["part"]), (row["link"].value, []))[1].append((row["p"].value, row["o"]))
    alternatives: dict[str, dict[str, Facts]] = {}
    for row in select(store, settings, _SHAPE_ALTERNATIVES % graph):
        alternatives.setdefault(row["shape"].value, {}).setdefault(str(row["alternative"]), []).append((row["p"].value, row["o"]))

    def parameters(facts: Facts, skipped: set[str]) -> tuple[tuple[str, tuple[Value, ...]], ...]:
        """A shape's parameters by compact name, sorted; the logical ones are `choices`."""
        shown: dict[str, list[Value]] = {}
        for prop, value in facts:
            if prop not in skipped and prop not in _LOGICAL:
                shown.setdefault(compact_iri(prop, settings.prefixes).strip("<>"), []).extend(show(value))
        return tuple((name, tuple(values)) for name, values in sorted(shown.items()))

    def choices(facts: Facts) -> tuple[Choice, ...]:
        """The shape's sh:or, sh:xone, sh:and and sh:not, each with the shapes it combines in their order."""
        found = []
        for prop, value in facts:
            if prop not in _LOGICAL:
                continue
            lead, joiner = _LOGICAL[prop]
            listed = prop != f"{SH}not" and isinstance(value, BlankNode)  # sh:not names one shape, the others a list
            members = list(_rdf_list(store, value, settings.shapes_graph)) if listed else [value]
            found.append(Choice(compact_iri(prop, settings.prefixes).strip("<>"), lead, joiner,
                                tuple(option(member) for member in members)))
        return tuple(found)

    def option(shape: NamedNode | BlankNode | Literal) -> Option:
        """One combined shape: a named shape by its name, an anonymous one by its parameters (its label left out)."""
        if not isinstance(shape, BlankNode):
            return Option(((None, show(shape)),))
        facts = _facts_of(store, shape, settings.shapes_graph)
        named = {compact_iri(prop, settings.prefixes).strip("<>") for prop in _NAMED_ALONE}
        return Option(
            tuple((None if name in named else name, values)
                  for name, values in parameters(facts, _NOT_PARAMETERS | {f"{RDFS}label"})),
            choices(facts),
        )

    def constraint(facts: Facts) -> Constraint:
        lookup = _facts(facts)
        path = lookup.get(f"{SH}path")
        return Constraint(
            path=" / ".join(value.text for value in show(path)) if path is not None else "(this node)",
            parameters=parameters(facts, _NOT_PARAMETERS),
            severity=_local(lookup[f"{SH}severity"].value) if f"{SH}severity" in lookup else None,
            message=lookup[f"{SH}message"].value if f"{SH}message" in lookup else None,
            choices=choices(facts),
        )

    documented = []
    for iri, facts in shapes.items():
        lookup = _facts(facts)
        shape_parts = parts.get(iri, {}).values()
        documented.append(
            NodeShape(
                iri=iri,
                anchor=anchor(settings, iri),
                label=lookup[f"{RDFS}label"].value if f"{RDFS}label" in lookup else compact_iri(iri, settings.prefixes).strip("<>"),
                targets=tuple(
                    (name, Value(labels.get(value.value) or compact_iri(value.value, settings.prefixes).strip("<>"), value.value, local=True))
                    for name in _TARGETS
                    for prop, value in facts
                    if prop == f"{SH}{name}" and isinstance(value, NamedNode)
                ),
                severity=_local(lookup[f"{SH}severity"].value) if f"{SH}severity" in lookup else None,
                message=lookup[f"{SH}message"].value if f"{SH}message" in lookup else None,
                properties=tuple(
                    sorted((constraint(part) for link_, part in shape_parts if link_ == f"{SH}property"), key=lambda c: c.path)
                ),
                alternatives=tuple(constraint(part) for part in alternatives.get(iri, {}).values()),
                sparql=tuple(_sparql_check(part) for link_, part in shape_parts if link_ == f"{SH}sparql"),
            )
        )
    header = _facts(select_pairs(store, settings, settings.base + "shapes", graph))
    groups = tuple(
        (anchor(settings, row["group"].value) or row["group"].value, row["label"].value, row["group"].value)
        for row in select(store, settings, _GROUPS % graph)
    )
    return ShapesDoc(
        groups=groups,
        iri=settings.base + "shapes",
        title=header[f"{DCT}title"].value if f"{DCT}title" in header else "Shapes",
        description=header[f"{DCT}description"].value if f"{DCT}description" in header else None,
        shapes=tuple(sorted(documented, key=lambda shape: shape.label.lower())),
    )


def select_pairs(store: GraphStore, settings: Settings, iri: str, graph: str) -> Facts:
    """The (property, value) pairs of one resource in one graph."""
    return [(row["p"].value, row["o"]) for row in select(store, settings, f"SELECT ?p ?o WHERE {{ GRAPH {graph} {{ {iri_term(iri)} ?p ?o }} }}")]


def _facts(facts: Facts) -> dict[str, NamedNode | BlankNode | Literal]:
    """The first value of each property, for properties that have one."""
    lookup: dict[str, NamedNode | BlankNode | Literal] = {}
    for prop, value in facts:
        lookup.setdefault(prop, value)
    return lookup


def _facts_of(store: GraphStore, node: BlankNode, graph: str) -> Facts:
    """The (property, value) pairs of an anonymous shape, such as one alternative of an sh:or."""
    return [(quad.predicate.value, quad.object) for quad in store.quads_for_pattern(node, None, None, NamedNode(graph))]


def _sparql_check(facts: Facts) -> SparqlCheck:
    """A sh:sparql constraint's message, severity and query."""
    lookup = _facts(facts)
    return SparqlCheck(
        message=lookup[f"{SH}message"].value if f"{SH}message" in lookup else None,
        severity=_local(lookup[f"{SH}severity"].value) if f"{SH}severity" in lookup else None,
        select=_dedent(lookup[f"{SH}select"].value) if f"{SH}select" in lookup else "",
    )


def _dedent(query: str) -> str:
    """A query from a Turtle long string without the indentation of the file around it."""
    return textwrap.dedent(query).strip()


def _rdf_list(store: GraphStore, head: BlankNode | NamedNode, graph: str) -> Iterator[NamedNode | BlankNode | Literal]:
    """The members of an RDF collection in order (sh:in values, sh:path sequences)."""
    seen: set[str] = set()
    node: NamedNode | BlankNode = head
    context = NamedNode(graph)
    while not (isinstance(node, NamedNode) and node.value == RDF_NIL) and str(node) not in seen:
        seen.add(str(node))
        firsts = list(store.quads_for_pattern(node, NamedNode(RDF_FIRST), None, context))
        rests = list(store.quads_for_pattern(node, NamedNode(RDF_REST), None, context))
        if not firsts or not rests:
            return
        yield firsts[0].object
        node = rests[0].object
