"""A store held by a SPARQL engine answers through GraphStore exactly as the embedded store does: the contract suite.

The built store's quads are loaded into each real engine on loopback (`engine`, conftest.py:
Oxigraph's server, the binary the `oxigraph` wheel ships, and Virtuoso from Debian's
packages); the same reads then go to the engine's store and the embedded one through the
functions the modules use (the query gate, graphs read whole, sizes, the version,
descriptions, blank nodes included), and must agree. An update goes to the engine and reads
back; a failed, cut or unreachable answer is an error, never an empty answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import socket
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from engines import KNOWN_DIFFERENCES, Engine, concatenations, joined_values
from pyoxigraph import (
    BlankNode,
    NamedNode,
    QueryBoolean,
    QueryResultsFormat,
    QuerySolutions,
    RdfFormat,
    parse_query_results,
)
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic

from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.errors import InputError, KgError, UnavailableError
from kgserver.linkeddata import describe
from kgserver.sparql.worker import CHUNK_BYTES, Job, answer
from kgserver.store.dialects import DIALECTS, OXIGRAPH, VIRTUOSO
from kgserver.store.remote import Credentials, RemoteStore

pytestmark = pytest.mark.slow  # starts the engines

QUERIES = sorted((Path(__file__).resolve().parent.parent / "queries").glob("cq*.rq"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="module")
def embedded(built_store: Path) -> Iterator[kgstore.GraphStore]:
    store = kgstore.open_read_only(built_store)
    yield store
    del store


@pytest.fixture(scope="module")
def remote(engine: Engine) -> Iterator[RemoteStore]:
    credentials = Credentials(*engine.credentials) if engine.credentials else None
    store = RemoteStore(engine.base, DIALECTS[engine.name], credentials, connect_seconds=2, read_seconds=20)
    yield store
    store.close()


def _rows(result: object, concatenated: dict[str, str] | None = None) -> list[tuple[str, ...]] | bool:
    """An answer as sorted rows of N-Triples terms (or the boolean), to compare two stores' answers.

    A GROUP_CONCAT's value (`concatenated`: variable -> separator) is compared as its parts in
    one order, the one thing the standard fixes about it (engines.concatenations).
    """
    if isinstance(result, QueryBoolean):
        return bool(result)
    assert isinstance(result, QuerySolutions)
    names = [variable for variable in result.variables]
    concatenated = concatenated or {}

    def term(row, name) -> str:
        value = row[name]
        if value is None:
            return ""
        if name.value in concatenated:
            return joined_values(value.value, concatenated[name.value])
        return str(value)

    return sorted(tuple(term(row, name) for name in names) for row in result)


@pytest.mark.parametrize("path", QUERIES, ids=[path.stem for path in QUERIES])
def test_every_competency_query_gets_the_same_answer_from_both_stores(path, embedded, remote, settings, request):
    _expect_known_difference(request, remote.dialect.name, path.stem)
    text = path.read_text(encoding="utf-8")
    mine = _rows(kgstore.query(embedded, text, settings.prefixes), concatenations(text))
    theirs = _rows(kgstore.query(remote, text, settings.prefixes), concatenations(text))
    assert theirs == mine and mine  # and the question has an answer


def test_each_named_graph_reads_back_whole_with_the_same_size(embedded, remote, settings):
    for graph in settings.named_graphs:
        assert isomorphic(kgstore.read_graph(remote, graph), kgstore.read_graph(embedded, graph)), graph
    assert kgstore.graph_sizes(remote, settings.named_graphs) == kgstore.graph_sizes(embedded, settings.named_graphs)
    assert kgstore.dataset_version(remote, settings) == kgstore.dataset_version(embedded, settings) is not None
    turtle = remote.dump(format=RdfFormat.TURTLE, from_graph=NamedNode(settings.data_graph), prefixes=settings.prefixes)
    assert isomorphic(Graph().parse(data=turtle, format="turtle"), kgstore.read_graph(embedded, settings.data_graph))
    assert remote.contains_named_graph(NamedNode(settings.data_graph))
    assert not remote.contains_named_graph(NamedNode("https://example.org/no-such-graph"))


def test_a_query_too_long_for_a_url_is_sent_as_a_form_and_answered_the_same(embedded, remote, settings):
    """A text of more than 4,000 characters, too long for many servers' URLs, is answered as a short one is: every
    query goes to the engine as a form POST (never a raw query body, which Virtuoso hangs on)."""
    classes = [row[0] for row in _rows(kgstore.query(embedded, "SELECT ?c WHERE { ?c a owl:Class }", settings.prefixes))]
    values = " ".join(term for term in classes if term.startswith("<")) + " <https://example.org/none>" * 120
    text = f"SELECT ?c ?label WHERE {{ VALUES ?c {{ {values} }} ?c rdfs:label ?label }} ORDER BY ?c ?label"
    assert len(text) > 4000 and classes
    assert _rows(kgstore.query(remote, text, settings.prefixes)) == _rows(kgstore.query(embedded, text, settings.prefixes))


def test_named_graphs_are_sent_only_to_a_query_that_has_a_graph_pattern(remote):
    """Virtuoso is told the dataset's graphs one by one; GRAPH alone reads the named ones, and each costs it time."""
    plain = remote.dataset_parameters('SELECT ?s WHERE { ?s ?p "GRAPH" } # GRAPH in a string and a comment')
    graphs = remote.dataset_parameters("SELECT ?g WHERE { graph ?g { ?s ?p ?o } }")
    if remote.dialect.names_dataset_graphs:
        assert {name for name, _ in plain} == {"default-graph-uri"}
        assert {name for name, _ in graphs} == {"default-graph-uri", "named-graph-uri"}
        given = remote.dataset_parameters("SELECT ?s WHERE { GRAPH ex:g { ?s ?p ?o } }", {"ex": "https://example.org/"})
        assert ("named-graph-uri", "https://example.org/g") in given  # a prefix sent before the text, not declared in it
    else:
        assert plain == graphs == list(remote.dialect.union_default_graph.items())
    answer = remote.query("SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }", use_default_graph_as_union=True)
    assert int(next(iter(answer))["n"].value) == len(remote.dataset_graphs())  # type: ignore[arg-type, index]


