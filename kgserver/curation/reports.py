"""Validation reports for the curation routes: the results' terms as JSON with full IRIs, SHACL RDF or a page.

kgserver.validation keeps each result as pySHACL's terms, so nothing is read back here: the
SHACL report restates a path as its structure (a sequence is an RDF list), JSON writes IRIs in
full, and only the page names terms compactly, with the project's prefixes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rdflib import RDF, SH, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from kgserver.formats import compact_iri
from kgserver.validation import (
    SEVERITIES,
    Severity,
    ShaclPath,
    SourceShape,
    ValidationReport,
    ValidationResult,
    add_path,
    path_text,
    shape_text,
    term_text,
)


def counts(report: ValidationReport) -> dict[str, int]:
    """Results per severity, under the names programs read: violations, warnings, infos."""
    return {f"{severity.lower()}s": report.count(severity) for severity in SEVERITIES}


def warnings(report: ValidationReport) -> list[dict[str, object]]:
    """The non-blocking results, for the answer to an accepted submission."""
    return [_json_result(result) for result in report.results if result.severity != Severity.VIOLATION]


def to_json(report: ValidationReport) -> str:
    """The report for programs: conforms, counts, and every result with full IRIs."""
    document = {
        "conforms": report.conforms,
        "counts": counts(report),
        "results": [_json_result(result) for result in report.results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def to_graph(report: ValidationReport, node: Node | None = None, result_node: Callable[[int], Node] | None = None) -> Graph:
    """The report as SHACL RDF; `node` and `result_node` name the report and its results (blank by default)."""
    graph = Graph()
    graph.bind("sh", SH)
    subject = node if node is not None else BNode()
    graph.add((subject, RDF.type, SH.ValidationReport))
    graph.add((subject, SH.conforms, Literal(report.conforms)))
    shapes: dict[SourceShape, Node | None] = {}  # each blank property shape restated once
    for number, result in enumerate(report.results, start=1):
        result_subject = result_node(number) if result_node else BNode()
        graph.add((subject, SH.result, result_subject))
        _add_result(graph, result_subject, result, shapes)
    return graph


@dataclass(frozen=True)
class PageRow:
    """One result as the page shows it: names for people, and the focus node's IRI to link to."""

    severity: str
    focus_iri: str | None
    focus_label: str | None
    focus: str | None  # None for a result about the whole graph
    path: str | None
    value: str | None
    message: str
    shape: str | None


@dataclass(frozen=True)
class Page:
    """What the report's page shows: the verdict, the counts and one row per result."""

    conforms: bool
    counts: dict[str, int]
    rows: tuple[PageRow, ...]


def page(report: ValidationReport, prefixes: Mapping[str, str]) -> Page:
    """The report for people, its terms named with `prefixes` as every page names them."""

    def name(iri: URIRef) -> str:
        return compact_iri(str(iri), prefixes)

    def alone(iri: URIRef) -> str:  # an IRI on its own, shown as pages show one
        return name(iri).strip("<>")

    def path(shacl_path: ShaclPath) -> str:
        return alone(shacl_path) if isinstance(shacl_path, URIRef) else path_text(shacl_path, name)

    def term(node: Node | None) -> str | None:
        if node is None:
            return None
        return alone(node) if isinstance(node, URIRef) else term_text(node, name)

    rows = tuple(
        PageRow(
            severity=str(result.severity),
            focus_iri=str(result.focus_node) if isinstance(result.focus_node, URIRef) else None,
            focus_label=result.focus_label,
            focus=term(result.focus_node),
            path=path(result.path) if result.path is not None else None,
            value=term(result.value),
            message=result.message,
            shape=shape_text(result.source_shape, alone, path) if result.source_shape is not None else None,
        )
        for result in report.results
    )
    return Page(report.conforms, counts(report), rows)


def _add_result(graph: Graph, node: Node, result: ValidationResult, shapes: dict[SourceShape, Node | None]) -> None:
    """One sh:ValidationResult from the result's terms; its path and blank source shape are restated as structure."""
    graph.add((node, RDF.type, SH.ValidationResult))
    graph.add((node, SH.resultSeverity, result.severity.iri))
    for message in result.messages or (Literal(result.message),):
        graph.add((node, SH.resultMessage, message))
    for predicate, term in (
        (SH.focusNode, result.focus_node),
        (SH.value, result.value),
        (SH.sourceConstraintComponent, result.component),
    ):
        if term is not None:
            graph.add((node, predicate, term))
    if result.path is not None:
        graph.add((node, SH.resultPath, add_path(graph, result.path)))
    if result.source_shape is not None:
        if result.source_shape not in shapes:
            shapes[result.source_shape] = _add_shape(graph, result.source_shape)
        shape = shapes[result.source_shape]
        if shape is not None:
            graph.add((node, SH.sourceShape, shape))


def _add_shape(graph: Graph, source: SourceShape) -> Node | None:
    """The source shape's node: its IRI, or a blank property shape restated under its named shape so it can be found."""
    shape: Node | None = source.shape
    for path in source.paths:
        property_shape = BNode()
        if shape is not None:
            graph.add((shape, SH.property, property_shape))
        graph.add((property_shape, SH.path, add_path(graph, path)))
        shape = property_shape
    return shape


def _json_result(result: ValidationResult) -> dict[str, object]:
    """One result for programs, IRIs in full so no prefix table is needed to read it."""
    return {
        "severity": str(result.severity),
        "focusNode": _json_term(result.focus_node),
        "focusLabel": result.focus_label,
        "path": _json_path(result.path) if result.path is not None else None,
        "value": _json_term(result.value),
        "message": result.message,
        "sourceShape": shape_text(result.source_shape, str, _json_path) if result.source_shape is not None else None,
    }


def _json_term(term: Node | None) -> str | None:
    """An IRI in full, a literal's lexical form, a blank node as _:label."""
    if term is None:
        return None
    return f"_:{term}" if isinstance(term, BNode) else str(term)


def _json_path(path: ShaclPath) -> str:
    """A predicate's IRI; any other path in SPARQL syntax, its IRIs in full: `^<iri>`, `<iri>/<iri>`."""
    return str(path) if isinstance(path, URIRef) else path_text(path, lambda iri: f"<{iri}>")
