"""`kgserver serve`: started as a user would, then called over HTTP on a loopback port."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from pathlib import Path

import pytest
from serving import Reply, fetch, serving

pytestmark = pytest.mark.slow  # starts kgserver serve

COUNT_ALL = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
SPARQL_JSON = "application/sparql-results+json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def server(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The base URL of `kgserver serve` running on the built store."""
    log = tmp_path_factory.mktemp("serve") / "stderr.log"
    with serving(built_store, sources_root, log, "--workers", "1", "--threads", "2") as running:
        yield running.base


def _query(server: str, sparql: str, accept: str | None = None) -> Reply:
    return fetch(f"{server}/sparql", headers={"Accept": accept} if accept else {}, timeout=30, params={"query": sparql})


def _count(reply: Reply) -> int:
    return int(reply.json()["results"]["bindings"][0]["n"]["value"])


def test_health_reports_the_store(server):
    reply = fetch(f"{server}/health", timeout=30)
    health = reply.json()
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert health["status"] == "ok"
    assert health["triples"] > 0
    assert health["version"].isdigit()


def test_sparql_get_returns_json_results(server):
    reply = _query(server, COUNT_ALL)
    assert (reply.status, reply.content_type) == (200, SPARQL_JSON)
    assert _count(reply) > 0


def test_sparql_post_form_and_query_body_agree_with_get(server):
    by_get = _query(server, COUNT_ALL)
    form = fetch(f"{server}/sparql", "POST", timeout=30, form={"query": COUNT_ALL})
    direct = fetch(f"{server}/sparql", "POST", {"Content-Type": "application/sparql-query"}, 30, COUNT_ALL.encode())
    assert (form.status, form.content_type) == (direct.status, direct.content_type) == (200, SPARQL_JSON)
    assert _count(form) == _count(direct) == _count(by_get)


def test_a_client_that_keeps_its_connection_sends_its_next_queries_over_it(server):
    """A small answer comes whole, with a Content-Length, so the connection stays open (a streamed one closes it)."""
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        sockets, answers = [], []
        for n in range(3):
            connection.request("GET", "/sparql?" + urllib.parse.urlencode({"query": f"{COUNT_ALL} # {n}"}),
                               headers={"Accept": SPARQL_JSON})
            response = connection.getresponse()
            body = response.read()
            answers.append((response.status, response.getheader("Content-Length"), response.getheader("Connection")))
            assert int(response.getheader("Content-Length")) == len(body)
            sockets.append(connection.sock)
        assert [status for status, _, _ in answers] == [200, 200, 200]
        assert all(close is None for _, _, close in answers)
        assert sockets[0] is not None and sockets[0] is sockets[1] is sockets[2]
    finally:
        connection.close()


def test_sparql_negotiates_csv(server):
    reply = _query(server, COUNT_ALL, accept="text/csv")
    assert (reply.status, reply.content_type) == (200, "text/csv")
    assert reply.text.splitlines()[0] == "n"


def test_sparql_construct_returns_turtle(server):
    construct = "CONSTRUCT WHERE { ?s a <http://www.w3.org/2002/07/owl#Class> } LIMIT 2"
    reply = _query(server, construct)
    assert (reply.status, reply.content_type) == (200, "text/turtle")
    assert b"owl:Class" in reply.body


def test_sparql_malformed_query_is_400_with_the_parser_message(server):
    reply = _query(server, "SELECT ?s WHERE { ?s ?p ?o } LIMIT x")
    assert reply.status == 400
    assert reply.text.startswith('SPARQL syntax error at 1:36, at "x"')


def test_sparql_without_a_query_is_400(server):
    reply = fetch(f"{server}/sparql", "POST", {"Content-Type": FORM, "Accept": "application/json"}, 30, b"")
    assert reply.status == 400
    assert reply.json()["error"].startswith("no query")


def test_sparql_refuses_updates(server):
    update = "INSERT DATA { <urn:a> <urn:b> <urn:c> }"
    as_form = fetch(f"{server}/sparql", "POST", timeout=30, form={"update": update})
    as_query = fetch(f"{server}/sparql", "POST", {"Content-Type": "application/sparql-query"}, 30, update.encode())
    assert as_form.status == as_query.status == 400
    assert b"SPARQL Update is not accepted: this endpoint answers queries only" in as_form.body
    assert b"SPARQL Update is not accepted: this endpoint answers queries only" in as_query.body


def test_serve_runs_one_web_process_because_the_store_has_one_writer(kgserver, built_store):
    result = kgserver("serve", "--store", built_store, "--workers", "2", timeout=30)
    assert result.returncode == 2
    assert "--workers" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_malloc_that_is_not_a_library(kgserver, built_store, tmp_path):
    result = kgserver("serve", "--store", built_store, env={"LDNKG_QUERY_MALLOC": str(tmp_path / "nothing.so")}, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("is none of them") and "Traceback" not in result.stderr


def _has_jvm_child(pid: int) -> bool:
    """Whether a java process runs among the server's descendants (the warm reasoner), read from /proc."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                names[int(entry.name)] = (entry / "comm").read_text().strip()
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue

    def descends(child: int) -> bool:
        while child in parents and child > 1:
            child = parents[child]
            if child == pid:
                return True
        return False

    return any("java" in name and descends(child) for child, name in names.items())


def test_the_reasoner_starts_with_the_server_unless_told_to_wait_for_the_first_check(built_store, sources_root, tmp_path):
    with serving(built_store, sources_root, tmp_path / "warm.log", env={"LDNKG_WARM_REASONER": "1"}) as running:
        deadline = time.monotonic() + 60
        while not _has_jvm_child(running.pid):
            assert time.monotonic() < deadline, "HermiT's JVM did not start with the server"
            time.sleep(0.2)
    with serving(built_store, sources_root, tmp_path / "lazy.log", env={"LDNKG_WARM_REASONER": "0"}) as running:
        time.sleep(2)
        assert not _has_jvm_child(running.pid)
        addition = (Path(__file__).parent / "fixtures" / "valid" / "claim-with-new-source.ttl").read_bytes()
        headers = {"Content-Type": "text/turtle", "Accept": "application/json"}
        reply = fetch(f"{running.base}/validate", "POST", headers, 30, addition)
        assert reply.status == 200 and reply.json()["conforms"] is True
        assert _has_jvm_child(running.pid)  # started by the first check
