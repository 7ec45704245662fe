"""Every file of the hostile corpus (tests/hostile/) is sent to its target, and the server shrugs it off.

An attacker's queries go to /sparql, their Accept headers to every kind of page, their request
targets to the routes that take a path or parameters, and their RDF to /validate. Whatever the
input, the answer is not a 5xx (except the documented 503 of a stopped query), never shows a
traceback, arrives in bounded time, fetches nothing (a loopback listener that the inputs point
at sees no connection) and leaves the stored data as it was. tests/hostile/README.md describes
the corpus; tests/hostile/make_corpus.py regenerates it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from serving import Server, serving

pytestmark = pytest.mark.slow  # sends 370 hostile inputs to a real server

CORPUS = Path(__file__).resolve().parent / "hostile"
QUERY_TIMEOUT = 2  # seconds: the `timeout=` every corpus query is sent with
ANSWER_WITHIN = 20.0  # seconds: a reply later than this is a hang
TRACE_WORDS = re.compile(
    rb"Traceback \(most recent|File \"/|\b(?:Value|Key|Type|Attribute|Index|Recursion|Runtime|Overflow|Memory|"
    rb"ZeroDivision|UnicodeDecode|UnicodeEncode|Assertion|NotImplemented|JSONDecode|Expat|OS|Lookup|Name)Error\b|"
    rb"PanicException|BadSyntax\b|werkzeug\.|pyoxigraph\.|rdflib\.plugins"
)
SECRETS = (b"root:x:0:0", b"def create_app", b"{% block", b"MANIFEST-")
PAYLOAD_TYPES = {
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
}
OTHER_TYPES = {
    ".nq": "application/n-quads", ".trig": "application/trig", ".n3": "text/n3", ".html": "text/turtle",
    ".csv": "text/csv", ".ru": "application/sparql-update", ".yaml": "application/x-yaml",
    ".pkl": "application/octet-stream",
}
ACCEPT_TARGETS = ("/sparql?query=ASK%7B%7D", "/sparql", "/id/naltrexone", "/", "/.well-known/void", "/dumps",
                  "/changes", "/context.jsonld", "/no/such/thing")


# --------------------------------------------------------------------------------------------
# A plain HTTP client that sends exactly the bytes it is given
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """What came back: status, headers (lower-case names) and the body with any chunking undone."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def exchange(port: int, method: str, target: bytes, headers: dict[str, bytes] | None = None, body: bytes = b"",
             within: float = ANSWER_WITHIN) -> Reply:
    """One request over a fresh connection, as raw bytes; fails the test if no whole answer comes in time."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    started = time.monotonic()
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=within) as connection:
        connection.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        while chunk := _recv_before(connection, started + within):
            received += chunk
    return _parse(bytes(received), time.monotonic() - started)


def _recv_before(connection: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise AssertionError(f"no complete answer within {ANSWER_WITHIN} s: the server hangs")
    connection.settimeout(remaining)
    try:
        return connection.recv(1 << 16)
    except TimeoutError:
        raise AssertionError(f"no complete answer within {ANSWER_WITHIN} s: the server hangs") from None
    except ConnectionResetError:
        return b""


def _parse(raw: bytes, seconds: float) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), f"not an HTTP answer: {raw[:200]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        body = _dechunk(body)
    return Reply(int(status_line.split()[1]), headers, body, seconds)


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return bytes(out)


def port_of(server: Server) -> int:
    return int(server.base.rsplit(":", 1)[1])


def assert_sound(reply: Reply, what: str) -> None:
    """The invariants every answer keeps: no 5xx but a documented 503, no traceback, no leaked file."""
    text = reply.body[:2000].decode("utf-8", "replace")
    assert reply.status < 500 or (reply.status == 503 and re.search(r"time limit|busy", text)), (
        f"{what}: {reply.status} {text}"
    )
    assert not TRACE_WORDS.search(reply.body), f"{what}: the answer shows internals: {text}"
    assert not any(secret in reply.body for secret in SECRETS), f"{what}: the answer leaks a file: {text}"


# --------------------------------------------------------------------------------------------
# The listener every hostile input points at, and the state that must not move
# --------------------------------------------------------------------------------------------
@dataclass
class Listener:
    """A loopback server (IPv4 and, where possible, IPv6 on the same port) that records who connects."""

    port: int
    connections: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def listening() -> Iterator[Listener]:
    """Record every connection to a loopback port until the block ends."""
    sockets = [socket.create_server(("127.0.0.1", 0))]
    port = sockets[0].getsockname()[1]
    try:
        sockets.append(socket.create_server(("::1", port), family=socket.AF_INET6))
    except OSError:
        pass  # no IPv6 loopback here: nothing can reach [::1] either
    found = Listener(port)
    stop = threading.Event()

    def accept(server: socket.socket) -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except TimeoutError:
                continue
            found.connections.append(str(address))
            connection.close()

    threads = [threading.Thread(target=accept, args=(server,), daemon=True) for server in sockets]
    for thread in threads:
        thread.start()
    try:
        yield found
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for server in sockets:
            server.close()


def fill_in(data: bytes, listener: Listener) -> bytes:
    """The corpus file with the listener's address put in its placeholders."""
    return data.replace(b"{{LISTENER}}", listener.address.encode()).replace(b"{{LISTENER_PORT}}", str(listener.port).encode())


