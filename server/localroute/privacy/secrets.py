"""Credential detection in the text about to be sent to a model.

Runs on every request, so every detector is a precompiled regex scanned over
the whole text at C speed; line numbers are only computed for matches. The
generic "credential assignment" detector is the only one with heuristics:
it weighs the value (length, entropy, character classes) and drops obvious
placeholders, paths, URLs and identifiers, since ordinary code is full of
names like ``token`` and ``auth``.

Hits carry the kind and the line, never the matched text: they end up in
logs and in the editor, where a secret must not.

This module is pure: it imports neither pygls nor httpx.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from dataclasses import dataclass

GENERIC_KIND = "credential assignment"


# Every token pattern starts with its literal prefix, then checks that it is
# not glued to a longer identifier (a lookbehind placed first would defeat
# the regex engine's literal-prefix scan and cost ~40x). Runs of name or
# token characters are bounded or possessive (`*+`, Python 3.11) so that
# adversarial text such as "tokentoken..." cannot make a scan quadratic.
def _token(prefix: str, width: int, rest: str) -> re.Pattern[str]:
    """``prefix`` (matching ``width`` chars), not preceded by a word char, then ``rest``."""
    return re.compile(rf"{prefix}(?<![\w\-]{'.' * width}){rest}")


_OP = r"""["'\]]*+[ \t]*+(?::=|=>|=(?!=)|:(?!:))[ \t]*"""

# (kind, pattern, run on the ASCII-lowercased text)
_DETECTORS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), False),
    (
        "AWS access key id",
        re.compile(r"A(?<![A-Z0-9]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}(?![A-Z0-9])"),
        False,
    ),
    (
        # Case-blind throughout, so it runs on the lowered text: the name
        # needs both words, the value is 40 base64 chars, quoted or not.
        "AWS secret access key",
        re.compile(
            r"(?:aws[\w.\-]{0,40}?secret|secret[\w.\-]{0,40}?aws)[\w.\-]{0,64}+"
            + _OP
            + r"""[rbu]?["'`]?[a-z0-9/+]{40}(?![a-z0-9/+])"""
        ),
        True,
    ),
    ("GitHub token", _token("gh[pousr]_", 4, r"[A-Za-z0-9]{36,}"), False),
    ("GitHub token", _token("github_pat_", 11, r"\w{22,}"), False),
    ("GitLab token", _token("glpat-", 6, r"[\w\-]{20,}"), False),
    ("Slack token", _token("xox[abprs]-", 5, r"[A-Za-z0-9\-]{10,}"), False),
    (
        "Slack token",
        re.compile(r"hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
        False,
    ),
    (
        "OpenAI API key",
        _token("sk-", 3, r"(?!ant-)(?:(?:proj|svcacct|admin)-[\w\-]{20,}|[A-Za-z0-9]{20,})"),
        False,
    ),
    ("Anthropic API key", _token("sk-ant-", 7, r"[\w\-]{20,}"), False),
    ("Google API key", _token("AIza", 4, r"[\w\-]{35}"), False),
    ("JWT", _token("eyJ", 3, r"[\w\-]{7,}+\.eyJ[\w\-]{7,}+\.[\w\-]{16,}"), False),
)

_NAME_WORDS = (
    r"password|passwd|pwd|secret|token|api[_\-]?key|auth(?!or(?:s|ed|ship)?(?![a-z]))|credential"
    r"|private[_\-]?key|access[_\-]?key"
)
_NAME_WORD = re.compile(_NAME_WORDS)
# A quoted value after a secret-like name: `db_password = "..."`,
# `"apiKey": '...'`, `token := "..."`, `d["secret"] = b"..."`. Run on the
# lowered text; the value is then read from the original at the same span.
_ASSIGN = re.compile(
    rf"(?P<name>(?:{_NAME_WORDS})[\w.\-]{{0,64}}+){_OP}"
    r"""(?:[rbuf]{1,2}|@)?(?:"([^"\n]*)"|'([^'\n]*)'|`([^`\n]*)`)"""
)
# .env / shell / Dockerfile style: `API_TOKEN=abc...` with no spaces around
# `=`, alone on its line (code rarely looks like that; kwargs end with `,`/`)`).
_ENV_ASSIGN = re.compile(
    r"^(?:[ \t]*(?:export|ENV|ARG)[ \t]+)?([A-Za-z_][\w.\-]*+)="
    r"""([^\s"'`#,;(){}\[\]<>]{12,})(?:[ \t]+#.*)?[ \t\r]*$""",
    re.MULTILINE,
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_PLACEHOLDER_WORDS = (
    "example", "changeme", "change_me", "placeholder", "your_", "your-", "xxxx",
    "process.env", "os.environ", "getenv", "none", "null", "***", "redacted",
)  # fmt: skip
# Templates and interpolations: <name>, ${VAR}, {{ var }}, f"{obj.attr}", %(x)s, $VAR.
_TEMPLATE = re.compile(r"<[^>]*>|\$\{[^}]*\}|\{\{.*\}\}|\{[^{}\s]*\}|%\(\w+\)s|%s|^\$\w+$")
# Regex source, not a credential: (?=..), \s, [^..], .*, [a-z0-9]+
_REGEX_SOURCE = re.compile(r"\(\?|\\[sdwbSDWB]|\[\^|\.[*+]|\][*+?{]|a-z|A-Z|0-9")
# The humps of a camelCase / PascalCase / ACRONYMWord identifier.
_HUMP = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_TRAILING_DIGITS = re.compile(r"[0-9]{1,2}$")
_WORD_SEPARATORS = re.compile(r"[._\-/:]+")
_URL_NO_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s]*(?:[/?#][^@\s]*)?")
_PATH = re.compile(
    r"(?:~|\.{1,2})[/\\]\S*"
    r"|(?:[A-Za-z]:)?[/\\]?(?:[\w.\-]+[/\\])+[\w\-]*\.[A-Za-z][A-Za-z0-9]{0,7}"
    r"|/(?i:etc|var|run|home|usr|opt|tmp|srv|mnt|users|data|app|secrets|config)/\S*"
)
# Names of identifiers and digests, and the values they typically hold.
_ID_NAME = re.compile(r"(?:id|ids|uuid|guid|hash|digest|sha\d*|md5|checksum|etag)$")
_ID_VALUE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?:[0-9a-f]{8}){4,16}",
    re.IGNORECASE,
)
# Longer values are judged by their head: bounds the heuristics' cost, and
# long tokens are caught by the specific detectors anyway.
_MAX_VALUE = 512
_AUTH_SCHEME = re.compile(r"^(?:bearer|basic|token|bot)\s+", re.IGNORECASE)
# host:port, dates, times, version numbers.
_HOST_PORT_OR_DATE = re.compile(r"[\w.\-]+:\d{1,5}|[\d:.\-/+TZ]+")
_DOTTED_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")


