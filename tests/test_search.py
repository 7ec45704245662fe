"""Finding things by name: /search and /search/suggest on the bundled graph, as a researcher types them.

Each quality test asserts the top hit for what a person would type; the curation story checks
that an accepted submission is found at once and a retracted one no longer is; the index
follows the store (rebuilt when missing, caught up when behind, 503 while it is rebuilt, a failed
rebuild tried again by itself). An engine that stops under a frontend's search: test_engine_faults.py.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import fetch, in_process, serving
from test_curation import VALID, send

BASE = "https://w3id.org/ldn-kg/"
JSON = {"Accept": "application/json"}


def _found_once_ready(base: str, text: str, seconds: float) -> str:
    """The first hit's IRI for `text` once the search answers 200, asked every 0.1 s for at most `seconds`."""
    for _ in range(int(seconds * 10)):
        reply = fetch(f"{base}/search", headers=JSON, params={"q": text})
        if reply.status == 200:
            return reply.json()["hits"][0]["iri"]
        threading.Event().wait(0.1)
    raise AssertionError(f"search still answered {reply.status} after {seconds} s: {reply.text}")


def hits(base: str, text: str, **params: str) -> list[dict]:
    """The hits of a search, as a client reading JSON gets them."""
    reply = fetch(f"{base}/search", headers=JSON, params={"q": text, **params})
    assert reply.status == 200, reply.text
    return reply.json()["hits"]


def suggestions(base: str, text: str) -> list[dict]:
    reply = fetch(f"{base}/search/suggest", params={"q": text})
    assert reply.status == 200, reply.text
    return reply.json()["suggestions"]


@pytest.mark.parametrize(("text", "top"), [
    ("fibromyalgia", "id/fibromyalgia"),  # the condition, before the claims and studies that name it
    ("Younger", "id/source/younger-2014"),  # an author's name finds the paper
    ("4.5 mg", "id/low-dose-naltrexone"),  # the low-dose regimen, whose typical amount it is
    ("TLR4", "id/toll-like-receptor-4"),  # the receptor, by its alternative label
    ("Cochrane", "id/source/parker-2018"),  # the 2018 Cochrane review
    ("10.1007/s10067-014-2517-2", "id/source/younger-2014"),  # a DOI pasted whole
    ("https://doi.org/10.1002/14651858.CD010410.pub3", "id/source/parker-2018"),  # a DOI as a link
    ("fibromialgia", "id/fibromyalgia"),  # one typo
    ("MONDO:0005546", "id/fibromyalgia"),  # an external identifier, as people write it
])
def test_the_top_hit_is_what_the_researcher_meant(app_base: str, text: str, top: str) -> None:
    found = hits(app_base, text)
    assert found, f"nothing found for {text!r}"
    assert found[0]["iri"] == BASE + top, [hit["iri"] for hit in found[:5]]


def test_typeahead_offers_the_condition_for_the_first_letters(app_base: str) -> None:
    offered = suggestions(app_base, "fibro")
    assert offered[0]["iri"] == f"{BASE}id/fibromyalgia"
    assert offered[0] == {"iri": f"{BASE}id/fibromyalgia", "label": "fibromyalgia", "kind": "Condition",
                          "type": f"{BASE}ontology#Condition", "href": "/id/fibromyalgia"}
    assert 1 < len(offered) <= 8
    assert all("fibromyalgia" in hit["label"].lower() for hit in offered)


def test_a_hit_says_what_it_is_where_the_words_are_and_where_it_lives(app_base: str) -> None:
    reply = fetch(f"{app_base}/search", headers=JSON, params={"q": "Toll-like receptor"})
    body = reply.json()
    assert reply.headers["content-type"].startswith("application/json")
    assert body["query"] == "Toll-like receptor" and body["total"] >= 1 and body["version"] >= 1
    first = body["hits"][0]
    assert first["iri"] == f"{BASE}id/toll-like-receptor-4" and first["kind"] == "Receptor"
    assert first["type"] == f"{BASE}ontology#Receptor" and first["type"] in first["types"]
    assert first["href"] == "/id/toll-like-receptor-4" and first["score"] > 0
    marked = [first["snippet"][start:end].lower() for start, end in first["highlights"]]
    assert {"toll", "like", "receptor"} <= set(marked)
    assert any(kind["label"] == "Receptor" and kind["count"] >= 1 for kind in body["types"])


