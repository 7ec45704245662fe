"""How fast a curator's 50-triple addition is checked: SHACL, OWL consistency, and a whole submission over HTTP.

The addition is a new evidence claim about an existing condition (fibromyalgia), resting on a
new journal article with DOI, title and year, with its authors, the trial it reports and a
finding of that trial, and a second claim citing the same article: it conforms to the shapes.
It is checked against two stores: the bundled graph as `kgserver build` makes it, and the
bundled graph plus about 1M generated triples (bench_sparql.py's generator: claims, their
sources with DOIs, conditions, all pointing at the bundled low-dose naltrexone).

For each store it prints:
  scope        finding the addition's neighbourhood in the store (part of SHACL)
  SHACL        Checker.check without the reasoner: neighbourhood + pySHACL (median of warm runs)
  OWL          the warm HermiT on ontology + neighbourhood: the first check of a fresh JVM
               (start, ontology load, cold JIT), then the median of warm checks
  round trip   POST /submissions to `kgserver serve` (a curator's token, text/turtle, 201 expected):
               the first submission, then the median of the next ones (each with fresh IRIs)
  before       (bundled only) the former whole-graph SHACL and owlready2 HermiT run, once
Targets (issue 5): SHACL < 100 ms bundled and < 1 s at 1M; round trip < 1.5 s and < 3 s.

Run:  .venv/bin/python bench/bench_curation.py                  # bundled and 1M
      .venv/bin/python bench/bench_curation.py --size 100000    # a quicker run
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pyoxigraph
from rdflib import Graph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sparql import (
    BIN,
    DATA_GRAPH,
    free_port,
    generated_dataset,
    start,
    stop,
    wait_ready,
)

from kgserver import changes, hermit
from kgserver import store as kgstore
from kgserver.config import Settings
from kgserver.curation.checks import Checker
from kgserver.curation.scope import context_graphs, neighbourhood
from kgserver.reasoning import reason
from kgserver.validation import validate_additions

WARM_RUNS = 10
HTTP_RUNS = 5

ADDITION = """
@prefix ldn: <https://w3id.org/ldn-kg/ontology#> .
@prefix kg: <https://w3id.org/ldn-kg/id/> .
@prefix src: <https://w3id.org/ldn-kg/id/source/> .
@prefix au: <https://w3id.org/ldn-kg/id/authors/> .
@prefix claim: <https://w3id.org/ldn-kg/id/claim/> .
@prefix study: <https://w3id.org/ldn-kg/id/study/> .
@prefix finding: <https://w3id.org/ldn-kg/id/finding/> .
@prefix per: <https://w3id.org/ldn-kg/id/periodical/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix reading: <https://w3id.org/ldn-kg/id/reading/> .

claim:bench-{n}-trial-results a ldn:EvidenceClaim ;
    rdfs:label "Bench claim {n}: a fibromyalgia trial reports less pain with low-dose naltrexone"@en ;
    ldn:articleText "All clinical studies examined showed statistically significant improvements in pain and pain tolerance with mild side effects" ;
    ldn:quotation "statistically significant improvements in pain" ;
    ldn:stance ldn:Promising ;
    ldn:evidenceLevel ldn:ClinicalStudyEvidence ;
    ldn:claimYear 2025 ;
    ldn:aboutIntervention kg:low-dose-naltrexone ;
    ldn:aboutCondition kg:fibromyalgia ;
    ldn:aboutStudy study:bench-{n}-trial ;
    ldn:claimedBy au:bench-{n}-authors ;
    ldn:evidenceSource src:bench-{n}-article ;
    ldn:sourcingStatus ldn:Sourced ;
    ldn:statedIn src:wikipedia-low-dose-naltrexone ;
    ldn:evidenceCode ldn:CuratorInferenceFromWikipedia .

claim:bench-{n}-trial-design a ldn:EvidenceClaim ;
    rdfs:label "Bench claim {n}: the fibromyalgia trial was randomized"@en ;
    ldn:articleText "Clinical trials for treatment of fibromyalgia were initiated in 2021." ;
    ldn:stance ldn:Reports ;
    ldn:evidenceLevel ldn:ClinicalStudyEvidence ;
    ldn:claimYear 2025 ;
    ldn:aboutCondition kg:fibromyalgia ;
    ldn:aboutStudy study:bench-{n}-trial ;
    ldn:claimedBy au:bench-{n}-authors ;
    ldn:evidenceSource src:bench-{n}-article ;
    ldn:sourcingStatus ldn:Sourced ;
    ldn:statedIn src:wikipedia-low-dose-naltrexone ;
    ldn:evidenceCode ldn:CuratorInferenceFromWikipedia .

