"""The Graph Store Protocol, read side: GET /store?graph=IRI or /store?default, one graph streamed in a graph form.

A request flows one way: which graph (kgserver.linkeddata.graph_store refuses both, neither,
or an IRI that is relative or malformed), does the dataset hold it (404 naming it), the form
(`format=`, else Accept), a current copy answered 304, then the graph streamed as the engine
writes it. Writes are refused: the dataset changes only through the curation gate.

    curl 'http://127.0.0.1:8000/store?graph=https://w3id.org/ldn-kg/graph/data'
    curl -H 'Accept: application/n-triples' 'http://127.0.0.1:8000/store?default'
"""

from __future__ import annotations

import itertools
from datetime import datetime

from flask import Blueprint, Response, request
from pyoxigraph import RdfFormat
from werkzeug.exceptions import MethodNotAllowed

from kgserver import representations
from kgserver.config import Settings
from kgserver.dataset import LiveDataset
from kgserver.linkeddata import graph_store
from kgserver.web import http

ALLOWED = ("GET", "HEAD", "OPTIONS")
_WRITES = ["PUT", "POST", "DELETE", "PATCH"]
_VARY = ("Accept", "Accept-Encoding")


def graph_store_blueprint(settings: Settings, dataset: LiveDataset) -> Blueprint:
    """/store: read one graph; every write method is a 405 that points to the curation gate."""
    blueprint = Blueprint("graph_store", __name__)

    @blueprint.route("/store", methods=["GET", "OPTIONS"])
    def read() -> Response:
        """One graph, named by ?graph=IRI or ?default, in the form asked for."""
        if request.method == "OPTIONS":
            return Response(status=204, headers={"Allow": ", ".join(ALLOWED)})
        return _answer(settings, dataset)

    @blueprint.route("/store", methods=_WRITES)
    def refuse_write() -> Response:
        """Writes go through the curation gate, which checks them and records who made them."""
        raise MethodNotAllowed(
            valid_methods=list(ALLOWED),
            description=f"{request.method} /store is refused: the graph store is read-only here; the dataset changes "
                        "only through the curation gate (POST /submissions with a curator's token, "
                        "DELETE /submissions/ID to retract)",
        )

    return blueprint


def _answer(settings: Settings, dataset: LiveDataset) -> Response:
    """Name, locate, negotiate, revalidate, then stream."""
    iri = graph_store.requested(request.args.getlist("graph"), "default" in request.args)
    state = dataset.state  # read once: a commit may move it while this request runs
    graph = graph_store.locate(iri, state, dataset.graph_sizes, settings)
    fmt = representations.choose("graph-store", request.headers.get("Accept"), request.args.get("format"))
    assert isinstance(fmt.engine, RdfFormat)
    etag = http.etag_value("store", graph.iri, graph.version, fmt.name)
    modified = graph.modified or dataset.last_modified
    if http.is_current(request, etag, modified):
        return _validated(Response(status=304), graph, etag, modified)
    if request.method == "HEAD":  # the headers only: nothing is written
        return _validated(Response(iter(()), mimetype=fmt.media_type), graph, etag, modified)  # no Content-Length: GET streams
    chunks = graph_store.stream(dataset.store, graph, fmt.engine, settings.prefixes)
    first = next(chunks, b"")  # a store that fails now fails with a status, before any byte is sent
    body = itertools.chain([first], chunks)
    response = http.encoded(request, body, fmt.media_type)
    response.call_on_close(chunks.close)  # a client that leaves stops the writer
    return _validated(response, graph, etag, modified)


def _validated(response: Response, graph: graph_store.Located, etag: str, modified: datetime) -> Response:
    """Validators, the versions the answer reflects (harvesters compare them), and where the graph is described."""
    response.headers["X-Dataset-Version"] = str(graph.dataset_version)
    response.headers["X-Graph-Version"] = str(graph.version)
    response.headers["Link"] = '</.well-known/void>; rel="describedby"; type="text/turtle"'
    return http.validated(response, etag, modified, _VARY)