def test_the_results_page_lists_hits_with_marked_words_and_filters_by_type(app_base: str) -> None:
    page = fetch(f"{app_base}/search", headers={"Accept": "text/html"}, params={"q": "fibromyalgia"})
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert '<li class="search-hit" data-iri="https://w3id.org/ldn-kg/id/fibromyalgia">' in page.text
    assert "<mark>fibromyalgia</mark>" in page.text
    assert 'href="/search?q=fibromyalgia&amp;type=https' in page.text  # the type filter's links

    claims = hits(app_base, "fibromyalgia", type="ldn:EvidenceClaim")
    assert claims and all(f"{BASE}ontology#EvidenceClaim" in hit["types"] for hit in claims)
    everything = hits(app_base, "fibromyalgia", limit="50")
    assert len(claims) < len(everything)


def test_a_type_filter_finds_the_things_of_its_subclasses_too(app_base: str) -> None:
    """The sources are journal articles, reviews, web documents...: ldn:Source finds them all, as the home page counts them."""
    sources = hits(app_base, "naltrexone", type="ldn:Source", limit="100")
    assert sources and any(hit["type"] != f"{BASE}ontology#Source" for hit in sources)
    assert all(f"{BASE}ontology#Source" in hit["types"] for hit in sources)


def test_a_results_page_past_the_last_is_404_and_one_past_the_deepest_a_400_about_pages(app_base: str) -> None:
    past = fetch(f"{app_base}/search", headers={"Accept": "text/html"}, params={"q": "naltrexone", "page": "500"})
    assert past.status == 404 and "no page 500" in past.text
    assert past.headers["content-type"].startswith("text/html")  # a reader gets the search page, saying so
    assert '<form class="search-page"' in past.text and 'href="/search?q=naltrexone">the first page</a>' in past.text
    deepest = fetch(f"{app_base}/search", headers={"Accept": "text/html"}, params={"q": "naltrexone", "page": "100000"})
    assert deepest.status == 400 and "page must be between 1 and" in deepest.text


@pytest.mark.parametrize("paging", [{"page": "50"}, {"offset": "5000"}, {"limit": "100", "page": "2"}])
def test_past_the_last_page_json_and_html_agree_on_a_404_saying_how_many_pages(app_base: str, paging: dict) -> None:
    """A program paging through JSON learns where the hits end as a reader of the page does."""
    total = fetch(f"{app_base}/search", headers=JSON, params={"q": "naltrexone"}).json()["total"]
    assert 20 < total <= 100
    for accept in ("application/json", "text/html"):
        past = fetch(f"{app_base}/search", headers={"Accept": accept}, params={"q": "naltrexone", **paging})
        assert past.status == 404, (accept, past.text)
        assert f"{total} hits make" in past.text
    assert hits(app_base, "no such words anywhere xyzzy") == []  # the first page of no hits is still a 200
    by_name = fetch(f"{app_base}/search", params={"q": "naltrexone", "format": "json", **paging})  # no Accept at all
    assert by_name.status == 404 and by_name.content_type == "application/json"  # the error in the form asked for
    assert f"{total} hits make" in by_name.json()["error"]


def test_pages_of_hits_follow_each_other_without_overlap(app_base: str) -> None:
    everything = [hit["iri"] for hit in hits(app_base, "naltrexone", limit="30")]
    first = [hit["iri"] for hit in hits(app_base, "naltrexone", limit="10", page="1")]
    second = [hit["iri"] for hit in hits(app_base, "naltrexone", limit="10", page="2")]
    by_offset = [hit["iri"] for hit in hits(app_base, "naltrexone", limit="10", offset="10")]
    assert first == everything[:10] and second == everything[10:20] == by_offset


@pytest.mark.parametrize(("paging", "says"), [
    ({"limit": "0"}, "limit must be between 1 and 100"),  # was a 500: the page range was counted in pages of 0
    ({"limit": "0", "page": "2"}, "limit must be between 1 and 100"),
    ({"limit": "-5"}, "limit must be between 1 and 100"),
    ({"limit": "101", "offset": "0"}, "limit must be between 1 and 100"),
    ({"limit": "1e3"}, "limit must be a whole number"),
    ({"limit": "9" * 5000}, "limit must be a whole number"),
    ({"page": "0"}, "page must be between 1 and 500"),
    ({"page": "-1"}, "page must be between 1 and 500"),
    ({"page": "99999999999999999999999"}, "page must be between 1 and 500"),
    ({"page": "two"}, "page must be a whole number"),
    ({"limit": "1", "page": "10001"}, "page must be between 1 and 10000"),
    ({"offset": "-1"}, "offset must be between 0 and 9999"),
    ({"offset": "10000"}, "offset must be between 0 and 9999"),
    ({"offset": "ten"}, "offset must be a whole number"),
    ({"page": "2", "offset": "20"}, "give page= or offset=, not both"),
])
def test_paging_out_of_range_is_a_400_naming_the_parameter_never_a_500(app_base: str, paging: dict, says: str) -> None:
    for text in ("naltrexone", ""):
        for accept in ("application/json", "text/html"):
            reply = fetch(f"{app_base}/search", headers={"Accept": accept}, params={"q": text, **paging})
            assert reply.status == 400, (text, accept, reply.status, reply.text)
            assert says in reply.text


