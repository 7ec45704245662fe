"""A curator's addition is checked against what it touches, not the whole graph, and gets the
same answer: every broken or good addition, and many made-up ones, are judged exactly as a
full validation judges them; HermiT stays warm between checks and recovers when it dies or hangs."""

from __future__ import annotations

import os
import random
import signal
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rdflib import RDFS, BNode, Graph, URIRef
from rdflib.term import Node

from kgserver import changes, hermit
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.curation.checks import Checker
from kgserver.errors import KgError
from kgserver.parsing import parse_file
from kgserver.validation import (
    ValidationReport,
    ValidationResult,
    prepare_shapes,
    validate_additions,
)

pytestmark = pytest.mark.slow  # compares each scoped check with a whole-graph validation and the full reasoner

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GENERATED = 16
ADDITIONS = sorted((FIXTURES / "invalid").glob("*.ttl")) + sorted((FIXTURES / "valid").glob("*.*"))
PREFIXES = """
@prefix ldn: <https://w3id.org/ldn-kg/ontology#> .
@prefix kg: <https://w3id.org/ldn-kg/id/> .
@prefix src: <https://w3id.org/ldn-kg/id/source/> .
@prefix rs: <https://w3id.org/ldn-kg/id/regulatory-status/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""

# Additions that need stored context beyond the nodes' own triples: other sources' DOIs and
# reference numbers, claims behind shortcuts, claims stating a regulatory status, other regimens.
CONTEXT_ADDITIONS = {
    "treats-with-a-supporting-claim": "kg:naltrexone ldn:treats kg:opioid-dependence .",
    "treats-without-one": "kg:naltrexone ldn:treats kg:long-covid .",
    "studied-with-a-claim": "kg:low-dose-naltrexone ldn:studiedToTreat kg:fibromyalgia .",
    "studied-without-one": "kg:low-dose-naltrexone ldn:offLabelUseFor kg:opioid-dependence .",
    "reused-reference-number": 'src:new a ldn:JournalArticle ; rdfs:label "New"@en ; ldn:referenceNumber 3 .',
    "doi-in-lower-case": 'src:new a ldn:WebDocument ; rdfs:label "New"@en ; ldn:doi "10.1007/s10067-014-2517-2" .',
    "stated-regulatory-status": 'rs:low-dose-naltrexone-uk rdfs:comment "mentioned again" .',
    "ultra-low-regimen-above-the-low-dose": """kg:new-regimen a ldn:DoseRegimen ; rdfs:label "new"@en ;
        ldn:regimenOf kg:naltrexone ; ldn:doseLevel ldn:UltraLowDose ; ldn:amountInMilligrams 10.0 .""",
    "regimen-lower-than-another-drug": """kg:new-regimen a ldn:DoseRegimen ; rdfs:label "new"@en ;
        ldn:regimenOf kg:fibromyalgia ; ldn:doseLevel ldn:UltraLowDose ; ldn:lowerThan kg:low-dose-naltrexone .""",
}


@pytest.fixture(scope="module")
def settings(sources_root: Path) -> Settings:
    return Settings(root=sources_root)


@pytest.fixture(scope="module")
def store(built_store: Path) -> Iterator[kgstore.GraphStore]:
    """The built store, opened read-only as a checker only reads it."""
    opened = kgstore.open_read_only(built_store)
    yield opened
    del opened


@pytest.fixture(scope="module")
def checker(settings: Settings) -> Iterator[Checker]:
    """The checker the app owns: prepared shapes and ontology, and a warm HermiT, kept between checks."""
    owned = Checker(settings)
    yield owned
    owned.close()


@pytest.fixture(scope="module")
def whole_graph(store: kgstore.GraphStore, settings: Settings) -> tuple[Graph, Graph, Graph]:
    """Everything a full validation reads: the existing data, the shapes and the ontology."""
    state = changes.read_state(store, settings)
    schema = {settings.ontology_graph, settings.shapes_graph, settings.meta_graph}
    existing = Graph()
    for iri in state.live_graphs:
        if iri not in schema:
            existing += kgstore.read_graph(store, iri)
    shapes = prepare_shapes(kgstore.read_graph(store, settings.shapes_graph))  # parsed once for every full check
    ontology = kgstore.read_graph(store, settings.ontology_graph)
    return existing, shapes, ontology


def full_check(whole_graph: tuple[Graph, Graph, Graph], addition: Graph, with_reasoner: bool = False) -> ValidationReport:
    """How additions were checked before: pySHACL (and HermiT) over every stored triple."""
    existing, shapes, ontology = whole_graph
    return validate_additions(addition, existing, shapes, ontology, with_reasoner=with_reasoner)


def comparable(report: ValidationReport, addition: Graph, whole_graph: tuple[Graph, Graph, Graph]) -> list[ValidationResult]:
    """The results with what is arbitrary set aside.

    The store's blank nodes get new labels each time they are read, and a node with two
    labels is shown under either one (rdflib picks), so those are named alike.
    """
    own = set(addition.subjects()) | set(addition.objects())
    existing = whole_graph[0]

    def value(term: Node | None) -> Node | None:
        return BNode("stored") if isinstance(term, BNode) and term not in own else term

    def label(result: ValidationResult) -> str | None:
        focus = result.focus_node if isinstance(result.focus_node, URIRef) else None
        names = {str(o) for g in (existing, addition) for o in g.objects(focus, RDFS.label)} if focus else set()
        return f"one of {sorted(names)}" if len(names) > 1 and result.focus_label in names else result.focus_label

    return [replace(result, value=value(result.value), focus_label=label(result)) for result in report.results]


def same_results(scoped: ValidationReport, full: ValidationReport, addition: Graph, whole_graph) -> bool:
    """Do the scoped and the full check report the same results about the addition?"""
    return comparable(scoped, addition, whole_graph) == comparable(full, addition, whole_graph)


def generated_addition(data: Graph, seed: int) -> Graph:
    """A made-up addition: a few stored nodes' triples, some dropped, some objects swapped, some renamed."""
    rng = random.Random(seed)
    subjects = sorted({subject for subject in data.subjects() if isinstance(subject, URIRef)})
    objects_by_predicate: dict[URIRef, list] = defaultdict(list)
    for _subject, predicate, obj in sorted(data):
        objects_by_predicate[predicate].append(obj)
    addition = Graph()
    for index, subject in enumerate(rng.sample(subjects, 3)):
        renamed = URIRef(f"https://w3id.org/ldn-kg/id/generated/{seed}-{index}") if rng.random() < 0.5 else subject
        for predicate, obj in sorted(data.predicate_objects(subject)):
            if rng.random() < 0.2:
                continue
            if rng.random() < 0.2:
                obj = rng.choice(objects_by_predicate[predicate])
            addition.add((renamed, predicate, obj))
    return addition


