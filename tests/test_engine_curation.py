"""The curation gate through a writer in front of each engine: it accepts, refuses with nothing written, and retracts.

Each engine (Oxigraph's server, Virtuoso) is started for this module alone and loaded with the
built store's quads, since these stories write to it. A curator is added with `kgserver curator
add --engine ...`; the writer (`LDNKG_ENGINE_WRITER=1`; on Virtuoso with its DBA's credentials
from the environment) answers 201 for a valid addition, whose claim is then in the engine
itself; 422 for one that does not conform, the version and the engine unchanged; and a
retraction takes the claim out again at the next version.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import Engine, engines_installed, oxigraph_server, virtuoso
from pyoxigraph import NamedNode, RdfFormat
from rdflib import Graph
from rdflib.compare import isomorphic
from serving import Server, fetch, serving

from kgserver import changes
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.store.dialects import DIALECTS
from kgserver.store.remote import Credentials, RemoteStore

pytestmark = pytest.mark.slow  # an engine per module and a writer

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VALID = FIXTURES / "valid" / "claim-with-new-source.ttl"
INVALID = FIXTURES / "invalid" / "01-claim-without-stance.ttl"
BASE = "https://w3id.org/ldn-kg/"
NEW_CLAIM = "https://w3id.org/ldn-kg/id/claim/test-fibromyalgia-trial-results"


@pytest.fixture(scope="module", params=["oxigraph", "virtuoso"])
def writable_engine(request, built_quads, tmp_path_factory) -> Iterator[Engine]:
    """An engine of this module's own, holding the built store's quads."""
    missing = engines_installed()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp(f"curation-{request.param}") / "engine"
    if request.param == "virtuoso":
        with virtuoso(folder, {"urn:x-kgserver:graphs-as-in-the-file": [built_quads]}) as running:
            yield running
    else:
        with oxigraph_server(folder, {"": [built_quads]}) as running:
            yield running


def _in_engine(engine: Engine, claim: str) -> bool:
    """Whether the engine itself holds triples about `claim`, in any graph (asked directly, not through kgserver)."""
    reply = fetch(engine.query, headers={"Accept": "application/sparql-results+json"},
                  params={"query": f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ <{claim}> ?p ?o }} }}"})
    assert reply.status == 200, reply.text
    return int(reply.json()["results"]["bindings"][0]["n"]["value"]) > 0


def test_a_writer_in_front_of_the_engine_accepts_refuses_and_retracts(writable_engine, add_curator, sources_root, tmp_path):
    engine = writable_engine
    flags = ("--engine", engine.name, "--engine-url", engine.base)
    env = {"LDNKG_ENGINE_WRITER": "1", "LDNKG_STATE_DIR": str(tmp_path / "state")}
    if engine.credentials:
        env |= {"LDNKG_ENGINE_USER": engine.credentials[0], "LDNKG_ENGINE_PASSWORD": engine.credentials[1]}
    token = add_curator("ada", *flags, env=env)
    headers = {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}", "Accept": "application/json"}
    with serving(None, sources_root, tmp_path / "writer.log", *flags, env=env) as writer:
        before = int(fetch(f"{writer.base}/health").json()["version"])

        refused = fetch(f"{writer.base}/submissions", "POST", headers, body=INVALID.read_bytes())
        assert refused.status == 422, refused.text
        assert int(fetch(f"{writer.base}/health").json()["version"]) == before

        accepted = fetch(f"{writer.base}/submissions", "POST", headers, body=VALID.read_bytes())
        assert accepted.status == 201, accepted.text
        assert accepted.json()["version"] == before + 1 and _in_engine(engine, NEW_CLAIM)

        submission = accepted.headers["location"].rsplit("/", 1)[1]
        retracted = fetch(f"{writer.base}/submissions/{submission}", "DELETE",
                          {"Authorization": f"Bearer {token}", "Accept": "application/json"})
        assert retracted.status == 200, retracted.text
        assert int(fetch(f"{writer.base}/health").json()["version"]) == before + 2
        assert not _in_engine(engine, NEW_CLAIM)


def _engine_env(engine: Engine, state: Path, **extra: str) -> dict[str, str]:
    """A machine's environment for kgserver in front of `engine`: its own state directory, the engine's credentials."""
    env = {"LDNKG_STATE_DIR": str(state), **extra}
    if engine.credentials:
        env |= {"LDNKG_ENGINE_USER": engine.credentials[0], "LDNKG_ENGINE_PASSWORD": engine.credentials[1]}
    return env


def _curators_are_the_engines(engine: Engine, kgserver, add_curator, flags: tuple[str, ...], servers: tuple[Server, Server],
                              tmp_path: Path) -> None:
    """Added from another machine's command line, a curator's token opens the writer, also through a frontend that
    forwards to it; revoked, it is refused at the next request. The engine keeps the token's hash; no frontend shows it."""
    elsewhere = _engine_env(engine, tmp_path / "another-machine")
    token = add_curator("hopper", *flags, env=elsewhere)
    again = kgserver("curator", "add", "hopper", *flags, env=elsewhere)
    assert again.returncode == 1 and "a curator named 'hopper' exists already" in again.stderr
    assert not list(tmp_path.glob("**/*.curators.json"))
    digest = hashlib.sha256(token.encode()).hexdigest()
    direct = fetch(engine.query, headers={"Accept": "application/sparql-results+json"},
                   params={"query": f'ASK {{ GRAPH <urn:x-kgserver:curators> {{ ?c ?p "{digest}" }} }}'})
    assert direct.status == 200 and direct.text.count("true") + direct.text.count('"1"') >= 1  # Virtuoso: a row of 1
    for server in servers:
        me = fetch(f"{server.base}/curate/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status == 200 and me.json()["curator"] == "hopper", me.text
    listed = kgserver("curator", "list", *flags, env=elsewhere).stdout
    assert re.search(r"^hopper\s+\S+Z\s+-$", listed, re.MULTILINE), listed

    for server in servers:  # what the engine keeps of curators (and the writer's lease) is not the dataset's
        # Researchers' queries get Oxigraph's union, which takes in every graph (README: "Curators in the engine")
        for text in (f'ASK {{ ?s ?p "{digest}" }}', f'ASK {{ GRAPH ?g {{ ?s ?p "{digest}" }} }}',
                     'ASK { ?s ?p ?o FILTER(STRSTARTS(STR(?p), "urn:x-kgserver:")) }',
                     'ASK { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), "urn:x-kgserver:")) }')[:engine.name != "oxigraph" and 4]:
            reply = fetch(f"{server.base}/sparql", headers={"Accept": "application/sparql-results+json"},
                          params={"query": text})
            assert reply.status == 200 and reply.json()["boolean"] is False, (engine.name, text, reply.text)
        latest = fetch(f"{server.base}/health").json()["version"]
        for path in ("/.well-known/void", "/query/terms", f"/dumps/ldn-kg-v{latest}.ttl.gz"):  # what kgserver publishes
            published = fetch(f"{server.base}{path}", headers={"Accept": "application/n-triples"})
            body = gzip.decompress(published.body) if path.endswith(".gz") else published.body
            assert published.status == 200 and b"urn:x-kgserver:" not in body, (engine.name, path)
        void = fetch(f"{server.base}/.well-known/void", headers={"Accept": "application/n-triples"}).text
        graphs = fetch(f"{server.base}/sparql", headers={"Accept": "application/sparql-results+json"}, params={
            "query": "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } "
                     "FILTER(!STRSTARTS(STR(?g), 'urn:x-kgserver:')) } }"})
        counted = graphs.json()["results"]["bindings"][0]["n"]["value"]
        assert f'<{BASE}dataset> <http://rdfs.org/ns/void#triples> "{counted}"' in void, (engine.name, counted)
        named = fetch(f"{server.base}/sparql", params={"query": "SELECT * { GRAPH <urn:x-kgserver:curators> { ?s ?p ?o } }"})
        assert named.status == 400 and "urn:x-kgserver:curators" in named.text
        dataset = fetch(f"{server.base}/sparql", params={"query": "SELECT * { ?s ?p ?o }",
                                                           "default-graph-uri": "urn:x-kgserver:curators"})
        assert dataset.status == 400 and "kgserver's own graphs" in dataset.text
        version = fetch(f"{server.base}/health").json()["version"]
        dump = fetch(f"{server.base}/dumps/ldn-kg-v{version}.nq.gz")
        assert dump.status == 200 and b"urn:x-kgserver:" not in gzip.decompress(dump.body)
        assert fetch(f"{server.base}/store", params={"graph": "urn:x-kgserver:curators"}).status == 404

    assert kgserver("curator", "revoke", "hopper", *flags, env=elsewhere).returncode == 0
    headers = {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}", "Accept": "application/json"}
    for server in servers:  # at the very next request, on every frontend
        refused = fetch(f"{server.base}/submissions", "POST", headers, body=VALID.read_bytes())
        assert refused.status == 403 and "revoked" in refused.text, refused.text
    twice = kgserver("curator", "revoke", "hopper", *flags, env=elsewhere)
    assert twice.returncode == 1 and "was revoked already" in twice.stderr


def test_a_commit_with_blank_nodes_replaces_a_graph_whole_in_the_engine(writable_engine):
    """One DELETE/INSERT operation per commit: each engine takes blank nodes in it, and the graph and its record move together."""
    engine = writable_engine
    settings = Settings.from_env()
    credentials = Credentials(*engine.credentials) if engine.credentials else None
    store = RemoteStore(engine.base, DIALECTS[engine.name], credentials, connect_seconds=2, read_seconds=20)
    graph = f"{settings.base}graph/submission/test-blank-nodes"
    before = changes.read_state(store, settings)
    first = Graph().parse(data='<http://example.org/s> <http://example.org/p> "1", "2", "3" .', format="turtle")
    second = Graph().parse(data="""<http://example.org/s> <http://example.org/dose>
        [ <http://example.org/value> "4.5" ; <http://example.org/unit> "mg" ] .""", format="turtle")
    changes.commit(store, settings, {graph: first}, previous=before)
    state = changes.commit(store, settings, {graph: second}, previous=changes.read_state(store, settings))
    assert changes.read_state(store, settings) == state and state.version == before.version + 2
    held = Graph().parse(data=store.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(graph)), format="nt")
    assert isomorphic(held, second), held.serialize(format="nt")
    store.close()


