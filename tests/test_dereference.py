"""Every IRI of the dataset resolves on the running server, for crawlers, browsers and rdflib.

The server is `kgserver serve` on the bundled store (the `served_store` fixture), called over
HTTP as clients call it; what it must answer is read from `kgserver export`, the dump.
"""

from __future__ import annotations

import gzip
import urllib.parse
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.term import Node
from serving import Reply, fetch

pytestmark = pytest.mark.slow  # crawls a real server over HTTP

BASE = "https://w3id.org/ldn-kg/"
NALTREXONE = f"{BASE}id/naltrexone"
RDF_FORMATS = {  # media type: rdflib parser
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
    "application/n-triples": "nt",
}
SUFFIXES = {"ttl": "text/turtle", "jsonld": "application/ld+json", "rdf": "application/rdf+xml",
            "nt": "application/n-triples", "html": "text/html"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
RDF_LABEL = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
RDF_TYPE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
ANY_BLANK_NODE = BNode("any")
# IRIs another route answers for: the crawl checks they resolve and parse, not what they say.
ANSWERED_ELSEWHERE = {"/dataset": "the VoID description, kgserver/web/publishing_routes.py"}

Triple = tuple[Node, Node, Node]
Get = Callable[..., Reply]  # the `get` fixture: a path of the served store, an Accept, other headers


@pytest.fixture(scope="module")
def get(served_store: str) -> Get:
    """Ask the served store for a path, sent as written (no normalisation), so traversal attempts reach it intact."""

    def get(path: str, accept: str | None = None, method: str = "GET", **headers: str) -> Reply:
        sent = {**({"Accept": accept} if accept else {}), **{k.replace("_", "-"): v for k, v in headers.items()}}
        return fetch(served_store + path, method, sent, timeout=30)

    return get


@pytest.fixture(scope="module")
def dump(kgserver, built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Every quad of the store, as `kgserver export` writes it."""
    result = kgserver("export", "--store", built_store)
    assert result.returncode == 0, result.stderr
    dataset = Dataset(default_union=True)
    dataset.parse(data=result.stdout, format="nquads")
    return dataset


def local_path(iri: str) -> str:
    """The path an IRI under the base is served at: the base replaced by /, the fragment dropped."""
    return "/" + iri[len(BASE):].split("#")[0]


def comparable(triples: Iterator[Triple] | Graph) -> set[Triple]:
    """Triples with every blank node made the same, since each document names its blank nodes afresh."""
    return {
        tuple(ANY_BLANK_NODE if isinstance(term, BNode) else term for term in triple)  # type: ignore[misc]
        for triple in triples
    }


def iris_under_base(dump: Dataset) -> set[str]:
    return {
        str(term) for quad in dump.quads((None, None, None, None)) for term in quad
        if isinstance(term, URIRef) and str(term).startswith(BASE)
    }


def expected_by_path(dump: Dataset) -> dict[str, set[Triple]]:
    """For every path a crawler visits, the triples of the dump about the IRIs it stands for."""
    about: dict[str, set[Triple]] = defaultdict(set)
    for iri in iris_under_base(dump):
        about[local_path(iri)] |= comparable(
            (s, p, o) for s, p, o, _ in dump.quads((URIRef(iri), None, None, None))
        )
    return about


def test_every_iri_of_the_dump_resolves_in_every_rdf_format(get: Get, dump: Dataset) -> None:
    """A crawler takes every IRI under the base from the dump and gets its triples back in each RDF format."""
    expected = expected_by_path(dump)
    assert len(expected) > 100
    assert "/ontology" in expected and "/shapes" in expected

    def check(path: str, media_type: str) -> str | None:
        reply = get(urllib.parse.quote(path), accept=media_type)
        if reply.status != 200 or reply.content_type != media_type:
            return f"{path} as {media_type}: {reply.status} {reply.content_type}"
        graph = Graph().parse(data=reply.body, format=RDF_FORMATS[media_type])
        if path in ANSWERED_ELSEWHERE:
            return None if len(graph) else f"{path} as {media_type}: empty"
        missing = expected[path] - comparable(graph)
        return f"{path} as {media_type}: {len(missing)} triples missing, e.g. {next(iter(missing))}" if missing else None

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(lambda job: check(*job), [(p, m) for p in expected for m in RDF_FORMATS]) if f]
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("path", ["/id/naltrexone", "/ontology", "/ontology/1.0.0", "/shapes"])
def test_rdflib_reads_a_resource_from_its_url(served_store: str, dump: Dataset, path: str) -> None:
    """rdflib's Graph().parse(url) asks for RDF by Accept and gets it; with format='json-ld' too."""
    for fmt in (None, "json-ld", "turtle", "nt", "xml"):
        graph = Graph().parse(served_store + path, format=fmt)
        assert len(graph) > 0, (path, fmt)
    if path == "/id/naltrexone":
        assert (URIRef(NALTREXONE), RDF_LABEL, Literal("naltrexone", lang="en")) in graph


def test_the_ontology_document_holds_every_term_it_defines(get: Get, dump: Dataset) -> None:
    """/ontology is the whole ontology graph: ldn:Drug's definition and every axiom's blank nodes."""
    ontology_graph = dump.graph(URIRef(f"{BASE}graph/ontology"))
    served = Graph().parse(data=get("/ontology", accept="text/turtle").body, format="turtle")
    assert comparable(ontology_graph) <= comparable(served)
    assert (URIRef(f"{BASE}ontology#Drug"), RDF_TYPE, URIRef("http://www.w3.org/2002/07/owl#Class")) in served


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("text/turtle", "text/turtle"),
        ("text/turtle;q=0.5, application/ld+json", "application/ld+json"),
        ("text/html;q=0.9, application/rdf+xml", "application/rdf+xml"),
        ("application/n-triples;q=0.2, text/turtle;q=0.3", "text/turtle"),
        ("application/xhtml+xml", "text/html"),
        (BROWSER_ACCEPT, "text/html"),
        ("*/*", "text/turtle"),
        (None, "text/turtle"),
    ],
)
def test_accept_with_q_values_chooses_the_form(get: Get, accept: str | None, media_type: str) -> None:
    """The best form for the client's Accept, q-values honoured; */* or nothing gets Turtle."""
    reply = get("/id/naltrexone", accept=accept)
    assert reply.status == 200
    assert reply.content_type == media_type
    suffix = next(name for name, media in SUFFIXES.items() if media == media_type)
    assert reply.headers["content-location"] == f"/id/naltrexone.{suffix}"
    assert "Accept" in reply.header_values("Vary")


