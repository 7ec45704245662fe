"""The writers: query results and triples serialised, for the terminal and for the web, rendering comes last.

Which forms exist, their names and media types, is kgserver/representations.py's table; this
module writes them: the CLI's table and its `--format`, and the streaming writers the query
processes use.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from json.encoder import encode_basestring
from typing import BinaryIO
from xml.sax.saxutils import escape as xml_escape

from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    Literal,
    NamedNode,
    Quad,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    QueryTriples,
    RdfFormat,
    Triple,
    serialize,
)

from kgserver import representations
from kgserver.errors import InputError, NotAcceptableError
from kgserver.store import QueryResult

_MAX_CELL = 80


def _media_type(fmt: QueryResultsFormat | RdfFormat) -> str:
    """The bare media type, without parameters, as content negotiation compares them."""
    return fmt.media_type.split(";")[0].strip()


def is_graph(result: QueryResult) -> bool:
    """Whether the result is a graph (CONSTRUCT, DESCRIBE) rather than a table or a boolean."""
    return isinstance(result, QueryTriples)


def write_named(result: QueryResult, name: str, prefixes: Mapping[str, str], output: BinaryIO) -> None:
    """Serialise in the format named on the command line, e.g. 'csv' or 'turtle', to `output` as the rows come.

    Nothing is held whole: a large answer streams, and a reader that stops (`| head`) stops the query.
    """
    fitting = [form for form in representations.offered("query-command") if form.is_graph == is_graph(result)]
    chosen = next((form for form in fitting if form.name == name), None)
    if chosen is None or chosen.engine is None:
        kind = "CONSTRUCT/DESCRIBE" if is_graph(result) else "SELECT/ASK"
        raise InputError(f"format '{name}' does not apply to {kind} results; use one of: "
                         + ", ".join(form.name for form in fitting))
    _write(result, chosen.engine, prefixes, output)


def _write(result: QueryResult, fmt: QueryResultsFormat | RdfFormat, prefixes: Mapping[str, str], output: BinaryIO) -> None:
    """pyoxigraph's serialisation of a result into `output`, as it is read."""
    if isinstance(result, QueryTriples) and isinstance(fmt, RdfFormat):
        serialize(result, output, fmt, prefixes=dict(prefixes))
    elif not isinstance(result, QueryTriples) and isinstance(fmt, QueryResultsFormat):
        result.serialize(output, format=fmt)
    else:
        raise InputError(f"{fmt.name} does not fit this kind of result")


def render_text(result: QueryResult, prefixes: Mapping[str, str]) -> str:
    """Results for a terminal: an aligned table, true/false, or Turtle for graphs."""
    if isinstance(result, QueryBoolean):
        return "true" if result else "false"
    if isinstance(result, QuerySolutions):
        return _table(result, prefixes)
    turtle = io.BytesIO()
    _write(result, RdfFormat.TURTLE, prefixes, turtle)
    return turtle.getvalue().decode("utf-8").rstrip("\n")


TABLE_ROWS = 10_000  # a terminal table is for reading; --format csv (or tsv, json...) streams every row


def _table(solutions: QuerySolutions, prefixes: Mapping[str, str]) -> str:
    """An aligned table of at most TABLE_ROWS rows (its widths need every row it shows, held in memory)."""
    header = [variable.value for variable in solutions.variables]
    rows = [
        [_cell(solution[variable], prefixes) for variable in solutions.variables]
        for solution in islice(solutions, TABLE_ROWS + 1)
    ]
    more = len(rows) > TABLE_ROWS
    del rows[TABLE_ROWS:]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(header)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, ["-" * width for width in widths], *rows]
    ]
    if more:
        lines.append(f"(the first {TABLE_ROWS} rows; --format csv, tsv or json gives them all)")
    else:
        lines.append(f"({len(rows)} {'row' if len(rows) == 1 else 'rows'})")
    return "\n".join(lines)


