"""Executable documentation: the fenced blocks of README.md and docs/, their markers, the
transcript matcher, and the set-ups a transcript can name.

The format is described in tests/e2e/test_docs_transcripts.py, which runs every block.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>transcript|toml):(?P<words>[^>]*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    doc: Path
    line: int
    """1-based line of the opening fence."""
    lang: str
    text: str
    marker: tuple[str, tuple[str, ...]] | None
    """``(kind, words)`` of an HTML comment right above the fence (blank lines allowed)."""
    marker_line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of ``doc``, with the marker above it if there is one."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        end = i + 1
        while end < len(lines) and not re.match(rf"^ *{re.escape(fence)}\s*$", lines[end]):
            end += 1
        body = [line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : end]]
        marker, marker_line = _marker_above(lines, i)
        text = "\n".join(body) + "\n"
        found.append(Block(doc, i + 1, opening["lang"].lower(), text, marker, marker_line))
        i = end + 1
    return found


def _marker_above(
    lines: list[str], fence: int
) -> tuple[tuple[str, tuple[str, ...]] | None, int | None]:
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    match = _MARKER.match(lines[j]) if j >= 0 else None
    if match is None:
        return None, None
    return (match["kind"], tuple(match["words"].split())), j + 1


def markers(doc: Path) -> list[tuple[int, str]]:
    """Every ``<!-- transcript: … -->`` / ``<!-- toml: … -->`` line: (line, text)."""
    return [
        (n, line.strip())
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"<!--\s*(transcript|toml)\s*:", line)
    ]


# -- transcripts -----------------------------------------------------------------------------


@dataclass
class Step:
    command: str
    expected: list[str]
    exit_code: int = 0


_EXIT = re.compile(r"^\[exit (\d+)\]$")


def parse_transcript(text: str) -> list[Step]:
    """``$ command`` lines (``> `` continues one), then its output; ``[exit N]`` last."""
    steps: list[Step] = []
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append(Step(line[2:], []))
        elif line.startswith("> ") and steps and not steps[-1].expected:
            steps[-1].command += "\n" + line[2:]
        elif not steps:
            raise ValueError(f"output before the first command: {line!r}")
        elif (code := _EXIT.match(line)) is not None:
            steps[-1].exit_code = int(code[1])
        else:
            steps[-1].expected.append(line.rstrip())
    return steps


_PLACEHOLDERS = {
    "[N]": r"\d+(?:[.,]\d+)*",
    "[PATH]": r"\S+",
    "[VERSION]": r"\d+(?:\.\d+)+\S*",
    "[PORT]": r"\d+",
    "[...]": r".*",
}
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in [*_PLACEHOLDERS, "[TMP]"]))


def line_pattern(expected: str, tmp: str) -> re.Pattern[str]:
    """One expected line as a regular expression over one actual line."""
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(expected):
        parts.append(_literal(expected[last : match.start()]))
        token = match.group()
        parts.append(re.escape(tmp) if token == "[TMP]" else _PLACEHOLDERS[token])
        last = match.end()
    parts.append(_literal(expected[last:]))
    return re.compile("".join(parts))


def _literal(text: str) -> str:
    # Columns of a table move when a number in them gets wider: a gap of two or more
    # spaces stands for any gap.
    return " +".join(re.escape(piece) for piece in re.split(r" {2,}", text))


ANY_ORDER = "[any order] "
"""Consecutive expected lines that start so match as many actual lines in any order (the
lines of files reviewed at once come in the order they finish)."""


def matches(expected: list[str], actual: list[str], tmp: str = "\0") -> bool:
    """Whether ``actual`` lines fit ``expected``: line by line, placeholders inside lines,
    a line that is only ``...`` standing for any number of lines (none included), and
    lines marked :data:`ANY_ORDER` in any order among themselves."""
    items: list[re.Pattern[str] | list[re.Pattern[str]] | None] = []
    for line in expected:
        if line == "...":
            items.append(None)
        elif line.startswith(ANY_ORDER):
            pattern = line_pattern(line[len(ANY_ORDER) :], tmp)
            group = items[-1] if items else None
            if isinstance(group, list):
                group.append(pattern)
            else:
                items.append([pattern])
        else:
            items.append(line_pattern(line, tmp))

    @_memo
    def fit(i: int, j: int) -> bool:
        if i == len(items):
            return j == len(actual)
        item = items[i]
        if item is None:
            return any(fit(i + 1, k) for k in range(j, len(actual) + 1))
        if isinstance(item, list):
            block = actual[j : j + len(item)]
            return (
                len(block) == len(item)
                and any(
                    all(p.fullmatch(line) for p, line in zip(order, block, strict=True))
                    for order in itertools.permutations(item)
                )
                and fit(i + 1, j + len(item))
            )
        return j < len(actual) and item.fullmatch(actual[j]) is not None and fit(i + 1, j + 1)

    return fit(0, 0)


def _memo(function: Callable[[int, int], bool]) -> Callable[[int, int], bool]:
    cache: dict[tuple[int, int], bool] = {}

    def wrapper(i: int, j: int) -> bool:
        if (i, j) not in cache:
            cache[i, j] = function(i, j)
        return cache[i, j]

    return wrapper


def normalize(output: str, replacements: list[tuple[str, str]]) -> list[str]:
    """The lines of a command's output as the document shows them: the substitutions made
    (fake addresses back to the documented ones, the home directory as ``~``), trailing
    spaces and blank lines at the end removed."""
    for old, new in replacements:
        # not inside a longer number: port 4574 is not the start of port 45745
        output = re.sub(re.escape(old) + r"(?!\d)", new.replace("\\", "\\\\"), output)
    lines = [line.rstrip() for line in output.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# -- set-ups ---------------------------------------------------------------------------------


@dataclass
class Setup:
    """What a transcript runs in: its directories, environment and loopback services."""

    tmp: Path
    home: Path
    cwd: Path
    env: dict[str, str]
    replacements: list[tuple[str, str]] = field(default_factory=list)
    timeout_s: float = 120.0


FIXTURES = {
    "project": "the commands run in a git repository (a project root) holding a copy of the "
    "repository's examples/ and server/localroute/",
    "config": "the nearest TOML block above, in the same document, is the user's config file",
    "up=NAME,…": "these backends are loopback fakes that answer (a reviewer that flags "
    "`/ len(...)`); every other backend with a url is down (a closed loopback port)",
    "embedded=NAME": "this backend is the embedded model (llama-cpp-python and the GGUF "
    "package; skipped when they are missing)",
}
"""The words a ``<!-- transcript: … -->`` marker may hold."""


def fixture_words(words: tuple[str, ...]) -> dict[str, list[str]]:
    """``("project", "up=local,homelab")`` → ``{"project": [], "up": ["local", "homelab"]}``."""
    parsed: dict[str, list[str]] = {}
    for word in words:
        name, _, value = word.partition("=")
        known = {key.partition("=")[0] for key in FIXTURES}
        if name not in known:
            raise ValueError(f"unknown transcript fixture {word!r} (known: {sorted(known)})")
        parsed[name] = [v for v in value.split(",") if v]
    return parsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def reviewer_answer(body: dict[str, Any]) -> str:
    """A fake model that reviews like a strict colleague with one rule: a division by
    ``len(...)`` fails on an empty list. Explanations get one fixed sentence."""
    user = next((m["content"] for m in body.get("messages", []) if m["role"] == "user"), "")
    if not user.startswith("Review "):
        return "It returns the mean of the ratios `scores[i] / totals[i]`."
    findings = [
        {
            "line": int(number),
            "severity": "error",
            "message": "Division by zero when the list is empty.",
        }
        for number, code in re.findall(r"^ *(\d+) \| (.*)$", user, re.MULTILINE)
        if "/ len(" in code
    ]
    return json.dumps({"findings": findings})


def _copy_tracked(target: Path, *folders: str) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *folders],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / name)


def _models(config: dict[str, Any], backend: str, commands: str) -> list[str]:
    """The models a fake serves: those its routes name, and ``NAME:MODEL`` in commands."""
    models = [
        entry.partition(":")[2]
        for task in config.get("tasks", {}).values()
        for key in ("route", "route_private")
        for entry in task.get(key) or []
        if entry.partition(":")[0] == backend
    ]
    models += re.findall(rf"(?<![\w.-]){re.escape(backend)}:([^\s:]+(?::[^\s:]+)?)", commands)
    return list(dict.fromkeys(models)) or ["coder"]


def _pin_locality(text: str, name: str, locality: str) -> str:
    header = re.compile(rf"^\[backends\.{re.escape(name)}\][^\n]*\n", re.MULTILINE)
    if header.search(text) is None:
        raise ValueError(f"the fixture cannot find the table [backends.{name}]")
    return header.sub(lambda m: f'{m.group()}locality = "{locality}"\n', text, count=1)


@contextlib.contextmanager
def prepare(block: Block, words: dict[str, list[str]], tmp: Path) -> Iterator[Setup]:
    """Directories, environment and fakes for one transcript; everything stops on exit."""
    home, cwd, bin_dir = tmp / "home", tmp / "work", tmp / "bin"
    for folder in (home, cwd, bin_dir):
        folder.mkdir(parents=True)
    shim = bin_dir / "localroute"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m localroute "$@"\n')
    shim.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LOCALROUTE_") and not key.lower().endswith("_proxy")
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT / "server"),
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
        NO_PROXY="127.0.0.1,localhost",
        GIT_CONFIG_NOSYSTEM="1",
    )
    setup = Setup(tmp, home, cwd, env)
    with contextlib.ExitStack() as stack:
        if "project" in words:
            _copy_tracked(cwd, "examples", "server/localroute")
            subprocess.run(["git", "init", "-q", str(cwd)], check=True, env=env)
        if ("up" in words or "embedded" in words) and "config" not in words:
            raise ValueError(f"{block.where}: `up=` and `embedded=` need `config`")
        if "config" in words:
            stack.enter_context(_user_config(block, words, setup, stack))
        if "embedded" in words:
            setup.timeout_s = 900.0  # a review on two CPU cores, one request at a time
        setup.replacements.append((str(home), "~"))
        yield setup


@contextlib.contextmanager
def _user_config(
    block: Block, words: dict[str, list[str]], setup: Setup, stack: contextlib.ExitStack
) -> Iterator[None]:
    from localroute.config.locality import locality_of_url
    from tests.fakes.ollama_fake import FakeOllama
    from tests.fakes.openai_fake import FakeOpenAI

    above = [b for b in blocks(block.doc) if b.lang == "toml" and b.line < block.line]
    if not above:
        raise ValueError(f"{block.where}: `config` needs a TOML block above the transcript")
    text = above[-1].text
    config = tomllib.loads(text)
    up, embedded = set(words.get("up", [])), set(words.get("embedded", []))
    for name, backend in config.get("backends", {}).items():
        url = backend.get("url")
        if not isinstance(url, str):
            continue
        if "locality" not in backend:
            text = _pin_locality(text, name, locality_of_url(url))
        if name in embedded:
            new_url = _start_embedded(stack)
        elif name in up:
            models = _models(config, name, block.text)
            kind = backend.get("kind")
            if kind == "openai":
                fake: Any = FakeOpenAI(answer_fn=reviewer_answer, models=models)
            elif kind == "ollama":
                fake = FakeOllama(answer_fn=reviewer_answer, models=models)
            else:
                raise ValueError(f"{block.where}: no fake for a backend of kind {kind!r}")
            stack.enter_context(fake)
            new_url = fake.url
        else:
            new_url = f"http://127.0.0.1:{free_port()}{urlsplit(url).path}"
        text = text.replace(json.dumps(url), json.dumps(new_url))
        old, new = urlsplit(url), urlsplit(new_url)
        setup.replacements.insert(
            0, (f"{new.scheme}://{new.netloc}", f"{old.scheme}://{old.netloc}")
        )
        setup.replacements.insert(1, (new.netloc, old.netloc))
    missing = (up | embedded) - set(config.get("backends", {}))
    if missing:
        raise ValueError(f"{block.where}: no backend named {sorted(missing)} in the config")
    path = setup.home / ".config" / "localroute" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    yield


def _start_embedded(stack: contextlib.ExitStack) -> str:
    import pytest

    from localroute import embedded

    try:
        server = embedded.start()
    except embedded.EmbeddedModelError as exc:
        pytest.skip(f"the embedded model cannot run here: {exc}")
    stack.callback(server.stop)
    return server.url


def run_step(step: Step, setup: Setup) -> tuple[int, list[str]]:
    """Run one command with bash in the transcript's directory: its exit status and its
    output (stdout and stderr together, as a terminal shows them), normalized."""
    done = subprocess.run(
        ["bash", "-c", step.command],
        cwd=setup.cwd,
        env=setup.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=setup.timeout_s,
    )
    output = done.stdout.decode("utf-8", errors="replace")
    return done.returncode, normalize(output, setup.replacements)