@pytest.mark.parametrize(("suffix", "media_type"), SUFFIXES.items())
def test_a_suffix_or_format_parameter_fixes_the_form(get: Get, suffix: str, media_type: str) -> None:
    """Links can name a form: /id/naltrexone.ttl or ?format=ttl answer Turtle whatever Accept says."""
    for path in (f"/id/naltrexone.{suffix}", f"/id/naltrexone?format={suffix}"):
        reply = get(path, accept="image/png")
        assert reply.status == 200, path
        assert reply.content_type == media_type, path
        assert "Accept" not in reply.header_values("Vary"), path


def test_answers_link_to_every_alternate_and_json_ld_to_its_context(get: Get) -> None:
    """Link headers list each form; JSON-LD names its published @context, which holds the prefixes."""
    reply = get("/id/naltrexone", accept="application/ld+json")
    links = reply.header_values("Link")
    for suffix, media_type in SUFFIXES.items():
        assert f'</id/naltrexone.{suffix}>; rel="alternate"; type="{media_type}"' in links
    assert any(link.startswith("</context.jsonld>") and "json-ld#context" in link for link in links)
    context = get("/context.jsonld")
    assert context.status == 200 and context.content_type == "application/ld+json"
    assert '"kg": "https://w3id.org/ldn-kg/id/"' in context.text
    assert '"@context"' in reply.text and '"kg:naltrexone"' in reply.text


