"""pySHACL against the shapes: results as data first, then rendered for people or programs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pyshacl
from pyshacl.graph_abstraction import DataGraph
from pyshacl.shapes_graph import ShapesGraph
from rdflib import RDF, RDFS, SH, BNode, Graph, Literal, URIRef
from rdflib.namespace import SKOS, NamespaceManager
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.sparql import Query
from rdflib.term import Node

from kgserver.reasoning import reason

SEVERITIES = ("Violation", "Warning", "Info")

INCONSISTENT_MESSAGE = "The additions make the graph logically inconsistent with the ontology: "


@dataclass(frozen=True)
class ValidationResult:
    """One SHACL result, with terms already written compactly for display."""

    severity: str
    focus_node: str | None
    focus_name: str | None
    focus_label: str | None
    path: str | None
    value: str | None
    message: str
    source_shape: str | None


@dataclass(frozen=True)
class ValidationReport:
    """All results of one validation; the data conforms when none is a Violation."""

    results: tuple[ValidationResult, ...]

    @property
    def conforms(self) -> bool:
        return self.count("Violation") == 0

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

    The report names terms with the prefixes of `prefixes_from` (an addition as parsed), then
    of the data, shapes and ontology; they are bound only when there is a result to show.

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
    if not nodes:  # the prefixes are only for showing results: an addition binding thousands costs seconds
        return ValidationReport(())
    shown = _shown_iris(results_graph, nodes, shapes.graph)
    namespaces = _namespaces(shown, *([prefixes_from] if prefixes_from is not None else []), data, shapes.graph, ontology)
    return ValidationReport(_sorted(_result(results_graph, node, data, shapes.graph, namespaces) for node in nodes))


def inconsistency_result(explanation: str) -> ValidationResult:
    """How an inconsistency is reported: a Violation about the whole graph, not one node."""
    return ValidationResult(
        severity="Violation",
        focus_node=None,
        focus_name=None,
        focus_label=None,
        path=None,
        value=None,
        message=INCONSISTENT_MESSAGE + explanation,
        source_shape=None,
    )


def results_about(report: ValidationReport, nodes: Iterable[Node]) -> list[ValidationResult]:
    """The results whose focus node is one of `nodes`: those a submitter must fix."""
    touched = {_node_key(node) for node in nodes}
    return [result for result in report.results if result.focus_node in touched]


def sorted_report(results: Iterable[ValidationResult]) -> ValidationReport:
    """A report of `results` in the stable order every report uses."""
    return ValidationReport(_sorted(results))


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
    return sorted_report(results)


def render_text(report: ValidationReport) -> str:
    """The report for people: one line per result, grouped by severity, then a summary line."""
    lines = []
    for result in report.results:
        focus = _display_focus(result)
        path = f"  {result.path}" if result.path else ""
        value = f" (value: {result.value})" if result.value is not None else ""
        lines.append(f"{result.severity.upper():<10} {focus}{path}: {result.message}{value}")
    lines.append(_summary(report))
    return "\n".join(lines)


def render_json(report: ValidationReport) -> str:
    """The report for programs, with the same fields as ValidationResult."""
    document = {
        "conforms": report.conforms,
        "violations": report.count("Violation"),
        "warnings": report.count("Warning"),
        "infos": report.count("Info"),
        "results": [asdict(result) for result in report.results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _summary(report: ValidationReport) -> str:
    violations, warnings, infos = (report.count(severity) for severity in SEVERITIES)
    summary = f"{violations} {_plural(violations, 'violation')}, {warnings} {_plural(warnings, 'warning')}"
    return summary + (f", {infos} {_plural(infos, 'info')}" if infos else "")


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _display_focus(result: ValidationResult) -> str:
    if result.focus_name is None:
        return "(whole graph)"
    return f"{result.focus_label} ({result.focus_name})" if result.focus_label else result.focus_name


def _sorted(results: Iterable[ValidationResult]) -> tuple[ValidationResult, ...]:
    """Results in a stable order: by severity, then focus node, path and message."""
    ordered = sorted(
        results,
        key=lambda r: (SEVERITIES.index(r.severity), r.focus_node or "", r.path or "", r.message, r.value or ""),
    )
    return tuple(dict.fromkeys(ordered))


def _result(report: Graph, node: Node, data: Graph, shapes: Graph, namespaces: NamespaceManager) -> ValidationResult:
    focus = report.value(node, SH.focusNode)
    path = report.value(node, SH.resultPath)
    value = report.value(node, SH.value)
    shape = report.value(node, SH.sourceShape)
    messages = sorted(str(message) for message in report.objects(node, SH.resultMessage))
    return ValidationResult(
        severity=_severity(report.value(node, SH.resultSeverity)),
        focus_node=_node_key(focus) if focus is not None else None,
        focus_name=_term(focus, namespaces) if focus is not None else None,
        focus_label=_label(data, focus),
        path=_path(report, path, namespaces) if path is not None else None,
        value=_term(value, namespaces) if value is not None else None,
        message=" / ".join(messages) or _component(report, node),
        source_shape=_shape(shapes, shape, namespaces) if shape is not None else None,
    )


def _severity(term: Node | None) -> str:
    name = str(term).removeprefix(str(SH)) if term is not None else "Violation"
    return name if name in SEVERITIES else "Violation"


def _component(report: Graph, node: Node) -> str:
    component = report.value(node, SH.sourceConstraintComponent)
    return str(component).removeprefix(str(SH)) if component is not None else "constraint not met"


def _node_key(node: Node) -> str:
    """How a focus node is identified in results: its IRI, or _:label for a blank node."""
    return f"_:{node}" if isinstance(node, BNode) else str(node)


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


def _namespaces(shown: set[str], *graphs: Graph) -> NamespaceManager:
    """The graphs' prefixes, first binding first, each only if it can name an IRI the report shows.

    rdflib scans every bound namespace to bind one more, so an addition declaring 5,000
    prefixes cost seconds to bind whole; the few the results use are bound in the same order.
    """
    manager = NamespaceManager(Graph(), bind_namespaces="core")
    for graph in graphs:
        for prefix, namespace in graph.namespaces():
            if any(iri.startswith(namespace) for iri in shown):
                manager.bind(prefix, namespace, override=False, replace=False)
    return manager


def _shown_iris(report: Graph, nodes: Iterable[Node], shapes: Graph) -> set[str]:
    """Every IRI a report's results may write compactly: focus nodes, values and their datatypes,
    paths, and shapes (a blank property shape by its node shape and path, from the shapes graph)."""
    shown: set[str] = set()

    def collect(graph: Graph, node: Node, depth: int = 0) -> None:
        if isinstance(node, URIRef):
            shown.add(str(node))
        elif isinstance(node, Literal) and node.datatype is not None:
            shown.add(str(node.datatype))
        elif isinstance(node, BNode) and depth < 16:
            for _p, obj in graph.predicate_objects(node):
                collect(graph, obj, depth + 1)

    for node in nodes:
        for predicate in (SH.focusNode, SH.value, SH.resultPath, SH.sourceShape):
            for term in report.objects(node, predicate):
                collect(report, term)
                if predicate == SH.sourceShape and isinstance(term, BNode):
                    for parent in shapes.subjects(SH.property, term):
                        collect(shapes, parent)
                    for path in shapes.objects(term, SH.path):
                        collect(shapes, path)
    return shown


def _term(term: Node, namespaces: NamespaceManager) -> str:
    if isinstance(term, URIRef):
        return _compact(term, namespaces)
    if isinstance(term, Literal):
        return term.n3(namespaces)
    return f"_:{term}"


def _compact(iri: URIRef, namespaces: NamespaceManager) -> str:
    try:
        prefix, _namespace, name = namespaces.compute_qname(iri, generate=False)
    except (KeyError, ValueError):
        return f"<{iri}>"
    return f"{prefix}:{name}"


def _path(graph: Graph, path: Node, namespaces: NamespaceManager) -> str:
    """A SHACL property path written in SPARQL property-path syntax."""
    if isinstance(path, URIRef):
        return _compact(path, namespaces)
    for operator, template in (
        (SH.inversePath, "^{}"),
        (SH.zeroOrMorePath, "{}*"),
        (SH.oneOrMorePath, "{}+"),
        (SH.zeroOrOnePath, "{}?"),
    ):
        inner = graph.value(path, operator)
        if inner is not None:
            return template.format(_path(graph, inner, namespaces))
    alternatives = graph.value(path, SH.alternativePath)
    if alternatives is not None:
        return "(" + "|".join(_path(graph, item, namespaces) for item in graph.items(alternatives)) + ")"
    return "/".join(_path(graph, item, namespaces) for item in graph.items(path))


def _shape(shapes: Graph, shape: Node, namespaces: NamespaceManager) -> str:
    """A shape's name; a blank-node property shape is named by its node shape and path."""
    if isinstance(shape, URIRef):
        return _compact(shape, namespaces)
    parent = shapes.value(predicate=SH.property, object=shape)
    path = shapes.value(shape, SH.path)
    described = _path(shapes, path, namespaces) if path is not None else "anonymous shape"
    return f"{_shape(shapes, parent, namespaces)} / {described}" if parent is not None else described
