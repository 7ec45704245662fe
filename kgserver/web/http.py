"""HTTP concerns shared by the routes: CORS, streamed gzip, validators for conditional requests."""

from __future__ import annotations

import functools
import hashlib
import logging
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from urllib.parse import unquote_to_bytes

import werkzeug.http
from flask import Request, Response

from kgserver.config import ServerSettings
from kgserver.errors import InputError

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Accept, Content-Type, If-None-Match, If-Modified-Since"
EXPOSED_HEADERS = ("ETag, Last-Modified, X-SPARQL-Row-Cap, X-SPARQL-Truncated, Retry-After, X-Dataset-Version, "
                   "X-Graph-Version, Link, Digest, Repr-Digest, Content-Location, Content-Range, Accept-Ranges")


def require_utf8_escapes(encoded: bytes, what: str) -> None:
    """Refuse (400) %-escapes that do not decode to UTF-8: Werkzeug would keep `%E9` as those three characters."""
    if b"%" not in encoded:
        return
    try:
        unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{what} is not UTF-8 once its %-escapes are decoded (byte {error.start} of them)") from None


def add_cors(request: Request, response: Response, limits: ServerSettings) -> Response:
    """Let browsers on the configured origins read responses; credentials are never allowed."""
    origin = request.headers.get("Origin")
    if limits.cors_origins and "*" not in limits.cors_origins:
        response.vary.add("Origin")  # allowed for some origins only: every answer depends on the Origin sent
    if not origin or not limits.cors_origins:
        return response
    if "*" in limits.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin in limits.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
    else:
        return response
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS":  # the route's own methods (Flask's Allow), not every method of the app
        response.headers["Access-Control-Allow-Methods"] = response.headers.get("Allow", ALLOWED_METHODS)
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


# Every page's scripts come from this server's own files: no inline script, no eval, nothing from elsewhere.
# Styles may be inline: the vendored form library (static/vendor/shacl-form) styles what it builds.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def add_content_security_policy(response: Response) -> Response:
    """A page (HTML) may run only the server's own scripts and reach only the server; no answer is read as another type.

    `nosniff` keeps a browser from taking a plain-text error that echoes a request's words for HTML or script.
    """
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def preflight() -> Response:
    """The answer to an OPTIONS request; `add_cors` adds the Access-Control headers. No body, so no Content-Type."""
    response = Response(status=204, headers={"Allow": "GET, HEAD, POST, OPTIONS"})
    del response.headers["Content-Type"]
    return response


def wants_gzip(request: Request) -> bool:
    """Whether the client accepts a gzip-encoded body (no header parsing when gzip is not named)."""
    header = request.headers.get("Accept-Encoding", "")
    return "gzip" in header.lower() and request.accept_encodings["gzip"] > 0


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compress a stream chunk by chunk, so a large body is never compressed whole in memory."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    for chunk in chunks:
        compressed = compressor.compress(chunk)
        if compressed:
            yield compressed
    yield compressor.flush()


def encoded(request: Request, body: bytes | Iterable[bytes], media_type: str) -> Response:
    """The answer, gzip-encoded if the client accepts it: the one way every route compresses.

    A whole body is compressed whole and keeps its Content-Length (HEAD gives the same); a
    streamed one is compressed chunk by chunk as it goes, never held whole.
    """
    if not wants_gzip(request):
        return Response(body, mimetype=media_type)
    compressed = b"".join(gzip_stream([body])) if isinstance(body, bytes) else gzip_stream(body)
    response = Response(compressed, mimetype=media_type)
    response.headers["Content-Encoding"] = "gzip"
    return response


_access = logging.getLogger("kgserver.access")


def log_access(remote_addr: str | None, method: str, path: str, status: int, seconds: float) -> None:
    """One access-log line per request: client, method, path (no query string, no headers), status, time to headers."""
    _access.info("%s %s %s %d %.1fms", remote_addr, method, path, status, seconds * 1000)


def etag_value(*parts: object) -> str:
    """A validator from everything a response depends on; sent weak, as gzip changes the bytes."""
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]



