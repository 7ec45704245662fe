"""The response cache, as the WSGI server drives it: a client that has read a whole answer finds it kept.

The server sends each chunk as it gets it, and a client that has read the last byte may send the
same request again before the server asks the answer for its next chunk. These tests drive the
middleware chunk by chunk, as waitress does, and send the second request in that gap.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from kgserver.sparql.worker import Head
from kgserver.web.response_cache import MARK, Keep, ResponseCache

HEAD = Head(media_type="application/sparql-results+json", rows=1, truncated=False)


class Route:
    """A stand-in for the /sparql route: answers with the given chunks, marking the answer complete at its end."""

    def __init__(self, chunks: list[bytes], status: str = "200 OK") -> None:
        self.chunks, self.status, self.calls, self.produced = chunks, status, 0, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        start_response(self.status, [("Content-Type", HEAD.media_type)])
        return self._stream(environ)

    def _stream(self, environ: dict[str, Any]) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.produced += 1
            yield chunk
        environ[MARK] = Keep("v1", HEAD)


def request(query: str = "ASK {}") -> dict[str, Any]:
    """A GET /sparql environ."""
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/sparql", "QUERY_STRING": f"query={query}",
            "SCRIPT_NAME": "", "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}


def cache(route: Route, max_entry_bytes: int = 1000) -> tuple[ResponseCache, list[bytes]]:
    """A cache in front of `route`, and the bodies of the answers it sent from memory."""
    hits: list[bytes] = []
    middleware = ResponseCache(route, lambda: "v1", lambda _env, kept, _took: hits.append(kept.body),
                               max_bytes=10_000, max_entry_bytes=max_entry_bytes)
    return middleware, hits


def served(middleware: ResponseCache, environ: dict[str, Any], chunks: int) -> tuple[list[bytes], Iterator[bytes]]:
    """The first `chunks` chunks the server sends, and the answer still open (not yet asked for more)."""
    answer = iter(middleware(environ, lambda status, headers, exc_info=None: None))
    return [next(answer) for _ in range(chunks)], answer


def test_an_answer_sent_whole_is_kept_before_the_client_can_read_it():
    route = Route([b'{"boolean": true}'])
    middleware, hits = cache(route)
    sent, _still_open = served(middleware, request(), 1)  # the client has the whole answer now
    again, _ = served(middleware, request(), 1)
    assert sent == again == [b'{"boolean": true}'] and hits == sent and route.calls == 1


def test_a_streamed_answer_is_kept_before_its_last_chunk_goes():
    route = Route([b"one ", b"two ", b"three"])
    middleware, hits = cache(route)
    sent, _still_open = served(middleware, request(), 3)
    assert hits == []
    assert sent == [b"one ", b"two ", b"three"]
    assert served(middleware, request(), 1)[0] == [b"one two three"] and route.calls == 1 and len(hits) == 1


def test_an_answer_too_large_to_keep_streams_chunk_by_chunk():
    route = Route([b"x" * 600, b"y" * 600, b"z"])
    middleware, hits = cache(route, max_entry_bytes=1000)
    sent, answer = served(middleware, request(), 1)
    assert sent == [b"x" * 600] and route.produced == 2  # the first chunk went on when the second came
    assert next(answer) == b"y" * 600 and route.produced == 2  # past the limit: nothing held back
    assert list(answer) == [b"z"]
    served(middleware, request(), 1)
    assert route.calls == 2 and hits == []


def test_an_answer_that_is_not_a_success_is_not_kept():
    route = Route([b"busy"], status="503 Service Unavailable")
    middleware, hits = cache(route)
    served(middleware, request(), 1)
    served(middleware, request(), 1)
    assert route.calls == 2 and hits == []
