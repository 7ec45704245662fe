"""kgserver in front of Oxigraph's server: the endpoint, pages, IRIs and dumps as from the embedded store, read-only.

A researcher points at a kgserver whose graph lives in an engine (`serve --engine oxigraph
--engine-url URL`) and gets the same answers as from a kgserver with the built store: the
competency queries over the SPARQL Protocol, an IRI's Turtle, its page, VoID, a graph
through /store. The time limit is still kgserver's: a runaway query is a 503 within it. A
submission is refused with 503 (this frontend takes no commits yet) and nothing changes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.compare import isomorphic
from serving import fetch, serving

pytestmark = pytest.mark.slow  # an engine and two servers

QUERIES = sorted((Path(__file__).resolve().parent.parent / "queries").glob("cq*.rq"))
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


@pytest.fixture(scope="module")
def frontend(oxigraph_engine, sources_root, tmp_path_factory):
    log = tmp_path_factory.mktemp("frontend") / "serve.log"
    flags = ("--engine", "oxigraph", "--engine-url", oxigraph_engine, "--query-timeout", "3")
    with serving(None, sources_root, log, *flags, env={"LDNKG_DUMP_DIR": str(log.parent / "dumps")}) as server:
        yield server


@pytest.fixture(scope="module")
def embedded(built_store, sources_root, tmp_path_factory):
    with serving(built_store, sources_root, tmp_path_factory.mktemp("embedded") / "serve.log") as server:
        yield server


def _select(server, text: str) -> list[dict]:
    reply = fetch(server.sparql, headers={"Accept": "application/sparql-results+json"}, params={"query": text})
    assert reply.status == 200, reply.text
    return sorted((sorted(row.items()) for row in reply.json()["results"]["bindings"]), key=repr)


@pytest.mark.parametrize("path", QUERIES, ids=[path.stem for path in QUERIES])
def test_a_competency_question_gets_the_embedded_servers_answer(path, frontend, embedded):
    text = path.read_text(encoding="utf-8")
    assert _select(frontend, text) == _select(embedded, text) != []


def test_an_iri_its_page_void_and_a_graph_read_the_same_through_the_frontend(frontend, embedded):
    for path in ("/id/naltrexone", "/id/fibromyalgia"):
        ours, theirs = (fetch(server.base + path, headers={"Accept": "text/turtle"}) for server in (frontend, embedded))
        assert ours.status == theirs.status == 200
        assert isomorphic(Graph().parse(data=ours.text, format="turtle"), Graph().parse(data=theirs.text, format="turtle"))
        page = fetch(frontend.base + path, headers={"Accept": "text/html"})
        assert page.status == 200 and "naltrexone" in page.text.lower()
    graph = "https://w3id.org/ldn-kg/graph/data"
    ours, theirs = (fetch(f"{server.base}/store", params={"graph": graph}) for server in (frontend, embedded))
    assert ours.status == 200 and isomorphic(Graph().parse(data=ours.text, format="turtle"),
                                             Graph().parse(data=theirs.text, format="turtle"))
    void = fetch(frontend.base + "/dataset", headers={"Accept": "text/turtle"})
    assert void.status == 200 and "void:triples" in void.text
    health = fetch(frontend.base + "/health").json()
    assert health["version"] == fetch(embedded.base + "/health").json()["version"] is not None


def test_the_time_limit_is_kgservers_in_front_of_the_engine(frontend):
    started = time.monotonic()
    reply = fetch(frontend.sparql, headers={"Accept": "application/sparql-results+json"}, params={"query": RUNAWAY})
    assert reply.status == 503 and "time limit" in reply.text
    assert time.monotonic() - started < 3 + 1


def test_a_bad_query_is_the_clients_error_and_a_submission_changes_nothing(frontend):
    bad = fetch(frontend.sparql, params={"query": "SELECT * WHERE { ?s ?p }"})
    assert bad.status == 400 and "SPARQL error" in bad.text
    before = fetch(frontend.base + "/health").json()["version"]
    submitted = fetch(frontend.base + "/submissions", "POST", {"Content-Type": "text/turtle",
                      "Authorization": "Bearer nobody"}, body=b"<urn:a> <urn:b> <urn:c> .")
    assert submitted.status == 403  # no curator is known here (and a frontend takes no commits yet)
    assert fetch(frontend.base + "/health").json()["version"] == before