src:bench-{n}-article a ldn:StudyReportArticle ;
    rdfs:label "Low-dose naltrexone for fibromyalgia: bench trial {n}"@en ;
    ldn:authorList "Bench A, Example B" ;
    ldn:authoredBy au:bench-{n}-authors ;
    ldn:publicationYear 2024 ;
    ldn:publishedIn per:trials ;
    ldn:doi "10.5555/bench.{n}" ;
    ldn:pmid "9{n:07d}" ;
    ldn:pmcid "PMC9{n:06d}" ;
    ldn:hasReading reading:bench-{n} .

reading:bench-{n} a ldn:CuratorInterpretation ;
    rdfs:label "The curators' reading of bench trial {n}"@en ;
    ldn:interpretationOf "Clinical trials for treatment of fibromyalgia" ;
    ldn:assignsType ldn:StudyReportArticle ;
    ldn:coversCondition kg:fibromyalgia ;
    prov:wasAttributedTo kg:ldn-kg-curators .

au:bench-{n}-authors a ldn:AuthorGroup ;
    rdfs:label "Bench A, Example B ({n})"@en .

study:bench-{n}-trial a ldn:Study ;
    rdfs:label "Bench trial {n} of low-dose naltrexone for fibromyalgia"@en ;
    ldn:studyDesign ldn:RandomizedControlledTrial ;
    ldn:studyTopic "double-blind, randomized, placebo-controlled trial" ;
    ldn:studiesIntervention kg:low-dose-naltrexone ;
    ldn:studiesCondition kg:fibromyalgia ;
    ldn:startYear 2022 ;
    ldn:reportedIn src:bench-{n}-article .

finding:bench-{n}-less-pain a ldn:StatisticalFinding ;
    rdfs:label "Bench trial {n}: share reporting less pain"@en ;
    ldn:proportion 0.42 ;
    ldn:population "participants taking low-dose naltrexone" ;
    ldn:findingOf study:bench-{n}-trial .
"""


def addition(n: int) -> str:
    """The addition with IRIs, DOI and identifiers of its own, so that submissions do not collide."""
    return ADDITION.replace("{n}", str(n)).replace("{n:07d}", f"{n:07d}").replace("{n:06d}", f"{n:06d}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median(runs: int, action: Callable[[int], object]) -> float:
    return statistics.median(timed(lambda i=i: action(i)) for i in range(runs))


# ---------------------------------------------------------------------------------- stores

def build_bundled(location: Path) -> None:
    """The bundled graph, built as a user builds it."""
    subprocess.run([str(BIN / "kgserver"), "build", "--store", str(location)], check=True, capture_output=True)


def build_large(location: Path, scratch: Path, size: int) -> int:
    """The bundled graph plus about `size` generated triples in the data graph, with change records."""
    build_bundled(location)
    dataset = generated_dataset(scratch, size)
    settings = Settings.from_env()
    store = pyoxigraph.Store(str(location))
    store.bulk_load(path=str(dataset.path), format=pyoxigraph.RdfFormat.N_TRIPLES, to_graph=pyoxigraph.NamedNode(DATA_GRAPH))
    live = changes.read_state(store, settings).live_graphs
    changes.record_loaded(store, settings, live)
    total = len(store)
    store.flush()
    del store
    gc.collect()
    return total


# ---------------------------------------------------------------------------------- in process

def measure_in_process(location: Path, label: str, before: bool) -> None:
    """SHACL and OWL times of the checker's parts, on the store opened read-only."""
    settings = Settings.from_env()
    store = kgstore.open_read_only(location)
    first = Graph().parse(data=addition(0), format="turtle")
    print(f"\n{label}: {len(store)} quads; addition of {len(first)} triples", flush=True)
    state = changes.read_state(store, settings)
    graphs = context_graphs(state, settings)
    checker = Checker(settings)  # its reasoner is not started: the SHACL part only
    shacl_cold = timed(lambda: checker.check(store, first, with_reasoner=False))
    additions = [Graph().parse(data=addition(i + 1), format="turtle") for i in range(WARM_RUNS)]
    scopes = [neighbourhood(store, settings, a, graphs) for a in additions]
    scope_ms = median(WARM_RUNS, lambda i: neighbourhood(store, settings, additions[i], graphs))
    shacl = median(WARM_RUNS, lambda i: checker.check(store, additions[i], with_reasoner=False))
    report = checker.check(store, first, with_reasoner=False)
    print(f"  scope           {ms(scope_ms)}  ({len(scopes[0].data)} data + {len(scopes[0].ontology)} ontology triples)")
    print(f"  SHACL           {ms(shacl)}  median of {WARM_RUNS} (first in this process {ms(shacl_cold).strip()},"
          f" shapes parsed then); conforms={report.conforms}, {len(report.results)} results")
    ontology = hermit.ontology_document(kgstore.read_graph(store, settings.ontology_graph))
    reasoner = hermit.WarmReasoner()
    try:
        owl_cold = timed(lambda: reasoner.check_consistency(scopes[0].data, ontology))
        owl_warm = median(WARM_RUNS, lambda i: reasoner.check_consistency(scopes[i].data, ontology))
        verdict = reasoner.check_consistency(scopes[0].data, ontology)[0]
    finally:
        reasoner.close()
    print(f"  OWL (HermiT)    {ms(owl_warm)}  median of {WARM_RUNS} warm (cold: {ms(owl_cold).strip()}"
          f" with JVM start and ontology load); consistent={verdict}")
    if before:
        existing = Graph()
        for iri in graphs:
            if iri != settings.ontology_graph:
                existing += kgstore.read_graph(store, iri)
        shapes = kgstore.read_graph(store, settings.shapes_graph)
        onto = kgstore.read_graph(store, settings.ontology_graph)
        old_shacl = timed(lambda: validate_additions(first, existing, shapes, onto, with_reasoner=False))
        old_owl = timed(lambda: reason(onto, existing, first))
        print(f"  before: whole-graph SHACL {ms(old_shacl).strip()}, owlready2 HermiT {ms(old_owl).strip()}")


