"""Every form the server sends or reads, in one table, and the one way a route chooses among them.

A form is one row: its name (what `format=` and the command line's `--format` take), the
suffix a resource's address may end in, its media type, the other names and media types
clients use for it, how it is written (pyoxigraph's format; rdflib's name for rdflib graphs
and for reading additions; None for a page or report a route renders itself, a query's answer
drawn from the form the query process writes, `drawn_from`), and the routes that offer it. A route offers one named set of forms and calls `choose` with the request's
Accept header and `format=`; the service description advertises the same sets.

Offering a form somewhere is one edit of its row: `offered` names the sets it belongs to.

>>> choose("resources", "text/html,application/xhtml+xml;q=0.9").name
'html'
>>> choose("graphs", None, "json").name   # for a graph, format=json means JSON-LD
'jsonld'
>>> choose("results", "application/json").media_type
'application/sparql-results+json'
>>> choose("results", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8").name  # a browser's form
'html'
>>> choose("results", "*/*").name, choose("results", "application/xml").name
('json', 'xml')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from pyoxigraph import QueryResultsFormat, RdfFormat
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from kgserver.errors import InputError, NotAcceptableError, UnsupportedMediaTypeError

_W3C = "http://www.w3.org/ns/formats/"


@dataclass(frozen=True)
class Form:
    """One representation: names, suffix, media types, writer, and the sets of routes that offer it."""

    name: str
    media_type: str
    suffix: str
    engine: RdfFormat | QueryResultsFormat | None = None  # pyoxigraph's writer; None: rendered by the route
    rdflib: str | None = None  # rdflib's serializer and parser name
    names: tuple[str, ...] = ()  # other `format=` names
    media_aliases: tuple[str, ...] = ()  # other media types clients send for it
    iri: str | None = None  # the W3C format IRI the service description gives
    offered: tuple[str, ...] = ()
    drawn_from: str | None = None  # a page of a query's answer: the form the query process writes, the page drawn from it

    @property
    def is_graph(self) -> bool:
        return isinstance(self.engine, RdfFormat)


# The sets of forms, what each serves, and which form it sends when the client states no preference.
SETS: dict[str, str] = {
    "results": "SELECT and ASK results",
    "graphs": "CONSTRUCT and DESCRIBE results, the service description and the dataset description",
    "resources": "a resource (dereferenced IRI)",
    "catalogue": "the example catalogue",
    "feed": "the change feed",
    "reports": "a validation report",
    "additions": "an addition (request bodies of /validate and /submissions)",
    "query-command": "kgserver query --format",
    "export-command": "kgserver export --format",
    "dumps": "the dataset's and each graph's dump files",
    "graph-store": "one graph of the dataset (the Graph Store Protocol, /store)",
    "search": "search results (/search)",
}
# Sets whose forms are named by suffix in an error listing them: a resource's address ends in it, and search
# results are `format=json` (the form named "report" is JSON for a validation report).
_NAMED_BY_SUFFIX = frozenset({"resources", "catalogue", "search"})
_FIRST: dict[str, str] = {"feed": "trig", "export-command": "nquads", "dumps": "nquads", "search": "html"}  # otherwise the first row offered

_SPARQL_RESULTS = ("results", "query-command")
_RDF = ("graphs", "query-command")
_GRAPH = (*_RDF, "graph-store")  # forms of one graph's triples; TriG and N-Quads carry datasets

# The one table. Within a set, forms are preferred in this order (ties in Accept, no Accept at all).
FORMS: tuple[Form, ...] = (
    Form("json", "application/sparql-results+json", "srj", QueryResultsFormat.JSON, names=("srj",),
         media_aliases=("application/json",), iri=_W3C + "SPARQL_Results_JSON", offered=_SPARQL_RESULTS),
    Form("xml", "application/sparql-results+xml", "srx", QueryResultsFormat.XML, names=("srx",),
         media_aliases=("application/xml", "text/xml"), iri=_W3C + "SPARQL_Results_XML", offered=_SPARQL_RESULTS),
    Form("csv", "text/csv", "csv", QueryResultsFormat.CSV, iri=_W3C + "SPARQL_Results_CSV", offered=_SPARQL_RESULTS),
    Form("tsv", "text/tab-separated-values", "tsv", QueryResultsFormat.TSV, iri=_W3C + "SPARQL_Results_TSV",
         offered=_SPARQL_RESULTS),
    Form("report", "application/json", "json", offered=("reports", "search")),
    Form("turtle", "text/turtle", "ttl", RdfFormat.TURTLE, "turtle", names=("ttl", "n3"),
         media_aliases=("text/n3", "text/rdf+n3", "application/x-turtle"), iri=_W3C + "Turtle",
         offered=(*_GRAPH, "resources", "catalogue", "reports", "additions", "dumps")),
    Form("jsonld", "application/ld+json", "jsonld", RdfFormat.JSON_LD, "json-ld", names=("json-ld", "json"),
         iri=_W3C + "JSON-LD", offered=(*_GRAPH, "resources", "catalogue", "feed", "additions")),
    Form("rdfxml", "application/rdf+xml", "rdf", RdfFormat.RDF_XML, "xml", names=("rdf", "rdf+xml", "xml"),
         iri=_W3C + "RDF_XML", offered=(*_GRAPH, "resources", "catalogue", "additions")),
    Form("ntriples", "application/n-triples", "nt", RdfFormat.N_TRIPLES, "nt", names=("nt", "n-triples"),
         media_aliases=("text/plain",), iri=_W3C + "N-Triples",
         offered=(*_GRAPH, "resources", "catalogue", "additions")),
    Form("trig", "application/trig", "trig", RdfFormat.TRIG, "trig", iri=_W3C + "TriG",
         offered=(*_RDF, "feed", "export-command")),
    Form("nquads", "application/n-quads", "nq", RdfFormat.N_QUADS, "nquads", names=("nq", "n-quads"),
         iri=_W3C + "N-Quads", offered=(*_RDF, "feed", "export-command", "dumps")),
    Form("n3", "text/n3", "n3", RdfFormat.N3, "n3", offered=("query-command",)),
    # Last, so a client sends text/html to get it: */* and no Accept keep getting the first form of each set.
    Form("html", "text/html", "html", media_aliases=("application/xhtml+xml",),
         offered=("resources", "catalogue", "reports", "search", "results"), drawn_from="json"),
)
BY_NAME: dict[str, Form] = {form.name: form for form in FORMS}


@cache
def offered(name: str) -> tuple[Form, ...]:
    """The forms of one set, the one sent to a client without preference first."""
    if name not in SETS:
        raise KeyError(f"no set of forms named {name!r}")
    forms = [form for form in FORMS if name in form.offered]
    first = _FIRST.get(name)
    return tuple(sorted(forms, key=lambda form: form.name != first)) if first else tuple(forms)


def by_suffix(name: str, suffix: str) -> Form | None:
    """The form of a set whose suffix this is (`.ttl`, `.jsonld`...), if any."""
    return next((form for form in offered(name) if form.suffix == suffix), None)


def choose(name: str, accept: str | MIMEAccept | None, format_name: str | None = None, what: str | None = None) -> Form:
    """The form of set `name` to send: `format=` if given, else the best match for Accept (q-values honoured).

    `format=` may be a form's name, one of its other names, its suffix or its media type; a
    form's own name wins over another's alias (`json` is SPARQL JSON where that is offered,
    JSON-LD where only graphs are). No Accept header, or */*, gives the set's first form;
    nothing acceptable is a 406 listing what is offered.
    """
    if format_name:
        return _by_format_name(name, format_name.strip().lower(), what or SETS[name])
    if isinstance(accept, str) and len(accept) <= _REMEMBERED_HEADER_CHARS:
        return _for_header(name, accept, what or SETS[name])
    return _by_accept(name, _parsed(accept), what or SETS[name])


def reading(content_type: str) -> Form:
    """The form of an addition's body by its media type (no parameters, lower case); 415 listing those read."""
    found = next((form for form in offered("additions") if form.media_type == content_type), None)
    if found is None:
        named = f"'{content_type}'" if content_type else "no Content-Type"
        accepted = ", ".join(form.media_type for form in offered("additions"))
        raise UnsupportedMediaTypeError(f"{named} is not an RDF syntax this server reads; send one of: {accepted}")
    return found


def _by_format_name(name: str, key: str, what: str) -> Form:
    forms = offered(name)
    chosen = next((form for form in forms if key in (form.name, form.suffix, form.media_type)), None)
    chosen = chosen or next((form for form in forms if key in form.names), None)
    if chosen is None:
        listed = ", ".join(form.suffix if name in _NAMED_BY_SUFFIX else form.name for form in forms)
        raise InputError(f"format={key} is not offered for {what}; use one of: {listed}")
    return chosen


def _by_accept(name: str, accept: MIMEAccept, what: str) -> Form:
    forms = offered(name)
    if not accept:
        return forms[0]
    own = {form.media_type for form in forms}  # a form's own media type wins over another's alias for it
    aliases = {alias: form for form in forms for alias in form.media_aliases if alias not in own}
    best = accept.best_match([form.media_type for form in forms] + list(aliases))
    if best is None:
        raise NotAcceptableError(
            f"none of the accepted media types can carry {what}; offered: " + ", ".join(f.media_type for f in forms)
        )
    return aliases.get(best) or next(form for form in forms if form.media_type == best)


def _parsed(accept: str | MIMEAccept | None) -> MIMEAccept:
    """The Accept header's media ranges without their parameters (charset=, profile=) but q.

    Werkzeug matches `text/turtle; charset=utf-8` to no offer of `text/turtle`; every form here
    is UTF-8 and the JSON-LD is one profile, so a parameter never makes a form unacceptable.
    """
    parsed = accept if isinstance(accept, MIMEAccept) else parse_accept_header(accept, MIMEAccept)
    if not any(";" in value for value, _quality in parsed):
        return parsed
    return MIMEAccept([(value.split(";", 1)[0].strip(), quality) for value, quality in parsed])


# Accept headers longer than this are matched afresh each time rather than remembered.
_REMEMBERED_HEADER_CHARS = 512


@lru_cache(maxsize=512)
def _for_header(name: str, accept: str, what: str) -> Form:
    """The few Accept headers clients really send are parsed and matched once per set."""
    return _by_accept(name, _parsed(accept), what)
