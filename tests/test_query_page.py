"""The example catalogue and the query page as people and programs meet them on a running `kgserver serve`.

A program reads /.well-known/sparql-examples in the RDF format it asks for; every example in it
runs on /sparql and answers; a person opens /query in a browser, picks an example, runs it and
follows a result to the resource's page, and the page fetches nothing from anywhere else.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import browser
import pytest
from browser import Visit
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef
from serving import fetch, in_process

REPO = Path(__file__).resolve().parent.parent
QUERY_FILES = sorted((REPO / "queries").rglob("*.rq"))
BASE = "https://w3id.org/ldn-kg/"
SH = Namespace("http://www.w3.org/ns/shacl#")
SCHEMA = Namespace("https://schema.org/")
EXAMPLES = "/.well-known/sparql-examples"
SPARQL_JSON = "application/sparql-results+json"

# The harness's fixtures (tests/browser.py): one headless Chromium, a fresh recorded page per test.


def example_iri(path: Path) -> URIRef:
    return URIRef(f"{BASE}queries/{path.stem}")


# --- the catalogue, for programs ------------------------------------------------------------


def test_an_rdf_client_gets_one_shacl_executable_per_query_file_in_turtle(app_base: str) -> None:
    reply = fetch(app_base + EXAMPLES, headers={"Accept": "text/turtle"})
    assert reply.status == 200 and reply.content_type == "text/turtle"
    assert "Accept" in reply.headers["vary"]
    graph = Graph().parse(data=reply.text, format="turtle")
    assert set(graph.subjects(RDF.type, SH.SPARQLExecutable)) == {example_iri(path) for path in QUERY_FILES}
    for path in QUERY_FILES:
        text = path.read_text()
        held = {graph.value(example_iri(path), p) for p in (SH.select, SH.ask, SH.construct)} - {None}
        assert held == {Literal(text)}, path.name
        assert graph.value(example_iri(path), SCHEMA.target) == URIRef(f"{BASE}sparql")
        assert graph.value(example_iri(path), RDFS.label) is not None
    cq04 = example_iri(REPO / "queries" / "cq04-efficacy-lacking.rq")
    assert (cq04, RDF.type, SH.SPARQLSelectExecutable) in graph
    assert graph.value(cq04, RDFS.label) == Literal("CQ4", lang="en")
    assert graph.value(cq04, RDFS.comment) == Literal(
        "For which conditions does the evidence say efficacy is lacking or has not been shown?", lang="en"
    )


def test_a_client_without_preferences_gets_turtle_and_links_to_the_other_formats(app_base: str) -> None:
    reply = fetch(app_base + EXAMPLES)
    assert reply.status == 200 and reply.content_type == "text/turtle"
    assert 'rel="alternate"; type="application/ld+json"' in reply.headers["link"]


def test_json_ld_holds_the_same_catalogue(app_base: str) -> None:
    turtle = Graph().parse(data=fetch(app_base + EXAMPLES, headers={"Accept": "text/turtle"}).text, format="turtle")
    reply = fetch(app_base + EXAMPLES, headers={"Accept": "application/ld+json"})
    assert reply.status == 200 and reply.content_type == "application/ld+json"
    json.loads(reply.body)
    assert len(Graph().parse(data=reply.text, format="json-ld") ^ turtle) == 0


@pytest.mark.parametrize(
    ("name", "media_type", "parser"),
    [
        ("nt", "application/n-triples", "nt"),
        ("rdf", "application/rdf+xml", "xml"),
        ("jsonld", "application/ld+json", "json-ld"),
        ("ttl", "text/turtle", "turtle"),
    ],
)
def test_format_names_override_accept(app_base: str, name: str, media_type: str, parser: str) -> None:
    reply = fetch(f"{app_base}{EXAMPLES}?format={name}", headers={"Accept": "text/html"})
    assert reply.status == 200 and reply.content_type == media_type
    graph = Graph().parse(data=reply.text, format=parser)
    assert len(set(graph.subjects(RDF.type, SH.SPARQLExecutable))) == len(QUERY_FILES)


def test_a_browser_gets_a_readable_list_linking_each_example_to_the_query_page(app_base: str) -> None:
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    reply = fetch(app_base + EXAMPLES, headers={"Accept": browser_accept})
    assert reply.status == 200 and reply.content_type == "text/html"
    for path in QUERY_FILES:
        assert f'href="/query?example={path.stem}"' in reply.text
    assert "For which conditions does the evidence say efficacy is lacking or has not been shown?" in reply.text
    assert fetch(f"{app_base}{EXAMPLES}?format=html").content_type == "text/html"


def test_nothing_acceptable_is_a_406_naming_the_formats_on_offer(app_base: str) -> None:
    reply = fetch(app_base + EXAMPLES, headers={"Accept": "image/png"})
    assert reply.status == 406 and reply.content_type == "text/plain"
    assert "text/turtle" in reply.text and "application/ld+json" in reply.text
    assert "Accept" in reply.headers["vary"]
    unknown = fetch(f"{app_base}{EXAMPLES}?format=pdf")
    assert unknown.status == 400 and "ttl, jsonld, rdf, nt, html" in unknown.text


@pytest.mark.slow
def test_a_broken_query_file_stops_the_build_and_names_the_file(
    kgserver, copy_sources: Callable[[Path], Path], sources_root: Path, tmp_path: Path
) -> None:
    root = copy_sources(sources_root)
    shutil.copytree(REPO / "queries", root / "queries")
    (root / "queries" / "examples" / "ex99-broken.rq").write_text("SELECT * WHERE { ?s ?p ?o }\n")
    result = kgserver("build", "--store", tmp_path / "store", root=root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "queries/examples/ex99-broken.rq: the first line must be a header comment" in result.stderr


def test_the_catalogue_offered_is_the_one_the_store_holds(
    built_store: Path, copy_sources: Callable[[Path], Path], sources_root: Path, tmp_path: Path
) -> None:
    """A query file added to the checkout after the build is offered after the next build, not before."""
    root = copy_sources(sources_root)
    shutil.copytree(REPO / "queries", root / "queries")
    (root / "queries" / "examples" / "ex99-new.rq").write_text("# EX99: Anything?\nASK { ?s ?p ?o }\n")
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    with in_process(store, root, env={"LDNKG_WARM_REASONER": "0"}) as app:
        listed = fetch(app.base + EXAMPLES, headers={"Accept": "text/turtle"})
        catalogue = Graph().parse(data=listed.text, format="turtle")
        offered = set(catalogue.subjects(RDF.type, SH.SPARQLExecutable))
        assert offered == {example_iri(path) for path in QUERY_FILES}
        page = fetch(f"{app.base}/query?example=ex99-new", headers={"Accept": "text/html"})
        assert page.status == 200 and "ex99-new" not in [e for e in re.findall(r'data-example="([^"]+)"', page.text)]


# --- every example runs ---------------------------------------------------------------------


@pytest.mark.parametrize("path", QUERY_FILES, ids=[path.stem for path in QUERY_FILES])
def test_every_catalogued_example_answers_on_the_live_endpoint(app_base: str, path: Path) -> None:
    catalogue = Graph().parse(data=fetch(app_base + EXAMPLES).text, format="turtle")
    iri = example_iri(path)
    text = catalogue.value(iri, SH.select) or catalogue.value(iri, SH.ask) or catalogue.value(iri, SH.construct)
    assert text is not None, f"{path.name} is not in the catalogue"
    accept = {"Accept": f"{SPARQL_JSON}, text/turtle;q=0.9"}
    reply = fetch(app_base + "/sparql", "POST", accept, form={"query": str(text)})
    assert reply.status == 200, reply.text
    if reply.content_type == SPARQL_JSON:
        answer = json.loads(reply.body)
        assert answer.get("boolean") is True or answer["results"]["bindings"], f"{path.name} found nothing"
    else:
        assert reply.content_type == "text/turtle"
        assert len(Graph().parse(data=reply.text, format="turtle")) > 0, f"{path.name} built an empty graph"


# --- the query page, in a browser -------------------------------------------------------------


@pytest.mark.slow
def test_a_researcher_picks_an_example_runs_it_and_follows_a_result(served_store: str, visit: Visit) -> None:
    page = visit.page
    page.goto(f"{served_store}/query")
    assert page.locator(".CodeMirror").count() == 1  # the textarea became an editor
    page.click('a.example[data-example="ex02-claims-per-source"]')
    assert "?example=ex02-claims-per-source" in page.url
    assert page.locator(".CodeMirror .cm-keyword", has_text="SELECT").count() >= 1  # highlighted by CodeMirror
    assert page.locator(".CodeMirror .cm-variable-2").count() >= 1  # ?variables have their own colour
    page.click("#run")
    rows = page.locator("#results table.results tbody tr")
    rows.first.wait_for()
    assert rows.count() == 13
    assert page.text_content("#status").startswith("13 rows in ")
    assert page.locator("#results th").all_text_contents()[:2] == ["source", "title"]
    link = page.locator("#results a.resource", has_text="kg:source/niciu-2013")
    assert link.get_attribute("href") == "/id/source/niciu-2013"
    assert link.get_attribute("title") == f"{BASE}id/source/niciu-2013"
    downloads = page.locator("#downloads a")
    assert downloads.all_text_contents() == ["JSON", "XML", "CSV", "TSV"]
    assert downloads.nth(2).get_attribute("download") == "results.csv"
    csv = fetch(served_store + downloads.nth(2).get_attribute("href"))
    assert csv.content_type == "text/csv" and csv.text.startswith("source,title,references,doi,claims")
    visit.screenshot("query-page")
    assert (Path(__file__).parent / "artifacts" / "query-page.png").stat().st_size > 10_000
    assert visit.foreign_requests(served_store) == []
    assert visit.errors == []


@pytest.mark.slow
def test_control_enter_runs_a_preselected_example_and_ctrl_enter_shows_a_graph_as_turtle(
    served_store: str, visit: Visit
) -> None:
    page = visit.page
    page.goto(f"{served_store}/query?example=ex04-fibromyalgia-graph")
    assert page.locator('a.example[aria-current="true"]').get_attribute("data-example") == "ex04-fibromyalgia-graph"
    assert page.locator("#downloads a").all_text_contents() == ["Turtle", "N-Triples", "JSON-LD", "RDF/XML"]
    page.click(".CodeMirror")
    page.keyboard.press("Control+Enter")
    page.locator("#results pre.graph").wait_for()
    graph = Graph().parse(data=page.text_content("#results pre.graph"), format="turtle")
    assert len(set(graph.subjects(URIRef(BASE + "ontology#aboutCondition"), URIRef(BASE + "id/fibromyalgia")))) == 6
    assert visit.foreign_requests(served_store) == [] and visit.errors == []


@pytest.mark.slow
def test_a_query_in_the_address_is_loaded_asked_and_answered_true(served_store: str, visit: Visit) -> None:
    page = visit.page
    query = "ASK { kg:fibromyalgia rdfs:label ?label }"
    page.goto(f"{served_store}/query?" + urllib.parse.urlencode({"query": query}))
    assert page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()") == query
    page.click("#run")
    page.locator("#results .ask-answer").wait_for()
    assert page.text_content("#results .ask-answer") == "true"


@pytest.mark.slow
def test_an_error_from_the_endpoint_is_shown_as_text_not_markup(served_store: str, visit: Visit) -> None:
    page = visit.page
    page.goto(f"{served_store}/query?" + urllib.parse.urlencode({"query": "SELECT * WHERE { <b>oops</b> "}))
    page.click("#run")
    page.locator("#results .error").wait_for()
    assert page.text_content("#results .error strong").startswith("400")
    assert page.locator("#results .error pre").text_content().strip() != ""
    assert page.locator("#results b").count() == 0  # the query text in the message stays text
    assert page.text_content("#status").startswith("Failed after ")


@pytest.mark.slow
def test_literals_stay_text_and_external_iris_link_out(served_store: str, visit: Visit) -> None:
    page = visit.page
    query = (
        'SELECT ?text ?elsewhere WHERE { BIND("<img src=x onerror=alert(1)>" AS ?text) '
        "BIND(<https://example.org/x> AS ?elsewhere) }"
    )
    page.goto(f"{served_store}/query?" + urllib.parse.urlencode({"query": query}))
    page.click("#run")
    page.locator("#results table.results tbody tr").first.wait_for()
    assert page.locator("#results img").count() == 0
    assert page.text_content("#results td .literal") == "<img src=x onerror=alert(1)>"
    assert page.locator("#results a.external").get_attribute("href") == "https://example.org/x"
    assert visit.foreign_requests(served_store) == []


def test_an_unknown_example_name_is_explained_on_the_page(app_base: str) -> None:
    reply = fetch(f"{app_base}/query?example=cq99-nothing", headers={"Accept": "text/html"})
    assert reply.status == 200 and reply.content_type == "text/html"
    assert "There is no example named “cq99-nothing”" in reply.text
    chosen = fetch(f"{app_base}/query?example=cq08-systematic-reviews", headers={"Accept": "text/html"})
    assert "# CQ8: Which systematic reviews are there" in chosen.text  # in the editor before any script runs


# --- the browser harness itself -------------------------------------------------------------


def test_without_chromium_browser_tests_skip_locally_but_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium at"):
        browser.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser.require_chromium()
