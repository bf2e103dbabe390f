"""The review prompt and the lenient findings parser."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from localroute.tasks.findings import Finding
from localroute.tasks.review import (
    FINDINGS_SCHEMA,
    MAX_FALLBACK_CHARS,
    build_review_prompt,
    parse_findings,
)

# Reviewed range for most parser tests: 0-based file lines 9..19 (1-based 10..20).
FIRST, LAST = 9, 19


def parse(answer: str) -> list[Finding]:
    return parse_findings(answer, first_line=FIRST, last_line=LAST)


WELL_FORMED = json.dumps(
    {
        "findings": [
            {
                "line": 12,
                "end_line": 13,
                "severity": "error",
                "message": "Possible None dereference.",
                "suggestion": "Check for None first.",
            },
            {"line": 15, "severity": "hint", "message": "Name is unclear."},
        ]
    }
)
WELL_FORMED_EXPECTED = [
    Finding(11, 12, "error", "Possible None dereference.", "Check for None first."),
    Finding(14, 14, "hint", "Name is unclear."),
]


# --- prompt ----------------------------------------------------------------------------


def test_prompt_numbers_lines_from_their_file_line() -> None:
    prompt = build_review_prompt(
        path_label="src/app.py",
        language="python",
        lines=["def f(x):\n", "    return x.y\n", "", "print(f(None))"],
        first_line=97,
    )
    assert " 98 | def f(x):" in prompt.user
    assert " 99 |     return x.y" in prompt.user
    assert "100 | \n" in prompt.user
    assert "101 | print(f(None))" in prompt.user
    assert " 97 |" not in prompt.user and "102 |" not in prompt.user
    assert "lines 98-101" in prompt.user
    assert "src/app.py" in prompt.user and "python" in prompt.user


def test_prompt_single_line_and_no_language() -> None:
    prompt = build_review_prompt(
        path_label="x", language=None, lines=["rm -rf $DIR/"], first_line=0
    )
    assert "1 | rm -rf $DIR/" in prompt.user
    assert "line 1 " in prompt.user
    assert "None" not in prompt.user


def test_prompt_asks_for_the_json_shape_and_carries_the_schema() -> None:
    prompt = build_review_prompt(path_label="a.c", language="c", lines=["int x;"], first_line=4)
    for word in ("findings", "line", "end_line", "severity", "message", "suggestion"):
        assert f'"{word}"' in prompt.user
    for severity in ("error", "warning", "info", "hint"):
        assert severity in prompt.user
    assert '{"findings": []}' in prompt.user
    assert "JSON" in prompt.system and "review" in prompt.system
    assert prompt.json_schema is FINDINGS_SCHEMA
    # Short enough for a tiny local model's context.
    assert len(prompt.system) + len(prompt.user) < 1200


def test_schema_is_plain_enough_for_llama_cpp() -> None:
    item = FINDINGS_SCHEMA["properties"]["findings"]["items"]
    assert FINDINGS_SCHEMA["required"] == ["findings"]
    assert set(item["required"]) == {"line", "severity", "message"}
    assert item["properties"]["severity"]["enum"] == ["error", "warning", "info", "hint"]
    assert item["properties"]["line"]["type"] == "integer"
    text = json.dumps(FINDINGS_SCHEMA)
    for unsupported in ("$ref", "format", "$defs", "oneOf", "anyOf"):
        assert unsupported not in text


# --- parser: accepted forms ------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        WELL_FORMED,
        f"```json\n{WELL_FORMED}\n```",
        f"```\n{WELL_FORMED}\n```",
        f"~~~JSON\n{WELL_FORMED}\n~~~\n",
        f"Here is my review:\n\n{WELL_FORMED}\n\nLet me know if you need more.",
        f"Sure! [Review below]\n```json\n{WELL_FORMED}\n```\nThat's all.",
        f"<think>x[0] may fail {{maybe}}</think>\n{WELL_FORMED}",
        json.dumps(json.loads(WELL_FORMED)["findings"]),
        f"Findings:\n{json.dumps(json.loads(WELL_FORMED)['findings'], indent=2)}",
        json.dumps({"review": json.loads(WELL_FORMED)}),
        WELL_FORMED.replace('"Name is unclear."}', '"Name is unclear.",}').replace("}]", "},]"),
    ],
    ids=[
        "plain",
        "json-fence",
        "bare-fence",
        "tilde-fence",
        "prose",
        "prose-and-fence",
        "brackets-before",
        "bare-array",
        "array-in-prose",
        "nested-one-level",
        "trailing-commas",
    ],
)
def test_accepted_forms(answer: str) -> None:
    assert parse(answer) == WELL_FORMED_EXPECTED


def test_prefers_the_findings_object_over_other_json() -> None:
    answer = '{"status": "ok"} and then ' + WELL_FORMED
    assert parse(answer) == WELL_FORMED_EXPECTED


def test_single_finding_object() -> None:
    answer = '{"line": 10, "severity": "warning", "message": "Unused variable."}'
    assert parse(answer) == [Finding(9, 9, "warning", "Unused variable.")]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"Line": 10, "Severity": "ERROR", "Message": "m"}, Finding(9, 9, "error", "m")),
        ({"line": "11", "severity": "warning", "message": "m"}, Finding(10, 10, "warning", "m")),
        ({"line": "L12", "severity": "info", "message": "m"}, Finding(11, 11, "info", "m")),
        ({"line": "12-14", "severity": "info", "message": "m"}, Finding(11, 13, "info", "m")),
        ({"line": 12.0, "severity": "info", "message": "m"}, Finding(11, 11, "info", "m")),
        ({"lineNumber": 12, "severity": "info", "message": "m"}, Finding(11, 11, "info", "m")),
        (
            {"line": 12, "endLine": 14, "severity": "info", "text": "m"},
            Finding(11, 13, "info", "m"),
        ),
        ({"line": 12, "severity": "info", "description": "m"}, Finding(11, 11, "info", "m")),
        ({"line": 12, "severity": "info", "issue": " m "}, Finding(11, 11, "info", "m")),
        ({"line": 12, "severity": "info", "comment": "m"}, Finding(11, 11, "info", "m")),
        ({"line": 12, "level": "high", "message": "m"}, Finding(11, 11, "error", "m")),
        (
            {"line": 12, "severity": "low", "message": "m", "fix": "do x"},
            Finding(11, 11, "info", "m", "do x"),
        ),
        (
            {"line": 12, "severity": "info", "message": "m", "suggestion": " "},
            Finding(11, 11, "info", "m"),
        ),
        (
            {"line": 14, "end_line": 12, "severity": "info", "message": "m"},
            Finding(11, 13, "info", "m"),
        ),
        ({"severity": "error", "message": "no line"}, Finding(9, 9, "error", "no line")),
        ({"line": 12, "message": "no severity"}, Finding(11, 11, "warning", "no severity")),
    ],
)
def test_alternate_keys_and_values(item: dict[str, Any], expected: Finding) -> None:
    assert parse(json.dumps({"findings": [item]})) == [expected]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("error", "error"),
        ("critical", "error"),
        ("High", "error"),
        ("medium", "warning"),
        ("warn", "warning"),
        ("WARNING", "warning"),
        ("low", "info"),
        ("note", "info"),
        ("information", "info"),
        ("suggestion", "info"),
        ("style", "hint"),
        ("nit", "hint"),
        ("hint", "hint"),
        ("bizarre", "warning"),
        (3, "warning"),
    ],
)
def test_severity_synonyms(severity: Any, expected: str) -> None:
    answer = json.dumps({"findings": [{"line": 10, "severity": severity, "message": "m"}]})
    assert parse(answer)[0].severity == expected


def test_string_items_become_info_findings_on_the_first_line() -> None:
    answer = json.dumps({"findings": ["Missing null check.", ""]})
    assert parse(answer) == [Finding(9, 9, "info", "Missing null check.")]


# --- parser: range ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "end_line", "expected_span"),
    [
        (10, None, (9, 9)),  # first reviewed line
        (20, None, (19, 19)),  # last reviewed line
        (8, 11, (9, 10)),  # starts above, overlaps: clamped to the first line
        (18, 25, (17, 19)),  # runs past the end: cut at the last line
        (5, 30, (9, 19)),  # covers the whole range
        (16, 16, (15, 15)),
    ],
)
def test_findings_overlapping_the_range_are_clamped(
    line: int, end_line: int | None, expected_span: tuple[int, int]
) -> None:
    items: list[dict[str, Any]] = [{"line": 15, "severity": "info", "message": "anchor"}]
    item: dict[str, Any] = {"line": line, "severity": "error", "message": "m"}
    if end_line is not None:
        item["end_line"] = end_line
    items.append(item)
    found = parse(json.dumps({"findings": items}))
    assert found == [
        Finding(14, 14, "info", "anchor"),
        Finding(expected_span[0], expected_span[1], "error", "m"),
    ]


def test_line_zero_is_read_as_the_first_line() -> None:
    answer = '{"findings": [{"line": 0, "severity": "info", "message": "m"}]}'
    assert parse_findings(answer, first_line=0, last_line=5) == [Finding(0, 0, "info", "m")]


def test_findings_outside_the_range_are_dropped_when_others_fit() -> None:
    answer = json.dumps(
        {
            "findings": [
                {"line": 3, "severity": "error", "message": "above"},
                {"line": 7, "end_line": 9, "severity": "error", "message": "just above"},
                {"line": 12, "severity": "warning", "message": "inside"},
                {"line": 21, "severity": "error", "message": "below"},
            ]
        }
    )
    assert parse(answer) == [Finding(11, 11, "warning", "inside")]


def test_when_every_finding_is_outside_they_are_kept_on_the_first_line() -> None:
    answer = json.dumps(
        {
            "findings": [
                {"line": 2, "severity": "error", "message": "off by one"},
                {"line": 40, "end_line": 42, "severity": "hint", "message": "rename"},
            ]
        }
    )
    assert parse(answer) == [
        Finding(9, 9, "error", "Line 2: off by one"),
        Finding(9, 9, "hint", "Line 40: rename"),
    ]


def test_parsed_spans_always_lie_in_the_range() -> None:
    items = [
        {"line": n, "end_line": n + k, "severity": "info", "message": f"{n}/{k}"}
        for n in range(0, 30)
        for k in (0, 3)
    ]
    for finding in parse(json.dumps(items)):
        assert FIRST <= finding.line <= finding.end_line <= LAST


# --- parser: empty, dedupe, dropped ----------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   \n\t ",
        '{"findings": []}',
        '```json\n{"findings": []}\n```',
        'No problems found: {"findings": []}',
        "[]",
        "```json\n[]\n```",
        '{"Findings": null}',
    ],
)
def test_no_findings(answer: str) -> None:
    assert parse(answer) == []


def test_findings_without_message_are_dropped() -> None:
    answer = json.dumps(
        {
            "findings": [
                {"line": 10, "severity": "error", "message": ""},
                {"line": 11, "severity": "error"},
                {"line": 12, "severity": "error", "message": "kept"},
                17,
            ]
        }
    )
    assert parse(answer) == [Finding(11, 11, "error", "kept")]


def test_identical_findings_are_deduplicated() -> None:
    item = {"line": 10, "severity": "error", "message": "dup"}
    other = {"line": 11, "severity": "error", "message": "dup"}
    answer = json.dumps({"findings": [item, item, other, item]})
    assert parse(answer) == [Finding(9, 9, "error", "dup"), Finding(10, 10, "error", "dup")]


# --- parser: fallback ------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "The code looks fine, but consider renaming `x`.",
        "Line 12 divides by zero when n == 0.",
        "%%% garbage ###",
        '{"status": "ok"}',
        '{"findings": "none"}',
        "Use `items[0]` carefully; an empty list {} raises.",
        '{"findings": [{"line": 12, "severity": "err',  # truncated inside the first finding
        '{"findings": [',
    ],
)
def test_unreadable_answers_become_one_info_finding(answer: str) -> None:
    assert parse(f"\n  {answer}  \n") == [Finding(FIRST, FIRST, "info", answer)]


def test_fallback_text_is_truncated() -> None:
    # Long but not a loop: a loop is no answer at all (see the tests on copied text).
    answer = "word word " + " ".join(f"Note {i} is about line {i}." for i in range(400))
    [finding] = parse(answer)
    assert finding.severity == "info" and finding.line == finding.end_line == FIRST
    assert len(finding.message) <= MAX_FALLBACK_CHARS
    assert finding.message.startswith("word word") and finding.message.endswith("…")


@pytest.mark.parametrize(
    "answer",
    [
        WELL_FORMED[:-2] + ', {"line": 19, "severity": "warning", "mess',
        WELL_FORMED[:-2] + ", ",
        "```json\n" + WELL_FORMED[:-2] + ', {"line": 16, "severity": "info", "message": "cut',
        json.dumps(json.loads(WELL_FORMED)["findings"])[:-1] + ', {"line": 1',
    ],
    ids=["mid-key", "after-comma", "in-fence-mid-string", "bare-array"],
)
def test_truncated_json_keeps_the_complete_findings(answer: str) -> None:
    assert parse(answer) == WELL_FORMED_EXPECTED


def test_reversed_range_arguments_are_tolerated() -> None:
    answer = '{"findings": [{"line": 12, "severity": "info", "message": "m"}]}'
    assert parse_findings(answer, first_line=LAST, last_line=FIRST) == [
        Finding(11, 11, "info", "m")
    ]


# --- prompt: nothing to copy -----------------------------------------------------------


def test_prompt_holds_no_template_placeholder() -> None:
    prompt = build_review_prompt(
        path_label="a.py", language="python", lines=["x = 1"], first_line=0
    )
    text = prompt.system + prompt.user
    assert "<" not in text.replace("<=", "") and "optional fix" not in text
    assert not re.search(r'"\s*:\s*"?<', text)


def test_the_prompts_example_is_about_other_code() -> None:
    code = ["def total(values):", "    return sum(values) / len(values)"]
    prompt = build_review_prompt(path_label="m.py", language="python", lines=code, first_line=0)
    [example] = [line for line in prompt.user.splitlines() if line.startswith('{"findings": [{')]
    finding = json.loads(example)["findings"][0]
    assert finding["line"] == 7 and "values" not in example
    # The example itself, pasted back as an answer, is recognised as copied.
    assert parse_findings(example, first_line=0, last_line=10, prompt=prompt) == []


# --- parser: copied text is dropped ----------------------------------------------------

PROMPT = build_review_prompt(
    path_label="src/stats.py",
    language="python",
    lines=[f"line_{n} = values[{n}] / count" for n in range(FIRST, LAST + 1)],
    first_line=FIRST,
)


def parse_for(answer: str) -> list[Finding]:
    return parse_findings(answer, first_line=FIRST, last_line=LAST, prompt=PROMPT)


@pytest.mark.parametrize(
    "message",
    ["<short, concrete>", "<message>", "...", "…", "message", "TODO", "N/A", "  ", "{{message}}"],
)
def test_placeholder_messages_are_dropped(message: str) -> None:
    answer = json.dumps(
        {
            "findings": [
                {"line": 12, "severity": "error", "message": message},
                {"line": 13, "severity": "warning", "message": "count may be zero."},
            ]
        }
    )
    assert parse(answer) == [Finding(12, 12, "warning", "count may be zero.")]


def test_the_embedded_models_template_copy_shows_nothing() -> None:
    # What the tiny embedded model answered to the prompt that showed a template.
    answer = (
        '{"findings": [{"line": 10, "end_line": 10, "severity": "error", '
        '"message": "<short, concrete>", "suggestion": "<optional fix>"}]}'
    )
    assert parse(answer) == []
    assert parse_for(answer) == []


def test_a_slot_as_suggestion_drops_the_finding_and_nothing_drops_only_the_suggestion() -> None:
    answer = json.dumps(
        {
            "findings": [
                {
                    "line": 12,
                    "severity": "error",
                    "message": "Divides by zero.",
                    "suggestion": "<fix>",
                },
                {
                    "line": 13,
                    "severity": "error",
                    "message": "count may be 0.",
                    "suggestion": "n/a",
                },
            ]
        }
    )
    assert parse(answer) == [Finding(12, 12, "error", "count may be 0.")]


@pytest.mark.parametrize(
    "message",
    [
        "line_12 = values[12] / count",  # a line of the code
        "12 | line_12 = values[12] / count",  # with its gutter
        "Report each real problem in this code",  # the instructions
        "The greeting is misspelled as Helo.",  # the worked example
        "report each real problem in this code: a crash, a wrong result, a leak",
    ],
)
def test_messages_copied_from_the_prompt_are_dropped(message: str) -> None:
    answer = json.dumps({"findings": [{"line": 13, "severity": "error", "message": message}]})
    assert parse_for(answer) == []
    # Without the prompt nothing tells it from a message of the model's own.
    assert len(parse(answer)) == 1


def test_a_message_quoting_the_code_in_a_sentence_of_its_own_is_kept() -> None:
    message = "`values[12] / count` divides by zero when count is 0."
    answer = json.dumps({"findings": [{"line": 13, "severity": "error", "message": message}]})
    assert parse_for(answer) == [Finding(12, 12, "error", message)]


def test_a_suggestion_that_repeats_the_code_is_removed_and_the_example_fix_drops_the_finding() -> (
    None
):
    same = {"line": 13, "severity": "error", "message": "count may be 0.",
            "suggestion": "line_12 = values[12] / count"}  # fmt: skip
    example = {"line": 14, "severity": "hint", "message": "Unclear name.",
               "suggestion": 'print("Hello, " + name)'}  # fmt: skip
    assert parse_for(json.dumps({"findings": [same, example]})) == [
        Finding(12, 12, "error", "count may be 0.")
    ]


@pytest.mark.parametrize(
    "answer",
    [
        "<short, concrete>",
        "Report each real problem in this code: a crash, a wrong result, a leak, a security hole.",
        "la " * 400,
        "The function returns the value. " * 60,
    ],
    ids=["placeholder", "instructions", "loop", "sentence-loop"],
)
def test_free_text_that_is_no_answer_shows_nothing(answer: str) -> None:
    assert parse_for(answer) == []


def test_free_text_of_the_models_own_is_kept_and_marked_unstructured() -> None:
    answer = "Line 12 divides by zero when count is 0."
    [finding] = parse_for(answer)
    assert finding == Finding(FIRST, FIRST, "info", answer) and finding.unstructured
    [placed] = parse_for('{"findings": [{"line": 12, "message": "m!"}]}')
    assert not placed.unstructured


# --- parser: broken JSON -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "{'findings': [{'line': 12, 'end_line': 13, 'severity': 'error', "
        "'message': 'Possible None dereference.', 'suggestion': 'Check for None first.'}, "
        "{'line': 15, 'severity': 'hint', 'message': 'Name is unclear.'}]}",
        '{findings: [{line: 12, end_line: 13, severity: "error", message: "Possible None '
        'dereference.", suggestion: "Check for None first."} {line: 15, severity: "hint", '
        'message: "Name is unclear."}]}',
        '{"findings": [{"line": 12, "end_line": 13, "severity": "error", "message": '
        '"Possible None dereference.", "suggestion": "Check for None first.",}, // the worst\n'
        '{"line": 15, "severity": "hint", "message": "Name is unclear."}]}\nThat is all.',
    ],
    ids=["single-quotes", "bare-keys-missing-comma", "comment-and-prose"],
)
def test_broken_json_is_repaired(answer: str) -> None:
    assert parse(answer) == WELL_FORMED_EXPECTED


def test_short_texts_that_occur_in_the_prompt_are_not_copies() -> None:
    # "x", "count" and "values" are in the prompt's code, but saying them is no copy.
    answer = json.dumps(
        {
            "findings": [
                {"line": 12, "severity": "error", "message": "count", "suggestion": "x"},
                {"line": 13, "severity": "error", "message": "values may be empty"},
            ]
        }
    )
    assert parse_for(answer) == [
        Finding(11, 11, "error", "count", "x"),
        Finding(12, 12, "error", "values may be empty"),
    ]
