"""Jinja filters every page uses: IRIs as local links, compact names, and literal text."""

from __future__ import annotations

from flask import Flask

from kgserver.config import Settings
from kgserver.formats import compact_iri


def local_href(iri: str, settings: Settings) -> str:
    """The link for an IRI: a path on this server when the IRI is under the base, else the IRI itself.

    Pages link to resources by path, so they work on whatever host serves them.
    """
    if iri.startswith(settings.base):
        return "/" + iri[len(settings.base):]
    return iri


def install(app: Flask, settings: Settings) -> None:
    """Register the filters on the app; Flask's autoescaping stays on for every .html template."""
    app.jinja_env.filters["local_href"] = lambda iri: local_href(str(iri), settings)
    app.jinja_env.filters["curie"] = lambda iri: compact_iri(str(iri), settings.prefixes).strip("<>")
    app.jinja_env.globals["dataset_base"] = settings.base
