"""The real clients (SPARQLWrapper, rdflib's SPARQLStore, Comunica) against kgserver in front of each engine.

The same tests as test_sparql_clients.py (imported from it, one copy of each), against
`kgserver serve --engine NAME` over Oxigraph's server and over Virtuoso (`engine`, conftest.py)
loaded with the built store's quads, instead of the server on the built store.
"""

from __future__ import annotations

import pytest
from serving import serving_engine
from test_sparql_clients import *  # noqa: F403 -- the tests, collected here against this module's `served_store`

pytestmark = pytest.mark.slow  # an engine, a frontend and the clients


@pytest.fixture(scope="module")
def served_store(engine, sources_root, tmp_path_factory) -> str:
    """The base URL of a frontend in front of `engine`."""
    with serving_engine(engine, sources_root, tmp_path_factory.mktemp("clients-frontend")) as server:
        yield server.base
