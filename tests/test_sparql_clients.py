"""Third-party SPARQL clients against `kgserver serve`: what a researcher's own tools see.

Each client sends its requests its own way (GET or POST, form or direct body, its own Accept
header), so these tests check the endpoint the way the protocol is used in practice:
SPARQLWrapper and rdflib's SPARQLStore from Python, Comunica from Node (installed by `npm ci`
from package.json; `make test` runs it). Every answer is checked against the LDN graph itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from serving import fetch
from SPARQLWrapper import (
    CSV,
    GET,
    JSON,
    JSONLD,
    N3,
    POST,
    POSTDIRECTLY,
    RDFXML,
    TSV,
    TURTLE,
    URLENCODED,
    XML,
    SPARQLWrapper,
)

pytestmark = pytest.mark.slow  # drives real third-party SPARQL clients

REPO = Path(__file__).resolve().parent.parent
COMUNICA_SCRIPT = REPO / "tests" / "js" / "comunica-query.mjs"

NALTREXONE = URIRef("https://w3id.org/ldn-kg/id/naltrexone")
DRUG = URIRef("https://w3id.org/ldn-kg/ontology#Drug")
TREATS = URIRef("https://w3id.org/ldn-kg/ontology#treats")
OPIOID_DEPENDENCE = URIRef("https://w3id.org/ldn-kg/id/opioid-dependence")
ALCOHOL_DEPENDENCE = URIRef("https://w3id.org/ldn-kg/id/alcohol-dependence")

LABEL_OF_NALTREXONE = f"SELECT ?label WHERE {{ <{NALTREXONE}> <{RDFS.label}> ?label }}"
NALTREXONE_IS_A_DRUG = f"ASK {{ <{NALTREXONE}> a <{DRUG}> }}"
NALTREXONE_IS_A_RECEPTOR = f"ASK {{ <{NALTREXONE}> a <https://w3id.org/ldn-kg/ontology#Receptor> }}"
CONSTRUCT_NALTREXONE = f"CONSTRUCT {{ <{NALTREXONE}> ?p ?o }} WHERE {{ <{NALTREXONE}> ?p ?o }}"


def _assert_describes_naltrexone(graph: Graph) -> None:
    """The triples about naltrexone that the graph states, whatever format carried them."""
    assert graph.value(NALTREXONE, RDFS.label) == Literal("naltrexone", lang="en")
    assert (NALTREXONE, RDF.type, DRUG) in graph
    assert {OPIOID_DEPENDENCE, ALCOHOL_DEPENDENCE} <= set(graph.objects(NALTREXONE, TREATS))
    assert set(graph.subjects()) == {NALTREXONE}


# SPARQLWrapper: every way it can send a query (GET; POST form; POST direct body), in each format
# it can ask for. Besides Accept it sends `format=`, `output=` and `results=` parameters holding
# its own names for formats (json, xml, csv, tsv, turtle, n3, rdf+xml, json-ld).
SELECT_MEDIA_TYPES = {
    JSON: "application/sparql-results+json",
    XML: "application/sparql-results+xml",
    CSV: "text/csv",
    TSV: "text/tab-separated-values",
}
RDFLIB_PARSERS = {
    "text/turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "text/n3": "n3",
}
RDF_MEDIA_TYPES = {
    "text/turtle", "application/n-triples", "application/n-quads", "application/trig",
    "application/ld+json", "application/rdf+xml",
}
SPARQLWRAPPER_WAYS = [
    pytest.param(GET, URLENCODED, id="get"),
    pytest.param(POST, URLENCODED, id="post-form"),
    pytest.param(POST, POSTDIRECTLY, id="post-direct"),
]


def _sparqlwrapper(served_store: str, method: str, request_method: str, query: str) -> SPARQLWrapper:
    client = SPARQLWrapper(f"{served_store}/sparql")
    client.setMethod(method)
    client.setRequestMethod(request_method)
    client.setQuery(query)
    return client


def _label_in(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """(value, language) of each ?label in a SELECT result, in any of the four result formats."""
    if content_type == "application/sparql-results+json":
        return [(b["label"]["value"], b["label"].get("xml:lang", "")) for b in json.loads(body)["results"]["bindings"]]
    if content_type == "application/sparql-results+xml":
        namespace = "{http://www.w3.org/2005/sparql-results#}"
        return [(literal.text, literal.get("{http://www.w3.org/XML/1998/namespace}lang", ""))
                for literal in ElementTree.fromstring(body).iter(f"{namespace}literal")]
    if content_type == "text/csv":  # CSV carries no language tags
        header, *rows = body.decode().splitlines()
        assert header == "label"
        return [(row, "en") for row in rows]
    header, *rows = body.decode().splitlines()
    assert header == "?label"
    return [tuple(row.strip('"').split('"@')) for row in rows]


@pytest.mark.parametrize("return_format", [JSON, XML, CSV, TSV])
@pytest.mark.parametrize(("method", "request_method"), SPARQLWRAPPER_WAYS)
def test_sparqlwrapper_select(served_store, method, request_method, return_format):
    client = _sparqlwrapper(served_store, method, request_method, LABEL_OF_NALTREXONE)
    client.setReturnFormat(return_format)
    result = client.query()
    content_type = result.response.headers.get_content_type()
    assert content_type == SELECT_MEDIA_TYPES[return_format]
    assert _label_in(content_type, result.response.read()) == [("naltrexone", "en")]


@pytest.mark.parametrize("return_format", [JSON, XML])
@pytest.mark.parametrize(("method", "request_method"), SPARQLWRAPPER_WAYS)
def test_sparqlwrapper_ask(served_store, method, request_method, return_format):
    for query, expected in ((NALTREXONE_IS_A_DRUG, True), (NALTREXONE_IS_A_RECEPTOR, False)):
        client = _sparqlwrapper(served_store, method, request_method, query)
        client.setReturnFormat(return_format)
        converted = client.queryAndConvert()
        if return_format == JSON:
            assert converted["boolean"] is expected
        else:
            assert converted.getElementsByTagName("boolean")[0].firstChild.data == str(expected).lower()


@pytest.mark.parametrize("return_format", [TURTLE, RDFXML, N3, JSONLD])
@pytest.mark.parametrize(("method", "request_method"), SPARQLWRAPPER_WAYS)
def test_sparqlwrapper_construct(served_store, method, request_method, return_format):
    client = _sparqlwrapper(served_store, method, request_method, CONSTRUCT_NALTREXONE)
    client.setReturnFormat(return_format)
    result = client.query()
    content_type = result.response.headers.get_content_type()
    assert content_type in RDFLIB_PARSERS, f"SPARQLWrapper asked for {return_format} and got {content_type}"
    graph = Graph().parse(data=result.response.read(), format=RDFLIB_PARSERS[content_type])
    _assert_describes_naltrexone(graph)


@pytest.mark.parametrize(("method", "request_method"), SPARQLWRAPPER_WAYS)
def test_sparqlwrapper_with_its_defaults(served_store, method, request_method):
    """Without setReturnFormat SPARQLWrapper asks for XML: format=xml with results XML or RDF/XML."""
    select = _sparqlwrapper(served_store, method, request_method, LABEL_OF_NALTREXONE).query()
    assert _label_in(select.response.headers.get_content_type(), select.response.read()) == [("naltrexone", "en")]

    ask = _sparqlwrapper(served_store, method, request_method, NALTREXONE_IS_A_DRUG).queryAndConvert()
    assert ask.getElementsByTagName("boolean")[0].firstChild.data == "true"

    for query in (CONSTRUCT_NALTREXONE, f"DESCRIBE <{NALTREXONE}>"):
        result = _sparqlwrapper(served_store, method, request_method, query).query()
        assert result.response.headers.get_content_type() == "application/rdf+xml"
        graph = Graph().parse(data=result.response.read(), format="xml")
        assert graph.value(NALTREXONE, RDFS.label) == Literal("naltrexone", lang="en")
        assert (NALTREXONE, RDF.type, DRUG) in graph


# rdflib's SPARQLStore: "GET", "POST" (direct body) and "POST_FORM" are its three ways.
SPARQLSTORE_METHODS = ["GET", "POST", "POST_FORM"]


@pytest.mark.parametrize("method", SPARQLSTORE_METHODS)
def test_rdflib_sparqlstore_select_ask_construct(served_store, method):
    store = SPARQLStore(query_endpoint=f"{served_store}/sparql", method=method)

    assert [row.label for row in store.query(LABEL_OF_NALTREXONE)] == [Literal("naltrexone", lang="en")]
    assert store.query(NALTREXONE_IS_A_DRUG).askAnswer is True
    assert store.query(NALTREXONE_IS_A_RECEPTOR).askAnswer is False
    _assert_describes_naltrexone(store.query(CONSTRUCT_NALTREXONE).graph)


@pytest.mark.parametrize("method", SPARQLSTORE_METHODS)
def test_rdflib_graph_over_sparqlstore_reads_the_graph(served_store, method):
    """A Graph backed by the endpoint: rdflib turns triple patterns and len() into queries."""
    graph = Graph(store=SPARQLStore(query_endpoint=f"{served_store}/sparql", method=method))
    assert graph.value(NALTREXONE, RDFS.label) == Literal("naltrexone", lang="en")
    assert (NALTREXONE, RDF.type, DRUG) in graph
    assert {OPIOID_DEPENDENCE, ALCOHOL_DEPENDENCE} <= set(graph.objects(NALTREXONE, TREATS))
    assert len(graph) == fetch(f"{served_store}/health", timeout=30).json()["triples"]


# Comunica, through tests/js/comunica-query.mjs, which also reports the HTTP requests it made.

@pytest.fixture(scope="module")
def comunica() -> Callable[..., tuple[list[dict], str]]:
    """Run one query with Comunica; returns (requests Comunica sent, the serialised result)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed for the Comunica tests: install Node 20 or later")
    if not (REPO / "node_modules" / "@comunica" / "query-sparql").is_dir():
        pytest.fail("Comunica is not installed: run `npm ci` (or `make test`, which runs it)")

    def run(endpoint: str, query: str, media_type: str, source_type: str = "sparql"):
        completed = subprocess.run(
            [node, str(COMUNICA_SCRIPT), endpoint, query, media_type, source_type],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )
        assert completed.returncode == 0, f"Comunica failed:\n{completed.stderr}"
        report = json.loads(completed.stdout)
        return report["requests"], report["result"]

    return run


