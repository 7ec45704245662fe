"""Twenty curators' clients submit at the same moment: each addition is checked and committed alone.

Some additions conform and some do not. Every answer is 201 or 422; the accepted ones got
distinct versions in the order they were committed, each is stored in full, and nothing of
a refused one is stored at all.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyoxigraph import NamedNode
from rdflib import Graph
from rdflib.compare import isomorphic
from serving import fetch, serving

from kgserver import store as kgstore

pytestmark = pytest.mark.slow  # many clients against a real server

VALID = Path(__file__).resolve().parent / "fixtures" / "valid" / "claim-with-new-source.ttl"
BASE = "https://w3id.org/ldn-kg/"
CLIENTS = 20


def addition(number: int, conforming: bool) -> str:
    """A claim with its own source and authors; a refused one is dated before the source it cites."""
    text = (
        VALID.read_text()
        .replace("test-fibromyalgia-trial-results", f"test-concurrent-claim-{number}")
        .replace("test-trial-report", f"test-concurrent-source-{number}")
        .replace("test-authors", f"test-concurrent-authors-{number}")
        .replace('"99999999"', f'"9{number:07d}"')
        .replace('"PMC9999999"', f'"PMC9{number:06d}"')
    )
    return text if conforming else text.replace("ldn:claimYear 2024", "ldn:claimYear 2015")


def submit(base: str, token: str, body: str) -> tuple[int, dict]:
    headers = {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}", "Accept": "application/json"}
    reply = fetch(f"{base}/submissions", "POST", headers, 600, body.encode())
    return reply.status, reply.json()


def test_simultaneous_submissions_are_committed_one_at_a_time(add_curator, own_store, sources_root, tmp_path):
    token = add_curator("ada", "--store", own_store)
    bodies = {number: addition(number, conforming=number % 4 != 3) for number in range(CLIENTS)}
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> tuple[int, dict]:
        start.wait()
        return submit(running.base, token, bodies[number])

    with serving(own_store, sources_root, tmp_path / "serve.log", "--threads", str(CLIENTS)) as running:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = dict(zip(bodies, pool.map(client, bodies), strict=True))
        final_version = int(fetch(f"{running.base}/health", timeout=30).json()["version"])

    assert {status for status, _ in answers.values()} <= {201, 422}
    accepted = {number: body for number, (status, body) in answers.items() if status == 201}
    refused = [number for number, (status, _) in answers.items() if status == 422]
    assert sorted(refused) == [number for number in bodies if number % 4 == 3]
    versions = [body["version"] for _, body in sorted(accepted.items(), key=lambda item: item[1]["submission"])]
    assert versions == sorted(set(versions)), "ids sort in commit order and versions never repeat"
    assert final_version == 1 + len(accepted) == max(versions)

    snapshot = kgstore.open_read_only(own_store)
    for number, answer in accepted.items():
        stored = kgstore.read_graph(snapshot, answer["graph"])
        assert isomorphic(stored, Graph().parse(data=bodies[number], format="turtle")), number
        assert snapshot.contains_named_graph(NamedNode(answer["record"]))
    for number in refused:
        claim = NamedNode(f"{BASE}id/claim/test-concurrent-claim-{number}")
        assert not list(snapshot.quads_for_pattern(claim, None, None, None)), number
        assert not list(snapshot.quads_for_pattern(None, None, claim, None)), number
