"""Validation reports for the curation routes: results as data with full IRIs, then JSON, SHACL RDF or a page.

kgserver.validation writes terms compactly for people (`claim:x`, `"2015"^^xsd:integer`),
with the prefixes of the addition, the shapes and rdflib's defaults; here they are read
back into RDF terms with the same prefixes, so programs get full IRIs and the SHACL
report is a real `sh:ValidationReport` graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rdflib import RDF, SH, BNode, Graph, Literal, URIRef
from rdflib.namespace import NamespaceManager
from rdflib.term import Node
from rdflib.util import from_n3

from kgserver.validation import SEVERITIES, ValidationReport, ValidationResult



@dataclass(frozen=True)
class ReportEntry:
    """One result with its terms as RDF: what the JSON, the SHACL graph and the page are made from."""

    result: ValidationResult
    severity: URIRef
    focus: Node | None
    path: URIRef | None
    inverse_of: URIRef | None  # set instead of `path` for an inverse path ^p
    value: Node | None
    shape: URIRef | None
    property_path: URIRef | None  # set when the source shape is a blank property shape of `shape`

    @property
    def focus_iri(self) -> str | None:
        """The focus node when it is an IRI, so a page can link to it."""
        return str(self.focus) if isinstance(self.focus, URIRef) else None

    @property
    def value_iri(self) -> str | None:
        """The value when it is an IRI, so a page can show it compactly."""
        return str(self.value) if isinstance(self.value, URIRef) else None


@dataclass(frozen=True)
class Report:
    """A validation report ready to render: the report and its entries."""

    report: ValidationReport
    entries: tuple[ReportEntry, ...]

    @property
    def conforms(self) -> bool:
        return self.report.conforms

    def counts(self) -> dict[str, int]:
        """Results per severity, under the names programs read: violations, warnings, infos."""
        return {f"{severity.lower()}s": self.report.count(severity) for severity in SEVERITIES}

    def warnings(self) -> list[dict[str, object]]:
        """The non-blocking results, for the answer to an accepted submission."""
        return [_json_entry(entry) for entry in self.entries if entry.result.severity != "Violation"]


def resolve(report: ValidationReport, addition: Graph, prefixes: dict[str, str]) -> Report:
    """Read each result's compact terms back into RDF terms with the prefixes they were written with."""
    namespaces = _namespaces(addition, prefixes, _prefixes_used(report))
    return Report(report, tuple(_entry(result, namespaces) for result in report.results))


