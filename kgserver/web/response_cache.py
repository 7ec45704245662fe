"""Whole /sparql answers kept per dataset version, and sent again before Flask sees the request.

The same query sent again on an unchanged dataset is the commonest request a public endpoint
gets: dashboards, notebooks run again, crawlers, the query page. Parsing the protocol request,
checking the policy and negotiating cost more than sending a kept answer, so answers are kept
whole (status, headers, body) under the dataset version and everything in the request that
the answer depends on: method, query string, body and its type, Accept, Accept-Encoding,
Origin, host and scheme. Only answers the /sparql route marks as complete (200, read through,
not cut by a time limit) are kept. Requests with a condition (If-None-Match, If-Modified-Since,
If-Match, If-Unmodified-Since) go through to the route, which answers 304 or 412.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kgserver.sparql.worker import Head

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

MARK = "kgserver.keep"  # environ key where the /sparql route leaves a `Keep` once its answer is complete

# The request headers an answer depends on, besides the method, query string and body.
_VARIES = ("CONTENT_TYPE", "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING", "HTTP_ORIGIN", "HTTP_HOST", "wsgi.url_scheme")
_REVALIDATES = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE")


@dataclass(frozen=True)
class Keep:
    """What the route knows of a complete answer: the version it reflects and its head (rows, truncation)."""

    version: str
    head: Head


@dataclass(frozen=True)
class Kept:
    """A kept answer, sent again as it was."""

    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    keep: Keep


@dataclass(frozen=True)
class RequestKey:
    """Everything in a request that its answer depends on."""

    method: str
    script_name: str
    query_string: str
    body: bytes
    headers: tuple[str | None, ...]  # the values of _VARIES


HitListener = Callable[["WSGIEnvironment", Kept, float], None]


class ResponseCache:
    """WSGI middleware: answers a repeated /sparql request from memory, least recently used out first.

    At most `max_bytes` of answers (and the request bodies they are keyed by) are held, none
    over `max_entry_bytes`. `on_hit` is told of every answer sent from here, for the log.
    """

    def __init__(
        self,
        app: WSGIApplication,
        version: Callable[[], str],
        on_hit: HitListener,
        max_bytes: int,
        max_entry_bytes: int,
        path: str = "/sparql",
    ) -> None:
        self._app = app
        self._version = version
        self._on_hit = on_hit
        self._max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._path = path
        self._entries: OrderedDict[tuple[str, RequestKey], tuple[Kept, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        request = self._request_key(environ)
        if request is None:
            return self._app(environ, start_response)
        kept = self._get((self._version(), request))
        if kept is not None:
            start_response(kept.status, kept.headers)
            self._on_hit(environ, kept, time.monotonic() - started)
            return [kept.body]
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, tuple(headers)]
            return start_response(status, headers, exc_info)

        return _Keeping(self, self._app(environ, capture), environ, request, answer)

    def _request_key(self, environ: WSGIEnvironment) -> RequestKey | None:
        """Everything in the request the answer depends on, or None when it is not to be kept or looked up."""
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != self._path or method not in ("GET", "POST"):
            return None
        if any(name in environ for name in _REVALIDATES):
            return None
        body = b""
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return None
            if not 0 <= length <= self.max_entry_bytes:
                return None
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)  # the route reads it again
        headers = tuple(environ.get(name) for name in _VARIES)
        return RequestKey(method, environ.get("SCRIPT_NAME", ""), environ.get("QUERY_STRING", ""), body, headers)

    def _get(self, key: tuple[str, RequestKey]) -> Kept | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple[str, RequestKey], kept: Kept, size: int) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            self._size -= previous[1] if previous else 0
            self._entries[key] = (kept, size)
            self._size += size
            while self._size > self._max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= evicted


class _Keeping:
    """The route's answer passed through as it streams, with a copy stored if the route marks it complete.

    A class rather than a generator: the server calls `close` even when it never iterated,
    and the route's answer must be closed then too (closing it frees its query process).
    """

    def __init__(
        self, cache: ResponseCache, body: Iterable[bytes], environ: WSGIEnvironment, request: RequestKey, answer: list[Any]
    ) -> None:
        self._cache = cache
        self._body = body
        self._environ = environ
        self._request = request
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        """Pass the chunks on, holding the last one back until the copy is stored.

        The server may send a chunk and the client read the whole answer before the server asks
        for the next, so an answer stored after its last chunk could be missed by the same request
        sent at once. While a copy is kept, each chunk goes on when the next one arrives, and the
        last only after the copy is stored; past `max_entry_bytes` chunks pass straight through.
        """
        chunks: list[bytes] | None = []
        size = len(self._request.body)  # the request body in the key is counted too
        held: bytes | None = None
        for chunk in self._body:
            if chunks is None:
                yield chunk
                continue
            size += len(chunk)
            if size > self._cache.max_entry_bytes:
                chunks = None
                if held is not None:
                    yield held
                    held = None
                yield chunk
                continue
            chunks.append(chunk)
            if held is not None:
                yield held
            held = chunk
        if chunks is not None:
            self._store(chunks, size)
        if held is not None:
            yield held

    def _store(self, chunks: list[bytes], size: int) -> None:
        """Keep a copy of the answer if the route marked it complete and it is a 200."""
        keep: Keep | None = self._environ.get(MARK)
        if keep is None or not self._answer or not self._answer[0].startswith("200 "):
            return
        body = b"".join(chunks)
        headers = tuple((name, value) for name, value in self._answer[1] if name.lower() != "content-length")
        kept = Kept(self._answer[0], (*headers, ("Content-Length", str(len(body)))), body, keep)
        self._cache.put((keep.version, self._request), kept, size)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
