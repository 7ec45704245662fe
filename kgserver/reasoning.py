"""owlready2 + HermiT: is the graph consistent with the ontology, and what does it entail."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import owlready2
from rdflib import OWL, RDF, RDFS, XSD, Graph, Literal, URIRef
from rdflib.namespace import Namespace
from rdflib.term import Node

from kgserver.errors import KgError

JAVA_MISSING = (
    "Java is needed for the HermiT reasoner and was not found on PATH; "
    "install a Java runtime (e.g. apt-get install default-jre-headless)"
)

_RDF_NS = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")

# The OWL 2 datatype map (https://www.w3.org/TR/owl2-syntax/#Datatype_Maps): HermiT accepts these only.
OWL2_DATATYPES: frozenset[URIRef] = frozenset(
    {
        _RDF_NS.PlainLiteral, _RDF_NS.XMLLiteral, _RDF_NS.langString, RDFS.Literal,
        OWL.real, OWL.rational,
        XSD.decimal, XSD.integer, XSD.nonNegativeInteger, XSD.nonPositiveInteger,
        XSD.positiveInteger, XSD.negativeInteger, XSD.long, XSD.int, XSD.short, XSD.byte,
        XSD.unsignedLong, XSD.unsignedInt, XSD.unsignedShort, XSD.unsignedByte,
        XSD.double, XSD.float,
        XSD.string, XSD.normalizedString, XSD.token, XSD.language, XSD.Name, XSD.NCName, XSD.NMTOKEN,
        XSD.boolean, XSD.hexBinary, XSD.base64Binary, XSD.anyURI,
        XSD.dateTime, XSD.dateTimeStamp,
    }
)

# Vocabularies whose terms are machinery, not knowledge: kept out of the inferred graph.
_BUILTIN_NAMESPACES = (str(RDF), str(RDFS), str(OWL), str(XSD))

_MAX_CAUSES = 3


@dataclass(frozen=True)
class ReasoningResult:
    """What HermiT concluded; `inferred` holds only entailed triples that were not asserted."""

    consistent: bool
    explanation: str
    inferred: Graph
    seconds: float


def require_java() -> str:
    """The java executable, or a KgError telling the user how to install one."""
    java = shutil.which("java")
    if java is None:
        raise KgError(JAVA_MISSING)
    return java


def reason(ontology: Graph, data: Graph, additions: Graph | None = None) -> ReasoningResult:
    """Run HermiT over ontology + data (+ additions) and materialise what it entails.

    HermiT accepts only the datatypes of the OWL 2 datatype map and stops with an
    UnsupportedDatatypeException on others such as xsd:date or xsd:gYear. Before reasoning,
    a literal of such a datatype is given as its text, a plain string (so the property's
    domain, range and functionality still count: "2020"^^xsd:gYear on a property whose
    range is xsd:integer is a clash), and rdfs:range axioms naming such a datatype are
    dropped; the values themselves are checked by the SHACL shapes.
    owl:imports is dropped too, so nothing is fetched.

    The inferred graph holds, for every named individual, its named classes and its
    object-property values (through inverses, sub-properties, transitivity and symmetry),
    plus rdfs:subClassOf between named classes, minus what was asserted. Terms of the
    RDF, RDFS, OWL and XSD vocabularies (owl:Thing and the like) are left out.
    """
    java = require_java()
    started = time.perf_counter()
    merged = _merge(ontology, data, additions)
    world = owlready2.World()
    try:
        _load(world, _reasoner_input(merged))
        owlready2.JAVA_EXE = java
        try:
            owlready2.sync_reasoner_hermit(world, infer_property_values=True, debug=0)
        except owlready2.OwlReadyInconsistentOntologyError:
            return ReasoningResult(False, _explain_inconsistency(merged), Graph(), time.perf_counter() - started)
        except owlready2.OwlReadyJavaError as error:
            raise KgError(f"HermiT failed: {_java_error_line(str(error))}") from None
        inferred = _entailments(world, merged)
    finally:
        world.close()
    return ReasoningResult(True, "", inferred, time.perf_counter() - started)


def reasoner_input(graph: Graph) -> Graph:
    """What HermiT can take of `graph`, as `reason` gives it (for other ways of running HermiT)."""
    return _reasoner_input(graph)


def explain_inconsistency(graph: Graph) -> str:
    """A readable guess at why `graph` is inconsistent, as `reason` reports it."""
    return _explain_inconsistency(graph)


def _merge(*graphs: Graph | None) -> Graph:
    merged = Graph()
    for graph in graphs:
        if graph is not None:
            merged += graph
    return merged


def _reasoner_input(merged: Graph) -> Graph:
    """The merged graph as HermiT can take it: non-OWL-2 literals as plain strings, no imports."""
    kept = Graph()
    for subject, predicate, obj in merged:
        if predicate == OWL.imports:
            continue
        if isinstance(obj, Literal) and obj.datatype is not None and obj.datatype not in OWL2_DATATYPES:
            obj = Literal(str(obj))  # its text as a plain string: the property's domain and range still apply
        if predicate == RDFS.range and _is_foreign_datatype(obj):
            continue
        kept.add((subject, predicate, obj))
    return kept


def _is_foreign_datatype(term: object) -> bool:
    return isinstance(term, URIRef) and str(term).startswith(str(XSD)) and term not in OWL2_DATATYPES


def _load(world: owlready2.World, graph: Graph) -> None:
    handle, name = tempfile.mkstemp(suffix=".nt", prefix="kgserver-reasoner-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(graph.serialize(format="nt", encoding="utf-8"))
        world.get_ontology(Path(name).as_uri()).load(format="ntriples")
    finally:
        os.unlink(name)


def _entailments(world: owlready2.World, asserted: Graph) -> Graph:
    """Everything HermiT entails about the input's named terms, minus what was asserted.

    owlready2 writes only a few inferred facts back into the world, so the closure is read
    through its INDIRECT_ accessors, which follow the class and property hierarchy.
    """
    properties = _uniquely_named_object_properties(world)
    inferred = Graph()
    for iri in sorted(_named_terms(asserted)):
        entity = world[iri]
        if isinstance(entity, owlready2.ThingClass):
            for ancestor in entity.ancestors(include_self=False):
                _add_if_named(inferred, iri, RDFS.subClassOf, ancestor)
        elif isinstance(entity, owlready2.Thing):
            for cls in entity.INDIRECT_is_a:
                _add_if_named(inferred, iri, RDF.type, cls)
            for python_name, prop in properties.items():
                for value in _as_list(getattr(entity, f"INDIRECT_{python_name}")):
                    _add_if_named(inferred, iri, URIRef(prop.iri), value)
    return inferred - asserted


def _uniquely_named_object_properties(world: owlready2.World) -> dict[str, owlready2.ObjectPropertyClass]:
    """Object properties under collision-free Python names, so INDIRECT_<name> finds each one."""
    properties = {}
    for index, prop in enumerate(sorted(world.object_properties(), key=lambda p: p.iri)):
        if prop.iri.startswith(_BUILTIN_NAMESPACES):
            continue
        prop.python_name = f"kgserver_property_{index}"
        properties[prop.python_name] = prop
    return properties


def _as_list(values: object) -> list[object]:
    """owlready2 gives a functional property's value alone (or None), others' as a list."""
    if values is None:
        return []
    return list(values) if isinstance(values, list) else [values]


def _named_terms(graph: Graph) -> set[str]:
    terms = set(graph.subjects()) | set(graph.objects())
    return {str(term) for term in terms if isinstance(term, URIRef) and not str(term).startswith(_BUILTIN_NAMESPACES)}


def _add_if_named(graph: Graph, subject: str, predicate: URIRef, value: object) -> None:
    """Add a triple whose object is a named entity outside the RDF/RDFS/OWL/XSD vocabularies."""
    iri = getattr(value, "iri", None)
    if isinstance(iri, str) and not iri.startswith(_BUILTIN_NAMESPACES):
        graph.add((URIRef(subject), predicate, URIRef(iri)))


def _explain_inconsistency(graph: Graph) -> str:
    """HermiT says only that the graph is inconsistent; name the usual causes when present."""
    causes = (_disjoint_clashes(graph) + _functional_clashes(graph) + _range_clashes(graph))[:_MAX_CAUSES]
    if causes:
        return "HermiT found the graph inconsistent: " + "; ".join(causes)
    return (
        "HermiT found the graph inconsistent (neither an individual in two disjoint classes, "
        "a functional property with two values nor a value outside its property's datatype explains it)"
    )


# The XSD datatypes each datatype a range may name admits (itself, and those derived from it).
_INTEGERS = frozenset(XSD[name] for name in (
    "integer", "nonNegativeInteger", "positiveInteger", "nonPositiveInteger", "negativeInteger",
    "long", "int", "short", "byte", "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte"))
_STRINGS = frozenset(XSD[name] for name in ("string", "normalizedString", "token", "language", "Name", "NCName", "NMTOKEN"))
_ADMITS = {XSD.decimal: _INTEGERS | {XSD.decimal}, XSD.integer: _INTEGERS, XSD.string: _STRINGS}


def _xsd_name(datatype: URIRef) -> str:
    return f"xsd:{datatype.removeprefix(str(XSD))}" if datatype.startswith(str(XSD)) else f"<{datatype}>"


def _range_clashes(graph: Graph) -> list[str]:
    """Literals whose datatype their property's rdfs:range (an XSD datatype) does not admit."""
    clashes = []
    for prop, datatype in sorted(graph.subject_objects(RDFS.range), key=str):
        admitted = _ADMITS.get(datatype, frozenset({datatype})) if str(datatype).startswith(str(XSD)) else None
        if admitted is None:
            continue
        for subject, value in sorted(graph.subject_objects(prop), key=str):
            if isinstance(value, Literal) and not value.language and (value.datatype or XSD.string) not in admitted:
                given = value.datatype or XSD.string
                clashes.append(f"{subject} has {value.n3()} for {prop}, whose range {_xsd_name(datatype)} "
                               f"holds no {_xsd_name(given)}")
    return clashes


