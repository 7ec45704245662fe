"""Fuzzing the server with generated requests: whatever a client sends, the server answers soundly.

Hypothesis generates near-valid SPARQL from a grammar of fragments with random protocol
parameters and methods, Accept headers of random media ranges, request paths of random text
and encodings, and mutated RDF payloads for /validate. Every answer must be no 5xx (but the
documented 503 of a stopped or queued query), carry no traceback, come within a time bound,
and leave the store as it was. The runs are derandomized (the same examples every time) and
bounded, against one server on its own copy of the store.
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import Server, serving
from test_hostile_corpus import assert_sound, exchange, fingerprint, health, port_of

pytestmark = pytest.mark.slow  # fuzzes a real server

VALID = Path(__file__).resolve().parent / "fixtures" / "valid"
QUERY_TIMEOUT = 3  # the fuzzed server's --query-timeout, so a generated runaway ends soon
WITHIN = QUERY_TIMEOUT + 8.0  # seconds: a later answer is a hang
GRAPHS = [f"https://w3id.org/ldn-kg/graph/{name}" for name in ("data", "ontology", "inferred", "meta", "shapes")]
# Derandomized: every run tries the same examples. The deadline backs up each request's own hang bound.
FUZZ = settings(derandomize=True, deadline=timedelta(seconds=WITHIN + 1), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

FRAGMENTS = (
    "SELECT", "SELECT DISTINCT", "SELECT *", "ASK", "CONSTRUCT", "DESCRIBE", "WHERE", "{", "}", "(", ")", "[", "]",
    "?s", "?p", "?o", "?g", "?x", "$y", "a", ".", ";", ",", "*", "+", "?", "|", "/", "^", "!", "=", "!=", "<", ">",
    "&&", "||", "<https://w3id.org/ldn-kg/id/naltrexone>", "<http://127.0.0.1:9/>", "<>", "<#x>", "ldn:EvidenceClaim",
    "ldn:stance", "rdfs:label", "nope:x", ":x", "_:b", "[]", "()", '"x"', '"x"@en', '"1"^^xsd:integer', "'''y'''",
    "1", "-1", "1.5", "1e3", "true", "FILTER", "OPTIONAL", "UNION", "MINUS", "GRAPH", "BIND", "AS", "VALUES", "UNDEF",
    "LIMIT", "OFFSET", "ORDER BY", "GROUP BY", "HAVING", "COUNT(*)", "SUM(?x)", "SAMPLE(?o)", "GROUP_CONCAT(?o)",
    "REGEX(?o, \"a\")", "STR(?s)", "LANG(?o)", "EXISTS", "NOT EXISTS", "IN", "NOT IN", "IF", "COALESCE", "FROM",
    "FROM NAMED", "PREFIX ex: <http://e/>", "BASE <http://e/>", "SERVICE", "SILENT", "INSERT", "DELETE", "LOAD",
    "#", "\n", "\t", "\\u0053", "\u00e9", "\u202e", "\x00",
)
VALID_QUERIES = (
    "SELECT * WHERE { ?s ?p ?o } LIMIT 3",
    "ASK { ?s a ldn:EvidenceClaim }",
    "CONSTRUCT WHERE { ?s a ?o } LIMIT 3",
    "DESCRIBE <https://w3id.org/ldn-kg/id/naltrexone>",
    "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
)
MEDIA = ("text/turtle", "application/ld+json", "application/n-triples", "application/rdf+xml", "text/html",
         "application/sparql-results+json", "application/sparql-results+xml", "text/csv", "text/plain",
         "application/json", "*/*", "text/*", "application/xhtml+xml", "image/png")
CONTENT_TYPES = ("application/x-www-form-urlencoded", "application/sparql-query", "application/sparql-update",
                 "text/plain", "multipart/form-data; boundary=x", "application/json", "",
                 "application/sparql-query; charset=latin-1", "application/x-www-form-urlencoded; charset=utf-16")
PAYLOAD_TYPES = {".ttl": "text/turtle", ".nt": "application/n-triples", ".jsonld": "application/ld+json",
                 ".rdf": "application/rdf+xml"}


@pytest.fixture(scope="module")
def target(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on its own copy of the store for the whole module; the store must end as it began."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(built_store, folder / "store")
    with serving(folder / "store", sources_root, folder / "serve.log", "--query-timeout", str(QUERY_TIMEOUT)) as server:
        before = (health(server)["version"], fingerprint(server))
        yield server
        assert (health(server)["version"], fingerprint(server)) == before, "fuzzing changed the stored data"


@pytest.fixture(scope="module")
def validate_route(target: Server) -> Server:
    """The server, with its /validate route answering."""
    probe = exchange(port_of(target), "POST", b"/validate", {"Content-Type": b"text/turtle"}, b"<a:b> <a:c> <a:d> .")
    assert probe.status == 200, probe.body[:300]
    return target


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------
near_valid = st.builds(
    lambda base, position, inserted: base[:position % (len(base) + 1)] + " " + inserted + " " + base[position % (len(base) + 1):],
    st.sampled_from(VALID_QUERIES), st.integers(0, 200), st.lists(st.sampled_from(FRAGMENTS), max_size=4).map(" ".join),
)
queries = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=16).map(" ".join),
    near_valid,
    st.text(max_size=120),
)
param_values = st.one_of(st.sampled_from(GRAPHS), st.text(max_size=40))
timeouts = st.one_of(st.none(), st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e308", "abc", "", "0.5", "2", " 1"]),
                     st.floats(allow_nan=True).map(str))
formats = st.one_of(st.none(), st.sampled_from(["json", "xml", "csv", "tsv", "turtle", "jsonld", "nt", "rdfxml",
                                                "text/csv", "application/x-evil"]), st.text(max_size=20))
media_range = st.builds(
    lambda media, q: media + q,
    st.one_of(st.sampled_from(MEDIA), st.text(max_size=20)),
    st.one_of(st.just(""), st.builds(lambda q: f";q={q}", st.one_of(st.floats(allow_nan=True).map(str),
                                                                      st.sampled_from(["", "x", "1.0000", "0", "-0"])))),
)
accept_headers = st.one_of(
    st.lists(media_range, max_size=6).map(", ".join).map(lambda text: text.encode("utf-8", "replace")),
    st.binary(max_size=80).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"")),
)
path_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(["..", ".", "%2e%2e", "%2f", "%00", "%ff", "%", "id", "naltrexone", "claim", "x" * 300,
                              "\u00e9", "%E2%80%AE", "~", "static", "dumps", "..%2f", "\\"]), max_size=8).map("/".join),
    st.integers(1000, 3000).map(lambda n: "a" * n),
)


def encode_path(text: str, raw: bool) -> bytes:
    """A path as a client would send it: percent-encoded, or (raw) the UTF-8 bytes as they are."""
    if raw:
        return b"/" + text.encode("utf-8", "surrogatepass").replace(b" ", b"%20").replace(b"\r", b"").replace(b"\n", b"")
    return b"/" + urllib.parse.quote(text, safe="/%.~").encode()


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None, insertions: list[tuple[int, bytes]]) -> bytes:
    """A fixture with some bytes flipped, then random bytes inserted, then maybe truncated."""
    mutated = bytearray(data)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    for position, inserted in insertions:
        at = position % (len(mutated) + 1)
        mutated[at:at] = inserted
    if cut is not None:
        del mutated[cut % (len(mutated) + 1):]
    return bytes(mutated)


# --------------------------------------------------------------------------------------------
# The stories
# --------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=300)
@given(query=queries, defaults=st.lists(param_values, max_size=2), named=st.lists(param_values, max_size=2),
       timeout=timeouts, fmt=formats, how=st.sampled_from(["GET", "POST form", "POST direct"]),
       content_type=st.sampled_from(CONTENT_TYPES))
def test_any_query_with_any_parameters_gets_a_sound_answer(target, query, defaults, named, timeout, fmt, how,
                                                           content_type):
    params = [("query", query)] + [("default-graph-uri", g) for g in defaults] + [("named-graph-uri", g) for g in named]
    params += ([("timeout", timeout)] if timeout is not None else []) + ([("format", fmt)] if fmt is not None else [])
    encoded = urllib.parse.urlencode(params, errors="surrogatepass").encode()
    port = port_of(target)
    if how == "GET":
        reply = exchange(port, "GET", b"/sparql?" + encoded, within=WITHIN)
    elif how == "POST form":
        reply = exchange(port, "POST", b"/sparql", {"Content-Type": b"application/x-www-form-urlencoded"}, encoded,
                         within=WITHIN)
    else:
        rest = urllib.parse.urlencode(params[1:], errors="surrogatepass").encode()
        reply = exchange(port, "POST", b"/sparql?" + rest, {"Content-Type": content_type.encode()},
                         query.encode("utf-8", "surrogatepass"), within=WITHIN)
    assert_sound(reply, f"{how} {query!r}")


@settings(FUZZ, max_examples=200)
@given(accept=accept_headers, route=st.sampled_from(["/sparql?query=ASK%7B%7D", "/id/naltrexone", "/", "/dumps",
                                                     "/.well-known/void", "/changes", "/ontology", "/nothing/here"]))
def test_any_accept_header_gets_a_sound_answer(target, accept, route):
    reply = exchange(port_of(target), "GET", route.encode(), {"Accept": accept}, within=WITHIN)
    assert_sound(reply, f"Accept {accept!r} on {route}")
    assert reply.status in (200, 400, 404, 406), (route, accept, reply.status)


@settings(FUZZ, max_examples=300)
@given(text=path_text, raw=st.booleans(), under=st.sampled_from(["", "id/", "static/", "dumps/", "ontology/", "id/claim/"]),
       accept=st.sampled_from([b"text/html", b"text/turtle", b"*/*"]))
def test_any_path_under_the_base_gets_a_sound_answer(target, text, raw, under, accept):
    path = encode_path(under + text, raw)
    reply = exchange(port_of(target), "GET", path, {"Accept": accept}, within=WITHIN)
    assert_sound(reply, f"GET {path[:200]!r}")
    assert reply.status in (200, 301, 302, 304, 308, 400, 404, 405, 406, 414), (path[:200], reply.status)


PAYLOADS = sorted(path.name for path in VALID.glob("claim-with-new-source.*"))


@pytest.mark.parametrize("fixture", PAYLOADS)
@settings(FUZZ, max_examples=30, deadline=timedelta(seconds=WITHIN + 31))
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10_000)),
       insertions=st.lists(st.tuples(st.integers(0, 10_000), st.one_of(
           st.binary(max_size=12), st.sampled_from([b"{", b"}", b"<", b"\"", b"@prefix", b"&x;", b"<!ENTITY",
                                                     b"\xff", b"\x00", b"[", b"(", b"\\u0000", b"@context"]))),
           max_size=3),
       accept=st.sampled_from([b"application/json", b"text/html", b"text/turtle"]))
def test_any_mutation_of_a_valid_payload_gets_a_report_or_a_clear_refusal(validate_route, fixture, flips, cut,
                                                                         insertions, accept):
    body = mutate((VALID / fixture).read_bytes(), flips, cut, insertions)
    headers = {"Content-Type": PAYLOAD_TYPES[Path(fixture).suffix].encode(), "Accept": accept}
    reply = exchange(port_of(validate_route), "POST", b"/validate", headers, body, within=WITHIN + 30)
    assert_sound(reply, f"/validate {fixture} mutated")
    assert reply.status in (200, 400, 413, 415), (fixture, reply.status, reply.body[:300])