def health(server: Server) -> dict:
    reply = exchange(port_of(server), "GET", b"/health")
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def fingerprint(server: Server) -> str:
    """A hash of every quad without blank nodes and the count of all quads, read through /sparql.

    A fresh comment makes the text new each time, so no cached answer can stand in for the store.
    """
    query = (f"# fingerprint {time.monotonic_ns()}\n"
             "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } FILTER(!isBlank(?s) && !isBlank(?o)) }")
    body = urllib.parse.urlencode({"query": query}).encode()
    reply = exchange(port_of(server), "POST", b"/sparql",
                     {"Content-Type": b"application/x-www-form-urlencoded", "Accept": b"text/tab-separated-values"},
                     body)
    assert reply.status == 200 and "x-sparql-truncated" not in reply.headers, reply.body[:500]
    rows = sorted(reply.body.split(b"\n")[1:])
    return f"{len(rows)}:" + hashlib.sha256(b"\n".join(rows)).hexdigest()


@dataclass
class Target:
    """The server under attack, its listener and the state it started with."""

    server: Server
    listener: Listener
    version: str
    fingerprint: str


@pytest.fixture(scope="module")
def target(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A server on its own copy of the store (an attack that wrote would spoil no one else's tests)."""
    folder = tmp_path_factory.mktemp("hostile-corpus")
    shutil.copytree(built_store, folder / "store")
    with listening() as listener, serving(folder / "store", sources_root, folder / "serve.log") as server:
        yield Target(server, listener, health(server)["version"], fingerprint(server))


def corpus(folder: str) -> list[Path]:
    return sorted(path for path in (CORPUS / folder).rglob("*") if path.is_file())


def ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(CORPUS)) for path in paths]


def assert_untouched(target: Target, what: str) -> None:
    assert target.listener.connections == [], f"{what}: the server connected out: {target.listener.connections}"
    assert health(target.server)["version"] == target.version, f"{what}: the dataset version moved"


# --------------------------------------------------------------------------------------------
# The stories
# --------------------------------------------------------------------------------------------
SPARQL_FILES = corpus("sparql")


@pytest.mark.parametrize("path", SPARQL_FILES, ids=ids(SPARQL_FILES))
def test_a_hostile_query_is_refused_or_answered_and_never_breaks_the_endpoint(target, path):
    query = fill_in(path.read_bytes(), target.listener)
    port = port_of(target.server)
    form = urllib.parse.urlencode({"query": query, "timeout": QUERY_TIMEOUT}).encode()
    sent = [("POST form", exchange(port, "POST", b"/sparql",
                                   {"Content-Type": b"application/x-www-form-urlencoded"}, form))]
    if not path.name.startswith("bomb-"):  # a bomb costs its whole time limit each way: once is proof enough
        sent.append(("POST direct", exchange(port, "POST", f"/sparql?timeout={QUERY_TIMEOUT}".encode(),
                                             {"Content-Type": b"application/sparql-query"}, query)))
        if len(form) < 4000:
            sent.append(("GET", exchange(port, "GET", b"/sparql?" + form)))
    for how, reply in sent:
        assert_sound(reply, f"{path.name} by {how}")
        assert reply.seconds < QUERY_TIMEOUT + 8, f"{path.name} by {how}: answered after {reply.seconds:.1f} s"
        if path.name.startswith("service-") or path.suffix == ".ru":
            assert reply.status == 400, f"{path.name} by {how}: not refused: {reply.status} {reply.body[:300]!r}"
    assert_untouched(target, path.name)


ACCEPT_FILES = corpus("accept")


