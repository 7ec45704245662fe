"""A curator checks an addition before submitting it, with POST /validate or `kgserver validate`:
each broken addition is refused with a message that names the problem, good ones pass.

The catalogue of broken additions goes through POST /validate, the check every submission
passes, on the app in-process; `kgserver validate` (the whole graph, HermiT started afresh)
is run as a curator runs it in a terminal for a refusal, a pass and its JSON report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import SH, BNode, Graph, Namespace, URIRef
from serving import Reply, fetch

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.ttl"))
VALID = FIXTURES / "valid"
BASE = "https://w3id.org/ldn-kg/"
LDN = Namespace(f"{BASE}ontology#")
MEDIA_TYPES = {".ttl": "text/turtle", ".nt": "application/n-triples", ".jsonld": "application/ld+json",
               ".rdf": "application/rdf+xml"}


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the validate command as a curator would."""
    return subprocess.run([sys.executable, "-m", "kgserver", "validate", *args],
                          capture_output=True, text=True, timeout=300)


def check(app_base: str, addition: Path) -> Reply:
    """POST the addition to /validate, asking for the JSON report."""
    headers = {"Content-Type": MEDIA_TYPES[addition.suffix], "Accept": "application/json"}
    return fetch(f"{app_base}/validate", "POST", headers, body=addition.read_bytes())


def messages(report: dict, severity: str) -> list[str]:
    return [result["message"] for result in report["results"] if result["severity"] == severity]


def expected_message(fixture: Path) -> str:
    """Each fixture's first line says what the curator should be told."""
    first = fixture.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: ")
    return first.removeprefix("# expect: ")


def test_there_are_at_least_fifteen_distinct_broken_additions() -> None:
    assert len(INVALID) >= 15
    assert len({expected_message(f) for f in INVALID}) == len(INVALID)


@pytest.mark.parametrize("fixture", INVALID, ids=[f.stem for f in INVALID])
def test_invalid_addition_is_refused_with_its_message(app_base: str, fixture: Path) -> None:
    reply = check(app_base, fixture)
    assert reply.status == 200, reply.text  # a report, nothing stored: nothing was refused by the route
    report = reply.json()
    assert report["conforms"] is False
    assert any(expected_message(fixture) in message for message in messages(report, "Violation")), report


@pytest.mark.parametrize("name", ["claim-with-new-source.ttl", "claim-with-new-source.nt",
                                  "claim-with-new-source.jsonld", "claim-with-new-source.rdf"])
def test_valid_addition_passes_in_any_rdf_syntax(app_base: str, name: str) -> None:
    report = check(app_base, VALID / name).json()
    assert report["conforms"] is True and messages(report, "Violation") == [], report


def test_a_missing_identifier_is_a_warning_not_a_refusal(app_base: str) -> None:
    report = check(app_base, VALID / "condition-without-identifier.ttl").json()
    assert report["conforms"] is True
    warnings = [r for r in report["results"] if r["severity"] == "Warning"]
    assert any("No external identifier" in r["message"] for r in warnings)
    assert any(r["focusNode"].endswith("test-condition-without-identifier") for r in warnings)


def test_a_sequence_path_comes_out_of_the_shacl_report_as_a_path_not_text(app_base: str) -> None:
    """The source shape's `sh:path ( ldn:hasReading ldn:assignsType )` is reported as that RDF list,
    in the result and in the property shape restated under shp:SourceShape; JSON writes it with full IRIs."""
    fixture = FIXTURES / "invalid" / "37-level-from-a-source-without-a-reading.ttl"
    headers = {"Content-Type": "text/turtle", "Accept": "text/turtle"}
    reply = fetch(f"{app_base}/validate", "POST", headers, body=fixture.read_bytes())
    assert reply.status == 200 and reply.content_type == "text/turtle", reply.text
    report = Graph().parse(data=reply.text, format="turtle")
    [result] = report.subjects(SH.focusNode, URIRef(f"{BASE}id/source/unread-protocol"))
    path = report.value(result, SH.resultPath)
    assert isinstance(path, BNode)
    assert list(report.items(path)) == [LDN.hasReading, LDN.assignsType]
    shape = report.value(result, SH.sourceShape)
    assert report.value(predicate=SH.property, object=shape) == URIRef(f"{BASE}shapes#SourceShape")
    assert list(report.items(report.value(shape, SH.path))) == [LDN.hasReading, LDN.assignsType]

    [as_json] = [r for r in check(app_base, fixture).json()["results"] if r["focusNode"].endswith("/unread-protocol")]
    assert as_json["path"] == f"<{LDN.hasReading}>/<{LDN.assignsType}>"
    assert as_json["sourceShape"] == f"{BASE}shapes#SourceShape / <{LDN.hasReading}>/<{LDN.assignsType}>"


# --- kgserver validate, in a terminal ------------------------------------------------------


@pytest.mark.slow
def test_the_validate_command_refuses_a_broken_addition_with_its_message() -> None:
    fixture = FIXTURES / "invalid" / "01-claim-without-stance.ttl"
    result = validate(str(fixture))
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected_message(fixture) in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_the_validate_command_passes_a_good_addition_in_json_ld() -> None:
    result = validate(str(VALID / "claim-with-new-source.jsonld"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Violation" not in result.stdout and "VIOLATION" not in result.stdout


@pytest.mark.slow
def test_json_report_lists_violations_for_programs() -> None:
    fixture = FIXTURES / "invalid" / "06-source-year-after-claim.ttl"
    result = validate(str(fixture), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["conforms"] is False
    [violation] = [r for r in report["results"] if r["severity"] == "Violation"]
    assert violation["focus_node"] == "https://w3id.org/ldn-kg/id/claim/too-early"
    assert "cannot support a claim made earlier (2015)" in violation["message"]
