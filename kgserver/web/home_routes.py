"""The home page (/): what the graph holds, where it comes from, and the evidence map.

    curl -i http://127.0.0.1:8000/
    curl -i -H 'If-None-Match: W/"<etag from above>"' http://127.0.0.1:8000/   # 304 until the data changes
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from kgserver.config import Settings
from kgserver.dataset import LiveDataset
from kgserver.pages import evidence_map
from kgserver.pages import home as home_page
from kgserver.web import http


def home_blueprint(settings: Settings, dataset: LiveDataset) -> Blueprint:
    """The / route for one dataset."""
    blueprint = Blueprint("home", __name__)

    @blueprint.get("/")
    def home() -> Response:
        """The home page, revalidated by an ETag that changes with the dataset's version."""
        etag = http.etag_value("home", dataset.version, settings.base)
        if http.is_current(request, etag, dataset.last_modified):
            return http.not_modified(etag, dataset.last_modified)
        store = dataset.store
        body = render_template(
            "home.html",
            summary=home_page.home_summary(store, settings),
            chart=evidence_map.layout(home_page.evidence_facts(store, settings), home_page.stances(store, settings)),
        )
        return http.validated(Response(body, mimetype="text/html"), etag, dataset.last_modified)

    return blueprint

