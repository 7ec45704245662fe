"""After a curator's submission or retraction, everything the server publishes follows at once:
the endpoint, the resource pages, VoID, the dumps, ETags and the change feed."""

from __future__ import annotations

import gzip
import re

import pytest
from rdflib import Dataset, Graph, URIRef
from serving import fetch
from test_curation import BASE, VALID, ask, send, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # follows a submission through a real server

CLAIM = URIRef(f"{BASE}id/claim/test-fibromyalgia-trial-results")
VOID_VERSION = re.compile(r'hasVersion> "(\d+)"')


def void_version(base: str) -> int:
    body = fetch(f"{base}/.well-known/void", headers={"Accept": "application/n-triples"}).text
    return int(VOID_VERSION.search(body).group(1))


def whole_dump(base: str) -> Dataset:
    """The whole-dataset N-Quads dump VoID lists now."""
    body = fetch(f"{base}/.well-known/void", headers={"Accept": "application/n-triples"}).text
    [name] = set(re.findall(r"/dumps/(ldn-kg-v\d+\.nq\.gz)>", body))
    return Dataset().parse(data=gzip.decompress(fetch(f"{base}/dumps/{name}").body).decode("utf-8"), format="nquads")


def feed_graphs_since(base: str, version: int) -> set[str]:
    """The graphs the change feed reports as changed after `version`."""
    page = fetch(f"{base}/changes?since={version}", headers={"Accept": "application/n-quads"}).text
    return set(re.findall(r"<http://purl.org/dc/terms/isVersionOf> <([^>]+)>", page))


def test_a_submission_and_its_retraction_show_everywhere_at_once(add_curator, own_store, server):  # noqa: F811
    token = add_curator("ada", "--store", own_store)
    before = void_version(server)
    page_etag = fetch(f"{server}/").headers["etag"]
    assert not ask(server, f"ASK {{ <{CLAIM}> ?p ?o }}")  # answered, and kept by the response cache

    accepted = send(server, "/submissions", VALID / "claim-with-new-source.ttl", token=token).json()
    graph, version = accepted["graph"], accepted["version"]

    assert void_version(server) == version == before + 1
    assert ask(server, f"ASK {{ <{CLAIM}> ?p ?o }}")
    assert fetch(f"{server}/id/claim/test-fibromyalgia-trial-results.ttl").status == 200
    assert fetch(f"{server}/", headers={"If-None-Match": page_etag}).status == 200  # the old ETag no longer matches
    assert (CLAIM, None, None, URIRef(graph)) in whole_dump(server)
    assert graph in feed_graphs_since(server, before)

    submission_id = accepted["submission"].rsplit("/", 1)[1]
    retracted = fetch(f"{server}/submissions/{submission_id}", "DELETE", headers={"Authorization": f"Bearer {token}"})
    assert retracted.status == 200

    assert void_version(server) == version + 1
    assert not ask(server, f"ASK {{ <{CLAIM}> ?p ?o }}")
    assert fetch(f"{server}/id/claim/test-fibromyalgia-trial-results.ttl").status == 404
    assert not list(whole_dump(server).quads((CLAIM, None, None, None)))
    assert graph in feed_graphs_since(server, version)  # the deletion is a member of the feed
    record = Graph().parse(data=fetch(f"{server}/id/submission/{submission_id}.ttl").body, format="turtle")
    assert len(record) > 0
