"""A harvester keeps a replica of LDN-KG from the change feed alone, across a rebuild and a retraction.

The harvester starts at /changes, follows the TREE relations page by page, and applies each
member: the member's named graph replaces the graph it is a version of, an as:Delete member
removes it. Once caught up it remembers the version the pages were read at and next time
asks only for what changed since, at /changes?since=V.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyoxigraph import NamedNode
from rdflib import Dataset, Graph, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID
from serving import Reply, fetch, serving

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings

pytestmark = pytest.mark.slow  # harvests from real servers across rebuilds and submissions

BASE = "https://w3id.org/ldn-kg/"
STREAM = URIRef(f"{BASE}changes")
DATASET = URIRef(f"{BASE}dataset")
LDN = Namespace(f"{BASE}ontology#")
TREE = Namespace("https://w3id.org/tree#")
LDES = Namespace("https://w3id.org/ldes#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VOID = Namespace("http://rdfs.org/ns/void#")
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
AS = Namespace("https://www.w3.org/ns/activitystreams#")
SUBMISSION = f"{BASE}graph/submission/2026/first-curator"


def read(url: str, accept: str = "application/trig") -> Reply:
    """A document the harvester reads (a feed page, the VoID, a dump); anything but 200 fails the test."""
    reply = fetch(url, headers={"Accept": accept})
    assert reply.status == 200, f"{url}: {reply.status} {reply.body[:200]!r}"
    return reply


@dataclass
class Harvester:
    """A replica built from feed members alone, and a log of what it fetched."""

    server: str
    version: int = 0
    graphs: dict[str, Graph] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)
    applied: list[tuple[str, int]] = field(default_factory=list)

    def url(self, iri: str) -> str:
        return f"{self.server}/{iri.removeprefix(BASE)}"

    def start(self) -> str:
        """A new harvester starts from the stream's view; one that holds a version asks for what is newer."""
        if self.version:
            return self.url(f"{BASE}changes?since={self.version}")
        root = Dataset().parse(data=read(self.url(str(STREAM))).body, format="trig").graph(DATASET_DEFAULT_GRAPH_ID)
        assert (STREAM, RDF.type, LDES.EventStream) in root
        return self.url(str(root.value(STREAM, TREE.view)))

    def harvest(self) -> None:
        """Read pages until no relation is left, applying every member."""
        queue, read_at = [self.start()], set()
        while queue:
            url = queue.pop(0)
            self.pages.append(url)
            reply = read(url)
            page = Dataset().parse(data=reply.body, format="trig")
            default = page.graph(DATASET_DEFAULT_GRAPH_ID)
            node = URIRef(BASE + url.removeprefix(self.server + "/"))
            read_at.add(int(default.value(node, LDN.versionNumber)))
            assert reply.headers["x-dataset-version"] == str(max(read_at))
            for member in sorted(default.objects(STREAM, TREE.member)):
                self.apply(page, default, member)
            for relation in default.objects(node, TREE.relation):
                assert default.value(relation, TREE.path) == LDN.changedInVersion
                queue.append(self.url(str(default.value(relation, TREE.node))))
        assert len(read_at) == 1, "the dataset changed during the harvest: harvest again"
        self.version = read_at.pop()

    def apply(self, page: Dataset, default: Graph, member: URIRef) -> None:
        graph = str(default.value(member, DCTERMS.isVersionOf))
        if (member, RDF.type, AS.Delete) in default:
            self.applied.append((graph, int(default.value(member, LDN.deletedInVersion))))
            self.graphs.pop(graph, None)
            return
        self.applied.append((graph, int(default.value(member, LDN.changedInVersion))))
        content = Graph()
        for triple in page.graph(member):
            content.add(triple)
        assert len(content) == int(default.value(member, VOID.triples))
        self.graphs[graph] = content


def current_dump(server: str) -> dict[str, Graph]:
    """The whole-dataset N-Quads dump the VoID lists, graph by graph."""
    void = Graph().parse(data=read(f"{server}/.well-known/void", accept="text/turtle").body, format="turtle")
    url = next(str(d) for d in void.objects(DATASET, DCAT.distribution) if str(d).endswith(".nq.gz"))
    dump = read(f"{server}/{url.removeprefix(BASE)}", accept="*/*").body
    dataset = Dataset().parse(data=gzip.decompress(dump).decode("utf-8"), format="nquads")
    return {str(graph.identifier): graph for graph in dataset.graphs() if len(graph)}


def assert_replica_equals(harvester: Harvester, dump: dict[str, Graph]) -> None:
    assert harvester.graphs.keys() == dump.keys()
    for name, graph in dump.items():
        assert isomorphic(harvester.graphs[name], graph), name


