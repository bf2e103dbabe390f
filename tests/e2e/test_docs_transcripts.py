"""The documentation runs: every shell example with output in README.md and docs/ is a
transcript that this module runs, and every TOML block is checked by `localroute config
check`. A document that drifts from what the product does fails here.

Transcripts
-----------

A transcript is a fenced block of language ``console``::

    <!-- transcript: project config up=local -->
    ```console
    $ localroute route examples/sample.py
    review → coder @ local
      privacy: not private
      project root: [TMP]
    ...
    $ localroute status
    ...
    [exit 1]
    ```

- ``$ `` starts a command (``> `` continues it on the next line); the lines after it, up
  to the next ``$ ``, are its expected output: stdout and stderr together, as a terminal
  shows them. ``[exit N]`` after the output: the command exits with N (otherwise 0).
- Each command runs with ``bash -c`` in a fresh temporary directory (``[TMP]``), with
  ``localroute`` on ``PATH`` (this checkout's), ``HOME`` and the XDG directories in a
  temporary home that the output shows as ``~``, and nothing of the caller's localroute
  settings or proxies. Commands of one block share the directory and its files, not shell
  variables.
- Placeholders in expected lines: ``[N]`` a number (``1.5``, ``1,024``), ``[PATH]`` a
  word without spaces, ``[VERSION]`` a version (``0.1.0``), ``[PORT]`` a port number,
  ``[TMP]`` the directory the commands run in, ``[...]`` anything on the rest of a line.
  A line that is only ``...`` stands for any number of lines, none included. Consecutive
  lines that start with ``[any order]`` match as many lines in any order (the lines of
  files reviewed at once come as each finishes). A gap of
  two or more spaces matches any gap (table columns move when a number gets wider).
  Trailing spaces and trailing blank lines are ignored; everything else must match
  exactly.
- The HTML comment right above the block (invisible on GitHub) names its set-up, words
  of :data:`tests.support.transcripts.FIXTURES`:

  ``project``
      a git repository (a project root) holding a copy of the repository's ``examples/``
      and ``server/localroute/``: the commands work the same at the root of a clone;
  ``config``
      the nearest TOML block above in the same document is the user's config file
      (``~/.config/localroute/config.toml``);
  ``up=NAME,...``
      those backends (``openai`` or ``ollama``) answer, served by loopback fakes whose
      model flags each division by ``len(...)`` as an error. Every other backend with a
      ``url`` is down: its url points at a closed loopback port. Either way the output
      shows the documented url, the fake's address being put back, and the backend's
      locality is that of the documented url. No transcript reaches the network;
  ``embedded=NAME``
      that backend is the embedded model (llama-cpp-python and the GGUF package; marked
      ``real_model``, skipped with the reason when they are missing).

TOML blocks
-----------

Every ``toml`` block is written to a file and checked with ``localroute config check``,
which must say ``ok``. A marker says otherwise: ``<!-- toml: invalid -->`` (a deliberately
wrong example: the check must fail), ``<!-- toml: not-localroute -->`` (another program's
file: it must only parse as TOML), ``<!-- toml: model-serve -->`` (the table
``localroute model serve`` prints for port 8080: it must be exactly that, and valid).

Shell blocks
------------

``sh``/``bash``/``shell`` blocks show commands without output and are not run (``make
demo``, installing things); they may not hold a ``$ `` prompt line: a command shown with
its output belongs in a ``console`` transcript.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.transcripts import (
    DOCS,
    FIXTURES,
    ROOT,
    Block,
    blocks,
    fixture_words,
    markers,
    matches,
    parse_transcript,
    prepare,
    run_step,
)

ALL_BLOCKS = [block for doc in DOCS for block in blocks(doc)]
TRANSCRIPTS = [b for b in ALL_BLOCKS if b.lang == "console"]
TOML_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "toml"]

FOREIGN_TOML = {
    "docs/editors/helix.md": "Helix's languages.toml",
    "docs/editors/zed.md": "a Zed extension's extension.toml",
}
"""Pages whose TOML blocks are all another program's files (the editor pages are kept by
their own tests; their blocks still have to parse)."""


def _words(block: Block) -> dict[str, list[str]]:
    if block.marker is None:
        return {}
    kind, words = block.marker
    assert kind == "transcript", f"{block.where}: a `{kind}:` marker above a console block"
    return fixture_words(words)


def _marks(block: Block) -> list[pytest.MarkDecorator]:
    try:
        words = _words(block)
    except (AssertionError, ValueError):
        return []  # the test itself reports the marker
    if "embedded" in words:
        # the model answers one request at a time, tens of seconds each on two busy cores
        return [pytest.mark.real_model, pytest.mark.timeout(900)]
    return []


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=b.where, marks=_marks(b)) for b in TRANSCRIPTS],
)
def test_transcript(block: Block, tmp_path: Path) -> None:
    steps = parse_transcript(block.text)
    assert steps, f"{block.where}: a console block without a `$ ` command"
    with prepare(block, _words(block), tmp_path) as setup:
        for step in steps:
            code, actual = run_step(step, setup)
            shown = "\n".join(actual)
            if not matches(step.expected, actual, str(setup.cwd)):
                expected = "\n".join(step.expected)
                pytest.fail(
                    f"{block.where}: `$ {step.command}` printed:\n{shown}\n\n"
                    f"the document shows:\n{expected}",
                    pytrace=False,
                )
            if code != step.exit_code:
                pytest.fail(
                    f"{block.where}: `$ {step.command}` exited with {code}, "
                    f"the document says {step.exit_code}:\n{shown}",
                    pytrace=False,
                )


def _model_serve_table() -> str:
    from localroute import embedded

    server = embedded.EmbeddedServer(process=None, port=8080, log_path=Path())  # type: ignore[arg-type]
    return server.backend_toml("local")


@pytest.mark.parametrize("block", [pytest.param(b, id=b.where) for b in TOML_BLOCKS])
def test_toml_block(block: Block, tmp_path: Path) -> None:
    tomllib.loads(block.text)  # every block is TOML, whatever it configures
    kind, words = block.marker or ("toml", ())
    foreign = FOREIGN_TOML.get(str(block.doc.relative_to(ROOT)))
    if foreign or words == ("not-localroute",):
        return
    assert kind == "toml", f"{block.where}: a `{kind}:` marker above a TOML block"
    assert words in ((), ("invalid",), ("model-serve",)), f"{block.where}: unknown {words}"
    if words == ("model-serve",):
        assert block.text == _model_serve_table(), (
            f"{block.where} differs from what `localroute model serve` prints:\n"
            + _model_serve_table()
        )
    path = tmp_path / "config.toml"
    path.write_text(block.text, encoding="utf-8")
    checked = subprocess.run(
        [sys.executable, "-m", "localroute", "config", "check", str(path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "server"), "HOME": str(tmp_path)},
    )
    if words == ("invalid",):
        assert checked.returncode == 1, f"{block.where} is marked invalid but passes the check"
    else:
        assert (checked.returncode, checked.stderr) == (0, ""), (
            f"{block.where}: `localroute config check` says:\n{checked.stderr}"
        )
        assert checked.stdout.strip() == f"{path}: ok"


def test_commands_shown_with_output_are_transcripts() -> None:
    wrong = [
        b.where
        for b in ALL_BLOCKS
        if (
            b.lang in ("sh", "bash", "shell", "zsh")
            and any(line.startswith("$ ") for line in b.text.splitlines())
        )
        or (b.lang in ("", "text") and b.text.startswith(("$ ", "localroute ")))
    ]
    assert not wrong, f"commands shown with their output outside a console block: {wrong}"


def test_every_marker_belongs_to_the_block_below_it() -> None:
    for doc in DOCS:
        below = {b.marker_line: b for b in blocks(doc) if b.marker is not None}
        for line, text in markers(doc):
            where = f"{doc.relative_to(ROOT)}:{line}"
            block = below.get(line)
            assert block is not None and block.marker is not None, (
                f"{where}: {text} is not right above a fenced block"
            )
            fits = {("transcript", "console"), ("toml", "toml")}
            assert (block.marker[0], block.lang) in fits, (
                f"{where}: a {block.marker[0]} marker above a {block.lang or 'plain'} block"
            )


def test_the_documentation_has_transcripts() -> None:
    # The runner must find what it is meant to run: a parser that found nothing would pass.
    assert len(TRANSCRIPTS) >= 5
    assert {b.doc.name for b in TRANSCRIPTS} >= {"getting-started.md", "cli.md"}
    assert len(TOML_BLOCKS) >= 10
    assert set(FIXTURES)


# -- the matcher itself ----------------------------------------------------------------------


def test_matcher_placeholders_and_skipped_stretches() -> None:
    actual = ["local  up  12 ms  http://127.0.0.1:8080/v1", "a", "b", "task review: x"]
    assert matches(["local  up  [N] ms  [PATH]", "...", "task review: x"], actual)
    assert matches(["local  [...]", "a", "b", "...", "task review: x"], actual)
    assert matches(["...", "b", "task review: [...]"], actual)
    assert not matches(["local  up  [N] ms  [PATH]", "task review: x"], actual)
    assert not matches(["local  down  [N] ms  [PATH]", "..."], actual)
    assert not matches(["...", "a"], actual), "the last line must match too"
    assert matches(["in [TMP]/x"], ["in /tmp/abc/x"], "/tmp/abc")
    assert not matches(["in [TMP]/x"], ["in /tmp/other/x"], "/tmp/abc")
    assert matches(["localroute [VERSION]"], ["localroute 0.1.0"])
    assert not matches(["[N] files"], ["many files"])
    assert matches([], []) and not matches([], ["x"]) and matches(["..."], [])


def test_matcher_lines_in_any_order() -> None:
    expected = ["[any order] a.py: [...]", "[any order] b.py: refused", "summary"]
    assert matches(expected, ["a.py: fine", "b.py: refused", "summary"])
    assert matches(expected, ["b.py: refused", "a.py: fine", "summary"])
    assert not matches(expected, ["b.py: refused", "summary", "a.py: fine"])
    assert not matches(expected, ["a.py: fine", "a.py: again", "summary"])
    assert not matches(expected, ["a.py: fine", "summary"])


def test_transcript_parser() -> None:
    steps = parse_transcript("$ a\nout\n[exit 3]\n$ b \\\n> --c\n$ d\n")
    assert [(s.command, s.expected, s.exit_code) for s in steps] == [
        ("a", ["out"], 3),
        ("b \\\n--c", [], 0),
        ("d", [], 0),
    ]
    with pytest.raises(ValueError, match="before the first command"):
        parse_transcript("out\n$ a\n")