def _cell(term: object, prefixes: Mapping[str, str]) -> str:
    if term is None:
        return ""
    if isinstance(term, NamedNode):
        text = compact_iri(term.value, prefixes)
    elif isinstance(term, BlankNode):
        text = f"_:{term.value}"
    elif isinstance(term, Literal):
        text = term.value
    else:
        text = str(term)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def compact_iri(iri: str, prefixes: Mapping[str, str]) -> str:
    """prefix:name by the longest matching namespace, or <iri> when none matches."""
    for prefix, namespace in sorted(prefixes.items(), key=lambda item: -len(item[1])):
        if iri.startswith(namespace) and iri != namespace:
            return f"{prefix}:{iri[len(namespace):]}"
    return f"<{iri}>"


# Streaming writers for the web endpoint. pyoxigraph serialises a whole QuerySolutions
# iterator, but the endpoint reads solutions ahead (to learn whether the row cap is hit
# before sending headers), so it writes the SPARQL results formats itself, row by row.
Term = NamedNode | BlankNode | Literal | Triple
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_JSON_BATCH_ROWS = 512
_json_string = encode_basestring  # the C encoder; keeps non-ASCII as is, like ensure_ascii=False
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def write_solutions(
    variables: Sequence[str], rows: Iterable[Sequence[Term | None]], fmt: QueryResultsFormat, output: BinaryIO
) -> int:
    """Write SELECT results in a SPARQL results format, one row at a time; returns the row count."""
    writer = _SOLUTION_WRITERS.get(fmt)
    if writer is None:
        raise InputError(f"{fmt.name} cannot hold SELECT results")
    return writer(variables, rows, output)


def write_boolean(answer: QueryBoolean, fmt: QueryResultsFormat, output: BinaryIO) -> None:
    """Write an ASK answer in a SPARQL results format."""
    output.write(answer.serialize(format=fmt) or b"")


def _json_term(term: Term) -> dict[str, object]:
    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        value: dict[str, object] = {"type": "literal", "value": term.value}
        if term.language:
            value["xml:lang"] = term.language
        elif term.datatype.value != _XSD_STRING:
            value["datatype"] = term.datatype.value
        return value
    return {
        "type": "triple",
        "value": {
            "subject": _json_term(term.subject),
            "predicate": _json_term(term.predicate),
            "object": _json_term(term.object),
        },
    }


def _json_term_text(term: Term) -> str:
    """One term as SPARQL JSON text, built directly: this loop dominates large SELECT answers."""
    if isinstance(term, NamedNode):
        return '{"type":"uri","value":' + _json_string(term.value) + "}"
    if isinstance(term, Literal):
        text = '{"type":"literal","value":' + _json_string(term.value)
        if term.language:
            return text + ',"xml:lang":' + _json_string(term.language) + "}"
        datatype = term.datatype.value
        return text + ("}" if datatype == _XSD_STRING else ',"datatype":' + _json_string(datatype) + "}")
    if isinstance(term, BlankNode):
        return '{"type":"bnode","value":' + _json_string(term.value) + "}"
    return json.dumps(_json_term(term), ensure_ascii=False, separators=(",", ":"))


def _write_json(variables: Sequence[str], rows: Iterable[Sequence[Term | None]], output: BinaryIO) -> int:
    output.write(b'{"head":{"vars":' + json.dumps(list(variables), separators=(",", ":")).encode() + b'},"results":{"bindings":[')
    keys = [_json_string(name) + ":" for name in variables]
    count = 0
    batch: list[str] = []
    for row in rows:
        batch.append("{" + ",".join(key + _json_term_text(term) for key, term in zip(keys, row, strict=True)
                                    if term is not None) + "}")
        count += 1
        if len(batch) == _JSON_BATCH_ROWS:
            output.write((b"," if count > len(batch) else b"") + ",".join(batch).encode())
            batch.clear()
    if batch:
        output.write((b"," if count > len(batch) else b"") + ",".join(batch).encode())
    output.write(b"]}}")
    return count


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_KEPT = {"\r": "&#13;"}  # a bare CR would be read back as a line feed