def test_comunica_select_by_get(served_store, comunica):
    requests, result = comunica(f"{served_store}/sparql", LABEL_OF_NALTREXONE, "application/sparql-results+json")
    assert [(r["method"], r["status"]) for r in requests] == [("GET", 200)]
    assert requests[0]["accept"].startswith("application/sparql-results+json")
    assert requests[0]["responseType"].split(";")[0] == "application/sparql-results+json"
    assert json.loads(result)["results"]["bindings"] == [
        {"label": {"type": "literal", "value": "naltrexone", "xml:lang": "en"}}
    ]


def test_comunica_long_select_by_post_form(served_store, comunica):
    """Comunica switches to a form POST once the GET URL would reach 600 characters."""
    others = " ".join(f"<https://w3id.org/ldn-kg/id/no-such-entity-{n}>" for n in range(20))
    query = f"SELECT ?label WHERE {{ VALUES ?entity {{ <{NALTREXONE}> {others} }} ?entity <{RDFS.label}> ?label }}"
    requests, result = comunica(f"{served_store}/sparql", query, "application/sparql-results+json")
    assert [(r["method"], r["contentType"], r["status"]) for r in requests] == [
        ("POST", "application/x-www-form-urlencoded", 200)
    ]
    labels = [b["label"]["value"] for b in json.loads(result)["results"]["bindings"]]
    assert labels == ["naltrexone"]


