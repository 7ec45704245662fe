"""The least a Python frontend can be, for bench_sparql.py's floor: waitress, a WSGI app, one urllib3 POST to the engine.

    python bench/bare_frontend.py PORT ENGINE_QUERY_URL [--flask]

A GET's query string (the query and any dataset parameters: the bench sends those a kgserver
frontend would name, Virtuoso's graphs) goes to the engine as the body of a form POST, as
kgserver sends a query (a form, on a kept-alive connection from urllib3's pool), and the
engine's answer comes back as it came, with its media type. Nothing else:
no policy, limits, negotiation, counting, logging or streaming. What this adds to the engine's
time is what waitress and Python's HTTP client cost on this machine, and with `--flask`
what Flask's request handling costs on top: the floor under what any kgserver frontend adds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import urllib3
import waitress

THREADS = 8


def forwarder(engine_query_url: str) -> Callable[[str], tuple[int, str, bytes]]:
    """A function sending a query string to the engine as a form; its status, media type and body."""
    parts = urlsplit(engine_query_url)
    pool = urllib3.HTTPConnectionPool(parts.hostname or "127.0.0.1", parts.port or 80, maxsize=THREADS, block=True)
    headers = {"Accept": "application/sparql-results+json", "Content-Type": "application/x-www-form-urlencoded"}

    def forward(query_string: str) -> tuple[int, str, bytes]:
        response = pool.urlopen("POST", parts.path, body=query_string.encode(), headers=headers, retries=False)
        return response.status, response.headers.get("Content-Type", "application/octet-stream"), response.data

    return forward


def wsgi_app(forward: Callable[[str], tuple[int, str, bytes]]) -> Callable[..., Iterable[bytes]]:
    """A WSGI app with nothing in it but the forwarding."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, media_type, body = forward(environ.get("QUERY_STRING", ""))
        start_response(f"{status} -", [("Content-Type", media_type), ("Content-Length", str(len(body)))])
        return [body]

    return app


def flask_app(forward: Callable[[str], tuple[int, str, bytes]]) -> Callable[..., Iterable[bytes]]:
    """The same forwarding as one Flask route."""
    from flask import Flask, Response, request

    app = Flask(__name__)

    @app.get("/sparql")
    def sparql() -> Response:
        status, media_type, body = forward(request.query_string.decode("latin-1"))
        return Response(body, status=status, content_type=media_type)

    return app


def main() -> None:
    port, engine_query_url = int(sys.argv[1]), sys.argv[2]
    forward = forwarder(engine_query_url)
    app = flask_app(forward) if "--flask" in sys.argv[3:] else wsgi_app(forward)
    waitress.serve(app, host="127.0.0.1", port=port, threads=THREADS, _quiet=True)


if __name__ == "__main__":
    main()
