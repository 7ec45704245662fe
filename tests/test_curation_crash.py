"""The server is killed (SIGKILL, master and workers) while curators submit: no submission is half there.

After a restart on the same store, every submission answered 201 is there in full with its
record; any other addition is either there in full with a record (committed just before the
kill, its answer lost) or not there at all; and the change records name exactly the graphs
the store holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyoxigraph import NamedNode
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic
from serving import fetch, free_port, serving

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings

pytestmark = pytest.mark.slow  # kills a real server mid-commit

VALID = Path(__file__).resolve().parent / "fixtures" / "valid" / "claim-with-new-source.ttl"
BASE = "https://w3id.org/ldn-kg/"
PROV_GENERATED = "http://www.w3.org/ns/prov#generated"
CLIENTS = 4
PER_CLIENT = 15
KILL_AFTER = 6


def addition(number: int) -> str:
    """A conforming claim with a source and authors of its own."""
    return (
        VALID.read_text()
        .replace("test-fibromyalgia-trial-results", f"test-crash-claim-{number}")
        .replace("test-trial-report", f"test-crash-source-{number}")
        .replace("test-authors", f"test-crash-authors-{number}")
        .replace('"99999999"', f'"8{number:07d}"')
        .replace('"PMC9999999"', f'"PMC8{number:06d}"')
    )


@dataclass
class Outcome:
    """What each client learnt: the graph of every submission answered 201."""

    answered: dict[int, str]
    lock: threading.Lock


def start_server(store: Path, root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`kgserver serve` in a session of its own, so its whole process group can be killed."""
    port = free_port()
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "kgserver"), "serve", "--store", str(store), "--port", str(port)],
            env={**os.environ, "LDNKG_ROOT": str(root)},
            stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        try:
            if fetch(f"{base}/health", timeout=2).status == 200:
                return process, base
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)


def client(base: str, token: str, numbers: range, outcome: Outcome) -> None:
    """Submit additions one after another until the server stops answering."""
    headers = {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}"}
    for number in numbers:
        try:
            reply = fetch(f"{base}/submissions", "POST", headers, 120, addition(number).encode())
        except OSError:  # killed: no answer
            return
        if reply.status >= 400:
            return
        assert reply.status == 201
        with outcome.lock:
            outcome.answered[number] = reply.json()["graph"]


def test_a_killed_server_leaves_every_submission_whole_or_absent(add_curator, own_store, sources_root, tmp_path):
    token = add_curator("ada", "--store", own_store)
    process, base = start_server(own_store, sources_root, tmp_path / "first.log")
    outcome = Outcome({}, threading.Lock())
    threads = [
        threading.Thread(target=client, args=(base, token, range(i * PER_CLIENT, (i + 1) * PER_CLIENT), outcome))
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 300
    while len(outcome.answered) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for thread in threads:
        thread.join()
    answered = dict(outcome.answered)
    assert len(answered) >= KILL_AFTER
    assert len(answered) < CLIENTS * PER_CLIENT, "the kill came after every submission: nothing was tested"

    with serving(own_store, sources_root, tmp_path / "second.log") as restarted:
        version = int(fetch(f"{restarted.base}/health", timeout=30).json()["version"])
    assert version >= 1 + len(answered)

    settings = Settings.from_env()
    snapshot = kgstore.open_read_only(own_store)
    state = changes.read_state(snapshot, settings)
    present = {graph.value for graph in snapshot.named_graphs()}
    assert set(state.live_graphs) | {settings.meta_graph} == present | {settings.meta_graph}
    assert state.version == version
    for number in range(CLIENTS * PER_CLIENT):
        claim = NamedNode(f"{BASE}id/claim/test-crash-claim-{number}")
        graphs = {quad.graph_name.value for quad in snapshot.quads_for_pattern(claim, None, None, None)}
        if number in answered:
            assert graphs == {answered[number]}, number
        assert len(graphs) <= 1, number
        for graph in graphs:  # present: in full, with the record that generated it
            assert isomorphic(kgstore.read_graph(snapshot, graph), Graph().parse(data=addition(number), format="turtle"))
            record = graph.replace("/graph/submission/", "/graph/record/")
            assert (None, URIRef(PROV_GENERATED), URIRef(graph)) in kgstore.read_graph(snapshot, record)
        if not graphs:  # absent: not even in part
            source = NamedNode(f"{BASE}id/source/test-crash-source-{number}")
            assert not list(snapshot.quads_for_pattern(source, None, None, None)), number