@pytest.mark.parametrize("accept", ["text/turtle; charset=utf-8", "text/turtle;charset=UTF-8;q=0.9",
                                    'application/ld+json; profile="http://www.w3.org/ns/json-ld#compacted"'])
def test_a_media_type_with_parameters_is_still_that_media_type(get: Get, accept: str) -> None:
    """RFC 9110 12.5.1: `text/turtle; charset=utf-8` (this server's own Content-Type) is Turtle, not a 406."""
    reply = get("/id/naltrexone", accept=accept)
    assert reply.status == 200, reply.text
    assert reply.content_type == accept.split(";")[0]


def test_nothing_acceptable_is_406_listing_what_is_offered(get: Get) -> None:
    reply = get("/id/naltrexone", accept="image/png")
    assert reply.status == 406
    assert reply.content_type == "text/plain"
    for media_type in [*RDF_FORMATS, "text/html"]:
        assert media_type in reply.text
    assert "Accept" in reply.header_values("Vary")


def test_an_unknown_iri_is_404_as_a_page_or_as_plain_text(get: Get) -> None:
    """A browser gets a page saying what is missing; an RDF client a line of text (as Fuseki answers)."""
    page = get("/id/no-such-thing", accept=BROWSER_ACCEPT)
    assert page.status == 404
    assert page.content_type == "text/html"
    assert f"{BASE}id/no-such-thing" in page.text
    turtle = get("/id/no-such-thing", accept="text/turtle")
    assert turtle.status == 404
    assert turtle.content_type == "text/plain"
    assert f"{BASE}id/no-such-thing" in turtle.text
    assert get("/id/no-such-thing.ttl").status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/id/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/id/..%2f..%2f..%2fetc/passwd",
        "/static/../../../pyproject.toml",
        "/id/naltrexone%00.ttl",
        "/id/%0d%0aSet-Cookie:x",
        "/id/" + "a" * 3000,
    ],
)
def test_traversal_and_malformed_paths_are_refused_without_reading_files(get: Get, path: str) -> None:
    reply = get(path, accept="text/turtle")
    assert reply.status in (400, 404), reply.status
    assert b"root:" not in reply.body and b"[project]" not in reply.body
    assert "set-cookie" not in reply.headers


def test_a_current_copy_is_answered_304(get: Get) -> None:
    """A client revalidating with the ETag or the date gets 304, with no body; another form has another ETag."""
    first = get("/id/naltrexone", accept="text/turtle")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag and modified
    again = get("/id/naltrexone", accept="text/turtle", If_None_Match=etag)
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == etag
    assert get("/id/naltrexone", accept="text/turtle", If_Modified_Since=modified).status == 304
    other = get("/id/naltrexone", accept="application/ld+json", If_None_Match=etag)
    assert other.status == 200 and other.headers["etag"] != etag


@pytest.mark.parametrize("path", ["/id/a%0ab", "/id/naltrexone%0a", "/store%0a", "/%0a", "/id/a%0Db"])
def test_a_newline_in_a_path_is_a_400_as_every_control_character_is(get: Get, path: str) -> None:
    reply = get(path, accept="text/turtle")
    assert reply.status == 400, (reply.status, reply.text)
    assert "cannot appear in an IRI" in reply.text


@pytest.mark.parametrize(("path", "accept"), [("/id/naltrexone", "text/turtle"), ("/store?default", "text/turtle"),
                                              ("/changes", "application/trig")])
