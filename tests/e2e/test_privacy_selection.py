"""Selections cut where the editor cuts: lines end only at `\\n`, `\\r\\n` and `\\r` (LSP),
so form feeds, U+2028, NEL and friends stay inside a line. What is sent is exactly the
selected lines; a credential anywhere outside the selection still makes it private; a
document edited between listing actions and running one is judged as it is now."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.privacy_e2e import (
    AWS_KEY,
    assert_not_received,
    cloud_config,
    lsp_server,
    project,
    prompts,
    range_json,
)

LINES = [
    ("def a():", "\r\n"),
    ("    return 'SEL_ZERO'", "\r"),
    ("\x0cdef b():  # SEL_TWO", "\r"),
    ("    x = 'SEL_THREE'\u2028y = 'SEL_THREE_B'\u2029z = 1", "\n"),
    ("    w = 'SEL_FOUR'\x0b\x1c\x1d\x1e\x85v = 'SEL_FOUR_B'", "\r\n"),
    ("    return 'SEL_FIVE'", "\n"),
]
TEXT = "".join(line + end for line, end in LINES)
MARKER_LINE = {"SEL_ZERO": 1, "SEL_TWO": 2, "SEL_THREE": 3, "SEL_FOUR": 4, "SEL_FIVE": 5}


def shown_numbers(prompt: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\s*(\d+) \| ", prompt, re.MULTILINE)]


async def test_what_is_sent_is_the_selection_as_lsp_counts_lines(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {})
    cases: list[tuple[dict[str, Any], list[int]]] = [
        (range_json(3, 3), [3]),
        (range_json(4, 4), [4]),
        (range_json(2, 2), [2]),
        # Ending inside line 2 includes it; ending at its start would not.
        ({"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 3}}, [1, 2]),
        (range_json(5, 5), [5]),
        # Reversed (anchor after the cursor): the text between them is line 3 alone.
        ({"start": {"line": 4, "character": 0}, "end": {"line": 3, "character": 0}}, [3]),
    ]
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            uri = s.open((ws / "lines.py").as_uri(), TEXT)
            for selection, expected in cases:
                for command, task in (("review", "review"), ("explain", "ask")):
                    before = len(cloud.chat_requests)
                    argument = {"uri": uri, "range": selection, "task": task, "refresh": True}
                    await s.command(f"localroute.{command}", argument)
                    (prompt,) = prompts(cloud)[before:]
                    for name, line in MARKER_LINE.items():
                        assert (name in prompt) == (line in expected), (task, selection, name)
                    if task == "review":
                        assert shown_numbers(prompt) == [i + 1 for i in expected], prompt
                    else:
                        code = "\n".join(LINES[i][0] for i in expected)
                        assert f"\n{code}\n" in prompt, (code, prompt)


async def test_a_key_just_outside_the_selection_keeps_it_private(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {})
    # The key sits on the line after the selection, after a carriage return only, and on
    # the same LSP line as a form feed; another is far right on a very long line.
    variants = {
        "after_cr": "def f():\r    return 'OUT_A'\r" + f"K = '{AWS_KEY}'\r",
        "after_ff": "def f():\n    return 'OUT_B'\n" + f"x = 1\x0cK = '{AWS_KEY}'\n",
        "far_right": "def f():\n    return 'OUT_C'\n" + "y = 0  # " + "." * 50_000 + f"{AWS_KEY}\n",
        "before_u2028": f"K = '{AWS_KEY}'\u2028" + "\ndef f():\n    return 'OUT_D'\n",
    }
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            for name, text in variants.items():
                uri = s.open((ws / f"{name}.py").as_uri(), text)
                first = 1 if name == "before_u2028" else 0
                selection = range_json(first, first + 1)
                for task in ("review", "explain"):
                    await s.refused(f"localroute.{task}", {"uri": uri, "range": selection})
        assert_not_received(cloud, "OUT_A", "OUT_B", "OUT_C", "OUT_D", AWS_KEY)


async def test_a_document_edited_after_its_actions_were_listed_is_judged_as_it_is_now(
    tmp_path: Path,
) -> None:
    ws = project(tmp_path / "ws", {})
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            text = "def f():\n    return 'EDITED_LATER'\n"
            uri = s.open((ws / "f.py").as_uri(), text)
            titles = await s.action_titles(uri, 0, 1)
            assert not any("refused" in t for t in titles), titles
            # The command an action carries, run after the user pasted a key below.
            s.replace(uri, text + f"K = '{AWS_KEY}'\n")
            await s.refused("localroute.review", {"uri": uri, "range": range_json(0, 1)})
            await s.refused("localroute.explain", {"uri": uri, "range": range_json(0, 1)})
            # Removing it again makes the same selection go.
            s.replace(uri, text)
            await s.command("localroute.explain", {"uri": uri, "range": range_json(0, 1)})
            assert len(cloud.chat_requests) == 1
        assert_not_received(cloud, AWS_KEY)
