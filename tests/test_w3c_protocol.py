"""The W3C SPARQL 1.1 Protocol test suite, query cases, against `kgserver serve`.

One test per case of https://www.w3.org/2009/sparql/docs/tests/data-sparql11/protocol/
(manifest.ttl and the descriptions in its README), each sending the exact request the suite
describes with http.client, so method, headers and body bytes are ours, and checking the status,
the Content-Type and, where the suite gives one, the result.

Adaptations common to every case:
- The suite posts to `/sparql/`; our endpoint is `/sparql`.
- The suite's form cases write `application/x-www-url-form-urlencoded`, a typo carried in the
  suite's text; the Protocol (2.1.2) and every client send `application/x-www-form-urlencoded`.
- The dataset cases load http://kasei.us/2009/09/sparql/data/data{1,2,3}.rdf. Our endpoint
  fetches nothing, so they name our own graphs instead, and each query is written so that it is
  true only if the endpoint used exactly the dataset the request named: an endpoint that ignored
  default-graph-uri/named-graph-uri and answered over the union of all graphs gets false.
- Our endpoint only answers queries, so the suite's update operations sent to it must all be
  refused with a 4xx, and must leave the store as it was.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.slow  # speaks raw HTTP to a real server

# Cases the endpoint does not pass yet, each with what the endpoint must change, as
# {"case_name": "endpoint: <what is missing>"}. Each becomes a strict xfail, which fails as XPASS
# once the endpoint is fixed; the entry is then removed. Empty: every case passes.
PENDING: dict[str, str] = {}

GRAPH = "https://w3id.org/ldn-kg/graph/"
DATA, ONTOLOGY, INFERRED, META = (GRAPH + name for name in ("data", "ontology", "inferred", "meta"))
DATASET = "https://w3id.org/ldn-kg/dataset"  # described only in the meta graph
NALTREXONE = "https://w3id.org/ldn-kg/id/naltrexone"  # described only in the data and inferred graphs

SPARQL_JSON = "application/sparql-results+json"
SPARQL_XML = "application/sparql-results+xml"
BOOLEAN_TYPES = {SPARQL_JSON, SPARQL_XML}
SELECT_TYPES = {SPARQL_JSON, SPARQL_XML, "text/tab-separated-values", "text/csv"}
GRAPH_TYPES = {"application/rdf+xml", "application/rdf+json", "text/turtle"}
FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
UPDATE = "application/sparql-update"
USER_AGENT = "sparql-client/0.1"  # as in the suite's requests
ASK_EMPTY = "ASK%20%7B%7D"  # ASK {}


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


Send = Callable[..., Answer]


@pytest.fixture(scope="module")
def send(served_store: str) -> Send:
    """Send one request to `kgserver serve` on the built store (test_w3c_protocol_engines.py: in front of an engine)."""
    return sender(served_store)


def sender(base: str) -> Send:
    """Send one request exactly as given: no header is added but Host, Content-Length and User-Agent."""
    address = urllib.parse.urlsplit(base)

    def exchange(method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        try:
            connection.request(method, target, body=body, headers={"User-Agent": USER_AGENT, **(headers or {})})
            response = connection.getresponse()
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            return Answer(response.status, content_type, response.read())
        finally:
            connection.close()

    return exchange


def w3c_case(name: str) -> Callable:
    """Name the suite's case a test stands for; a case in PENDING is a strict xfail."""

    def mark(test: Callable) -> Callable:
        if name in PENDING:
            return pytest.mark.xfail(strict=True, reason=PENDING[name])(test)
        return test

    return mark


def _params(*pairs: tuple[str, str]) -> str:
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def _boolean(answer: Answer) -> bool:
    """The boolean of an ASK result, in whichever of the two result formats it came."""
    if answer.content_type == SPARQL_JSON:
        return json.loads(answer.body)["boolean"]
    element = ElementTree.fromstring(answer.body).find("{http://www.w3.org/2005/sparql-results#}boolean")
    return element.text.strip() == "true"


def _select_values(answer: Answer, variable: str) -> list[str]:
    """The values of one variable in a SELECT result, in whichever of the four formats it came."""
    if answer.content_type == SPARQL_JSON:
        return [row[variable]["value"] for row in json.loads(answer.body)["results"]["bindings"]]
    if answer.content_type == SPARQL_XML:
        namespace = "{http://www.w3.org/2005/sparql-results#}"
        bindings = ElementTree.fromstring(answer.body).iter(f"{namespace}binding")
        return [binding[0].text for binding in bindings if binding.get("name") == variable]
    separator = "," if answer.content_type == "text/csv" else "\t"
    header, *rows = [line.split(separator) for line in answer.body.decode().splitlines()]
    column = header.index(variable if separator == "," else f"?{variable}")
    return [row[column].split("^^")[0].strip('"') for row in rows]


