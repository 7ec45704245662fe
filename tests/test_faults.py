"""Faults a running server meets: killed mid-download or mid-write, a full disk, a read-only disk,
clients that send slowly or leave mid-answer, and a short soak under mixed load.

Each story serves its own copy of the built store, since a server killed or starved of disk
must not spoil anyone else's. The disk stories mount a small tmpfs (root and CAP_SYS_ADMIN
needed): where mounting is impossible they are skipped, unless CI is set, where they fail.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from serving import Server, serving
from test_hostile_corpus import Reply, exchange, health, port_of

pytestmark = pytest.mark.slow  # kills, starves and fills the disk under real servers

BASE = "https://w3id.org/ldn-kg/"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "valid" / "claim-with-new-source.ttl"
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Helpers: processes, additions, dumps, disks
# --------------------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the server's query processes, the forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def query_processes(server: Server) -> list[int]:
    """The server's query processes: the children of its forkserver."""
    below = descendants(server.pid)
    forkservers = [pid for pid in below if _parent(pid) == server.pid and b"forkserver" in _cmdline(pid)]
    return [pid for pid in below if _parent(pid) in forkservers]


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def kill_server(server: Server) -> None:
    """SIGKILL the server and every process it started, as a power cut or the OOM killer would."""
    for pid in [server.pid, *descendants(server.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while Path(f"/proc/{server.pid}").exists() and _state(server.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def addition(n: int) -> bytes:
    """A valid addition of its own: the fixture's claim, source and authors renamed with `n`."""
    text = FIXTURE.read_text(encoding="utf-8")
    for old, new in (("test-fibromyalgia-trial-results", f"fault-{n}-claim"), ("test-trial-report", f"fault-{n}-report"),
                     ("test-authors", f"fault-{n}-authors"), ("99999999", f"{91000000 + n}"),
                     ("PMC9999999", f"PMC{9100000 + n}")):
        text = text.replace(old, new)
    return text.encode()


def claim_iri(n: int) -> str:
    return f"{BASE}id/claim/fault-{n}-claim"


def submit(server: Server, token: str, body: bytes, within: float = 60) -> Reply:
    headers = {"Content-Type": b"text/turtle", "Accept": b"application/json", "Authorization": f"Bearer {token}".encode()}
    return exchange(port_of(server), "POST", b"/submissions", headers, body, within=within)


def select(server: Server, query: str) -> list[dict[str, str]]:
    body = urllib.parse.urlencode({"query": query}).encode()
    reply = exchange(port_of(server), "POST", b"/sparql", {"Content-Type": b"application/x-www-form-urlencoded",
                                                           "Accept": b"application/sparql-results+json"}, body)
    assert reply.status == 200, reply.body
    return [{k: v["value"] for k, v in row.items()} for row in json.loads(reply.body)["results"]["bindings"]]


def holds_in_full(server: Server, graph: str, body: bytes) -> bool:
    """Whether the named graph holds every triple of the addition (parsed here as the server would)."""
    from rdflib import Graph

    wanted = Graph().parse(data=body.decode(), format="turtle")
    triples = " ".join(f"{s.n3()} {p.n3()} {o.n3()} ." for s, p, o in wanted)
    rows = select(server, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
    asked = select(server, f"SELECT ?x WHERE {{ GRAPH <{graph}> {{ {triples} }} BIND(1 AS ?x) }}")
    return int(rows[0]["n"]) >= len(wanted) and len(asked) == 1


def copy_store(built_store: Path, folder: Path) -> Path:
    store = folder / "store"
    shutil.copytree(built_store, store)
    return store


def dump_names(server: Server) -> list[str]:
    page = exchange(port_of(server), "GET", b"/dumps", {"Accept": b"text/html"})
    assert page.status == 200, page.body[:300]
    return sorted(set(re.findall(r"/dumps/([\w.-]+\.gz)", page.body.decode())))


def assert_dump_whole(server: Server, name: str) -> None:
    """The dump arrives whole: its length, its SHA-256 digest header, and gzip's own check agree."""
    reply = exchange(port_of(server), "GET", f"/dumps/{name}".encode(), within=60)
    assert reply.status == 200, reply.body[:300]
    assert int(reply.headers["content-length"]) == len(reply.body)
    digest = re.search(r"sha-256=:([^:]+):", reply.headers["repr-digest"]).group(1)
    assert base64.b64decode(digest) == hashlib.sha256(reply.body).digest(), f"{name}: digest does not match"
    assert gzip.decompress(reply.body), f"{name} is empty"


@contextmanager
def small_disk(where: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of `megabytes` at `where`; skipped (failed under CI) where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)],
                             check=False, capture_output=True, text=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; delete it to free the space again."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as output:
        for chunk in (256 << 10, 4 << 10, 1):  # down to the last byte: a small commit must not fit
            try:
                while True:
                    output.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


# --------------------------------------------------------------------------------------------
# Killed
# --------------------------------------------------------------------------------------------
def test_a_server_killed_during_dump_downloads_serves_whole_dumps_after_restart(built_store, sources_root, tmp_path):
    store = copy_store(built_store, tmp_path)
    with serving(store, sources_root, tmp_path / "first.log") as server:
        names = dump_names(server)
        started = []
        for name in names[:4]:  # the first requests write the files: kill while they are written and sent
            connection = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
            connection.sendall(f"GET /dumps/{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            started.append(connection)
        started[0].recv(1024)
        kill_server(server)
        for connection in started:
            connection.close()
    with serving(store, sources_root, tmp_path / "second.log") as server:
        assert dump_names(server) == names
        for name in names:
            assert_dump_whole(server, name)
    dump_dir = Path(f"{store}.dumps")
    listed = {path.name for path in dump_dir.iterdir() if not path.name.startswith(".")}
    assert listed <= set(names), f"files that are not dumps: {listed - set(names)}"


def test_every_acknowledged_submission_survives_a_kill_during_writes(built_store, sources_root, tmp_path, add_curator):
    """Short by design; tests/test_curation.py tells the longer crash story of the curation gate."""
    store = copy_store(built_store, tmp_path)
    token = add_curator("ada", "--store", store)
    acknowledged: dict[int, str] = {}
    with serving(store, sources_root, tmp_path / "first.log") as server:
        stop = threading.Event()

        def writer(first: int) -> None:
            n = first
            while not stop.is_set():
                try:
                    reply = submit(server, token, addition(n), within=30)
                except (OSError, AssertionError):
                    return  # the server died under this request: not acknowledged
                if reply.status == 201:
                    acknowledged[n] = json.loads(reply.body)["graph"]
                n += 10

        threads = [threading.Thread(target=writer, args=(first,)) for first in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        kill_server(server)
        stop.set()
        for thread in threads:
            thread.join(60)
    assert len(acknowledged) >= 4
    with serving(store, sources_root, tmp_path / "second.log") as server:
        for n, graph in sorted(acknowledged.items()):
            assert holds_in_full(server, graph, addition(n)), f"acknowledged submission {n} lost or partial"
        submitted = select(server, f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?c a ?t }} FILTER(STRSTARTS(STR(?c), "
                                   f'"{BASE}id/claim/fault-")) }}')
        for row in submitted:  # also those whose answer never arrived: present means present in full
            n = int(re.search(r"fault-(\d+)-", json.dumps(select(
                server, f"SELECT ?c WHERE {{ GRAPH <{row['g']}> {{ ?c a ?t }} FILTER(CONTAINS(STR(?c), '/claim/')) }}"
            ))).group(1))
            assert holds_in_full(server, row["g"], addition(n))
        assert health(server)["version"] == str(1 + len(submitted))


def test_a_request_at_an_older_version_does_not_remove_the_dumps_a_newer_one_just_wrote(tmp_path):
    """The race the soak found: /dumps at version 57 pruned the file a request at 58 had just written (503)."""
    from kgserver.linkeddata.dumps import DumpCache, DumpSpec

    cache = DumpCache(tmp_path)
    older = [DumpSpec("ldn-kg-v57.nq.gz", "nq", None, 57, None), DumpSpec("graph-data-v3.nq.gz", "nq", "g", 3, None)]
    for name in ("ldn-kg-v56.nq.gz", "ldn-kg-v57.nq.gz", "graph-data-v3.nq.gz", "ldn-kg-v58.nq.gz",
                 "graph-record-x-v58.ttl.gz", ".ldn-kg-v58.ttl.gz.tmp-1-2"):
        (tmp_path / name).write_bytes(b"x")
    cache.prune(older)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".ldn-kg-v58.ttl.gz.tmp-1-2", "graph-data-v3.nq.gz", "graph-record-x-v58.ttl.gz", "ldn-kg-v57.nq.gz",
        "ldn-kg-v58.nq.gz",
    ]


# --------------------------------------------------------------------------------------------
# Disks: full, read-only
# --------------------------------------------------------------------------------------------
@pytest.fixture
def full_disk_server(built_store, sources_root, tmp_path, add_curator) -> Iterator[tuple[Server, str, Path, Path]]:
    """A server whose store is on a 16 MB tmpfs, with one submission committed (the store is open for writing)."""
    with small_disk(tmp_path / "disk", 16) as disk:
        store = copy_store(built_store, disk)
        token = add_curator("ada", "--store", store)
        log = tmp_path / "serve.log"
        with serving(store, sources_root, log) as server:
            assert submit(server, token, addition(0)).status == 201
            yield server, token, disk, log


def test_a_full_disk_refuses_the_commit_with_a_message_and_reads_go_on(full_disk_server):
    server, token, disk, log = full_disk_server
    before = health(server)
    filler = fill(disk)
    try:
        refused = submit(server, token, addition(1))
        assert refused.status in (503, 507), refused.body
        assert b"could not be written" in refused.body or b"space" in refused.body.lower()
        assert b"Traceback" not in refused.body
        assert health(server)["version"] == before["version"]
        assert exchange(port_of(server), "GET", b"/id/naltrexone", {"Accept": b"text/turtle"}).status == 200
        assert select(server, f"SELECT ?g WHERE {{ GRAPH ?g {{ <{claim_iri(1)}> ?p ?o }} }}") == []
    finally:
        filler.unlink()
    assert "No space left on device" in log.read_text()
    assert holds_in_full(server, select(server, f"SELECT ?g WHERE {{ GRAPH ?g {{ <{claim_iri(0)}> a ?t }} }}")[0]["g"],
                         addition(0))


def test_once_space_is_freed_commits_work_again_without_a_restart(full_disk_server):
    server, token, disk, _ = full_disk_server
    filler = fill(disk)
    assert submit(server, token, addition(1)).status in (503, 507)
    filler.unlink()
    accepted = submit(server, token, addition(2))
    assert accepted.status == 201, accepted.body
    assert holds_in_full(server, json.loads(accepted.body)["graph"], addition(2))


def test_an_answer_with_no_room_left_to_hold_it_is_a_503_that_says_so_and_small_answers_go_on(
    built_store, sources_root, tmp_path
):
    """Answers past 4 MB are held in the temporary directory while their rows are counted (kgserver/spool.py). With
    that directory on a 1 MB disk, a 40 MB answer is a 503 that names the lack of room, not an internal error (500);
    an answer that fits in memory is answered as before."""
    padded = ("CONSTRUCT { ?a <urn:x-test:with> ?x } WHERE { ?a a ?t . ?b a ?t "
              f'BIND(CONCAT(STR(?b), "{"x" * 4000}") AS ?x) }}')  # 10,000 triples (the row cap) of 4 KB
    with (
        small_disk(tmp_path / "tmp", 1) as disk,
        serving(built_store, sources_root, tmp_path / "serve.log",
                env={"TMPDIR": str(disk), "LDNKG_WARM_REASONER": "0"}) as server,
    ):
        body = urllib.parse.urlencode({"query": padded}).encode()
        refused = exchange(port_of(server), "POST", b"/sparql", {"Content-Type": b"application/x-www-form-urlencoded",
                                                                  "Accept": b"application/n-triples"}, body)
        assert refused.status == 503, refused.body[:300]
        assert b"no room left in its temporary directory to hold this answer" in refused.body
        assert refused.headers.get("retry-after")
        assert len(select(server, "SELECT ?s WHERE { ?s a ?t } LIMIT 100")) == 100


def test_after_a_full_disk_and_a_restart_commits_work_and_nothing_is_partial(built_store, sources_root, tmp_path,
                                                                            add_curator):
    with small_disk(tmp_path / "disk", 16) as disk:
        store = copy_store(built_store, disk)
        token = add_curator("ada", "--store", store)
        with serving(store, sources_root, tmp_path / "first.log") as server:
            assert submit(server, token, addition(0)).status == 201
            filler = fill(disk)
            assert submit(server, token, addition(1)).status in (503, 507)
            filler.unlink()
        with serving(store, sources_root, tmp_path / "second.log") as server:
            assert health(server)["version"] == "2"
            assert select(server, f"SELECT ?g WHERE {{ GRAPH ?g {{ <{claim_iri(1)}> ?p ?o }} }}") == []
            accepted = submit(server, token, addition(2))
            assert accepted.status == 201, accepted.body
            assert holds_in_full(server, json.loads(accepted.body)["graph"], addition(2))


def test_a_read_only_store_is_served_and_submissions_get_503_with_a_message(built_store, sources_root, tmp_path,
                                                                           add_curator):
    # The server's temporary directory, where the index goes instead: short, as its sockets' paths are made there.
    with small_disk(tmp_path / "disk", 32) as disk, tempfile.TemporaryDirectory(prefix="kg-ro-") as temporary:
        store = copy_store(built_store, disk)
        token = add_curator("ada", "--store", store)
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=False, capture_output=True, text=True)
        assert remounted.returncode == 0, remounted.stderr
        log = tmp_path / "serve.log"
        system_tmp = Path(temporary)
        with serving(store, sources_root, log, env={"TMPDIR": str(system_tmp)}) as server:
            assert exchange(port_of(server), "GET", b"/id/naltrexone", {"Accept": b"text/turtle"}).status == 200
            assert select(server, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"] != "0"
            for route in (b"/", b"/.well-known/void", b"/changes", b"/ontology"):
                reply = exchange(port_of(server), "GET", route)
                assert reply.status == 200, (route, reply.status, reply.body[:300])
            dumps = exchange(port_of(server), "GET", b"/dumps", {"Accept": b"text/html"})
            assert dumps.status == 503 and b"cannot be written" in dumps.body, dumps.body  # nowhere to write them
            assert b"/tmp" not in dumps.body
            found = exchange(port_of(server), "GET", b"/search?q=TLR4", {"Accept": b"application/json"})
            assert found.status == 200 and b"toll-like-receptor-4" in found.body  # its index kept elsewhere
            refused = submit(server, token, addition(1))
            assert refused.status == 503, refused.body
            assert b"read-only" in refused.body
            assert health(server)["version"] == "1"
        assert "read-only" in log.read_text()
        assert "search index: cannot write beside" in log.read_text()
        assert [path.name.startswith("kgserver-search-") for path in system_tmp.iterdir()] == [True]


# --------------------------------------------------------------------------------------------
# Clients that misbehave
# --------------------------------------------------------------------------------------------
def slow_bodies(server: Server, count: int) -> list[socket.socket]:
    """Connections that announce a body and send it a byte at a time, never finishing."""
    opened = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port_of(server)), timeout=10)
        connection.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
                           b"Content-Length: 100000\r\n\r\nASK")
        opened.append(connection)
    return opened


def quick_answers(server: Server, count: int = 10) -> list[float]:
    return [exchange(port_of(server), "GET", b"/health", within=10).seconds for _ in range(count)]


@pytest.fixture(scope="module")
def shared(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on its own copy for the misbehaving-client stories, with 4 threads."""
    folder = tmp_path_factory.mktemp("faults")
    with serving(copy_store(built_store, folder), sources_root, folder / "serve.log", "--threads", "4") as server:
        yield server


def test_clients_sending_their_bodies_slowly_do_not_hold_up_others(shared):
    slow = slow_bodies(shared, 2)
    try:
        time.sleep(0.5)
        assert max(quick_answers(shared)) < 2
        assert select(shared, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    finally:
        for connection in slow:
            connection.close()


def test_as_many_slow_clients_as_threads_still_leave_others_answered(shared):
    slow = slow_bodies(shared, 6)
    try:
        time.sleep(0.5)
        assert max(quick_answers(shared, 3)) < 2
    finally:
        for connection in slow:
            connection.close()


def test_clients_that_leave_mid_answer_leak_no_query_worker(shared):
    big = urllib.parse.urlencode({"query": "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"}).encode()
    names = dump_names(shared)

    def leave_early(index: int) -> None:
        with socket.create_connection(("127.0.0.1", port_of(shared)), timeout=30) as connection:
            if index % 2:
                connection.sendall(f"GET /dumps/{names[index % len(names)]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            else:
                connection.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nAccept: application/n-triples\r\n"
                                   b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
                                   + str(len(big) + index).encode() + b"\r\n\r\n" + big + b"&" * index)
            connection.recv(512)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(leave_early, range(24)))
    time.sleep(2)
    assert max(quick_answers(shared, 5)) < 2
    assert len(select(shared, "SELECT * WHERE { ?s ?p ?o } LIMIT 5")) == 5
    metrics = exchange(port_of(shared), "GET", b"/metrics")
    assert metrics.status == 200 and b"kgserver_sparql_requests_total" in metrics.body
    def counted() -> bool:  # every query process running is one the pool counts (it may have grown, up to its maximum)
        pool = health(shared)["queries"]
        return len(query_processes(shared)) == pool["processes"] + pool["starting"] <= pool["limits"]["max_processes"]

    deadline = time.monotonic() + 10
    while not counted() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counted(), "query processes leaked"


# --------------------------------------------------------------------------------------------
# A short soak
# --------------------------------------------------------------------------------------------
def test_a_short_soak_has_no_unexpected_error_and_keeps_every_acknowledged_submission(built_store, tmp_path):
    store = copy_store(built_store, tmp_path)
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--store", str(store), "--seconds", "10", "--clients", "8",
         "--no-latency-targets"],
        check=False, capture_output=True, text=True, timeout=240, env={**os.environ, "LDNKG_ROOT": str(REPO)},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "unexpected errors: 0" in run.stdout
    assert "acknowledged submissions missing: 0" in run.stdout
