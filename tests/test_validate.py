"""A curator validates additions with `kgserver validate` before submitting them: each
broken addition is refused with a message that names the problem, good ones pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.ttl"))
VALID = FIXTURES / "valid"


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the validate command as a curator would."""
    return subprocess.run([sys.executable, "-m", "kgserver", "validate", *args],
                          capture_output=True, text=True, timeout=300)


def expected_message(fixture: Path) -> str:
    """Each fixture's first line says what the curator should be told."""
    first = fixture.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: ")
    return first.removeprefix("# expect: ")


def test_there_are_at_least_fifteen_distinct_broken_additions() -> None:
    assert len(INVALID) >= 15
    assert len({expected_message(f) for f in INVALID}) == len(INVALID)


@pytest.mark.parametrize("fixture", INVALID, ids=[f.stem for f in INVALID])
def test_invalid_addition_is_refused_with_its_message(fixture: Path) -> None:
    result = validate(str(fixture))
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected_message(fixture) in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["claim-with-new-source.ttl", "claim-with-new-source.nt",
                                  "claim-with-new-source.jsonld", "claim-with-new-source.rdf"])
def test_valid_addition_passes_in_any_rdf_syntax(name: str) -> None:
    result = validate(str(VALID / name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Violation" not in result.stdout and "VIOLATION" not in result.stdout


def test_a_missing_identifier_is_a_warning_not_a_refusal() -> None:
    result = validate(str(VALID / "condition-without-identifier.ttl"), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["conforms"] is True
    warnings = [r for r in report["results"] if r["severity"] == "Warning"]
    assert any("No external identifier" in r["message"] for r in warnings)
    assert any(r["focus_node"].endswith("test-condition-without-identifier") for r in warnings)


def test_json_report_lists_violations_for_programs() -> None:
    fixture = FIXTURES / "invalid" / "06-source-year-after-claim.ttl"
    result = validate(str(fixture), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["conforms"] is False
    [violation] = [r for r in report["results"] if r["severity"] == "Violation"]
    assert violation["focus_node"] == "https://w3id.org/ldn-kg/id/claim/too-early"
    assert "cannot support a claim made earlier (2015)" in violation["message"]