def _assert_true_ask(answer: Answer) -> None:
    """The suite's check for positive ASK cases: 2xx or 3xx, a boolean result format, true."""
    assert 200 <= answer.status < 400, answer.body[:500]
    assert answer.content_type in BOOLEAN_TYPES
    assert _boolean(answer) is True


def _assert_refused(answer: Answer) -> None:
    assert 400 <= answer.status < 500, (answer.status, answer.body[:500])


# Positive cases: query operations.

@w3c_case("query_get")
def test_query_get(send):
    _assert_true_ask(send("GET", f"/sparql?query={ASK_EMPTY}"))


@w3c_case("query_post_form")
def test_query_post_form(send):
    _assert_true_ask(send("POST", "/sparql", f"query={ASK_EMPTY}".encode(), {"Content-Type": FORM}))


@w3c_case("query_post_direct")
def test_query_post_direct(send):
    _assert_true_ask(send("POST", "/sparql", b"ASK {}", {"Content-Type": QUERY}))


@w3c_case("query_content_type_select")
def test_query_content_type_select(send):
    answer = send("POST", "/sparql", b"SELECT (1 AS ?value) {}", {"Content-Type": QUERY})
    assert 200 <= answer.status < 400
    assert answer.content_type in SELECT_TYPES
    assert _select_values(answer, "value") == ["1"]


@w3c_case("query_content_type_ask")
def test_query_content_type_ask(send):
    answer = send("POST", "/sparql", b"ASK {}", {"Content-Type": QUERY})
    assert 200 <= answer.status < 400
    assert answer.content_type in BOOLEAN_TYPES


@w3c_case("query_content_type_describe")
def test_query_content_type_describe(send):
    answer = send("POST", "/sparql", b"DESCRIBE <http://example.org/>", {"Content-Type": QUERY})
    assert 200 <= answer.status < 400
    assert answer.content_type in GRAPH_TYPES


@w3c_case("query_content_type_construct")
def test_query_content_type_construct(send):
    # Relative IRIs, as in the suite: the endpoint must resolve them against a base of its own.
    answer = send("POST", "/sparql", b"CONSTRUCT { <s> <p> 1 } WHERE {}", {"Content-Type": QUERY})
    assert 200 <= answer.status < 400, answer.body[:500]
    assert answer.content_type in GRAPH_TYPES


# Positive cases: the dataset given by the protocol.

@w3c_case("query_dataset_default_graph")
def test_query_dataset_default_graph(send):
    # Suite: default-graph-uri=data1.rdf, ASK { <data1.rdf> ?p ?o }. Here the meta graph, which
    # alone describes the dataset; FILTER NOT EXISTS makes the union of all graphs answer false.
    query = f"ASK {{ <{DATASET}> ?p ?o FILTER NOT EXISTS {{ <{NALTREXONE}> ?q ?r }} }}"
    answer = send("POST", f"/sparql?{_params(('default-graph-uri', META))}", query.encode(),
                  {"Content-Type": QUERY})
    _assert_true_ask(answer)


DEFAULT_GRAPHS_ASK = (
    # Suite: ASK { <data1.rdf> a ?type . <data2.rdf> a ?type } over default graphs data1 + data2.
    # Here the data graph (naltrexone) merged with the meta graph (the dataset), and no
    # ontology graph (where owl:Class is declared).
    f"ASK {{ <{NALTREXONE}> a ?type . <{DATASET}> ?p ?o "
    f"FILTER NOT EXISTS {{ ?class a <http://www.w3.org/2002/07/owl#Class> }} }}"
)


@w3c_case("query_dataset_default_graphs_get")
def test_query_dataset_default_graphs_get(send):
    params = _params(("query", DEFAULT_GRAPHS_ASK), ("default-graph-uri", DATA), ("default-graph-uri", META))
    _assert_true_ask(send("GET", f"/sparql?{params}"))


@w3c_case("query_dataset_default_graphs_post")
def test_query_dataset_default_graphs_post(send):
    params = _params(("default-graph-uri", DATA), ("default-graph-uri", META))
    _assert_true_ask(send("POST", f"/sparql?{params}", DEFAULT_GRAPHS_ASK.encode(), {"Content-Type": QUERY}))