def to_json(report: Report) -> str:
    """The report for programs: conforms, counts, and every result with full IRIs."""
    document = {
        "conforms": report.conforms,
        "counts": report.counts(),
        "results": [_json_entry(entry) for entry in report.entries],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def to_graph(report: Report, node: Node | None = None, result_node: Callable[[int], Node] | None = None) -> Graph:
    """The report as SHACL RDF; `node` and `result_node` name the report and its results (blank by default)."""
    graph = Graph()
    graph.bind("sh", SH)
    subject = node if node is not None else BNode()
    graph.add((subject, RDF.type, SH.ValidationReport))
    graph.add((subject, SH.conforms, Literal(report.conforms)))
    for number, entry in enumerate(report.entries, start=1):
        result = result_node(number) if result_node else BNode()
        graph.add((subject, SH.result, result))
        _add_result(graph, result, entry)
    return graph


def _add_result(graph: Graph, node: Node, entry: ReportEntry) -> None:
    """One sh:ValidationResult; a blank property shape is restated under its node shape so it can be found."""
    graph.add((node, RDF.type, SH.ValidationResult))
    graph.add((node, SH.resultSeverity, entry.severity))
    graph.add((node, SH.resultMessage, Literal(entry.result.message)))
    for predicate, term in ((SH.focusNode, entry.focus), (SH.value, entry.value)):
        if term is not None:
            graph.add((node, predicate, term))
    if entry.path is not None:
        graph.add((node, SH.resultPath, entry.path))
    elif entry.inverse_of is not None:
        inverse = BNode()
        graph.add((node, SH.resultPath, inverse))
        graph.add((inverse, SH.inversePath, entry.inverse_of))
    if entry.shape is not None and entry.property_path is not None:
        property_shape = BNode()
        graph.add((entry.shape, SH.property, property_shape))
        graph.add((property_shape, SH.path, entry.property_path))
        graph.add((node, SH.sourceShape, property_shape))
    elif entry.shape is not None:
        graph.add((node, SH.sourceShape, entry.shape))


def _json_entry(entry: ReportEntry) -> dict[str, object]:
    """One result for programs, IRIs in full so no prefix table is needed to read it."""
    result = entry.result
    return {
        "severity": result.severity,
        "focusNode": _json_term(entry.focus, result.focus_node),
        "focusLabel": result.focus_label,
        "path": f"^{entry.inverse_of}" if entry.inverse_of else _json_term(entry.path, result.path),
        "value": _json_term(entry.value, result.value),
        "message": result.message,
        "sourceShape": _json_shape(entry),
    }


def _json_term(term: Node | None, written: str | None) -> str | None:
    """An IRI in full, a literal's lexical form; what validation wrote when it could not be read back."""
    if isinstance(term, URIRef | Literal):
        return str(term)
    return written


def _json_shape(entry: ReportEntry) -> str | None:
    """The shape's IRI, or 'node shape / path' for a blank property shape, which has no IRI."""
    if entry.shape is None:
        return entry.result.source_shape
    if entry.property_path is not None:
        return f"{entry.shape} / {entry.property_path}"
    return str(entry.shape)


def _namespaces(addition: Graph, prefixes: dict[str, str], used: set[str]) -> NamespaceManager:
    """The prefixes validation may have written with: core, the addition's, rdflib's defaults, the project's.

    Only the prefixes the results use are bound, in the same order (with the names a clash
    would number, `ldn` for `ldn1`): rdflib scans every bound namespace to bind one more, and
    an addition may declare thousands.
    """
    manager = NamespaceManager(Graph(bind_namespaces="core"), bind_namespaces="core")
    sources: Iterable[tuple[str, object]] = [
        *addition.namespaces(),
        *Graph().namespaces(),
        *prefixes.items(),
    ]
    for prefix, namespace in sources:
        if prefix in used:
            manager.bind(prefix, URIRef(str(namespace)), override=False, replace=False)
    return manager


def _prefixes_used(report: ValidationReport) -> set[str]:
    """The prefix names in the results' compact terms (a few words of literals besides: harmless)."""
    used = {
        name
        for result in report.results
        for text in (result.value, result.path, result.source_shape)
        if text
        for name in re.findall(r"([A-Za-z_][\w.-]*|):", text)
    }
    return used | {name.rstrip("0123456789") for name in used}


def _read(text: str | None, namespaces: NamespaceManager) -> Node | None:
    """A term as validation wrote it (`<iri>`, `p:name`, a literal, `_:b`), or None if it cannot be read."""
    if not text:
        return None
    try:
        term = from_n3(text, nsm=namespaces)
    except (KeyError, ValueError, TypeError):  # an unknown prefix or a form from_n3 does not read: text only
        return None
    if isinstance(term, BNode):
        return term if text.startswith("_:") else None
    return term if isinstance(term, URIRef | Literal) else None


def _entry(result: ValidationResult, namespaces: NamespaceManager) -> ReportEntry:
    """A result with its terms read back; the focus node is already an IRI or _:label."""
    focus = None
    if result.focus_node:
        focus = BNode(result.focus_node[2:]) if result.focus_node.startswith("_:") else URIRef(result.focus_node)
    path, inverse = _path(result.path, namespaces)
    shape, property_path = _shape(result.source_shape, namespaces)
    return ReportEntry(
        result=result,
        severity=SH[result.severity],
        focus=focus,
        path=path,
        inverse_of=inverse,
        value=_read(result.value, namespaces),
        shape=shape,
        property_path=property_path,
    )


def _path(text: str | None, namespaces: NamespaceManager) -> tuple[URIRef | None, URIRef | None]:
    """A predicate path as an IRI, or an inverse path's predicate; other paths stay text only."""
    if not text:
        return None, None
    if text.startswith("^"):
        inner = _read(text[1:], namespaces)
        return None, inner if isinstance(inner, URIRef) else None
    term = _read(text, namespaces)
    return (term if isinstance(term, URIRef) else None), None


def _shape(text: str | None, namespaces: NamespaceManager) -> tuple[URIRef | None, URIRef | None]:
    """A named shape, or a node shape and the path of its blank property shape ('shp:X / ldn:p')."""
    if not text:
        return None, None
    named, _, path = text.partition(" / ")
    shape = _read(named, namespaces)
    if not isinstance(shape, URIRef):
        return None, None
    property_path = _read(path, namespaces) if path else None
    return shape, property_path if isinstance(property_path, URIRef) else None