# ---------------------------------------------------------------------------------- over HTTP

def measure_round_trip(location: Path) -> None:
    """POST /submissions to a served store with a curator's token: first, then median of the next."""
    added = subprocess.run([str(BIN / "kgserver"), "curator", "add", "bench", "--store", str(location)],
                           check=False, capture_output=True, text=True)
    if added.returncode != 0:
        print(f"  round trip      skipped: `kgserver curator add` failed ({added.stderr.strip()[:200]})")
        return
    token = added.stdout.strip().splitlines()[-1]
    port = free_port()
    process = start([str(BIN / "kgserver"), "serve", "--store", str(location), "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1", "--check-budget", "0"])  # one client, timed, not metered
    try:
        wait_ready(f"http://127.0.0.1:{port}/sparql", process)
        url = f"http://127.0.0.1:{port}/submissions"
        counter = iter(range(1000, 2000))

        def submit(_i: int = 0) -> None:
            body = addition(next(counter)).encode("utf-8")
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Authorization": f"Bearer {token}", "Content-Type": "text/turtle", "Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
                detail = error.read().decode("utf-8", "replace")[:300]
                raise RuntimeError(f"POST /submissions answered {status}: {detail}") from None
            if status != 201:
                raise RuntimeError(f"POST /submissions answered {status}, not 201")

        try:
            first = timed(submit)
        except RuntimeError as error:
            print(f"  round trip      skipped: {error}")
            return
        warm = median(HTTP_RUNS, submit)
        print(f"  round trip      {ms(warm)}  median of {HTTP_RUNS} (first submission {ms(first).strip()})")
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="generated triples on top of the bundled graph")
    parser.add_argument("--no-http", action="store_true", help="skip the round trips through `kgserver serve`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kgserver-bench-curation-") as tmp:
        scratch = Path(tmp)
        bundled = scratch / "bundled"
        build_bundled(bundled)
        measure_in_process(bundled, "bundled", before=True)
        gc.collect()  # the store closes when its last reference goes; the server needs it
        if not args.no_http:
            measure_round_trip(bundled)
        large = scratch / "large"
        print(f"\nbuilding the bundled graph + {args.size} generated triples ...", file=sys.stderr, flush=True)
        build_large(large, scratch, args.size)
        measure_in_process(large, f"bundled + {args.size} generated", before=False)
        gc.collect()
        if not args.no_http:
            measure_round_trip(large)


if __name__ == "__main__":
    main()
