"""What a curator may not add, whatever the shapes say: the server's records, the ontology, undeclared terms, ill-typed values.

Each story sends a hostile or careless addition to a real server: /validate reports why it is
refused, /submissions answers 422 with that report, and the dataset's version stays where it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Reply, fetch, serving

pytestmark = pytest.mark.slow  # submits to a real server

BASE = "https://w3id.org/ldn-kg/"
PREFIXES = f"""@prefix ldn: <{BASE}ontology#> . @prefix kg: <{BASE}id/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix prov: <http://www.w3.org/ns/prov#> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
"""
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Each addition with a few words its refusal must contain.
REFUSED = {
    "a submission record written by hand, in another curator's name": (
        f"""<{BASE}id/submission/20200101T000000000000Z-00000000> a ldn:Submission , prov:Activity ;
            prov:wasAssociatedWith <{BASE}id/curator/bob> ;
            prov:generated <{BASE}graph/submission/20200101T000000000000Z-00000000> .""",
        "the server's own"),
    "a submission activity under an IRI of the curator's choosing": (
        f"kg:my-activity a ldn:Submission ; prov:wasAssociatedWith <{BASE}id/curator/bob> .",
        "only the server makes an ldn:Submission"),
    "a curator made up": (f"<{BASE}id/curator/mallory> a prov:Agent .", "the server's own"),
    "a claim attributed to a curator": (f"kg:fibromyalgia prov:wasAttributedTo <{BASE}id/curator/bob> .", "may not name a curator"),
    "a statement about the dataset": (f"<{BASE}dataset> rdfs:comment \"retitled\" .", "the server's own"),
    "an axiom that empties a class": ("ldn:Condition owl:equivalentClass owl:Nothing .", "term of the ontology"),
    "a class put under a disjoint one": ("kg:new-kind rdfs:subClassOf ldn:Drug .", "not ontology axioms"),
    "a class declared": ("kg:new-kind a owl:Class .", "the type owl:Class declares ontology, not data"),
    "two conditions made one": ("kg:fibromyalgia owl:sameAs kg:multiple-sclerosis .", "skos:exactMatch"),
    "a thing outside the dataset described": (
        '<http://purl.obolibrary.org/obo/MONDO_0000001> a ldn:Condition ; rdfs:label "qa outside"@en .',
        "is outside this dataset (https://w3id.org/ldn-kg/), so its description could not be dereferenced here"),
    "a class of the ontology under http:": ("kg:qa-http a <http://w3id.org/ldn-kg/ontology#Condition> .",
                                            "did you mean ldn:Condition?"),
    "a property minted under the base": ("kg:qa-minted <https://w3id.org/ldn-kg/id/aboutCondition> kg:fibromyalgia .",
                                         "did you mean ldn:aboutCondition?"),
    "the ontology's own metadata": ("<https://w3id.org/ldn-kg/ontology> <http://purl.org/dc/terms/license> "
                                    "<http://example.org/proprietary> .", "term of the ontology"),
    "a typo of a W3C term": ('kg:qa-lable a ldn:Condition ; rdfs:lable "qa lable"@en .',
                             "rdfs:lable, which its vocabulary does not define; did you mean rdfs:label?"),
    "a thing under the base that no request reaches": (f'<{BASE}health> rdfs:label "qa health"@en .',
                                                        "could not be dereferenced here"),
    "a blank node for a type": ('kg:qa-blank a ldn:Condition, [] ; rdfs:label "qa blank"@en .',
                                "is typed with a blank node"),
    "an undeclared term of schema.org under https:": ("kg:qa-schema a <https://schema.org/MedicalCondition> .",
                                                      "which the ontology does not declare as a class"),
    "a thing whose IRI ends with a dot": (f'<{BASE}id/claim/qa-end.> a ldn:Condition ; rdfs:label "qa end"@en .',
                                          "ends with '.', which Turtle can write only escaped (rdflib cannot read it"),
    "a link to an IRI that ends with a dot": ('kg:fibromyalgia rdfs:seeAlso <https://w3id.org/ldn-kg/id/qa-seen.> .',
                                              "name it without the final '.'"),
    "a number that is not one": (
        'kg:qa-condition a ldn:Condition ; rdfs:label "qa condition"@en ; ldn:claimYear "abc"^^xsd:integer .',
        '"abc" is not a value of xsd:integer'),
}


@pytest.fixture(scope="module")
def curated_store(built_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built store, which the server below writes to."""
    store = tmp_path_factory.mktemp("boundaries") / "store"
    shutil.copytree(built_store, store)
    return store


