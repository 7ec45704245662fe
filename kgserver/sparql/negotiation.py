"""Content negotiation for the endpoint: which formats each query form offers, and which one to send.

Every route that sends results or RDF calls `choose`; the service description lists the
same table, so what is advertised is exactly what is offered.
"""

from __future__ import annotations

from werkzeug.datastructures import MIMEAccept

from kgserver.errors import InputError, NotAcceptableError
from kgserver.formats import BY_NAME, GRAPHS, RESULTS, Format

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


def _by_format_name(name: str, formats: tuple[Format, ...]) -> Format | None:
    """The format a `format=` value names among `formats`: a name, an alias or a media type."""
    key = name.strip().lower()
    aliases = _GRAPH_NAMES if formats is GRAPHS else _RESULT_NAMES
    key = aliases.get(key, key)
    return next((fmt for fmt in formats if key in (fmt.name, fmt.media_type)), None)
