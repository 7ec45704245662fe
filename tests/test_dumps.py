"""A researcher downloads the dumps: whole dataset and per graph, gzip N-Quads and Turtle, checked and cached."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from rdflib import Dataset, Graph
from rdflib.compare import isomorphic
from serving import fetch, serving

BASE = "https://w3id.org/ldn-kg/"
GRAPHS = ("ontology", "data", "shapes", "inferred", "examples", "meta")


@pytest.fixture(scope="module")
def version(app_base: str) -> str:
    """The dataset version the server holds, as the dump listing names it."""
    listing = fetch(f"{app_base}/dumps", headers={"Accept": "text/html"})
    assert listing.status == 200
    return re.search(r"ldn-kg-v(\d+)\.nq\.gz", listing.body.decode()).group(1)


def named_graphs(dataset: Dataset) -> dict[str, Graph]:
    return {str(graph.identifier): graph for graph in dataset.graphs() if len(graph)}


def test_the_whole_dataset_dump_equals_kgserver_export(app_base, version, exported):
    reply = fetch(f"{app_base}/dumps/ldn-kg-v{version}.nq.gz")

    assert reply.status == 200 and reply.headers["content-type"] == "application/gzip"
    downloaded = Dataset()
    downloaded.parse(data=gzip.decompress(reply.body).decode("utf-8"), format="nquads")
    ours, theirs = named_graphs(downloaded), named_graphs(exported)
    assert ours.keys() == theirs.keys() == {f"{BASE}graph/{name}" for name in GRAPHS}
    for name, graph in ours.items():
        assert isomorphic(graph, theirs[name]), name


def test_the_turtle_dump_is_the_union_of_the_graphs(app_base, version, exported):
    reply = fetch(f"{app_base}/dumps/ldn-kg-v{version}.ttl.gz")

    union = Graph().parse(data=gzip.decompress(reply.body).decode("utf-8"), format="turtle")
    expected = Graph()
    for graph in named_graphs(exported).values():
        expected += graph
    assert isomorphic(union, expected)


@pytest.mark.parametrize("name", GRAPHS)
def test_each_graph_has_its_own_dumps(app_base, version, exported, name):
    iri = f"{BASE}graph/{name}"
    quads = fetch(f"{app_base}/dumps/graph-{name}-v{version}.nq.gz")
    turtle = fetch(f"{app_base}/dumps/graph-{name}-v{version}.ttl.gz")

    as_quads = Dataset()
    as_quads.parse(data=gzip.decompress(quads.body).decode("utf-8"), format="nquads")
    assert set(named_graphs(as_quads)) == {iri}
    as_turtle = Graph().parse(data=gzip.decompress(turtle.body).decode("utf-8"), format="turtle")
    assert isomorphic(named_graphs(as_quads)[iri], named_graphs(exported)[iri])
    assert isomorphic(as_turtle, named_graphs(exported)[iri])


def test_a_dump_says_its_version_checksum_and_size(app_base, version):
    reply = fetch(f"{app_base}/dumps/ldn-kg-v{version}.nq.gz")

    digest = base64.b64encode(hashlib.sha256(reply.body).digest()).decode()
    assert reply.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert reply.headers["digest"] == f"sha-256={digest}"
    assert reply.headers["x-dataset-version"] == version
    assert int(reply.headers["content-length"]) == len(reply.body)
    assert "last-modified" in reply.headers
    assert f"ldn-kg-v{version}.nq.gz" in reply.headers["content-disposition"]


def test_a_client_with_the_current_copy_gets_304(app_base, version):
    url = f"{app_base}/dumps/graph-data-v{version}.ttl.gz"
    first = fetch(url)

    again = fetch(url, headers={"If-None-Match": first.headers["etag"]})

    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == first.headers["etag"]


def test_head_gives_the_headers_without_the_body(app_base, version):
    url = f"{app_base}/dumps/ldn-kg-v{version}.ttl.gz"
    full = fetch(url)

    head = fetch(url, method="HEAD")

    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(full.body))
    assert head.headers["repr-digest"] == full.headers["repr-digest"]


def test_a_download_manager_resumes_with_one_range_or_a_suffix(app_base, version):
    url = f"{app_base}/dumps/ldn-kg-v{version}.nq.gz"
    whole = fetch(url)

    middle = fetch(url, headers={"Range": "bytes=10-19"})
    tail = fetch(url, headers={"Range": "bytes=-100"})
    unchanged = fetch(url, headers={"Range": "bytes=10-19", "If-Range": whole.headers["etag"]})
    changed = fetch(url, headers={"Range": "bytes=10-19", "If-Range": '"another-file"'})

    assert middle.status == 206 and middle.body == whole.body[10:20]
    assert middle.headers["content-range"] == f"bytes 10-19/{len(whole.body)}"
    assert tail.status == 206 and tail.body == whole.body[-100:]
    assert unchanged.status == 206 and unchanged.body == whole.body[10:20]
    assert changed.status == 200 and changed.body == whole.body


@pytest.mark.parametrize(
    "asked",
    ["items=0-5", "bytes=5-2", "bytes=abc", "bytes=0-9,20-29", "bytes=-999999999"],
    ids=["unknown unit", "end before start", "not a range", "two ranges", "suffix longer than the file"],
)
def test_a_range_the_server_may_ignore_gets_the_whole_file(app_base, version, asked):
    """RFC 9110 (14.2): an unknown unit MUST be ignored, a malformed or multiple range may be; never a 416."""
    url = f"{app_base}/dumps/ldn-kg-v{version}.nq.gz"

    reply = fetch(url, headers={"Range": asked})

    assert reply.status == 200, reply.body[:200]
    assert reply.body == fetch(url).body
    assert reply.headers["accept-ranges"] == "bytes"


def test_a_range_beyond_the_end_is_416_naming_the_length(app_base, version):
    url = f"{app_base}/dumps/ldn-kg-v{version}.nq.gz"
    size = len(fetch(url).body)

    reply = fetch(url, headers={"Range": f"bytes={size}-"})

    assert reply.status == 416
    assert reply.headers["content-range"] == f"bytes */{size}"


def test_an_old_version_is_refused_with_the_current_name(app_base, version):
    reply = fetch(f"{app_base}/dumps/ldn-kg-v{int(version) - 1}.nq.gz")

    assert reply.status == 404
    assert f"/dumps/ldn-kg-v{version}.nq.gz" in reply.body.decode()


@pytest.mark.parametrize(
    "path", ["/dumps/../../etc/passwd", "/dumps/%2e%2e/%2e%2e/etc/passwd", "/dumps/..%2fstore%2fCURRENT", "/dumps/.lock"]
)
def test_a_path_outside_the_dumps_is_not_found(app_base, path):
    assert fetch(f"{app_base}{path}").status == 404


@pytest.mark.slow
def test_concurrent_first_requests_write_the_dump_once(built_store, sources_root, version, tmp_path):
    dump_dir = tmp_path / "dumps"
    dump_dir.mkdir()
    name = f"ldn-kg-v{version}.ttl.gz"
    killed_writer = dump_dir / f".{name}.tmp-99999-1"  # what a writer killed mid-way leaves
    killed_writer.write_bytes(b"\x1f\x8b half a file")
    log = tmp_path / "serve.log"
    flags = ("--threads", "8")
    with serving(built_store, sources_root, log, *flags, env={"LDNKG_DUMP_DIR": str(dump_dir)}) as server, \
            ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: fetch(f"{server.base}/dumps/{name}"), range(12)))

    assert {reply.status for reply in replies} == {200}
    assert len({reply.body for reply in replies}) == 1
    assert sorted(path.name for path in dump_dir.iterdir() if not path.name.startswith(".")) == [name]
    assert not list(dump_dir.glob("*.tmp-*"))
    assert gzip.decompress(replies[0].body)


@pytest.mark.slow
def test_after_a_change_only_the_changed_graphs_get_new_dump_files(built_store, sources_root, tmp_path):
    """A new version renames the whole-dataset dumps, but a graph that did not change keeps its file."""
    from pyoxigraph import Store
    from rdflib import Graph as RdfGraph

    from kgserver import changes
    from kgserver.config import Settings

    store_dir, dump_dir = tmp_path / "store", tmp_path / "dumps"
    shutil.copytree(built_store, store_dir)
    env = {"LDNKG_DUMP_DIR": str(dump_dir)}

    def listed(server) -> set[str]:
        reply = fetch(f"{server.base}/.well-known/void", headers={"Accept": "application/n-triples"})
        return set(re.findall(r"/dumps/([^>]+\.gz)>", reply.body.decode("utf-8")))

    with serving(store_dir, sources_root, tmp_path / "one.log", env=env) as server:
        before = listed(server)
    added = f"{BASE}graph/submission/test"
    store = Store(str(store_dir))
    changes.commit(store, Settings(root=sources_root), {added: RdfGraph().parse(data="<http://example.org/a> <http://example.org/b> 'c' .", format="turtle")})
    del store
    with serving(store_dir, sources_root, tmp_path / "two.log", env=env) as server:
        after = listed(server)

    data_files = {name for name in before if name.startswith("graph-data-")}
    assert data_files and data_files <= after
    assert not {name for name in before if name.startswith("ldn-kg-")} & after
    assert {name for name in after if name.startswith("graph-submission-test-")}
    on_disk = {path.name for path in dump_dir.iterdir() if not path.name.startswith(".")}
    assert on_disk == after