def test_a_graph_larger_than_one_engine_answer_is_read_whole_in_parts(embedded, remote, settings):
    """Virtuoso builds at most MaxVectorSize triples into one answer (its Graph Store read of a 1M-triple graph fails).

    With the limit set below the data graph's size but above its largest predicate's count,
    the graph is read one predicate at a time and comes back whole, each subject's triples
    together (the search index's build relies on it); below the largest
    predicate's count, the read is an error that names the limit.
    """
    counts = [int(row["n"].value) for row in embedded.query(
        f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{settings.data_graph}> {{ ?s ?p ?o }} }} GROUP BY ?p")]
    assert sum(counts) > max(counts)
    paged = RemoteStore(remote.url, dataclasses.replace(remote.dialect, graph_read_triples=max(counts)))
    try:
        expected = kgstore.read_graph(embedded, settings.data_graph)
        assert isomorphic(kgstore.read_graph(paged, settings.data_graph), expected)
        ntriples = paged.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(settings.data_graph))
        assert isomorphic(Graph().parse(data=ntriples, format="nt"), expected)
        runs = [subject for subject, _ in itertools.groupby(line.split(b" ", 1)[0] for line in ntriples.splitlines())]
        assert len(runs) == len(set(runs))  # each subject's triples together, as a whole read gives them
        small = RemoteStore(remote.url, dataclasses.replace(remote.dialect, graph_read_triples=max(counts) - 1))
        with pytest.raises(KgError, match=f"more than {remote.dialect.name} puts in one answer"):
            small.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(settings.data_graph))
        small.close()
    finally:
        paged.close()


def test_an_iri_is_described_the_same_from_both_stores(embedded, remote, settings):
    for path in ("naltrexone", "fibromyalgia", "low-dose-naltrexone"):
        iri = f"{settings.base}id/{path}"
        mine, theirs = describe.describe(embedded, settings, iri), describe.describe(remote, settings, iri)
        assert sorted(map(str, theirs.triples)) == sorted(map(str, mine.triples)) and mine.triples, iri


