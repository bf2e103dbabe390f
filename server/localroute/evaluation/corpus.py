"""The evaluation corpus shipped with the package: snippets with one seeded bug, or none."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
"""Where the snippets and their manifest (``corpus.toml``) live."""

LANGUAGES = ("python", "typescript", "go", "rust")


class CorpusError(ValueError):
    """The manifest does not describe the snippets (a packaging or editing mistake)."""


@dataclass(frozen=True)
class Snippet:
    """One file of the corpus. ``bug_line`` is 1-based; ``None`` for a clean control."""

    id: str
    path: Path
    language: str
    kind: str
    bug_line: int | None
    note: str = ""

    @property
    def clean(self) -> bool:
        return self.bug_line is None

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def load_corpus(directory: Path = CORPUS_DIR) -> list[Snippet]:
    """Every snippet of the manifest in ``directory``, checked against its file."""
    manifest = directory / "corpus.toml"
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"cannot read the corpus manifest {manifest}: {exc}") from exc
    snippets: list[Snippet] = []
    seen: set[str] = set()
    for entry in data.get("snippet", []):
        snippet = _snippet(directory, entry)
        if snippet.id in seen:
            raise CorpusError(f"{manifest}: snippet id {snippet.id!r} appears twice")
        seen.add(snippet.id)
        snippets.append(snippet)
    return snippets


def _snippet(directory: Path, entry: dict[str, object]) -> Snippet:
    try:
        id_, file, language, kind = (str(entry[k]) for k in ("id", "file", "language", "kind"))
    except KeyError as exc:
        raise CorpusError(f"a corpus snippet lacks the key {exc}") from None
    path = directory / file
    if not path.is_file():
        raise CorpusError(f"snippet {id_}: file {file} is missing")
    if language not in LANGUAGES:
        raise CorpusError(f"snippet {id_}: unknown language {language!r}")
    raw_line = entry.get("bug_line")
    bug_line = raw_line if isinstance(raw_line, int) and not isinstance(raw_line, bool) else None
    if (bug_line is None) != (kind == "clean"):
        raise CorpusError(f"snippet {id_}: a bug_line is required unless the kind is 'clean'")
    if bug_line is not None:
        lines = path.read_text(encoding="utf-8").splitlines()
        if not 1 <= bug_line <= len(lines) or not lines[bug_line - 1].strip():
            raise CorpusError(f"snippet {id_}: bug_line {bug_line} is not a line of code")
    return Snippet(id_, path, language, kind, bug_line, str(entry.get("note", "")))


def select(
    snippets: list[Snippet], *, languages: list[str] | None = None, limit: int | None = None
) -> list[Snippet]:
    """The snippets in ``languages`` (all when None); with ``limit``, that many per language,
    buggy and clean ones interleaved so a short run still has controls."""
    chosen = [s for s in snippets if not languages or s.language in languages]
    if limit is None:
        return chosen
    out: list[Snippet] = []
    for language in LANGUAGES:
        mine = [s for s in chosen if s.language == language]
        buggy = [s for s in mine if not s.clean]
        clean = [s for s in mine if s.clean]
        # One clean control per language as soon as two snippets are taken.
        take = buggy[: max(limit - 1, 1)] + clean[: 1 if limit > 1 else 0]
        out += take[:limit]
    return out
