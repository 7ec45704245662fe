"""Dumps from kgserver in front of each engine: the same files, graph for graph, as `kgserver export` of the built store.

The dump stories of test_dumps.py that read a running server (imported from it, one copy of
each), against `kgserver serve --engine NAME` over Oxigraph's server and over Virtuoso
(`engine`, conftest.py) loaded with the built store's quads: the whole-dataset dump, the
Turtle union, each graph's own dumps, their headers, and the refusals.
"""

from __future__ import annotations

import pytest
from serving import serving_engine
from test_dumps import (  # noqa: F401 (collected here against this module's `app_base`)
    test_a_dump_says_its_version_checksum_and_size,
    test_a_path_outside_the_dumps_is_not_found,
    test_an_old_version_is_refused_with_the_current_name,
    test_each_graph_has_its_own_dumps,
    test_head_gives_the_headers_without_the_body,
    test_the_turtle_dump_is_the_union_of_the_graphs,
    test_the_whole_dataset_dump_equals_kgserver_export,
    version,
)

pytestmark = pytest.mark.slow  # an engine and a frontend


@pytest.fixture(scope="module")
def app_base(engine, sources_root, tmp_path_factory) -> str:
    """The base URL of a frontend in front of `engine` (test_dumps.py's stories call it as they call the app)."""
    with serving_engine(engine, sources_root, tmp_path_factory.mktemp("dumps-frontend")) as server:
        yield server.base