def _expect_known_difference(request: pytest.FixtureRequest, engine: str, query: str) -> None:
    """Mark a known difference of an engine's answer as a strict xfail: it runs, and must fail for that reason."""
    reason = KNOWN_DIFFERENCES.get((engine, query))
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


BLANK_DESCRIBED = ("ontology#RegulatoryStatus", "ontology#ReceptorInteraction")  # subclasses of owl:Restrictions


def test_an_iri_whose_description_holds_blank_nodes_is_described_the_same(embedded, remote, settings):
    for path in BLANK_DESCRIBED:
        iri = f"{settings.base}{path}"
        mine, theirs = describe.describe(embedded, settings, iri), describe.describe(remote, settings, iri)
        assert any(isinstance(triple.object, BlankNode) for triple in mine.triples), iri
        assert isomorphic(_graph(theirs.triples), _graph(mine.triples)), iri


def test_a_blank_node_of_one_answer_is_found_again(remote, settings):
    """Virtuoso names it (<nodeID://b123>); Oxigraph's server is asked again by the path from the IRI that led to it."""
    restriction = [quad.object for quad in remote.quads_for_pattern(NamedNode(f"{settings.base}ontology#RegulatoryStatus"),
                                                                     None, None) if isinstance(quad.object, BlankNode)]
    assert restriction
    about = list(remote.quads_for_pattern(restriction[0], None, None))
    assert about and all(quad.subject == restriction[0] for quad in about)
    assert {quad.subject.value for quad in remote.quads_for_pattern(None, None, restriction[0])} == {
        f"{settings.base}ontology#RegulatoryStatus"}


def _graph(triples) -> Graph:
    return Graph().parse(data="\n".join(f"{triple} ." for triple in triples), format="nt")


def test_an_update_is_applied_by_the_engine_and_reads_back(remote):
    graph = "https://example.org/scratch"
    remote.update(f'INSERT DATA {{ GRAPH <{graph}> {{ <https://example.org/a> <https://example.org/b> "c" }} }}')
    assert [str(quad.object) for quad in remote.quads_for_pattern(None, None, None, NamedNode(graph))] == ['"c"']
    remote.update(f"DROP SILENT GRAPH <{graph}>")  # as kgserver commits: Virtuoso refuses DROP GRAPH without SILENT
    # for a graph that was never made with CREATE GRAPH (22023 "has not been explicitly created")
    assert not remote.contains_named_graph(NamedNode(graph))


def test_a_graph_made_through_one_store_is_in_the_dataset_of_another_of_the_same_engine_at_once(remote, engine):
    """A frontend holds two stores of its engine (the dataset's and its queries'): they share the list of graphs."""
    graph = "https://example.org/shared-list"
    queries = RemoteStore(engine.base, DIALECTS[engine.name], connect_seconds=2, read_seconds=20)
    try:
        assert graph not in queries.dataset_graphs()  # read now, and kept for a second
        remote.update(f'INSERT DATA {{ GRAPH <{graph}> {{ <https://example.org/a> <https://example.org/b> "c" }} }}')
        assert graph in queries.dataset_graphs()
        remote.update(f"DROP SILENT GRAPH <{graph}>")
        assert graph not in queries.dataset_graphs()
    finally:
        remote.update(f"DROP SILENT GRAPH <{graph}>")
        queries.close()


def test_a_refused_update_and_a_bad_query_are_errors_that_say_so(remote):
    with pytest.raises(KgError, match="refused the update"):
        remote.update("INSERT DATA { this is not SPARQL }")
    with pytest.raises(InputError, match="SPARQL error"):
        remote.query("SELECT * WHERE { ?s ?p }")


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=DIALECTS)
def test_an_engine_that_is_not_there_is_unavailable_not_empty(dialect):
    store = RemoteStore(f"http://127.0.0.1:{_free_port()}", dialect, connect_seconds=0.5, read_seconds=1)
    with pytest.raises(UnavailableError) as gone:
        store.query("ASK { ?s ?p ?o }")
    assert gone.value.http_status == 503 and "the store is unavailable" in gone.value.message


