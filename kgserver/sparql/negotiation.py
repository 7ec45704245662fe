"""Content negotiation for the endpoint: which formats each query form offers, and which one to send.

Every route that sends results or RDF calls `choose`; the service description lists the
same table, so what is advertised is exactly what is offered.
"""

from __future__ import annotations

from functools import lru_cache

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from kgserver.formats import GRAPHS, RESULTS, Format
from kgserver.negotiate import negotiate

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


def offered(form: str | None) -> tuple[Format, ...]:
    """The formats for a query form: results for SELECT/ASK, RDF for CONSTRUCT/DESCRIBE (and the SD)."""
    return RESULTS if form in ("SELECT", "ASK") else GRAPHS


def choose(form: str | None, accept: MIMEAccept, format_name: str | None = None) -> Format:
    """The format to send for a query form: `format=` if given, else the best match for Accept."""
    formats = offered(form)
    names = _GRAPH_NAMES if formats is GRAPHS else _RESULT_NAMES
    return negotiate(formats, accept, format_name, f"{form or 'these'} results", names, _ALIASES)


# Accept headers longer than this are matched afresh each time rather than remembered.
_REMEMBERED_HEADER_CHARS = 512


def choose_for_header(form: str | None, accept_header: str | None, format_name: str | None) -> Format:
    """`choose` for a raw Accept header; the few headers clients really send are parsed and matched once."""
    if accept_header is not None and len(accept_header) > _REMEMBERED_HEADER_CHARS:
        return choose(form, parse_accept_header(accept_header, MIMEAccept), format_name)
    return _choose_remembered(form, accept_header, format_name)


@lru_cache(maxsize=256)
def _choose_remembered(form: str | None, accept_header: str | None, format_name: str | None) -> Format:
    return choose(form, parse_accept_header(accept_header, MIMEAccept), format_name)
