"""A careful researcher queries the shipped graph with `kgserver query` and finds it says no more
than its sources: evidence only for what a source covers, one type of evidence per source,
"unsourced" said once, a year on every claim that has one, receptor families apart from receptors,
outcomes and trial design as structure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # queries the built store through the kgserver command


PREFIXES = """PREFIX src: <https://w3id.org/ldn-kg/id/source/>
PREFIX claim: <https://w3id.org/ldn-kg/id/claim/>
PREFIX cito: <http://purl.org/spar/cito/>
"""


def query(store: Path, sparql: str) -> list[dict[str, str]]:
    """Run SPARQL through the CLI as JSON (ldn:, kg:, rdfs:, owl:, skos:, prov: need no declaration)."""
    out = subprocess.run(
        [sys.executable, "-m", "kgserver", "query", "--store", str(store), PREFIXES + sparql, "--format", "json"],
        capture_output=True, text=True, check=True,
    ).stdout
    answer = json.loads(out)
    if "boolean" in answer:
        return [{"result": str(answer["boolean"]).lower()}]
    return [{k: v["value"] for k, v in b.items()} for b in answer["results"]["bindings"]]


def test_no_condition_gets_a_level_from_a_source_that_does_not_cover_it(built_store: Path) -> None:
    outside = query(built_store, """
        SELECT ?claim ?condition WHERE {
          ?claim ldn:evidenceLevel ?level ; ldn:aboutCondition ?condition ; ldn:evidenceSource ?s .
          FILTER NOT EXISTS { ?s ldn:hasReading/ldn:coversCondition ?condition } }""")
    assert outside == []  # no exception for a source whose reading covers no condition
    # the Cochrane review of Crohn's disease is still cited for the lead sentence, with its scope said
    parker = query(built_store, """
        SELECT ?about ?beyond WHERE {
          claim:evidence-lacking-parker ldn:aboutCondition ?about ; ldn:beyondSourceScope ?beyond }""")
    assert {(r["about"].rsplit("/", 1)[1], r["beyond"].rsplit("/", 1)[1]) for r in parker} == {
        ("crohns-disease", "hashimotos-disease"), ("crohns-disease", "multiple-sclerosis")}


def test_an_ms_society_page_gives_hashimotos_disease_no_evidence_level(built_store: Path) -> None:
    levels = query(built_store, """
        SELECT ?claim ?level WHERE { ?claim ldn:aboutCondition kg:hashimotos-disease ; ldn:evidenceLevel ?level }""")
    assert levels == []
    [nmss] = query(built_store, """
        SELECT ?words (GROUP_CONCAT(STR(?c); separator=" ") AS ?covers) WHERE {
          src:nmss-low-dose-naltrexone ldn:hasReading ?r . ?r ldn:interpretationOf ?words ; ldn:coversCondition ?c }
        GROUP BY ?words""")
    assert nmss == {"words": "National MS Society", "covers": "https://w3id.org/ldn-kg/id/multiple-sclerosis"}
    cited = query(built_store, """
        SELECT ?beyond WHERE { claim:evidence-lacking-nmss ldn:evidenceSource src:nmss-low-dose-naltrexone ;
                                                           ldn:beyondSourceScope ?beyond }""")
    assert {r["beyond"].rsplit("/", 1)[1] for r in cited} == {"crohns-disease", "hashimotos-disease"}


def test_no_systematic_review_is_reported_for_multiple_sclerosis(built_store: Path) -> None:
    levels = query(built_store, """
        SELECT DISTINCT ?level WHERE { ?c ldn:aboutCondition kg:multiple-sclerosis ; ldn:evidenceLevel ?level }""")
    assert {r["level"].rsplit("#", 1)[1] for r in levels} == {"OrganisationStatement"}


# A claim's level is checked against the type its source's reading assigns, never against `?source a ?type`:
# the inferred graph types Kim 2020 also a journal article, whose levels include "published studies".
DISAGREEING_LEVELS = """
    SELECT ?claim ?level WHERE {
      { ?claim ldn:evidenceLevel ?level } UNION { VALUES (?claim ?level) { %s } }
      ?claim ldn:evidenceSource ?s . ?s ldn:hasReading/ldn:assignsType ?type .
      FILTER NOT EXISTS { ?type ldn:allowsEvidenceLevel ?level } }"""


def test_every_claim_level_agrees_with_its_sources_type_as_the_curators_read_it(built_store: Path) -> None:
    assert query(built_store, DISAGREEING_LEVELS % "") == []
    [kim] = query(built_store, "SELECT ?level WHERE { claim:promise-kim ldn:evidenceLevel ?level }")
    assert kim["level"].endswith("#SystematicReviewEvidence")
    # Were Kim's claim "published studies" again, the store would still type Kim a journal article,
    # which allows that level; the check by the reading's type refuses it all the same.
    [widened] = query(built_store, "ASK { src:kim-2020 a ?t . ?t ldn:allowsEvidenceLevel ldn:PublishedStudies }")
    assert widened == {"result": "true"}
    reverted = query(built_store, DISAGREEING_LEVELS % "(claim:promise-kim ldn:PublishedStudies)")
    assert [(r["claim"].rsplit("/", 1)[1], r["level"].rsplit("#", 1)[1]) for r in reverted] == [("promise-kim", "PublishedStudies")]
    designs = query(built_store, """
        SELECT ?study WHERE {
          ?study ldn:studyDesign ?d ; ldn:reportedIn ?s . ?s ldn:hasReading/ldn:assignsType ?type .
          ?type ldn:allowsStudyDesign ?any . FILTER NOT EXISTS { ?type ldn:allowsStudyDesign ?d } }""")
    assert designs == []


def test_every_source_has_one_type_read_by_the_curators_and_is_typed_so(built_store: Path) -> None:
    [counts] = query(built_store, """
        SELECT (COUNT(DISTINCT ?s) AS ?sources) (COUNT(DISTINCT ?read) AS ?read) WHERE {
          ?s a ldn:Source . OPTIONAL { ?s ldn:hasReading/ldn:assignsType ?t . BIND (?s AS ?read) } }""")
    assert counts == {"sources": "14", "read": "14"}  # the 13 references and the article
    twice = query(built_store, """
        SELECT ?s WHERE { ?s ldn:hasReading/ldn:assignsType ?t1 , ?t2 . FILTER (?t1 != ?t2) }""")
    assert twice == []
    [article] = query(built_store, """
        SELECT ?words ?type WHERE { src:wikipedia-low-dose-naltrexone ldn:hasReading ?r .
                                    ?r ldn:interpretationOf ?words ; ldn:assignsType ?type }""")
    assert article == {"words": "From Wikipedia, the free encyclopedia",
                       "type": "https://w3id.org/ldn-kg/ontology#EncyclopediaArticle"}


def test_a_source_type_read_from_a_title_is_marked_as_the_curators_reading(built_store: Path) -> None:
    [kim] = query(built_store, """
        SELECT ?words ?type ?by WHERE {
          src:kim-2020 ldn:hasReading ?r . ?r a ldn:CuratorInterpretation ; ldn:interpretationOf ?words ;
             ldn:assignsType ?type ; prov:wasAttributedTo/rdfs:label ?by }""")
    assert kim == {"words": "Low-Dose Naltrexone for Chronic Pain: Update and Systemic Review",
                   "type": "https://w3id.org/ldn-kg/ontology#SystematicReviewArticle", "by": "LDN-KG curators"}
    untyped = query(built_store, """
        SELECT ?s WHERE { ?s ldn:hasReading/ldn:assignsType ?t . FILTER NOT EXISTS { ?s a ?t } }""")
    assert untyped == []


def test_unsourced_is_said_once_by_the_sourcing_status(built_store: Path) -> None:
    retired = query(built_store, """
        SELECT ?claim WHERE { ?claim ldn:evidenceLevel|ldn:evidenceCode ?term . ?term owl:deprecated true }""")
    assert retired == []
    with_level = query(built_store, """
        SELECT ?claim WHERE { ?claim ldn:sourcingStatus ?s ; ldn:evidenceLevel ?l . FILTER (?s != ldn:Sourced) }""")
    assert with_level == []
    [eco] = query(built_store, "SELECT ?eco WHERE { ldn:Unsourced skos:exactMatch ?eco }")
    assert eco["eco"] == "http://purl.obolibrary.org/obo/ECO_0000034"


def test_every_sourced_claim_with_a_dated_source_has_one_claim_year(built_store: Path) -> None:
    missing = query(built_store, """
        SELECT ?claim WHERE { ?claim ldn:evidenceSource/ldn:publicationYear ?y .
                              FILTER NOT EXISTS { ?claim ldn:claimYear ?year } }""")
    assert missing == []
    [counts] = query(built_store, """
        SELECT (COUNT(DISTINCT ?c) AS ?claims) (COUNT(DISTINCT ?dated) AS ?dated) WHERE {
          ?c a ldn:EvidenceClaim . OPTIONAL { ?c ldn:claimYear ?y . BIND (?c AS ?dated) } }""")
    assert (counts["claims"], counts["dated"]) == ("39", "33")  # unsourced claims and the lead's two on an undated page have none
    [norway] = query(built_store, "SELECT ?y WHERE { claim:norway-prescribers ldn:claimYear ?y }")
    assert norway["y"] == "2017"  # the article's "In 2017, Raknes and Småbrekke published"
    # "As of 2014 ... [1][5]": both claims have the 'as of' year, and a year of their own no earlier
    as_of = query(built_store, "SELECT ?claim ?y ?asOf WHERE { ?claim ldn:validAsOfYear ?asOf . OPTIONAL { ?claim ldn:claimYear ?y } }")
    assert {(r["claim"].rsplit("/", 1)[1], r.get("y"), r["asOf"]) for r in as_of} == {
        ("ms-no-supporting-studies-nmss", "2014", "2014"),  # the page gives no year: the year the article dates it to
        ("ms-no-supporting-studies-eve", "2020", "2014"),  # Eve's PDF is of 2020
    }


def test_following_cites_as_evidence_never_reaches_the_wikipedia_article(built_store: Path) -> None:
    [reached] = query(built_store, "ASK { ?claim cito:citesAsEvidence src:wikipedia-low-dose-naltrexone }")
    assert reached == {"result": "false"}
    [years] = query(built_store, """
        SELECT (MAX(?y) AS ?latest) WHERE { ?claim cito:citesAsEvidence/ldn:publicationYear ?y }""")
    assert years["latest"] == "2023"


def test_which_receptors_returns_receptors_not_the_families_beside_them(built_store: Path) -> None:
    receptors = query(built_store, "SELECT ?r WHERE { ?r a ldn:Receptor }")
    names = {r["r"].rsplit("/", 1)[1] for r in receptors}
    assert names == {"mu-opioid-receptor", "kappa-opioid-receptor", "delta-opioid-receptor", "toll-like-receptor-4"}
    families = query(built_store, "SELECT ?f ?m WHERE { ?f a ldn:ReceptorFamily . OPTIONAL { ?f ldn:memberReceptor ?m } }")
    assert {r["f"].rsplit("/", 1)[1] for r in families} == {"opioid-receptors", "gaba-receptors"}


def test_inverse_properties_are_in_the_inferred_graph_only(built_store: Path) -> None:
    graphs = query(built_store, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ldn:supportsClaim ?claim } }")
    assert [r["g"] for r in graphs] == ["https://w3id.org/ldn-kg/graph/inferred"]
    [answer] = query(built_store, "ASK { src:kim-2020 ldn:supportsClaim claim:promise-kim }")
    assert answer == {"result": "true"}  # the default graph is the union, inferred triples included


def test_outcomes_safety_limitations_and_trial_design_are_structure_not_strings(built_store: Path) -> None:
    [review] = query(built_store, """
        SELECT (GROUP_CONCAT(?outcome; separator=", ") AS ?outcomes) ?safety WHERE {
          ?claim ldn:significantImprovementIn/rdfs:label ?outcome ; ldn:sideEffectSeverity/rdfs:label ?safety ;
                 ldn:evidenceSource/ldn:doi "10.31128/AJGP-09-22-6564" }
        GROUP BY ?safety""")
    assert sorted(review["outcomes"].split(", ")) == ["pain", "pain tolerance"] and review["safety"] == "mild side effects"
    [limited] = query(built_store, "SELECT ?claim WHERE { ?claim ldn:limitation ldn:SmallSampleSizes }")
    assert limited["claim"].endswith("/claim/fibromyalgia-review-limitations")
    features = query(built_store, """
        SELECT ?feature WHERE { ?study ldn:designFeature/rdfs:label ?feature ; ldn:studiesCondition kg:fibromyalgia ;
                                       ldn:studyDesign ldn:RandomizedControlledTrial }""")
    assert {r["feature"] for r in features} == {"double-blind", "placebo-controlled", "randomized"}
