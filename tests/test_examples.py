"""A researcher runs the further example queries (queries/examples/) with `kgserver query` and gets
what the graph holds; a curator who writes a query file learns the header it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef

from kgserver.config import Settings
from kgserver.examples import SH, ExampleFileError, example_graph, load_examples

pytestmark = pytest.mark.slow  # runs each example through the kgserver command

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "queries" / "examples"
LDN = Namespace("https://w3id.org/ldn-kg/ontology#")
KG = Namespace("https://w3id.org/ldn-kg/id/")


def run(store: Path, name: str, fmt: str = "json") -> str:
    """Run an example file through the CLI, as the README shows, and return what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "kgserver", "query", "--store", str(store),
         "--file", str(EXAMPLES / name), "--format", fmt],
        capture_output=True, text=True, check=True,
    ).stdout


def ask(store: Path, name: str) -> list[dict[str, str]]:
    """The rows of a SELECT example, each as {variable: value}."""
    bindings = json.loads(run(store, name))["results"]["bindings"]
    return [{key: value["value"] for key, value in binding.items()} for binding in bindings]


def test_ex01_claims_about_multiple_sclerosis_with_stance_level_and_reference(built_store: Path) -> None:
    result = ask(built_store, "ex01-condition-claims.rq")
    assert {(r["stance"], r["evidenceLevel"], r.get("doi"), r.get("year")) for r in result} == {
        ("efficacy not shown", "health organisation statement", None, "2020"),  # Eve, NHS Specialist Pharmacy Service
        ("efficacy not shown", "health organisation statement", None, "2014"),  # National MS Society web page, "As of 2014"
        ("insufficient evidence", "health organisation statement", None, None),
        ("reports", "health organisation statement", None, None),
    }  # the Cochrane review is cited for MS too, but it covers Crohn's disease only (ldn:beyondSourceScope)
    assert len(result) == 4
    assert [r["stance"] for r in result] == sorted(r["stance"] for r in result)


def test_ex02_claims_per_source_most_cited_first(built_store: Path) -> None:
    result = ask(built_store, "ex02-claims-per-source.rq")
    claims = {r["references"]: int(r["claims"]) for r in result}
    assert claims == {
        "3": 8, "4,7": 4, "1": 3, "5": 3, "12": 3, "14": 3,
        "2": 2, "10": 2, "11": 2, "13": 2, "6": 1, "8": 1, "9": 1,
    }
    assert result[0]["source"] == str(KG["source/niciu-2013"])
    assert result[0]["doi"] == "10.1007/s40263-013-0096-4"
    counts = [int(r["claims"]) for r in result]
    assert counts == sorted(counts, reverse=True)


def test_ex03_unsourced_claims_and_the_one_flagged_citation_needed(built_store: Path) -> None:
    result = ask(built_store, "ex03-unsourced-claims.rq")
    assert sorted((r["sourcing"], r.get("flaggedSince")) for r in result) == [
        ("citation needed", "2024-02"), ("unsourced", None), ("unsourced", None), ("unsourced", None),
    ]
    assert {r["text"] for r in result} >= {
        "as it is a strong opioid antagonist.",
        "Naltrexone is typically prescribed for opioid dependence or alcohol dependence",
    }


def test_ex04_the_evidence_about_fibromyalgia_as_a_graph(built_store: Path) -> None:
    graph = Graph().parse(data=run(built_store, "ex04-fibromyalgia-graph.rq", "turtle"), format="turtle")
    claims = set(graph.subjects(LDN.aboutCondition, KG.fibromyalgia))
    assert len(claims) == 6
    assert all((claim, RDF.type, LDN.EvidenceClaim) in graph for claim in claims)
    stances = {str(graph.value(graph.value(claim, LDN.stance), RDFS.label)) for claim in claims}
    assert stances == {"promising", "supports", "insufficient evidence", "reports"}
    dois = {str(graph.value(graph.value(claim, LDN.evidenceSource), LDN.doi)) for claim in claims}
    assert dois == {"10.3390/medsci6040082", "10.31128/AJGP-09-22-6564", "10.1186/s13063-021-05776-7"}


@pytest.mark.parametrize("query", sorted(p.name for p in EXAMPLES.glob("*.rq")))
def test_every_further_example_has_a_test(query: str) -> None:
    assert any(name.startswith(f"test_{query.split('-')[0]}_") for name in globals()), query


