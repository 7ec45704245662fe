"""`kgserver build`: reproducible stores, failures that leave the previous store alone, reasoning."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rdflib import Dataset, Graph
from rdflib.compare import isomorphic

pytestmark = pytest.mark.slow  # builds stores with the reasoner and starts a server

BASE = "https://w3id.org/ldn-kg/"
LDN = f"{BASE}ontology#"
KG = f"{BASE}id/"
INFERRED = f"{BASE}graph/inferred"
DATA = f"{BASE}graph/data"
META = f"{BASE}graph/meta"


def _version(build_output: str) -> str:
    match = re.search(r"^dataset version\s+(\d+)( \(unchanged\))?$", build_output, re.MULTILINE)
    assert match, build_output
    return match.group(1)


def _graphs(kgserver, store: Path) -> dict[str, Graph]:
    exported = kgserver("export", "--store", store)
    assert exported.returncode == 0, exported.stderr
    dataset = Dataset()
    dataset.parse(data=exported.stdout, format="nquads")
    return {str(graph.identifier): graph for graph in dataset.graphs() if len(graph)}


def _stored_version(run_query, store: Path) -> str:
    rows = run_query(store, f"SELECT ?v WHERE {{ <{BASE}dataset> <http://purl.org/dc/terms/hasVersion> ?v }}")
    return rows[0]["v"]


@pytest.fixture(scope="module")
def mini_store(tmp_path_factory: pytest.TempPathFactory, kgserver, mini_root) -> Path:
    """A store built from the mini fixture, whose entailments are known."""
    store = tmp_path_factory.mktemp("mini") / "store"
    result = kgserver("build", "--store", store, root=mini_root)
    assert result.returncode == 0, result.stdout + result.stderr
    return store


def test_building_twice_gives_the_same_store(kgserver, built_store, run_query, tmp_path):
    again = tmp_path / "again"
    result = kgserver("build", "--store", again)
    assert result.returncode == 0, result.stderr
    assert _version(result.stdout) == _stored_version(run_query, built_store)
    first, second = _graphs(kgserver, built_store), _graphs(kgserver, again)
    assert first.keys() == second.keys()
    for name in first.keys() - {META}:  # the meta graph also says when each graph was built
        assert isomorphic(first[name], second[name]), name


def test_build_prints_progress_and_a_summary(kgserver, mini_root, tmp_path):
    result = kgserver("build", "--store", tmp_path / "store", root=mini_root)
    assert "parsing ontology/mini.ttl ... 23 triples" in result.stdout
    assert "reasoning with HermiT" in result.stdout
    for graph in ("ontology", "data", "shapes", "inferred", "meta"):
        assert re.search(rf"^{BASE}graph/{graph}\s+\d+$", result.stdout, re.MULTILINE)
    assert re.search(r"^total\s+\d+$", result.stdout, re.MULTILINE)
    assert "time taken" in result.stdout


def test_a_build_clears_what_a_build_killed_mid_load_left_and_keeps_a_running_ones(kgserver, mini_root, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned = tmp_path / f"store.tmp-{dead.pid}"  # a build killed mid-load: its process is gone
    running = tmp_path / f"store.tmp-{os.getpid()}"  # another build at work: this test's process runs
    for staging in (abandoned, running):
        staging.mkdir()
        (staging / "000007.sst").write_bytes(b"half-written")
    assert kgserver("build", "--store", tmp_path / "store", root=mini_root).returncode == 0
    assert not abandoned.exists() and running.exists()


def test_a_build_never_replaces_a_directory_that_holds_something_else(kgserver, mini_root, tmp_path):
    """The new store replaces the directory whole: a directory of other files is refused and kept, not emptied."""
    elsewhere = tmp_path / "notes"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "important.txt").write_text("precious")
    result = kgserver("build", "--store", elsewhere, root=mini_root)
    assert result.returncode == 2 and "holds files but no store" in result.stderr, result.stderr
    assert (elsewhere / "important.txt").read_text() == "precious" and (elsewhere / "sub").is_dir()
    queried = kgserver("query", "--store", elsewhere, "ASK {}", root=mini_root)  # not told to build there
    assert queried.returncode == 2 and "build one in a new or empty directory" in queried.stderr, queried.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert kgserver("build", "--store", empty, root=mini_root).returncode == 0


def test_a_syntax_error_stops_the_build_and_keeps_the_previous_store(
    kgserver, built_store, own_store, sources_root, copy_sources, run_query, tmp_path
):
    root = copy_sources(sources_root)
    (root / "graph" / "zz_broken.ttl").write_text('@prefix ex: <http://example.org/> .\nex:a ex:b "unterminated .\n')

    result = kgserver("build", "--store", own_store, root=root)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "graph/zz_broken.ttl:2:" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert _stored_version(run_query, own_store) == _stored_version(run_query, built_store)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sources", "store"]


def test_a_violation_stops_the_build_and_keeps_the_previous_store(
    kgserver, mini_store, mini_root, copy_sources, run_query, tmp_path
):
    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    root = copy_sources(mini_root)
    (root / "graph" / "unlabelled.ttl").write_text(f"<{KG}mystery> a <{LDN}Drug> .\n")

    result = kgserver("build", "--store", store, root=root)

    assert result.returncode == 1
    assert "VIOLATION  kg:mystery  rdfs:label: A drug needs a label." in result.stdout
    assert "does not conform" in result.stderr
    assert _stored_version(run_query, store) == _stored_version(run_query, mini_store)


def test_an_inconsistency_stops_the_build(kgserver, mini_root, copy_sources, tmp_path):
    root = copy_sources(mini_root)
    (root / "graph" / "clash.ttl").write_text(
        f'<{KG}chimera> a <{LDN}Drug>, <{LDN}Condition> ;\n'
        '  <http://www.w3.org/2000/01/rdf-schema#label> "chimera" ;\n'
        '  <http://www.w3.org/2000/01/rdf-schema#comment> "both" .\n'
    )

    result = kgserver("build", "--store", tmp_path / "store", root=root)

    assert result.returncode == 1
    assert "inconsistent" in result.stderr
    assert f"{KG}chimera is both a {LDN}Condition and a {LDN}Substance" in result.stderr
    assert not (tmp_path / "store").exists()


def test_the_inferred_graph_holds_entailments_not_assertions(mini_store, run_query):
    rows = run_query(mini_store, f"SELECT ?s ?p ?o WHERE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} }}")
    inferred = {(row["s"], row["p"], row["o"]) for row in rows}
    assert inferred == {
        (f"{KG}fibromyalgia", f"{LDN}treatedBy", f"{KG}naltrexone"),  # owl:inverseOf
        (f"{KG}naltrexone", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", f"{LDN}Drug"),
        (f"{KG}naltrexone", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", f"{LDN}Substance"),
        (f"{LDN}OpioidAntagonist", "http://www.w3.org/2000/01/rdf-schema#subClassOf", f"{LDN}Substance"),
    }


def test_dates_the_reasoner_cannot_take_are_kept_in_the_data_graph(mini_store, run_query):
    pattern = f"<{KG}naltrexone> <{LDN}approvalDate> ?date"
    rows = run_query(mini_store, f"SELECT ?date WHERE {{ GRAPH <{DATA}> {{ {pattern} }} }}")
    assert rows == [{"date": "1984-11-20"}]


def _changed_in(run_query, store: Path) -> dict[str, str]:
    rows = run_query(
        store, f"SELECT ?g ?v WHERE {{ GRAPH <{META}> {{ ?g <{LDN}changedInVersion> ?v }} }}"
    )
    return {row["g"]: row["v"] for row in rows}


def test_a_rebuild_moves_the_version_only_when_content_changes(
    kgserver, mini_store, mini_root, copy_sources, run_query, tmp_path
):
    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    first = _changed_in(run_query, store)
    assert set(first.values()) == {"1"} and DATA in first and INFERRED in first

    unchanged = kgserver("build", "--store", store, root=mini_root)
    assert _version(unchanged.stdout) == "1" and "(unchanged)" in unchanged.stdout
    assert _changed_in(run_query, store) == first

    root = copy_sources(mini_root)
    (root / "graph" / "more.ttl").write_text(
        f'<{KG}naltrexone> <http://www.w3.org/2000/01/rdf-schema#comment> "an opioid antagonist" .\n'
    )
    changed = kgserver("build", "--store", store, root=root)
    assert changed.returncode == 0, changed.stderr
    assert _version(changed.stdout) == "2"
    after = _changed_in(run_query, store)
    assert after[DATA] == "2"
    assert after[f"{BASE}graph/ontology"] == after[f"{BASE}graph/shapes"] == "1"
    assert _stored_version(run_query, store) == "2"


def test_a_deployment_under_another_base_moves_every_iri(kgserver, mini_root, run_query, tmp_path):
    other = "http://kg.example.test/"
    store = tmp_path / "store"
    result = kgserver("build", "--store", store, root=mini_root, env={"LDNKG_BASE": other})
    assert result.returncode == 0, result.stdout + result.stderr

    iris = {row["x"] for row in run_query(store, "SELECT DISTINCT ?x WHERE { { ?x ?p ?o } UNION { ?s ?x ?o } UNION { ?s ?p ?x } FILTER isIRI(?x) }")}
    assert f"{other}id/naltrexone" in iris
    assert not {iri for iri in iris if iri.startswith(BASE)}
    graphs = {row["g"] for row in run_query(store, "SELECT DISTINCT ?g WHERE { GRAPH ?g { } }")}
    assert f"{other}graph/data" in graphs


def test_a_store_being_served_is_not_rebuilt_under_the_server(kgserver, mini_store, mini_root, tmp_path):
    """A running server holds its store; a rebuild would swap the directory under it and lose its later commits."""
    from serving import serving

    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    with serving(store, mini_root, tmp_path / "serve.log"):
        result = kgserver("build", "--store", store, root=mini_root)
    assert result.returncode == 2
    assert "open in another process" in result.stderr and "Traceback" not in result.stderr
    # nothing of the build is left: only the server's log and store, and the search index it keeps beside it
    assert sorted(path.name for path in tmp_path.iterdir()) == ["serve.log", "store", "store.search", "store.search.lock"]
