"""A curator submits through a kgserver that writes to Oxigraph's server; a second frontend sees it within a second.

The writer role is one server's (`LDNKG_ENGINE_WRITER=1`, holding WRITER.lock); another server
in front of the same engine reads only and refuses commits with 503, nothing written. A second
writer cannot start while the first holds the lock. The writer's commit is one update request
(Oxigraph applies it all or nothing) and its version is read back from the engine.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from balancer import nginx_in_front, nginx_installed
from engines import oxigraph_server
from rdflib import Graph
from serving import fetch, free_port, serving

from kgserver.errors import InputError, UnavailableError
from kgserver.store.dialects import DIALECTS
from kgserver.store.remote import RemoteStore
from kgserver.store.writer_lease import WriterLease

pytestmark = pytest.mark.slow  # an engine and two servers

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "valid" / "claim-with-new-source.ttl"
BASE = "https://w3id.org/ldn-kg/"
NEW_CLAIM = f"{BASE}id/claim/test-fibromyalgia-trial-results"


@pytest.fixture(scope="module")
def engine(built_quads, tmp_path_factory):
    with oxigraph_server(tmp_path_factory.mktemp("writer-engine") / "engine", {"": [built_quads]}) as running:
        yield running.query.removesuffix("/query")


def _version(server) -> int:
    return int(fetch(f"{server.base}/health").json()["version"])


def _sees_claim(server) -> bool:
    reply = fetch(server.sparql, headers={"Accept": "application/sparql-results+json"},
                  params={"query": f"ASK {{ <{NEW_CLAIM}> ?p ?o }}"})
    return reply.json()["boolean"]


def test_a_submission_through_the_writer_is_seen_through_a_reader_within_a_second(
    engine, add_curator, sources_root, tmp_path
):
    flags = ("--engine", "oxigraph", "--engine-url", engine)
    token = add_curator("ada", *flags)
    with (
        serving(None, sources_root, tmp_path / "writer.log", *flags, env={"LDNKG_ENGINE_WRITER": "1"}) as writer,
        serving(None, sources_root, tmp_path / "reader.log", *flags) as reader,
    ):
        before = _version(writer)
        assert _version(reader) == before and not _sees_claim(reader)

        refused = fetch(f"{reader.base}/submissions", "POST", {"Content-Type": "text/turtle",
                        "Authorization": f"Bearer {token}", "Accept": "application/json"}, body=FIXTURE.read_bytes())
        assert refused.status == 503 and "does not commit" in refused.text
        assert engine.removeprefix("http://") not in refused.text  # an answer to anyone does not say where the engine is
        assert _version(writer) == before

        answer = fetch(f"{writer.base}/submissions", "POST", {"Content-Type": "text/turtle",
                       "Authorization": f"Bearer {token}", "Accept": "application/json"}, body=FIXTURE.read_bytes())
        assert answer.status == 201, answer.text
        assert answer.json()["version"] == before + 1 == _version(writer) and _sees_claim(writer)
        committed = time.monotonic()
        while not (_sees_claim(reader) and _version(reader) == before + 1):
            assert time.monotonic() - committed < 1.5, "the reader did not see the commit within a second"
            time.sleep(0.05)

        direct = fetch(f"{engine}/query", headers={"Accept": "application/sparql-results+json"},
                       params={"query": f"ASK {{ GRAPH ?g {{ <{NEW_CLAIM}> ?p ?o }} }}"})
        assert direct.json()["boolean"]  # in the engine itself, not only in a frontend's view

        submission = answer.headers["location"].rsplit("/", 1)[1]
        retraction = fetch(f"{writer.base}/submissions/{submission}", "DELETE",
                           {"Authorization": f"Bearer {token}", "Accept": "application/json"})
        assert retraction.status == 200, retraction.text
        assert not _sees_claim(writer) and _version(writer) == before + 2


def test_a_frontend_whose_writer_cannot_be_reached_says_so_without_saying_where_it_is(
    engine, add_curator, sources_root, tmp_path
):
    """The 503 goes to any curator (through nginx, to anyone): the writer's address is in the frontend's log only."""
    flags = ("--engine", "oxigraph", "--engine-url", engine)
    token = add_curator("dora", *flags)  # the engine is the module's: each story has a curator of its own
    writer_url = f"http://127.0.0.1:{free_port()}"  # no one listens there
    log = tmp_path / "frontend.log"
    with serving(None, sources_root, log, *flags, env={"LDNKG_ENGINE_WRITER_URL": writer_url}) as frontend:
        refused = fetch(f"{frontend.base}/submissions", "POST", {"Content-Type": "text/turtle",
                        "Authorization": f"Bearer {token}", "Accept": "application/json"}, body=FIXTURE.read_bytes())
        assert refused.status == 503 and refused.headers["retry-after"], refused.text
        assert "the writer cannot be reached; nothing was committed" in refused.text
        assert writer_url.removeprefix("http://") not in refused.text and "127.0.0.1" not in refused.text
    assert f"the writer at {writer_url} cannot be reached" in log.read_text()


def test_a_second_writer_cannot_start_while_one_holds_the_role_on_this_machine_or_another(engine, kgserver,
                                                                                           sources_root, tmp_path):
    """The lock file refuses a second writer on the machine; the engine's lease one on another machine (another
    state directory, so another lock file), until the first stops and gives the lease up."""
    flags = ("--engine", "oxigraph", "--engine-url", engine)
    another_machine = {"LDNKG_ENGINE_WRITER": "1", "LDNKG_STATE_DIR": str(tmp_path / "another-machine")}
    with serving(None, sources_root, tmp_path / "writer.log", *flags, env={"LDNKG_ENGINE_WRITER": "1"}):
        second = kgserver("serve", *flags, "--port", "1", env={"LDNKG_ENGINE_WRITER": "1"}, timeout=60)
        assert second.returncode != 0
        assert "another server holds the writer role" in second.stderr and second.stderr.count("\n") == 1
        elsewhere = kgserver("serve", *flags, "--port", "1", env=another_machine, timeout=60)
        assert elsewhere.returncode != 0 and elsewhere.stderr.count("\n") == 1, elsewhere.stderr
        assert re.search(r"another server holds the writer role for oxigraph at \S+ \(pid \d+, started \S+Z, \w+; "
                         r"its lease runs to \S+Z unless renewed\)", elsewhere.stderr), elsewhere.stderr
    with serving(None, sources_root, tmp_path / "taken-over.log", *flags, env=another_machine) as writer:
        assert fetch(f"{writer.base}/health").status == 200  # the first writer gave the lease up as it stopped


def _addition(n: int) -> bytes:
    """The valid fixture made into addition `n`: its own claim, source, reading and authors."""
    text = FIXTURE.read_text(encoding="utf-8")
    for name in ("test-fibromyalgia-trial-results", "test-trial-report", "test-authors"):
        text = text.replace(name, f"{name}-{n}")
    text = text.replace('"99999999"', f'"999999{n:02d}"').replace('"PMC9999999"', f'"PMC99999{n:02d}"')
    return text.encode("utf-8")


@pytest.mark.skipif(not nginx_installed(), reason="nginx is not installed (make engines installs nginx-light)")
def test_sixteen_concurrent_submissions_through_nginx_get_sixteen_versions_in_a_row(
    engine, add_curator, sources_root, tmp_path
):
    """Two frontends and the writer behind nginx: any of them takes a submission; the frontends forward theirs."""
    flags = ("--engine", "oxigraph", "--engine-url", engine)
    token = add_curator("grace", *flags)  # each test its own name: the engine keeps them
    with serving(None, sources_root, tmp_path / "writer.log", *flags, env={"LDNKG_ENGINE_WRITER": "1"}) as writer:
        env = {"LDNKG_ENGINE_WRITER_URL": writer.base}
        with (
            serving(None, sources_root, tmp_path / "one.log", *flags, env=env) as one,
            serving(None, sources_root, tmp_path / "two.log", *flags, env=env) as two,
            nginx_in_front(tmp_path / "nginx", [s.base.removeprefix("http://") for s in (writer, one, two)]) as front,
        ):
            before = _version(writer)
            frontends = [writer, one, two]

            def submit(n: int):
                return fetch(f"{front}/submissions", "POST", {
                    "Content-Type": "text/turtle", "Authorization": f"Bearer {token}", "Accept": "application/json"},
                    body=_addition(n), timeout=300)

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(submit, range(16)))
            assert all(answer.status == 201 for answer in answers), [answer.text for answer in answers]
            assert sorted(answer.json()["version"] for answer in answers) == list(range(before + 1, before + 17))
            graphs = {answer.json()["graph"] for answer in answers}
            for frontend in frontends:
                deadline = time.monotonic() + 1.5
                while _version(frontend) != before + 16:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                for n, answer in enumerate(answers):  # each acknowledged submission is there in full
                    kept = fetch(f"{frontend.base}/store", headers={"Accept": "application/n-triples"},
                                 params={"graph": answer.json()["graph"]})
                    assert kept.status == 200 and len(kept.text.splitlines()) == len(_graph_of(n)), n
                feed = fetch(f"{frontend.base}/changes?since={before}", headers={"Accept": "application/n-quads"})
                assert feed.status == 200 and all(graph in feed.text for graph in graphs)
            for name in ("one.log", "two.log"):  # nginx spread them: each frontend took some, and forwarded them
                assert "POST /submissions" in (tmp_path / name).read_text(), name
            forwarded = fetch(f"{one.base}/submissions/{answers[1].json()['submission'].rsplit('/', 1)[1]}",
                              "DELETE", {"Authorization": f"Bearer {token}", "Accept": "application/json"})
            assert forwarded.status == 200 and forwarded.json()["version"] == before + 17


def _graph_of(n: int) -> Graph:
    return Graph().parse(data=_addition(n), format="turtle")


def test_the_writers_lock_lives_under_the_state_directory_and_its_curators_in_the_engine(engine, kgserver, sources_root,
                                                                                       tmp_path):
    flags = ("--engine", "oxigraph", "--engine-url", engine)
    state = {"LDNKG_STATE_DIR": str(tmp_path / "state")}
    assert kgserver("curator", "add", "lovelace", *flags, env=state).returncode == 0
    assert not list((tmp_path / "state").glob("**/*.curators.json"))  # no file: the engine keeps them
    elsewhere = kgserver("curator", "list", *flags, env={"LDNKG_STATE_DIR": str(tmp_path / "another-machine")})
    assert "lovelace" in elsewhere.stdout, elsewhere.stderr
    with serving(None, sources_root, tmp_path / "w.log", *flags, env={"LDNKG_ENGINE_WRITER": "1", **state}):
        assert "WRITER.lock" in {path.name for path in (tmp_path / "state").glob("kgserver-oxigraph-*/*")}


def _java_children(pid: int) -> list[int]:
    """The JVMs among a process's descendants (HermiT's), read from /proc."""
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            for child in map(int, task.read_text().split()):
                pending.append(child)
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() == "java":
                        found.append(child)
                except OSError:
                    pass
    return found


def test_only_a_frontend_that_commits_starts_hermits_jvm_at_start(engine, sources_root, tmp_path):
    """A read-only frontend takes no submissions: it saves the JVM's memory until a /validate needs it."""
    flags = ("--engine", "oxigraph", "--engine-url", engine)
    warm = {"LDNKG_WARM_REASONER": "1", "LDNKG_STATE_DIR": str(tmp_path / "state")}
    with (
        serving(None, sources_root, tmp_path / "w.log", *flags, env={**warm, "LDNKG_ENGINE_WRITER": "1"}) as writer,
        serving(None, sources_root, tmp_path / "r.log", *flags, env=warm) as reader,
    ):
        deadline = time.monotonic() + 30
        while not _java_children(writer.pid):
            assert time.monotonic() < deadline, "the writer did not start HermiT's JVM"
            time.sleep(0.2)
        started = time.monotonic()
        while time.monotonic() - started < 8:  # longer than the writer took to start its JVM
            assert _java_children(reader.pid) == []
            time.sleep(0.2)