def test_a_format_not_offered_is_a_400_listing_those_that_are(app_base: str) -> None:
    refused = fetch(f"{app_base}/search", params={"q": "fibro", "format": "xx"})
    assert refused.status == 400 and refused.text.strip().endswith("use one of: html, json")
    for name, media_type in (("html", "text/html"), ("json", "application/json")):
        offered = fetch(f"{app_base}/search", params={"q": "fibro", "format": name})
        assert offered.status == 200 and offered.content_type == media_type


def test_the_search_boxes_take_no_more_text_than_the_server_searches(app_base: str) -> None:
    """A browser stops typing at the box's maxlength; the server's limit is the same number."""
    for path in ("/", "/search?q=fibro", "/ontology"):
        page = fetch(f"{app_base}{path}", headers={"Accept": "text/html"}).text
        boxes = re.findall(r'<input type="search" name="q"[^>]*>', page)
        assert boxes and all('maxlength="500"' in box for box in boxes), (path, boxes)
    assert fetch(f"{app_base}/search", headers=JSON, params={"q": "a" * 500}).status == 200
    assert fetch(f"{app_base}/search", headers=JSON, params={"q": "a" * 501}).status == 400


@pytest.mark.parametrize(("params", "status", "says"), [
    ({"q": "a" * 2000}, 400, "at most 500"),
    ({"q": "\x00\x01binary"}, 400, "not readable text"),
    ({"q": "fibro", "limit": "lots"}, 400, "limit must be a whole number"),
    ({"q": "fibro", "limit": "1000"}, 400, "between 1 and 100"),
    ({"q": "fibro", "type": "nope:Thing"}, 400, "unknown prefix"),
    ({"q": "fibro", "type": "x y"}, 400, "is not a class's IRI"),
    ({"q": "fibro", "type": "ldn:"}, 400, "names no class"),
    ({"q": "fibro", "type": "https://example.org/T>"}, 400, "is not a class's IRI"),
])
def test_bad_input_gets_a_400_naming_the_problem(app_base: str, params: dict, status: int, says: str) -> None:
    for route in ("/search", "/search/suggest"):
        reply = fetch(f"{app_base}{route}", params=params)
        if route == "/search/suggest" and "type" in params:
            continue  # suggest takes no type filter
        assert reply.status == status, (route, reply.text)
        assert says in reply.text


@pytest.mark.parametrize("text", ["", "   ", 'title:(foo AND "bar', "*", "fibro~2 OR -x", "()[]{}^\"'~*?:\\/", "日本語"])
def test_empty_or_operator_laden_text_answers_plainly(app_base: str, text: str) -> None:
    reply = fetch(f"{app_base}/search", headers=JSON, params={"q": text})
    assert reply.status == 200, reply.text
    assert reply.json()["hits"] == [] or all(hit["iri"].startswith("http") for hit in reply.json()["hits"])
    assert fetch(f"{app_base}/search/suggest", params={"q": text}).status == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=120))
def test_no_text_makes_search_fail(app_base: str, text: str) -> None:
    for route in ("/search", "/search/suggest"):
        reply = fetch(f"{app_base}{route}", headers=JSON, params={"q": text})
        assert reply.status in (200, 400), (text, reply.status, reply.text)


