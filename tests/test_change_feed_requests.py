"""A linked-data client of the change feed: it follows a member's IRI, and reads pages compressed.

The feed's pages list members (`tree:member <…/changes/v{N}/{name}>`) and carry each one's
content as a named graph. Those IRIs are under the base, so they resolve: to the member as the
pages describe and carry it. The stream keeps only the latest change of each graph, so an older
member's IRI is a 404 that names the member held now. Asked of the app in-process.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from rdflib import Dataset, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
from serving import fetch, in_process

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings

BASE = "https://w3id.org/ldn-kg/"
STREAM = URIRef(f"{BASE}changes")
LDN = Namespace(f"{BASE}ontology#")
TREE = Namespace("https://w3id.org/tree#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
AS = Namespace("https://www.w3.org/ns/activitystreams#")
SUBMISSION = f"{BASE}graph/submission/2026/first-curator"


def read(url: str, accept: str = "application/n-quads") -> Dataset:
    reply = fetch(url, headers={"Accept": accept})
    assert reply.status == 200, f"{url}: {reply.status} {reply.body[:200]!r}"
    return Dataset().parse(data=reply.body, format={"application/n-quads": "nquads", "application/trig": "trig"}[accept])


def path_of(iri: URIRef) -> str:
    return "/" + str(iri).removeprefix(BASE)


def test_every_member_a_page_lists_resolves_to_what_the_page_says_and_carries(app_base):
    page = read(f"{app_base}/changes?since=0")
    said = page.graph(DATASET_DEFAULT_GRAPH_ID)
    members = sorted(said.objects(STREAM, TREE.member))
    assert members

    for member in members:
        for accept in ("application/n-quads", "application/trig"):
            alone = read(app_base + path_of(member), accept)
            description = alone.graph(DATASET_DEFAULT_GRAPH_ID)
            assert set(description) == {(STREAM, TREE.member, member), *said.triples((member, None, None))}, member
            assert isomorphic(alone.graph(member), page.graph(member)), member


def test_a_member_answers_304_to_a_current_copy(app_base):
    member = next(read(f"{app_base}/changes?since=0").graph(DATASET_DEFAULT_GRAPH_ID).objects(STREAM, TREE.member))
    first = fetch(app_base + path_of(member))

    again = fetch(app_base + path_of(member), headers={"If-None-Match": first.headers["etag"]})

    assert first.content_type == "application/trig" and "Accept" in first.header_values("vary")
    assert again.status == 304


@pytest.fixture(scope="module")
def retracted(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the built store where a submission was made, then retracted: the app's base URL and both versions."""
    location = tmp_path_factory.mktemp("retracted") / "store"
    shutil.copytree(built_store, location)
    writable = kgstore.open_store(location)
    text = f'<{BASE}id/naltrexone> <{BASE}ontology#note> "submitted" .'
    submitted = changes.commit(writable, Settings(root=sources_root), {SUBMISSION: Graph().parse(data=text, format="nt")})
    deleted = changes.commit(writable, Settings(root=sources_root), {}, [SUBMISSION])
    writable.flush()
    del writable
    with in_process(location, sources_root, env={"LDNKG_WARM_REASONER": "0"}) as app:
        yield app.base, submitted.version, deleted.version


def test_a_retracted_submission_resolves_to_its_deletion(retracted):
    base, _, deleted = retracted
    member = URIRef(f"{BASE}changes/v{deleted}/submission-2026-first-curator")

    alone = read(base + path_of(member))

    description = alone.graph(DATASET_DEFAULT_GRAPH_ID)
    assert (member, RDF.type, AS.Delete) in description
    assert description.value(member, LDN.deletedInVersion) == Literal(deleted)
    assert description.value(member, DCTERMS.isVersionOf) == URIRef(SUBMISSION)
    assert not len(alone.graph(member))


def test_a_member_the_stream_no_longer_holds_is_404_naming_the_one_it_holds(retracted):
    base, submitted, deleted = retracted

    superseded = fetch(f"{base}/changes/v{submitted}/submission-2026-first-curator")
    unknown = fetch(f"{base}/changes/v{submitted}/no-such-graph")

    assert superseded.status == 404
    assert f"/changes/v{deleted}/submission-2026-first-curator" in superseded.text
    assert unknown.status == 404 and "/changes?since=0" in unknown.text


def test_pages_and_members_come_gzip_compressed_as_they_stream(app_base):
    page = f"{app_base}/changes?since=0"
    member = next(read(page).graph(DATASET_DEFAULT_GRAPH_ID).objects(STREAM, TREE.member))

    for url in (page, app_base + path_of(member)):
        plain = fetch(url)
        compressed = fetch(url, headers={"Accept-Encoding": "gzip"})

        assert compressed.status == 200 and compressed.headers["content-encoding"] == "gzip"
        assert gzip.decompress(compressed.body) == plain.body
        assert "content-length" not in compressed.headers  # compressed as it streams, never held whole
        assert "Accept-Encoding" in compressed.header_values("vary")
