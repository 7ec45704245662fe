"""Virtuoso's extensions reach outside and into the engine; kgserver refuses each before anything is sent.

A real Virtuoso (Debian's virtuoso-opensource, started by tests/engines.py) holds the built
store's quads. Each extension text is first sent to Virtuoso directly, to show that it really
does something there: the engine connects to a loopback listener this module runs, reads a
file, reports on itself or stops. The same text sent to kgserver gets 400 with a message naming
what was refused, and the listener sees no connection.

What this Virtuoso (7.2.5.1, a fresh database) does, as measured here: through the anonymous
/sparql endpoint, `bif:http_get` (also as `<bif:http_get>` or under `PREFIX b: <bif:>`) makes
an HTTP request, `bif:sys_stat` reads the engine's internals and `fn:doc` stops the engine; the
DEFINE pragmas get:soft and input:grab-* and `sql:RDF_SPONGE_UP` are stopped by the anonymous
user's grants, but through /sparql-auth (the account a frontend that writes holds) they fetch
URLs, and `bif:file_to_string` reads any file under DirsAllowed. The IRIs
http://www.openlinksw.com/schemas/bif#... are not functions on this version; they are refused
all the same (tests/test_policy.py), as are `sql:` names.

Last, Oxigraph's server (the `oxigraph` wheel) on the same quads answers a competency query as
kgserver does.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import Engine, engines_installed, oxigraph_server, virtuoso
from serving import Reply, Server, fetch, serving

pytestmark = [
    pytest.mark.slow,  # starts Virtuoso, Oxigraph's server and kgserver
    pytest.mark.skipif(engines_installed() is not None, reason=str(engines_installed())),
]

SPARQL_JSON = "application/sparql-results+json"
QUERIES = Path(__file__).resolve().parent.parent / "queries"
SECRET = "the engine's own file, not for the public"


class Listener:
    """A loopback HTTP server that records the request line of every connection and answers 404."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/data"
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        """Accept until closed; read the request's first line; answer 404 and hang up."""
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096).decode("latin-1").split("\r\n")[0])
                    connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    self.requests.append("(connection without a request)")

    def seen_after(self, sent: int, wait: float = 0.5) -> list[str]:
        """The requests received after the first `sent`, once `wait` seconds have passed."""
        time.sleep(wait)
        return self.requests[sent:]


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """The loopback address an extension is told to fetch; kgserver must never make anything connect to it."""
    running = Listener()
    yield running
    running.socket.close()


@pytest.fixture(scope="module")
def quads(built_store: Path, kgserver, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every quad of the built store, as `kgserver export` writes them: what the engines load."""
    result = kgserver("export", "--store", built_store)
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("export") / "ldn-kg.nq"
    path.write_text(result.stdout)
    return path


@pytest.fixture(scope="module")
def engine(quads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Virtuoso with the built store's quads, and a file of its own in the directory its INI allows."""
    directory = tmp_path_factory.mktemp("virtuoso")
    (directory / "secret.txt").write_text(SECRET)
    with virtuoso(directory, {"https://w3id.org/ldn-kg/graph/data": [quads]}) as running:
        yield running


@pytest.fixture(scope="module")
def frontend(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """kgserver serving the built store with its default settings."""
    log = tmp_path_factory.mktemp("serve-extensions") / "stderr.log"
    with serving(built_store, sources_root, log) as running:
        yield running


def ask_virtuoso(engine: Engine, text: str, as_dba: bool = False) -> Reply:
    """Send a query to Virtuoso directly, form-encoded: anonymously at /sparql, or as its administrator at /sparql-auth."""
    url = engine.update if as_dba else engine.query
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode({"query": text}).encode(), headers={"Accept": SPARQL_JSON},
    )
    opener = urllib.request.build_opener()
    if as_dba and engine.credentials:
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, url, *engine.credentials)
        opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords))
    try:
        with opener.open(request, timeout=30) as answer:
            return Reply(answer.status, dict(answer.headers.items()), answer.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), error.read())


def ask_kgserver(server: Server, text: str) -> Reply:
    """Send a query to kgserver's /sparql as any client does."""
    return fetch(server.sparql, headers={"Accept": SPARQL_JSON}, params={"query": text})


# Each text, whether it needs Virtuoso's administrator (the authenticated endpoint), what kgserver's
# refusal names, and what Virtuoso does with it: "fetches" (the listener sees a request) or a
# string its answer holds.
EXTENSIONS = {
    "define-get-soft": ('DEFINE get:soft "replace" SELECT * FROM <{url}> {{ ?s ?p ?o }}', True, "DEFINE get:soft", "fetches"),
    "define-grab-all": ('DEFINE input:grab-all "yes" SELECT * WHERE {{ <{url}> ?p ?o }}', True, "DEFINE input:grab-all", "fetches"),
    "define-grab-seealso": (
        'DEFINE input:grab-seealso <http://www.w3.org/2000/01/rdf-schema#seeAlso> DEFINE input:grab-all "yes" '
        + "SELECT * WHERE {{ <{url}> ?p ?o }}",
        True, "DEFINE input:grab-seealso", "fetches",
    ),
    "sql-sponge": (
        "SELECT (sql:RDF_SPONGE_UP('{url}', bif:vector('get:soft', 'soft')) AS ?x) {{}}",
        True, "sql:RDF_SPONGE_UP", "fetches",
    ),
    "bif-http-get": ("SELECT (bif:http_get('{url}') AS ?x) {{}}", False, "bif:http_get", "fetches"),
    "bif-as-iri": ("SELECT (<bif:http_get>('{url}') AS ?x) {{}}", False, "<bif:http_get>", "fetches"),
    "bif-under-a-prefix": ("PREFIX b: <bif:> SELECT (b:http_get('{url}') AS ?x) {{}}", False, "b:http_get", "fetches"),
    "bif-sys-stat": ("SELECT (bif:sys_stat('st_dbms_name') AS ?x) {{}}", False, "bif:sys_stat", "Virtuoso"),
    "bif-file": ("SELECT (bif:file_to_string('{directory}/secret.txt') AS ?x) {{}}", True, "bif:file_to_string", SECRET),
}