def test_a_frontend_reads_an_engines_whole_state_again_only_when_its_version_has_moved(tmp_path, monkeypatch):
    """Once a second a frontend asks the engine for the version alone (one request); the rest when a commit moved it."""
    from kgserver import changes
    from kgserver import dataset as live
    from kgserver.config import Settings
    from kgserver.store.location import StoreLocation

    whole_reads = []
    read_state = changes.read_state
    monkeypatch.setattr(changes, "read_state", lambda *args: whole_reads.append(1) or read_state(*args))
    monkeypatch.setattr(live, "_ENGINE_STATE_SECONDS", 0.0)
    settings = Settings(root=Path("."))
    with oxigraph_server(tmp_path / "engine") as engine:
        frontend = live.LiveDataset(settings, StoreLocation(engine="oxigraph", url=engine.base))
        writer = live.LiveDataset(settings, StoreLocation(engine="oxigraph", url=engine.base))
        assert frontend.state.version == 0 and writer.state.version == 0
        assert len(whole_reads) == 2  # each frontend's first read, when it opened; not the refreshes since

        changes.commit(writer.store, settings, {f"{settings.base}graph/submission/a": Graph().parse(
            data='<http://example.org/s> <http://example.org/p> "1" .', format="nt")})
        whole_reads.clear()  # the commit read the state it built on
        assert frontend.state.version == 1 and frontend.state.live_graphs == (f"{settings.base}graph/submission/a",)
        assert frontend.state.version == 1 and len(whole_reads) == 1  # read again: the version alone, unmoved


