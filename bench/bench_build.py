"""How long a build takes, and how long validating a small addition takes, on the bundled graph.

Run: .venv/bin/python bench/bench_build.py   (LDNKG_ROOT picks other sources)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from rdflib import RDF, RDFS, Graph, Literal, Namespace

from kgserver.build import build
from kgserver.config import Settings
from kgserver.sources import read_sources
from kgserver.validation import validate_additions

BUILD_RUNS = 3
VALIDATE_RUNS = 5


def generate_additions(base: str, claims: int = 3) -> Graph:
    """A curator's addition in the project's vocabulary: one new source and its claims.

    The source and its author group take 8 triples and each claim 14, so the default
    three claims make the 50-triple addition the issue names.
    """
    ldn, kg = Namespace(f"{base}ontology#"), Namespace(f"{base}id/")
    source, authors = kg["source/bench-source"], kg["authors/bench-authors"]
    g = Graph()
    for triple in (
        (source, RDF.type, ldn.StudyReportArticle), (source, RDFS.label, Literal("Bench study report")),
        (source, ldn.publicationYear, Literal(2024)), (source, ldn.publishedIn, kg["periodical/trials"]),
        (source, ldn.doi, Literal("10.1186/bench-source")), (source, ldn.authoredBy, authors),
        (authors, RDF.type, ldn.AuthorGroup), (authors, RDFS.label, Literal("Bench A, Bench B")),
    ):
        g.add(triple)
    for index in range(claims):
        claim = kg[f"claim/bench-claim-{index}"]
        for predicate, obj in (
            (RDF.type, ldn.EvidenceClaim), (RDFS.label, Literal(f"Bench claim {index}")),
            (ldn.articleText, Literal("Clinical trials for treatment of fibromyalgia were initiated in 2021.")),
            (ldn.stance, ldn.Reports), (ldn.evidenceLevel, ldn.ClinicalStudyEvidence),
            (ldn.aboutIntervention, kg["low-dose-naltrexone"]), (ldn.aboutCondition, kg.fibromyalgia),
            (ldn.claimedBy, authors), (ldn.evidenceSource, source), (ldn.sourcingStatus, ldn.Sourced),
            (ldn.statedIn, kg["source/wikipedia-low-dose-naltrexone"]),
            (ldn.evidenceCode, ldn.CuratorInferenceFromWikipedia),
            (ldn.claimYear, Literal(2024)),
        ):
            g.add((claim, predicate, obj))
    return g


def median_seconds(runs: int, action: Callable[[], object]) -> float:
    """The median wall-clock time of `runs` calls of `action`."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def build_once(settings: Settings) -> None:
    with tempfile.TemporaryDirectory(prefix="kgserver-bench-") as scratch:
        build(settings, Path(scratch) / "store")


def main() -> None:
    settings = Settings.from_env()
    sources = read_sources(settings)
    additions = generate_additions(settings.base)
    print(f"sources: {settings.root} ({len(sources.ontology)} ontology, {len(sources.data)} data, "
          f"{len(sources.shapes)} shapes triples)")

    build_time = median_seconds(BUILD_RUNS, partial(build_once, settings))
    print(f"build, median of {BUILD_RUNS}: {build_time:.2f} s")

    report = validate_additions(additions, sources.data, sources.shapes, sources.ontology)
    print(f"the {len(additions)}-triple addition conforms: {report.conforms}")
    for with_reasoner in (True, False):
        seconds = median_seconds(
            VALIDATE_RUNS,
            partial(validate_additions, additions, sources.data, sources.shapes, sources.ontology, with_reasoner),
        )
        label = "with reasoner" if with_reasoner else "SHACL only"
        print(f"validate {len(additions)}-triple addition, {label}, median of {VALIDATE_RUNS}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