def _xml_text(text: str) -> str:
    """Text as XML 1.0 character data that reads back as it was; 406 for a character XML 1.0 cannot hold."""
    if (forbidden := _XML_FORBIDDEN.search(text)) is not None:
        raise NotAcceptableError(f"the answer holds the character U+{ord(forbidden.group()):04X}, which XML 1.0 "
                                 "cannot carry; ask for SPARQL JSON, CSV or TSV")
    return xml_escape(text, _XML_KEPT)


def _xml_term(term: Term) -> str:
    if isinstance(term, NamedNode):
        return f"<uri>{xml_escape(term.value)}</uri>"
    if isinstance(term, BlankNode):
        return f"<bnode>{xml_escape(term.value)}</bnode>"
    if isinstance(term, Literal):
        if term.language:
            return f'<literal xml:lang="{xml_escape(term.language)}">{_xml_text(term.value)}</literal>'
        if term.datatype.value != _XSD_STRING:
            return f'<literal datatype="{xml_escape(term.datatype.value)}">{_xml_text(term.value)}</literal>'
        return f"<literal>{_xml_text(term.value)}</literal>"
    return (
        f"<triple><subject>{_xml_term(term.subject)}</subject><predicate>{_xml_term(term.predicate)}</predicate>"
        f"<object>{_xml_term(term.object)}</object></triple>"
    )


def _write_xml(variables: Sequence[str], rows: Iterable[Sequence[Term | None]], output: BinaryIO) -> int:
    head = "".join(f'<variable name="{xml_escape(name)}"/>' for name in variables)
    output.write(
        f'<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>{head}</head><results>'
        .encode()
    )
    count = 0
    for row in rows:
        cells = "".join(
            f'<binding name="{xml_escape(name)}">{_xml_term(term)}</binding>'
            for name, term in zip(variables, row, strict=True)
            if term is not None
        )
        output.write(f"<result>{cells}</result>".encode())
        count += 1
    output.write(b"</results></sparql>")
    return count


def _csv_cell(term: Term | None) -> str:
    if term is None:
        return ""
    if isinstance(term, BlankNode):
        text = f"_:{term.value}"
    elif isinstance(term, NamedNode | Literal):
        text = term.value
    else:
        text = str(term)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def _write_csv(variables: Sequence[str], rows: Iterable[Sequence[Term | None]], output: BinaryIO) -> int:
    output.write((",".join(variables) + "\r\n").encode())
    count = 0
    for row in rows:
        output.write((",".join(_csv_cell(term) for term in row) + "\r\n").encode())
        count += 1
    return count


def _tsv_term(term: Term) -> str:
    """A term as SPARQL TSV writes it (Turtle's syntax); a triple term as <<( s p o )>>, which pyoxigraph's str leaves out."""
    if isinstance(term, Triple):
        return f"<<( {_tsv_term(term.subject)} {_tsv_term(term.predicate)} {_tsv_term(term.object)} )>>"
    return str(term)


def _write_tsv(variables: Sequence[str], rows: Iterable[Sequence[Term | None]], output: BinaryIO) -> int:
    output.write(("\t".join(f"?{name}" for name in variables) + "\n").encode())
    count = 0
    for row in rows:
        output.write(("\t".join("" if term is None else _tsv_term(term) for term in row) + "\n").encode())
        count += 1
    return count


_SOLUTION_WRITERS: dict[QueryResultsFormat, Callable[[Sequence[str], Iterable[Sequence[Term | None]], BinaryIO], int]] = {
    QueryResultsFormat.JSON: _write_json,
    QueryResultsFormat.XML: _write_xml,
    QueryResultsFormat.CSV: _write_csv,
    QueryResultsFormat.TSV: _write_tsv,
}


