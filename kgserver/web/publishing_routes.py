"""The routes that publish the dataset whole: VoID/DCAT, the dump files and the change feed with its members.

Every request reads the dataset state once and answers for that version: statistics and
dump files are computed once per version and reused, never across versions, so the routes
follow `dataset.version` without a restart.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, Response, render_template, request, send_file
from pyoxigraph import Quad, RdfFormat, Triple, serialize
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from kgserver import representations
from kgserver.config import ServerSettings, Settings
from kgserver.dataset import LiveDataset, PerVersion
from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.formats import write_triples
from kgserver.linkeddata import dumps, feed, void
from kgserver.representations import Form
from kgserver.web import http

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_DUMP_MAX_AGE = 3600
_VARY = ("Accept", "Accept-Encoding")


class NotFoundError(KgError):
    """A path that names nothing this server publishes."""

    http_status = 404


class Publisher:
    """What the routes share: the dataset, the dump cache and the per-version statistics."""

    def __init__(self, settings: Settings, dataset: LiveDataset, limits: ServerSettings) -> None:
        self.settings = settings
        self.dataset = dataset
        self.prefixes = {**settings.prefixes, **void.PREFIXES}
        self.dumps = dumps.DumpCache(dump_directory(dataset.path, limits))
        self.statistics: PerVersion[void.Statistics] = PerVersion(lambda _: void.statistics(dataset.store, settings))

    def plan(self) -> tuple[dumps.DumpSpec, ...]:
        """The dumps the current version offers."""
        return dumps.plan(self.dataset.state, self.settings, tuple(self.dataset.graph_sizes))

    def dump_files(self) -> list[dumps.DumpFile]:
        """Every dump of the current version on disk, written now if need be (once per version)."""
        plan = self.plan()
        files = [self.dumps.ensure(self.dataset.store, spec, self.prefixes) for spec in plan]
        self.dumps.prune(plan)
        return files

    def description(self) -> list[Triple]:
        """The VoID/DCAT description of the current version."""
        state = self.dataset.state
        stats = self.statistics.get(state.version)
        try:
            files = self.dump_files()
        except UnavailableError:  # dumps cannot be written (read-only disk): describe the dataset without them
            files = []
        return void.describe(self.settings, state, stats, self.dataset.graph_sizes, files)


def dump_directory(store_path: Path, limits: ServerSettings) -> Path:
    """Where dumps are cached: LDNKG_DUMP_DIR, else `<store>.dumps` beside the store (a rebuild keeps it)."""
    return limits.dump_dir or store_path.with_name(f"{store_path.name}.dumps")


def publishing_blueprint(settings: Settings, dataset: LiveDataset, limits: ServerSettings) -> Blueprint:
    """/.well-known/void and /dataset (VoID/DCAT), /dumps and its files, and /changes (the LDES feed)."""
    blueprint = Blueprint("publishing", __name__)
    publisher = Publisher(settings, dataset, limits)

    @blueprint.get("/.well-known/void")
    @blueprint.get("/dataset")
    def describe_dataset() -> Response:
        """The dataset's VoID and DCAT description, Turtle unless another RDF format is asked for; 406 if none is acceptable."""
        fmt = representations.choose("graphs", request.headers.get("Accept"), request.args.get("format"),
                                     "the dataset's description")
        return _rdf_description(publisher, fmt)

    @blueprint.get("/dataset.<suffix>")
    def describe_dataset_as(suffix: str) -> Response:
        """The same description in the form a suffix names, as a resource's suffix does (.ttl, .jsonld...)."""
        fmt = representations.by_suffix("graphs", suffix)
        if fmt is None:
            listed = ", ".join(f".{form.suffix}" for form in representations.offered("graphs"))
            raise NotFoundError(f"the dataset's description has no form .{suffix}; there are {listed}")
        return _rdf_description(publisher, fmt)

    @blueprint.get("/dumps")
    def dump_listing() -> Response:
        """The dump files: an HTML page for people, the DCAT description for RDF clients."""
        fmt = _listing_format()
        if fmt is not None:
            return _rdf_description(publisher, fmt)
        files = publisher.dump_files()
        body = render_template("dumps.html", files=files, version=dataset.state.version,
                               modified=dataset.last_modified, base=settings.base)
        response = Response(body, mimetype="text/html")
        response.headers["X-Dataset-Version"] = str(dataset.state.version)
        response.vary.add("Accept")
        return response

    @blueprint.get("/dumps/<path:name>")
    def dump_file(name: str) -> Response:
        """One dump file, streamed from disk, with its checksum, version and validators."""
        return _send_dump(publisher, name)

    @blueprint.get("/changes")
    def changes() -> Response:
        """The event stream (no parameters) or the page at ?since=V[&skip=K]."""
        return _feed(publisher)

    @blueprint.get("/changes/<step>/<name>")
    def change(step: str, name: str) -> Response:
        """A member of the stream at its IRI (/changes/v{N}/{name}), as the feed's pages describe and carry it."""
        return _member(publisher, f"{step}/{name}")

    return blueprint


