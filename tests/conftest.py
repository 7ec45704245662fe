"""Shared fixtures: the kgserver command, a store built once from the project's sources, queries on it.

The sources are those under LDNKG_ROOT if set, else this checkout's ontology/, graph/ and
shapes/; a checkout without an ontology yet falls back to tests/fixtures/mini.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engines import Engine, engines_installed, oxigraph_server, virtuoso
from pyoxigraph import QueryBoolean, QuerySolutions, RdfFormat
from rdflib import Dataset
from serving import in_process, serving

from kgserver import store as kgstore
from kgserver.config import Settings

# The browser fixtures (`chromium`, `visit`) for every test module, started once per session.
pytest_plugins = ["browser"]

REPO = Path(__file__).resolve().parent.parent
MINI_ROOT = REPO / "tests" / "fixtures" / "mini"
SOURCE_DIRS = ("ontology", "graph", "shapes")

RunKgserver = Callable[..., subprocess.CompletedProcess[str]]
RunQuery = Callable[[Path, str], list[dict[str, str]]]
AddCurator = Callable[..., str]


def project_root() -> Path:
    """Where the sources under test are: LDNKG_ROOT, this checkout, or the mini fixture."""
    if os.environ.get("LDNKG_ROOT"):
        return Path(os.environ["LDNKG_ROOT"]).resolve()
    if any((REPO / "ontology").glob("*.ttl")):
        return REPO
    return MINI_ROOT


def pytest_report_header() -> str:
    return f"LDN-KG sources: {project_root()}"


def _kgserver_executable() -> str:
    beside_python = Path(sys.executable).parent / "kgserver"
    return str(beside_python) if beside_python.exists() else (shutil.which("kgserver") or "kgserver")


def _run_kgserver(
    *args: str | Path,
    root: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run `kgserver ARGS` as a user would, against `root` (default: the project's sources)."""
    environment = {**os.environ, "LDNKG_ROOT": str(root or project_root()), **(env or {})}
    return subprocess.run(
        [_kgserver_executable(), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def kgserver() -> RunKgserver:
    """Run the kgserver command in a subprocess; keyword `root` picks other sources."""
    return _run_kgserver


@pytest.fixture(scope="session")
def sources_root() -> Path:
    """The directory holding the ontology/, graph/ and shapes/ under test."""
    return project_root()


@pytest.fixture(scope="session")
def mini_root() -> Path:
    """The mini fixture: a tiny ontology, data graph and shapes whose outcomes are known."""
    return MINI_ROOT


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built once, with `kgserver build`, from the project's sources."""
    store = tmp_path_factory.mktemp("built") / "store"
    result = _run_kgserver("build", "--store", store)
    assert result.returncode == 0, f"kgserver build failed:\n{result.stdout}\n{result.stderr}"
    return store


@pytest.fixture
def own_store(built_store: Path, tmp_path: Path) -> Path:
    """A copy of the built store that this test may write to, at tmp_path / "store"."""
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    return store


@pytest.fixture(scope="session")
def add_curator(kgserver: RunKgserver) -> AddCurator:
    """Add a curator with `kgserver curator add NAME FLAGS...` and give its token, for tests that need one to submit."""

    def add(name: str, *flags: str | Path, env: dict[str, str] | None = None, root: Path | None = None) -> str:
        added = kgserver("curator", "add", name, *flags, env=env, root=root)
        assert added.returncode == 0, f"kgserver curator add {name} failed:\n{added.stderr}"
        return added.stdout.strip().splitlines()[-1]

    return add


@pytest.fixture(scope="session")
def run_query() -> RunQuery:
    """Run a SPARQL query on a built store; rows as {variable: value} with unbound variables left out.

    Values are the IRI, the literal's lexical form, or the blank node label. An ASK
    query gives one row, {"result": "true"} or {"result": "false"}. The project's prefixes
    (ldn:, kg:, rdfs: ...) may be used without PREFIX declarations, as with `kgserver query`.
    """
    prefixes = Settings(root=project_root()).prefixes

    def run(store_path: Path, sparql: str) -> list[dict[str, str]]:
        store = kgstore.open_read_only(store_path)
        result = kgstore.query(store, sparql, prefixes)
        if isinstance(result, QueryBoolean):
            return [{"result": "true" if result else "false"}]
        if not isinstance(result, QuerySolutions):
            raise TypeError("run_query answers SELECT and ASK queries")
        names = [variable.value for variable in result.variables]
        return [
            {name: solution[name].value for name in names if solution[name] is not None}
            for solution in result
        ]

    return run


@pytest.fixture
def copy_sources(tmp_path: Path) -> Callable[[Path], Path]:
    """Copy a root's ontology/, graph/ and shapes/ to a scratch root that a test may change."""

    def copy(root: Path) -> Path:
        target = tmp_path / "sources"
        for folder in SOURCE_DIRS:
            shutil.copytree(root / folder, target / folder)
        return target

    return copy


@pytest.fixture(scope="session")
def served_store(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The base URL (http://127.0.0.1:PORT) of `kgserver serve` on the built store, for the session.

    Started as a user starts it, on a free loopback port, and stopped at the end; the server's
    output is kept in a file and shown if it fails to start.
    """
    log = tmp_path_factory.mktemp("served") / "kgserver-serve.log"
    with serving(built_store, sources_root, log, "--workers", "1", "--threads", "4") as running:
        yield running.base


@pytest.fixture(scope="session")
def app_base(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The app `kgserver serve` runs, on a copy of the built store, called in-process: its base URL for `fetch`.

    For stories about what the app answers (reports, negotiation, pages, protocol errors); the
    copy leaves the built store to the real servers other tests start on it.
    """
    store = tmp_path_factory.mktemp("in-process") / "store"
    shutil.copytree(built_store, store)
    with in_process(store, sources_root) as app:
        yield app.base


ENGINES = ("oxigraph", "virtuoso")
OXIGRAPH_TIMEOUT_SECONDS = 5  # Oxigraph's server takes no limit per query; its own (--timeout-s), as the README advises


@pytest.fixture(scope="session", autouse=True)
def session_state_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Frontends a session fixture starts keep their files (search index, locks) under pytest's temporary directory.

    Without it they go to the system's temporary directory, named after an engine URL whose port
    changes each run, and stay there after the run.
    """
    previous = os.environ.get("LDNKG_STATE_DIR")
    os.environ["LDNKG_STATE_DIR"] = str(tmp_path_factory.mktemp("session-engine-state"))
    yield
    if previous is None:
        os.environ.pop("LDNKG_STATE_DIR", None)
    else:
        os.environ["LDNKG_STATE_DIR"] = previous


@pytest.fixture(autouse=True)
def engine_state_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test keeps a frontend's files for an engine (the curators' registry, WRITER.lock) apart.

    They are named after the engine's URL, and a test's engine may get a port an earlier test
    (or an earlier run, under the system's temporary directory) used.
    """
    monkeypatch.setenv("LDNKG_STATE_DIR", str(tmp_path_factory.mktemp("engine-state")))


@pytest.fixture(scope="session")
def built_quads(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every quad of the built store in one N-Quads file, as an engine is loaded with it."""
    quads = tmp_path_factory.mktemp("built-quads") / "all.nq"
    store = kgstore.open_read_only(built_store)
    with quads.open("wb") as out:
        kgstore.export(store, out, RdfFormat.N_QUADS)
    del store
    return quads


@pytest.fixture(scope="session")
def exported(built_store: Path) -> Dataset:
    """What `kgserver export` writes for the built store, as an rdflib dataset."""
    result = _run_kgserver("export", "--store", built_store)
    assert result.returncode == 0, result.stderr
    dataset = Dataset()
    dataset.parse(data=result.stdout, format="nquads")
    return dataset


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest, built_quads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A real SPARQL engine on loopback (Oxigraph's server, then Virtuoso) holding every quad of the built store.

    Started once per session for each engine (tests/engines.py), so the contract suite's
    modules run the same tests against both; Oxigraph serves without its union default graph,
    as kgserver must ask for the union itself, and with its own limit (`--timeout-s`).
    """
    missing = engines_installed()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp(request.param)
    graphs = {"urn:x-kgserver:graphs-as-in-the-file": [built_quads]}  # an N-Quads file keeps its own graphs
    if request.param == "virtuoso":
        with virtuoso(folder / "engine", graphs) as running:
            yield running
    else:
        with oxigraph_server(folder / "engine", graphs, union_default_graph=False,
                             timeout_seconds=OXIGRAPH_TIMEOUT_SECONDS) as running:
            yield running