def test_a_read_past_its_querys_deadline_stops_and_closes_the_engines_connection():
    """An engine that never answers: the read ends at the deadline, not at the store's own read timeout, and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    closed = threading.Event()

    def silent_engine() -> None:
        connection, _ = listener.accept()
        connection.settimeout(10)
        while connection.recv(65536):  # read the request, answer nothing, until the client hangs up
            pass
        closed.set()

    threading.Thread(target=silent_engine, daemon=True).start()
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=30)
    started = time.monotonic()
    with pytest.raises(KgError) as stopped, kgstore.answer_by(started + 0.5):
        store.query("ASK { ?s ?p ?o }")
    assert stopped.value.http_status == 503 and "time limit" in stopped.value.message
    assert time.monotonic() - started < 1.5
    assert closed.wait(2), "the connection to the engine stayed open past the deadline"
    listener.close()


def _engine_sending(
    parts: list[bytes], then_hold: bool, status: bytes = b"200 OK", media_type: bytes = b"application/sparql-results+json",
) -> tuple[socket.socket, threading.Event]:
    """A loopback 'engine' that answers one request with `parts` (a chunked body), then holds the line or ends it."""
    listener = socket.create_server(("127.0.0.1", 0))
    hung_up = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + media_type + b"\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
        for part in parts:
            connection.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        if not then_hold:
            connection.sendall(b"0\r\n\r\n")
        connection.settimeout(10)
        try:
            while connection.recv(65536):
                pass
        except OSError:
            pass
        hung_up.set()

    threading.Thread(target=serve, daemon=True).start()
    return listener, hung_up


def _json_rows(count: int) -> bytes:
    return b",".join(b'{"s":{"type":"uri","value":"http://example.org/%d"}}' % i for i in range(count))


def test_an_answer_is_read_as_it_arrives_and_no_further_than_the_rows_taken():
    """The engine sends 20,000 rows and never ends its answer: the first rows are had at once, and the line is hung up."""
    listener, hung_up = _engine_sending([b'{"head":{"vars":["s"]},"results":{"bindings":[', _json_rows(20000) + b","], True)
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=30)
    started = time.monotonic()
    result = store.query("SELECT ?s WHERE { ?s ?p ?o }")
    first = [next(iter(result)) for _ in range(3)]
    assert len(first) == 3 and time.monotonic() - started < 5, "the answer was awaited whole"
    del result, first
    assert hung_up.wait(5), "the engine's connection was kept after the answer was dropped"
    listener.close()


def test_a_graph_answer_is_read_to_the_row_cap_and_one_more_then_hung_up():
    """A CONSTRUCT whose engine sends 20,000 triples and never ends: the frontend keeps cap+1 distinct ones, no more.

    The engine knows no row cap, so it may send a whole graph; before, the answer was read
    whole into memory (and a frontend held it all) before the cap cut it.
    """
    lines = b"".join(b"<http://example.org/s%d> <http://example.org/p> <http://example.org/o> .\n" % i
                     for i in range(20000))
    duplicate = b"<http://example.org/s0> <http://example.org/p> <http://example.org/o> .\n"
    listener, hung_up = _engine_sending([duplicate * 5, lines], True, media_type=b"application/n-triples")
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=30)
    started = time.monotonic()
    with kgstore.answer_by(started + 20, most_triples=11):
        result = store.query("CONSTRUCT WHERE { ?s ?p ?o }")
    assert len(list(result)) == 11  # distinct: the five repeats of the first triple count once
    assert time.monotonic() - started < 5, "the answer was awaited whole"
    assert hung_up.wait(5), "the engine's connection was kept after the triples needed were read"
    listener.close()


def test_an_answer_that_breaks_off_with_the_engines_cancellation_is_an_error_not_a_short_result():
    """Oxigraph's server may send rows, then its cancellation text: that is an error, never the rows so far."""
    listener, _ = _engine_sending(
        [b'{"head":{"vars":["s"]},"results":{"bindings":[', _json_rows(5000), b"The SPARQL operation has been cancelled"], False)
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=30)
    with pytest.raises(KgError) as broken:
        list(store.query("SELECT ?s WHERE { ?s ?p ?o }"))
    assert "cancelled" in broken.value.message and broken.value.http_status == 502
    listener.close()