def _listing_format() -> Form | None:
    """The RDF form of /dumps asked for; None when a browser (text/html first) or a client without preference gets the page."""
    accept = request.accept_mimetypes
    graphs = representations.offered("graphs")
    wants_html = accept and accept.best_match(["text/html", *(form.media_type for form in graphs)]) == "text/html"
    if not request.args.get("format") and (wants_html or not accept or accept.best == "*/*"):
        return None
    return representations.choose("graphs", accept, request.args.get("format"))


def _rdf_description(publisher: Publisher, fmt: Form) -> Response:
    """The VoID/DCAT description in `fmt`, with validators for the version it describes."""
    state = publisher.dataset.state
    etag = http.etag_value("void", state.version, fmt.name)
    if http.is_current(request, etag, publisher.dataset.last_modified):
        return _validated(Response(status=304), publisher, etag)
    output = io.BytesIO()
    assert isinstance(fmt.engine, RdfFormat)
    write_triples(publisher.description(), fmt.engine, output, publisher.prefixes)
    return _validated(http.encoded(request, output.getvalue(), fmt.media_type), publisher, etag)


def _validated(response: Response, publisher: Publisher, etag: str) -> Response:
    """The validators, the version the answer reflects (harvesters compare it), and Vary: Accept, Accept-Encoding."""
    response.headers["X-Dataset-Version"] = str(publisher.dataset.state.version)
    return http.validated(response, etag, publisher.dataset.last_modified, _VARY)


def _send_dump(publisher: Publisher, name: str) -> Response:
    """Match `name` against the current dumps only (so no path can escape the directory) and send the file."""
    specs = publisher.plan()
    spec = next((spec for spec in specs if spec.name == name), None)
    if spec is None:
        current = dumps.current_name_for(name, specs)
        hint = f"; the current version of this dump is /dumps/{current}" if current else "; see /dumps for the list"
        raise NotFoundError(f"no dump named {name!r} at dataset version {publisher.dataset.state.version}{hint}")
    file = publisher.dumps.ensure(publisher.dataset.store, spec, publisher.prefixes)
    response = send_file(
        file.path, mimetype=dumps.GZIP_MEDIA_TYPE, as_attachment=True, download_name=spec.name,
        conditional=False, etag=file.etag, last_modified=spec.modified, max_age=_DUMP_MAX_AGE,
    )
    try:  # Werkzeug's conditional answer (304, 412, 206 and If-Range), shown only the ranges we serve
        served = _ranges_to_serve(request.environ, file.size)
        response.make_conditional(served, accept_ranges=True, complete_length=file.size)
    except RequestedRangeNotSatisfiable:
        response.close()
        return _range_not_satisfiable(file.size)
    response.headers["X-Dataset-Version"] = str(spec.version)
    response.headers["Digest"] = f"sha-256={file.base64_digest}"
    response.headers["Repr-Digest"] = f"sha-256=:{file.base64_digest}:"
    response.headers["Link"] = '</.well-known/void>; rel="describedby"; type="text/turtle"'
    return response


def _ranges_to_serve(environ: WSGIEnvironment, size: int) -> WSGIEnvironment:
    """The request as Werkzeug is to see it: without a Range header that RFC 9110 (14.2) lets us ignore.

    Werkzeug answers 416 to any Range it does not serve, but a range unit it does not know MUST
    be ignored, and a range set that does not parse (`bytes=5-2`, `bytes=abc`) may be. A request
    for several ranges gets the whole file (200), which 14.2 also allows: no multipart/byteranges
    here, and clients that ask for several fall back to the whole. So does a suffix longer than
    the file (`bytes=-999999`), which 14.1.1 says selects the whole. That leaves one byte range:
    Werkzeug serves it (206) or, when it starts beyond the file, refuses it (416).
    """
    if "HTTP_RANGE" not in environ:
        return environ
    asked = parse_range_header(environ["HTTP_RANGE"])
    if asked is not None and asked.units == "bytes" and len(asked.ranges) == 1 and asked.ranges[0][0] >= -size:
        return environ
    return {name: value for name, value in environ.items() if name != "HTTP_RANGE"}


def _range_not_satisfiable(size: int) -> Response:
    """416 with the file's length (RFC 9110, 15.5.17), so a client resuming a download learns the size.

    Answered here: the app's rendering of Werkzeug's 416 keeps no Content-Range.
    """
    response = Response(f"Range Not Satisfiable: the range asked for starts beyond the file's {size} bytes\n",
                        status=416, mimetype="text/plain")
    response.headers["Content-Range"] = f"bytes */{size}"
    response.headers["Accept-Ranges"] = "bytes"
    return response


_LISTED_CHANGES = 200  # the page for people shows the latest; the feed holds every change


def _feed(publisher: Publisher) -> Response:
    """The stream's root or one page, as TriG, N-Quads or JSON-LD (pages stream member by member); a page for people."""
    fmt = _feed_format()
    state = publisher.dataset.state
    cursor = _cursor()
    if fmt is None:
        return _feed_page(publisher, cursor)
    etag = http.etag_value("changes", state.version, None if cursor is None else (cursor.since, cursor.skip), fmt.name)
    if http.is_current(request, etag, publisher.dataset.last_modified):
        return _validated(Response(status=304), publisher, etag)
    settings = publisher.settings
    if cursor is None:
        chunks: Iterator[list[Quad]] = iter([feed.root_quads(settings, state)])
    else:
        current = feed.page(_members(publisher), state.version, cursor)
        chunks = feed.page_quads(publisher.dataset.store, settings, state, current)  # read now: a failure is a 503
    return _feed_document(publisher, chunks, fmt, etag)