def test_a_condition_that_does_not_hold_is_412_and_one_that_holds_is_the_answer(get: Get, path: str, accept: str) -> None:
    """If-Match and If-Unmodified-Since, as a harvester reading page after page sends them (RFC 9110, 13.1.1 and 13.1.4)."""
    first = get(path, accept=accept)
    assert first.status == 200 and first.headers["etag"].startswith('W/"')
    for condition in ({"If_Match": '"not-this-one"'}, {"If_Match": first.headers["etag"]},  # weak: never a strong match
                      {"If_Unmodified_Since": "Thu, 01 Jan 1970 00:00:00 GMT"}):
        failed = get(path, accept=accept, **condition)
        assert failed.status == 412, (condition, failed.status)
        assert "Precondition Failed" in failed.text and failed.headers["etag"] == first.headers["etag"]
    for condition in ({"If_Match": "*"}, {"If_Unmodified_Since": first.headers["last-modified"]}):
        held = get(path, accept=accept, **condition)
        assert held.status == 200 and held.headers["etag"] == first.headers["etag"], condition


def test_head_and_gzip(get: Get) -> None:
    head = get("/id/naltrexone", accept="text/turtle", method="HEAD")
    assert head.status == 200 and head.body == b"" and head.content_type == "text/turtle"
    zipped = get("/id/naltrexone", accept="text/turtle", Accept_Encoding="gzip")
    assert zipped.headers["content-encoding"] == "gzip"
    plain = get("/id/naltrexone", accept="text/turtle")
    assert gzip.decompress(zipped.body) == plain.body
    # a description is compressed whole, so it keeps a Content-Length, and HEAD says the same one
    assert zipped.headers["content-length"] == str(len(zipped.body))
    zipped_head = get("/id/naltrexone", accept="text/turtle", Accept_Encoding="gzip", method="HEAD")
    assert zipped_head.headers["content-length"] == zipped.headers["content-length"]


def test_the_naltrexone_page_shows_label_type_properties_and_links_to_it(get: Get, dump: Dataset) -> None:
    """A person opening the IRI in a browser sees its name, a type, a linked property and who links to it."""
    page = get("/id/naltrexone", accept=BROWSER_ACCEPT)
    assert page.status == 200 and page.content_type == "text/html"
    assert "<h1>naltrexone</h1>" in page.text
    subject = URIRef(NALTREXONE)
    a_type = next(o for o in dump.objects(subject, RDF_TYPE) if str(o).startswith(BASE))
    linked = next(o for p, o in dump.predicate_objects(subject) if p != RDF_TYPE and str(o).startswith(f"{BASE}id/"))
    linking = next(s for s in dump.subjects(None, subject) if str(s).startswith(f"{BASE}id/"))
    assert f'href="{local_path(str(a_type))}#{str(a_type).split("#")[1]}"' in page.text
    assert f'href="{local_path(str(linked))}"' in page.text
    assert f'href="{local_path(str(linking))}"' in page.text
    assert 'href="/id/naltrexone.ttl"' in page.text


def test_other_routes_are_not_shadowed(get: Get) -> None:
    """The resource route answers only what no other route does."""
    assert get("/health").content_type == "application/json"
    assert get("/sparql?query=ASK%7B%7D", accept="application/sparql-results+json").status == 200
    assert get("/static/style.css").content_type == "text/css"
    wrong = get("/validate")  # the gate's route, which takes POST: not an IRI that is missing
    assert wrong.status == 405 and "POST" in wrong.header_values("Allow"), wrong.text


def test_a_deployment_under_another_base_serves_its_own_iris(kgserver, mini_root, tmp_path):
    """LDNKG_BASE moves every minted IRI; the server maps its paths to that base, whatever host it runs on."""
    from serving import serving

    other = "http://kg.example.test/"
    store = tmp_path / "store"
    built = kgserver("build", "--store", store, root=mini_root, env={"LDNKG_BASE": other})
    assert built.returncode == 0, built.stderr
    with serving(store, mini_root, tmp_path / "serve.log", env={"LDNKG_BASE": other}) as server:
        graph = Graph().parse(f"{server.base}/id/naltrexone.ttl", format="turtle")
    assert (URIRef(f"{other}id/naltrexone"), None, None) in graph
    assert not [term for triple in graph for term in triple if str(term).startswith("https://w3id.org/ldn-kg/")]
