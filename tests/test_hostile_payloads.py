"""Hostile bodies sent to /validate and /submissions are refused with 400, 413 or 415 and a message; nothing is fetched.

A loopback listener stands in for an attacker's server: external entities, external DTDs
and remote JSON-LD contexts point at it, and it must never see a connection. Oversized
bodies are refused before they have been sent in full, so the server never holds them.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from serving import fetch, serving

pytestmark = pytest.mark.slow  # sends hostile payloads to a real server

ID = "https://w3id.org/ldn-kg/id/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF_XML_OPEN = (
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">'
)


@dataclass
class Listener:
    """A loopback server that only counts who connects to it."""

    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    found = Listener(server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except TimeoutError:
                continue
            found.connections.append(address)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def server(built_store: Path, sources_root: Path, tmp_path_factory: pytest.TempPathFactory, add_curator):
    """A server on a copy of the store, with a curator whose token the submission cases use."""
    folder = tmp_path_factory.mktemp("hostile")
    store = folder / "store"
    shutil.copytree(built_store, store)
    token = add_curator("ada", "--store", store)
    with serving(store, sources_root, folder / "serve.log") as running:
        yield running, token


def rdf_xml(doctype: str, label: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n{doctype}\n{RDF_XML_OPEN}\n'
        f'<rdf:Description rdf:about="{ID}x"><rdfs:label>{label}</rdfs:label></rdf:Description>\n</rdf:RDF>\n'
    ).encode()


def hostile_bodies(listener: Listener) -> dict[str, tuple[bytes, str, int, str]]:
    """Each case: body, Content-Type, the status it must get and words the message must hold."""
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{level} "{("&lol" + str(level - 1 if level > 1 else "") + ";") * 10}">' for level in range(1, 10)
    )
    return {
        "external entity (file)": (
            rdf_xml('<!DOCTYPE rdf:RDF [<!ENTITY secret SYSTEM "file:///etc/passwd">]>', "&secret;"),
            "application/rdf+xml", 400, "external entity",
        ),
        "external entity (http)": (
            rdf_xml(f'<!DOCTYPE rdf:RDF [<!ENTITY secret SYSTEM "{listener.url}/secret">]>', "&secret;"),
            "application/rdf+xml", 400, "external entity",
        ),
        "external parameter entity": (
            rdf_xml(f'<!DOCTYPE rdf:RDF [<!ENTITY % remote SYSTEM "{listener.url}/dtd"> %remote;]>', "x"),
            "application/rdf+xml", 400, "external entity",
        ),
        "external dtd": (
            rdf_xml(f'<!DOCTYPE rdf:RDF SYSTEM "{listener.url}/rdf.dtd">', "x"),
            "application/rdf+xml", 400, "external document type",
        ),
        "billion laughs": (
            rdf_xml(f"<!DOCTYPE rdf:RDF [{laughs}]>", "&lol9;"), "application/rdf+xml", 400, "nested entity expansion",
        ),
        "remote json-ld context": (
            json.dumps({"@context": f"{listener.url}/context.jsonld", "@id": f"{ID}x", "label": "x"}).encode(),
            "application/ld+json", 400, "remote JSON-LD context",
        ),
        "remote json-ld context in a list": (
            json.dumps({"@context": [{"ex": ID}, f"{listener.url}/c"], "@id": "ex:x", "ex:p": "x"}).encode(),
            "application/ld+json", 400, "remote JSON-LD context",
        ),
        "deeply nested turtle": (
            f"<{ID}x> <{ID}p> {'(' * 100_000}{')' * 100_000} .".encode(), "text/turtle", 400, "request body",
        ),
        "deeply nested json": (b"[" * 100_000 + b"]" * 100_000, "application/ld+json", 400, "nested too deeply"),
        "invalid utf-8": (f'<{ID}x> <{LABEL}> "'.encode() + b"\xff\xfe" + b'" .\n', "application/n-triples", 400, "not UTF-8"),
        "empty body": (b"", "text/turtle", 400, "empty"),
        "only prefixes": (b"@prefix ex: <http://example.org/> .\n", "text/turtle", 400, "no triples"),
        "wrong content type": (b"a,b\n1,2\n", "text/csv", 415, "application/rdf+xml"),
        "no content type": (b"<a> <b> <c> .", "", 415, "text/turtle"),
        "another charset": (f'<{ID}x> <{LABEL}> "x" .'.encode(), "text/turtle; charset=iso-8859-1", 415, "UTF-8"),
        # each costs rdflib more than the last: under 1 MiB, 20,000 held /validate for 2 min 52 s, and pySHACL's lock
        "15,000 prefixes declared in rdf/xml": (
            ('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
             f'<rdf:Description rdf:about="{ID}x"'
             + "".join(f' xmlns:n{i}="http://e.example/{i}#" n{i}:p="{i}"' for i in range(15_000))
             + "/></rdf:RDF>\n").encode(),
            "application/rdf+xml", 400, "more than 1,000 namespace prefixes",
        ),
        "20,000 prefixes declared in turtle": (
            ("".join(f"@prefix p{i}: <http://e.example/{i}#> .\n" for i in range(20_000)) + f'<{ID}x> <{LABEL}> "x" .\n')
            .encode(), "text/turtle", 400, "more than 1,000 namespace prefixes",
        ),
        "iris in 1,500 namespaces": (
            "".join(f"<http://e.example/s{i}/x> <http://e.example/p{i}/y> <http://e.example/o{i}/z> .\n"
                    for i in range(500)).encode(), "application/n-triples", 400, "in 1,500 namespaces",
        ),
        "more triples than a check takes": (
            "".join(f'<{ID}n{i}> <{LABEL}> "n{i}" .\n' for i in range(1_001)).encode(), "application/n-triples",
            413, "the addition holds 1,001 triples; this server checks at most 1,000 in one (--max-addition-triples)",
        ),
    }


CASES = sorted(hostile_bodies(Listener(1)))


@pytest.mark.parametrize("route", ["/validate", "/submissions"])
@pytest.mark.parametrize("case", CASES)
def test_a_hostile_body_is_refused_with_a_message_and_nothing_is_fetched(server, listener, route, case):
    running, token = server
    body, content_type, status, words = hostile_bodies(listener)[case]
    authorization = {"Authorization": f"Bearer {token}"} if route == "/submissions" else {}
    headers = {"Content-Type": content_type, **authorization}
    reply = fetch(f"{running.base}{route}", "POST", headers, body=body)
    assert reply.status == status, reply.text
    assert words in reply.text
    assert "Traceback" not in reply.text
    assert listener.connections == []
    assert fetch(f"{running.base}/health", timeout=30).json()["version"] == "1"


def exchange(port: int, head: bytes, body: Iterable[bytes]) -> tuple[int, int]:
    """Send a request's head, then its body chunk by chunk until the server answers; the status and bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(head)
        for chunk in body:
            if select.select([connection], [], [], 0)[0]:
                break
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        select.select([connection], [], [], 60)
        status_line = connection.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), sent


