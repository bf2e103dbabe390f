"""One scan of a text for every kind of credential, reported by kind and line."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from localroute.privacy.secrets import kinds
from localroute.privacy.secrets.assignments import find_assignments
from localroute.privacy.secrets.connections import find_connection_strings
from localroute.privacy.secrets.documents import find_in_documents
from localroute.privacy.secrets.keys import find_private_keys
from localroute.privacy.secrets.tokens import find_tokens

_LONE_CR = re.compile(r"\r(?!\n)")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_AWS_SECRET_VALUE = re.compile(r"[A-Za-z0-9/+]{40}")
_TWILIO_AUTH_TOKEN = re.compile(r"[0-9a-f]{32}")
# Kinds that a more specific one on the same line makes redundant: a GitHub token
# assigned to `github_token` or given as a URL's password is a GitHub token, a
# Kubernetes secret value holding a private key is a private key.
_WEAK_KINDS = frozenset({kinds.GENERIC, kinds.KUBERNETES_SECRET, kinds.CONNECTION_STRING})


@dataclass(frozen=True)
class SecretHit:
    """A credential found in a text: its kind and 1-based line, never its value."""

    kind: str
    line: int


def _lowered(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):
        # A few non-ASCII letters lowercase to two chars; offsets must match.
        lowered = text.translate(_ASCII_LOWER)
    return lowered


def _find(text: str, *, nested: bool) -> tuple[list[tuple[int, str]], list[int]]:
    """(offset, kind) of every credential in ``text``, unsorted, maybe repeated; and the
    offsets of values that a document's shape clears of a generic assignment."""
    lowered = _lowered(text)
    found = find_tokens(text, lowered)
    # A value next to a provider's id is that provider's secret: 40 base64 characters
    # next to an AWS access key id, 32 hex next to a Twilio account SID.
    present = {kind for _, kind in found}

    def kind_of(value: str) -> str:
        if kinds.AWS_KEY_ID in present and _AWS_SECRET_VALUE.fullmatch(value):
            return kinds.AWS_SECRET
        if kinds.TWILIO in present and _TWILIO_AUTH_TOKEN.fullmatch(value):
            return kinds.TWILIO
        return kinds.GENERIC

    found += [(offset, kind_of(value)) for offset, value in find_assignments(text, lowered)]
    found += find_connection_strings(text, lowered)
    found += find_private_keys(text)
    # A value decoded from base64 is scanned once more, not recursively.
    in_documents, cleared = find_in_documents(
        text, lowered, lambda decoded: not nested and bool(_find(decoded, nested=True)[0])
    )
    return found + in_documents, cleared


def find_secrets(text: str, *, first_line: int = 1) -> list[SecretHit]:
    """Find credentials in ``text``; one hit per (kind, line), sorted by line.

    ``first_line`` is the number given to the first line of ``text``, so a
    selection reports lines of its file. A line holding a specific kind (a
    GitHub token, ...) is not reported again as a generic credential
    assignment.
    """
    # A lone `\r` ends a line (LSP's line model) but not for `^`/`$`: without this, an
    # unquoted `TOKEN=...` in a file with classic Mac line endings went unseen (and every
    # hit was on "line 1"). Same length, so offsets still point into the original text.
    text = _LONE_CR.sub("\n", text)
    found, cleared = _find(text, nested=False)
    if not found:
        return []
    line_starts = [0]
    line_starts.extend(m.end() for m in re.finditer("\n", text))

    def line_of(offset: int) -> int:
        return first_line + bisect.bisect_right(line_starts, offset) - 1

    by_line: dict[int, set[str]] = {}
    for offset, kind in found:
        by_line.setdefault(line_of(offset), set()).add(kind)
    for offset in cleared:
        by_line.get(line_of(offset), set()).discard(kinds.GENERIC)
    hits: list[SecretHit] = []
    for line in sorted(by_line):
        line_kinds = by_line[line]
        if not line_kinds:
            continue
        if line_kinds - _WEAK_KINDS:
            line_kinds -= _WEAK_KINDS
        elif len(line_kinds) > 1:
            line_kinds.discard(kinds.GENERIC)
        hits.extend(SecretHit(kind, line) for kind in sorted(line_kinds))
    return hits