@dataclass(frozen=True)
class SecretHit:
    """A credential found in a text: its kind and 1-based line, never its value."""

    kind: str
    line: int


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value`` (0.0 for the empty string)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _char_classes(value: str) -> int:
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digit = any(c.isdigit() for c in value)
    symbol = any(not c.isalnum() for c in value)
    return lower + upper + digit + symbol


def _is_wordy(value: str) -> bool:
    # Identifiers, header names, env var names and words ("Authorization",
    # "OPENAI_API_KEY", "bert-base-uncased") rather than random characters.
    # Random strings have short humps ("aBcDeF") or digits inside; a couple
    # of trailing digits is a version ("auth0", "EC2") when there are pieces.
    pieces = [p for p in _WORD_SEPARATORS.split(value) if p]
    if not pieces:
        return False
    for piece in pieces:
        letters = _TRAILING_DIGITS.sub("", piece) if len(pieces) > 1 else piece
        if not (letters.isascii() and letters.isalpha()):
            return False
        humps = len(_HUMP.findall(letters))
        if humps > 1 and len(letters) < 3 * humps:
            return False
    return True


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return (
        len(set(value)) == 1
        or any(word in lowered for word in _PLACEHOLDER_WORDS)
        or _TEMPLATE.search(value) is not None
        or _is_wordy(value)
        # Prose, messages and style strings ("bold #08547A"); real
        # credentials almost never hold whitespace.
        or any(c.isspace() for c in value)
        or _REGEX_SOURCE.search(value) is not None
        or _URL_NO_USERINFO.fullmatch(value) is not None
        or _HOST_PORT_OR_DATE.fullmatch(value) is not None
        or _PATH.fullmatch(value) is not None
    )


def looks_like_secret_value(value: str) -> bool:
    """Whether a quoted value assigned to a secret-like name looks like a real credential."""
    # "Bearer <token>" is a header value whose token is the secret.
    value = _AUTH_SCHEME.sub("", value[:_MAX_VALUE])
    if len(value) < 8 or _is_placeholder(value):
        return False
    return shannon_entropy(value) >= 3.0 or _char_classes(value) >= 3


def _looks_like_env_secret(value: str) -> bool:
    value = value[:_MAX_VALUE]
    if _is_placeholder(value) or _DOTTED_NAME.fullmatch(value):
        return False
    return shannon_entropy(value) >= 3.5


def find_secrets(text: str, *, first_line: int = 1) -> list[SecretHit]:
    """Find credentials in ``text``; one hit per (kind, line), sorted by line.

    ``first_line`` is the number given to the first line of ``text``, so a
    selection reports lines of its file. A line holding a specific kind (a
    GitHub token, ...) is not reported again as a generic credential
    assignment.
    """
    found: list[tuple[int, str]] = []
    lowered = text.lower()
    if len(lowered) != len(text):
        # A few non-ASCII letters lowercase to two chars; offsets must match.
        lowered = text.translate(_ASCII_LOWER)
    for kind, pattern, on_lowered in _DETECTORS:
        found.extend((m.start(), kind) for m in pattern.finditer(lowered if on_lowered else text))
    for m in _ASSIGN.finditer(lowered):
        group = next(g for g in (2, 3, 4) if m.start(g) >= 0)
        value = text[m.start(group) : m.end(group)]
        if _ID_NAME.search(m["name"]) and _ID_VALUE.fullmatch(value):
            continue  # token_id = "<uuid>", password_sha = "<hex>": references
        if looks_like_secret_value(value):
            found.append((m.start(), GENERIC_KIND))
    for m in _ENV_ASSIGN.finditer(text):
        if _NAME_WORD.search(m.group(1).lower()) and _looks_like_env_secret(m.group(2)):
            found.append((m.start(2), GENERIC_KIND))
    if not found:
        return []

    line_starts = [0]
    line_starts.extend(m.end() for m in re.finditer("\n", text))
    by_line: dict[int, set[str]] = {}
    for offset, kind in found:
        line = first_line + bisect.bisect_right(line_starts, offset) - 1
        by_line.setdefault(line, set()).add(kind)
    hits: list[SecretHit] = []
    for line in sorted(by_line):
        kinds = by_line[line]
        if len(kinds) > 1:
            kinds.discard(GENERIC_KIND)
        hits.extend(SecretHit(kind, line) for kind in sorted(kinds))
    return hits
