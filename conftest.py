"""What the doctests in kgserver/ may use: `store` (the project's sources, unreasoned, in memory) and `settings`."""

from __future__ import annotations


import pyoxigraph
import pytest

from kgserver.config import Settings


@pytest.fixture(scope="session")
def _doctest_store() -> pyoxigraph.Store:
    settings = Settings.from_env()
    store = pyoxigraph.Store()
    for path in settings.ontology_files() + settings.data_files():
        store.load(path=str(path), format=pyoxigraph.RdfFormat.TURTLE, to_graph=pyoxigraph.NamedNode(settings.data_graph))
    return store


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    """Give doctests `store` and `settings`; other tests are left alone."""
    if isinstance(request.node, pytest.DoctestItem):
        namespace = request.getfixturevalue("doctest_namespace")
        namespace["store"] = request.getfixturevalue("_doctest_store")
        namespace["settings"] = Settings.from_env()