@pytest.fixture(scope="module")
def curated(curated_store: Path, sources_root: Path, add_curator) -> Iterator[tuple[str, str]]:
    """A server on that copy, and a curator's token."""
    token = add_curator("ada", "--store", curated_store)
    with serving(curated_store, sources_root, curated_store.parent / "serve.log") as running:
        yield running.base, token


def post(base: str, route: str, body: str, token: str | None = None, content_type: str = "text/turtle") -> Reply:
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return fetch(f"{base}{route}", "POST", headers, 300, body.encode())


def version(base: str) -> int:
    return int(fetch(f"{base}/health").json()["version"])


@pytest.mark.parametrize("story", sorted(REFUSED))
def test_an_addition_stating_what_only_the_server_or_the_ontology_may_is_refused(curated, story):
    base, token = curated
    addition, why = REFUSED[story]
    checked = post(base, "/validate", PREFIXES + addition)
    assert checked.status == 200, checked.text
    report = checked.json()
    assert report["conforms"] is False
    assert any(why in result["message"] and result["severity"] == "Violation" for result in report["results"]), report
    before = version(base)
    submitted = post(base, "/submissions", PREFIXES + addition, token)
    assert submitted.status == 422, submitted.text
    assert version(base) == before


def test_a_value_of_a_datatype_the_reasoner_lacks_still_counts_for_the_propertys_domain(curated):
    base, token = curated
    # ldn:publicationYear's domain is ldn:Source, disjoint with ldn:Condition: as an integer this was always refused
    addition = 'kg:qa-gyear a ldn:Condition ; rdfs:label "qa gyear condition"@en ; ldn:publicationYear "2020"^^xsd:gYear .'
    before = version(base)
    submitted = post(base, "/submissions", PREFIXES + addition, token)
    assert submitted.status == 422, submitted.text
    [clash] = [result["message"] for result in submitted.json()["results"] if "inconsistent" in result["message"]]
    assert "whose range xsd:integer holds no xsd:gYear" in clash  # said, where HermiT only says "inconsistent"
    assert version(base) == before


def test_an_addition_may_point_at_a_submission_without_being_judged_on_its_record(curated):
    base, token = curated
    accepted = post(base, "/submissions", (FIXTURES / "valid" / "condition-without-identifier.ttl").read_text(), token)
    assert accepted.status == 201, accepted.text
    pointing = f'kg:qa-see a ldn:Condition ; rdfs:label "qa see"@en ; rdfs:seeAlso <{accepted.json()["submission"]}> .'
    report = post(base, "/validate", PREFIXES + pointing).json()
    assert [result for result in report["results"] if result["severity"] == "Violation"] == []


def test_a_json_ld_named_graph_is_refused_as_one(curated):
    base, _token = curated
    body = ('{"@context": {"rdfs": "http://www.w3.org/2000/01/rdf-schema#"}, "@id": "https://w3id.org/ldn-kg/graph/data",'
            ' "@graph": [{"@id": "https://w3id.org/ldn-kg/id/qa-ng", "rdfs:label": "x"}]}')
    answer = post(base, "/validate", body, content_type="application/ld+json")
    assert answer.status == 400
    assert "named graph" in answer.json()["error"]


def test_a_byte_order_mark_is_not_a_syntax_error(curated):
    base, _token = curated
    addition = '\ufeff' + PREFIXES + 'kg:qa-bom a ldn:Condition ; rdfs:label "qa bom"@en .'
    answer = post(base, "/validate", addition)
    assert answer.status == 200, answer.text


def test_the_validate_command_names_an_ill_typed_value_in_one_line(kgserver, tmp_path):
    addition = tmp_path / "ill-typed.ttl"
    addition.write_text(PREFIXES + REFUSED["a number that is not one"][0])
    result = kgserver("validate", addition)
    assert result.returncode == 1, result.stderr
    assert '"abc" is not a value of xsd:integer' in result.stdout
    assert "Traceback" not in result.stderr