# -- conditional requests: the one place ETag, Last-Modified, 304 and Cache-Control are handled --


def is_current(request: Request, etag: str, last_modified: datetime, known: bool = True) -> bool:
    """Whether the client's copy is current: If-None-Match (weak comparison), or else If-Modified-Since.

    `known` is False when the server cannot tell that the request has an answer at all (a query
    not yet answered may be a syntax error): then `*` and a date vouch for nothing, and only
    the client's own tag (which it had from an answer) does. A date counts for GET and HEAD
    only (RFC 9110, 13.1.3).
    """
    if request.if_none_match:
        if request.if_none_match.star_tag:
            return known
        return request.if_none_match.contains_weak(etag)
    if not known or request.method not in ("GET", "HEAD"):
        return False
    since = request.if_modified_since
    return since is not None and last_modified <= since


def holding_preconditions(request: Request, response: Response) -> Response:
    """A GET or HEAD answer, or 412 when its If-Match or If-Unmodified-Since does not hold (RFC 9110, 13.2.2).

    If-Match compares strongly: a weak tag (as most answers here carry) never matches, `*` matches
    any answer. If-Unmodified-Since counts only without If-Match and where the answer has a date.
    A client reading a feed or a graph page by page uses them to be told when the data moved.
    """
    if request.method not in ("GET", "HEAD") or not 200 <= response.status_code < 300:
        return response
    if request.if_match:
        tag, weak = response.get_etag()
        holds = request.if_match.star_tag or (tag is not None and not weak and request.if_match.contains(tag))
        header = "If-Match"
    elif request.if_unmodified_since is not None and response.last_modified is not None:
        holds = response.last_modified <= request.if_unmodified_since
        header = "If-Unmodified-Since"
    else:
        return response
    if holds:
        return response
    response.close()  # a streamed answer's producer (a query process, an open file) is let go
    failed = Response(f"Precondition Failed: {header} does not hold for the current representation\n",
                      status=412, mimetype="text/plain")
    for name in ("ETag", "Last-Modified", "Vary", "Cache-Control"):
        if name in response.headers:
            failed.headers[name] = response.headers[name]
    return failed


def validated(response: Response, etag: str, last_modified: datetime, vary: Iterable[str] = ()) -> Response:
    """The validators every cacheable answer carries: a weak ETag (gzip changes the bytes), Last-Modified, no-cache."""
    response.headers["ETag"] = f'W/"{etag}"'
    response.headers["Last-Modified"] = _http_date(last_modified)
    response.headers["Cache-Control"] = "no-cache"  # may be stored, must be revalidated
    response.vary.update(vary)
    return response


@functools.lru_cache(maxsize=8)
def _http_date(moment: datetime) -> str:
    """A moment as an HTTP date, formatted once per dataset version rather than once per answer."""
    return werkzeug.http.http_date(moment)


def not_modified(etag: str, last_modified: datetime, vary: Iterable[str] = (), method: str = "GET") -> Response:
    """The 304 for a client whose copy is current, with the same validators as the full answer.

    A POST whose If-None-Match matches gets 412 instead: RFC 9110 (13.1.2) keeps 304 for GET and HEAD.
    """
    if method in ("GET", "HEAD"):
        return validated(Response(status=304), etag, last_modified, vary)
    failed = Response("Precondition Failed: the answer has not changed since the tag given in If-None-Match\n",
                      status=412, mimetype="text/plain")
    return validated(failed, etag, last_modified, vary)


class AnsweredTags:
    """The tags of the answers this process sent lately: what lets `*` or a date stand for a current copy."""

    def __init__(self, size: int = 4096) -> None:
        self._tags: dict[str, None] = {}
        self._size = size

    def add(self, etag: str) -> None:
        """Remember one answer's tag; the oldest is forgotten past `size` (dicts keep insertion order)."""
        self._tags[etag] = None
        if len(self._tags) > self._size:
            try:
                del self._tags[next(iter(self._tags))]
            except (StopIteration, KeyError, RuntimeError):  # another thread trimmed it first
                pass

    def __contains__(self, etag: str) -> bool:
        return etag in self._tags