def test_a_build_writes_the_index_beside_the_store(kgserver, sources_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = kgserver("build", "--store", store)
    assert result.returncode == 0, result.stderr
    assert "search index:" in result.stderr + result.stdout
    stamp = (tmp_path / "store.search" / "kgserver-search.json").read_text()
    assert '"version": 1' in stamp


@pytest.mark.slow
def test_an_accepted_submission_is_found_at_once_and_a_retracted_one_no_longer(add_curator, built_store, sources_root, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    token = add_curator("ada", "--store", store)
    with serving(store, sources_root, tmp_path / "serve.log") as server:
        assert hits(server.base, "10.1186/test-trial-report") == []
        accepted = send(server.base, "/submissions", VALID / "claim-with-new-source.ttl", token=token)
        assert accepted.status == 201, accepted.text

        assert hits(server.base, "10.1186/test-trial-report")[0]["iri"] == f"{BASE}id/source/test-trial-report"
        assert hits(server.base, "fibromyalgia trial reports its results")[0]["iri"] == (
            f"{BASE}id/claim/test-fibromyalgia-trial-results")
        assert any(hit["label"] == "Test trial report" for hit in suggestions(server.base, "Test tria"))

        submission = accepted.json()["submission"].rsplit("/", 1)[-1]
        retracted = fetch(f"{server.base}/submissions/{submission}", "DELETE", headers={"Authorization": f"Bearer {token}"})
        assert retracted.status == 200, retracted.text
        assert hits(server.base, "10.1186/test-trial-report") == []
        assert all(hit["iri"] != f"{BASE}id/claim/test-fibromyalgia-trial-results"
                   for hit in hits(server.base, "fibromyalgia trial reports its results", limit="100"))


def test_a_missing_index_is_rebuilt_when_the_server_starts(built_store, sources_root, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built_store, store)  # the index beside the built store is not copied
    assert not (tmp_path / "store.search").exists()
    with in_process(store, sources_root) as app:
        assert hits(app.base, "TLR4")[0]["iri"] == f"{BASE}id/toll-like-receptor-4"
    assert (tmp_path / "store.search" / "kgserver-search.json").is_file()


def test_an_index_behind_the_store_catches_up_from_the_changed_graphs(add_curator, built_store, sources_root, tmp_path, caplog):
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    token = add_curator("ada", "--store", store)
    with serving(store, sources_root, tmp_path / "serve.log") as server:  # writes the index at the store's version
        shutil.copytree(tmp_path / "store.search", tmp_path / "index-before")
        assert send(server.base, "/submissions", VALID / "claim-with-new-source.ttl", token=token).status == 201
        version = int(fetch(f"{server.base}/health").json()["version"])
    shutil.rmtree(tmp_path / "store.search")
    (tmp_path / "index-before").rename(tmp_path / "store.search")  # as a server on an older index starts
    assert f'"version": {version - 1}' in (tmp_path / "store.search" / "kgserver-search.json").read_text()
    caplog.set_level("INFO", logger="kgserver.search")
    with in_process(store, sources_root) as app:
        body = fetch(f"{app.base}/search", headers=JSON, params={"q": "10.1186/test-trial-report"}).json()
        said = [record.getMessage() for record in caplog.records]
        assert any(f"version {version}," in line and "documents updated" in line for line in said), said
        assert not any("rebuilding" in line for line in said), said
        assert body["version"] == version
        assert body["hits"][0]["iri"] == f"{BASE}id/source/test-trial-report"


def test_a_search_while_the_index_is_rebuilt_gets_503_with_retry_after(built_store, sources_root, tmp_path, monkeypatch):
    from kgserver.search import live

    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    release = threading.Event()
    real_rebuild = live.rebuild_in_child  # the rebuilding process, held back until the test lets it start

    def slow_rebuild(*args, **kwargs):
        release.wait(30)
        return real_rebuild(*args, **kwargs)

    monkeypatch.setattr(live, "rebuild_in_child", slow_rebuild)
    monkeypatch.setattr(live, "CATCH_UP_TRIPLES", 0)  # every store counts as large: rebuilt in the background
    with in_process(store, sources_root) as app:
        busy = fetch(f"{app.base}/search", headers=JSON, params={"q": "TLR4"})
        assert busy.status == 503 and "being rebuilt" in busy.json()["error"]
        assert int(busy.headers["retry-after"]) > 0
        assert fetch(f"{app.base}/search/suggest", params={"q": "TL"}).status == 503
        assert fetch(f"{app.base}/health").json()["search"]["state"] == "rebuilding"
        release.set()
        assert _found_once_ready(app.base, "TLR4", seconds=10) == f"{BASE}id/toll-like-receptor-4"
        assert fetch(f"{app.base}/health").json()["search"] == {"state": "ready", "version": 1, "directory": "store.search"}


def test_a_failed_rebuild_is_a_503_that_says_why_and_is_tried_again_until_it_works(
    built_store, sources_root, tmp_path, monkeypatch
):
    """A full disk: searches say why (never a stale answer) and /health "failed"; once there is room, search works by
    itself, with no commit or restart, and /health says "ready"."""
    from kgserver.search import live

    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    disk = {"full": True}

    def unless_room(rebuild):
        def attempt(*args, **kwargs):
            if disk["full"]:
                raise OSError(28, "No space left on device")
            return rebuild(*args, **kwargs)
        return attempt

    monkeypatch.setattr(live, "rebuild", unless_room(live.rebuild))  # the first try, before the server answers
    monkeypatch.setattr(live, "rebuild_in_child", unless_room(live.rebuild_in_child))  # the tries after
    monkeypatch.setattr(live, "RETRY_FIRST_SECONDS", 2.0)  # the first try again comes after the 503s below
    with in_process(store, sources_root) as app:
        reply = fetch(f"{app.base}/search", headers=JSON, params={"q": "TLR4"})
        assert reply.status == 503 and "could not be built" in reply.json()["error"]
        assert "No space left on device" in reply.json()["error"] and reply.headers["retry-after"]
        assert fetch(f"{app.base}/health").json()["search"]["state"] == "failed"
        assert fetch(f"{app.base}/sparql", params={"query": "ASK {}"}, headers={"Accept": "application/sparql-results+json"}).status == 200

        disk["full"] = False
        assert _found_once_ready(app.base, "TLR4", seconds=30) == f"{BASE}id/toll-like-receptor-4"
        assert fetch(f"{app.base}/health").json()["search"]["state"] == "ready"


def test_an_index_of_another_dataset_at_the_same_version_number_is_rebuilt(built_store, sources_root, tmp_path, caplog):
    import json

    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    with in_process(store, sources_root):
        pass  # the index of this store, version 1
    stamp_file = tmp_path / "store.search" / "kgserver-search.json"
    stamp = json.loads(stamp_file.read_text())
    assert stamp["version"] == 1 and stamp["modified"]
    stamp_file.write_text(json.dumps(stamp | {"modified": "2001-01-01T00:00:00+00:00"}))  # as another store's index
    caplog.set_level("INFO", logger="kgserver.search")
    with in_process(store, sources_root) as app:
        assert hits(app.base, "TLR4")[0]["iri"] == f"{BASE}id/toll-like-receptor-4"
    assert any("rebuilding" in record.getMessage() for record in caplog.records)
    assert json.loads(stamp_file.read_text())["modified"] == stamp["modified"]


def test_a_browser_can_add_the_graph_as_a_search_engine_with_suggestions(app_base: str) -> None:
    from xml.etree import ElementTree

    home = fetch(f"{app_base}/", headers={"Accept": "text/html"})
    assert '<link rel="search" type="application/opensearchdescription+xml" title="LDN-KG" href="/opensearch.xml">' in home.text
    description = fetch(f"{app_base}/opensearch.xml")
    assert description.status == 200 and description.headers["content-type"] == "application/opensearchdescription+xml"
    namespace = {"os": "http://a9.com/-/spec/opensearch/1.1/"}
    urls = {url.get("type"): url.get("template")
            for url in ElementTree.fromstring(description.body).findall("os:Url", namespace)}
    assert urls["text/html"].endswith("/search?q={searchTerms}")
    suggest = urls["application/x-suggestions+json"]
    assert suggest.endswith("/search/suggest?q={searchTerms}&format=opensearch")

    path = "/" + suggest.split("/", 3)[3].replace("{searchTerms}", "fibro")
    answer = fetch(f"{app_base}{path}")
    assert answer.headers["content-type"] == "application/x-suggestions+json"
    text, labels, kinds, links = answer.json()
    assert text == "fibro" and labels[0] == "fibromyalgia" and kinds[0] == "Condition"
    assert links[0].endswith("/id/fibromyalgia") and len(labels) == len(kinds) == len(links)


class _OutOfOrder:
    """A store that writes each graph's lines backwards, as an engine may (Virtuoso lists no subject's triples together)."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def dump(self, output, format=None, *, from_graph=None, **options) -> None:
        lines = self._store.dump(None, format, from_graph=from_graph, **options).splitlines(keepends=True)
        output.write(b"".join(reversed(lines)))


def test_a_store_that_writes_a_graph_in_no_subject_order_gives_each_document_once_and_the_same(built_store) -> None:
    from kgserver.changes import read_state
    from kgserver.config import Settings
    from kgserver.search.documents import DocumentReader, searchable_graphs
    from kgserver.store import open_read_only

    settings = Settings.from_env()
    store = open_read_only(built_store)
    graphs = searchable_graphs(settings, read_state(store, settings).live_graphs)
    in_order = list(DocumentReader(settings, store, graphs).all_documents())
    scrambled = list(DocumentReader(settings, _OutOfOrder(store), graphs).all_documents())
    assert not any(document.replaces for document in scrambled)  # none made a second time, one query at a time
    assert sorted(scrambled, key=lambda d: d.iri) == sorted(in_order, key=lambda d: d.iri)
    assert len(in_order) > 400
