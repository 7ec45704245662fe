"""The Flask application factory: one app per Settings, ServerSettings and store, with no module-level state."""

from __future__ import annotations

import atexit
import functools
import logging
import time
from contextlib import ExitStack
from pathlib import Path

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from kgserver import store as kgstore
from kgserver.config import ServerSettings, Settings
from kgserver.curation.checks import Checker
from kgserver.dataset import LiveDataset
from kgserver.errors import (
    KgError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnavailableError,
)
from kgserver.search.live import LiveSearch, claim_directory
from kgserver.sparql.execution import QueryGate
from kgserver.store.location import StoreLocation
from kgserver.web import http, templating
from kgserver.web.curate_page_routes import curate_page_blueprint
from kgserver.web.curation_routes import curation_blueprint
from kgserver.web.forwarding import Forwarder
from kgserver.web.graph_store_routes import graph_store_blueprint
from kgserver.web.home_routes import home_blueprint
from kgserver.web.metrics import Metrics
from kgserver.web.publishing_routes import publishing_blueprint
from kgserver.web.query_page_routes import query_page_blueprint
from kgserver.web.resource_routes import resources_blueprint
from kgserver.web.response_cache import ResponseCache
from kgserver.web.search_routes import search_blueprint
from kgserver.web.sparql_routes import SparqlEndpoint, log_kept, sparql_blueprint

_HEALTH_SECONDS = 2.0  # how long /health waits for the engine's version: a load balancer's check is answered within 3 s
# The routes whose reads from an engine end by the request's time limit, as a query's do: looking a resource up and
# rendering it. The SPARQL endpoint bounds its queries in the gate. Publishing (dump files, per-version statistics),
# search (catching its index up) and curation (checks, commits) may read longer than a query may run: each of their
# reads waits the store's own limit.
_BOUNDED_READS = ("resources", "home", "query_page", "curate_page")