@pytest.mark.parametrize("fixture", ADDITIONS, ids=[f.name for f in ADDITIONS])
def test_a_fixture_addition_gets_the_same_results_as_a_full_validation(fixture, store, settings, checker, whole_graph) -> None:
    addition = parse_file(fixture, settings.base)
    scoped = checker.check(store, addition, with_reasoner=False)
    assert same_results(scoped, full_check(whole_graph, addition), addition, whole_graph)


@pytest.mark.parametrize("name", sorted(CONTEXT_ADDITIONS))
def test_an_addition_needing_stored_context_gets_the_same_results(name, store, settings, checker, whole_graph) -> None:
    addition = Graph().parse(data=PREFIXES + CONTEXT_ADDITIONS[name], format="turtle")
    scoped = checker.check(store, addition, with_reasoner=False)
    assert same_results(scoped, full_check(whole_graph, addition), addition, whole_graph)


@pytest.mark.parametrize("seed", range(GENERATED))
def test_a_generated_addition_gets_the_same_results(seed, store, settings, checker, whole_graph) -> None:
    addition = generated_addition(kgstore.read_graph(store, settings.data_graph), seed)
    scoped = checker.check(store, addition, with_reasoner=False)
    assert same_results(scoped, full_check(whole_graph, addition), addition, whole_graph)


