"""The degenerate-answer detector: loops, prompt echoes and blank streams are stopped early;
long real answers that repeat a structure (lists, code, findings JSON) are not."""

from __future__ import annotations

import json
import random

import pytest

from localroute.tasks.copied import instructions_of
from localroute.tasks.degenerate import (
    MAX_BLANK_CHARS,
    MAX_TOKEN_CHARS,
    NGRAM,
    RUN_TOKENS,
    DegenerateDetector,
    tokenize,
)
from localroute.tasks.explain import build_explain_prompt
from localroute.tasks.review import build_review_prompt

SAMPLE = [
    "def average_ratio(scores, totals):",
    "    result = 0",
    "    for i in range(len(scores)):",
    "        result += scores[i] / totals[i]",
    "    return result / len(scores)",
]
EXPLAIN = build_explain_prompt(
    path_label="examples/sample.py", language="python", lines=SAMPLE, first_line=10,
    whole_file=False,
)  # fmt: skip
REVIEW = build_review_prompt(
    path_label="examples/sample.py", language="python", lines=SAMPLE, first_line=10
)
EXPLAIN_TEXT = f"{EXPLAIN.system}\n{EXPLAIN.user}"
REVIEW_TEXT = f"{REVIEW.system}\n{REVIEW.user}"


def stream(
    detector: DegenerateDetector, text: str, *, piece: int = 7, seed: int = 0
) -> tuple[str | None, int]:
    """Feed ``text`` in pieces of about ``piece`` characters; the verdict and how many
    characters had been fed when it came (all of them when there was none)."""
    rng = random.Random(seed)
    fed = 0
    while fed < len(text):
        size = rng.randint(1, 2 * piece)
        reason = detector.feed(text[fed : fed + size])
        fed += size
        if reason is not None:
            return reason, min(fed, len(text))
    return detector.finish(text), len(text)


# --- degenerate answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "loop",
    [
        "la ",
        "The function returns the average. ",
        "- `result` is the sum of the ratios.\n",
        '{"line": 11, "severity": "error", "message": "Division by zero."}, ',
        "codebase )['p'] ",
        "\u2014",  # one character, no spaces, for ever
        "!",
        "ratio" * 3,
    ],
    ids=["word", "sentence", "list-item", "same-finding", "token-salad", "dash", "bang", "glued"],
)
def test_a_loop_is_stopped_soon(loop: str) -> None:
    text = "Here is what the code does.\n\n" + loop * max(5000, 200_000 // len(loop))
    reason, fed = stream(DegenerateDetector(EXPLAIN_TEXT), text)
    assert reason == "repetition"
    # Stopped within a few cycles of the loop, nowhere near the end of the stream (a loop
    # without spaces is judged in pieces of MAX_TOKEN_CHARS, whose period is longer).
    cycle = len(loop) if " " in loop else MAX_TOKEN_CHARS * len(loop)
    assert fed < 3 * cycle + (NGRAM + RUN_TOKENS) * MAX_TOKEN_CHARS


def test_a_long_period_loop_is_stopped_after_its_third_cycle() -> None:
    paragraph = (
        "This function walks over two lists in step and adds up the ratio of each pair of "
        "values, then divides the sum by the number of scores to get a mean ratio; when a "
        "total is zero the division raises, and an empty list of scores does too. "
    )
    period = len(tokenize(paragraph))
    detector = DegenerateDetector(EXPLAIN_TEXT)
    reason, _ = stream(detector, paragraph * 50)
    assert reason == "repetition"
    assert detector.tokens <= 2 * period + NGRAM - 1 + RUN_TOKENS


# The tiny embedded model's explanation of the sample, as it streamed before its prompt was
# reworded: the instructions copied back, then token salad, then the instructions again.
EMBEDDED_ECHO = (
    "Explain lines 11-15 of examples/sample.py (python):\n\n"
    "In concise markdown, say what the code does, how it does it, and anything surprising "
    "or easy to get wrong. No preamble. codebase )['p'] ['p'] result = 0 "
) * 5


def test_the_embedded_models_prompt_echo_is_stopped_in_its_first_copy() -> None:
    reason, fed = stream(DegenerateDetector(EXPLAIN_TEXT), EMBEDDED_ECHO)
    assert reason == "prompt echo"
    assert fed < len(EMBEDDED_ECHO) // 5


def test_review_instructions_copied_into_findings_json_are_an_echo() -> None:
    lines = instructions_of(REVIEW.user).splitlines()
    instructions = max((line for line in lines if '"' not in line), key=len)
    assert len(tokenize(instructions)) >= 20
    answer = json.dumps({"findings": [{"line": 12, "severity": "info", "message": instructions}]})
    reason, _ = stream(DegenerateDetector(REVIEW_TEXT), answer)
    assert reason == "prompt echo"


def test_a_blank_stream_is_stopped() -> None:
    reason, fed = stream(DegenerateDetector(REVIEW_TEXT), '{"findings": [' + "\n" * 100_000)
    assert reason == "whitespace"
    assert fed < MAX_BLANK_CHARS + 100


def test_the_code_pasted_back_is_an_echo_of_an_explain_prompt() -> None:
    answer = "```python\n" + "\n".join(SAMPLE) + "\n```\nThis is the code."
    detector = DegenerateDetector(EXPLAIN_TEXT)
    assert stream(detector, answer)[0] == "prompt echo"
    # A review answer is findings JSON: only the stream checks apply to it.
    detector = DegenerateDetector(EXPLAIN_TEXT)
    for char in answer:
        assert detector.feed(char) is None
    assert detector.finish(answer, free_text=False) is None


def test_the_verdict_sticks() -> None:
    detector = DegenerateDetector()
    stream(detector, "la " * 200)
    assert detector.feed("a fresh start") == "repetition"
    assert detector.finish("a fresh start") == "repetition"


# --- real answers that repeat a structure ----------------------------------------------------


def _findings(count: int) -> str:
    messages = [
        "`totals[i]` may be zero: the division raises ZeroDivisionError.",
        "An empty `scores` list divides by zero on the return line.",
        "`scores` and `totals` of different lengths raise IndexError.",
        "Use `zip(scores, totals)` instead of indexing by position.",
        "`result` starts as an int; use 0.0 to make the float intent clear.",
        "The name `average_ratio` hides that it averages over `scores` only.",
    ]
    items = [
        {
            "line": 11 + i % 5,
            "severity": ["error", "warning", "info", "hint"][i % 4],
            "message": f"Case {i}: {messages[i % len(messages)]}",
            "suggestion": f"    result += scores[{i}] / totals[{i}]",
        }
        for i in range(count)
    ]
    return json.dumps({"findings": items}, indent=2)


EXPLANATION = """\
`average_ratio` computes the **mean of the ratios** `scores[i] / totals[i]`.

1. `result` starts at `0`.
2. The loop walks the indices of `scores`:
   - it divides each score by the total at the same index,
   - and adds the ratio to `result`.
3. The sum is divided by `len(scores)`.

| input | result |
|-------|--------|
| `[1, 2], [2, 4]` | `0.5` |
| `[3], [4]` | `0.75` |
| `[0, 0], [1, 1]` | `0.0` |
| `[], []` | `ZeroDivisionError` |

Things to watch:

- An empty `scores` list raises `ZeroDivisionError` on the last line.
- A zero in `totals` raises too, in the loop.
- `totals` shorter than `scores` raises `IndexError`.

----------------------------------------------------------------------------------------

A safer version:

```python
def average_ratio(scores, totals):
    if not scores:
        return 0.0
    ratios = [s / t for s, t in zip(scores, totals, strict=True) if t]
    return sum(ratios) / len(scores)
```
"""

CODE_WITH_REPEATED_LINES = "\n".join(
    [f"    assert parse_port('{port}') == {port}" for port in range(1000, 1060)]
    + [f"    table[{i}] = table[{i - 1}] + step * {i}" for i in range(1, 60)]
    + ["}" * 1 for _ in range(12)]
    + ["    " + "x" * 3 + f" = {i},  # padding" for i in range(30)]
)


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        (_findings(40), REVIEW_TEXT),
        ('{"findings": []}', REVIEW_TEXT),
        (EXPLANATION, EXPLAIN_TEXT),
        (CODE_WITH_REPEATED_LINES, EXPLAIN_TEXT),
        ("\n".join(f"{i}. Step {i}: read line {i * 7} and check it." for i in range(200)), ""),
        ("    " * 90 + "indented", ""),
    ],
    ids=["forty-findings", "no-findings", "long-explanation", "repetitive-code",
         "numbered-list", "deep-indent"],
)  # fmt: skip
def test_real_answers_pass(text: str, prompt: str) -> None:
    for seed, piece in ((0, 1), (1, 7), (2, 64), (3, 100_000)):
        detector = DegenerateDetector(prompt)
        reason, _ = stream(detector, text, piece=piece, seed=seed)
        assert reason is None, (seed, piece)


