"""The SPARQL 1.1 Protocol query endpoint: request, the store's query gate, a negotiated response."""

from __future__ import annotations

from flask import Blueprint, Response, request

from kgserver import formats
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.errors import InputError

_QUERY_MEDIA_TYPE = "application/sparql-query"
_UPDATE_MEDIA_TYPE = "application/sparql-update"


def sparql_blueprint(settings: Settings, store: kgstore.Store) -> Blueprint:
    """The /sparql route bound to one store."""
    blueprint = Blueprint("sparql", __name__)

    @blueprint.route("/sparql", methods=["GET", "POST"])
    def sparql() -> Response:
        """Answer a query given as ?query=, a form field, or an application/sparql-query body."""
        result = kgstore.query(store, _query_from_request(), settings.prefixes)
        offered = formats.media_types(result)
        chosen = request.accept_mimetypes.best_match(offered) or offered[0]
        rendered = formats.render_media_type(result, chosen, settings.prefixes)
        response = Response(rendered.body, mimetype=rendered.media_type)
        response.vary.add("Accept")
        return response

    return blueprint


def _query_from_request() -> str:
    """The query text, sent in any of the protocol's three ways; updates are refused."""
    if request.method == "POST":
        if request.mimetype == _UPDATE_MEDIA_TYPE or "update" in request.form:
            raise InputError("SPARQL update is not accepted: this endpoint only answers queries")
        if request.mimetype == _QUERY_MEDIA_TYPE:
            text = request.get_data(as_text=True)
        else:
            text = request.form.get("query", "")
    else:
        text = request.args.get("query", "")
    if not text.strip():
        raise InputError(
            "no query: send it as ?query=, as a 'query' form field, or as an application/sparql-query body"
        )
    return text