def test_the_validate_command_refuses_a_misspelt_term_as_the_server_does(kgserver, tmp_path):
    addition = tmp_path / "typo.ttl"
    addition.write_text(PREFIXES + 'kg:qa-cli-typo a ldn:Conditon ; rdfs:label "qa cli typo"@en .')
    result = kgserver("validate", addition)
    assert result.returncode == 1, result.stderr
    assert "ldn:Conditon, which the ontology does not declare as a class; did you mean ldn:Condition?" in result.stdout
    addition.write_text(PREFIXES + 'kg:qa-cli-typo a ldn:Condition ; rdfs:label "qa cli typo"@en .')
    assert kgserver("validate", addition).returncode == 0


def test_the_validate_command_on_a_store_sees_its_live_submissions_as_the_server_does(curated, curated_store, kgserver,
                                                                                      tmp_path):
    base, token = curated
    assert post(base, "/submissions", PREFIXES + 'kg:qa-seen a ldn:Condition ; rdfs:label "qa seen"@en .', token).status == 201
    second_label = tmp_path / "second-label.ttl"
    second_label.write_text(PREFIXES + 'kg:qa-seen rdfs:label "qa seen again"@en .')
    assert post(base, "/validate", second_label.read_text()).json()["conforms"] is False  # one English label each
    result = kgserver("validate", second_label, "--store", curated_store)
    assert result.returncode == 1, result.stdout + result.stderr


def test_a_retraction_that_would_leave_another_submission_not_conforming_is_refused(curated):
    base, token = curated
    # one curator adds a source, another a claim resting on it (refused alone: its source is unknown)
    head, claim, *source = (FIXTURES / "valid" / "claim-with-new-source.ttl").read_text().split("\n\n")
    the_source = post(base, "/submissions", "\n\n".join([head, *source]), token)
    assert the_source.status == 201, the_source.text
    the_claim = post(base, "/submissions", "\n\n".join([head, claim]), token)
    assert the_claim.status == 201, the_claim.text
    source_id, claim_id = (answer.json()["submission"].rsplit("/", 1)[-1] for answer in (the_source, the_claim))
    authorised = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    before = version(base)
    refused = fetch(f"{base}/submissions/{source_id}", "DELETE", authorised)
    assert refused.status == 409, refused.text
    assert claim_id in refused.json()["error"] and "first" in refused.json()["error"]
    assert version(base) == before
    assert fetch(f"{base}/submissions/{claim_id}", "DELETE", authorised).status == 200
    assert fetch(f"{base}/submissions/{source_id}", "DELETE", authorised).status == 200
    assert version(base) == before + 2
    # the curator's label is in each of their records: the retraction's description says it once
    lines = fetch(f"{base}/id/submission/{source_id}/retraction", headers={"Accept": "application/n-triples"}).text.splitlines()
    assert any('"ada"' in line for line in lines) and len(lines) == len(set(lines))


def test_a_page_past_the_last_of_the_submissions_is_404_saying_how_many_there_are(curated):
    base, _token = curated
    for page in ("999", "1000000000000000000"):
        answer = fetch(f"{base}/curate/submissions?page={page}", headers={"Accept": "text/plain"})
        assert answer.status == 404, answer.text
        assert f"no page {page}" in answer.text and "SPARQL" not in answer.text


def test_each_property_that_does_not_say_whose_words_it_holds_is_named_with_its_path(curated):
    base, _token = curated
    # a vocabulary the ontology declares nothing of: its terms are the shapes' to judge (ldn:foo would be refused as undeclared)
    addition = ('@prefix ex: <http://example.org/vocab/> .\n'
                'kg:qa-tx a ldn:Condition ; rdfs:label "qa tx"@en ; ex:foo "a" ; ex:bar "b" , "c" .')
    results = post(base, "/validate", PREFIXES + addition).json()["results"]
    unsaid = {result["path"]: result["message"] for result in results if "whose words" in result["message"]}
    assert set(unsaid) == {"http://example.org/vocab/foo", "http://example.org/vocab/bar"}
    assert unsaid["http://example.org/vocab/bar"].startswith("2 value(s)")