def create_app(settings: Settings, place: StoreLocation | Path, limits: ServerSettings | None = None) -> Flask:
    """An app serving the store at `place` (a built store's directory, or an engine), its queries run by a pool of workers."""
    limits = limits or ServerSettings.from_env()
    location = StoreLocation.of(place)
    location.require()
    dataset = LiveDataset(settings, location, writer=limits.engine_writer, time_limit=limits.query_timeout)
    metrics = Metrics()
    gate = QueryGate(location, settings.prefixes, limits, observer=metrics, version=lambda: dataset.version)
    metrics.watch(gate)
    app = Flask(__name__)
    templating.install(app, settings)
    app.config["MAX_CONTENT_LENGTH"] = limits.max_request_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = limits.max_request_bytes

    @app.get("/health")
    def health() -> Response:
        """Liveness and identity: the store is open, how big it is, which version it holds, the query processes and their limits, the search index, the writer.

        503 with Retry-After while the engine holding the store does not answer (its version not
        told within two seconds), so a load balancer sends no one to this frontend until it does.
        200 with status "degraded" on a writer that cannot count on committing (its lease lost or
        not renewed, its last commit failed): its reads still work, so it stays in the pool, and
        a monitor alerts on the status.
        """
        with kgstore.answer_by(time.monotonic() + _HEALTH_SECONDS):
            problem = dataset.engine_problem(_HEALTH_SECONDS)  # the engine's version read again, if over a second old
            version = dataset.version
            if problem:
                response = jsonify(status="unavailable", reason=problem, version=version)
                response.status_code = 503
                response.headers["Retry-After"] = "5"
                return response
            writer = dataset.writer_problem()
            return jsonify(status="degraded" if writer else "ok", **({"reason": writer} if writer else {}),
                           triples=sum(dataset.graph_sizes.values()), version=version, queries=gate.status(),
                           search=search.status(), writer=dataset.writer_status())

    @app.get("/metrics")
    def prometheus() -> Response:
        """Prometheus metrics of the SPARQL endpoint."""
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    @app.before_request
    def stamp() -> None:
        g.request_started = time.monotonic()
        http.require_utf8_escapes(request.query_string, "the URL's query string")

    @app.before_request
    def reads_within_time_limit() -> None:
        """A page's reads from an engine end by the request's time limit (503 then), as a query's do."""
        if request.blueprint in _BOUNDED_READS:
            g.reads = ExitStack()
            g.reads.enter_context(kgstore.answer_by(g.request_started + limits.query_timeout))

    @app.teardown_request
    def reads_done(_: BaseException | None) -> None:
        """The deadline ends with the request: a body streamed after it (a graph, a dump) reads at the store's pace."""
        reads = g.pop("reads", None)
        if reads is not None:
            reads.close()

    @app.after_request
    def preconditions(response: Response) -> Response:
        return http.holding_preconditions(request, response)

    @app.after_request
    def cors(response: Response) -> Response:
        return http.add_cors(request, response, limits)

    @app.after_request
    def content_security(response: Response) -> Response:
        return http.add_content_security_policy(response)

    @app.after_request
    def access_log(response: Response) -> Response:
        elapsed = time.monotonic() - g.get("request_started", time.monotonic())
        http.log_access(request.remote_addr, request.method, request.path, response.status_code, elapsed)
        return response

    endpoint = SparqlEndpoint(settings, limits, dataset, gate, metrics)
    app.register_blueprint(sparql_blueprint(endpoint))
    app.wsgi_app = ResponseCache(  # type: ignore[method-assign]
        app.wsgi_app, lambda: dataset.version, log_kept(metrics), limits.cache_bytes, limits.cache_entry_bytes
    )
    app.register_blueprint(resources_blueprint(settings, dataset))
    app.register_blueprint(query_page_blueprint(settings, dataset))
    app.register_blueprint(publishing_blueprint(settings, dataset, limits))
    app.register_blueprint(graph_store_blueprint(settings, dataset))
    app.register_blueprint(home_blueprint(settings, dataset))
    app.register_blueprint(curate_page_blueprint(settings, dataset))
    checker = Checker(settings)
    forwarder = None
    if not location.embedded and not limits.engine_writer and limits.engine_writer_url:
        forwarder = Forwarder(limits.engine_writer_url, read_seconds=limits.query_timeout + 300)
    app.register_blueprint(curation_blueprint(checker, dataset, limits, forwarder))
    store = dataset.store  # opened (for writing, if it can be) now: the server holds its store from the start
    search_dir, search_lock = claim_directory(location.local_path, writer=location.embedded or limits.engine_writer)
    search = LiveSearch(settings, search_dir, search_lock, lambda: dataset.store, lambda: dataset.state, location)
    dataset.on_commit(search.committed)
    search.start()  # caught up now, or rebuilt in the background (searches get 503 until it is done)
    app.register_blueprint(search_blueprint(settings, search))
    if limits.warm_reasoner and (location.embedded or limits.engine_writer):  # a frontend that commits nothing
        checker.warm_up(store)  # shapes prepared and HermiT's JVM started before the first check

    def close() -> None:
        """Stop the query processes and HermiT's JVM (a server stops them at exit)."""
        gate.close()
        checker.close()
        search.close()
        if forwarder is not None:
            forwarder.close()

    app.extensions["kgserver.close"] = close
    atexit.register(close)
    app.register_error_handler(KgError, _error_response)
    app.register_error_handler(
        RequestEntityTooLarge,
        lambda _: _error_response(
            PayloadTooLargeError(f"the request is larger than this server's limit of {limits.max_request_bytes} bytes")
        ),
    )
    app.register_error_handler(HTTPException, _http_error_response)
    app.register_error_handler(RuntimeError, functools.partial(_damage_response, location))
    app.register_error_handler(OSError, functools.partial(_damage_response, location))
    return app


def _damage_response(location: StoreLocation, error: Exception) -> tuple[Response, int]:
    """A damaged store (RocksDB found a block that fails its check) as a 503 to the client and one line to the operator.

    Any other RuntimeError or OSError is raised again: Flask logs its traceback and answers 500.
    """
    if not kgstore.is_damage(error):
        raise error
    told = kgstore.damaged(location.path, error).message if location.path is not None else str(error)
    logging.getLogger("kgserver").error("%s", told)
    return _error_response(kgstore.damaged_to_clients())


def _http_error_response(error: HTTPException) -> Response:
    """Flask's own errors (404, 405...) in the same formats as ours, not as an HTML page."""
    response = error.get_response()
    if error.code is None or error.code < 400:
        return response
    failure = KgError(f"{error.code} {error.name}: {error.description}")
    failure.http_status = error.code
    body, status = _error_response(failure)
    body.status_code = status
    for header in ("Allow", "WWW-Authenticate"):
        if header in response.headers:
            body.headers[header] = response.headers[header]
    return body


def _error_response(error: KgError) -> tuple[Response, int]:
    """An error in the format the client prefers: JSON if it asks for it (by Accept, or `format=json`), plain text otherwise."""
    asked = request.args.get("format", "").strip().lower()
    if (asked in ("json", "application/json")
            or request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json"):
        response = jsonify(error=error.message, status=error.http_status)
    else:
        response = Response(error.message + "\n", mimetype="text/plain")
    if isinstance(error, UnavailableError):
        response.headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, NotAcceptableError):  # what was acceptable came from Accept: a cache must key on it
        response.vary.add("Accept")
    return response, error.http_status
