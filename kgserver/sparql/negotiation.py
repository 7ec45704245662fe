"""Content negotiation for the endpoint: which formats each query form offers, and which one to send.

Every route that sends results or RDF calls `choose`; the service description lists the
same table, so what is advertised is exactly what is offered.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyoxigraph import QueryResultsFormat, RdfFormat
from werkzeug.datastructures import MIMEAccept

from kgserver.errors import InputError, NotAcceptableError

_FORMATS_NS = "http://www.w3.org/ns/formats/"


@dataclass(frozen=True)
class WebFormat:
    """A format the endpoint sends: its `format=` name, media type, engine format and W3C format IRI."""

    name: str
    media_type: str
    engine: QueryResultsFormat | RdfFormat
    iri: str

    @property
    def is_graph(self) -> bool:
        return isinstance(self.engine, RdfFormat)


# In order of preference: the first of each list is the default.
RESULTS: tuple[WebFormat, ...] = (
    WebFormat("json", "application/sparql-results+json", QueryResultsFormat.JSON, _FORMATS_NS + "SPARQL_Results_JSON"),
    WebFormat("xml", "application/sparql-results+xml", QueryResultsFormat.XML, _FORMATS_NS + "SPARQL_Results_XML"),
    WebFormat("csv", "text/csv", QueryResultsFormat.CSV, _FORMATS_NS + "SPARQL_Results_CSV"),
    WebFormat("tsv", "text/tab-separated-values", QueryResultsFormat.TSV, _FORMATS_NS + "SPARQL_Results_TSV"),
)
GRAPHS: tuple[WebFormat, ...] = (
    WebFormat("turtle", "text/turtle", RdfFormat.TURTLE, _FORMATS_NS + "Turtle"),
    WebFormat("ntriples", "application/n-triples", RdfFormat.N_TRIPLES, _FORMATS_NS + "N-Triples"),
    WebFormat("jsonld", "application/ld+json", RdfFormat.JSON_LD, _FORMATS_NS + "JSON-LD"),
    WebFormat("rdfxml", "application/rdf+xml", RdfFormat.RDF_XML, _FORMATS_NS + "RDF_XML"),
    WebFormat("trig", "application/trig", RdfFormat.TRIG, _FORMATS_NS + "TriG"),
    WebFormat("nquads", "application/n-quads", RdfFormat.N_QUADS, _FORMATS_NS + "N-Quads"),
)
BY_NAME: dict[str, WebFormat] = {fmt.name: fmt for fmt in RESULTS + GRAPHS}

# Other names clients send as `format=` (SPARQLWrapper's among them), per kind of result:
# "xml" and "json" mean RDF/XML and JSON-LD for a graph.
_RESULT_NAMES: dict[str, str] = {"srj": "json", "srx": "xml"}
_GRAPH_NAMES: dict[str, str] = {
    "ttl": "turtle", "n3": "turtle", "nt": "ntriples", "n-triples": "ntriples", "json-ld": "jsonld",
    "json": "jsonld", "rdf+xml": "rdfxml", "rdf": "rdfxml", "xml": "rdfxml", "n-quads": "nquads", "nq": "nquads",
}

# Media types clients send that mean one of the formats above.
_ALIASES: dict[str, str] = {
    "application/json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/plain": "ntriples",
}


def offered(form: str | None) -> tuple[WebFormat, ...]:
    """The formats for a query form: results for SELECT/ASK, RDF for CONSTRUCT/DESCRIBE (and the SD)."""
    return RESULTS if form in ("SELECT", "ASK") else GRAPHS


def choose(form: str | None, accept: MIMEAccept, format_name: str | None = None) -> WebFormat:
    """The format to send: `format=` if given, else the best match for Accept (q-values honoured).

    No Accept header, or */*, gives the default. Nothing acceptable is a 406 that lists
    the media types on offer.
    """
    formats = offered(form)
    if format_name:
        chosen = _by_format_name(format_name, formats)
        if chosen is None:
            names = ", ".join(fmt.name for fmt in formats)
            raise InputError(f"format={format_name} does not apply to {form or 'this'} results; use one of: {names}")
        return chosen
    if not accept:
        return formats[0]
    candidates = [fmt.media_type for fmt in formats]
    candidates += [alias for alias, name in _ALIASES.items() if BY_NAME[name] in formats]
    best = accept.best_match(candidates)
    if best is None:
        raise NotAcceptableError(
            "none of the accepted media types can carry these results; offered: "
            + ", ".join(fmt.media_type for fmt in formats)
        )
    return BY_NAME[_ALIASES[best]] if best in _ALIASES else next(f for f in formats if f.media_type == best)


def _by_format_name(name: str, formats: tuple[WebFormat, ...]) -> WebFormat | None:
    """The format a `format=` value names among `formats`: a name, an alias or a media type."""
    key = name.strip().lower()
    aliases = _GRAPH_NAMES if formats is GRAPHS else _RESULT_NAMES
    key = aliases.get(key, key)
    return next((fmt for fmt in formats if key in (fmt.name, fmt.media_type)), None)