@w3c_case("query_dataset_named_graphs_get")
def test_query_dataset_named_graphs_get(send):
    # Suite: ASK { GRAPH ?g1 { <data1.rdf> a ?type } GRAPH ?g2 { <data2.rdf> a ?type } } with named
    # graphs data1 + data2. Here named graphs data and meta; the ontology graph must not be visible.
    query = (
        f"ASK {{ GRAPH ?g1 {{ <{NALTREXONE}> a ?type }} GRAPH ?g2 {{ <{DATASET}> ?p ?o }} "
        f"FILTER NOT EXISTS {{ GRAPH <{ONTOLOGY}> {{ ?s ?q ?r }} }} }}"
    )
    params = _params(("query", query), ("named-graph-uri", DATA), ("named-graph-uri", META))
    _assert_true_ask(send("GET", f"/sparql?{params}"))


@w3c_case("query_dataset_named_graphs_post")
def test_query_dataset_named_graphs_post(send):
    # Suite: ASK { GRAPH ?g { ?s ?p ?o } } with named graphs data1 + data2. Here data and meta, and
    # no other graph may be visible to GRAPH.
    query = (
        f"ASK {{ GRAPH ?g {{ ?s ?p ?o }} "
        f"FILTER NOT EXISTS {{ GRAPH ?other {{ ?x ?y ?z }} FILTER (?other NOT IN (<{DATA}>, <{META}>)) }} }}"
    )
    params = _params(("named-graph-uri", DATA), ("named-graph-uri", META))
    _assert_true_ask(send("POST", f"/sparql?{params}", query.encode(), {"Content-Type": QUERY}))


@w3c_case("query_dataset_full")
def test_query_dataset_full(send):
    # Suite: default data3.rdf, named data1.rdf + data2.rdf, SELECT ?g ?x ?s { ?x ?y ?o GRAPH ?g
    # { ?s ?p ?o } }, expecting a result format. Here default ontology, named data + inferred: the
    # answer must be non-empty, ?g only data or inferred, and ?x never naltrexone (not in ontology).
    query = "SELECT ?g ?x ?s { ?x ?y ?o GRAPH ?g { ?s ?p ?o } }"
    params = _params(("default-graph-uri", ONTOLOGY), ("named-graph-uri", DATA), ("named-graph-uri", INFERRED))
    answer = send("POST", f"/sparql?{params}", query.encode(), {"Content-Type": QUERY, "Accept": SPARQL_JSON})
    assert 200 <= answer.status < 400, answer.body[:500]
    assert answer.content_type in SELECT_TYPES
    rows = json.loads(answer.body)["results"]["bindings"]
    assert rows
    assert {row["g"]["value"] for row in rows} <= {DATA, INFERRED}
    assert NALTREXONE not in {row["x"]["value"] for row in rows}


@w3c_case("query_multiple_dataset")
def test_query_multiple_dataset(send):
    # Suite: default-graph-uri=data2.rdf with ASK FROM <data1.rdf> { <data1.rdf> ?p ?o }: the
    # protocol's dataset wins over FROM (Protocol 2.1.4). Here the protocol names meta, FROM names
    # ontology; only the meta graph alone makes this true.
    query = f"ASK FROM <{ONTOLOGY}> {{ <{DATASET}> ?p ?o FILTER NOT EXISTS {{ <{NALTREXONE}> ?q ?r }} }}"
    answer = send("POST", f"/sparql?{_params(('default-graph-uri', META))}", query.encode(),
                  {"Content-Type": QUERY})
    _assert_true_ask(answer)


def test_a_querys_own_from_is_its_dataset_when_the_request_names_none(send):
    # Not a suite case: SPARQL 1.1 Query 13.2. Without default-graph-uri the endpoint's default (the
    # union of the graphs) must give way to the query's FROM and FROM NAMED, not replace them.
    only_meta = f"ASK FROM <{META}> {{ <{DATASET}> ?p ?o FILTER NOT EXISTS {{ <{NALTREXONE}> ?q ?r }} }}"
    _assert_true_ask(send("POST", "/sparql", only_meta.encode(), {"Content-Type": QUERY}))
    named = (f"SELECT DISTINCT ?g FROM NAMED <{META}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}")
    answer = send("POST", "/sparql", named.encode(), {"Content-Type": QUERY, "Accept": SPARQL_JSON})
    assert 200 <= answer.status < 400, answer.body[:500]
    assert _select_values(answer, "g") == [META]


# Negative cases: malformed query requests get a 4xx.

@w3c_case("bad_query_method")
def test_bad_query_method(send):
    _assert_refused(send("PUT", f"/sparql?query={ASK_EMPTY}"))


@w3c_case("bad_multiple_queries")
def test_bad_multiple_queries(send):
    _assert_refused(send("GET", f"/sparql?query={ASK_EMPTY}&query=SELECT%20%2A%20%7B%7D"))


@w3c_case("bad_query_wrong_media_type")
def test_bad_query_wrong_media_type(send):
    _assert_refused(send("POST", "/sparql", b"ASK {}", {"Content-Type": "text/plain"}))


