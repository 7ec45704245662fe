"""pySHACL against the shapes: results as data first, then rendered for people or programs.

A result keeps pySHACL's terms (the focus node, the path as its structure, the value, the
shape, the severity and constraint component); prefixes name them for people only when a
report is rendered (`render_text`, `render_json` here, kgserver.curation.reports for the web).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pyshacl
from pyshacl.graph_abstraction import DataGraph
from pyshacl.shapes_graph import ShapesGraph
from rdflib import RDF, RDFS, SH, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SKOS, NamespaceManager
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.sparql import Query
from rdflib.term import Node

from kgserver.reasoning import reason


class Severity(StrEnum):
    """How much a result matters, by its SHACL name; only a Violation refuses the data."""

    VIOLATION = "Violation"
    WARNING = "Warning"
    INFO = "Info"

    @property
    def iri(self) -> URIRef:
        """The SHACL term: sh:Violation, sh:Warning or sh:Info."""
        return SH[self.value]

    @classmethod
    def of(cls, term: Node | None) -> Severity:
        """The severity a report gives; one SHACL does not define counts as a Violation."""
        name = str(term).removeprefix(str(SH)) if term is not None else ""
        return cls(name) if name in cls._value2member_map_ else cls.VIOLATION


SEVERITIES = tuple(Severity)

INCONSISTENT_MESSAGE = "The additions make the graph logically inconsistent with the ontology: "

_REPEATS = {SH.zeroOrMorePath: "*", SH.oneOrMorePath: "+", SH.zeroOrOnePath: "?"}


@dataclass(frozen=True)
class PathExpression:
    """A SHACL property path other than one predicate, kept as its structure.

    `operator` is the SHACL property that builds it (sh:inversePath, sh:alternativePath,
    sh:zeroOrMorePath, sh:oneOrMorePath, sh:zeroOrOnePath), or rdf:List for a sequence such
    as `( ldn:hasReading ldn:assignsType )`; `parts` are the paths it combines, in order.
    """

    operator: URIRef
    parts: tuple[ShaclPath, ...]


ShaclPath = URIRef | PathExpression


@dataclass(frozen=True)
class SourceShape:
    """The shape a result comes from: a named shape, or a blank property shape known by where it sits.

    A blank node of the shapes graph means nothing outside it, so a blank property shape is
    kept as the nearest named shape above it (`shape`, None if there is none) and the paths
    of the property shapes down to it (`paths`, outermost first).
    """

    shape: URIRef | None
    paths: tuple[ShaclPath, ...] = ()


@dataclass(frozen=True)
class ValidationResult:
    """One SHACL result as the terms of pySHACL's report graph; nothing is named for people yet.

    `focus_label` is the focus node's label in the data validated, so a report can say which
    thing is meant without that data at hand; `messages` are the shape's sh:message values.
    """

    severity: Severity
    focus_node: Node | None
    focus_label: str | None
    path: ShaclPath | None
    value: Node | None
    messages: tuple[Literal, ...]
    source_shape: SourceShape | None
    component: URIRef | None = None

    @property
    def message(self) -> str:
        """What is wrong, for people: the shape's messages, else the constraint component's name."""
        if self.messages:
            return " / ".join(str(message) for message in self.messages)
        if self.component is not None:
            return str(self.component).removeprefix(str(SH))
        return "constraint not met"


@dataclass(frozen=True)
class ValidationReport:
    """All results of one validation; the data conforms when none is a Violation.

    `prefixes` are those the validated graphs declare (an addition's first), in the order
    they are preferred when the results are named for people, which happens only in rendering.
    """

    results: tuple[ValidationResult, ...]
    prefixes: tuple[tuple[str, str], ...] = ()

    @property
    def conforms(self) -> bool:
        return self.count(Severity.VIOLATION) == 0

    def count(self, severity: str) -> int:
        return sum(1 for result in self.results if result.severity == severity)


def validate(data: Graph, shapes: Graph, ontology: Graph) -> ValidationReport:
    """Validate `data` against `shapes`, with the ontology's class hierarchy but no inference.

    RDFS inference would let rdfs:range type a wrong value into the expected class (a drug
    given as a condition would become a condition) and so hide sh:class violations; class
    membership through rdfs:subClassOf is followed by SHACL itself.

    SPARQL-based constraints and SHACL-AF features are enabled. The shapes are parsed for
    this one validation (`prepare_shapes` would also warm them up on a sample); as in every
    validation, each constraint's query is parsed once and the data and ontology stay untouched.
    """
    shapes_copy = Graph()  # pySHACL adds triples to the shapes graph it is given
    shapes_copy += shapes
    return validate_prepared(data, PreparedShapes(shapes, ShapesGraph(shapes_copy)), ontology)


@dataclass(frozen=True)
class PreparedShapes:
    """Shapes parsed by pySHACL once, to validate many small graphs without parsing them again.

    `queries` keeps the SPARQL constraints parsed by rdflib, by their text, as they are met.
    """

    graph: Graph
    parsed: ShapesGraph
    queries: dict[str, Query] = field(default_factory=dict)


class _QueryParsingOnce(Graph):
    """A graph whose SPARQL queries are parsed once per text.

    pySHACL sends a SPARQL constraint's query text again for every focus node, binding
    $this separately; parsing it costs ~20 ms in rdflib, far more than answering it on a
    small graph.
    """

    def __init__(self, queries: dict[str, Query]) -> None:
        super().__init__()
        self._queries = queries

    def query(self, query_object: str | Query, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Answer `query_object`, parsing it only if this text was never parsed before."""
        if isinstance(query_object, str):
            parsed = self._queries.get(query_object)
            if parsed is None:
                parsed = self._queries[query_object] = prepareQuery(query_object)
            query_object = parsed
        return super().query(query_object, *args, **kwargs)


def prepare_shapes(shapes: Graph) -> PreparedShapes:
    """Parse `shapes` into pySHACL's shape objects now, so that each later validation skips it.

    pySHACL adds triples to the shapes graph it is given, so it gets a copy.
    """
    shapes_copy = Graph()
    shapes_copy += shapes
    parsed = ShapesGraph(shapes_copy)
    _ = parsed.shapes  # the harvest is lazy; do it here, once
    prepared = PreparedShapes(shapes, parsed)
    validate_prepared(_one_of_each_target(shapes), prepared, Graph())  # parses every SPARQL constraint now
    return prepared


def _one_of_each_target(shapes: Graph) -> Graph:
    """A made-up graph in which every shape has a focus node, so that validating it runs every constraint.

    A literal under a property of no declared origin gives the shapes with SPARQL targets over
    literals (shapes/ldn-shapes.ttl, whose words a value is) a focus node too.
    """
    sample = Graph()
    node = URIRef("urn:kgserver:warm-up:node")
    other = URIRef("urn:kgserver:warm-up:other")
    sample.add((node, URIRef("urn:kgserver:warm-up:remark"), Literal("warm-up")))
    for index, cls in enumerate(sorted(set(shapes.objects(None, SH.targetClass)))):
        sample.add((URIRef(f"urn:kgserver:warm-up:{index}"), RDF.type, cls))
    for prop in set(shapes.objects(None, SH.targetSubjectsOf)) | set(shapes.objects(None, SH.targetObjectsOf)):
        if isinstance(prop, URIRef):
            sample.add((node, prop, other))
    return sample


def validate_prepared(
    data: Graph, shapes: PreparedShapes, ontology: Graph, prefixes_from: Graph | None = None
) -> ValidationReport:
    """Validate `data` against shapes parsed before; `validate` is this with shapes parsed for one use.

    The report keeps the prefixes of `prefixes_from` (an addition as parsed), then of the data,
    shapes and ontology, to name its terms when it is rendered; only when there is a result to show.

    Prepared once, shapes pay off for small data graphs, such as an addition with its
    neighbourhood, where parsing the shapes would otherwise cost more than validating. pySHACL's shape objects are not
    made for concurrent use: callers sharing one PreparedShapes validate one at a time.
    """
    working = _QueryParsingOnce(shapes.queries)
    working += data  # pySHACL mixes the ontology into this copy in place
    validator = pyshacl.Validator(
        DataGraph.from_rdflib(working),
        shacl_graph=shapes.parsed.graph,
        ont_graph=ontology,
        options={"inference": "none", "advanced": True, "allow_warnings": True, "inplace": True},
    )
    validator.shacl_graph = shapes.parsed
    _conforms, results_graph, _text = validator.run()
    nodes = list(results_graph.subjects(RDF.type, SH.ValidationResult))
    if not nodes:  # the prefixes are only for showing results: an addition may declare thousands
        return ValidationReport(())
    graphs = [*([prefixes_from] if prefixes_from is not None else []), data, shapes.graph, ontology]
    prefixes = tuple(dict.fromkeys((prefix, str(namespace)) for graph in graphs for prefix, namespace in graph.namespaces()))
    return ValidationReport(_sorted(_result(results_graph, node, data, shapes.graph) for node in nodes), prefixes)


def inconsistency_result(explanation: str) -> ValidationResult:
    """How an inconsistency is reported: a Violation about the whole graph, not one node."""
    return ValidationResult(
        severity=Severity.VIOLATION,
        focus_node=None,
        focus_label=None,
        path=None,
        value=None,
        messages=(Literal(INCONSISTENT_MESSAGE + explanation),),
        source_shape=None,
    )


def results_about(report: ValidationReport, nodes: Iterable[Node]) -> list[ValidationResult]:
    """The results whose focus node is one of `nodes`: those a submitter must fix."""
    touched = set(nodes)
    return [result for result in report.results if result.focus_node in touched]


def sorted_report(results: Iterable[ValidationResult], prefixes: tuple[tuple[str, str], ...] = ()) -> ValidationReport:
    """A report of `results` in the stable order every report uses, naming them with `prefixes` when rendered."""
    return ValidationReport(_sorted(results), prefixes)


def validate_additions(
    additions: Graph, existing: Graph, shapes: Graph | PreparedShapes, ontology: Graph, with_reasoner: bool = True
) -> ValidationReport:
    """Validate additions in the context of the existing graph.

    The data validated is existing + additions, but only results whose focus node occurs
    (as subject or object) in the additions are reported: the existing graph is expected to
    conform already, so other results are not the submitter's to fix. `shapes` may be prepared
    once (`prepare_shapes`) for many such validations. With `with_reasoner`,
    HermiT also checks ontology + existing + additions, and an inconsistency is reported
    as a Violation without a focus node.
    """
    data = existing + additions
    report = validate_prepared(data, shapes, ontology) if isinstance(shapes, PreparedShapes) else validate(data, shapes, ontology)
    results = results_about(report, _nodes(additions))
    if with_reasoner:
        reasoning = reason(ontology, existing, additions)
        if not reasoning.consistent:
            results.append(inconsistency_result(reasoning.explanation))
    return sorted_report(results, report.prefixes)


def render_text(report: ValidationReport) -> str:
    """The report for people: one line per result, grouped by severity, then a summary line."""
    name = _namer(report)
    lines = []
    for result in report.results:
        focus = _display_focus(result, name)
        path = f"  {path_text(result.path, name)}" if result.path is not None else ""
        value = f" (value: {term_text(result.value, name)})" if result.value is not None else ""
        lines.append(f"{result.severity.upper():<10} {focus}{path}: {result.message}{value}")
    lines.append(_summary(report))
    return "\n".join(lines)


def render_json(report: ValidationReport) -> str:
    """The report for programs: each result's focus node in full (`focus_node`), its terms named as render_text does."""
    name = _namer(report)
    document = {
        "conforms": report.conforms,
        "violations": report.count(Severity.VIOLATION),
        "warnings": report.count(Severity.WARNING),
        "infos": report.count(Severity.INFO),
        "results": [
            {
                "severity": str(result.severity),
                "focus_node": node_key(result.focus_node) if result.focus_node is not None else None,
                "focus_name": term_text(result.focus_node, name) if result.focus_node is not None else None,
                "focus_label": result.focus_label,
                "path": path_text(result.path, name) if result.path is not None else None,
                "value": term_text(result.value, name) if result.value is not None else None,
                "message": result.message,
                "source_shape": shape_text(result.source_shape, name) if result.source_shape is not None else None,
            }
            for result in report.results
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def node_key(node: Node) -> str:
    """How a node is identified in text without prefixes: its IRI (or a literal's form), or _:label for a blank node."""
    return f"_:{node}" if isinstance(node, BNode) else str(node)


def term_text(term: Node, name: Callable[[URIRef], str]) -> str:
    """A term as Turtle writes it, each IRI (a literal's datatype too) written by `name`, a blank node as _:label."""
    if isinstance(term, URIRef):
        return name(term)
    if isinstance(term, Literal):
        quoted = Literal(str(term)).n3()  # the lexical form, quoted and escaped
        if term.language:
            return f"{quoted}@{term.language}"
        return f"{quoted}^^{name(term.datatype)}" if term.datatype is not None else quoted
    return f"_:{term}"


def path_text(path: ShaclPath, name: Callable[[URIRef], str]) -> str:
    """A SHACL path in SPARQL property-path syntax (`^p`, `p/q`, `(p|q)`, `p*`), each IRI written by `name`."""
    if isinstance(path, URIRef):
        return name(path)
    parts = [path_text(part, name) for part in path.parts]
    if path.operator == SH.inversePath:
        return f"^{parts[0]}"
    if path.operator in _REPEATS:
        return parts[0] + _REPEATS[path.operator]
    if path.operator == SH.alternativePath:
        return "(" + "|".join(parts) + ")"
    return "/".join(parts)


def shape_text(
    shape: SourceShape, name: Callable[[URIRef], str], write_path: Callable[[ShaclPath], str] | None = None
) -> str:
    """A shape's name (`shp:X`), or a blank property shape's as its named shape and path (`shp:X / ldn:p`).

    The paths are written by `write_path`, by default `path_text` with `name`.
    """
    write = write_path or (lambda path: path_text(path, name))
    parts = ([name(shape.shape)] if shape.shape is not None else []) + [write(path) for path in shape.paths]
    return " / ".join(parts) or "anonymous shape"


def read_path(graph: Graph, node: Node) -> ShaclPath:
    """The SHACL path at `node` of `graph` (a report's sh:resultPath, a shape's sh:path) as a structure."""
    if isinstance(node, URIRef):
        return node
    for operator in (SH.inversePath, *_REPEATS):
        inner = graph.value(node, operator)
        if inner is not None:
            return PathExpression(operator, (read_path(graph, inner),))
    alternatives = graph.value(node, SH.alternativePath)
    if alternatives is not None:
        return PathExpression(SH.alternativePath, tuple(read_path(graph, item) for item in graph.items(alternatives)))
    return PathExpression(RDF.List, tuple(read_path(graph, item) for item in graph.items(node)))


def add_path(graph: Graph, path: ShaclPath) -> Node:
    """Write `path` into `graph` as SHACL writes paths; returns the node to give as sh:path or sh:resultPath."""
    if isinstance(path, URIRef):
        return path
    parts = [add_path(graph, part) for part in path.parts]
    if path.operator == RDF.List:
        return _add_list(graph, parts)
    node = BNode()
    graph.add((node, path.operator, _add_list(graph, parts) if path.operator == SH.alternativePath else parts[0]))
    return node


def _add_list(graph: Graph, items: list[Node]) -> Node:
    """`items` as an RDF list in `graph` (rdflib's Collection writes it); its head, rdf:nil when empty."""
    if not items:
        return RDF.nil
    head = BNode()
    Collection(graph, head, items)
    return head


def _summary(report: ValidationReport) -> str:
    violations, warnings, infos = (report.count(severity) for severity in SEVERITIES)
    summary = f"{violations} {_plural(violations, 'violation')}, {warnings} {_plural(warnings, 'warning')}"
    return summary + (f", {infos} {_plural(infos, 'info')}" if infos else "")


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _display_focus(result: ValidationResult, name: Callable[[URIRef], str]) -> str:
    if result.focus_node is None:
        return "(whole graph)"
    focus = term_text(result.focus_node, name)
    return f"{result.focus_label} ({focus})" if result.focus_label else focus


def _sorted(results: Iterable[ValidationResult]) -> tuple[ValidationResult, ...]:
    """Results in a stable order: by severity, then focus node, path (IRIs in full), message and value."""
    ordered = sorted(
        results,
        key=lambda r: (
            SEVERITIES.index(r.severity),
            node_key(r.focus_node) if r.focus_node is not None else "",
            path_text(r.path, str) if r.path is not None else "",
            r.message,
            r.value.n3() if r.value is not None else "",
        ),
    )
    return tuple(dict.fromkeys(ordered))


def _result(report: Graph, node: Node, data: Graph, shapes: Graph) -> ValidationResult:
    focus = report.value(node, SH.focusNode)
    path = report.value(node, SH.resultPath)
    shape = report.value(node, SH.sourceShape)
    component = report.value(node, SH.sourceConstraintComponent)
    messages = sorted(report.objects(node, SH.resultMessage), key=str)
    return ValidationResult(
        severity=Severity.of(report.value(node, SH.resultSeverity)),
        focus_node=focus,
        focus_label=_label(data, focus),
        path=read_path(report, path) if path is not None else None,
        value=report.value(node, SH.value),
        messages=tuple(message for message in messages if isinstance(message, Literal)),
        source_shape=_source_shape(shapes, shape) if shape is not None else None,
        component=component if isinstance(component, URIRef) else None,
    )


def _source_shape(shapes: Graph, shape: Node) -> SourceShape:
    """A shape as named outside the shapes graph: its IRI, or the named shape above a blank one and the paths down."""
    paths: list[ShaclPath] = []
    seen: set[Node] = set()
    while isinstance(shape, BNode) and shape not in seen:
        seen.add(shape)
        path = shapes.value(shape, SH.path)
        if path is not None:
            paths.insert(0, read_path(shapes, path))
        parent = shapes.value(predicate=SH.property, object=shape)
        if parent is None:
            return SourceShape(None, tuple(paths))
        shape = parent
    return SourceShape(shape if isinstance(shape, URIRef) else None, tuple(paths))


def _nodes(graph: Graph) -> set[Node]:
    return set(graph.subjects()) | {obj for obj in graph.objects() if not isinstance(obj, Literal)}


def _label(data: Graph, node: Node | None) -> str | None:
    if node is None:
        return None
    for predicate in (RDFS.label, SKOS.prefLabel):
        label = data.value(node, predicate)
        if label is not None:
            return str(label)
    return None


def _namer(report: ValidationReport) -> Callable[[URIRef], str]:
    """How render_text and render_json name an IRI: prefix:name with the report's prefixes, or <iri>."""
    namespaces = _namespaces(set(_shown_iris(report.results)), report.prefixes)
    return lambda iri: _compact(iri, namespaces)


def _namespaces(shown: set[str], prefixes: Iterable[tuple[str, str]]) -> NamespaceManager:
    """The prefixes, first binding first, each only if it can name an IRI the report shows.

    rdflib scans every bound namespace to bind one more, so an addition declaring 5,000
    prefixes cost seconds to bind whole; the few the results use are bound in the same order.
    """
    manager = NamespaceManager(Graph(), bind_namespaces="core")
    for prefix, namespace in prefixes:
        if any(iri.startswith(namespace) for iri in shown):
            manager.bind(prefix, namespace, override=False, replace=False)
    return manager


def _shown_iris(results: Iterable[ValidationResult]) -> Iterator[str]:
    """Every IRI rendering may write compactly: focus nodes, values and their datatypes, paths and shapes."""
    for result in results:
        for term in (result.focus_node, result.value):
            if isinstance(term, URIRef):
                yield str(term)
            elif isinstance(term, Literal) and term.datatype is not None:
                yield str(term.datatype)
        paths = [result.path] if result.path is not None else []
        if result.source_shape is not None:
            if result.source_shape.shape is not None:
                yield str(result.source_shape.shape)
            paths += result.source_shape.paths
        for path in paths:
            yield from _path_iris(path)


def _path_iris(path: ShaclPath) -> Iterator[str]:
    if isinstance(path, URIRef):
        yield str(path)
    else:
        for part in path.parts:
            yield from _path_iris(part)


def _compact(iri: URIRef, namespaces: NamespaceManager) -> str:
    try:
        prefix, _namespace, name = namespaces.compute_qname(iri, generate=False)
    except (KeyError, ValueError):
        return f"<{iri}>"
    return f"{prefix}:{name}"
