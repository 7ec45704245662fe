"""An engine that stops answering, and a writer that cannot write: what a frontend's /health and its readers see.

An engine paused (SIGSTOP: it accepts connections and answers nothing, as an overloaded one or
one behind a half-open connection does) must not hold a frontend's requests for the store's own
read timeout: /health answers 503 within three seconds, so a load balancer sends no one there,
and a page, a resource and a query each answer 503 within the time limit and a second, all at
once as well as one by one; when the engine goes on (SIGCONT) the frontend answers 200 again by
itself. On Oxigraph's server and on Virtuoso.

A writer that lost its lease to another, or whose engine no longer takes its credentials, says
so on /health (200, "degraded", a "writer" member with the lease and the last commit's error)
while a reading frontend's /health stays "ok"; the log and the member name the refusal.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from engines import Engine, engines_installed, isql, oxigraph_server, virtuoso
from serving import Server, fetch, serving, serving_engine

from kgserver.store.dialects import LEASE_GRAPH, PRIVATE_GRAPHS

pytestmark = pytest.mark.slow  # real engines, paused and resumed

LIMIT = 2  # the frontends' query time limit, seconds
HEALTH_BOUND = 3.0  # a load balancer's check must be answered within this
TURTLE = {"Accept": "text/turtle"}
ASK = "ASK { ?c a <https://w3id.org/ldn-kg/ontology#EvidenceClaim> }"
SUBMISSION = Path(__file__).parent / "fixtures" / "valid" / "claim-with-new-source.ttl"


@contextlib.contextmanager
def engine_holding(name: str, quads: Path, folder: Path) -> Iterator[Engine]:
    """A real engine of this test's own (it is paused) holding every quad of the built store."""
    missing = engines_installed()
    if missing:
        pytest.skip(missing)
    graphs = {"urn:x-kgserver:graphs-as-in-the-file": [quads]}  # an N-Quads file keeps its own graphs
    with (virtuoso(folder, graphs) if name == "virtuoso" else oxigraph_server(folder, graphs)) as engine:
        yield engine


@contextlib.contextmanager
def paused(engine: Engine) -> Iterator[None]:
    """The engine's process stopped (SIGSTOP) until the block ends: connections are taken, nothing is answered."""
    os.kill(engine.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(engine.pid, signal.SIGCONT)


def _requests(frontend: Server) -> dict[str, tuple[str, dict[str, str], float]]:
    """What a client asks a frontend: the URL, its headers, and how long the answer may take while the engine is silent."""
    query = urllib.parse.urlencode({"query": ASK})
    return {
        "health": (f"{frontend.base}/health", {}, HEALTH_BOUND),
        "resource": (f"{frontend.base}/id/naltrexone", TURTLE, LIMIT + 1),
        "page": (f"{frontend.base}/id/naltrexone", {"Accept": "text/html"}, LIMIT + 1),
        "home": (f"{frontend.base}/", {"Accept": "text/html"}, LIMIT + 1),
        "query": (f"{frontend.sparql}?{query}", {"Accept": "application/sparql-results+json"}, LIMIT + 1),
    }


def _timed(url: str, headers: dict[str, str]) -> tuple[int, float, str]:
    """The status of one GET, how long it took, and its body's start."""
    started = time.monotonic()
    reply = fetch(url, headers=headers, timeout=90)
    return reply.status, time.monotonic() - started, reply.text[:300]


def _all_at_once(frontend: Server, names: list[str]) -> dict[str, tuple[int, float, str]]:
    """The requests named, sent together, each on a connection of its own: status, seconds and body start of each."""
    asked = _requests(frontend)
    with ThreadPoolExecutor(len(names)) as pool:
        futures = {f"{name} {number}": pool.submit(_timed, *asked[name][:2]) for number, name in enumerate(names)}
        return {key: future.result() for key, future in futures.items()}


def _unavailable_in_time(frontend: Server, answers: dict[str, tuple[int, float, str]]) -> None:
    bounds = _requests(frontend)
    for key, (status, seconds, body) in answers.items():
        bound = bounds[key.split()[0]][2]
        assert status == 503 and seconds <= bound, f"{key}: {status} after {seconds:.1f} s (at most {bound} s): {body}"


def _until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.2)


@pytest.mark.parametrize("name", ["oxigraph", "virtuoso"])
def test_a_frontend_whose_engine_stops_answering_answers_503_in_time_and_serves_again_when_it_goes_on(
    name, built_quads, sources_root, tmp_path
):
    with (
        engine_holding(name, built_quads, tmp_path / "engine") as engine,
        serving_engine(engine, sources_root, tmp_path, "--query-timeout", str(LIMIT)) as frontend,
    ):
        assert fetch(f"{frontend.base}/id/naltrexone", headers=TURTLE).status == 200
        with paused(engine):
            time.sleep(1.2)  # the dataset's state the frontend holds is over a second old: the next request reads it
            started = time.monotonic()
            health = fetch(f"{frontend.base}/health", timeout=90)
            assert health.status == 503 and time.monotonic() - started <= HEALTH_BOUND, health.text
            assert health.headers["retry-after"] and health.json()["status"] == "unavailable"
            assert "the store is unavailable" in health.json()["reason"]
            _unavailable_in_time(frontend, _all_at_once(frontend, ["health", "resource", "page", "home", "query"]))
            # one after another, while the readings begun above may still wait for the engine: no one queues behind them
            for key in ("resource", "health", "query", "health"):
                _unavailable_in_time(frontend, {key: _timed(*_requests(frontend)[key][:2])})
            resource = fetch(f"{frontend.base}/id/naltrexone", headers=TURTLE, timeout=90)
            assert resource.status == 503 and resource.headers["retry-after"]

        _until(lambda: fetch(f"{frontend.base}/health", timeout=10).status == 200, 10)
        assert fetch(f"{frontend.base}/id/naltrexone", headers=TURTLE).status == 200
        again = fetch(frontend.sparql, headers={"Accept": "application/sparql-results+json"}, params={"query": ASK})
        assert again.status == 200 and again.json()["boolean"] is True


