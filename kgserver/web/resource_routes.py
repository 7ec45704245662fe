"""Dereferenceable IRIs: GET /x/y answers for the IRI {base}x/y, as a page or as RDF, whatever host serves it.

A request flows one way: the path becomes an IRI (refused if it cannot be one) that the store
is asked about once, the form is chosen (suffix, then ?format=, then Accept), a current copy is
answered 304, the IRI is described (kgserver.linkeddata.describe) and, for a page, summarised,
once each, and the description is rendered last, in one pass, with Content-Location, Link
alternates, Vary, ETag and Last-Modified.

    curl -H 'Accept: text/turtle' http://127.0.0.1:8000/id/naltrexone
    curl http://127.0.0.1:8000/id/naltrexone.jsonld
    curl 'http://127.0.0.1:8000/ontology?format=nt'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields

from flask import Blueprint, Response, current_app, g, render_template, request
from pyoxigraph import NamedNode, RdfFormat, Triple, serialize
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import PathConverter

from kgserver import representations
from kgserver.config import Settings
from kgserver.dataset import LiveDataset
from kgserver.errors import InputError
from kgserver.formats import jsonld_document
from kgserver.linkeddata import describe
from kgserver.representations import Form
from kgserver.store import GraphStore
from kgserver.web import http
from kgserver.web.views import special_view

CONTEXT_PATH = "/context.jsonld"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
MAX_PATH_CHARS = 1024
_NOT_IN_IRIS = frozenset('<>"{}|\\^` ')


class ResourceNotFound(Exception):
    """No graph mentions the IRI; the route answers 404 in the chosen form."""


def resources_blueprint(settings: Settings, dataset: LiveDataset) -> Blueprint:
    """The catch-all resource route (lowest priority: every other route wins) and the JSON-LD @context."""
    blueprint = Blueprint("resources", __name__)
    blueprint.record_once(lambda state: state.app.url_map.converters.setdefault("anypath", _AnyPath))

    @blueprint.get(CONTEXT_PATH)
    def jsonld_context() -> Response:
        """The @context of every JSON-LD answer: the project's prefixes, at a stable address."""
        body = json.dumps({"@context": settings.prefixes}, indent=1).encode("utf-8")
        response = Response(body, mimetype="application/ld+json")
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    @blueprint.get("/<anypath:path>")
    def resource(path: str) -> Response:
        """The IRI {base}{path} as a page or RDF; a .ttl/.jsonld/.rdf/.nt/.html suffix fixes the form."""
        return _answer(settings, dataset, path)

    @blueprint.after_request
    def vary(response: Response) -> Response:
        """Negotiated answers, 404 and 406 included, differ by Accept; caches must know."""
        if g.get("resource_negotiated"):
            response.vary.add("Accept")
        return response

    return blueprint


class _AnyPath(PathConverter):
    """Werkzeug's path, newlines included: a path holding %0A reaches the route and its 400, not routing's 404."""

    regex = "[^/](?s:.)*?"


def _answer(settings: Settings, dataset: LiveDataset, path: str) -> Response:
    """Resolve, negotiate, revalidate, describe and render, in that order."""
    g.resource_negotiated = not request.args.get("format")  # a 400 below is worded for the Accept header
    _check_path(path)
    store = dataset.store
    resolved_path, suffix, found = _resolve(store, settings, path)
    iri = settings.base + resolved_path
    g.resource_negotiated = suffix is None and not request.args.get("format")
    rep = choose(request.headers.get("Accept"), request.args.get("format"), suffix)
    if any(segment in (".", "..") for segment in resolved_path.split("/")) or not found:
        _refuse_if_another_routes(path)
        return _not_found(iri, rep)
    etag = http.etag_value(dataset.version, iri, rep.name)  # the version is read per request: it changes
    if http.is_current(request, etag, dataset.last_modified):
        return _with_headers(Response(status=304), dataset, etag, resolved_path, rep)
    description = describe.describe(store, settings, iri)
    if rep.engine is None:
        body = _page(store, dataset, description, resolved_path).encode("utf-8")
    else:
        assert isinstance(rep.engine, RdfFormat)
        body = _serialise(list(description.triples), rep.engine, settings.prefixes)
    return _with_headers(http.encoded(request, body, rep.media_type), dataset, etag, resolved_path, rep)


def _check_path(path: str) -> None:
    """Refuse, as a 400, a path that cannot be part of an IRI: too long, control characters, spaces, <>."""
    if len(path) > MAX_PATH_CHARS:
        raise InputError(f"the path is longer than {MAX_PATH_CHARS} characters; no IRI of this dataset is that long")
    if any(char in _NOT_IN_IRIS or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in path):
        raise InputError("the path holds characters that cannot appear in an IRI (controls, spaces, <>\"{}|\\^`)")
    try:
        NamedNode("https://iri.invalid/" + path)
    except ValueError:
        raise InputError("the path is not part of a valid IRI") from None