def test_a_large_commit_is_bulk_loaded_into_staging_graphs_and_copied_in_one_operation(writable_engine, built_store):
    """Past `Dialect.inline_triples` a commit's graphs go in with the Graph Store Protocol, then one operation copies them."""
    engine = writable_engine
    settings = Settings.from_env()
    credentials = Credentials(*engine.credentials) if engine.credentials else None
    dialect = dataclasses.replace(DIALECTS[engine.name], inline_triples=500)  # the bundled graphs are past it
    store = RemoteStore(engine.base, dialect, credentials, connect_seconds=2, read_seconds=60)
    data = Graph().parse(data=kgstore.open_read_only(built_store).dump(
        format=RdfFormat.N_TRIPLES, from_graph=NamedNode(settings.ontology_graph)), format="nt")  # 1,448, blank nodes too
    target = f"{settings.base}graph/submission/test-bulk"
    loads = []
    real_load = store.load

    def counted(*args, **kwargs):
        loads.append(kwargs["to_graph"].value)
        return real_load(*args, **kwargs)

    store.load = counted  # type: ignore[method-assign]
    before = changes.read_state(store, settings)
    state = changes.commit(store, settings, {target: data}, previous=before)
    assert loads and all(name.startswith("urn:x-kgserver:staging:") for name in loads)
    assert changes.read_state(store, settings) == state and state.version == before.version + 1
    held = Graph().parse(data=store.dump(format=RdfFormat.N_TRIPLES, from_graph=NamedNode(target)), format="nt")
    assert len(held) == len(data) and isomorphic(held, data)
    left = fetch(engine.query, headers={"Accept": "application/sparql-results+json"}, params={"query":  # asked directly
                 'SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } FILTER STRSTARTS(STR(?g), "urn:x-kgserver:staging:") }'})
    assert int(left.json()["results"]["bindings"][0]["n"]["value"]) == 0  # the staging graphs are dropped
    changes.commit(store, settings, {}, delete=[target], previous=state)
    store.close()