def test_the_catalogue_holds_every_query_with_its_title_question_and_form() -> None:
    examples = {example.stem: example for example in load_examples(Settings(root=REPO))}
    shipped = sorted(path.stem for path in (REPO / "queries").rglob("*.rq"))
    assert sorted(examples) == shipped
    cq04 = examples["cq04-efficacy-lacking"]
    assert (cq04.title, cq04.form) == ("CQ4", "SELECT")
    assert cq04.question == "For which conditions does the evidence say efficacy is lacking or has not been shown?"
    assert cq04.iri == "https://w3id.org/ldn-kg/queries/cq04-efficacy-lacking"
    assert cq04.text == (REPO / "queries" / "cq04-efficacy-lacking.rq").read_text()
    assert examples["cq06-sources"].question.endswith("the publication type is the curators' reading of each.")
    assert examples["ex04-fibromyalgia-graph"].form == "CONSTRUCT"


def test_the_catalogue_as_rdf_is_shacl_executables_aimed_at_the_endpoint(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, base="http://example.org/kg/")
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "q1-count.rq").write_text("# Q1: How many triples?\nSELECT (COUNT(*) AS ?n) { ?s ?p ?o }\n")
    (tmp_path / "queries" / "q2-any.rq").write_text("# Q2: Is there anything at all?\nASK { ?s ?p ?o }\n")
    (tmp_path / "queries" / "q3-all.rq").write_text("# Q3: Everything,\n# as a graph.\nCONSTRUCT WHERE { ?s ?p ?o }\n")
    (tmp_path / "queries" / "q4-me.rq").write_text("# Q4: What is said about me?\nDESCRIBE <http://example.org/me>\n")
    graph = example_graph(settings)
    schema, spex = Namespace("https://schema.org/"), Namespace("https://purl.expasy.org/sparql-examples/ontology#")
    q1, q3 = URIRef("http://example.org/kg/queries/q1-count"), URIRef("http://example.org/kg/queries/q3-all")
    assert set(graph.subjects(RDF.type, SH.SPARQLExecutable)) == {
        URIRef(f"http://example.org/kg/queries/{stem}") for stem in ("q1-count", "q2-any", "q3-all", "q4-me")
    }
    assert (q1, RDF.type, SH.SPARQLSelectExecutable) in graph
    assert graph.value(q1, SH.select) == Literal("# Q1: How many triples?\nSELECT (COUNT(*) AS ?n) { ?s ?p ?o }\n")
    assert graph.value(q1, schema.target) == URIRef("http://example.org/kg/sparql")
    assert (URIRef("http://example.org/kg/queries/q2-any"), RDF.type, SH.SPARQLAskExecutable) in graph
    assert graph.value(q3, RDFS.comment) == Literal("Everything, as a graph.", lang="en")
    assert graph.value(q3, RDFS.label) == Literal("Q3", lang="en")
    assert (q3, RDF.type, SH.SPARQLConstructExecutable) in graph
    assert graph.value(URIRef("http://example.org/kg/queries/q4-me"), spex.describe) is not None


@pytest.mark.parametrize(
    ("name", "text", "complaint"),
    [
        ("no-header.rq", "SELECT * { ?s ?p ?o }\n", "the first line must be a header comment"),
        ("no-title.rq", "# Which receptors?\nSELECT * { ?s ?p ?o }\n", "the first line must be a header comment"),
        ("empty.rq", "", "the first line must be a header comment"),
        ("not-a-query.rq", "# X1: What?\nPREFIX ex: <http://e/>\n", "not a SPARQL query"),
    ],
)
def test_a_bad_query_file_is_reported_by_name(tmp_path: Path, name: str, text: str, complaint: str) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / name).write_text(text)
    with pytest.raises(ExampleFileError, match=complaint) as raised:
        load_examples(Settings(root=tmp_path))
    assert raised.value.message.startswith(f"queries/{name}: ")


def test_two_query_files_with_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "queries" / "more").mkdir(parents=True)
    (tmp_path / "queries" / "q1.rq").write_text("# Q1: One?\nASK {}\n")
    (tmp_path / "queries" / "more" / "q1.rq").write_text("# Q1b: Another one?\nASK {}\n")
    with pytest.raises(ExampleFileError, match="queries/more/q1.rq: queries/q1.rq has the same name"):
        load_examples(Settings(root=tmp_path))
