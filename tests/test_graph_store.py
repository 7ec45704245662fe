"""A harvester reads the dataset graph by graph at /store (the Graph Store Protocol's read side), as from Oxigraph or Fuseki.

`GET /store?graph=IRI` gives one named graph, `GET /store?default` the default graph (the union
of the named graphs, as the SPARQL endpoint sees it); each answer equals the same graph in the
dumps, comes in every graph form, revalidates with its ETag and moves when a submission
changes it. Writes are refused with a pointer to the curation gate.
"""

from __future__ import annotations

import gzip
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic
from serving import fetch, serving

from kgserver import representations
from kgserver.linkeddata import graph_store

BASE = "https://w3id.org/ldn-kg/"
GRAPHS = ("ontology", "data", "shapes", "inferred", "examples", "meta")
DATA = f"{BASE}graph/data"
FORMS = [(form.media_type, form.rdflib) for form in representations.offered("graph-store")]
VALID = Path(__file__).resolve().parent / "fixtures" / "valid"


def graph_of(dataset: Dataset, iri: str) -> Graph:
    return dataset.graph(URIRef(iri))


def union_of(dataset: Dataset) -> Graph:
    union = Graph()
    for graph in dataset.graphs():
        union += graph
    return union


def read(base: str, graph: str | None, accept: str = "text/turtle", **headers: str):
    """GET /store for one graph (None: the default graph)."""
    url = f"{base}/store?default" if graph is None else f"{base}/store"  # ?default as clients send it, no value
    return fetch(url, headers={"Accept": accept, **headers}, params=None if graph is None else {"graph": graph})


def parsed(reply, rdflib_format: str = "turtle") -> Graph:
    assert reply.status == 200, reply.text
    return Graph().parse(data=reply.body, format=rdflib_format)


@pytest.mark.parametrize("name", GRAPHS)
def test_each_named_graph_equals_the_same_graph_in_the_export(app_base, exported, name):
    iri = f"{BASE}graph/{name}"

    reply = read(app_base, iri)

    assert reply.content_type == "text/turtle"
    assert isomorphic(parsed(reply), graph_of(exported, iri))


def test_the_default_graph_is_the_union_of_the_named_graphs_as_the_endpoint_sees_it(app_base, exported):
    reply = read(app_base, None, "application/n-triples")

    served = parsed(reply, "nt")
    assert isomorphic(served, union_of(exported))
    count = fetch(f"{app_base}/sparql", headers={"Accept": "application/sparql-results+json"},
                  params={"query": "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }"})
    assert int(count.json()["results"]["bindings"][0]["n"]["value"]) == len(reply.body.splitlines())  # each once


def test_the_union_writes_a_triple_held_by_several_graphs_once():
    from pyoxigraph import Literal, NamedNode, Quad, Store

    store = Store()
    big, small = NamedNode(f"{BASE}graph/big"), NamedNode(f"{BASE}graph/small")
    shared = (NamedNode(f"{BASE}id/a"), NamedNode(f"{BASE}ontology#says"), Literal("both"))
    store.extend([Quad(*shared, big), Quad(*shared, small), Quad(*shared[:2], Literal("big only"), big),
                  Quad(*shared[:2], Literal("small only"), small), Quad(shared[0], shared[1], Literal("more"), big)])

    triples = list(graph_store.union(store, [big.value, small.value]))

    assert sorted(str(triple.object) for triple in triples) == ['"big only"', '"both"', '"more"', '"small only"']


def test_a_graph_equals_what_a_sparql_construct_of_it_gives(app_base):
    construct = fetch(f"{app_base}/sparql", headers={"Accept": "application/n-triples"},
                      params={"query": f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{BASE}graph/shapes> {{ ?s ?p ?o }} }}"})
    assert construct.status == 200 and "x-sparql-truncated" not in construct.headers

    assert isomorphic(parsed(read(app_base, f"{BASE}graph/shapes")), Graph().parse(data=construct.body, format="nt"))


@pytest.mark.parametrize(("media_type", "rdflib_format"), FORMS)
def test_every_offered_form_parses_to_the_same_graph(app_base, exported, media_type, rdflib_format):
    reply = read(app_base, DATA, media_type)

    assert reply.content_type == media_type
    assert isomorphic(parsed(reply, rdflib_format), graph_of(exported, DATA))


def test_format_names_the_form_as_on_the_other_routes(app_base):
    reply = fetch(f"{app_base}/store", params={"graph": f"{BASE}graph/shapes", "format": "nt"})

    assert reply.status == 200 and reply.content_type == "application/n-triples"


def test_a_dataset_form_is_not_offered_for_one_graph(app_base):
    reply = read(app_base, DATA, "application/n-quads")

    assert reply.status == 406
    assert "text/turtle" in reply.text and "application/n-quads" not in reply.text.split("offered:")[1]


def test_a_gzip_client_gets_the_graph_compressed(app_base, exported):
    reply = read(app_base, DATA, "application/n-triples", **{"Accept-Encoding": "gzip"})

    assert reply.headers["content-encoding"] == "gzip"
    assert isomorphic(Graph().parse(data=gzip.decompress(reply.body), format="nt"), graph_of(exported, DATA))


def test_a_client_with_the_current_copy_gets_304(app_base):
    first = read(app_base, DATA)

    again = read(app_base, DATA, **{"If-None-Match": first.headers["etag"]})
    other_form = read(app_base, DATA, "application/ld+json", **{"If-None-Match": first.headers["etag"]})

    assert first.headers["etag"].startswith('W/"') and "last-modified" in first.headers
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert other_form.status == 200
    assert {"Accept", "Accept-Encoding"} <= set(first.header_values("vary"))
    assert first.headers["x-dataset-version"] == again.headers["x-dataset-version"]