@pytest.mark.parametrize("case", EXTENSIONS.values(), ids=EXTENSIONS.keys())
def test_an_extension_that_works_on_virtuoso_is_refused_by_kgserver(engine, frontend, listener, case):
    template, as_dba, named, effect = case
    text = template.format(url=listener.url, directory=engine.directory)

    sent = len(listener.requests)
    direct = ask_virtuoso(engine, text, as_dba=as_dba)
    if effect == "fetches":
        assert "GET /data HTTP/1.1" in listener.seen_after(sent), direct.text
    else:
        assert direct.status == 200 and effect in direct.text, direct.text

    sent = len(listener.requests)
    refused = ask_kgserver(frontend, text)
    assert refused.status == 400
    assert refused.text.startswith(f"{named} is refused: ")
    assert "this endpoint offers none" in refused.text
    assert listener.seen_after(sent) == []


def test_the_same_words_in_a_string_or_a_comment_are_answered(frontend, listener):
    text = "SELECT ?x WHERE { BIND(\"bif:http_get('{url}')\" AS ?x) } # DEFINE get:soft \"replace\"".replace(
        "{url}", listener.url
    )
    sent = len(listener.requests)
    reply = ask_kgserver(frontend, text)
    assert reply.status == 200
    assert reply.json()["results"]["bindings"][0]["x"]["value"] == f"bif:http_get('{listener.url}')"
    assert listener.seen_after(sent) == []


def test_fn_doc_stops_virtuoso_and_is_refused_by_kgserver(frontend, tmp_path):
    text = "SELECT (fn:doc('/etc/hostname') AS ?x) {}"
    with virtuoso(tmp_path / "virtuoso") as fresh:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            ask_virtuoso(fresh, text)
        deadline = time.monotonic() + 10
        while not _exited(fresh.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _exited(fresh.pid), "Virtuoso survived fn:doc"
    refused = ask_kgserver(frontend, text)
    assert refused.status == 400
    assert refused.text.startswith("fn:doc is refused: bif:, sql: and fn: functions run inside the engine")


def _exited(pid: int) -> bool:
    """Whether a child process has ended (a zombie counts: it no longer runs)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith(("Z", "X"))
    except (FileNotFoundError, IndexError):
        return True


# --- Oxigraph's server ----------------------------------------------------------------------------


def _rows(reply: Reply) -> list[tuple[tuple[str, str], ...]]:
    """SPARQL JSON bindings as sorted (variable, value) tuples, in the answer's order."""
    assert reply.status == 200, reply.text
    return [tuple(sorted((name, term["value"]) for name, term in row.items())) for row in reply.json()["results"]["bindings"]]


@pytest.fixture(scope="module")
def oxigraph(quads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Oxigraph's server over the built store's quads."""
    with oxigraph_server(tmp_path_factory.mktemp("oxigraph"), {"https://w3id.org/ldn-kg/graph/data": [quads]}) as running:
        yield running


def test_oxigraph_server_answers_a_competency_query_as_kgserver_does(oxigraph, frontend):
    text = (QUERIES / "cq03-conditions.rq").read_text()
    direct = fetch(oxigraph.query, headers={"Accept": SPARQL_JSON}, params={"query": text})
    ours = ask_kgserver(frontend, text)
    assert sorted(_rows(direct)) == sorted(_rows(ours))
    assert len(_rows(ours)) > 10


@pytest.mark.parametrize("name", ["engine", "oxigraph"])
def test_an_engine_takes_an_update_at_its_update_endpoint_and_gives_the_graph_back(name, request):
    engine: Engine = request.getfixturevalue(name)
    update = "INSERT DATA { GRAPH <urn:x:scratch> { <urn:x:a> <urn:x:b> 'written' } }"
    post = urllib.request.Request(
        engine.update, data=urllib.parse.urlencode({"update": update}).encode(), method="POST",
    )
    handlers = []
    if engine.credentials:  # Virtuoso: digest authentication at /sparql-auth
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        passwords.add_password(None, engine.update, *engine.credentials)
        handlers.append(urllib.request.HTTPDigestAuthHandler(passwords))
    with urllib.request.build_opener(*handlers).open(post, timeout=30) as answer:
        assert answer.status in (200, 204)
    graph = fetch(engine.store, headers={"Accept": "application/n-triples"}, params={"graph": "urn:x:scratch"})
    assert graph.status == 200 and '"written"' in graph.text, graph.text


def test_virtuoso_holds_the_built_store_graph_by_graph(engine, quads):
    expected: dict[str, int] = {}
    for line in quads.read_text().splitlines():
        graph = line.rsplit(" ", 2)[-2].strip("<>")
        expected[graph] = expected.get(graph, 0) + 1
    text = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
    counts = {row["g"]["value"]: int(row["n"]["value"]) for row in ask_virtuoso(engine, text).json()["results"]["bindings"]}
    assert {graph: counts.get(graph) for graph in expected} == expected
