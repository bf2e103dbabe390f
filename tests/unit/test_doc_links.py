"""Every link and every repository path in README.md and docs/ leads somewhere.

- A markdown link to a file (``[text](../x.md)``, ``[text](x.md#anchor)``, ``[text](#anchor)``)
  must name a file or folder of the repository, and its anchor a heading of that file
  (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens, ``-1``, ``-2`` …
  for repeated headings). Web links are not fetched.
- A path in backquotes that starts at a top-level folder of the repository
  (``server/localroute/cli.py``, ``client-vscode/test/*.test.ts``) or at a package of
  ``server/localroute`` (``privacy/gate.py``, ``lsp/``) must exist; a glob must match
  something; ``<name>`` is a placeholder. Build output that git ignores
  (``client-vscode/localroute-<version>.vsix``) counts as existing.
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "server" / "localroute"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_FENCE = re.compile(r"^ *(```|~~~)")


def _prose(doc: Path) -> list[tuple[int, str]]:
    """The lines of ``doc`` outside fenced code blocks, numbered from 1."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N"))
    return text.replace(" ", "-")


@cache
def anchors(doc: Path) -> frozenset[str]:
    found: list[str] = []
    for _, line in _prose(doc):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading[1])
            count = sum(1 for a in found if a == base or re.fullmatch(rf"{re.escape(base)}-\d+", a))
            found.append(base if count == 0 else f"{base}-{count}")
        found += re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line)
    return frozenset(found)


def _links(doc: Path) -> list[tuple[int, str]]:
    return [(n, target) for n, line in _prose(doc) for target in _LINK.findall(line)]


def _broken_link(doc: Path, target: str) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, vscode: …
        return None
    path_part, _, anchor = target.partition("#")
    destination = (doc.parent / path_part).resolve() if path_part else doc
    if not destination.exists():
        return f"no file {path_part}"
    if not destination.is_relative_to(ROOT):
        return f"{path_part} is outside the repository"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"no heading #{anchor} in {destination.relative_to(ROOT)}"
    return None


@cache
def _top_level() -> frozenset[str]:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return frozenset(name.split("/")[0] for name in tracked if "/" in name)


def _packages() -> frozenset[str]:
    return frozenset(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def _ignored(path: str) -> bool:
    """Whether git ignores ``path`` or what is inside it (build output, caches)."""
    path = path.rstrip("/")
    for candidate in (path, f"{path}/x"):
        done = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", candidate], cwd=ROOT, capture_output=True
        )
        if done.returncode == 0:
            return True
    return False


def _exists(base: Path, path: str) -> bool:
    pattern = re.sub(r"<[^>]+>", "*", path)
    if any(c in pattern for c in "*?["):
        if any(base.glob(pattern.rstrip("/"))):
            return True
        concrete = pattern.replace("*", "x")
        return _ignored(str((base / concrete).relative_to(ROOT)))
    return (base / path).exists() or _ignored(str((base / path).relative_to(ROOT)))


def _broken_path(token: str, doc: Path = ROOT / "README.md") -> str | None:
    token = token.strip().split()[0] if token.strip() else ""
    token = re.sub(r":\d+$", "", token)  # file.py:12
    if not re.fullmatch(r"[\w.*<>-]+(/[\w.*<>-]*)+", token):
        return None
    if token.startswith(("../", "./")):  # relative to the document, like a link
        target = (doc.parent / token).resolve()
        inside = target.is_relative_to(ROOT) and _exists(ROOT, str(target.relative_to(ROOT)))
        return None if inside else f"`{token}` is not in the repository"
    if token.startswith((".", "/")):
        return None
    first = token.split("/")[0]
    if first in _top_level():
        return None if _exists(ROOT, token) else f"`{token}` is not in the repository"
    if first in _packages() and (token.endswith("/") or "." in token.split("/")[-1]):
        return None if _exists(PACKAGE, token) else f"`{token}` is not in server/localroute/"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_links_lead_to_files_and_headings(doc: Path) -> None:
    broken = [
        f"{doc.relative_to(ROOT)}:{n}: ({target}): {why}"
        for n, target in _links(doc)
        if (why := _broken_link(doc, target))
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_paths_named_in_the_docs_exist(doc: Path) -> None:
    broken = [
        f"{doc.relative_to(ROOT)}:{n}: {why}"
        for n, line in _prose(doc)
        for token in _CODE_SPAN.findall(line)
        if (why := _broken_path(token, doc))
    ]
    assert not broken, "\n".join(broken)


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "getting-started.md"
    assert _broken_link(doc, "cli.md") is None
    assert _broken_link(doc, "missing.md") == "no file missing.md"
    assert _broken_link(doc, "#3-check-it") is None
    assert _broken_link(doc, "#no-such-heading") is not None
    assert _broken_link(doc, "../../shared/PROTOCOLS.md") is not None
    assert _broken_link(doc, "https://example.com/x") is None
    assert _broken_path("server/localroute/cli.py") is None
    assert _broken_path("server/localroute/nope.py") is not None
    assert _broken_path("privacy/gate.py") is None
    assert _broken_path("privacy/nope.py") is not None
    assert _broken_path("client-vscode/test/*.test.ts") is None
    assert _broken_path("client-vscode/localroute-<version>.vsix") is None  # git-ignored output
    assert _broken_path("workspace/configuration") is None  # not a path of the repository
    assert _broken_path("../shared/PROTOCOLS.md", doc) is not None
    assert _broken_path("../examples/sample.py", doc) is None
    assert slug("3. Check it") == "3-check-it"
    assert slug("The embedded model: nothing to download") == (
        "the-embedded-model-nothing-to-download"
    )
    assert slug('`[backends.NAME]` kind = "openai"') == "backendsname-kind--openai"