@pytest.mark.parametrize("path", ACCEPT_FILES, ids=ids(ACCEPT_FILES))
def test_a_hostile_accept_header_gets_a_sound_answer_from_every_kind_of_page(target, path):
    accept = path.read_bytes()
    for route in ACCEPT_TARGETS:
        reply = exchange(port_of(target.server), "GET", route.encode(), {"Accept": accept})
        assert_sound(reply, f"Accept {path.name} on {route}")
        assert "x-injected" not in reply.headers
    assert_untouched(target, path.name)


PATH_FILES = corpus("paths")


@pytest.mark.parametrize("path", PATH_FILES, ids=ids(PATH_FILES))
def test_a_hostile_request_target_reads_no_file_and_sets_no_header(target, path):
    request_target = fill_in(path.read_bytes(), target.listener)
    for accept in (b"text/html", b"text/turtle", b"*/*"):
        reply = exchange(port_of(target.server), "GET", request_target, {"Accept": accept})
        assert_sound(reply, f"{path.name} ({accept.decode()})")
        assert "set-cookie" not in reply.headers, f"{path.name}: a header was injected"
        if b".." in request_target.split(b"?")[0] or b"%2e%2e" in request_target.split(b"?")[0].lower():
            assert reply.status in (400, 404), f"{path.name}: {reply.status} {reply.body[:300]!r}"
    assert_untouched(target, path.name)


PAYLOAD_FILES = corpus("payloads")


def payload_cases() -> list:
    """Every payload file, named by its path under payloads/."""
    return [pytest.param(path, id=f"payloads/{path.relative_to(CORPUS / 'payloads')}") for path in PAYLOAD_FILES]


def payload_type(path: Path) -> str:
    """The Content-Type a payload is sent with: its folder's syntax, or for payloads/other its suffix's."""
    return PAYLOAD_TYPES.get(path.parent.name) or OTHER_TYPES[path.suffix]


@pytest.mark.parametrize("path", payload_cases())
def test_a_hostile_payload_sent_to_validate_is_reported_on_and_fetches_nothing(target, path):
    body = fill_in(path.read_bytes(), target.listener)
    for accept in (b"application/json", b"text/html", b"text/turtle"):
        reply = exchange(port_of(target.server), "POST", b"/validate",
                         {"Content-Type": payload_type(path).encode(), "Accept": accept}, body)
        assert_sound(reply, f"{path.name} ({accept.decode()})")
        assert reply.status in (200, 400, 413, 415), f"{path.name}: {reply.status} {reply.body[:300]!r}"
        if reply.status == 200 and accept == b"text/html":
            assert b"<script>alert" not in reply.body, f"{path.name}: the report page carries the payload's markup"
        if path.parent.name == "other" or len(body) > 20_000:
            break  # refused before it is read, or slow to check: one Accept is enough
    assert_untouched(target, path.name)


def ask(target: Target, query: str) -> Reply:
    body = urllib.parse.urlencode({"query": query, "timeout": QUERY_TIMEOUT}).encode()
    return exchange(port_of(target.server), "POST", b"/sparql",
                    {"Content-Type": b"application/x-www-form-urlencoded"}, body)


def test_a_query_nested_deeper_than_the_limit_is_refused_and_one_at_the_limit_answered(target):
    deepest_allowed = "ASK { ?s ?p " + "(" * 63 + ")" * 63 + " }"  # 63 brackets inside the group: 64 levels
    assert ask(target, deepest_allowed).status == 200
    for too_deep in ("ASK { ?s ?p " + "(" * 64 + ")" * 64 + " }", "ASK { FILTER(" + "!" * 70 + "true) }",
                     "ASK " + "{ " * 65 + "?s ?p ?o" + " }" * 65):
        refused = ask(target, too_deep)
        assert refused.status == 400, refused.body
        assert b"at most 64" in refused.body
        assert refused.seconds < 2


def test_a_query_chained_so_long_the_engine_gives_up_gets_400_and_the_endpoint_carries_on(target):
    chained = "ASK { FILTER(" + " || ".join(["false"] * 50_000) + ") }"
    refused = ask(target, chained)
    assert refused.status == 400, refused.body
    assert b"nested or chained too deeply" in refused.body
    assert ask(target, "ASK { ?s ?p ?o }").status == 200


def test_after_the_whole_corpus_the_store_holds_exactly_what_it_held(target):
    assert fingerprint(target.server) == target.fingerprint
    now = health(target.server)  # read once: its query pool may shrink between two reads (it did in a clean clone)
    assert (now["status"], now["version"]) == ("ok", target.version)
    assert target.listener.connections == []
