"""A security review, kept as tests: what an attacker tries against the server, and what they get.

Server-side requests (SERVICE, LOAD, JSON-LD contexts, owl:imports, XML entities) must reach
nothing: a loopback listener that the inputs point at records every connection. Paths must
read no file; data that looks like markup must show as text on every page; every route that
writes must want a curator's token; a token must never be written to the log; and CORS must
never let another site's page read answers with the user's credentials.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serving import Reply, Server, fetch, free_port, serving
from test_hostile_corpus import (
    Listener,
    assert_sound,
    exchange,
    fingerprint,
    health,
    listening,
    port_of,
)
from test_pages import HOSTILE_PAGES, SCRIPT, hostile_server  # noqa: F401 -- the fixture is used by name

from kgserver.config import ServerSettings, Settings
from kgserver.web.app import create_app

pytestmark = pytest.mark.slow  # tries attacks on real servers

BASE = "https://w3id.org/ldn-kg/"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
VALID = Path(__file__).resolve().parent / "fixtures" / "valid"
WRITING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NEVER_WRITE = {"/sparql", "/validate", "/store"}  # take POST bodies but only read; /store answers every write 405


def service_targets(listener: Listener) -> dict[str, str]:
    """SERVICE IRIs that all lead to this machine or the local network, however they are spelled."""
    port = listener.port
    return {
        "loopback": f"http://127.0.0.1:{port}/sparql",
        "localhost": f"http://localhost:{port}/sparql",
        "ipv6 loopback": f"http://[::1]:{port}/sparql",
        "ipv4-mapped ipv6": f"http://[::ffff:127.0.0.1]:{port}/sparql",
        "decimal ip": f"http://2130706433:{port}/sparql",
        "hex ip": f"http://0x7f000001:{port}/sparql",
        "short ip": f"http://127.1:{port}/sparql",
        "unspecified": f"http://0.0.0.0:{port}/sparql",
        "private 10/8": "http://10.1.2.3/sparql",
        "private 172.16/12": "http://172.16.0.1/sparql",
        "private 192.168/16": "http://192.168.1.1/sparql",
        "link-local metadata": "http://169.254.169.254/latest/meta-data/",
        "ipv6 unique local": "http://[fd00::1]/sparql",
    }


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    with listening() as found:
        yield found


@pytest.fixture(scope="module")
def permissive(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory, listener: Listener,
               add_curator) -> Iterator[tuple[Server, str]]:
    """A server whose operator allow-listed every internal SERVICE target by mistake, with one curator."""
    folder = tmp_path_factory.mktemp("security")
    store = folder / "store"
    shutil.copytree(built_store, store)
    token = add_curator("ada", "--store", store)
    allowed = " ".join(service_targets(listener).values())
    with serving(store, sources_root, folder / "serve.log", "--cors-origin", "https://app.example.org",
                 env={"LDNKG_SERVICE_ALLOW": allowed}) as server:
        yield server, token


def sparql(server: Server, query: str) -> Reply:
    return fetch(server.sparql, "POST", form={"query": query})


def post(server: Server, route: str, body: bytes, content_type: str, token: str | None = None,
         accept: str = "application/json") -> Reply:
    headers = {"Content-Type": content_type, "Accept": accept} | ({"Authorization": f"Bearer {token}"} if token else {})
    return fetch(server.base + route, "POST", headers, body=body)


# --------------------------------------------------------------------------------------------
# Server-side request forgery
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(service_targets(Listener(1))))
def test_service_to_this_machine_or_the_local_network_is_refused_even_when_allow_listed(permissive, listener, name):
    server, _ = permissive
    target = service_targets(listener)[name]
    reply = sparql(server, f"SELECT * WHERE {{ SERVICE <{target}> {{ ?s ?p ?o }} }}")
    assert reply.status == 400, reply.body
    assert b"SERVICE" in reply.body and b"refused" in reply.body
    assert listener.connections == []


def test_load_from_anywhere_is_refused_as_an_update(permissive, listener):
    server, _ = permissive
    for load in (f"LOAD <http://127.0.0.1:{listener.port}/x.ttl>", "LOAD <file:///etc/passwd>",
                 f"load silent <http://localhost:{listener.port}/x> into graph <{BASE}g>"):
        for how in ("query", "update"):
            reply = fetch(server.sparql, "POST", form={how: load})
            assert reply.status == 400, reply.body
        direct = fetch(server.sparql, "POST", {"Content-Type": "application/sparql-update"}, body=load.encode())
        assert direct.status in (400, 415), direct.body
    assert listener.connections == []


def remote_references(listener: Listener) -> dict[str, tuple[bytes, str]]:
    """Additions that name a document on the listener: a JSON-LD context, owl:imports, an entity."""
    at = f"http://127.0.0.1:{listener.port}"
    return {
        "json-ld remote context": (json.dumps({"@context": f"{at}/context.jsonld", "@id": f"{BASE}id/x",
                                               "label": "x"}).encode(), "application/ld+json"),
        "json-ld @import": (json.dumps({"@context": {"@version": 1.1, "@import": f"{at}/c"}, "@id": f"{BASE}id/x",
                                        f"{RDFS}label": "x"}).encode(), "application/ld+json"),
        "owl:imports": (f"<{BASE}id/x> a <http://www.w3.org/2002/07/owl#Ontology> ; "
                        f"<http://www.w3.org/2002/07/owl#imports> <{at}/onto.ttl> .".encode(), "text/turtle"),
        "owl:imports in rdf/xml": (
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns:owl="http://www.w3.org/2002/07/owl#"><owl:Ontology rdf:about="{BASE}id/x">'
            f'<owl:imports rdf:resource="{at}/onto.rdf"/></owl:Ontology></rdf:RDF>'.encode(), "application/rdf+xml"),
        "xml external entity": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "{at}/secret">]>'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:rdfs="{RDFS}">'
            f'<rdf:Description rdf:about="{BASE}id/x"><rdfs:label>&e;</rdfs:label></rdf:Description>'
            f"</rdf:RDF>".encode(), "application/rdf+xml"),
        "xml entity from a file": (
            (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
             b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
             b'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"><rdf:Description rdf:about="https://w3id.org/'
             b'ldn-kg/id/x"><rdfs:label>&e;</rdfs:label></rdf:Description></rdf:RDF>'), "application/rdf+xml"),
    }


@pytest.mark.parametrize("route", ["/validate", "/submissions"])
@pytest.mark.parametrize("name", list(remote_references(Listener(1))))
def test_an_addition_naming_a_remote_document_makes_the_server_fetch_nothing(permissive, listener, route, name):
    server, token = permissive
    body, content_type = remote_references(listener)[name]
    before = health(server)["version"]
    reply = post(server, route, body, content_type, token)
    assert_sound(reply, f"{name} to {route}")
    assert b"root:x:0:0" not in reply.body
    assert listener.connections == []
    if reply.status == 201:  # accepted as data: the reference is a triple, never followed
        assert name.startswith("owl:imports")
    else:
        assert health(server)["version"] == before


def test_entity_expansion_is_refused_before_it_grows(permissive):
    server, _ = permissive
    laughs = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10 if n else "lol"}">' for n in range(10))
    body = (f'<?xml version="1.0"?><!DOCTYPE r [{laughs}]><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
            f'22-rdf-syntax-ns#" xmlns:rdfs="{RDFS}"><rdf:Description rdf:about="{BASE}id/x"><rdfs:label>&l9;'
            f"</rdfs:label></rdf:Description></rdf:RDF>").encode()
    started = time.monotonic()
    reply = post(server, "/validate", body, "application/rdf+xml")
    assert reply.status == 400 and time.monotonic() - started < 5, reply.body
    assert b"lollol" not in reply.body


# --------------------------------------------------------------------------------------------
# Path traversal
# --------------------------------------------------------------------------------------------
TRAVERSALS = [
    "/dumps/../../etc/passwd", "/dumps/..%2f..%2f..%2fetc%2fpasswd", "/dumps/%2e%2e%2fstore%2fCURRENT",
    "/dumps/..%2fstore%2fCURRENT", "/dumps/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/dumps/.%2e/store/CURRENT",
    "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/%2e%2e/web/app.py", "/static/..%5capp.py",
    "/static/vendor/../../templates/base.html", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/id/../../../etc/passwd", "/id/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/id/..%2f..%2f..%2fetc%2fpasswd",
    "/ontology/..%2f..%2fetc%2fpasswd", "/.well-known/..%2f..%2fetc%2fpasswd", "/context.jsonld%2f..%2f..",
    "/changes?since=..%2f..%2fetc%2fpasswd", "/changes?since=0&skip=..%2f..", "/changes?since=/etc/passwd",
    "/query?example=..%2f..%2f..%2fetc%2fpasswd", "/query?example=/etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_no_route_that_takes_a_path_reads_a_file_outside_what_it_publishes(permissive, target):
    server, _ = permissive
    reply = exchange(port_of(server), "GET", target.encode(), {"Accept": b"*/*"})  # the target's bytes, as written
    assert_sound(reply, target)
    assert not re.search(rb"root:x:0:|import |def |{%|MANIFEST|\x00\x00\x00", reply.body[:65536]), reply.body[:300]
    path = target.split("?")[0]
    if ".." in path or "%2e%2e" in path.lower() or ".%2e" in path.lower():
        assert reply.status in (400, 404), f"{target}: {reply.status}"


# --------------------------------------------------------------------------------------------
# Cross-site scripting: data that looks like markup, on every kind of page
# --------------------------------------------------------------------------------------------
def assert_inert(html: bytes, what: str) -> None:
    """No element or attribute that the hostile words could have made is live in the page."""
    text = html.decode("utf-8")
    assert "<script>alert" not in text, f"{what}: a script from the data runs"
    assert not re.search(r"<img[^>]*onerror", text), f"{what}: an event handler from the data runs"
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", text, re.IGNORECASE), f"{what}: a javascript: link"


@pytest.mark.parametrize("path", [*HOSTILE_PAGES, "/id/claim/hostile.html", "/id/hostile-condition?format=html",
                                  "/dumps", "/.well-known/sparql-examples?format=html", "/ontology", "/shapes"])
def test_every_page_showing_hostile_data_shows_it_as_text(hostile_server, path):  # noqa: F811
    reply = fetch(hostile_server.base + path, headers={"Accept": "text/html"})
    assert reply.status == 200, reply.body[:300]
    assert_inert(reply.body, path)


@pytest.mark.parametrize("path", [
    "/query?query=%3C/textarea%3E%3Cscript%3Ealert(1)%3C/script%3E",
    "/query?example=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    "/id/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/id/x%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E",
    "/dumps/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/sparql?query=%3Cscript%3Ealert(1)%3C/script%3E",
    "/changes?since=%3Cscript%3Ealert(1)%3C/script%3E",
    "/id/naltrexone?format=%3Cscript%3Ealert(1)%3C/script%3E",
])
def test_words_from_the_request_are_never_live_markup_in_an_answer(hostile_server, path):  # noqa: F811
    reply = exchange(port_of(hostile_server), "GET", path.encode(), {"Accept": b"text/html,*/*;q=0.1"})  # as written
    assert_sound(reply, path)
    if reply.headers.get("content-type", "").startswith("text/html"):
        assert_inert(reply.body, path)


def test_the_validation_report_page_shows_hostile_values_as_text(hostile_server):  # noqa: F811
    addition = (f'<{BASE}id/claim/x> a <{BASE}ontology#EvidenceClaim> ; <{RDFS}label> "{SCRIPT}" ; '
                f'<{BASE}ontology#articleText> "\\"><img src=x onerror=alert(1)>" .').encode()
    reply = post(hostile_server, "/validate", addition, "text/turtle", accept="text/html")
    assert reply.status == 200, reply.body[:300]
    assert_inert(reply.body, "/validate report")


# --------------------------------------------------------------------------------------------
# Authentication on every route that writes
# --------------------------------------------------------------------------------------------
def writing_rules(store: Path, root: Path) -> list[tuple[str, str]]:
    """(method, path) of every rule of the app that takes a writing method, with sample arguments."""
    app = create_app(Settings(root=root), store, ServerSettings.from_env(query_workers=1))
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & WRITING_METHODS):
            found.append((method, re.sub(r"<(?:[^:>]+:)?[^>]+>", "20260101T000000000000Z-deadbeef", rule.rule)))
    return found


@pytest.fixture(scope="module")
def rules(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    store = tmp_path_factory.mktemp("url-map") / "store"
    shutil.copytree(built_store, store)
    return writing_rules(store, sources_root)


def test_the_app_has_writing_routes_and_the_review_knows_them_all(rules):
    assert ("POST", "/submissions") in rules
    assert any(method == "DELETE" for method, _ in rules)


def test_every_route_that_writes_refuses_without_a_valid_token(permissive, rules):
    server, token = permissive
    body = (VALID / "claim-with-new-source.ttl").read_bytes()
    before = fingerprint(server)
    for method, path in rules:
        if path in NEVER_WRITE:
            continue
        for authorization in (None, "Bearer ", "Bearer not-a-token", "Basic YWRhOmFkYQ==", "bearer " + "x" * 5000,
                              f"Bearer {token[:-1]}", f"Token {token}"):
            headers = {"Content-Type": "text/turtle"} | ({"Authorization": authorization} if authorization else {})
            reply = fetch(server.base + path, method, headers, body=body)
            assert reply.status in (401, 403), f"{method} {path} with {authorization!r}: {reply.status}"
            assert_sound(reply, f"{method} {path}")
    assert fingerprint(server) == before


def test_the_routes_that_take_bodies_without_a_token_never_change_the_data(permissive, rules):
    server, _ = permissive
    assert {path for _, path in rules} >= NEVER_WRITE
    before, version = fingerprint(server), health(server)["version"]
    body = (VALID / "claim-with-new-source.ttl").read_bytes()
    assert post(server, "/validate", body, "text/turtle").status == 200
    for method in ("PUT", "POST", "DELETE", "PATCH"):  # the Graph Store Protocol's writes: never here
        refused = fetch(f"{server.base}/store?default", method, {"Content-Type": "text/turtle"}, body=body)
        assert refused.status == 405 and refused.headers["allow"] == "GET, HEAD, OPTIONS"
    for update in ("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "DROP ALL", "CLEAR DEFAULT"):
        assert sparql(server, update).status == 400
        direct = fetch(server.sparql, "POST", {"Content-Type": "application/sparql-update"}, body=update.encode())
        assert direct.status in (400, 415)
    assert (fingerprint(server), health(server)["version"]) == (before, version)


# --------------------------------------------------------------------------------------------
# Secrets and CORS
# --------------------------------------------------------------------------------------------
@contextmanager
def access_logged(store: Path, root: Path, log: Path) -> Iterator[Server]:
    """`kgserver serve` with both its outputs, the access log (stdout) too, in one file."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "kgserver"), "serve", "--store", str(store), "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, env={**os.environ, "LDNKG_ROOT": str(root)}, stdout=output,
                                   stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process.pid, log)
    try:
        deadline = time.monotonic() + 60
        while not _answers(server):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(30)


