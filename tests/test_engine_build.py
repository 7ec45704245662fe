"""`kgserver build --engine` loads the sources into an engine (Oxigraph's server, Virtuoso): the same graphs as a built store.

An operator builds into an empty engine and gets every graph a store directory gets, with
its version; a second build of unchanged sources changes nothing; a curator's submission
made through the writer survives a rebuild; a build while a writer holds the role is refused.
`check`, `serve` and `export` refuse an engine never built into; `check` reads what the engine
holds and says what it says of a built store; sources that do not conform then stop the build
and the engine keeps what it served.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from engines import engines_installed, oxigraph_server, virtuoso
from rdflib import XSD, Dataset, Graph, Literal
from rdflib.compare import isomorphic
from serving import fetch, serving

pytestmark = pytest.mark.slow  # an engine, builds and a server

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "valid" / "claim-with-new-source.ttl"


@pytest.fixture(params=["oxigraph", "virtuoso"])
def engine(request, tmp_path, monkeypatch):
    """An empty engine; `kgserver` runs get its name and URL as flags, and Virtuoso's DBA credentials from the environment."""
    if request.param == "virtuoso":
        missing = engines_installed()
        if missing:
            pytest.skip(missing)
        with virtuoso(tmp_path / "engine") as running:
            user, password = running.credentials
            monkeypatch.setenv("LDNKG_ENGINE_USER", user)
            monkeypatch.setenv("LDNKG_ENGINE_PASSWORD", password)
            monkeypatch.setenv("LDNKG_STATE_DIR", str(tmp_path / "state"))
            yield ("--engine", "virtuoso", "--engine-url", running.base)
    else:
        with oxigraph_server(tmp_path / "engine") as running:
            yield ("--engine", "oxigraph", "--engine-url", running.base)


@pytest.fixture(scope="module")
def built_store_checked(kgserver, built_store):
    """What `kgserver check` says of the store directory built from the same sources (run once for both engines)."""
    return kgserver("check", "--store", built_store)


def _graphs(nquads: str) -> dict[str, Dataset]:
    data = Dataset().parse(data=nquads, format="nquads")
    return {str(graph.identifier): graph for graph in data.graphs() if len(graph)}


def _timeless(graph: Graph) -> Graph:
    """The graph without its xsd:dateTime values (when a build or change happened)."""
    kept = Graph()
    for triple in graph:
        if not (isinstance(triple[2], Literal) and triple[2].datatype == XSD.dateTime):
            kept.add(triple)
    return kept


def test_a_build_into_an_engine_holds_what_a_built_store_holds_and_a_rebuild_keeps_submissions(
    engine, kgserver, add_curator, built_store, sources_root, tmp_path
):
    flags = engine
    built = kgserver("build", *flags)
    assert built.returncode == 0, built.stderr
    assert f"loading into {flags[1]} at {flags[3]}" in built.stdout and "dataset version  1" in built.stdout
    ours, theirs = _graphs(kgserver("export", *flags).stdout), _graphs(kgserver("export", "--store", built_store).stdout)
    assert sorted(ours) == sorted(theirs)
    for name in theirs:  # the meta graph's times are each build's own
        assert isomorphic(_timeless(ours[name]), _timeless(theirs[name])), name

    again = kgserver("build", *flags)
    assert again.returncode == 0 and "dataset version  1 (unchanged)" in again.stdout

    token = add_curator("ada", *flags)
    with serving(None, sources_root, tmp_path / "writer.log", *flags, env={"LDNKG_ENGINE_WRITER": "1"}) as writer:
        answer = fetch(f"{writer.base}/submissions", "POST", {"Content-Type": "text/turtle",
                       "Authorization": f"Bearer {token}", "Accept": "application/json"}, body=FIXTURE.read_bytes())
        assert answer.status == 201, answer.text
        graph = answer.json()["graph"]
        refused = kgserver("build", *flags)  # the writer holds the role
        assert refused.returncode != 0 and "another server holds the writer role" in refused.stderr

    rebuilt = kgserver("build", *flags)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "keeping 2 graphs added since the last build" in rebuilt.stdout
    assert graph in _graphs(kgserver("export", *flags).stdout)
    assert kgserver("curator", "list", *flags).stdout.splitlines()[1].startswith("ada ")  # the engine kept its curators


def test_check_reads_what_an_engine_holds_and_sources_that_do_not_conform_leave_it_as_it_was(
    engine, kgserver, built_store_checked, sources_root, tmp_path
):
    flags = engine
    never_built = kgserver("check", *flags)  # an empty engine is no dataset that conforms
    assert never_built.returncode == 2 and "holds no LDN-KG dataset; build it first" in never_built.stderr, never_built.stderr
    unserved = kgserver("serve", *flags, "--port", "1")  # refused before it listens: the port is never tried
    assert unserved.returncode == 2 and "holds no LDN-KG dataset under https://w3id.org/ldn-kg/" in unserved.stderr
    assert f"build it: kgserver build {' '.join(flags)}" in unserved.stderr, unserved.stderr
    unexported = kgserver("export", *flags)  # not an empty file and success
    assert unexported.returncode == 2 and unexported.stdout == "", unexported.stderr
    assert "holds no LDN-KG dataset under https://w3id.org/ldn-kg/" in unexported.stderr
    assert kgserver("build", *flags).returncode == 0
    elsewhere = kgserver("serve", *flags, "--port", "1", env={"LDNKG_BASE": "https://example.org/other/"})
    assert elsewhere.returncode == 2, elsewhere.stderr  # its gate would find no ontology or shapes and commit anything
    assert "holds no LDN-KG dataset under https://example.org/other/ (built with another LDNKG_BASE?)" in elsewhere.stderr
    checked, local = kgserver("check", *flags), built_store_checked
    assert checked.returncode == local.returncode == 0, checked.stderr
    assert checked.stdout == local.stdout and "consistent" in checked.stdout
    assert "submissions: 0 checked, 0 no longer conform" in checked.stdout

    before = kgserver("export", *flags).stdout
    broken = tmp_path / "sources"
    for folder in ("ontology", "graph", "shapes", "queries"):
        shutil.copytree(sources_root / folder, broken / folder)
    claims = broken / "graph" / "claims.ttl"
    claims.write_text(claims.read_text(encoding="utf-8").replace("ldn:stance", "ldn:stanceX", 1), encoding="utf-8")
    failed = kgserver("build", *flags, root=broken)
    assert failed.returncode != 0 and "build stopped" in failed.stderr
    assert kgserver("export", *flags).stdout == before