def test_the_generated_additions_do_break_rules(store, settings, checker) -> None:
    """The made-up additions are worth comparing only if many of them break some rule."""
    data = kgstore.read_graph(store, settings.data_graph)
    reports = [checker.check(store, generated_addition(data, seed), with_reasoner=False) for seed in range(GENERATED)]
    assert sum(not report.conforms for report in reports) >= 5


@pytest.mark.parametrize(
    "name", ["19-condition-typed-as-drug.ttl", "25-two-publication-years.ttl", "26-drug-given-as-condition.ttl"]
)
def test_an_inconsistent_addition_is_refused_as_by_the_full_reasoner(name, store, settings, checker, whole_graph) -> None:
    addition = parse_file(FIXTURES / "invalid" / name, settings.base)
    scoped = checker.check(store, addition)
    assert same_results(scoped, full_check(whole_graph, addition, with_reasoner=True), addition, whole_graph)


@pytest.mark.parametrize("seed", [0, 6, 9, 13])
def test_a_generated_addition_gets_the_same_consistency_verdict(seed, store, settings, checker, whole_graph) -> None:
    """Seeds 6, 9 and 13 make the graph inconsistent (a stored node given a disjoint class), 0 does not."""
    addition = generated_addition(kgstore.read_graph(store, settings.data_graph), seed)
    scoped = checker.check(store, addition)
    assert same_results(scoped, full_check(whole_graph, addition, with_reasoner=True), addition, whole_graph)


def test_a_disjointness_clash_is_reported_with_its_cause(store, settings, checker) -> None:
    addition = parse_file(FIXTURES / "invalid" / "19-condition-typed-as-drug.ttl", settings.base)
    [result] = [r for r in checker.check(store, addition).results if r.focus_node is None]
    assert result.severity == "Violation"
    assert "logically inconsistent" in result.message
    assert "fibromyalgia is both a" in result.message


def test_a_consistent_addition_passes_the_reasoner(store, settings, checker) -> None:
    addition = parse_file(FIXTURES / "valid" / "claim-with-new-source.ttl", settings.base)
    report = checker.check(store, addition)
    assert report.conforms, report.results


def test_the_reasoner_jvm_is_reused_from_check_to_check(store, settings, checker) -> None:
    addition = parse_file(FIXTURES / "valid" / "claim-with-new-source.ttl", settings.base)
    checker.check(store, addition)
    first = checker.reasoner.pid
    checker.check(store, addition)
    assert first is not None and checker.reasoner.pid == first


def test_warming_up_starts_the_reasoner_before_the_first_check(store, settings, checker) -> None:
    checker.reasoner.close()
    checker.warm_up(store).join(timeout=120)
    assert checker.reasoner.pid is not None


@pytest.fixture
def reasoner() -> Iterator[hermit.WarmReasoner]:
    """A reasoner of the test's own, so that killing it leaves the checker's alone."""
    own = hermit.WarmReasoner()
    yield own
    own.close()


@pytest.fixture(scope="module")
def ontology(store: kgstore.GraphStore, settings: Settings) -> hermit.OntologyDocument:
    return hermit.ontology_document(kgstore.read_graph(store, settings.ontology_graph))


def test_a_killed_jvm_is_started_again_on_the_next_check(reasoner, ontology, settings) -> None:
    clash = Graph().parse(data=PREFIXES + "kg:fibromyalgia a ldn:Condition , ldn:Drug .", format="turtle")
    assert reasoner.check_consistency(clash, ontology)[0] is False
    killed = reasoner.pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    assert reasoner.check_consistency(clash, ontology)[0] is False
    assert reasoner.pid not in (None, killed)


def test_a_check_that_takes_too_long_stops_with_a_clear_error(reasoner, ontology, settings) -> None:
    addition = parse_file(FIXTURES / "valid" / "claim-with-new-source.ttl", settings.base)
    reasoner.check_consistency(addition, ontology)
    with pytest.raises(KgError, match=r"did not finish the consistency check within 0\.001 s"):
        reasoner.check_consistency(addition, ontology, timeout=0.001)
    assert reasoner.check_consistency(addition, ontology) == (True, "")
