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
ADDITION_TRIPLES = 50


def generate_additions(base: str, triples: int = ADDITION_TRIPLES) -> Graph:
    """Valid-looking additions in the mini fixture's vocabulary: drugs that treat conditions.

    Each drug and its condition take five triples: two types, two labels, one ldn:treats.
    """
    ldn, kg = Namespace(f"{base}ontology#"), Namespace(f"{base}id/")
    additions = Graph()
    for index in range(triples // 5):
        drug, condition = kg[f"bench-drug-{index}"], kg[f"bench-condition-{index}"]
        additions.add((drug, RDF.type, ldn.Drug))
        additions.add((drug, RDFS.label, Literal(f"bench drug {index}")))
        additions.add((drug, ldn.treats, condition))
        additions.add((condition, RDF.type, ldn.Condition))
        additions.add((condition, RDFS.label, Literal(f"bench condition {index}")))
    return additions


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

    for with_reasoner in (True, False):
        seconds = median_seconds(
            VALIDATE_RUNS,
            partial(validate_additions, additions, sources.data, sources.shapes, sources.ontology, with_reasoner),
        )
        label = "with reasoner" if with_reasoner else "SHACL only"
        print(f"validate {len(additions)}-triple addition, {label}, median of {VALIDATE_RUNS}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
