"""The home page (/): what the graph holds, where it comes from, and the evidence map; and the site's icon.

Every page links its icon (static/favicon.svg); /favicon.ico, which browsers ask for on their
own (for a JSON answer, say), sends them there.

    curl -i http://127.0.0.1:8000/
    curl -i -H 'If-None-Match: W/"<etag from above>"' http://127.0.0.1:8000/   # 304 until the data changes
    curl -i http://127.0.0.1:8000/favicon.ico   # 301 to /static/favicon.svg
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for

from kgserver.config import Settings
from kgserver.dataset import LiveDataset
from kgserver.pages import evidence_map
from kgserver.pages import home as home_page
from kgserver.web import http

ICON_MAX_AGE_SECONDS = 7 * 24 * 3600  # the icon's address never changes: browsers may keep the redirect a week


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

    @blueprint.get("/favicon.ico")
    def favicon() -> Response:
        """Where the icon is, for a browser that asks the conventional address rather than reading a page's link."""
        response = redirect(url_for("static", filename="favicon.svg"), 301)
        response.headers["Cache-Control"] = f"public, max-age={ICON_MAX_AGE_SECONDS}"
        return response

    return blueprint

