"""Credentials that a whole document's shape gives away: a GCP service-account key
file (JSON, or that JSON base64-encoded), and the values of a Kubernetes ``Secret``
manifest, which are secret by declaration and base64-encoded, so that no name or
prefix shows them."""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Callable

from localroute.privacy.secrets import kinds, values
from localroute.privacy.secrets.assignments import judge_for_name
from localroute.privacy.secrets.keys import base64_signatures, contains_any

# On the lowered text.
_GCP_TYPE = re.compile(r"""service_account["'][ \t]*[,}\r\n]""")
_GCP_PRIVATE_KEY = re.compile(r"""private_key["'][ \t]*:[ \t]*["']([^"'\n]{0,64})""")
_GCP_BASE64_MARKERS = base64_signatures(b'"service_account"')
_GCP_BASE64 = re.compile("|".join(_GCP_BASE64_MARKERS))

# At the start of a line (checked after the match: the literal first is what the
# engine scans for fast).
_SECRET_KIND = re.compile(r"""kind["']?:[ \t]*["']?Secret["']?[ \t]*\r?$""", re.MULTILINE)
# A YAML document ends at `---` or where the next manifest's top-level `kind:` is.
_DOCUMENT_BOUNDARY = re.compile(r"""^(?:---|kind["']?:)""", re.MULTILINE)
# `  name: <base64>` under `data:` (or anywhere in the manifest: other fields are not
# padded base64 that decodes to text, and are judged as such below). However long: a
# value is not cleared for its length (possessive, so the run is matched once).
_DATA_ENTRY = re.compile(
    r"""^[ \t]+["']?([\w.\-]{1,253}+)["']?:[ \t]+"""
    r"""["']?([A-Za-z0-9+/]{8,}+={0,2})["']?[ \t]*\r?$""",
    re.MULTILINE,
)
# Decoded text is scanned once more, so that a Secret's `config.yaml` or
# `.dockerconfigjson` is judged by what it holds; a longer value is a credential unread.
MAX_DECODED = 64 * 1024


def _gcp_service_account(text: str, lowered: str) -> list[int]:
    found = []
    if contains_any(text, _GCP_BASE64_MARKERS):
        found += [m.start() for m in _GCP_BASE64.finditer(text)]
    if "service_account" not in lowered or _GCP_TYPE.search(lowered) is None:
        return found
    for m in _GCP_PRIVATE_KEY.finditer(lowered):
        head = m.group(1)
        if head.startswith("-----begin") or (len(head) == 64 and not values.is_placeholder(head)):
            found.append(m.start())
    return found


def _judge_decoded(name: str, encoded: str, holds_secret: Callable[[str], bool]) -> bool | None:
    """Whether a Secret's value holds a credential once decoded; None when it is not
    base64 of text (then it is left to the other detectors, as any value is)."""
    if len(encoded) % 4:
        return None  # not padded base64: a word, a name, a number
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Bytes: a key or a keystore when long enough to be one.
        return True if len(raw) >= 16 else None
    if not decoded.replace("\n", "").replace("\r", "").replace("\t", "").isprintable():
        return True if len(raw) >= 16 else None
    decoded = decoded.strip()
    if "\n" in decoded or len(decoded) > 256:
        # A value too long to scan whole is a credential: what was not scanned may hold
        # one, and the encoded text shows no other detector what it holds.
        return len(decoded) > MAX_DECODED or holds_secret(decoded)
    if judge_for_name(name) is not None:
        # A secret's name, in a Secret: any value that is not a demo one.
        return values.looks_like_connection_password("", decoded)
    if values.looks_like_secret_value(decoded):
        return True
    # A URL, a key=value string, a token with a prefix: scanned as any text is.
    return any(c in decoded for c in ":=@_-") and holds_secret(decoded)


def _kubernetes_secret_values(
    text: str, holds_secret: Callable[[str], bool]
) -> tuple[list[int], list[int]]:
    found: list[int] = []
    cleared: list[int] = []
    separators: list[int] | None = None
    for kind in _SECRET_KIND.finditer(text):
        if kind.start() and text[kind.start() - 1] != "\n":
            continue
        if separators is None:
            separators = [m.start() for m in _DOCUMENT_BOUNDARY.finditer(text)]
        i = bisect.bisect_left(separators, kind.start())
        start = separators[i - 1] if i else 0
        end = separators[i + 1] if i + 1 < len(separators) else len(text)
        for m in _DATA_ENTRY.finditer(text, start, end):
            verdict = _judge_decoded(m.group(1), m.group(2), holds_secret)
            if verdict is not None:
                (found if verdict else cleared).append(m.start(2))
    return found, cleared


def find_in_documents(
    text: str, lowered: str, holds_secret: Callable[[str], bool]
) -> tuple[list[tuple[int, str]], list[int]]:
    """(offset, kind) of the credentials that a document's shape gives away, and the
    offsets of values that it clears: a Secret's base64 value that decodes to a
    placeholder ("changeme") or a user name is not a credential, whatever its name.
    ``holds_secret`` scans a decoded value for any credential."""
    found = [(offset, kinds.GCP_SERVICE_ACCOUNT) for offset in _gcp_service_account(text, lowered)]
    cleared: list[int] = []
    if "Secret" in text:
        secret_values, cleared = _kubernetes_secret_values(text, holds_secret)
        found += [(offset, kinds.KUBERNETES_SECRET) for offset in secret_values]
    return found, cleared