def test_comunica_ask(served_store, comunica):
    for query, expected in ((NALTREXONE_IS_A_DRUG, True), (NALTREXONE_IS_A_RECEPTOR, False)):
        requests, result = comunica(f"{served_store}/sparql", query, "application/sparql-results+json")
        assert [r["status"] for r in requests] == [200]
        assert json.loads(result)["boolean"] is expected


def test_comunica_construct(served_store, comunica):
    requests, result = comunica(f"{served_store}/sparql", CONSTRUCT_NALTREXONE, "text/turtle")
    assert [(r["method"], r["status"]) for r in requests] == [("GET", 200)]
    assert requests[0]["responseType"].split(";")[0] == "text/turtle"
    _assert_describes_naltrexone(Graph().parse(data=result, format="turtle"))


def test_comunica_finds_the_endpoint_from_its_service_description(served_store, comunica):
    """Given only the URL, Comunica dereferences it, reads the service description, then queries."""
    requests, result = comunica(f"{served_store}/sparql", NALTREXONE_IS_A_DRUG, "application/sparql-results+json",
                                "auto")
    description, query = requests
    assert (description["method"], description["url"], description["status"]) == ("GET", f"{served_store}/sparql", 200)
    assert description["responseType"].split(";")[0] in RDF_MEDIA_TYPES
    assert query["method"] == "GET" and query["url"].startswith(f"{served_store}/sparql?query=")
    assert query["status"] == 200
    assert json.loads(result)["boolean"] is True