def test_head_gives_the_headers_without_the_body(app_base):
    full = read(app_base, DATA)

    head = fetch(f"{app_base}/store", "HEAD", params={"graph": DATA})

    assert head.status == 200 and head.body == b""
    assert head.content_type == "text/turtle"
    assert head.headers["etag"] == full.headers["etag"]
    assert "content-length" not in head.headers  # the GET streams: its length is not known before it is written


def test_an_unknown_graph_is_404_naming_it(app_base):
    reply = read(app_base, f"{BASE}graph/nothing-here")

    assert reply.status == 404
    assert f"<{BASE}graph/nothing-here>" in reply.text


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({}, "name the graph"),
        ({"graph": DATA, "default": ""}, "not both"),
        ({"graph": [DATA, f"{BASE}graph/meta"]}, "given 2 times"),
        ({"graph": "graph/data"}, "relative IRI"),
        ({"graph": "https://w3id.org/ldn kg/graph/data"}, "not a valid IRI: it holds ' ', which no IRI may"),
        ({"graph": "https://w3id.org/<graph>"}, "not a valid IRI: it holds '<', which no IRI may"),
        ({"graph": "http://a\nb"}, "not a valid IRI: it holds '\\n', which no IRI may"),  # the parser said ' '
        ({"graph": "_:b0"}, "a blank node's label, which names nothing outside the document"),
    ],
)
def test_a_request_that_does_not_name_one_graph_by_its_full_iri_is_400(app_base, params, problem):
    reply = fetch(f"{app_base}/store", params=params)

    assert reply.status == 400
    assert problem in reply.text and reply.text.count("\n") == 1  # one line


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
def test_writes_are_refused_and_sent_to_the_curation_gate(app_base, method):
    reply = fetch(f"{app_base}/store", method, {"Content-Type": "text/turtle"}, body=b"<a:b> <a:c> <a:d> .",
                  params={"graph": DATA})

    assert reply.status == 405
    assert reply.headers["allow"] == "GET, HEAD, OPTIONS"
    assert "POST /submissions" in reply.text and "curation gate" in reply.text


def test_options_lists_the_methods(app_base):
    reply = fetch(f"{app_base}/store", "OPTIONS")

    assert reply.status == 204 and reply.headers["allow"] == "GET, HEAD, OPTIONS"


def test_a_large_graph_passes_through_a_bounded_pipe_and_a_client_that_leaves_stops_the_writer():
    """The writer runs ahead of the reader by a few chunks at most, whatever the graph's size."""
    written: list[int] = []
    finished = threading.Event()

    def write(output) -> None:
        try:
            for number in range(10_000):  # 640 MiB if it were all held
                output.write(b"x" * graph_store._CHUNK_BYTES)
                written.append(number)
        finally:
            finished.set()

    chunks = graph_store._piped(write)
    assert len(next(chunks)) == graph_store._CHUNK_BYTES
    time.sleep(0.3)
    assert len(written) <= graph_store._DEPTH + 3

    chunks.close()

    assert finished.wait(5)
    assert len(written) < 20


def test_a_writer_that_fails_makes_the_reader_fail():
    def write(output) -> None:
        output.write(b"half")
        raise OSError("the store went away")

    with pytest.raises(OSError, match="went away"):
        b"".join(graph_store._piped(write))


@pytest.mark.slow
def test_rdflib_reads_a_graph_from_a_running_server(served_store, exported):
    url = f"{served_store}/store?graph={BASE}graph/ontology"

    graph = Graph().parse(url)

    assert isomorphic(graph, graph_of(exported, f"{BASE}graph/ontology"))
    with urllib.request.urlopen(url) as response:  # streamed: sent in chunks, its length unknown in advance
        assert response.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.headers


@pytest.mark.slow
def test_a_submission_moves_the_etags_of_what_it_changes_and_no_other(add_curator, built_store, sources_root, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    token = add_curator("ada", "--store", store)
    addition = VALID / "claim-with-new-source.ttl"
    with serving(store, sources_root, tmp_path / "serve.log") as server:
        before = {name: read(server.base, name) for name in (None, DATA, f"{BASE}graph/meta")}

        accepted = fetch(f"{server.base}/submissions", "POST", {"Content-Type": "text/turtle", "Authorization":
                         f"Bearer {token}", "Accept": "application/json"}, 300, addition.read_bytes())
        assert accepted.status == 201, accepted.text
        after = {name: read(server.base, name, **{"If-None-Match": reply.headers["etag"]})
                 for name, reply in before.items()}
        submitted = accepted.json()["graph"]
        graph = read(server.base, submitted)
        retracted = fetch(f"{server.base}/submissions/{accepted.json()['submission'].rsplit('/', 1)[-1]}", "DELETE",
                          headers={"Authorization": f"Bearer {token}"})
        assert retracted.status == 200, retracted.text
        gone = read(server.base, submitted)

    assert after[None].status == 200 and after[None].headers["etag"] != before[None].headers["etag"]
    assert after[f"{BASE}graph/meta"].status == 200
    assert after[DATA].status == 304  # the data graph did not change: a harvester reads it again for nothing
    assert after[None].headers["x-dataset-version"] == str(int(before[None].headers["x-dataset-version"]) + 1)
    assert isomorphic(parsed(graph), Graph().parse(addition))
    assert set(parsed(graph)) <= set(parsed(after[None]))
    assert gone.status == 404 and "deleted in version" in gone.text and f"<{submitted}>" in gone.text