def test_a_body_announced_larger_than_the_limit_is_refused_before_it_is_sent(server):
    running, _ = server
    port = int(running.base.rsplit(":", 1)[1])
    head = (
        b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/turtle\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    status, sent = exchange(port, head, (b"#" * 65536 for _ in range(763)))
    assert status == 413
    assert sent < 50_000_000, "the answer came only after the whole body"


def test_a_chunked_body_is_refused_once_it_passes_the_limit(server):
    running, _ = server
    port = int(running.base.rsplit(":", 1)[1])
    head = b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/turtle\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (65536, b"#" * 65536)
    status, sent = exchange(port, head, (chunk for _ in range(800)))  # 50 MB, never terminated
    assert status == 413
    assert sent < 800 * len(chunk)


def test_a_client_that_sends_checks_in_a_loop_is_held_to_its_share_and_another_is_not(
    built_store, sources_root, tmp_path
):
    """Checks run one at a time, so a client sending large additions in a loop would make every curator wait. With
    --check-budget 1 (seconds of CPU a minute), its checks are answered until it has used its second, then refused
    with 429 and Retry-After; another client's check is answered meanwhile."""
    large = "".join(f"<{ID}n{i}> <{RDF_TYPE}> <https://w3id.org/ldn-kg/ontology#Condition> .\n"
                    for i in range(1_000)).encode()
    small = (Path(__file__).parent / "fixtures" / "valid" / "claim-with-new-source.ttl").read_bytes()
    with serving(built_store, sources_root, tmp_path / "serve.log", "--check-budget", "1") as running:
        def check(body: bytes, agent: str, content_type: str):
            return fetch(f"{running.base}/validate", "POST", {"Content-Type": content_type, "User-Agent": agent,
                                                              "Accept": "application/json"}, body=body, timeout=60)

        answers = []
        while len(answers) < 20 and (not answers or answers[-1].status == 200):  # each takes 0.2 s of CPU at least
            answers.append(check(large, "looping/1", "application/n-triples"))
        refused = answers[-1]
        assert refused.status == 429 and len(answers) > 1, [answer.status for answer in answers]
        assert "this client has used its 1 s of checking per minute" in refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert check(small, "another/1", "text/turtle").status == 200


def test_the_server_is_well_after_all_that(server, listener):
    running, _ = server
    assert fetch(f"{running.base}/health", timeout=30).json()["status"] == "ok"
    assert listener.connections == []
