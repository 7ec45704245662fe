"""The engine behind a frontend goes away and comes back: 503 with Retry-After meanwhile, service again by itself.

A frontend in front of Oxigraph's server whose engine is stopped answers queries and pages
with 503 "the store is unavailable" and Retry-After, and /health says so with 503 (a load
balancer then sends no one there); when the engine is back on its port, the same frontend
answers again without a restart. So do the change feed's pages and members (a 503 before any
byte, not a 200 cut off), and search: a frontend whose index is behind the dataset says the
store is unavailable, and catches up by itself once the engine is back (/health "ready").

A writer whose update is cut halfway on its way to the engine (a proxy between them closes
both ends) answers 503 "nothing was committed", on Oxigraph's server and on Virtuoso, and the
engine's export is unchanged.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from engines import engines_installed, oxigraph_command, virtuoso
from serving import fetch, free_port, serving

pytestmark = pytest.mark.slow  # an engine stopped and started again

ASK = "ASK { ?c a <https://w3id.org/ldn-kg/ontology#EvidenceClaim> }"
JSON = {"Accept": "application/json"}
SUBMISSION = Path(__file__).parent / "fixtures" / "valid" / "claim-with-new-source.ttl"


@contextmanager
def oxigraph_on(location: Path, port: int) -> Iterator[None]:
    """`oxigraph serve` over `location` on `port` until the block ends (killed, as a crash would stop it)."""
    process = subprocess.Popen([oxigraph_command() or "oxigraph", "serve", "--location", str(location), "--bind",
                                f"127.0.0.1:{port}", "--union-default-graph"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _answers(f"http://127.0.0.1:{port}/query"), 30)
        yield
    finally:
        process.kill()
        process.wait(10)


@contextmanager
def stoppable_oxigraph(location: Path, port: int) -> Iterator[Callable[[], None]]:
    """`oxigraph_on`, with a function that stops the engine before the block ends (for a story that starts it again)."""
    running = oxigraph_on(location, port)
    running.__enter__()
    try:
        yield lambda: running.__exit__(None, None, None)
    finally:
        running.__exit__(None, None, None)  # once stopped, a second exit does nothing


def _loaded(quads: Path, location: Path) -> Path:
    """An Oxigraph store at `location` loaded with `quads` (skips when the oxigraph wheel is missing)."""
    if oxigraph_command() is None:
        pytest.skip("the oxigraph wheel (test extras) is not installed")
    subprocess.run([oxigraph_command(), "load", "--location", str(location), "--file", str(quads)], check=True,
                   capture_output=True)
    return location


def _answers(url: str) -> bool:
    try:
        return fetch(url, params={"query": "ASK {}"}, timeout=1).status == 200
    except OSError:  # not listening yet
        return False


def _until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.2)


def test_a_frontend_says_the_store_is_unavailable_while_its_engine_is_down_and_recovers(
    built_quads, sources_root, tmp_path
):
    location, port = _loaded(built_quads, tmp_path / "engine"), free_port()
    flags = ("--engine", "oxigraph", "--engine-url", f"http://127.0.0.1:{port}")
    engine = oxigraph_on(location, port)
    engine.__enter__()
    with serving(None, sources_root, tmp_path / "serve.log", *flags) as frontend:
        query = {"query": ASK}
        assert fetch(frontend.sparql, params=query).status == 200
        engine.__exit__(None, None, None)  # the engine stops

        _until(lambda: fetch(f"{frontend.base}/health").status == 503, 5)
        health = fetch(f"{frontend.base}/health")
        assert health.headers["retry-after"] == "5" and health.json()["status"] == "unavailable"
        assert "the store is unavailable" in health.json()["reason"]
        answer = fetch(frontend.sparql, params={"query": ASK + " # while it is down"})
        assert answer.status == 503 and answer.headers["retry-after"] and "the store is unavailable" in answer.text
        page = fetch(f"{frontend.base}/id/naltrexone", headers={"Accept": "text/turtle"})
        assert page.status == 503 and page.headers["retry-after"]

        with oxigraph_on(location, port):  # back, on the same port, with the same data
            _until(lambda: fetch(f"{frontend.base}/health").status == 200, 10)
            again = fetch(frontend.sparql, headers={"Accept": "application/sparql-results+json"},
                          params={"query": ASK + " # after it came back"})
            assert again.status == 200 and again.json()["boolean"] is True
            assert fetch(f"{frontend.base}/id/naltrexone", headers={"Accept": "text/turtle"}).status == 200


FEED = ("/changes?since=0", "/changes?since=0&format=nquads", "/changes?since=0&format=jsonld", "/changes/v1/data")


def test_the_change_feed_says_the_store_is_unavailable_before_it_starts_an_answer(built_quads, sources_root, tmp_path):
    """A harvester meets 503 with Retry-After while the engine is down, never a 200 page cut off halfway."""
    location, port = _loaded(built_quads, tmp_path / "engine"), free_port()
    flags = ("--engine", "oxigraph", "--engine-url", f"http://127.0.0.1:{port}")
    with (
        stoppable_oxigraph(location, port) as stop,
        serving(None, sources_root, tmp_path / "serve.log", *flags) as frontend,
    ):
        before = {path: fetch(f"{frontend.base}{path}") for path in FEED}
        assert all(reply.status == 200 and b"fibromyalgia" in reply.body for reply in before.values())
        stop()

        for path in FEED:
            for encoding in ("identity", "gzip"):  # pages and members stream, gzip-encoded as they go when asked
                reply = fetch(f"{frontend.base}{path}", headers={"Accept-Encoding": encoding})
                assert reply.status == 503 and "the store is unavailable" in reply.text, (path, encoding, reply)
                assert reply.headers["retry-after"] == "5"
        assert "Exception while serving" not in frontend.log.read_text()

        with oxigraph_on(location, port):  # back: the same pages, whole
            for path, earlier in before.items():
                assert fetch(f"{frontend.base}{path}").body == earlier.body


def test_search_on_a_frontend_says_the_store_is_unavailable_and_catches_up_by_itself(
    built_quads, add_curator, sources_root, tmp_path
):
    """A frontend whose index is behind when the engine stops: 503 "the store is unavailable", then found again."""
    location, port = _loaded(built_quads, tmp_path / "engine"), free_port()
    flags = ("--engine", "oxigraph", "--engine-url", f"http://127.0.0.1:{port}")
    env = {"LDNKG_STATE_DIR": str(tmp_path / "state")}
    doi = {"q": "10.1186/test-trial-report"}  # the source the submission adds
    with (
        stoppable_oxigraph(location, port) as stop,
        serving(None, sources_root, tmp_path / "frontend.log", *flags, env=env) as frontend,
    ):
        token = add_curator("ada", *flags, env=env)
        assert fetch(f"{frontend.base}/search", headers=JSON, params=doi).json()["hits"] == []  # its index: version 1
        with serving(None, sources_root, tmp_path / "writer.log", *flags, env={**env, "LDNKG_ENGINE_WRITER": "1"}) as writer:
            accepted = fetch(f"{writer.base}/submissions", "POST", {"Content-Type": "text/turtle", "Accept": "application/json",
                             "Authorization": f"Bearer {token}"}, body=SUBMISSION.read_bytes())
            assert accepted.status == 201, accepted.text
        _until(lambda: fetch(f"{frontend.base}/health").json()["version"] == "2", 5)  # no search has caught up yet
        stop()

        for route in ("/search", "/search/suggest"):
            down = fetch(f"{frontend.base}{route}", headers=JSON, params=doi)
            assert down.status == 503 and down.headers["retry-after"] == "5", down.text
            assert down.json()["error"].startswith("the store is unavailable"), down.text

        with oxigraph_on(location, port):  # back: no commit, no restart, no search needed
            _until(lambda: fetch(f"{frontend.base}/health").json().get("search", {}).get("state") == "ready", 30)
            assert fetch(f"{frontend.base}/health").json()["search"]["version"] == 2  # 503s carry no "search"
            found = fetch(f"{frontend.base}/search", headers=JSON, params=doi)
            assert found.status == 200 and found.json()["hits"][0]["iri"] == "https://w3id.org/ldn-kg/id/source/test-trial-report"
    said = (tmp_path / "frontend.log").read_text()
    assert "trying again in 1 s" in said and "ready again at version 2" in said and said.count("trying again") < 10


class CuttingProxy:
    """A TCP proxy to the engine that passes everything but cuts the writer's update request halfway through its body.

    The update is the first POST to `update_path` that carries `header` (Virtuoso's writer
    is asked for its digest first, with a request that is passed whole and refused), other than
    the writer's lease (its form body names `urn:x-kgserver:writer`), which passes whole.
    """

    LEASE = b"x-kgserver%3Awriter"

    def __init__(self, upstream_port: int, update_path: str, header: bytes = b"") -> None:
        self.upstream_port = upstream_port
        self.update = b"POST " + update_path.encode()
        self.header = header.lower()
        self.port = free_port()
        self.cut = 0
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        for end in (client, upstream):  # pieces pass on at once: with Nagle's algorithm against delayed ACKs, each
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answer waited ~40 ms (the index: 52 s, not 5)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        with client, upstream:
            while data := client.recv(65536):
                if not self.cut and data.startswith(self.update):  # read whole: a client may write head and body apart
                    data = self._whole_request(client, data)
                    head, _, body = data.partition(b"\r\n\r\n")
                    if self.header in head.lower() and self.LEASE not in body:
                        upstream.sendall(head + b"\r\n\r\n" + body[: max(1, len(body) // 2)])
                        self.cut += 1
                        time.sleep(0.2)
                        return  # both ends closed mid-request: the engine never gets the whole update
                upstream.sendall(data)

    @staticmethod
    def _whole_request(client: socket.socket, data: bytes) -> bytes:
        """A request whose first bytes are `data`, read on to the end of its head and then of its Content-Length."""
        while b"\r\n\r\n" not in data and (more := client.recv(65536)):
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        lengths = [line.partition(b":")[2] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
        while len(body) < (int(lengths[0]) if lengths else 0) and (more := client.recv(65536)):
            body += more
        return head + b"\r\n\r\n" + body

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._server.close()


@contextmanager
def engine_with_data(name: str, quads: Path, folder: Path) -> Iterator[tuple[int, dict[str, str], CuttingProxy]]:
    """A real engine of its own holding `quads`: its port, the writer's environment, and a cutting proxy in front."""
    if name == "virtuoso":
        missing = engines_installed()
        if missing:
            pytest.skip(missing)
        with virtuoso(folder, {"urn:x-kgserver:graphs-as-in-the-file": [quads]}) as engine:
            user, password = engine.credentials
            port = int(engine.base.rsplit(":", 1)[1])
            yield port, {"LDNKG_ENGINE_USER": user, "LDNKG_ENGINE_PASSWORD": password}, CuttingProxy(
                port, "/sparql-auth", b"Authorization:")
    else:
        location, port = _loaded(quads, folder), free_port()
        with oxigraph_on(location, port):
            yield port, {}, CuttingProxy(port, "/update")