def jsonld_document(triples: Iterable[Triple], prefixes: Mapping[str, str]) -> bytes:
    """The triples as one JSON-LD document whose @context is `prefixes`, IRIs written prefix:name, in one pass.

    Each run of triples about one subject is a node object (a predicate met again after another
    starts a new one, as pyoxigraph's writer does); property names and @id/@type values are
    shortened where a prefix covers them; literals stay as they are.

    >>> json.loads(jsonld_document([Triple(NamedNode("http://schema.org/a"), NamedNode("http://schema.org/name"),
    ...                                        Literal("A"))], {"schema": "http://schema.org/"}))["@graph"]
    [{'@id': 'schema:a', 'schema:name': [{'@value': 'A'}]}]
    """
    curies: dict[str, str] = {}

    def curie(iri: str) -> str:
        if iri not in curies:
            curies[iri] = _jsonld_curie(iri, prefixes)
        return curies[iri]

    nodes: list[dict[str, object]] = []
    node: dict[str, object] = {}
    subject: object = None
    predicate: str | None = None
    for triple in triples:
        key = curie(triple.predicate.value)
        if triple.subject != subject or (key != predicate and key in node):
            subject, node = triple.subject, {"@id": _jsonld_id(triple.subject, curie)}
            nodes.append(node)
        predicate = key
        node.setdefault(key, []).append(_jsonld_value(triple.object, curie))  # type: ignore[union-attr]
    document = {"@context": dict(prefixes), "@graph": nodes}
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _jsonld_id(term: object, curie: Callable[[str], str]) -> str:
    """A node's @id: a compact IRI, or _:label for a blank node."""
    if isinstance(term, BlankNode):
        return f"_:{term.value}"
    if isinstance(term, NamedNode):
        return curie(term.value)
    raise TypeError("JSON-LD cannot carry RDF 1.2 triple terms")


def _jsonld_value(term: object, curie: Callable[[str], str]) -> dict[str, str]:
    """An object as JSON-LD: {"@id"} for a node, {"@value"} with its @language or @type for a literal."""
    if isinstance(term, Literal):
        if term.language:
            return {"@language": term.language, "@value": term.value}
        datatype = term.datatype.value
        return {"@value": term.value} if datatype == _XSD_STRING else {"@type": curie(datatype), "@value": term.value}
    return {"@id": _jsonld_id(term, curie)}


def _jsonld_curie(iri: str, prefixes: Mapping[str, str]) -> str:
    """prefix:name when a prefix of the context covers `iri` (and JSON-LD would expand it back), else the IRI."""
    compact = compact_iri(iri, prefixes)
    if compact.startswith("<") or compact.split(":", 1)[1].startswith("//"):
        return iri
    return compact


_WITHOUT_TRIPLE_TERMS = frozenset({RdfFormat.JSON_LD, RdfFormat.RDF_XML})


def write_triples(triples: Iterable[Triple], fmt: RdfFormat, output: BinaryIO, prefixes: Mapping[str, str]) -> None:
    """Write CONSTRUCT/DESCRIBE triples; dataset formats (N-Quads, TriG) get them in the default graph.

    JSON-LD and RDF/XML have no RDF 1.2 triple terms: a graph holding one is a 406, raised as the
    first is met, so `output` must be one whose bytes are dropped with it (a spool, a buffer).
    """
    items: Iterable[Triple] | Iterable[Quad] = triples
    if fmt in _WITHOUT_TRIPLE_TERMS:
        items = _without_triple_terms(triples, fmt)
    if fmt.supports_datasets:
        items = (Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in items)  # type: ignore[union-attr]
    serialize(items, output, fmt, prefixes=dict(prefixes))


def _without_triple_terms(triples: Iterable[Triple], fmt: RdfFormat) -> Iterator[Triple]:
    """The triples, as long as none holds a triple term: the first one met is a 406."""
    for triple in triples:
        if isinstance(triple.subject, Triple) or isinstance(triple.object, Triple):
            raise NotAcceptableError(f"{_media_type(fmt)} cannot carry the RDF 1.2 triple terms this answer holds; "
                                     "ask for Turtle, N-Triples or another RDF 1.2 form")
        yield triple
