"""The /sparql route: protocol, policy, negotiation, then the query gate; results stream out.

A request flows one way: parse the protocol request, refuse what the policy refuses,
choose the format, answer 304 if the client's copy is current, run the query through the
gate, then stream the body (gzip if asked) with caching headers. A complete answer is marked
for the response cache (web/response_cache.py), which sends it again for the same request on
the same dataset version without coming here.

A browser's form (the query page without script) prefers text/html: it gets a page of the
results, drawn from the SPARQL JSON the query process writes (representations.py's html form),
under the same time limit and the page's own smaller bounds (pages/results.py), with links that
download the whole answer.

    curl -H 'Accept: text/html' --data-urlencode 'query=SELECT * WHERE { ?s a ldn:Condition }' http://127.0.0.1:8000/sparql
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Blueprint, Response, g, render_template, request

from kgserver import formats, representations
from kgserver.config import ServerSettings, Settings
from kgserver.dataset import LiveDataset
from kgserver.errors import InputError
from kgserver.pages import results
from kgserver.sparql import description, policy
from kgserver.sparql.execution import Execution, Job, QueryGate, QueryTimeoutError
from kgserver.sparql.scheduling import client_key
from kgserver.web import http
from kgserver.web import sparql_protocol as protocol
from kgserver.web.metrics import Metrics
from kgserver.web.response_cache import MARK, Keep, Kept

log = logging.getLogger("kgserver.sparql")


@dataclass
class RequestStats:
    """Facts about one request, filled in as it is answered, for the access log and the metrics."""

    started: float = field(default_factory=time.monotonic)
    rows: int | None = None
    bytes: int = 0
    truncated: bool = False
    timed_out: bool = False
    cached: bool = False
    paged: str = ""


@dataclass(frozen=True)
class SparqlEndpoint:
    """Everything the route needs, built once by the app factory."""

    settings: Settings
    limits: ServerSettings
    dataset: LiveDataset
    gate: QueryGate
    metrics: Metrics
    answered: http.AnsweredTags = field(default_factory=http.AnsweredTags)


def sparql_blueprint(endpoint: SparqlEndpoint) -> Blueprint:
    """The /sparql route bound to one query gate."""
    blueprint = Blueprint("sparql", __name__)

    @blueprint.before_request
    def start() -> None:
        g.sparql_stats = RequestStats()

    @blueprint.after_request
    def account(response: Response) -> Response:
        """Log and count the request once its body has been sent (or abandoned)."""
        stats: RequestStats = g.get("sparql_stats") or RequestStats()  # none when the app refused it before `start`
        method, status = request.method, response.status_code
        if method != "OPTIONS":
            response.call_on_close(lambda: _finish(endpoint.metrics, method, status, stats))
        return response

    @blueprint.route("/sparql", methods=["GET", "POST", "OPTIONS"])
    def sparql() -> Response:
        """Answer a query given as ?query=, a form field, or an application/sparql-query body."""
        if request.method == "OPTIONS":
            return http.preflight()
        if protocol.wants_description(request):
            return _service_description(endpoint)
        return _answer(endpoint, g.sparql_stats)

    return blueprint


def _answer(endpoint: SparqlEndpoint, stats: RequestStats) -> Response:
    """Run a query and stream the negotiated serialisation; mark it for the response cache once complete."""
    query = protocol.parse(request, endpoint.limits)
    analysis = policy.check(query.text, endpoint.limits.service_allow,
                            dataset=(*(query.default_graphs or ()), *(query.named_graphs or ())))
    if analysis.form is None:  # else a typo (SELEC) would be negotiated as a graph and answered 406
        raise InputError("SPARQL syntax error: the query has no SELECT, ASK, CONSTRUCT or DESCRIBE")
    kind = "results" if analysis.form in ("SELECT", "ASK") else "graphs"
    fmt = representations.choose(kind, request.headers.get("Accept"), query.format_name,
                                 f"{analysis.form or 'these'} results")
    written = representations.BY_NAME[fmt.drawn_from] if fmt.drawn_from else fmt  # what the query process writes
    version = endpoint.dataset.version  # read once: a commit may move it while this request runs
    base = request.base_url
    etag = http.etag_value(version, query.text, query.default_graphs, query.named_graphs, fmt.name, base)
    if http.is_current(request, etag, endpoint.dataset.last_modified, known=etag in endpoint.answered):
        return http.not_modified(etag, endpoint.dataset.last_modified, _VARY, request.method)
    row_cap = endpoint.limits.row_cap if written is fmt else min(endpoint.limits.row_cap, results.PAGE_ROWS)
    job = Job(query.text, written.name, query.default_graphs, query.named_graphs, row_cap, base, version, analysis.order)
    client = client_key(request.remote_addr, request.user_agent.string, request.headers.get("Authorization"))
    try:
        execution = endpoint.gate.execute(job, query.timeout, client, analysis.shape)
    except QueryTimeoutError:
        stats.timed_out = True
        raise
    head = execution.head
    stats.rows, stats.truncated, stats.paged = head.rows, head.truncated, head.paged
    environ = request.environ

    def complete() -> None:
        environ[MARK] = Keep(version, head)
        endpoint.answered.add(etag)

    whole = execution.whole
    if written is not fmt:  # a page, drawn from the whole answer once it has all come
        answer = whole if whole is not None else _read_through(execution, stats, results.PAGE_BYTES)
        whole = _results_page(endpoint, query, head.truncated, answer)
    body: bytes | Iterable[bytes]
    if whole is not None:  # the answer came whole: sent with a Content-Length, so the connection stays open
        body = whole
        stats.bytes = len(whole)
        complete()
    else:
        body = _counted(execution, stats, complete)
        if request.method == "HEAD":  # read the body through, so the worker goes back to the pool
            body = b"".join(body)
    response = http.encoded(request, body, fmt.media_type)
    response.headers["X-SPARQL-Row-Cap"] = str(endpoint.limits.row_cap)
    if head.truncated:
        response.headers["X-SPARQL-Truncated"] = "true"
    response.call_on_close(execution.close)
    return http.validated(response, etag, endpoint.dataset.last_modified, _VARY)


_VARY = ("Accept", "Accept-Encoding")


def _read_through(execution: Execution, stats: RequestStats, limit: int) -> bytes | None:
    """A streamed answer read whole, or None past `limit` bytes; the process is stopped unless read to its end."""
    chunks, size = [], 0
    try:
        for chunk in _counted(execution, stats, lambda: None):
            size += len(chunk)
            if size > limit:
                execution.close()
                return None
            chunks.append(chunk)
    except BaseException:
        execution.close()
        raise
    return b"".join(chunks)


def _results_page(endpoint: SparqlEndpoint, query: protocol.QueryRequest, truncated: bool, answer: bytes | None) -> bytes:
    """The results as a page: the query (with links to edit it and to download the answer), then the table.

    None for `answer`: too large to show, so the page offers the downloads only.
    """
    return render_template(
        "results.html",
        table=results.read(answer, endpoint.settings.prefixes) if answer is not None else None,
        query=query,
        truncated=truncated,
        page_rows=results.PAGE_ROWS,
        page_bytes=results.PAGE_BYTES,
        row_cap=endpoint.limits.row_cap,
        editable=len(query.text) <= results.EDITABLE_CHARACTERS,
        downloads=[(form, _download_href(query, form)) for form in representations.offered("results") if form.engine is not None],
    ).encode("utf-8")


def _download_href(query: protocol.QueryRequest, form: representations.Form) -> str:
    """The address of the answer as a file, for a link the browser saves under a name (the page's download links)."""
    fields = [("query", query.text), *(("default-graph-uri", graph) for graph in query.default_graphs or ()),
              *(("named-graph-uri", graph) for graph in query.named_graphs or ()), ("format", form.name)]
    return "/sparql?" + urlencode(fields)


def _counted(chunks: Iterable[bytes], stats: RequestStats, complete: Callable[[], None]) -> Iterator[bytes]:
    """Pass the body through, counting bytes; call `complete` once the last chunk has gone."""
    try:
        for chunk in chunks:
            stats.bytes += len(chunk)
            yield chunk
    except QueryTimeoutError:
        stats.timed_out = True
        raise
    complete()


def _service_description(endpoint: SparqlEndpoint) -> Response:
    """The sd:Service, in the RDF format the client prefers (Turtle by default)."""
    fmt = representations.choose("graphs", request.headers.get("Accept"), request.args.get("format"))
    triples = description.describe(
        request.base_url, endpoint.settings, endpoint.limits, endpoint.dataset.graph_sizes
    )
    output = io.BytesIO()
    formats.write_triples(triples, fmt.engine, output, description.prefixes(endpoint.settings))  # type: ignore[arg-type]
    response = Response(output.getvalue(), mimetype=fmt.media_type)
    response.vary.add("Accept")
    return response


def _finish(metrics: Metrics, method: str, status: int, stats: RequestStats) -> None:
    """One access-log line and the metrics for a finished request."""
    seconds = time.monotonic() - stats.started
    metrics.observe(status, seconds, stats.timed_out, stats.truncated)
    log.info(
        "sparql %s %d %.0fms rows=%s bytes=%d truncated=%s%s%s%s",
        method,
        status,
        seconds * 1000,
        "-" if stats.rows is None else stats.rows,
        stats.bytes,
        "true" if stats.truncated else "false",
        " cached" if stats.cached else "",
        f" paged={stats.paged}" if stats.paged else "",
        " timeout" if stats.timed_out else "",
    )


def log_kept(metrics: Metrics) -> Callable[[dict[str, object], Kept, float], None]:
    """What the response cache calls for each answer it sends: the same log line and metrics as the route's."""

    def logged(environ: dict[str, object], kept: Kept, seconds: float) -> None:
        method = str(environ.get("REQUEST_METHOD"))
        head = kept.keep.head
        stats = RequestStats(time.monotonic() - seconds, head.rows, len(kept.body), head.truncated,
                             cached=True, paged=head.paged)
        status = int(kept.status.split()[0])
        http.log_access(str(environ.get("REMOTE_ADDR")), method, str(environ.get("PATH_INFO")), status, seconds)
        _finish(metrics, method, status, stats)

    return logged