def test_an_explanation_quoting_a_line_of_the_code_passes() -> None:
    answer = (
        "It sums the ratio of each score to its total and divides by the number of scores: "
        "`result += scores[i] / totals[i]`. With no scores, `return result / len(scores)` "
        "divides by zero; so does a zero total."
    )
    assert stream(DegenerateDetector(EXPLAIN_TEXT), answer)[0] is None


def test_restating_the_request_is_not_an_echo() -> None:
    answer = "Lines 11-15 of examples/sample.py (python) compute a mean ratio. " + EXPLANATION
    assert stream(DegenerateDetector(EXPLAIN_TEXT), answer)[0] is None


@pytest.mark.parametrize("name", ["first.py", "second.py", "third.py"])
def test_an_echo_across_the_line_that_names_the_file_is_stopped_for_every_file(
    name: str,
) -> None:
    # The n-grams of a prompt's instructions are built from tokens kept line by line; an
    # echo whose every 12-token run crosses a line break must still be caught, for each
    # file in turn (the other lines' tokens come from what earlier prompts kept).
    prompt = build_explain_prompt(
        path_label=f"lib/{name}", language="python", lines=SAMPLE, first_line=10,
        whole_file=False,
    )  # fmt: skip
    text = f"{prompt.system}\n{prompt.user}"
    header = next(line for line in text.splitlines() if line.startswith("Explain lines"))
    assert name in header
    copy = f"{header}\n\nIn concise markdown, say what the code does"
    # 24 tokens: 17 copied 8-grams in a row (12 stop it), at most 8 within either line
    assert len(tokenize(header)) == 15 and len(tokenize(copy)) == 24
    # Judged while it streams (not only as a whole answer at the end).
    assert DegenerateDetector(text).feed(copy + " and then a few words.") == "prompt echo"
    # Without the copied file name, no run is long enough.
    assert DegenerateDetector(text).feed(copy.replace(name, "other.py") + " and then") is None
