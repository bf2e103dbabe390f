"""The explain prompt, answer cleaning and the hover attribution line."""

from __future__ import annotations

import pytest

from localroute.tasks.explain import (
    NO_TEXT,
    attribution_line,
    build_explain_prompt,
    clean_explanation,
    explanation_markdown,
)


def test_prompt_for_a_selection() -> None:
    prompt = build_explain_prompt(
        path_label="src/util.py",
        language="python",
        lines=["def double(x):\n", "    return 2 * x\n"],
        first_line=41,
        whole_file=False,
    )
    assert prompt.json_schema is None
    assert "lines 42-43 of src/util.py" in prompt.user
    assert "```python\ndef double(x):\n    return 2 * x\n```" in prompt.user
    assert "markdown" in prompt.user.lower() and "preamble" in prompt.user.lower()
    assert "markdown" in prompt.system.lower()
    assert len(prompt.system) + len(prompt.user) < 600


@pytest.mark.parametrize(
    ("first_line", "whole_file", "expected"),
    [
        (0, True, "Explain the file a.rs (rust)"),
        (6, False, "Explain line 7 of a.rs (rust)"),
    ],
)
def test_prompt_subject(first_line: int, whole_file: bool, expected: str) -> None:
    prompt = build_explain_prompt(
        path_label="a.rs",
        language="rust",
        lines=["fn main() {}"],
        first_line=first_line,
        whole_file=whole_file,
    )
    assert prompt.user.startswith(expected)


def test_prompt_without_language() -> None:
    prompt = build_explain_prompt(
        path_label="Makefile", language=None, lines=["all:"], first_line=0, whole_file=True
    )
    assert "None" not in prompt.user
    assert "```\nall:\n```" in prompt.user


def test_code_containing_fences_gets_a_longer_fence() -> None:
    code = ["Example:", "```sh", "make", "```"]
    prompt = build_explain_prompt(
        path_label="README.md", language="markdown", lines=code, first_line=0, whole_file=True
    )
    assert "````markdown\nExample:\n```sh\nmake\n```\n````" in prompt.user


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("  It doubles `x`.\n\n", "It doubles `x`."),
        ("```markdown\nIt **doubles** x.\n```", "It **doubles** x."),
        ("```md\n# Title\n\nBody\n```\n", "# Title\n\nBody"),
        ("\n````Markdown\nText\n\n```py\nx = 1\n```\n````\n", "Text\n\n```py\nx = 1\n```"),
        # An outer markdown fence with inner code blocks is still one wrapping.
        ("```markdown\nUse:\n```py\nf()\n```\nDone.\n```", "Use:\n```py\nf()\n```\nDone."),
        # Code blocks and partial fences are markdown to keep as it is.
        ("```python\nx = 1\n```", "```python\nx = 1\n```"),
        ("Intro\n```markdown\nx\n```", "Intro\n```markdown\nx\n```"),
        ("```markdown\nx\n```\nOutro", "```markdown\nx\n```\nOutro"),
        ("", NO_TEXT),
        ("  \n ", NO_TEXT),
        ("```markdown\n\n```", NO_TEXT),
    ],
)
def test_clean_explanation(answer: str, expected: str) -> None:
    assert clean_explanation(answer) == expected


@pytest.mark.parametrize(
    ("model", "backend", "locality", "expected"),
    [
        ("coder", "local", "local", "*— coder @ local (local)*"),
        ("gpt-4o", "openai", "cloud", "*— gpt-4o @ openai (cloud)*"),
        (
            "qwen2.5_coder",
            "lan_box",
            "private-network",
            r"*— qwen2.5\_coder @ lan\_box (private-network)*",
        ),
    ],
)
def test_attribution_line(model: str, backend: str, locality: str, expected: str) -> None:
    assert attribution_line(model, backend, locality) == expected


def test_explanation_markdown_ends_with_the_attribution() -> None:
    markdown = explanation_markdown(
        "```markdown\nIt adds.\n```\n", model="coder", backend="local", locality="local"
    )
    assert markdown == "It adds.\n\n*— coder @ local (local)*"
    assert markdown.splitlines()[-1] == attribution_line("coder", "local", "local")


def test_explanation_markdown_of_an_empty_answer() -> None:
    markdown = explanation_markdown("", model="m", backend="b", locality="cloud")
    assert markdown == f"{NO_TEXT}\n\n*— m @ b (cloud)*"