def _disjoint_clashes(graph: Graph) -> list[str]:
    """Individuals whose asserted, domain- or range-implied classes include two disjoint ones."""
    disjoint = {frozenset(pair) for pair in graph.subject_objects(OWL.disjointWith)}
    for axiom in graph.subjects(RDF.type, OWL.AllDisjointClasses):
        members = graph.value(axiom, OWL.members)
        if members is not None:
            disjoint |= {frozenset(pair) for pair in combinations(graph.items(members), 2)}
    if not disjoint:
        return []
    types: dict[Node, set[Node]] = defaultdict(set)
    for subject, predicate, obj in graph:
        if predicate == RDF.type:
            types[subject].add(obj)
            continue
        types[subject].update(graph.objects(predicate, RDFS.domain))
        if not isinstance(obj, Literal):
            types[obj].update(graph.objects(predicate, RDFS.range))
    ancestors = _superclass_closure(graph)
    clashes = []
    for individual in sorted(str(node) for node in types if isinstance(node, URIRef)):
        classes = set().union(*(ancestors(cls) for cls in types[URIRef(individual)]))
        for pair in sorted(disjoint, key=lambda pair: sorted(map(str, pair))):
            if pair <= classes:
                first, second = sorted(map(str, pair))
                clashes.append(f"{individual} is both a {first} and a {second}, which are disjoint")
    return clashes