def commit(location: Path, replace: dict[str, str], delete: list[str] | None = None) -> int:
    """Change the store as a curator's submission or retraction will: whole named graphs, a new version."""
    writable = kgstore.open_store(location)
    graphs = {iri: Graph().parse(data=text, format="nt") for iri, text in replace.items()}
    state = changes.commit(writable, Settings.from_env(), graphs, delete or [])
    writable.flush()
    assert all(writable.contains_named_graph(NamedNode(iri)) for iri in replace)
    del writable
    return state.version


def test_a_harvester_replicates_the_dataset_and_then_reads_only_what_changed(
    kgserver, own_store, sources_root, copy_sources, tmp_path
):
    harvester = Harvester("")
    with serving(own_store, sources_root, tmp_path / "first.log") as server:
        harvester.server = server.base
        harvester.harvest()
        assert len(harvester.pages) > 1, "the bundled graph spans several pages"
        assert_replica_equals(harvester, current_dump(server.base))
    held = harvester.version
    first_pages = len(harvester.pages)

    root = copy_sources(sources_root)
    (root / "graph" / "zz_more.ttl").write_text(
        f'<{BASE}id/naltrexone> <http://www.w3.org/2000/01/rdf-schema#comment> "an opioid antagonist"@en .\n'
    )
    rebuilt = kgserver("build", "--store", own_store, root=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert re.search(rf"^dataset version\s+{held + 1}$", rebuilt.stdout, re.MULTILINE)

    with serving(own_store, root, tmp_path / "second.log") as server:
        harvester.server = server.base
        harvester.applied.clear()
        harvester.harvest()
        assert harvester.pages[first_pages] == f"{server.base}/changes?since={held}"
        assert harvester.applied and all(version > held for _, version in harvester.applied)
        assert f"{BASE}graph/data" in dict(harvester.applied)
        assert f"{BASE}graph/ontology" not in dict(harvester.applied)
        assert_replica_equals(harvester, current_dump(server.base))
    assert harvester.version == held + 1


def test_a_submission_and_its_retraction_reach_the_harvester(own_store, sources_root, tmp_path):
    harvester = Harvester("")
    with serving(own_store, sources_root, tmp_path / "first.log") as server:
        harvester.server = server.base
        harvester.harvest()

    submitted = commit(own_store, {SUBMISSION: f'<{BASE}id/naltrexone> <{BASE}ontology#note> "submitted" .'})
    with serving(own_store, sources_root, tmp_path / "second.log") as server:
        harvester.server = server.base
        harvester.harvest()
        assert (SUBMISSION, submitted) in harvester.applied
        assert len(harvester.graphs[SUBMISSION]) == 1
        assert_replica_equals(harvester, current_dump(server.base))

    retracted = commit(own_store, {}, delete=[SUBMISSION])
    with serving(own_store, sources_root, tmp_path / "third.log") as server:
        harvester.server = server.base
        harvester.harvest()
        assert (SUBMISSION, retracted) in harvester.applied
        assert SUBMISSION not in harvester.graphs
        assert_replica_equals(harvester, current_dump(server.base))


def test_the_feed_answers_304_to_a_current_copy_and_refuses_a_bad_cursor(served_store):
    first = fetch(f"{served_store}/changes?since=0", timeout=60)
    assert first.status == 200
    etag = first.headers["etag"]
    assert first.headers["content-type"].startswith("application/trig")

    again = fetch(f"{served_store}/changes?since=0", headers={"If-None-Match": etag}, timeout=60)
    assert again.status == 304

    assert fetch(f"{served_store}/changes?since=yesterday", timeout=60).status == 400


@pytest.mark.parametrize(("accept", "rdflib_format"), [("application/n-quads", "nquads"), ("application/ld+json", "json-ld")])
def test_pages_come_in_n_quads_and_json_ld_too(served_store, accept, rdflib_format):
    reply = read(f"{served_store}/changes?since=0", accept=accept)

    assert reply.headers["content-type"].startswith(accept)
    page = Dataset().parse(data=reply.body, format=rdflib_format)
    members = list(page.graph(DATASET_DEFAULT_GRAPH_ID).objects(STREAM, TREE.member))
    assert members and all(len(page.graph(member)) for member in members)


def test_a_browser_gets_a_page_of_the_changes_newest_first(served_store):
    """Chromium downloaded the TriG; a person reads the changes as a table linking each graph."""
    page = fetch(f"{served_store}/changes", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, timeout=60)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]
    versions = [int(cell) for cell in re.findall(r"<tr>\s*<td>(\d+)</td>", page.text)]
    assert versions and versions == sorted(versions, reverse=True)
    assert 'href="/graph/data"' in page.text and 'href="/changes?format=nquads"' in page.text
    assert fetch(f"{served_store}/changes", timeout=60).headers["content-type"].startswith("application/trig")
