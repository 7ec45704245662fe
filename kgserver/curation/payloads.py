"""Request bodies that carry an addition: read within the size limit, refused if hostile, parsed with nothing fetched.

Everything here distrusts the body. It is read from the stream chunk by chunk and refused
as soon as it passes the limit (a body announced or sent larger is never held whole); it
must be UTF-8 in one of the RDF media types below; RDF/XML may not declare external,
parameter or nested entities (XXE, billion laughs); JSON-LD may not name a context by
reference; and the parsers run under kgserver.parsing's guard that stops any connection.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from pyoxigraph import NamedNode
from rdflib import Graph, Literal, URIRef
from werkzeug.http import parse_options_header

from kgserver import representations
from kgserver.errors import InputError, PayloadTooLargeError, UnsupportedMediaTypeError
from kgserver.parsing import parse_bytes

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NAMESPACE = re.compile(r"^.*[/#:]|")  # an IRI up to its last /, # or :, as a prefix would stand for it
# pySHACL and the report give each namespace they meet a prefix, and rdflib's namespace manager
# walks those bound before each time: 20,000 properties in as many namespaces held /validate for 75 s.
MAX_NAMESPACES = 1000

_CHARSETS = frozenset({"utf-8", "utf8"})
_CHUNK = 64 << 10
_NAME = "request body"


def payload_format(content_type: str | None) -> str:
    """The RDF format a Content-Type names; 415, listing those accepted, for anything else."""
    media_type, options = parse_options_header(content_type or "")
    fmt = representations.reading(media_type.lower()).name  # 415, listing what is read, for anything else
    charset = options.get("charset")
    if charset is not None and charset.lower() not in _CHARSETS:
        raise UnsupportedMediaTypeError(f"charset={charset} refused: additions must be sent as UTF-8")
    return fmt


def read_body(stream: BinaryIO, limit: int) -> bytes:
    """The body, read in chunks and refused (413) the moment it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the addition is larger than this server's limit of {limit} bytes")
        chunks.append(chunk)


def parse_payload(body: bytes, fmt: str, base: str, most_triples: int) -> Graph:
    """The addition in `body` as a graph, or a 400 (413 past `most_triples`) that says what is wrong with it."""
    if not body.strip():
        raise InputError("the request body is empty; send the addition as RDF")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"the request body is not UTF-8 (invalid byte at offset {error.start})") from None
    graph = parse_bytes(body, fmt, base, _NAME)
    if len(graph) == 0:
        if fmt == "jsonld" and b'"@graph"' in body:
            raise InputError("the request body holds no triples in the default graph: a JSON-LD @graph with its own "
                             "@id is a named graph, and an addition is read from the default graph only")
        raise InputError("the request body holds no triples")
    if len(graph) > most_triples:  # a check's time grows with the addition: 2,000 new nodes took 4 s, holding pySHACL
        raise PayloadTooLargeError(f"the addition holds {len(graph):,} triples; this server checks at most "
                                   f"{most_triples:,} in one (--max-addition-triples): send it in parts")
    _refuse_what_rdf_forbids(graph)
    return graph


def _refuse_what_rdf_forbids(graph: Graph) -> None:
    """Refuse triples some parsers let through but RDF does not have (literal subjects or predicates,
    IRIs that are not valid IRIs), literals with control characters, which no curated text
    needs and the reasoner's XML cannot carry, and IRIs in more than MAX_NAMESPACES namespaces."""
    namespaces: set[str] = set()
    for subject, predicate, obj in graph:
        if isinstance(subject, Literal) or not isinstance(predicate, URIRef):
            raise InputError(f"{_NAME}: a triple has a literal as its subject or predicate ({subject!s} {predicate!s})")
        if isinstance(obj, Literal) and (control := _CONTROL.search(str(obj))):
            raise InputError(f"{_NAME}: a literal holds the control character U+{ord(control.group()):04X}")
        for term in (subject, predicate, obj):
            if isinstance(term, URIRef):
                try:
                    NamedNode(str(term))
                except ValueError:
                    raise InputError(f"{_NAME}: <{term!s}> is not a valid IRI") from None
                namespaces.add(_NAMESPACE.match(term).group())  # type: ignore[union-attr]  # "" at the least
    if len(namespaces) > MAX_NAMESPACES:
        raise InputError(f"{_NAME}: its IRIs lie in {len(namespaces):,} namespaces; an addition may use at most "
                         f"{MAX_NAMESPACES:,} (the report names each one's terms with a prefix, and each costs more "
                         "than the last)")