def _resolve(store: GraphStore, settings: Settings, path: str) -> tuple[str, str | None, bool]:
    """The IRI's path, the suffix that fixes the form (None: negotiated), and whether some graph uses the IRI.

    `/id/x.ttl` is the IRI `id/x.ttl` if the dataset uses it, else `id/x` as Turtle: one look-up
    (`describe.mentions`) answers both, and the request never asks again.
    """
    stem, dot, suffix = path.rpartition(".")
    if not dot or representations.by_suffix("resources", suffix) is None or not stem or "/" in suffix:
        return path, None, describe.mentions(store, [settings.base + path]) is not None
    found = describe.mentions(store, [settings.base + path, settings.base + stem])
    if found == settings.base + path:
        return path, None, True
    return stem, suffix, found is not None


def choose(accept: str | None, format_name: str | None = None, suffix: str | None = None) -> Form:
    """The form to send: the suffix if any, else `format=`, else the best match for Accept (q-values honoured).

    No Accept header, or */*, gives Turtle. Nothing acceptable is a 406 listing what is offered.
    """
    by_suffix = representations.by_suffix("resources", suffix) if suffix is not None else None
    return by_suffix or representations.choose("resources", accept, format_name, "this resource")


def alternates(path: str) -> list[tuple[str, str, str]]:
    """(suffix, media type, href) of every form of the resource at `path`, for Link headers and pages."""
    return [(form.suffix, form.media_type, f"/{path}.{form.suffix}") for form in representations.offered("resources")]


def _with_headers(response: Response, dataset: LiveDataset, etag: str, path: str, rep: Form) -> Response:
    """Validators, the form-specific address, the alternates and (for JSON-LD) the published @context."""
    http.validated(response, etag, dataset.last_modified, ("Accept-Encoding",))
    response.headers["Content-Location"] = f"/{path}.{rep.suffix}"
    links = [f'<{href}>; rel="alternate"; type="{media_type}"' for _, media_type, href in alternates(path)]
    if rep.engine is RdfFormat.JSON_LD:
        links.append(f'<{CONTEXT_PATH}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"')
    response.headers["Link"] = ", ".join(links)
    return response


def _refuse_if_another_routes(path: str) -> None:
    """405 naming the methods for a path another route answers by other methods (GET /validate), not "no resource"."""
    adapter = current_app.url_map.bind("kgserver.invalid")
    methods = []
    for method in _OTHER_METHODS:
        try:
            endpoint, _ = adapter.match("/" + path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            methods.append(method)
    if methods:
        raise MethodNotAllowed(valid_methods=[*methods, "OPTIONS"])


_OTHER_METHODS = ("POST", "PUT", "DELETE", "PATCH")


def _not_found(iri: str, rep: Form) -> Response:
    """404: a page for browsers, a line of plain text for everything else (as Fuseki answers)."""
    message = f"No resource {iri} in this dataset. Search for it with SPARQL at /sparql.\n"
    if rep.engine is None:
        page = render_template("resource.html", not_found=True, iri=iri, message=message.strip(), **_EMPTY_PAGE)
        return Response(page, status=404, mimetype="text/html")
    return Response(message, status=404, mimetype="text/plain")


_EMPTY_PAGE: dict[str, object] = {
    "label": None, "types": [], "definition": None, "properties": [], "incoming": [],
    "incoming_truncated": False, "terms": [], "alternates": [],
}


def _page(store: GraphStore, dataset: LiveDataset, description: describe.Description, path: str) -> str:
    """The special page for the resource's kind if there is one (kgserver.web.views), else the generic page."""
    summary = describe.summarise(store, description, describe.text_origin(dataset.settings))
    context: dict[str, object] = {field.name: getattr(summary, field.name) for field in fields(summary)}
    context |= {"alternates": alternates(path), "not_found": False, "summary": summary, "description": description}
    special = special_view(dataset, description, summary)
    template, extra = special if special is not None else ("resource.html", {})
    return render_template(template, **(context | extra))


def _serialise(triples: list[Triple], fmt: RdfFormat, prefixes: Mapping[str, str]) -> bytes:
    """The triples in an RDF format; JSON-LD written against the published @context, which it embeds."""
    if fmt is RdfFormat.JSON_LD:
        return jsonld_document(triples, prefixes)
    return serialize(triples, format=fmt, prefixes=dict(prefixes)) or b""
