"""A curator checks an addition at /validate, submits it to /submissions with a token, and may retract it.

Each story serves a copy of the built store of its own, since the server writes to it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from serving import Reply, fetch, serving

pytestmark = pytest.mark.slow  # submits to real servers

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUERIES = Path(__file__).resolve().parent.parent / "queries"
VALID = FIXTURES / "valid"
INVALID = FIXTURES / "invalid"
BASE = "https://w3id.org/ldn-kg/"
SH = Namespace("http://www.w3.org/ns/shacl#")
RDF_TYPE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
NEW_CLAIM = f"{BASE}id/claim/test-fibromyalgia-trial-results"
SPARQL_JSON = "application/sparql-results+json"
MEDIA_TYPES = {".ttl": "text/turtle", ".nt": "application/n-triples", ".jsonld": "application/ld+json", ".rdf": "application/rdf+xml"}


def send(base: str, route: str, fixture: Path, token: str | None = None, accept: str = "application/json") -> Reply:
    """POST a fixture file as a curator's client would, its media type taken from its extension."""
    headers = {"Content-Type": MEDIA_TYPES[fixture.suffix], "Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return fetch(f"{base}{route}", "POST", headers, 300, fixture.read_bytes())


def ask(base: str, query: str) -> bool:
    return fetch(f"{base}/sparql", headers={"Accept": SPARQL_JSON}, params={"query": query}).json()["boolean"]


def select(base: str, query: str) -> list[dict[str, str]]:
    reply = fetch(f"{base}/sparql", headers={"Accept": SPARQL_JSON}, params={"query": query})
    rows = reply.json()["results"]["bindings"]
    return [{name: cell["value"] for name, cell in row.items()} for row in rows]


def version(base: str) -> int:
    return int(fetch(f"{base}/health").json()["version"])


def quads(kgserver, store: Path) -> set[str]:
    """Every quad of the store as N-Quads lines, those with blank nodes aside (their labels are not stable)."""
    result = kgserver("export", "--store", store)
    assert result.returncode == 0, result.stderr
    return {line for line in result.stdout.splitlines() if line and "_:" not in line}


@pytest.fixture
def server(own_store: Path, sources_root: Path, tmp_path: Path):
    with serving(own_store, sources_root, tmp_path / "serve.log") as running:
        yield running.base


def test_submitting_needs_the_token_of_an_active_curator(kgserver, add_curator, own_store, server):
    token = add_curator("ada", "--store", own_store)
    fixture = VALID / "claim-with-new-source.ttl"
    missing = send(server, "/submissions", fixture)
    assert missing.status == 401
    assert missing.headers["www-authenticate"].lower().startswith("bearer")
    assert send(server, "/submissions", fixture, token="not-a-token").status == 403
    assert kgserver("curator", "revoke", "ada", "--store", own_store).returncode == 0
    revoked = send(server, "/submissions", fixture, token=token)
    assert revoked.status == 403
    assert "revoked" in revoked.text
    assert version(server) == 1
    assert not ask(server, f"ASK {{ GRAPH ?g {{ <{NEW_CLAIM}> ?p ?o }} }}")


def test_a_conforming_addition_is_accepted_and_queryable_at_once(add_curator, own_store, server):
    token = add_curator("ada", "--store", own_store)
    before = version(server)
    answer = send(server, "/submissions", VALID / "claim-with-new-source.ttl", token=token)
    assert answer.status == 201, answer.text
    accepted = answer.json()
    assert accepted["version"] == before + 1 == version(server)
    assert answer.headers["location"] == "/" + accepted["submission"].removeprefix(BASE)
    assert accepted["graph"].startswith(f"{BASE}graph/submission/")
    assert ask(server, f"ASK {{ GRAPH <{accepted['graph']}> {{ <{NEW_CLAIM}> a <{BASE}ontology#EvidenceClaim> }} }}")

    record = Graph().parse(data=fetch(server + answer.headers["location"], headers={"Accept": "text/turtle"}).body, format="turtle")
    activity, prov = URIRef(accepted["submission"]), Namespace("http://www.w3.org/ns/prov#")
    assert (activity, RDF_TYPE, prov.Activity) in record
    assert (activity, prov.wasAssociatedWith, URIRef(f"{BASE}id/curator/ada")) in record
    assert (activity, prov.used, URIRef(f"{BASE}id/source/test-trial-report")) in record
    assert (activity, prov.generated, URIRef(accepted["graph"])) in record
    assert (activity, URIRef(f"{BASE}ontology#resultingVersion"), Literal(accepted["version"])) in record
    page = fetch(server + answer.headers["location"], headers={"Accept": "text/html"})
    assert page.status == 200 and "ada" in page.text
    claim_page = fetch(f"{server}/id/claim/test-fibromyalgia-trial-results", headers={"Accept": "text/html"})
    assert claim_page.status == 200

    warned = send(server, "/submissions", VALID / "condition-without-identifier.ttl", token=token)
    assert warned.status == 201, warned.text
    assert warned.json()["version"] == before + 2 == version(server)
    assert any("No external identifier" in warning["message"] for warning in warned.json()["warnings"])


def test_a_submissions_curator_text_is_attributed_to_the_submitting_curator(add_curator, own_store, server):
    token = add_curator("ada", "--store", own_store)
    answer = send(server, "/submissions", VALID / "claim-with-new-source.ttl", token=token)
    assert answer.status == 201, answer.text

    # "who wrote this literal": the shipped query, over the endpoint, names the curator of each graph
    rows = select(server, QUERIES.joinpath("cq14-curator-text.rq").read_text(encoding="utf-8"))
    written = {(row["subject"], row["property"], row["value"]): row.get("curator") for row in rows}
    assert written[(NEW_CLAIM, "label", "Test claim: a fibromyalgia trial reports its results")] == "ada"
    assert written[(NEW_CLAIM, "claim year", "2024")] == "ada"  # an encoding is the curator's too
    assert written[(f"{BASE}id/multiple-sclerosis", "label", "multiple sclerosis")] == "LDN-KG curators"
    graph = answer.json()["graph"]
    assert select(server, f"SELECT ?who WHERE {{ <{graph}> <http://www.w3.org/ns/prov#wasAttributedTo> ?who }}") == [
        {"who": f"{BASE}id/curator/ada"}]


def test_a_violating_addition_is_refused_and_nothing_is_written(kgserver, add_curator, own_store, sources_root, tmp_path):
    token = add_curator("ada", "--store", own_store)
    before = quads(kgserver, own_store)
    fixture = INVALID / "06-source-year-after-claim.ttl"
    with serving(own_store, sources_root, tmp_path / "serve.log") as running:
        refused = send(running.base, "/submissions", fixture, token=token)
        assert refused.status == 422
        report = refused.json()
        assert report["conforms"] is False
        [violation] = [result for result in report["results"] if result["severity"] == "Violation"]
        assert violation["focusNode"] == f"{BASE}id/claim/too-early"
        assert "cannot support a claim made earlier (2015)" in violation["message"]
        as_turtle = send(running.base, "/submissions", fixture, token=token, accept="text/turtle")
        assert as_turtle.status == 422 and as_turtle.headers["content-type"].startswith("text/turtle")
        as_page = send(running.base, "/submissions", fixture, token=token, accept="text/html")
        assert as_page.status == 422 and "nothing was stored" in as_page.text
        assert version(running.base) == 1
    assert quads(kgserver, own_store) == before


def test_a_retraction_removes_the_triples_and_keeps_the_record(add_curator, own_store, server):
    ada, grace = add_curator("ada", "--store", own_store), add_curator("grace", "--store", own_store)
    accepted = send(server, "/submissions", VALID / "claim-with-new-source.ttl", token=ada).json()
    submission_id = accepted["submission"].rsplit("/", 1)[-1]
    assert ask(server, f"ASK {{ GRAPH ?g {{ <{NEW_CLAIM}> ?p ?o }} }}")

    assert fetch(f"{server}/submissions/{submission_id}", "DELETE").status == 401
    retracted = fetch(f"{server}/submissions/{submission_id}", "DELETE", headers={"Authorization": f"Bearer {grace}"})
    assert retracted.status == 200, retracted.text
    assert retracted.json()["version"] == accepted["version"] + 1 == version(server)
    assert not ask(server, f"ASK {{ GRAPH ?g {{ <{NEW_CLAIM}> ?p ?o }} }}")

    by_ada = select(server, f"""
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?submission ?retraction ?who WHERE {{ GRAPH ?record {{
          ?submission a <{BASE}ontology#Submission> ; prov:wasAssociatedWith <{BASE}id/curator/ada> ;
                      prov:generated ?graph .
          ?retraction prov:invalidated ?graph ; prov:wasAssociatedWith ?who .
        }} }}""")
    assert by_ada == [{"submission": accepted["submission"], "retraction": retracted.json()["retraction"],
                       "who": f"{BASE}id/curator/grace"}]

    again = fetch(f"{server}/submissions/{submission_id}", "DELETE", headers={"Authorization": f"Bearer {ada}"})
    assert again.status == 409
    unknown = fetch(f"{server}/submissions/20200101T000000000000Z-00000000", "DELETE", headers={"Authorization": f"Bearer {ada}"})
    assert unknown.status == 404
    assert version(server) == accepted["version"] + 1


def test_an_addition_sent_twice_is_refused_the_second_time_as_adding_nothing(add_curator, own_store, server, tmp_path):
    ada = add_curator("ada", "--store", own_store)
    fixture = VALID / "claim-with-new-source.ttl"
    accepted = send(server, "/submissions", fixture, token=ada)
    assert accepted.status == 201, accepted.text
    submission_id = accepted.json()["submission"].rsplit("/", 1)[-1]
    before = version(server)

    again = send(server, "/submissions", fixture, token=ada)  # a second click on "submit"
    assert again.status == 409 and "nothing to add" in again.text and f"submission {submission_id}" in again.text
    assert version(server) == before
    bundled = tmp_path / "bundled.ttl"  # statements the bundled data makes: nothing new either
    bundled.write_text(f'<{BASE}id/multiple-sclerosis> <http://www.w3.org/2000/01/rdf-schema#label> "multiple sclerosis"@en .\n')
    restated = send(server, "/submissions", bundled, token=ada)
    assert restated.status == 409 and "the bundled data" in restated.text, restated.text
    other_type = tmp_path / "other-type.ttl"  # the store finds "2018"^^xsd:int where 2018 is: not the same statement
    other_type.write_text(f'<{BASE}id/claim/off-label-use-parker> <{BASE}ontology#claimYear> '
                          '"2018"^^<http://www.w3.org/2001/XMLSchema#int> .\n')
    assert send(server, "/submissions", other_type, token=ada).status != 409

    partly_new = tmp_path / "partly-new.ttl"
    partly_new.write_text(fixture.read_text() + f'\n<{NEW_CLAIM}> <http://www.w3.org/2000/01/rdf-schema#comment> "new"@en .\n')
    assert send(server, "/submissions", partly_new, token=ada).status == 201  # one new statement is enough
    assert fetch(f"{server}/submissions/{submission_id}", "DELETE", headers={"Authorization": f"Bearer {ada}"}).status == 200


def test_an_addition_of_many_alike_blank_nodes_is_committed_promptly_with_the_standard_content_hash(
    add_curator, own_store, server, tmp_path
):
    """A ring of 200 blank nodes held the write lock 54 s while rdflib canonicalized it for the content hash."""
    from pyoxigraph import CanonicalizationAlgorithm, Dataset, RdfFormat, parse
    from pyoxigraph import serialize as write

    token = add_curator("ada", "--store", own_store)
    ring = tmp_path / "ring.ttl"
    ring.write_text("".join(f"_:b{i} <http://www.w3.org/2000/01/rdf-schema#seeAlso> _:b{(i + 1) % 200} .\n"
                            for i in range(200)))
    headers = {"Content-Type": "text/turtle", "Accept": "application/json", "Authorization": f"Bearer {token}"}
    answer = fetch(f"{server}/submissions", "POST", headers, 20, ring.read_bytes())  # later than 20 s is a hang
    assert answer.status == 201, answer.text
    graph = answer.json()["graph"]

    served = fetch(f"{server}/store", headers={"Accept": "application/n-triples"}, params={"graph": graph})
    dataset = Dataset(parse(served.body, format=RdfFormat.N_QUADS))
    assert len(dataset) == 200
    dataset.canonicalize(CanonicalizationAlgorithm.RDFC_1_0)  # what any RDFC-1.0 implementation gives
    lines = sorted(filter(None, write(dataset, format=RdfFormat.N_QUADS).splitlines()))
    expected = "sha256:" + hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()
    recorded = select(server, f"SELECT ?hash WHERE {{ GRAPH <{BASE}graph/meta> {{ <{graph}> <{BASE}ontology#contentHash> ?hash }} }}")
    assert recorded == [{"hash": expected}]


def test_an_addition_whose_blank_nodes_cannot_be_put_in_order_in_time_is_refused_and_others_are_served_meanwhile(
    add_curator, own_store, server, tmp_path
):
    """RDFC-1.0 did not end in 40 s on this tree of 258 alike blank nodes, and held Python's lock meanwhile."""
    token = add_curator("ada", "--store", own_store)
    before = version(server)
    lines, counter = [], iter(range(1000))

    def grow(node: str, depth: int) -> None:
        for _ in range(6 if depth else 0):
            child = f"_:b{next(counter)}"
            lines.append(f'{node} <http://www.w3.org/2000/01/rdf-schema#seeAlso> {child} .\n'
                         f'{child} <http://www.w3.org/2000/01/rdf-schema#comment> "alike" .\n')
            grow(child, depth - 1)

    grow(f"<{BASE}id/naltrexone>", 3)
    tree = tmp_path / "tree.ttl"
    tree.write_text("".join(lines))
    headers = {"Content-Type": "text/turtle", "Accept": "application/json", "Authorization": f"Bearer {token}"}
    answers: dict[str, Reply] = {}
    sending = threading.Thread(target=lambda: answers.update(sent=fetch(f"{server}/submissions", "POST", headers, 60,
                                                                        tree.read_bytes())))
    sending.start()
    while sending.is_alive():
        assert fetch(f"{server}/health", timeout=2).status == 200  # the server answers while the addition is hashed
        sending.join(0.5)
    answer = answers["sent"]
    assert answer.status == 400, answer.text
    assert "could not be put in canonical order" in answer.text and "give some of them IRIs" in answer.text
    assert version(server) == before
    assert not ask(server, 'ASK { GRAPH ?g { ?s <http://www.w3.org/2000/01/rdf-schema#comment> "alike" } }')


@pytest.mark.parametrize("name", sorted(MEDIA_TYPES, key=str))
def test_validate_reads_every_rdf_syntax(server, name):
    answer = send(server, "/validate", VALID / f"claim-with-new-source{name}")
    assert answer.status == 200, answer.text
    assert answer.json()["conforms"] is True


def test_validate_reports_in_json_turtle_and_html_and_stores_nothing(server):
    fixture = INVALID / "06-source-year-after-claim.ttl"
    as_json = send(server, "/validate", fixture)
    assert as_json.status == 200 and as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["counts"]["violations"] == 1
    [result] = as_json.json()["results"]
    assert result["focusNode"] == f"{BASE}id/claim/too-early"
    assert result["sourceShape"].startswith(f"{BASE}shapes#")

    as_turtle = send(server, "/validate", fixture, accept="text/turtle")
    assert as_turtle.status == 200
    report = Graph().parse(data=as_turtle.body, format="turtle")
    [node] = report.subjects(RDF_TYPE, SH.ValidationReport)
    assert report.value(node, SH.conforms) == Literal(False)
    [shacl_result] = report.objects(node, SH.result)
    assert report.value(shacl_result, SH.focusNode) == URIRef(f"{BASE}id/claim/too-early")
    assert report.value(shacl_result, SH.resultSeverity) == SH.Violation
    assert report.value(shacl_result, SH.value) == URIRef(f"{BASE}id/source/bruun-2021")
    assert str(report.value(shacl_result, SH.sourceShape)).startswith(f"{BASE}shapes#")
    assert "cannot support a claim" in str(report.value(shacl_result, SH.resultMessage))

    as_page = send(server, "/validate", fixture, accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert as_page.status == 200 and as_page.headers["content-type"].startswith("text/html")
    assert "does not conform" in as_page.text and "Test claim too-early" in as_page.text
    assert version(server) == 1


def test_the_report_page_escapes_what_the_addition_says(server, tmp_path):
    hostile = tmp_path / "hostile.ttl"
    hostile.write_text(
        (VALID / "condition-without-identifier.ttl").read_text().replace(
            '"a test condition without an identifier"', '"<script>alert(1)</script>"'
        )
    )
    page = send(server, "/validate", hostile, accept="text/html")
    assert page.status == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_an_unreadable_accept_is_406_before_anything_is_checked(server):
    answer = send(server, "/validate", VALID / "claim-with-new-source.ttl", accept="image/png")
    assert answer.status == 406
    assert "application/json" in answer.text


def test_the_cli_and_the_server_agree_on_a_report(server, kgserver):
    fixture = INVALID / "02-sourced-claim-without-source.ttl"
    expected = fixture.read_text().splitlines()[0].removeprefix("# expect: ")
    answer = send(server, "/validate", fixture)
    assert any(expected in result["message"] for result in answer.json()["results"])
    cli = kgserver("validate", fixture)
    assert cli.returncode == 1 and expected in cli.stdout