def test_an_engine_that_fails_is_a_bad_gateway_with_its_own_words():
    """Virtuoso past its MaxQueryExecutionTime answered 500 with part of a result: the frontend says 502, not 500."""
    listener, _ = _engine_sending([b'{"head":{"vars":["s"]},"results":{"bindings":[', _json_rows(3)], False,
                                  status=b"500 SPARQL Request Failed")
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", VIRTUOSO, read_seconds=30)
    with pytest.raises(KgError) as failed:
        list(store.query("SELECT ?s WHERE { ?s ?p ?o }"))
    assert failed.value.http_status == 502 and failed.value.message.startswith("virtuoso answered 500: {")
    listener.close()


def test_a_cancelled_answer_sent_with_200_is_an_error():
    assert OXIGRAPH.failure({}, b"The SPARQL operation has been cancelled") is not None
    assert OXIGRAPH.failure({}, b'{"head":{"vars":[]}') is None
    assert VIRTUOSO.failure({"X-SQL-State": "S1TAT"}, b'{"head":{"vars":[]}') is not None
    assert VIRTUOSO.failure({}, b'{"head":{"vars":[]}') is None


def test_credentials_never_show_in_a_representation():
    secret = Credentials("dba", "s3cret")
    assert "s3cret" not in repr(secret) and "s3cret" not in str(secret)


# --- the command line, pointed at the engine -------------------------------------------------------


def test_the_query_command_answers_the_same_from_the_engine_as_from_the_store(kgserver, built_store, engine):
    count = "SELECT ?stance (COUNT(?c) AS ?n) WHERE { ?c ldn:stance ?stance } GROUP BY ?stance ORDER BY ?stance"
    local = kgserver("query", "--store", built_store, count)
    remote = kgserver("query", "--engine", engine.name, "--engine-url", engine.base, count)
    assert remote.returncode == 0 and remote.stdout == local.stdout and "ldn:Supports" in local.stdout
    graph = "CONSTRUCT { ?c ldn:stance ?s } WHERE { ?c ldn:stance ?s }"
    turtle = kgserver("query", "--format", "turtle", graph, env={"LDNKG_ENGINE": engine.name, "LDNKG_ENGINE_URL": engine.base})
    expected = kgserver("query", "--store", built_store, "--format", "turtle", graph)
    assert turtle.returncode == 0
    assert isomorphic(Graph().parse(data=turtle.stdout, format="turtle"), Graph().parse(data=expected.stdout, format="turtle"))


def test_the_export_command_writes_every_quad_the_engine_holds(kgserver, built_store, engine):
    local = kgserver("export", "--store", built_store)
    remote = kgserver("export", "--engine", engine.name, "--engine-url", engine.base)
    assert remote.returncode == 0 and local.stdout
    mine, theirs = Dataset().parse(data=local.stdout, format="nquads"), Dataset().parse(data=remote.stdout, format="nquads")
    names = sorted(str(graph.identifier) for graph in mine.graphs() if len(graph))
    assert sorted(str(graph.identifier) for graph in theirs.graphs() if len(graph)) == names
    for name in names:  # blank nodes get other labels: each graph must be the same graph
        assert isomorphic(theirs.graph(URIRef(name)), mine.graph(URIRef(name))), name


@pytest.mark.parametrize(("args", "message"), [
    (("--engine", "oxigraph"), "--engine oxigraph needs --engine-url"),
    (("--engine-url", "http://127.0.0.1:1"), "--engine-url needs --engine NAME"),
    (("--engine", "oxigraph", "--engine-url", "http://[::1"), "must be an http(s) URL"),
    (("--engine", "oxigraph", "--engine-url", "http://127.0.0.1:99999"), "must be an http(s) URL"),
    (("--store", "x", "--engine", "oxigraph", "--engine-url", "http://127.0.0.1:1"), "not both"),
    (("--engine", "oxigraph", "--engine-url", "ftp://host/"), "must be an http(s) URL"),
    (("--engine", "oxigraph", "--engine-url", "http://dba:secret@127.0.0.1:1"), "must not carry credentials"),
    (("--engine", "virtuoso", "--engine-url", "http://127.0.0.1:9"), "the store is unavailable"),
])
def test_an_engine_given_wrongly_or_gone_is_one_line_and_a_failing_exit(kgserver, args, message):
    result = kgserver("query", *args, "ASK { ?s ?p ?o }")
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kgserver: error: ") and message in result.stderr
    assert "secret" not in result.stderr


