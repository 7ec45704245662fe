"""Output formats for query results: every name and media type lives here, rendering comes last.

The CLI picks a format by name, the web app by media type; both call this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyoxigraph import (
    BlankNode,
    Literal,
    NamedNode,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    serialize,
)

from kgserver.errors import InputError
from kgserver.store import QueryResult

# Formats for SELECT and ASK, in order of preference (the first is the default).
RESULTS_FORMATS: dict[str, QueryResultsFormat] = {
    "json": QueryResultsFormat.JSON,
    "xml": QueryResultsFormat.XML,
    "csv": QueryResultsFormat.CSV,
    "tsv": QueryResultsFormat.TSV,
}

# Formats for CONSTRUCT and DESCRIBE, in order of preference (the first is the default).
GRAPH_FORMATS: dict[str, RdfFormat] = {
    "turtle": RdfFormat.TURTLE,
    "ntriples": RdfFormat.N_TRIPLES,
    "nquads": RdfFormat.N_QUADS,
    "trig": RdfFormat.TRIG,
    "rdfxml": RdfFormat.RDF_XML,
    "jsonld": RdfFormat.JSON_LD,
    "n3": RdfFormat.N3,
}

# Media types a client may ask for that name a format under another type.
_MEDIA_TYPE_ALIASES: dict[str, QueryResultsFormat] = {"application/json": QueryResultsFormat.JSON}

_MAX_CELL = 80


def _media_type(fmt: QueryResultsFormat | RdfFormat) -> str:
    """The bare media type, without parameters, as content negotiation compares them."""
    return fmt.media_type.split(";")[0].strip()


@dataclass(frozen=True)
class Rendered:
    """Serialised results and the media type to send them as."""

    body: bytes
    media_type: str


def is_graph(result: QueryResult) -> bool:
    """Whether the result is a graph (CONSTRUCT, DESCRIBE) rather than a table or a boolean."""
    return isinstance(result, QueryTriples)


def render_named(result: QueryResult, name: str, prefixes: Mapping[str, str]) -> Rendered:
    """Serialise in the format named on the command line, e.g. 'csv' or 'turtle'."""
    formats = GRAPH_FORMATS if is_graph(result) else RESULTS_FORMATS
    if name not in formats:
        kind = "CONSTRUCT/DESCRIBE" if is_graph(result) else "SELECT/ASK"
        raise InputError(f"format '{name}' does not apply to {kind} results; use one of: {', '.join(formats)}")
    return _render(result, formats[name], prefixes)


def media_types(result: QueryResult) -> list[str]:
    """The media types this result can be sent as, the default first."""
    if is_graph(result):
        return [_media_type(fmt) for fmt in GRAPH_FORMATS.values()]
    return [_media_type(fmt) for fmt in RESULTS_FORMATS.values()] + list(_MEDIA_TYPE_ALIASES)


def render_media_type(result: QueryResult, media_type: str, prefixes: Mapping[str, str]) -> Rendered:
    """Serialise as one of `media_types(result)`, as chosen by content negotiation."""
    if media_type in _MEDIA_TYPE_ALIASES:
        return _render(result, _MEDIA_TYPE_ALIASES[media_type], prefixes)
    formats = GRAPH_FORMATS if is_graph(result) else RESULTS_FORMATS
    for fmt in formats.values():
        if _media_type(fmt) == media_type:
            return _render(result, fmt, prefixes)
    raise InputError(f"cannot send these results as {media_type}")


def _render(result: QueryResult, fmt: QueryResultsFormat | RdfFormat, prefixes: Mapping[str, str]) -> Rendered:
    if isinstance(result, QueryTriples) and isinstance(fmt, RdfFormat):
        body = serialize(result, format=fmt, prefixes=dict(prefixes))
    elif not isinstance(result, QueryTriples) and isinstance(fmt, QueryResultsFormat):
        body = result.serialize(format=fmt)
    else:
        raise InputError(f"{fmt.name} does not fit this kind of result")
    return Rendered(body or b"", _media_type(fmt))


def render_text(result: QueryResult, prefixes: Mapping[str, str]) -> str:
    """Results for a terminal: an aligned table, true/false, or Turtle for graphs."""
    if isinstance(result, QueryBoolean):
        return "true" if result else "false"
    if isinstance(result, QuerySolutions):
        return _table(result, prefixes)
    return _render(result, RdfFormat.TURTLE, prefixes).body.decode("utf-8").rstrip("\n")


def _table(solutions: QuerySolutions, prefixes: Mapping[str, str]) -> str:
    header = [variable.value for variable in solutions.variables]
    rows = [
        [_cell(solution[variable], prefixes) for variable in solutions.variables]
        for solution in solutions
    ]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(header)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, ["-" * width for width in widths], *rows]
    ]
    lines.append(f"({len(rows)} {'row' if len(rows) == 1 else 'rows'})")
    return "\n".join(lines)


def _cell(term: object, prefixes: Mapping[str, str]) -> str:
    if term is None:
        return ""
    if isinstance(term, NamedNode):
        text = _compact(term.value, prefixes)
    elif isinstance(term, BlankNode):
        text = f"_:{term.value}"
    elif isinstance(term, Literal):
        text = term.value
    else:
        text = str(term)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _compact(iri: str, prefixes: Mapping[str, str]) -> str:
    """prefix:name by the longest matching namespace, or <iri> when none matches."""
    for prefix, namespace in sorted(prefixes.items(), key=lambda item: -len(item[1])):
        if iri.startswith(namespace) and iri != namespace:
            return f"{prefix}:{iri[len(namespace):]}"
    return f"<{iri}>"