def test_every_frontend_of_the_engine_shares_its_curators_finds_a_submission_and_forgets_its_retraction(
    writable_engine, kgserver, add_curator, sources_root, tmp_path
):
    """Curators are the engine's, on every frontend at once (`_curators_are_the_engines`, on the same two servers to
    spare CI their start); search through the writer finds a submission at once, a second frontend, with its own
    index, within seconds."""
    engine = writable_engine
    flags = ("--engine", engine.name, "--engine-url", engine.base)
    env = {"LDNKG_STATE_DIR": str(tmp_path / "state")}  # one machine: the frontend takes its own index directory
    writer_env = env | {"LDNKG_ENGINE_WRITER": "1"}
    if engine.credentials:
        writer_env |= {"LDNKG_ENGINE_USER": engine.credentials[0], "LDNKG_ENGINE_PASSWORD": engine.credentials[1]}
    token = add_curator("grace", *flags, env=writer_env)
    headers = {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}", "Accept": "application/json"}
    doi = "10.1186/test-trial-report"

    def found(base: str) -> list[str]:
        reply = fetch(f"{base}/search", headers={"Accept": "application/json"}, params={"q": doi})
        assert reply.status == 200, reply.text
        return [hit["iri"] for hit in reply.json()["hits"]]

    def eventually(base: str, expected: bool) -> float:
        started = time.monotonic()
        while (f"{BASE}id/source/test-trial-report" in found(base)) != expected:
            assert time.monotonic() - started < 5, f"{base} still says {not expected} after 5 s"
            time.sleep(0.1)
        return time.monotonic() - started

    with serving(None, sources_root, tmp_path / "writer.log", *flags, env=writer_env) as writer, \
            serving(None, sources_root, tmp_path / "frontend.log", *flags,
                    env=env | {"LDNKG_ENGINE_WRITER_URL": writer.base}) as frontend:
        assert found(writer.base) == [] and found(frontend.base) == []
        accepted = fetch(f"{writer.base}/submissions", "POST", headers, body=VALID.read_bytes())
        assert accepted.status == 201, accepted.text
        assert found(writer.base)[0] == f"{BASE}id/source/test-trial-report"  # before the 201, on the writer
        assert eventually(frontend.base, True) < 5

        submission = accepted.headers["location"].rsplit("/", 1)[1]
        retracted = fetch(f"{writer.base}/submissions/{submission}", "DELETE", headers={"Authorization": f"Bearer {token}"})
        assert retracted.status == 200, retracted.text
        assert f"{BASE}id/source/test-trial-report" not in found(writer.base)
        assert eventually(frontend.base, False) < 5

        _curators_are_the_engines(engine, kgserver, add_curator, flags, (writer, frontend), tmp_path)
    assert list((tmp_path / "state").glob("*/store.search-1"))  # the frontend kept an index of its own
