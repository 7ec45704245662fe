"""The routes that publish the dataset whole: VoID/DCAT, the dump files and the change feed.

Every request reads the dataset state once and answers for that version: statistics and
dump files are computed once per version and reused, never across versions, so the routes
follow `dataset.version` without a restart.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, Response, render_template, request, send_file
from pyoxigraph import Quad, RdfFormat, Triple, serialize

from kgserver import representations
from kgserver.config import ServerSettings, Settings
from kgserver.dataset import LiveDataset, PerVersion
from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.formats import write_triples
from kgserver.linkeddata import dumps, feed, void
from kgserver.representations import Form
from kgserver.web import http

_DUMP_MAX_AGE = 3600


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
        """The dataset's VoID and DCAT description, Turtle unless another RDF format is asked for."""
        return _rdf_description(publisher, _graph_format(prefer_html=False))

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
        fmt = _graph_format(prefer_html=True)
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

    return blueprint


def _graph_format(prefer_html: bool) -> Form | None:
    """The RDF form asked for; None when a person's browser (text/html first) should get a page."""
    accept = request.accept_mimetypes
    graphs = representations.offered("graphs")
    wants_html = accept and accept.best_match(["text/html", *(form.media_type for form in graphs)]) == "text/html"
    if not request.args.get("format") and (wants_html or (prefer_html and (not accept or accept.best == "*/*"))):
        return None if prefer_html else graphs[0]
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
    return _validated(Response(output.getvalue(), mimetype=fmt.media_type), publisher, etag)


def _validated(response: Response, publisher: Publisher, etag: str) -> Response:
    """The validators, the version the answer reflects (harvesters compare it), and Vary: Accept."""
    response.headers["X-Dataset-Version"] = str(publisher.dataset.state.version)
    return http.validated(response, etag, publisher.dataset.last_modified, ("Accept",))


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
        conditional=True, etag=file.etag, last_modified=spec.modified, max_age=_DUMP_MAX_AGE,
    )
    response.headers["X-Dataset-Version"] = str(spec.version)
    response.headers["Digest"] = f"sha-256={file.base64_digest}"
    response.headers["Repr-Digest"] = f"sha-256=:{file.base64_digest}:"
    response.headers["Link"] = '</.well-known/void>; rel="describedby"; type="text/turtle"'
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
        chunks = feed.page_quads(publisher.dataset.store, settings, state, current)
    assert isinstance(fmt.engine, RdfFormat)
    body = _serialised(chunks, fmt.engine, publisher.prefixes)
    if request.method == "HEAD":
        body = iter([b"".join(body)])
    return _validated(Response(body, mimetype=fmt.media_type), publisher, etag)


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