def _superclass_closure(graph: Graph) -> Callable[[Node], frozenset[Node]]:
    """A memoised lookup of a class and all its rdfs:subClassOf ancestors."""
    cache: dict[Node, frozenset[Node]] = {}

    def ancestors(cls: Node) -> frozenset[Node]:
        if cls not in cache:
            seen, todo = {cls}, [cls]
            while todo:
                for parent in graph.objects(todo.pop(), RDFS.subClassOf):
                    if parent not in seen:
                        seen.add(parent)
                        todo.append(parent)
            cache[cls] = frozenset(seen)
        return cache[cls]

    return ancestors


def _functional_clashes(graph: Graph) -> list[str]:
    """Subjects with two different literal values for a functional property."""
    clashes = []
    for prop in sorted(graph.subjects(RDF.type, OWL.FunctionalProperty), key=str):
        for subject in sorted(set(graph.subjects(prop, None)), key=str):
            values = {value for value in graph.objects(subject, prop) if isinstance(value, Literal)}
            if len(values) > 1:
                listed = ", ".join(sorted(value.n3() for value in values))
                clashes.append(f"{subject} has {len(values)} values for the functional property {prop}: {listed}")
    return clashes


def _java_error_line(message: str) -> str:
    """The informative part of a Java error: the exception and its message, not the stack trace."""
    head = []
    for line in message.splitlines():
        if line.strip().startswith("at "):
            break
        head.append(line)
    text = " ".join(" ".join(head).split()).removeprefix("Java error message is:").strip()
    return re.sub(r'^Exception in thread "[^"]*" ', "", text)[:400]
