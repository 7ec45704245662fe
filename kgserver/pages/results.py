"""A query's answer as a page shows it: the SPARQL JSON a query process wrote, read back as rows of cells.

The /sparql route sends a browser's form (Accept preferring text/html) this page rather than a
results file (kgserver/representations.py: the html form is drawn from json). A page is for
reading, so it is smaller than an answer: at most PAGE_ROWS rows (the query process stops
there), PAGE_BYTES of JSON (past that the page only offers the downloads) and CELL_CHARACTERS
of one value; it is read whole. Every value stays text for the template to escape, and only
http(s) IRIs become links.

>>> table = read(b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"uri","value":"http://schema.org/Drug"}}]}}',
...              {"schema": "http://schema.org/"})
>>> table.rows[0][0]
Cell(text='schema:Drug', href='http://schema.org/Drug', kind='iri', note=None)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kgserver.errors import KgError
from kgserver.formats import compact_iri

PAGE_ROWS = 1000  # rows a page shows; the downloads give up to the row cap
PAGE_BYTES = 4 * 1024 * 1024  # the most JSON a page is drawn from (held whole, then as cells)
CELL_CHARACTERS = 2000  # the most of one value a cell shows
EDITABLE_CHARACTERS = 6000  # the longest query the page links back to the editor with (in the link's query string)
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_LINKED_SCHEMES = ("http://", "https://")  # an IRI such as javascript:... is shown, never linked


@dataclass(frozen=True)
class Cell:
    """One bound value: its text, the IRI it links to, its kind, and a literal's language or datatype."""

    text: str
    href: str | None = None  # an IRI, for `local_href`: this dataset's own open here
    kind: str = "literal"  # iri, literal, bnode or triple
    note: str | None = None  # @en, or ^^xsd:integer


@dataclass(frozen=True)
class ResultsTable:
    """A SELECT's variables and rows (None where a variable is unbound), or an ASK's answer."""

    variables: tuple[str, ...]
    rows: tuple[tuple[Cell | None, ...], ...]
    boolean: bool | None = None


def read(answer: bytes, prefixes: Mapping[str, str]) -> ResultsTable:
    """The table of a SPARQL JSON answer, IRIs written prefix:name where a prefix covers them."""
    try:
        document = json.loads(answer)
    except ValueError as error:
        raise KgError(f"the query's answer could not be read for the page ({error})") from None
    if "boolean" in document:
        return ResultsTable((), (), bool(document["boolean"]))
    variables = tuple(document["head"]["vars"])
    rows = tuple(
        tuple(_cell(binding[name], prefixes) if name in binding else None for name in variables)
        for binding in document["results"]["bindings"]
    )
    return ResultsTable(variables, rows)


def _cell(term: dict[str, Any], prefixes: Mapping[str, str]) -> Cell:
    kind, value = term["type"], term["value"]
    if kind == "uri":
        return Cell(compact_iri(value, prefixes).strip("<>"), value if value.startswith(_LINKED_SCHEMES) else None, "iri")
    if kind == "bnode":
        return Cell(f"_:{value}", kind="bnode")
    if kind == "triple":
        parts = (_term_text(_cell(value[position], prefixes)) for position in ("subject", "predicate", "object"))
        return Cell("<<( " + " ".join(parts) + " )>>", kind="triple")
    if len(value) > CELL_CHARACTERS:
        value = f"{value[:CELL_CHARACTERS]}… ({len(value):,} characters; download the answer for all)"
    if term.get("xml:lang"):
        return Cell(value, note="@" + term["xml:lang"])
    datatype = term.get("datatype")
    if datatype and datatype != _XSD_STRING:
        return Cell(value, note="^^" + compact_iri(datatype, prefixes).strip("<>"))
    return Cell(value)


def _term_text(cell: Cell) -> str:
    """A term inside a triple term as Turtle writes it, so a literal is quoted and keeps its language or datatype."""
    if cell.kind != "literal":
        return cell.text
    return f'"{cell.text}"{cell.note or ""}'
