"""`copied.normalize` finds line-number gutters by the line break before them (a faster
search); what it returns is what the plain ``^``-anchored pattern gives."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from localroute.tasks.copied import PromptText, normalize

_REFERENCE_GUTTER = re.compile(r"^\s*\d+\s*\|", re.MULTILINE)


def _reference(text: str) -> str:
    text = _REFERENCE_GUTTER.sub(" ", text).replace('\\"', '"')
    return " ".join(text.lower().split())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='12 \n\t|aB\\"x:', max_size=80))
def test_normalize_matches_the_line_anchored_pattern(text: str) -> None:
    assert normalize(text) == _reference(text)


def test_gutters_at_the_start_after_blank_lines_and_inside_fences_are_removed() -> None:
    text = ' 1 | def f():\n\n 2 |     return "x"\n```\n10 | y = 1\n```'
    assert normalize(text) == 'def f(): return "x" ``` y = 1 ```'


def test_a_pipe_that_is_no_gutter_stays() -> None:
    assert normalize("a | b\nx = 1 | 2") == "a | b x = 1 | 2"


def test_a_prompt_text_compares_only_what_a_check_needs() -> None:
    prompt = PromptText("Review this.\n```python\n 1 | total = a / b\n```\nAnswer in JSON.")
    assert "whole" not in vars(prompt) and "instructions" not in vars(prompt)
    assert not prompt.echoes("ok")  # too short to be a copy: nothing prepared
    assert "whole" not in vars(prompt)
    assert prompt.echoes("total = a / b")
    assert "instructions" not in vars(prompt)
    assert prompt.copies_instructions("Answer in JSON.")
    assert not prompt.copies_instructions("total = a / b")


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet='ab1 \n\t|Z\\"xK\u212aΣ:', max_size=60),
    st.integers(0, 60),
    st.integers(0, 60),
)
def test_the_quick_look_for_a_word_never_misses_a_copy(prompt: str, start: int, end: int) -> None:
    """Before the prompt is normalized, the longest ASCII word of a text is looked for in
    the prompt as it is: that must never rule out a text that is in the normalized prompt
    (gutters, escaped quotes, upper case, the Kelvin sign that lower-cases to ``k``)."""
    source = PromptText(prompt)
    needle = source.whole[start:end]
    assert source._in_whole(needle) == (needle in source.whole)
    assert source._in_whole(needle + "zzzq") == (needle + "zzzq" in source.whole)