@pytest.mark.parametrize(("name", "command"), [
    ("oxigraph", ("query", "ASK { ?s ?p ?o }")),
    ("virtuoso", ("query", "ASK { ?s ?p ?o }")),
    ("oxigraph", ("export",)),
    ("virtuoso", ("serve", "--port", str(_free_port()))),
])
def test_a_url_that_answers_with_a_web_page_is_the_engines_failure_in_one_line(kgserver, name, command):
    """A web server where the engine was expected (200 text/html to everything): `query` blamed the user's query
    ("SPARQL syntax error"), `serve` and `export` said "internal error (SyntaxError ...); please report it"."""
    with _web_server("text/html", b"<html><body>Welcome to nginx!</body></html>") as url:
        result = kgserver(command[0], "--engine", name, "--engine-url", url, *command[1:], timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("kgserver: error: the engine answered text/html, not SPARQL results: "
                             "is --engine-url the engine's base URL?\n")


def test_an_answer_of_the_right_type_that_does_not_parse_is_the_engines_failure(kgserver):
    with _web_server("application/sparql-results+json", b"<html>not results</html>") as url:
        result = kgserver("query", "--engine", "oxigraph", "--engine-url", url, "ASK { ?s ?p ?o }", timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("kgserver: error: oxigraph answered something that is not SPARQL results ("), result.stderr


@contextlib.contextmanager
def _web_server(content_type: str, body: bytes) -> Iterator[str]:
    """A loopback HTTP server that answers every request 200 with `body`: what a wrong --engine-url may point at."""

    class Page(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_the_engine_cut_at_its_own_row_limit_is_an_error_once_read_to_the_cut(remote, engine):
    """Virtuoso cuts at ResultSetMaxRows (100,000 in the fixture) with 200; reading no further than the cut is fine.

    Each quad 64 times over (not a cross product of the graph with itself, which took Virtuoso
    17 s quiet and past its own 60-s limit under CI's load).
    """
    copies = " ".join(str(number) for number in range(64))
    text = f"SELECT ?c WHERE {{ GRAPH ?g {{ ?a ?b ?c }} VALUES ?copy {{ {copies} }} }} LIMIT 150000"
    assert len(list(itertools.islice(remote.query(text), 10_001))) == 10_001  # a row cap below the engine's limit
    if engine.name == "virtuoso":
        with pytest.raises(KgError) as cut:
            list(remote.query(text))
        assert cut.value.http_status == 502 and "100000 rows" in cut.value.message
    else:
        assert sum(1 for _ in remote.query(text)) == 150_000


def test_a_select_sent_on_as_the_engine_wrote_it_counts_its_rows_and_is_freed_once_read(remote, embedded):
    """What a frontend does with a SELECT whose client asked for JSON: count the rows, send the engine's bytes on.

    The answer is freed as soon as it is dropped: its parser holds its reader, and a reader that
    held the answer back made a cycle no collector frees (a frontend's memory doubled in the bench).
    """
    text = "SELECT ?s ?p ?o WHERE { ?s ?p ?o FILTER(isIRI(?s) && isIRI(?o)) } ORDER BY ?s ?p ?o LIMIT 30"
    passed = kgstore.select_json(remote, text)
    assert passed is not None and passed.variables == ["s", "p", "o"] and passed.count(100) == 30
    body = passed.body().value()
    passed.close()
    rows = json.loads(body)["results"]["bindings"]
    assert _rows(parse_query_results(body, format=QueryResultsFormat.JSON)) == _rows(kgstore.query(embedded, text))
    assert len(rows) == 30
    gone = weakref.ref(passed)
    del passed
    assert gone() is None, "a SELECT's answer sent on was kept after it was dropped"
    assert kgstore.select_json(remote, "ASK { ?s ?p ?o }") is None  # another form: asked the usual way
    assert kgstore.select_json(embedded, text) is None  # the embedded store's answers are written here


def test_only_the_prefixes_a_query_uses_are_declared_to_the_engine(settings):
    """The server's prefixes may be used without declaring them; each declaration sent costs the engine time to parse,
    so those the text does not use are left out."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def engine() -> None:
        connection, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request or len(request.partition(b"\r\n\r\n")[2]) < _content_length(request):
            request += connection.recv(65536)
        requests.append(request)
        body = b'{"head":{"vars":["c"]},"results":{"bindings":[]}}'
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\n"
                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        connection.close()

    threading.Thread(target=engine, daemon=True).start()
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=5)
    assert list(store.query("SELECT ?c WHERE { ?c a owl:Class }", prefixes=settings.prefixes)) == []
    listener.close()
    sent = urllib.parse.parse_qs(requests[0].partition(b"\r\n\r\n")[2].decode())["query"][0]
    assert len(settings.prefixes) > 1 and "owl" in settings.prefixes
    assert sent.count("PREFIX ") == 1 and f"PREFIX owl: <{settings.prefixes['owl']}>" in sent


def _content_length(request: bytes) -> int:
    for line in request.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_select_sent_on_is_checked_to_its_end_before_a_byte_of_it_is_sent():
    """An engine's sign of a failed answer after its last row (here Oxigraph's 'cancelled', well after the closing
    brackets) is an error, and the frontend's query thread sends the error alone: no head and no part of it went first."""
    rows = b'{"head":{"vars":["s"]},"results":{"bindings":[' + _json_rows(6000) + b"]}}"
    padding = b" " * (256 * 1024)  # past what the parser reads ahead once the rows have ended
    listener, _ = _engine_sending([rows, padding, b"\nThe SPARQL operation has been cancelled"], False)
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=30)
    sent: list[tuple[object, ...]] = []

    class Outbox:
        def send(self, message: tuple[object, ...]) -> None:
            sent.append(message)

    job = Job("SELECT ?s WHERE { ?s ?p ?o }", "json", None, None, row_cap=10_000)
    answer(store, {}, job, Outbox(), time.monotonic)
    listener.close()
    assert len(rows) > CHUNK_BYTES  # an answer sent on in parts, head first, had it not been checked to its end
    assert [message[0] for message in sent] == ["error"] and "cancelled" in str(sent[0][2])


def test_a_select_over_the_row_cap_is_written_again_from_its_first_rows_in_the_engines_order_then_hung_up():
    """An engine sends 20,000 rows and never ends its answer; the cap is 10: the first 10 rows, in order, marked cut."""
    listener, hung_up = _engine_sending([b'{"head":{"vars":["s"]},"results":{"bindings":[', _json_rows(20000) + b","], True)
    store = RemoteStore(f"http://127.0.0.1:{listener.getsockname()[1]}", OXIGRAPH, read_seconds=30)
    sent: list[tuple[object, ...]] = []

    class Outbox:
        def send(self, message: tuple[object, ...]) -> None:
            sent.append(message)

    answer(store, {}, Job("SELECT ?s WHERE { ?s ?p ?o }", "json", None, None, row_cap=10), Outbox(), time.monotonic)
    assert hung_up.wait(5), "the engine's connection was kept after the cap's rows and one more were read"
    listener.close()
    kind, head, body, _ = sent[0]
    assert (kind, head.rows, head.truncated) == ("whole", 10, True)
    rows = json.loads(body)["results"]["bindings"]
    assert [row["s"]["value"] for row in rows] == [f"http://example.org/{i}" for i in range(10)]


def test_an_update_given_to_query_is_refused_in_kgservers_words_against_an_engine(kgserver, engine):
    result = kgserver("query", "--engine", engine.name, "--engine-url", engine.base, "INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    assert result.returncode == 2 and "SPARQL Update is not accepted" in result.stderr, result.stderr
