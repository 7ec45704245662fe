"""The engine behind a frontend goes away and comes back: 503 with Retry-After meanwhile, service again by itself.

A frontend in front of Oxigraph's server whose engine is stopped answers queries and pages
with 503 "the store is unavailable" and Retry-After, and /health says so with 503 (a load
balancer then sends no one there); when the engine is back on its port, the same frontend
answers again without a restart.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from engines import oxigraph_command
from serving import fetch, free_port, serving

from kgserver import store as kgstore

pytestmark = pytest.mark.slow  # an engine stopped and started again

ASK = "ASK { ?c a <https://w3id.org/ldn-kg/ontology#EvidenceClaim> }"


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
    built_store, sources_root, tmp_path
):
    if oxigraph_command() is None:
        pytest.skip("the oxigraph wheel (test extras) is not installed")
    quads, location, port = tmp_path / "all.nq", tmp_path / "engine", free_port()
    store = kgstore.open_read_only(built_store)
    with quads.open("wb") as out:
        kgstore.export(store, out)
    del store
    subprocess.run([oxigraph_command(), "load", "--location", str(location), "--file", str(quads)], check=True,
                   capture_output=True)
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