@w3c_case("bad_query_missing_form_type")
def test_bad_query_missing_form_type(send):
    _assert_refused(send("POST", "/sparql", f"query={ASK_EMPTY}".encode()))


@w3c_case("bad_query_missing_direct_type")
def test_bad_query_missing_direct_type(send):
    _assert_refused(send("POST", "/sparql", b"ASK {}"))


@w3c_case("bad_query_non_utf8")
def test_bad_query_non_utf8(send):
    body = "ASK {}".encode("utf-16")
    _assert_refused(send("POST", "/sparql", body, {"Content-Type": f"{QUERY}; charset=UTF-16"}))


@w3c_case("bad_query_syntax")
def test_bad_query_syntax(send):
    _assert_refused(send("GET", "/sparql?query=ASK%20%7B"))


# Update operations sent to this query-only endpoint: the suite's update requests, all refused,
# none of them changing the store (several would CLEAR ALL on an endpoint that ran them).

UPDATE_REQUESTS = {
    "bad_update_get": ("GET", "/sparql?update=CLEAR%20ALL", None, {}),
    "bad_multiple_updates": ("POST", "/sparql", b"update=CLEAR%20NAMED&update=CLEAR%20DEFAULT", {"Content-Type": FORM}),
    "bad_update_wrong_media_type": ("POST", "/sparql", b"CLEAR NAMED", {"Content-Type": "text/plain"}),
    "bad_update_missing_form_type": ("POST", "/sparql", b"update=CLEAR%20NAMED", {}),
    "bad_update_non_utf8": ("POST", "/sparql", "CLEAR NAMED".encode("utf-16"),
                            {"Content-Type": f"{UPDATE}; charset=UTF-16"}),
    "bad_update_syntax": ("POST", "/sparql", b"update=CLEAR%20XYZ", {"Content-Type": FORM}),
    "bad_update_dataset_conflict": (
        "POST", "/sparql",
        b"using-named-graph-uri=http%3A%2F%2Fexample%2Fpeople&update=%09%09PREFIX%20foaf%3A%20%20%3Chttp%3A%2F%2F"
        b"xmlns.com%2Ffoaf%2F0.1%2F%3E%0A%09%09WITH%20%3Chttp%3A%2F%2Fexample%2Faddresses%3E%0A%09%09DELETE%20%7B"
        b"%20%3Fperson%20foaf%3AgivenName%20%27Bill%27%20%7D%0A%09%09INSERT%20%7B%20%3Fperson%20foaf%3AgivenName"
        b"%20%27William%27%20%7D%0A%09%09WHERE%20%7B%0A%09%09%09%3Fperson%20foaf%3AgivenName%20%27Bill%27%0A%09%09"
        b"%7D%0A",
        {"Content-Type": FORM},
    ),
    "update_post_form": ("POST", "/sparql", b"update=CLEAR%20ALL", {"Content-Type": FORM}),
    "update_post_direct": ("POST", "/sparql", b"CLEAR ALL", {"Content-Type": UPDATE}),
    "update_dataset_default_graph": (  # using-graph-uri names our data graph instead of data1.rdf
        "POST", f"/sparql?{_params(('using-graph-uri', DATA))}",
        b"PREFIX dc: <http://purl.org/dc/terms/>\nPREFIX foaf: <http://xmlns.com/foaf/0.1/>\nCLEAR ALL ;\n"
        b"INSERT DATA { GRAPH <http://kasei.us/2009/09/sparql/data/data1.rdf> {\n"
        b"  <http://kasei.us/2009/09/sparql/data/data1.rdf> a foaf:Document } } ;\n"
        b"INSERT { GRAPH <http://example.org/protocol-update-dataset-test/> { ?s a dc:BibliographicResource } }\n"
        b"WHERE { ?s a foaf:Document }",
        {"Content-Type": UPDATE},
    ),
    "update_base_uri": (
        "POST", "/sparql",
        b"CLEAR GRAPH <http://example.org/protocol-base-test/> ; INSERT DATA { GRAPH "
        b"<http://example.org/protocol-base-test/> { <http://example.org/s> <http://example.org/p> <test> } }",
        {"Content-Type": UPDATE},
    ),
}


def _triples(send: Send) -> int:
    answer = send("GET", f"/sparql?{_params(('query', 'SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }'))}",
                  headers={"Accept": SPARQL_JSON})
    return int(json.loads(answer.body)["results"]["bindings"][0]["n"]["value"])


@pytest.mark.parametrize("case", list(UPDATE_REQUESTS))
def test_update_at_the_query_endpoint_is_refused(send, case):
    method, target, body, headers = UPDATE_REQUESTS[case]
    before = _triples(send)
    _assert_refused(send(method, target, body, headers))
    assert _triples(send) == before > 0
