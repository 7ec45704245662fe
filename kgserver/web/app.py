"""The Flask application factory: one app per Settings and store, with no module-level state."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, jsonify, request

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.errors import KgError
from kgserver.web.sparql import sparql_blueprint


def create_app(settings: Settings, store_path: Path) -> Flask:
    """An app serving the store at `store_path`, opened read-only for the app's lifetime."""
    store = kgstore.open_read_only(store_path)
    triples = sum(kgstore.graph_sizes(store, settings.named_graphs).values())
    version = kgstore.dataset_version(store, settings)
    app = Flask(__name__)

    @app.get("/health")
    def health() -> Response:
        """Liveness and identity: the store is open, how big it is, which version it holds."""
        return jsonify(status="ok", triples=triples, version=version)

    app.register_blueprint(sparql_blueprint(settings, store))
    app.register_error_handler(KgError, _error_response)
    return app


def _error_response(error: KgError) -> tuple[Response, int]:
    """An error in the format the client prefers: JSON if it asks for it, plain text otherwise."""
    if request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json":
        return jsonify(error=error.message, status=error.http_status), error.http_status
    return Response(error.message + "\n", mimetype="text/plain"), error.http_status
