"""The W3C SPARQL 1.1 Protocol cases against kgserver in front of each engine of the contract suite.

The same cases as test_w3c_protocol.py (imported from it, so there is one copy of each), each
sent to `kgserver serve --engine NAME` over Oxigraph's server and over Virtuoso (`engine`,
conftest.py), loaded with the built store's quads: the dataset cases must answer from exactly
the graphs the request names, and updates must be refused, whatever engine holds the graph.
"""

from __future__ import annotations

import pytest
from serving import serving_engine
from test_w3c_protocol import *  # noqa: F403 -- the cases, collected here against this module's `send`
from test_w3c_protocol import Send, sender

pytestmark = pytest.mark.slow  # an engine and a frontend

# Where an engine answers otherwise than the standard and kgserver cannot ask it around that:
# (engine, test) -> why. Each is a strict xfail, so a fixed engine shows as XPASS.
ENGINE_DIFFERENCES = {
    ("virtuoso", "test_query_dataset_named_graphs_get"): (
        "Virtuoso 7.2 matches GRAPH <g> for a graph outside the request's named graphs (ASK true, COUNT 1), so "
        "FILTER NOT EXISTS { GRAPH <ontology> {...} } is false; kgserver cannot name that graph without showing it"
    ),
}


@pytest.fixture(autouse=True)
def _known_difference(request: pytest.FixtureRequest, engine) -> None:
    reason = ENGINE_DIFFERENCES.get((engine.name, request.node.originalname))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(scope="module")
def send(engine, sources_root, tmp_path_factory) -> Send:
    """Send one request to a frontend in front of `engine`."""
    with serving_engine(engine, sources_root, tmp_path_factory.mktemp("w3c-frontend")) as server:
        yield sender(server.base)
