"""The shapes change under a live store: a curator's submission accepted under the old shapes is
kept by the rebuild, and `kgserver check --store` names it as no longer conforming."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from serving import fetch, serving

pytestmark = pytest.mark.slow  # rebuilds from old and new sources

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NO_YEAR = FIXTURES / "invalid" / "29-sourced-claim-without-year.ttl"
BASE = "https://w3id.org/ldn-kg/"
META = f"{BASE}graph/meta"


def without_the_claim_year_rule(shapes: Path) -> None:
    """The shapes as they were before a sourced claim needed a year."""
    text = shapes.read_text(encoding="utf-8")
    rule = re.compile(r"    \[\n        a sh:SPARQLConstraint ; sh:severity sh:Violation ;\n        sh:message \"The claim cites [^\n]*has no year.*?\"\"\" \] ,\n", re.DOTALL)
    older, count = rule.subn("", text)
    assert count == 1
    shapes.write_text(older, encoding="utf-8")


def changed_in(run_query, store: Path) -> dict[str, int]:
    """The version in which each graph last changed, from the meta graph."""
    rows = run_query(store, f"SELECT ?g ?v WHERE {{ GRAPH <{META}> {{ ?g ldn:changedInVersion ?v }} }}")
    return {row["g"]: int(row["v"]) for row in rows}


def test_a_submission_under_old_shapes_is_kept_and_reported_after_the_rebuild(
    kgserver, add_curator, sources_root, run_query, tmp_path
):
    old = tmp_path / "old-sources"
    for folder in ("ontology", "graph", "shapes", "queries"):
        shutil.copytree(sources_root / folder, old / folder)
    without_the_claim_year_rule(old / "shapes" / "ldn-shapes.ttl")
    store = tmp_path / "store"
    built = kgserver("build", "--store", store, root=old)
    assert built.returncode == 0, built.stdout + built.stderr
    token = add_curator("ada", "--store", store)

    with serving(store, old, tmp_path / "serve.log") as running:
        answer = fetch(f"{running.base}/submissions", "POST",
                       {"Content-Type": "text/turtle", "Authorization": f"Bearer {token}", "Accept": "application/json"},
                       300, NO_YEAR.read_bytes())
    assert answer.status == 201, answer.text  # the old shapes let a sourced claim go without a year
    submission = answer.json()["graph"].removeprefix(f"{BASE}graph/submission/")
    before = changed_in(run_query, store)

    rebuilt = kgserver("build", "--store", store, root=sources_root)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    after = changed_in(run_query, store)
    moved = {graph for graph, version in after.items() if before.get(graph) != version}
    assert moved == {f"{BASE}graph/shapes"}  # the data, ontology and the submission stay as they were
    assert f"{BASE}graph/submission/{submission}" in after

    checked = kgserver("check", "--store", store, root=sources_root)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "submissions: 1 checked, 1 no longer conform" in checked.stdout
    assert f"submission {submission} no longer conforms:" in checked.stdout
    assert "has no year (ldn:claimYear)" in checked.stdout
    assert "Traceback" not in checked.stdout + checked.stderr
