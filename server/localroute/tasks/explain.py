"""The explain task: a prompt asking for a short markdown explanation, and hover text.

Explain answers are markdown and are used as they are, but for two things an editor would
do on its own when it shows them: :func:`clean_explanation` trims them, unwraps an answer
the model wrapped whole in a ```` ```markdown ```` fence, and :func:`defuse` keeps images
and raw HTML from being rendered. An editor loads an image's URL as soon as it shows the
hover (VS Code does), and a model that read private code — or was told to by text in it —
could put that code into the URL: it would leave the machine without a request of ours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from localroute.tasks.findings import Prompt

NO_TEXT = "(the model returned no text)"
"""Shown instead of an empty explanation, so the hover never looks broken."""

EXPLAIN_SYSTEM = (
    "You explain code to a developer, clearly and briefly. Answer in markdown, without preamble."
)

# The whole answer wrapped in one markdown fence: opening fence with a markdown info
# string, closing fence of the same character at least as long, nothing outside.
_WRAPPING_FENCE_RE = re.compile(
    r"\A(?P<fence>`{3,}|~{3,})[ \t]*(?:markdown|md)[ \t]*\n"
    r"(?P<body>.*?)\n[ \t]*(?P=fence)[`~]*\s*\Z",
    re.DOTALL | re.IGNORECASE,
)
_BACKTICK_RUN_RE = re.compile(r"`+")
_FENCE_LINE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INFO_WORD_RE = re.compile(r"[\w+#.-]+")
_IMAGE_OR_HTML_RE = re.compile(r"!\[|<(?=[A-Za-z/!?])")
"""Outside code: ``![`` opens an image; ``<`` before a letter, ``/``, ``!`` or ``?`` opens
raw HTML (``<img src=…>``, ``<picture>``, a comment) or an autolink."""
_MARKDOWN_SPECIAL_RE = re.compile(r"([\\`*_\[\]])")


def build_explain_prompt(
    *,
    path_label: str,
    language: str | None,
    lines: Sequence[str],
    first_line: int,
    whole_file: bool,
) -> Prompt:
    """Build the explain prompt for ``lines``, whose first is 0-based file line ``first_line``.

    ``whole_file`` says the lines are the entire file, which changes only the wording.
    """
    code = "\n".join(line.rstrip("\r\n") for line in lines)
    fence = fence_for(code)
    if whole_file:
        subject = f"the file {path_label}"
    else:
        start = first_line + 1
        end = first_line + max(len(lines), 1)
        span = f"line {start}" if start == end else f"lines {start}-{end}"
        subject = f"{span} of {path_label}"
    lang = f" ({language})" if language else ""
    user = (
        f"Explain {subject}{lang}:\n"
        f"\n{fence}{language or ''}\n{code}\n{fence}\n\n"
        "In concise markdown, say what the code does, how it does it, and anything "
        "surprising or easy to get wrong. No preamble."
    )
    return Prompt(system=EXPLAIN_SYSTEM, user=user, json_schema=None)


def clean_explanation(answer: str) -> str:
    r"""The answer trimmed, unwrapped from a whole-answer ```` ```markdown ```` fence, and
    :func:`defuse`\ d.

    Any other markdown (code blocks included) is kept as it is. An empty answer becomes
    :data:`NO_TEXT`.
    """
    text = answer.strip()
    match = _WRAPPING_FENCE_RE.match(text)
    if match:
        text = match.group("body").strip()
    return defuse(text) or NO_TEXT


def defuse(markdown: str) -> str:
    """``markdown`` with nothing an editor would fetch or run when it shows it: outside code
    blocks and code spans, ``![`` becomes ``!\\[`` (the image's text shows, its URL is not
    loaded) and the ``<`` of raw HTML or an autolink becomes ``\\<`` (the tag shows as
    text). Links stay: one is followed only when the user clicks it.

    Where code ends must be where the editor's renderer ends it too, or text taken for code
    here would be rendered there. Each fenced block is therefore written anew, with a fence
    of backticks no line of it can close and a plain language name (a fence interrupts
    any paragraph, list or table it follows); it ends at the first line that could close
    it in any renderer. A code span counts only within one
    line. Whatever is left over is defused as text: at worst a backslash shows in code
    this did not recognise (an indented block, a fence inside a list)."""
    out: list[str] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE_LINE_RE.match(lines[i])
        info = lines[i][opening.end() :] if opening else ""
        if opening is None or (opening.group(1)[0] == "`" and "`" in info):
            out.append(_defuse_line(lines[i]))
            i += 1
            continue
        run = opening.group(1)
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = _FENCE_LINE_RE.match(lines[i])
            i += 1
            if closing and closing.group(1)[0] == run[0] and len(closing.group(1)) >= len(run):
                break
            body.append(lines[i - 1])
        language = _INFO_WORD_RE.match(info.strip())
        fence = fence_for("\n".join(body))
        out += [fence + (language.group(0) if language else ""), *body, fence]
    return "\n".join(out)


def _defuse_line(line: str) -> str:
    """One line outside fenced code: its code spans as they are, the rest defused.

    A run of backticks that no run of the same length closes on this line is escaped, so
    that no code span of the editor's spans two lines: the spans left are the ones found
    here (CommonMark pairs a run with the next run of its length, as this does)."""
    out: list[str] = []
    text_from = i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2  # an escaped character: never opens anything
            continue
        if line[i] != "`":
            i += 1
            continue
        run = _BACKTICK_RUN_RE.match(line, i)
        assert run is not None
        closing = re.compile(r"(?<!`)" + run.group(0) + r"(?!`)").search(line, run.end())
        out.append(_defuse_text(line[text_from:i]))
        if closing is None:
            out.append("\\`" * len(run.group(0)))
            text_from = i = run.end()
        else:
            out.append(line[i : closing.end()])  # a code span: shown as it is
            text_from = i = closing.end()
    out.append(_defuse_text(line[text_from:]))
    return "".join(out)


def _defuse_text(text: str) -> str:
    """``![`` and the ``<`` of raw HTML escaped, unless a backslash escapes them already
    (a second one would escape that backslash instead)."""

    def escaped(match: re.Match[str]) -> str:
        before = text[: match.start()]
        if (len(before) - len(before.rstrip("\\"))) % 2:
            return match.group(0)
        return "!\\[" if match.group(0) == "![" else "\\<"

    return _IMAGE_OR_HTML_RE.sub(escaped, text)


def attribution_line(model: str, backend: str, locality: str) -> str:
    """One italic markdown line naming who wrote the text, e.g. ``*— coder @ local (local)*``."""
    return f"*— {_escape(model)} @ {_escape(backend)} ({_escape(locality)})*"


def explanation_markdown(answer: str, *, model: str, backend: str, locality: str) -> str:
    """Hover markdown: the cleaned explanation, then the attribution line last."""
    return clean_explanation(answer) + "\n\n" + attribution_line(model, backend, locality)


def fence_for(code: str) -> str:
    """A backtick fence longer than any backtick run in ``code``, so the code cannot close it."""
    longest = max((len(run) for run in _BACKTICK_RUN_RE.findall(code)), default=0)
    return "`" * max(3, longest + 1)


def _escape(text: str) -> str:
    # Names like "qwen2.5_coder" would otherwise turn italics on and off inside the line.
    return _MARKDOWN_SPECIAL_RE.sub(r"\\\1", text)