def _answers(server: Server) -> bool:
    try:
        return fetch(f"{server.base}/health", timeout=2).status == 200
    except OSError:
        return False


def test_a_curators_token_is_never_written_to_the_log_or_echoed(built_store, sources_root, tmp_path, kgserver):
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    made = kgserver("curator", "add", "grace", "--store", store)
    token = made.stdout.strip().splitlines()[-1]
    log = tmp_path / "serve.log"
    replies = []
    with access_logged(store, sources_root, log) as server:
        body = (VALID / "claim-with-new-source.ttl").read_bytes()
        accepted = post(server, "/submissions", body, "text/turtle", token)
        assert accepted.status == 201, accepted.body
        replies.append(accepted)
        location = accepted.headers["location"].rsplit("/", 1)[-1]
        retract_headers = {"Authorization": f"Bearer {token}"}
        replies.append(fetch(f"{server.base}/submissions/{location}", "DELETE", retract_headers))
        replies.append(post(server, "/submissions", b"not turtle", "text/turtle", token))
        replies.append(post(server, "/submissions", body, "text/turtle", token + "x"))
        replies.append(fetch(server.sparql, params={"query": "ASK{}", "token": token}))
    assert token not in made.stderr
    for reply in replies:
        assert token.encode() not in reply.body and token not in json.dumps(reply.headers)
    logged = log.read_text(errors="replace")
    assert "POST /submissions" in logged
    assert token not in logged.replace(f"token={token}", ""), "the token was written to the server's log"
    assert token[:12] not in logged.replace(f"token={token}", "")


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://app.example.org.evil.example",
                                    "https://app.example.org", "http://app.example.org"])
@pytest.mark.parametrize("path", ["/sparql?query=ASK%7B%7D", "/id/naltrexone", "/submissions", "/validate", "/health"])
def test_cors_never_allows_credentials_nor_reflects_an_unlisted_origin(permissive, origin, path):
    server, _ = permissive
    for method, extra in (("GET", {}), ("OPTIONS", {"Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "authorization, content-type"})):
        reply = fetch(server.base + path, method, {"Origin": origin, "Cookie": "s=1", **extra})
        assert_sound(reply, f"{method} {path} from {origin}")
        assert "access-control-allow-credentials" not in reply.headers
        allowed = reply.headers.get("access-control-allow-origin")
        assert allowed in (None, "https://app.example.org"), f"{origin} got {allowed}"
        if allowed:
            assert origin == "https://app.example.org"
        assert "authorization" not in reply.headers.get("access-control-allow-headers", "").lower()


def test_the_default_cors_is_public_and_without_credentials(served_store):
    reply = fetch(f"{served_store}/sparql?query=ASK%7B%7D", headers={"Origin": "https://evil.example"})
    assert reply.headers.get("access-control-allow-origin") in (None, "*")
    assert "access-control-allow-credentials" not in reply.headers