def _submit(server: Server, token: str):
    return fetch(f"{server.base}/submissions", "POST", {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}",
                 "Accept": "application/json"}, body=SUBMISSION.read_bytes())


def test_a_writer_that_lost_its_lease_says_so_on_health_while_a_readers_health_stays_ok(
    built_quads, add_curator, sources_root, tmp_path
):
    with engine_holding("oxigraph", built_quads, tmp_path / "engine") as engine:
        flags = ("--engine", "oxigraph", "--engine-url", engine.base)
        token = add_curator("ada", *flags)
        with (
            serving(None, sources_root, tmp_path / "writer.log", *flags, env={"LDNKG_ENGINE_WRITER": "1"}) as writer,
            serving(None, sources_root, tmp_path / "reader.log", *flags) as reader,
        ):
            health = fetch(f"{writer.base}/health").json()
            assert health["status"] == "ok" and health["writer"]["role"] == "writer"
            assert health["writer"]["lease"] == "held" and health["writer"]["last_commit_error"] is None
            assert fetch(f"{reader.base}/health").json()["writer"] == {"role": "reader"}

            lease, held = f"<{LEASE_GRAPH}>", f"<{PRIVATE_GRAPHS}writer-lease>"
            taken = fetch(engine.update, "POST", form={"update": (  # another machine's writer took the role
                f"DELETE WHERE {{ GRAPH {lease} {{ {lease} ?p ?o }} }} ; "
                f'INSERT DATA {{ GRAPH {lease} {{ {lease} {held} "{time.time() + 600:.3f} pid 1, another machine" }} }}')})
            assert taken.status == 204, taken.text
            refused = _submit(writer, token)
            assert refused.status == 503 and "no longer holds the writer role" in refused.text

            health = fetch(f"{writer.base}/health")
            assert health.status == 200 and health.json()["status"] == "degraded", health.text
            assert "no longer holds the writer role" in health.json()["reason"]
            assert health.json()["writer"]["lease"] == "lost" and "another machine" in health.json()["writer"]["lease_error"]
            assert fetch(f"{writer.base}/id/naltrexone", headers=TURTLE).status == 200  # its reads still work
            reader_health = fetch(f"{reader.base}/health")
            assert reader_health.status == 200 and reader_health.json()["status"] == "ok"


def test_a_writer_whose_engine_no_longer_takes_its_credentials_says_so_on_health_and_in_its_log(
    built_quads, kgserver, add_curator, sources_root, tmp_path
):
    with engine_holding("virtuoso", built_quads, tmp_path / "engine") as engine:
        user, password = engine.credentials
        env = {"LDNKG_ENGINE_USER": user, "LDNKG_ENGINE_PASSWORD": password}
        flags = ("--engine", "virtuoso", "--engine-url", engine.base)
        token = add_curator("ada", *flags, env=env)
        wrong = kgserver("curator", "add", "bob", *flags, env={**env, "LDNKG_ENGINE_PASSWORD": "not-" + password})
        assert wrong.returncode != 0 and "refused the update (401): wrong credentials" in wrong.stderr, wrong.stderr
        log = tmp_path / "writer.log"
        with serving(None, sources_root, log, *flags, env={**env, "LDNKG_ENGINE_WRITER": "1"}) as writer:
            assert fetch(f"{writer.base}/health").json()["status"] == "ok"
            sql_port = int(re.search(r"ServerPort\s*=\s*127\.0\.0\.1:(\d+)", (engine.directory / "virtuoso.ini").read_text())[1])
            isql(sql_port, f"USER_CHANGE_PASSWORD('{user}', '{password}', 'changed-{password}');\n")  # the operator's

            refused = _submit(writer, token)
            assert refused.status == 503 and "nothing was committed" in refused.text
            health = fetch(f"{writer.base}/health")
            assert health.status == 200 and health.json()["status"] == "degraded", health.text
            error = health.json()["writer"]["last_commit_error"]["error"]
            assert "refused the update (401): wrong credentials" in error
            assert "refused the update (401): wrong credentials" in log.read_text()
            # the next renewal of its lease (every 10 s) is refused too
            _until(lambda: fetch(f"{writer.base}/health").json()["writer"]["lease"] == "not renewed", 15)
            assert fetch(f"{writer.base}/id/naltrexone", headers=TURTLE).status == 200  # its reads still work