@pytest.mark.parametrize("name", ["oxigraph", "virtuoso"])
def test_a_commit_cut_off_on_its_way_to_the_engine_writes_nothing(name, built_quads, kgserver, add_curator, sources_root,
                                                                   tmp_path):
    """The writer's update never arrives whole: the curator gets 503, and the engine and the version stay as they were."""
    with engine_with_data(name, built_quads, tmp_path / "engine") as (port, credentials, proxy):
        env = {**credentials, "LDNKG_STATE_DIR": str(tmp_path / "state")}
        flags = ("--engine", name, "--engine-url", f"http://127.0.0.1:{proxy.port}")
        direct = ("--engine", name, "--engine-url", f"http://127.0.0.1:{port}")
        token = add_curator("ada", *direct, env=env)  # an update: not cut
        before = kgserver("export", *direct, env=env).stdout
        with serving(None, sources_root, tmp_path / "writer.log", *flags, env={**env, "LDNKG_ENGINE_WRITER": "1"}) as writer:
            version = fetch(f"{writer.base}/health").json()["version"]
            answer = fetch(f"{writer.base}/submissions", "POST", {"Content-Type": "text/turtle",
                           "Authorization": f"Bearer {token}", "Accept": "application/json"},
                           body=(Path(__file__).parent / "fixtures" / "valid" / "claim-with-new-source.ttl").read_bytes())
            assert proxy.cut == 1
            assert answer.status == 503 and answer.headers["retry-after"] and "nothing was committed" in answer.text
            assert fetch(f"{writer.base}/health").json()["version"] == version
        after = kgserver("export", *direct, env=env).stdout
        assert before and sorted(after.splitlines()) == sorted(before.splitlines())
        proxy.close()