def _member(publisher: Publisher, path: str) -> Response:
    """A member at its IRI, in the feed's forms: 404 for one the stream does not hold, naming the one it holds instead."""
    state, settings = publisher.dataset.state, publisher.settings
    everything = _members(publisher)
    iri = f"{feed.stream_iri(settings)}/{path}"
    member = next((member for member in everything if member.iri == iri), None)
    if member is None:
        latest = feed.latest_for(everything, iri)
        if latest is None:
            raise NotFoundError(f"the change feed has no member /changes/{path}; its members are listed from /changes?since=0")
        raise NotFoundError(
            f"the change feed has no member /changes/{path}: it keeps only the latest change of each graph, and that "
            f"of <{latest.graph}> is /{latest.iri.removeprefix(settings.base)} (version {latest.version})")
    fmt = representations.choose("feed", request.headers.get("Accept"), request.args.get("format"),
                                 "a member of the change feed")
    etag = http.etag_value("change", state.version, member.iri, fmt.name)
    if http.is_current(request, etag, publisher.dataset.last_modified):
        return _validated(Response(status=304), publisher, etag)
    chunks = feed.member_quads(publisher.dataset.store, settings, member)  # its first read now: a failure is a 503
    return _feed_document(publisher, chunks, fmt, etag)


def _feed_document(publisher: Publisher, chunks: Iterator[list[Quad]], fmt: Form, etag: str) -> Response:
    """A document of the feed (its root, a page, a member) streamed in `fmt`, gzip-encoded if the client accepts it.

    `chunks` has read from the store what must be read before the status is sent (feed.py's
    `_read_now`); a store that fails after that can only end the stream, cut.
    """
    assert isinstance(fmt.engine, RdfFormat)
    body = _serialised(chunks, fmt.engine, publisher.prefixes)
    if request.method == "HEAD":
        body = iter([b"".join(body)])
    return _validated(http.encoded(request, body, fmt.media_type), publisher, etag)


def _serialised(chunks: Iterator[list[Quad]], fmt: RdfFormat, prefixes: dict[str, str]) -> Iterator[bytes]:
    """Serialise batch by batch (TriG and N-Quads allow it); JSON-LD is one document, written at the end."""
    if fmt is RdfFormat.JSON_LD:
        yield serialize([quad for chunk in chunks for quad in chunk], format=fmt, prefixes=prefixes) or b""
        return
    for chunk in chunks:
        yield serialize(chunk, format=fmt, prefixes=prefixes if fmt is RdfFormat.TRIG else None) or b""


def _feed_format() -> Form | None:
    """TriG unless N-Quads or JSON-LD is asked for, by format= or Accept; None for a browser, which gets a page."""
    accept = request.accept_mimetypes
    forms = representations.offered("feed")
    # text/html last: it wins only when preferred to the feed's forms (a browser's Accept), not on */* (curl)
    if not request.args.get("format") and accept and accept.best_match([*(form.media_type for form in forms), "text/html"]) == "text/html":
        return None
    return representations.choose("feed", accept, request.args.get("format"))


def _members(publisher: Publisher) -> tuple[feed.Member, ...]:
    """Every member of the feed at the dataset's current state."""
    state, settings = publisher.dataset.state, publisher.settings
    return feed.members(state, settings, publisher.dataset.graph_sizes.get(settings.meta_graph, 0))


def _feed_page(publisher: Publisher, cursor: feed.Cursor | None) -> Response:
    """The changes for people: the feed's members newest first (a browser downloaded the TriG instead)."""
    state, settings = publisher.dataset.state, publisher.settings
    everything = _members(publisher)
    chosen = feed.page(everything, state.version, cursor).members if cursor is not None else everything
    newest = sorted(chosen, key=lambda member: (-member.version, member.graph))
    rdf_href = "/" + (cursor.iri(settings) if cursor else feed.stream_iri(settings)).removeprefix(settings.base)
    body = render_template("changes.html", members=newest[:_LISTED_CHANGES], shown=min(len(newest), _LISTED_CHANGES),
                           total=len(newest), version=state.version, rdf_href=rdf_href)
    response = Response(body, mimetype="text/html")
    response.headers["X-Dataset-Version"] = str(state.version)
    response.vary.add("Accept")
    return response


def _cursor() -> feed.Cursor | None:
    """The page asked for by ?since=V&skip=K, or None for the stream's root."""
    since, skip = request.args.get("since"), request.args.get("skip", "0")
    if since is None:
        if "skip" in request.args:
            raise InputError("skip= needs since=")
        return None
    if not (since.isdigit() and skip.isdigit()):
        raise InputError("since= and skip= must be whole numbers, e.g. /changes?since=3")
    return feed.Cursor(int(since), int(skip))