def test_the_engines_lease_goes_to_one_writer_is_renewed_and_is_lost_to_a_writer_that_takes_it_after_it_ran_out(engine):
    """The lease alone (no lock file): a second holder is refused while it runs; a lapsed lease is anyone's, and the
    writer that lost it commits no more; one that lapsed while nobody took it is taken again at the next commit."""
    first = WriterLease(RemoteStore(engine, DIALECTS["oxigraph"]), "the test engine", seconds=0.6)
    second = WriterLease(RemoteStore(engine, DIALECTS["oxigraph"]), "the test engine", seconds=0.6)
    first.take(settle=0.05)
    with pytest.raises(InputError, match=r"another server holds the writer role for the test engine \(pid \d+"):
        second.take(settle=0.05)
    time.sleep(1.0)  # past the first lease's length: its renewals (every 0.2 s) keep it
    first.check()
    with pytest.raises(InputError):
        second.take(settle=0.05)

    first._stop.set()  # the first writer stalls (its renewals stop), and its lease runs out
    time.sleep(0.8)
    first.check()  # nobody took it: taken again
    time.sleep(0.8)
    second.take(settle=0.05)
    with pytest.raises(UnavailableError, match="no longer holds the writer role"):
        first.check()
    second.check()
    second.release()
    assert second.read() is None
