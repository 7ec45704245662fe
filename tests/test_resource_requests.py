"""A resource request flows one way: the store is asked once whether the IRI exists, the IRI is described
once, a claim page reuses that description, and JSON-LD is written once, never parsed back.

Asked of the app in-process (`app_base`), with the describing functions and the store's query gate
wrapped (`unittest.mock.patch(..., wraps=...)`) to count what one request calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

import pytest
from pyoxigraph import RdfFormat, parse
from serving import Reply, fetch

from kgserver import store as kgstore
from kgserver.linkeddata import describe
from kgserver.web import resource_routes

BASE = "https://w3id.org/ldn-kg/"
CLAIM = "id/claim/off-label-use-parker"
NALTREXONE = "id/naltrexone"


@contextmanager
def counting() -> Iterator[dict[str, mock.MagicMock]]:
    """The calls one request makes: IRI look-ups, descriptions, summaries, SPARQL queries, pyoxigraph's writer."""
    targets = {
        "mentions": (describe, "mentions"),
        "describe": (describe, "describe"),
        "concise_description": (describe, "concise_description"),
        "summarise": (describe, "summarise"),
        "query": (kgstore, "query"),
        "serialize": (resource_routes, "serialize"),
    }
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(mock.patch.object(owner, attribute, wraps=getattr(owner, attribute)))
            for name, (owner, attribute) in targets.items()
        }


def get(app_base: str, path: str, **headers: str) -> tuple[Reply, dict[str, mock.MagicMock]]:
    with counting() as calls:
        reply = fetch(f"{app_base}/{path}", headers={k.replace("_", "-"): v for k, v in headers.items()})
    return reply, calls


def test_a_claim_page_asks_the_store_about_its_claim_once(app_base: str):
    reply, calls = get(app_base, CLAIM, Accept="text/html")
    assert reply.status == 200 and 'class="claim-page"' in reply.text
    assert calls["mentions"].call_count == 1
    assert calls["describe"].call_count == 1
    assert calls["summarise"].call_count == 1
    # The claim's triples are read once, by its description (blank nodes it holds are followed from there) ...
    described = [call.args[1].value for call in calls["concise_description"].call_args_list]
    assert described == [BASE + CLAIM]
    # ... and the one SPARQL query is for the records of the sources it cites, named by the description.
    [query] = [call.args[1] for call in calls["query"].call_args_list]
    assert "VALUES (?claim ?source)" in query and "?claim ?property" not in query
    assert "The article gives no reference" not in reply.text and 'class="doi"' in reply.text


def test_a_resource_page_describes_its_iri_once(app_base: str):
    reply, calls = get(app_base, NALTREXONE, Accept="text/html")
    assert reply.status == 200
    assert [call.args[1] for call in calls["mentions"].call_args_list] == [[BASE + NALTREXONE]]
    assert (calls["describe"].call_count, calls["summarise"].call_count) == (1, 1)


@pytest.mark.parametrize("path, headers", [
    (NALTREXONE, {"Accept": "application/ld+json"}),
    (f"{NALTREXONE}.jsonld", {}),
    (f"{NALTREXONE}?format=jsonld", {}),
])
def test_json_ld_is_written_once_and_says_what_turtle_says(app_base: str, path: str, headers: dict[str, str]):
    reply, calls = get(app_base, path, **headers)
    assert reply.status == 200 and reply.content_type == "application/ld+json"
    assert calls["mentions"].call_count == 1
    assert calls["describe"].call_count == 1
    assert calls["serialize"].call_count == 0  # no expanded JSON-LD from the engine to parse and dump again
    document = reply.json()
    assert document["@context"]["ldn"] == "https://w3id.org/ldn-kg/ontology#"
    turtle = fetch(f"{app_base}/{NALTREXONE}", headers={"Accept": "text/turtle"})
    assert _triples(reply.body, RdfFormat.JSON_LD) == _triples(turtle.body, RdfFormat.TURTLE)


def test_json_ld_of_a_document_keeps_every_triple(app_base: str):
    """The ontology's answer interleaves subjects (the whole graph, then its terms): none is lost or merged away."""
    reply = fetch(f"{app_base}/ontology.jsonld")
    turtle = fetch(f"{app_base}/ontology.ttl")
    assert reply.status == 200 and turtle.status == 200
    assert _triples(reply.body, RdfFormat.JSON_LD) == _triples(turtle.body, RdfFormat.TURTLE)


def test_a_suffixed_path_is_looked_up_once_for_both_its_readings(app_base: str):
    """`id/x.ttl` is the IRI id/x.ttl if the dataset uses it, else id/x as Turtle: one look-up asks both."""
    reply, calls = get(app_base, f"{NALTREXONE}.ttl")
    assert reply.status == 200 and reply.content_type == "text/turtle"
    assert [call.args[1] for call in calls["mentions"].call_args_list] == [[f"{BASE}{NALTREXONE}.ttl", BASE + NALTREXONE]]
    assert calls["describe"].call_count == 1


def test_a_missing_iri_is_looked_up_once_and_never_described(app_base: str):
    reply, calls = get(app_base, "id/no-such-thing.jsonld")
    assert reply.status == 404
    assert calls["mentions"].call_count == 1
    assert calls["describe"].call_count == 0


def test_a_current_copy_is_revalidated_without_describing(app_base: str):
    first = fetch(f"{app_base}/{CLAIM}", headers={"Accept": "text/html"})
    reply, calls = get(app_base, CLAIM, Accept="text/html", If_None_Match=first.headers["etag"])
    assert reply.status == 304
    assert calls["mentions"].call_count == 1
    assert calls["describe"].call_count == 0 and calls["query"].call_count == 0


def test_the_json_ld_context_is_the_published_one(app_base: str):
    reply = fetch(f"{app_base}/{NALTREXONE}.jsonld")
    published = fetch(f"{app_base}/context.jsonld").json()["@context"]
    assert reply.json()["@context"] == published
    assert reply.json()["@graph"][0]["@id"] == "kg:naltrexone"


def _triples(body: bytes, fmt: RdfFormat) -> set[str]:
    """The triples of an answer as N-Triples lines, blank nodes named by the answer (both keep the store's)."""
    return {str(triple) for triple in parse(body, format=fmt)}
