"""/sparql as a client sees it: a real `kgserver serve` on a loopback port, called over HTTP.

Two servers run on the built store: `server` with small limits, an allow-listed loopback
SERVICE and one CORS origin; `plain` with the defaults.
"""

from __future__ import annotations

import csv
import gzip
import http.client
import io
import os
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from pyoxigraph import Literal as OxLiteral
from pyoxigraph import QueryResultsFormat, parse_query_results
from rdflib import Graph, Literal, Namespace, URIRef
from serving import Reply, Server, fetch, serving

pytestmark = pytest.mark.slow  # times out, kills and streams with real query processes

COUNT_ALL = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
CROSS_PRODUCT = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
SPARQL_JSON = "application/sparql-results+json"
FORM = "application/x-www-form-urlencoded"
BASE = "https://w3id.org/ldn-kg/"
DATA_GRAPH = f"{BASE}graph/data"
ONTOLOGY_GRAPH = f"{BASE}graph/ontology"
ROW_CAP = 1000
MAX_BYTES = 4096
ALLOWED_ORIGIN = "https://app.example.org"
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
LDNSVC = Namespace(f"{BASE}service#")


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A listening loopback socket that a refused SERVICE or LOAD must never connect to."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


@pytest.fixture(scope="module")
def server(built_store, sources_root, tmp_path_factory, listener) -> Iterator[Server]:
    """A server with a 1000-row cap, 4 KiB requests, one CORS origin and the listener allow-listed."""
    port = listener.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "stderr.log"
    with serving(
        built_store, sources_root, log,
        "--row-cap", str(ROW_CAP), "--max-request-bytes", str(MAX_BYTES), "--query-timeout", "10",
        "--cors-origin", ALLOWED_ORIGIN, "--service-allow", f"http://127.0.0.1:{port}/sparql",
        "--service-allow", f"http://localhost:{port}/sparql",
        env={"LDNKG_QUERY_WORKERS": "2"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def plain(built_store, sources_root, tmp_path_factory) -> Iterator[Server]:
    """A server with every setting at its default."""
    log = tmp_path_factory.mktemp("serve-plain") / "stderr.log"
    with serving(built_store, sources_root, log) as running:
        yield running


def query(server: Server, sparql: str, accept: str | None = None, **params: str | list[str]) -> Reply:
    return fetch(server.sparql, headers={"Accept": accept} if accept else {}, params={"query": sparql, **params})


def post_form(server: Server, fields: dict[str, str | list[str]], accept: str | None = None) -> Reply:
    return fetch(server.sparql, "POST", {"Content-Type": FORM, **({"Accept": accept} if accept else {})}, form=fields)


def post_query(server: Server, sparql: str, **params: str) -> Reply:
    return fetch(server.sparql, "POST", {"Content-Type": "application/sparql-query"}, body=sparql.encode(), params=params)


def count(reply: Reply) -> int:
    assert reply.status == 200, reply.text
    return int(reply.json()["results"]["bindings"][0]["n"]["value"])


def rows(reply: Reply) -> list[dict]:
    assert reply.status == 200, reply.text
    return reply.json()["results"]["bindings"]


# --- protocol -------------------------------------------------------------------------------


def test_get_form_and_direct_post_give_the_same_answer(server):
    by_get = query(server, COUNT_ALL)
    by_form = post_form(server, {"query": COUNT_ALL})
    direct = post_query(server, COUNT_ALL)
    assert by_get.content_type == by_form.content_type == direct.content_type == SPARQL_JSON
    assert count(by_get) == count(by_form) == count(direct) > 0


def test_default_graph_uri_makes_that_graph_the_default(server):
    in_data = count(query(server, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <%s> { ?s ?p ?o } }" % DATA_GRAPH))
    as_default = count(query(server, COUNT_ALL, **{"default-graph-uri": DATA_GRAPH}))
    both = count(query(server, COUNT_ALL, **{"default-graph-uri": [DATA_GRAPH, ONTOLOGY_GRAPH]}))
    assert 0 < as_default == in_data < both < count(query(server, COUNT_ALL))


def test_named_graph_uri_limits_what_graph_sees(server):
    graphs = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"
    everything = {row["g"]["value"] for row in rows(query(server, graphs))}
    only_data = {row["g"]["value"] for row in rows(query(server, graphs, **{"named-graph-uri": DATA_GRAPH}))}
    assert DATA_GRAPH in everything and len(everything) > 1
    assert only_data == {DATA_GRAPH}
    assert count(query(server, COUNT_ALL, **{"named-graph-uri": DATA_GRAPH})) == 0  # empty default graph


def test_dataset_parameters_in_a_form_post(server):
    fields = {"query": COUNT_ALL, "default-graph-uri": DATA_GRAPH}
    assert count(post_form(server, fields)) == count(query(server, COUNT_ALL, **{"default-graph-uri": DATA_GRAPH}))


def test_no_query_is_400(server):
    empty_get = query(server, "  ")
    empty_form = post_form(server, {"default-graph-uri": DATA_GRAPH}, accept="application/json")
    assert empty_get.status == empty_form.status == 400
    assert empty_form.json()["error"].startswith("no query")


def test_two_query_parameters_are_400(server):
    reply = fetch(server.sparql, params={"query": [COUNT_ALL, "ASK {}"]})
    assert reply.status == 400
    assert "more than one 'query'" in reply.text


def test_syntax_error_is_400_with_line_and_column(server):
    reply = query(server, "SELECT ?s WHERE {\n  ?s ?p ?o\n} LIMIT x")
    assert reply.status == 400
    assert reply.text.startswith('SPARQL syntax error at 3:9, at "x" (after "} LIMIT"): expected a number'), reply.text


def test_wrong_content_type_is_415(server):
    reply = fetch(server.sparql, method="POST", body=COUNT_ALL.encode(), headers={"Content-Type": "text/plain"})
    assert reply.status == 415
    assert "application/sparql-query" in reply.text


def test_a_body_declared_in_another_charset_is_415(server):
    body = COUNT_ALL.encode("utf-16")
    reply = fetch(server.sparql, method="POST", body=body,
                    headers={"Content-Type": "application/sparql-query; charset=UTF-16"})
    assert reply.status == 415
    assert "must be UTF-8, not UTF-16" in reply.text


def test_a_body_that_is_not_utf8_is_400_saying_so(server):
    reply = fetch(server.sparql, method="POST", body=b"ASK { ?s ?p \xff }",
                    headers={"Content-Type": "application/sparql-query"})
    assert reply.status == 400
    assert "not valid UTF-8" in reply.text


def test_head_answers_the_headers_and_keeps_the_query_worker(server):
    processes_before = _descendants(server.pid)
    reply = fetch(server.sparql, method="HEAD", params={"query": "ASK { ?s ?p ?o . FILTER(?o != 1) }"})
    assert reply.status == 200 and reply.body == b""
    assert reply.content_type == "application/sparql-results+json"
    time.sleep(0.5)  # a killed worker would be replaced by a new process by now
    assert _descendants(server.pid) == processes_before


def test_an_unsupported_method_is_405_in_plain_text_with_allow(server):
    reply = fetch(server.sparql, method="PUT", body=COUNT_ALL.encode(),
                    headers={"Content-Type": "application/sparql-query"})
    assert reply.status == 405
    assert reply.content_type == "text/plain"
    assert reply.text.startswith("405 Method Not Allowed")
    assert "POST" in reply.headers["allow"]


def test_request_over_the_size_limit_is_413(server):
    padding = "#" + "x" * MAX_BYTES + "\n"
    assert post_query(server, padding + COUNT_ALL).status == 413
    assert post_form(server, {"query": padding + COUNT_ALL}).status == 413
    assert post_query(server, "#" + "x" * (MAX_BYTES // 2) + "\n" + COUNT_ALL).status == 200


def test_timeout_parameter_must_be_a_positive_number(server):
    assert query(server, COUNT_ALL, timeout="soon").status == 400
    assert query(server, COUNT_ALL, timeout="0").status == 400
    assert query(server, COUNT_ALL, timeout="999").status == 200  # may not raise the limit, but is accepted


# --- policy ---------------------------------------------------------------------------------


def _triples(server: Server) -> tuple[int, int]:
    health = fetch(f"{server.base}/health").json()["triples"]
    return health, count(query(server, COUNT_ALL, timeout="5"))


def _no_connection(listener: socket.socket) -> bool:
    readable, _, _ = select.select([listener], [], [], 0.3)
    return not readable


@pytest.mark.parametrize(
    "sparql",
    [
        "SELECT * WHERE { SERVICE <http://127.0.0.1:{port}/sparql> { ?s ?p ?o } }",
        "select * where { service silent <http://127.0.0.1:{port}/other> { ?s ?p ?o } }",
        "PREFIX far: <http://127.0.0.1:{port}/> SELECT * WHERE { SERVICE far:sparql { ?s ?p ?o } }",
        "SELECT * WHERE { VALUES ?e { <http://127.0.0.1:{port}/sparql> } SERVICE ?e { ?s ?p ?o } }",
        "ASK { FILTER(1<2)SERVICE?e#>\n { ?s ?p ?o } }",
    ],
    ids=["iri", "silent-lowercase", "prefixed-name", "variable", "hidden-by-less-than"],
)
def test_service_is_refused_and_nothing_is_fetched(plain, listener, sparql):
    text = sparql.replace("{port}", str(listener.getsockname()[1]))
    reply = query(plain, text)
    assert reply.status == 400
    assert reply.text.strip() == "SERVICE (federated query) is refused: this endpoint does not fetch from other servers"
    assert _no_connection(listener)


def test_allow_listed_service_on_a_loopback_host_is_still_refused(server, listener):
    port = listener.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):
        reply = query(server, f"SELECT * WHERE {{ SERVICE <http://{host}:{port}/sparql> {{ ?s ?p ?o }} }}")
        assert reply.status == 400
        assert reply.text.startswith("SERVICE (federated query) is refused")
        assert "does not resolve only to public addresses" in reply.text
    assert _no_connection(listener)


def test_the_word_service_elsewhere_is_not_the_keyword(plain):
    text = 'SELECT ?service WHERE { BIND("SERVICE <http://127.0.0.1/>" AS ?service) } # SERVICE <http://x/>'
    reply = query(plain, text)
    assert rows(reply)[0]["service"]["value"] == "SERVICE <http://127.0.0.1/>"


@pytest.mark.parametrize(
    "update",
    [
        "INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }",
        "LOAD <http://127.0.0.1:{port}/data.ttl>",
        "PREFIX ex: <urn:x:> DELETE WHERE { ?s ?p ?o }",
        "CLEAR ALL",
        "DROP GRAPH <https://w3id.org/ldn-kg/graph/data>",
    ],
)
def test_updates_are_refused_and_the_store_is_unchanged(server, listener, update):
    before = _triples(server)
    text = update.replace("{port}", str(listener.getsockname()[1]))
    for reply in (query(server, text), post_query(server, text), post_form(server, {"update": text})):
        assert reply.status == 400
        assert reply.text.strip() == "SPARQL Update is not accepted: this endpoint answers queries only"
    assert _triples(server) == before
    assert _no_connection(listener)


# --- execution: time limit, pool, row cap ---------------------------------------------------


def _descendants(pid: int) -> set[int]:
    """Every Python process below `pid` (the query workers and their forkserver), from /proc.

    The warm reasoner's JVM (and the javac that may build it) start in the background at
    server start; they are not query workers and are left out.
    """
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if stat.split("(", 1)[1].rsplit(")", 1)[0] in ("java", "javac"):
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _busiest(pids: set[int], seconds: float) -> tuple[int, int]:
    before = {pid: _cpu_ticks(pid) for pid in pids}
    time.sleep(seconds)
    deltas = {pid: _cpu_ticks(pid) - ticks for pid, ticks in before.items()}
    pid = max(deltas, key=deltas.__getitem__)
    return pid, deltas[pid]


def test_runaway_query_is_stopped_while_others_are_answered(server):
    outcome: dict[str, object] = {}

    def runaway() -> None:
        started = time.monotonic()
        outcome["reply"] = query(server, CROSS_PRODUCT, timeout="2")
        outcome["seconds"] = time.monotonic() - started

    ready = _descendants(server.pid)  # the runaway query takes one of the processes already running
    thread = threading.Thread(target=runaway)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    ask = query(server, "ASK { ?claim a ?type . FILTER(isIRI(?claim)) }")
    ask_seconds = time.monotonic() - started
    # not one the pool starts meanwhile: on a loaded machine its start can outburn a query at nice 19
    worker, ticks = _busiest(_descendants(server.pid) & ready, 0.5)
    thread.join(timeout=10)

    assert ask.status == 200 and ask.json()["boolean"] is True
    assert ask_seconds < 1.0
    assert ticks > 0, "the runaway query should be burning CPU in a worker"
    reply: Reply = outcome["reply"]  # type: ignore[assignment]
    assert reply.status == 503
    assert reply.text.strip() == "query exceeded the 2 s time limit and was stopped"
    assert reply.headers.get("retry-after")
    assert outcome["seconds"] < 2 + 2
    assert not Path(f"/proc/{worker}").exists(), "the worker running the query should have been killed"
    time.sleep(0.5)  # let the replacement worker finish starting
    _, still_burning = _busiest(_descendants(server.pid), 0.5)
    assert still_burning < 10  # ticks of 1/100 s: nothing is still computing the query
    assert count(query(server, COUNT_ALL, timeout="5")) > 0  # the pool is whole again
    metrics = fetch(f"{server.base}/metrics").text
    assert re.search(r'^kgserver_sparql_timeouts_total [1-9]', metrics, re.MULTILINE)
    assert re.search(r'^kgserver_sparql_requests_total\{status="503"\} [1-9]', metrics, re.MULTILINE)


def test_row_cap_is_signalled_never_silent(server):
    capped = query(server, "SELECT * WHERE { ?s ?p ?o }")
    assert len(rows(capped)) == ROW_CAP
    assert capped.headers["x-sparql-row-cap"] == str(ROW_CAP)
    assert capped.headers["x-sparql-truncated"] == "true"
    small = query(server, "SELECT * WHERE { ?s ?p ?o } LIMIT 5")
    assert len(rows(small)) == 5
    assert small.headers["x-sparql-row-cap"] == str(ROW_CAP)
    assert "x-sparql-truncated" not in small.headers
    exact = query(server, f"SELECT * WHERE {{ ?s ?p ?o }} LIMIT {ROW_CAP}")
    assert len(rows(exact)) == ROW_CAP and "x-sparql-truncated" not in exact.headers


def test_row_cap_applies_to_construct(server):
    reply = query(server, "CONSTRUCT WHERE { ?s ?p ?o }", accept="application/n-triples")
    assert reply.status == 200
    assert len(reply.text.strip().splitlines()) == ROW_CAP
    assert reply.headers["x-sparql-truncated"] == "true"


def test_an_answer_its_reader_stops_taking_past_the_time_limit_ends_cut_not_whole_and_the_log_says_so(plain):
    """The time limit counts the sending too. A client asks for 40 MB (10,000 triples of 4 KB), reads the head, then
    takes nothing for longer than its `timeout=`: the server stops the query process once the limit passes, and the
    connection closes before the body's end, so the client cannot take the part it got for the whole. The operator's
    log says so in one line, not waitress's traceback of an unexpected error."""
    padded = ("CONSTRUCT { ?a <urn:x-test:with> ?x } WHERE { ?a a ?t . ?b a ?t "
              f'BIND(CONCAT(STR(?b), "{"x" * 4000}") AS ?x) }}')
    assert query(plain, "ASK {}").status == 200  # a query process is up: the limit is all the big answer's
    target = urlsplit(plain.sparql)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
    try:
        asked = time.monotonic()  # the head comes in 0.4-0.6 s on a quiet machine, the rest waits for the client
        connection.request("POST", target.path, body=f"query={quote(padded)}&timeout=5",
                           headers={"Content-Type": FORM, "Accept": "application/n-triples"})
        reply = connection.getresponse()
        assert reply.status == 200 and reply.getheader("x-sparql-truncated") == "true", reply.read()
        time.sleep(asked + 6 - time.monotonic())  # the limit passes while the server waits for the client to take more
        with pytest.raises(http.client.IncompleteRead) as cut:
            reply.read()
        assert 0 < len(cut.value.partial) < 10_000 * 4000
    finally:
        connection.close()
    log = _until_logged(plain, "cut short after its head")
    assert "/sparql cut short after its head, the connection closed: " in log
    assert "Traceback" not in log and "Exception while serving" not in log


def _until_logged(server: Server, words: str, seconds: float = 10) -> str:
    """The server's log once it holds `words` (or as it is after `seconds`)."""
    deadline = time.monotonic() + seconds
    while words not in (log := server.log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return log


# --- formats and negotiation ----------------------------------------------------------------

SELECT_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}
GRAPH_TYPES = {
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
    "trig": "application/trig",
    "nquads": "application/n-quads",
}
LABELS = "SELECT ?c ?label WHERE { ?c a owl:Class ; rdfs:label ?label } ORDER BY ?c LIMIT 3"
CONSTRUCT = "CONSTRUCT { ?c rdfs:label ?label } WHERE { ?c a owl:Class ; rdfs:label ?label } ORDER BY ?c LIMIT 3"


@pytest.mark.parametrize("name", SELECT_TYPES)
def test_select_in_every_results_format(server, name):
    by_accept = query(server, LABELS, accept=SELECT_TYPES[name])
    by_name = query(server, LABELS, accept="text/turtle", format=name)
    assert by_accept.content_type == by_name.content_type == SELECT_TYPES[name]
    assert by_accept.body == by_name.body
    if name == "csv":  # lossy, so no parser reads it back: check it as a table
        table = list(csv.reader(io.StringIO(by_accept.text)))
        assert table[0] == ["c", "label"] and len(table) == 4
        return
    engine = {"json": QueryResultsFormat.JSON, "xml": QueryResultsFormat.XML, "tsv": QueryResultsFormat.TSV}[name]
    solutions = list(parse_query_results(by_accept.body, format=engine))
    assert len(solutions) == 3
    assert all(isinstance(solution["label"], OxLiteral) for solution in solutions)


@pytest.mark.parametrize("name", GRAPH_TYPES)
def test_construct_in_every_rdf_format(server, name):
    by_accept = query(server, CONSTRUCT, accept=GRAPH_TYPES[name])
    by_name = query(server, CONSTRUCT, format=name)
    assert by_accept.content_type == by_name.content_type == GRAPH_TYPES[name]
    rdflib_format = {"turtle": "turtle", "ntriples": "nt", "jsonld": "json-ld", "rdfxml": "xml",
                     "trig": "trig", "nquads": "nquads"}[name]
    graph = Graph()
    graph.parse(data=by_accept.body, format=rdflib_format)
    assert len(graph) == 3


def test_ask_as_json_and_xml(server):
    assert query(server, "ASK { ?s ?p ?o }").json() == {"head": {}, "boolean": True}
    xml = query(server, "ASK { ?s ?p ?o }", accept="application/sparql-results+xml")
    assert xml.content_type == SELECT_TYPES["xml"] and b"<boolean>true</boolean>" in xml.body


def test_accept_q_values_are_honoured(server):
    reply = query(server, LABELS, accept="text/csv;q=0.5, application/sparql-results+xml;q=0.9, */*;q=0.1")
    assert reply.content_type == SELECT_TYPES["xml"]
    assert query(server, LABELS, accept="*/*").content_type == SPARQL_JSON
    assert query(server, CONSTRUCT, accept="application/ld+json;q=0.2, text/turtle").content_type == "text/turtle"


def test_nothing_acceptable_is_406_listing_the_offer(server):
    reply = query(server, LABELS, accept="image/png")
    assert reply.status == 406
    assert all(media_type in reply.text for media_type in SELECT_TYPES.values())
    graph = query(server, CONSTRUCT, accept="text/csv")
    assert graph.status == 406 and "text/turtle" in graph.text
    assert "Accept" in reply.header_values("Vary") and "Accept" in graph.header_values("Vary")  # a cache keys on it


def test_format_that_does_not_fit_the_query_form_is_400(server):
    reply = query(server, LABELS, format="turtle")
    assert reply.status == 400 and "json, xml, csv, tsv" in reply.text


# --- service description --------------------------------------------------------------------


def _description(server: Server, accept: str | None = None, rdf_format: str = "turtle") -> Graph:
    reply = fetch(server.sparql, headers={"Accept": accept} if accept else {})
    assert reply.status == 200, reply.text
    graph = Graph()
    graph.parse(data=reply.body, format=rdf_format)
    return graph


def test_service_description_lists_formats_graphs_and_limits(server):
    graph = _description(server)
    service = URIRef(server.sparql)
    assert (service, SD.endpoint, service) in graph
    assert (service, SD.supportedLanguage, SD.SPARQL11Query) in graph
    assert {str(o) for o in graph.objects(service, SD.resultFormat)} >= {
        "http://www.w3.org/ns/formats/SPARQL_Results_JSON", "http://www.w3.org/ns/formats/Turtle"}
    assert len(set(graph.objects(service, SD.resultFormat))) == 10
    assert set(graph.objects(service, SD.feature)) == {SD.UnionDefaultGraph, SD.BasicFederatedQuery}
    assert graph.value(service, LDNSVC.rowCap) == Literal(ROW_CAP)
    assert graph.value(service, LDNSVC.maxRequestBytes) == Literal(MAX_BYTES)
    assert float(graph.value(service, LDNSVC.queryTimeoutSeconds)) == 10
    sizes = {
        str(graph.value(named, SD.name)): int(graph.value(graph.value(named, SD.graph), VOID.triples))
        for named in graph.subjects(SD.name, None)
    }
    in_data = count(query(server, "SELECT (COUNT(*) AS ?n) WHERE { GRAPH <%s> { ?s ?p ?o } }" % DATA_GRAPH))
    assert sizes[DATA_GRAPH] == in_data
    assert f"{BASE}graph/meta" in sizes


def test_head_of_the_endpoint_is_its_get_without_the_body(plain):
    """A link checker's `curl -I` sees the service description's headers, as a browser's GET does (RFC 9110, 9.3.2)."""
    got, head = fetch(plain.sparql), fetch(plain.sparql, method="HEAD")
    assert got.status == head.status == 200 and head.body == b""
    assert head.content_type == got.content_type == "text/turtle"
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.body))


def test_service_description_is_negotiated(plain):
    graph = _description(plain, accept="application/ld+json", rdf_format="json-ld")
    service = URIRef(plain.sparql)
    assert set(graph.objects(service, SD.feature)) == {SD.UnionDefaultGraph}  # no allow-list, no federation
    assert fetch(plain.sparql, headers={"Accept": "application/rdf+xml"}).content_type == "application/rdf+xml"


# --- HTTP: CORS, gzip, validators, cache, log, metrics --------------------------------------


def test_cors_for_the_configured_origin_only(server):
    allowed = fetch(server.sparql, params={"query": COUNT_ALL}, headers={"Origin": ALLOWED_ORIGIN})
    other = fetch(server.sparql, params={"query": COUNT_ALL}, headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "X-SPARQL-Truncated" in allowed.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-credentials" not in allowed.headers


def test_cors_preflight(server, plain):
    headers = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
    reply = fetch(server.sparql, method="OPTIONS", headers=headers)
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert "Content-Type" in reply.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in reply.headers
    assert "content-type" not in reply.headers and "HEAD" in reply.header_values("Allow")  # no body; as the 405 says

    anywhere = fetch(plain.sparql, method="OPTIONS", headers={**headers, "Origin": "https://any.example"})
    assert anywhere.headers["access-control-allow-origin"] == "*"


def test_a_preflight_names_the_routes_own_methods_and_a_page_may_read_a_dumps_range_and_digest(server):
    headers = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"}
    reply = fetch(f"{server.base}/id/naltrexone", method="OPTIONS", headers=headers)
    allowed = {method.strip() for method in reply.headers["access-control-allow-methods"].split(",")}
    assert allowed == {method.strip() for method in reply.headers["allow"].split(",")} and "POST" not in allowed
    read = fetch(f"{server.base}/id/naltrexone", headers={"Origin": ALLOWED_ORIGIN})
    exposed = {name.strip() for name in read.headers["access-control-expose-headers"].split(",")}
    assert {"Content-Range", "Accept-Ranges", "Repr-Digest"} <= exposed


def test_no_answer_may_be_sniffed_as_another_type(server):
    """An error echoing the request's words is plain text, and says so firmly enough for a browser."""
    for reply in (query(server, "SELECT <script>alert(1)</script>"), fetch(f"{server.base}/id/naltrexone"),
                  fetch(f"{server.base}/")):
        assert reply.headers["x-content-type-options"] == "nosniff"


def test_gzip_when_asked(server):
    plain_reply = query(server, "SELECT * WHERE { ?s ?p ?o } LIMIT 200", accept="text/csv")
    zipped = fetch(server.sparql, params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 200"},
                     headers={"Accept": "text/csv", "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain_reply.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert len(zipped.body) < len(plain_reply.body)
    assert gzip.decompress(zipped.body) == plain_reply.body


def test_etag_and_last_modified_give_304(server, built_store):
    first = query(server, LABELS)
    assert first.headers["etag"].startswith('W/"')
    assert first.headers["last-modified"].endswith("GMT")
    again = fetch(server.sparql, params={"query": LABELS}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == first.headers["etag"]
    other_format = fetch(server.sparql, params={"query": LABELS, "format": "csv"},
                           headers={"If-None-Match": first.headers["etag"]})
    assert other_format.status == 200


def test_a_wildcard_or_a_date_revalidates_only_an_answer_the_server_has_given(server):
    broken = "SELECT ?c WHERE { ?c a owl:Class"
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    for condition in ({"If-None-Match": "*"}, {"If-Modified-Since": later}):
        headers = {"Accept": SPARQL_JSON, **condition}
        fresh = f"SELECT ?c WHERE {{ ?c a owl:Class }} LIMIT 2 # {time.time_ns()}"
        assert fetch(server.sparql, params={"query": broken}, headers=headers).status == 400  # not 304: no answer
        first = fetch(server.sparql, params={"query": fresh}, headers=headers)
        assert len(rows(first)) == 2  # never answered here: run, not assumed current
        assert fetch(server.sparql, params={"query": fresh}, headers=headers).status == 304


def test_a_client_revalidating_keeps_its_connection_open(server):
    """A harvester sends If-None-Match again and again on one connection: a 304 must not close it."""
    address = urlsplit(server.base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    path = f"/sparql?query={quote(LABELS)}"
    connection.request("GET", path)
    first = connection.getresponse()
    first.read()
    etag = first.getheader("ETag")
    sock = connection.sock
    for _ in range(3):
        connection.request("GET", path, headers={"If-None-Match": etag})
        again = connection.getresponse()
        again.read()
        assert again.status == 304 and again.getheader("Connection") is None
        assert connection.sock is sock  # the same connection, not a new one
    connection.request("OPTIONS", "/sparql")
    options = connection.getresponse()
    options.read()
    assert options.status == 204 and connection.sock is sock
    connection.close()


def test_a_post_whose_tag_matches_gets_412_not_304(server):
    first = post_form(server, {"query": LABELS})
    assert first.status == 200
    matched = fetch(server.sparql, "POST", {"Content-Type": FORM, "If-None-Match": first.headers["etag"]},
                    form={"query": LABELS})
    assert matched.status == 412 and b"If-None-Match" in matched.body
    dated = fetch(server.sparql, "POST", {"Content-Type": FORM, "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
                  form={"query": LABELS})
    assert dated.status == 200 and dated.body == first.body  # a date is for GET and HEAD only


def test_repeated_query_is_served_from_the_cache_and_logged(server):
    text = "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY ?p"
    first, second = query(server, text), query(server, text)
    assert first.body == second.body
    query(server, "SELECT ?o ?s WHERE { ?s ?p ?o }")  # truncated at the cap
    assert server.query_line(r"sparql GET 200 \d+ms rows=\d+ bytes=\d+ truncated=false cached$")
    assert server.query_line(rf"sparql GET 200 \d+ms rows={ROW_CAP} bytes=\d+ truncated=true$")
    assert server.query_line(r"sparql GET 400 \d+ms rows=- bytes=0 truncated=false$")


def same_answer(first: Reply, again: Reply) -> bool:
    """The same status, body and headers, but for those the HTTP server sets per response."""
    per_response = {"date", "content-length", "transfer-encoding", "connection"}
    headers = [{k: v for k, v in reply.headers.items() if k not in per_response} for reply in (first, again)]
    return first.status == again.status and first.body == again.body and headers[0] == headers[1]


def test_a_repeated_request_is_answered_whole_from_the_response_cache(server):
    text = f"SELECT ?c ?label WHERE {{ ?c a owl:Class ; rdfs:label ?label }} ORDER BY ?c LIMIT 7 # {time.time_ns()}"
    seen = len(server.query_lines())
    first, again = query(server, text, accept=SPARQL_JSON), query(server, text, accept=SPARQL_JSON)
    assert same_answer(first, again) and again.headers["content-length"] == str(len(again.body))
    assert server.query_line(rf"rows=7 bytes={len(again.body)} truncated=false cached paged=heap$", since=seen)
    as_xml = query(server, text, accept="application/sparql-results+xml")  # another Accept: another answer
    assert as_xml.content_type == "application/sparql-results+xml"
    assert query(server, text, accept=SPARQL_JSON, format="csv").content_type == "text/csv"
    revalidated = fetch(server.sparql, params={"query": text}, headers={"Accept": SPARQL_JSON,
                                                                          "If-None-Match": again.headers["etag"]})
    assert revalidated.status == 304


def test_the_response_cache_keeps_gzip_cors_and_post_apart(server):
    text = f"SELECT ?c WHERE {{ ?c a owl:Class }} ORDER BY ?c LIMIT 5 # {time.time_ns()}"
    zipped = [fetch(server.sparql, params={"query": text}, headers={"Accept-Encoding": "gzip"}) for _ in range(2)]
    assert same_answer(*zipped) and zipped[1].headers["content-encoding"] == "gzip"
    plain = query(server, text)
    assert "content-encoding" not in plain.headers and gzip.decompress(zipped[1].body) == plain.body
    for origin, allowed in ((ALLOWED_ORIGIN, ALLOWED_ORIGIN), ("https://evil.example", None), (ALLOWED_ORIGIN, ALLOWED_ORIGIN)):
        reply = fetch(server.sparql, params={"query": text}, headers={"Origin": origin})
        assert reply.headers.get("access-control-allow-origin") == allowed
    seen = len(server.query_lines())
    posted = [post_form(server, {"query": text}, accept=SPARQL_JSON) for _ in range(2)]
    assert same_answer(*posted)
    assert server.query_line(r"sparql POST 200 \d+ms rows=5 bytes=\d+ truncated=false cached paged=heap$", since=seen)
    other = post_form(server, {"query": text.replace("LIMIT 5", "LIMIT 2")}, accept=SPARQL_JSON)
    assert len(rows(other)) == 2


def test_metrics_count_requests_and_truncations(server):
    query(server, "SELECT * WHERE { ?s ?p ?o }")  # truncated at the cap
    metrics = fetch(f"{server.base}/metrics")
    assert metrics.status == 200 and metrics.content_type == "text/plain"
    assert re.search(r'^kgserver_sparql_requests_total\{status="200"\} [1-9]', metrics.text, re.MULTILINE)
    assert re.search(r"^kgserver_sparql_truncations_total [1-9]", metrics.text, re.MULTILINE)
    assert "kgserver_sparql_request_seconds_bucket" in metrics.text


def test_format_names_clients_send_are_understood(server):
    """SPARQLWrapper sends format=xml or json whatever the query form: for a graph they mean RDF/XML, JSON-LD."""
    assert query(server, CONSTRUCT, format="xml").content_type == "application/rdf+xml"
    assert query(server, CONSTRUCT, format="json-ld").content_type == "application/ld+json"
    assert query(server, LABELS, format="xml").content_type == SELECT_TYPES["xml"]
    assert query(server, LABELS, format="text/csv").content_type == "text/csv"


def test_relative_iris_resolve_against_the_endpoint(server):
    reply = query(server, "SELECT ?x WHERE { BIND(<thing> AS ?x) }")
    assert rows(reply)[0]["x"]["value"] == f"{server.base}/thing"


def test_when_every_query_process_is_busy_the_answer_is_503_soon(built_store, sources_root, tmp_path):
    """One query process, held by a runaway query: the next query waits the queue time, then 503.

    The runaway stays light (--heavy-after past its time limit): a heavy one gives its place up,
    and the ASK, arriving at 0.3 s and waiting 0.3 s, found a process when the runaway turned
    heavy at 0.5 s of CPU (4 runs in 15).
    """
    with serving(built_store, sources_root, tmp_path / "stderr.log", "--query-workers", "1", "--max-query-workers", "1",
                 "--heavy-after", "5", env={"LDNKG_QUEUE_WAIT": "0.3"}) as single:
        thread = threading.Thread(target=query, args=(single, CROSS_PRODUCT), kwargs={"timeout": "1.5"})
        thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        busy = query(single, "ASK { ?s ?p ?o }")
        waited = time.monotonic() - started
        thread.join(timeout=10)
        assert busy.status == 503 and busy.text.startswith("server busy")
        assert waited < 1.0
        deadline = time.monotonic() + 5  # the killed process is replaced in the background
        while (reply := query(single, "ASK { ?s ?p ?o }")).status == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reply.status == 200


def test_json_results_carry_every_kind_of_term(server):
    sparql = ('SELECT ?iri ?lang ?int ?text ?blank WHERE { BIND(<https://w3id.org/ldn-kg/id/naltrexone> AS ?iri) '
              'BIND(STRLANG("naltrexone", "en") AS ?lang) BIND(4 AS ?int) BIND("a \\"quoted\\" µg\\nline" AS ?text) '
              'BIND(BNODE() AS ?blank) }')
    [row] = rows(query(server, sparql, accept="application/sparql-results+json"))
    assert row["iri"] == {"type": "uri", "value": "https://w3id.org/ldn-kg/id/naltrexone"}
    assert row["lang"] == {"type": "literal", "value": "naltrexone", "xml:lang": "en"}
    assert row["int"] == {"type": "literal", "value": "4", "datatype": "http://www.w3.org/2001/XMLSchema#integer"}
    assert row["text"] == {"type": "literal", "value": 'a "quoted" µg\nline'}
    assert row["blank"]["type"] == "bnode" and row["blank"]["value"]


TRIPLE_TERM = "SELECT ?t WHERE { BIND(<<( <https://w3id.org/ldn-kg/id/naltrexone> rdfs:label \"n\" )>> AS ?t) }"


def test_a_triple_term_reads_back_from_tsv_and_is_406_where_a_form_cannot_carry_it(server):
    tsv = query(server, TRIPLE_TERM, accept="text/tab-separated-values")
    [solution] = list(parse_query_results(tsv.body, format=QueryResultsFormat.TSV))
    assert solution["t"].subject.value == "https://w3id.org/ldn-kg/id/naltrexone"
    quoting = "CONSTRUCT { <https://w3id.org/ldn-kg/id/x> rdfs:comment ?t } WHERE { " + TRIPLE_TERM.split("WHERE { ")[1]
    for accept in ("application/ld+json", "application/rdf+xml"):
        refused = query(server, quoting, accept=accept)
        assert refused.status == 406, (accept, refused.text)
        assert "triple term" in refused.text
    assert query(server, quoting, accept="text/turtle").status == 200


def test_xml_results_keep_a_carriage_return_and_refuse_what_xml_cannot_hold(server):
    kept = query(server, 'SELECT ?x WHERE { BIND("a\\r\\nb" AS ?x) }', accept="application/sparql-results+xml")
    [solution] = list(parse_query_results(kept.body, format=QueryResultsFormat.XML))
    assert solution["x"].value == "a\r\nb"
    control = query(server, 'SELECT ?x WHERE { BIND("a\\u0001b" AS ?x) }', accept="application/sparql-results+xml")
    assert control.status == 406 and "U+0001" in control.text


def test_a_query_media_type_with_a_charset_parameter_is_that_media_type(server):
    reply = query(server, LABELS, accept="application/sparql-results+json; charset=utf-8")
    assert reply.status == 200 and reply.content_type == SPARQL_JSON


def test_a_query_without_a_form_keyword_is_a_syntax_error_not_a_406(server):
    reply = query(server, "SELEC * WHERE { ?s ?p ?o }", accept=SPARQL_JSON)
    assert reply.status == 400 and "no SELECT, ASK, CONSTRUCT or DESCRIBE" in reply.text


def test_percent_escapes_that_are_not_utf8_are_400(server):
    """Werkzeug keeps `%E9` as three characters; a client that sent Latin-1 must hear about it, not get answers."""
    sent = fetch(f"{server.sparql}?query=SELECT%20*%20WHERE%20%7B%20?s%20?p%20%22caf%E9%22%20%7D")
    assert sent.status == 400 and "not UTF-8" in sent.text
    form = fetch(server.sparql, "POST", {"Content-Type": FORM}, body=b"query=SELECT+*+WHERE+%7B+?s+?p+%22caf%E9%22+%7D")
    assert form.status == 400 and "not UTF-8" in form.text
    assert fetch(f"{server.base}/search?q=caf%E9").status == 400


def test_an_answer_for_some_origins_only_varies_by_origin_whoever_asks(server):
    for headers in ({}, {"Origin": "https://elsewhere.example"}, {"Origin": ALLOWED_ORIGIN}):
        reply = fetch(server.sparql, headers=headers, params={"query": LABELS})
        assert "Origin" in reply.header_values("Vary"), headers
    allowed = fetch(server.sparql, headers={"Origin": ALLOWED_ORIGIN}, params={"query": LABELS})
    assert "X-Dataset-Version" in allowed.headers["access-control-expose-headers"]


def test_a_function_the_engine_does_not_have_is_400_not_500(server):
    reply = query(server, "SELECT * WHERE { BIND(<http://example.org/f>(1) AS ?x) }")
    assert reply.status == 400 and "is not supported" in reply.text


def test_an_undeclared_prefix_is_named_with_the_ones_the_endpoint_declares(server):
    reply = query(server, "SELECT * WHERE { ?s foo:bar ?o }")
    assert reply.status == 400
    assert "the prefix foo: is not declared" in reply.text and "ldn:" in reply.text and "['%']" not in reply.text


@pytest.mark.parametrize(("text", "said"), [
    ("SELECT ?s (COUNT(?o) AS ?n) WHERE { ?s ?p ?o }",
     'at the end of the query (after "...) WHERE { ?s ?p ?o }"): the SELECT contains a variable that is unbound (a '
     "variable selected beside an aggregate or with GROUP BY must be grouped"),
    ("SELECT (1 AS ?x) (2 AS ?x) WHERE {}", "duplicated variable name in SELECT"),
    ("SELECT ?s WHERE { ?s ?p ?o", 'at the end of the query (after "...?s WHERE { ?s ?p ?o"): expected one of ",", ".", ";"'),
    ("SELECT * WHERE { ?s ?p ?o } LIMIT -1", 'at 1:35, at "-1" (after "...E { ?s ?p ?o } LIMIT"): expected a number'),
    ("ASK { ?s ?p ?o FILTER(?o > ) }", "the query cannot be read from here"),  # not the keywords of a rule tried last
    ("SELECT * WHERE { ?s ?p ?o FILTER(foo:f(?o)) }", "the prefix foo: is not declared"),
])
def test_a_syntax_error_says_where_and_why_without_the_parsers_character_ranges(server, text, said):
    reply = query(server, text)
    assert reply.status == 400 and reply.text.startswith("SPARQL syntax error"), reply.text
    assert said in reply.text, reply.text
    assert "..=" not in reply.text and "[_]" not in reply.text and "\n" not in reply.text.strip() and len(reply.text) < 300
