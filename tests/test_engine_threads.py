"""Query threads in front of an engine hold their place until the engine's answer is done with, even when dropped.

In-process: a stand-in engine whose answer waits until the test lets it go. A frontend lets
`maximum` light queries wait for its engine at once; a query whose client went away still
occupies the engine until its read ends, so its place is given back only then.
"""

from __future__ import annotations

import threading

from kgserver.errors import UnavailableError
from kgserver.sparql.threads import EngineThreads
from kgserver.sparql.worker import Job


class _SlowEngine:
    """A store whose every query waits for `go`, then fails as an unreachable engine would."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.asked = threading.Event()

    def query(self, *args, **kwargs):
        self.asked.set()
        self.go.wait(10)
        raise UnavailableError("the store is unavailable")


def test_a_dropped_querys_place_comes_back_when_its_engine_read_ends():
    engine = _SlowEngine()
    pool = EngineThreads(engine, {}, maximum=1)
    worker = pool.acquire(1)
    assert worker is not None
    worker.conn.send(Job("SELECT * WHERE { ?s ?p ?o }", "json", None, None, 10))
    assert engine.asked.wait(5)

    pool.discard(worker)  # the client went away; the engine is still answering
    assert pool.acquire(0.2) is None, "a place was given back while its query still ran in the engine"

    engine.go.set()  # the engine's read ends
    again = pool.acquire(5)
    assert again is not None, "the place of the dropped query never came back"
    pool.release(again)
    assert pool.status().processes == 0