# --- terms the ontology does not declare -------------------------------------------------------------


def violations(reply: Reply) -> list[dict]:
    return [result for result in reply.json()["results"] if result["severity"] == "Violation"]


def test_a_misspelt_property_is_refused_naming_the_one_meant_and_nothing_is_written(curated):
    base, token = curated
    addition = 'kg:qa-typo-property a ldn:Condition ; rdfs:label "qa typo property"@en ; ldn:studiedToTreet kg:fibromyalgia .'
    before = version(base)
    refused = post(base, "/submissions", PREFIXES + addition, token)
    assert refused.status == 422, refused.text
    [violation] = violations(refused)
    assert violation["message"] == ("kg:qa-typo-property is stated with ldn:studiedToTreet, which the ontology does not "
                                    "declare as a property; did you mean ldn:studiedToTreat? (a term the ontology lacks is added through its source file and a rebuild)")
    assert violation["focusNode"] == f"{BASE}id/qa-typo-property"
    assert violation["path"] == f"{BASE}ontology#studiedToTreet"
    assert version(base) == before
    assert fetch(f"{base}/id/qa-typo-property", headers={"Accept": "text/turtle"}).status == 404


def test_a_misspelt_class_is_refused_and_the_corrected_addition_accepted(curated):
    base, token = curated
    misspelt = 'kg:qa-typo-class a ldn:Conditon ; rdfs:label "qa typo class"@en .'
    checked = post(base, "/validate", PREFIXES + misspelt)
    assert checked.status == 200 and checked.json()["conforms"] is False, checked.text
    [violation] = violations(checked)
    assert violation["message"] == ("kg:qa-typo-class is typed ldn:Conditon, which the ontology does not declare as a class; "
                                    "did you mean ldn:Condition? (a term the ontology lacks is added through its source file and a rebuild)")
    assert violation["focusNode"] == f"{BASE}id/qa-typo-class"
    before = version(base)
    assert post(base, "/submissions", PREFIXES + misspelt, token).status == 422
    assert version(base) == before

    accepted = post(base, "/submissions", PREFIXES + misspelt.replace("ldn:Conditon", "ldn:Condition"), token)
    assert accepted.status == 201, accepted.text
    assert version(base) == before + 1


def test_a_term_of_a_vocabulary_the_ontology_declares_terms_of_must_be_one_it_declares(curated):
    base, token = curated
    # the ontology declares the skos: terms the graph uses (skos:exactMatch...), so skos:exactMach is a typo, not data
    misspelt = ('kg:qa-typo-skos a ldn:Condition ; rdfs:label "qa typo skos"@en ;'
                ' skos:exactMach <http://purl.obolibrary.org/obo/MONDO_0005546> .')
    before = version(base)
    refused = post(base, "/submissions", PREFIXES + misspelt, token)
    assert refused.status == 422, refused.text
    [violation] = violations(refused)
    assert violation["message"] == ("kg:qa-typo-skos is stated with skos:exactMach, which the ontology does not declare "
                                    "as a property; did you mean skos:exactMatch? (a term the ontology lacks is added through its source file and a rebuild)")
    assert version(base) == before
    accepted = post(base, "/submissions", PREFIXES + misspelt.replace("skos:exactMach", "skos:exactMatch"), token)
    assert accepted.status == 201, accepted.text


def test_a_report_writes_terms_with_the_submitters_own_prefixes(curated, kgserver, tmp_path):
    """rdflib binds schema: to https://schema.org/ itself: a curator's http://schema.org/ was written schema1:."""
    base, _token = curated
    addition = ('@prefix schema: <http://schema.org/> .\n'
                + PREFIXES + 'kg:qa-prefixes a ldn:Condition ; rdfs:label "qa prefixes"@en ; schema:nmae "x" .')
    [violation] = violations(post(base, "/validate", addition))
    assert violation["message"].startswith("kg:qa-prefixes is stated with schema:nmae,"), violation["message"]
    file = tmp_path / "prefixes.ttl"
    file.write_text(addition)
    result = kgserver("validate", file)
    assert result.returncode == 1 and "stated with schema:nmae," in result.stdout, result.stdout
