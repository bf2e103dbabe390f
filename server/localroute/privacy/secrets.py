"""Credential detection in the text about to be sent to a model.

Runs on every request, so every detector is a precompiled regex scanned over
the whole text at C speed (linear whatever the text); line numbers are only
computed for matches. Provider tokens are recognised by their prefixes, less
documentation placeholders; a private key by its BEGIN line, or by its END line
or body when a selection starts inside it. The generic "credential assignment"
detector (quoted values, and unquoted ones in .env, YAML and INI lines) weighs
the value (length, entropy, character classes) and drops obvious placeholders,
templates, paths, URLs, references and identifiers, since ordinary code is full
of names like ``token`` and ``auth``. The corpus in tests/data/secret_corpus/
measures it.

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
PRIVATE_KEY_KIND = "private key"
AWS_KEY_ID_KIND = "AWS access key id"
AWS_SECRET_KIND = "AWS secret access key"


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
    (
        PRIVATE_KEY_KIND,
        re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
        False,
    ),
    (PRIVATE_KEY_KIND, re.compile(r"PuTTY-User-Key-File-\d+: "), False),
    (
        AWS_KEY_ID_KIND,
        re.compile(r"A(?<![A-Z0-9]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}(?![A-Z0-9])"),
        False,
    ),
    (
        # Case-blind throughout, so it runs on the lowered text: the name
        # needs both words, the value is 40 base64 chars, quoted or not.
        AWS_SECRET_KIND,
        re.compile(
            r"(?:aws[\w.\-]{0,40}?secret|secret[\w.\-]{0,40}?aws)[\w.\-]{0,64}+"
            + _OP
            + r"""[rbu]?["'`]?[a-z0-9/+]{40}(?![a-z0-9/+])"""
        ),
        True,
    ),
    ("GitHub token", _token("gh[pousr]_", 4, r"[A-Za-z0-9]{36,}"), False),
    ("GitHub token", _token("github_pat_", 11, r"\w{22,}"), False),
    (
        # Personal, OAuth, deploy, runner, CI job, pipeline trigger, feed, mail, agent ...
        "GitLab token",
        _token("gl", 2, r"(?:pat|oas|dt|rt|cbt|ptt|ft|imt|soat|agent|ffct)-[\w\-]{20,}"),
        False,
    ),
    ("Slack token", _token("xox[abprs]-", 5, r"[A-Za-z0-9\-]{10,}"), False),
    ("Slack token", _token("xapp-", 5, r"\d-[A-Za-z0-9\-]{10,}"), False),
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

# A PEM private key is one credential from its BEGIN line to its END line, and a
# selection may hold any part of it. The BEGIN line is found above; a selection
# that starts inside the key is found by its END line or by its body: a first line
# of exactly 64 (PEM) or 70 (OpenSSH) base64 characters, alone on its line (quoted
# or indented at most) and not inside a block that a BEGIN line above opens (a
# certificate's body is left alone).
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{1,40}-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{1,40}-----")
_PEM_END_KEY = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(
    r"""^[ \t]*+["'`]?(?:[A-Za-z0-9+/]{70}|[A-Za-z0-9+/]{64})(?:\\n)?["'`]?[ \t,;+\\]*\r?$""",
    re.MULTILINE,
)

_NAME_WORDS = (
    r"password|passwd|pwd|secret|token(?!i[sz])|api[_\-]?key|auth(?!or(?:s|ed|ship)?(?![a-z]))"
    r"|credential|private[_\-]?key|access[_\-]?key"
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
# YAML, docker-compose, Kubernetes, JS object literals: `password: s3cr3t...` unquoted,
# alone on its line (a trailing `,`/`;` or comment at most). Quoted values are _ASSIGN's.
_YAML_ASSIGN = re.compile(
    r"""^[ \t]*+(?:-[ \t]+)?["']?([A-Za-z_$][\w.\-]*+)["']?[ \t]*:[ \t]+"""
    r"""([^\s"'`#,;(){}\[\]<>|&*!%@][^\s"'`#,;(){}\[\]<>]{5,})[,;]?(?:[ \t]+#.*)?[ \t\r]*$""",
    re.MULTILINE,
)
# INI / my.cnf / .properties / .conf: `password = s3cr3t...` unquoted, spaces around `=`
# (code would quote the value or call something).
_INI_ASSIGN = re.compile(
    r"""^[ \t]*+([A-Za-z_][\w.\-]*+)[ \t]+=[ \t]+"""
    r"""([^\s"'`#;,(){}\[\]<>][^\s"'`#;,(){}\[\]<>]{5,})(?:[ \t]+[#;].*)?[ \t\r]*$""",
    re.MULTILINE,
)
_LONE_CR = re.compile(r"\r(?!\n)")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_PLACEHOLDER_WORDS = (
    "example", "changeme", "change_me", "placeholder", "your_", "your-", "xxxx",
    "process.env", "os.environ", "getenv", "none", "null", "***", "redacted",
)  # fmt: skip
# Templates and interpolations: <your password>, ${VAR}, {{ var }}, f"{obj.attr}", {}, {0},
# %(x)s, %s, $VAR, and a model's special tokens (<|im_end|>). Their insides look like
# names, so that a random password holding "<", "{" or "%s" is not taken for one.
_TEMPLATE = re.compile(
    r"<\|[\w .\-]*\|>|<[A-Za-z][\w .\-]*>|\$\{[A-Za-z_][^}]*\}|\{\{.*?\}\}"
    r"""|\{[A-Za-z_][\w.\[\]'"()]*\}|\{\d*\}|%\(\w+\)[sd]|%[sd]|^\$\w+$"""
)
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
# CSS colours, functions and sizes ("design tokens" are named like credentials).
_CSS_VALUE = re.compile(
    r"#[0-9A-Fa-f]{3,8}|(?:rgb|hsl)a?\([^)]*\)|var\(--[\w\-]+\)|-?\d+(?:\.\d+)?(?:px|r?em|%|v[hw]|pt)"
)
# A type in a string annotation: "Array[llama_token]", "_Pointer[c_size_t]".
_TYPE_EXPRESSION = re.compile(r"[A-Za-z_][\w.]*\[[\w.\[\], |]*\]")
# References to a secret, not the secret: an AWS ARN, a lower-case resource path
# (GCP Secret Manager, Vault). Base64 secrets mix cases, so they never look like one.
_REFERENCE = re.compile(
    r"arn:aws[\w\-]*:[\w\-]*:[\w\-]*:\d*:\S+|(?:[a-z0-9][a-z0-9._\-]*/){2,}[a-z0-9._\-]+"
)
# Password hashes (bcrypt, argon2, crypt, Django's), under a hash-like name.
_HASH_FORMAT = re.compile(
    r"\$(?:2[abxy]?|argon2(?:id|i|d)|scrypt|[156]|pbkdf2[\w\-]*)\$|(?:pbkdf2_sha\d+|bcrypt\w*|argon2)\$"
)
# A token in docs: the documented AWS example ids end in EXAMPLE; placeholders end in
# a run of x, X, 0, * or . ("sk-xxxx...", "AKIAXXXX...").
_PLACEHOLDER_CHARS = frozenset("xX0*.")
_AWS_EXAMPLE_ID = re.compile(r"A[KS]IA[A-Z0-9]{9}EXAMPLE")
_ASSIGNED_BEFORE = re.compile(r"""(?::=|=>|[:=])[ \t]*["'`]?$""")
_AWS_SECRET_VALUE = re.compile(r"[A-Za-z0-9/+]{40}")
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


def _name_start(text: str, start: int) -> str:
    """The part of an identifier before its secret-like word (``publicKey`` in
    ``publicKeyToken``), at most 64 characters."""
    i = start
    while i > max(start - 64, 0) and (text[i - 1].isalnum() or text[i - 1] in "_.-"):
        i -= 1
    return text[i:start]


def _is_reference(name: str, value: str) -> bool:
    """Not a credential whatever the value: a public key or token (``publicKeyToken``),
    an identifier or digest (``token_id = "<uuid>"``, ``password_sha = "<hex>"``,
    ``password_hash = "$2b$..."``)."""
    if "public" in name:
        return True
    return _ID_NAME.search(name) is not None and (
        _ID_VALUE.fullmatch(value) is not None or _HASH_FORMAT.match(value) is not None
    )


def _documented_token(text: str, start: int, token: str, kind: str) -> bool:
    """A placeholder ("sk-xxxx...") or AWS's documented example id outside an assignment.

    The example ids (``...EXAMPLE``) are public and inert, so prose and tables that show
    them are not private; assigned (``aws_access_key_id = ...EXAMPLE``) they are, as
    configuration shaped like a real one is where real keys are pasted over examples.
    """
    if set(token[-12:]) <= _PLACEHOLDER_CHARS:
        return True
    if kind == AWS_KEY_ID_KIND and _AWS_EXAMPLE_ID.fullmatch(token):
        line_start = text.rfind("\n", 0, start) + 1
        return _ASSIGNED_BEFORE.search(text, line_start, start) is None
    return False


def _key_parts_without_header(text: str) -> list[int]:
    """Offsets of a private key's body and END line when its BEGIN line is not in ``text``."""
    found: list[int] = []
    # A selection that starts inside a key starts with its body: only the first line
    # counts (base64 further down is data, or the body of a block opened above it).
    top = len(text) - len(text.lstrip())
    m = _PEM_BODY.match(text, text.rfind("\n", 0, top) + 1)
    if m is not None:
        value = m.group().strip(" \t\r\"'`,;+\\")
        # Base64 of random bytes mixes cases and digits; hex digests and words do not.
        if not (value.isalpha() or value.lower() == value or value.upper() == value):
            found.append(m.start())
    if "-----END" not in text:
        return found
    # The body found above opens its block: its END line is the same key. An END line
    # is reported when no BEGIN line opens its block (sorted offsets, bisected).
    begins = found + [b.start() for b in _PEM_BEGIN.finditer(text)]
    ends = [e.start() for e in _PEM_END.finditer(text)]
    for end in _PEM_END_KEY.finditer(text):
        i = bisect.bisect_left(begins, end.start())
        j = bisect.bisect_left(ends, end.start())
        if i == 0 or (j > 0 and begins[i - 1] < ends[j - 1]):
            found.append(end.start())
    return found


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


def _is_prose(value: str) -> bool:
    """Text in a script other than Latin (translations): credentials are ASCII."""
    return 3 * sum(1 for c in value if c.isalpha() and not c.isascii()) >= len(value)


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return (
        len(set(value)) == 1
        or any(word in lowered for word in _PLACEHOLDER_WORDS)
        or _is_prose(value)
        or _CSS_VALUE.fullmatch(value) is not None
        or _REFERENCE.fullmatch(value) is not None
        or _TYPE_EXPRESSION.fullmatch(value) is not None
        or _is_wordy(value)
        # Prose, messages and style strings ("bold #08547A"); real
        # credentials almost never hold whitespace.
        or any(c.isspace() for c in value)
        or _REGEX_SOURCE.search(value) is not None
        or _URL_NO_USERINFO.fullmatch(value) is not None
        or _HOST_PORT_OR_DATE.fullmatch(value) is not None
        or _PATH.fullmatch(value) is not None
    )


_CALL_CHARS = str.maketrans("", "", "()[]'\"")


def _strip_templates(value: str) -> str:
    """``value`` less its template parts; ``{y1fpC}`` in a random password is not one."""

    def replace(m: re.Match[str]) -> str:
        part = m.group()
        if part[0] in "{<" and part[:2] not in ("{{", "<|"):
            # A name, maybe dotted, called or indexed: {self.scheme.title()}, {d['k']}.
            inner = part[1:-1].replace(" ", "_").translate(_CALL_CHARS)
            if inner and not inner.isdigit() and not _is_wordy(inner):
                return part
        return ""

    return _TEMPLATE.sub(replace, value)


def _random_literal_part(value: str) -> bool:
    """A template's literal text (``"x9!%sQ2#"`` less ``%s``) counts only when it is random:
    long enough, of three character classes, and not a URL or a placeholder."""
    return (
        len(value) >= 8
        and "://" not in value
        and _char_classes(value) >= 3
        and shannon_entropy(value) >= 3.0
        and not _is_placeholder(value)
    )


def looks_like_secret_value(value: str) -> bool:
    """Whether a quoted value assigned to a secret-like name looks like a real credential."""
    # "Bearer <token>" is a header value whose token is the secret.
    value = _AUTH_SCHEME.sub("", value[:_MAX_VALUE])
    literal = _strip_templates(value)
    if literal != value:
        return _random_literal_part(literal)
    if len(value) < 8 or _is_placeholder(value):
        return False
    return shannon_entropy(value) >= 3.0 or _char_classes(value) >= 3


def _looks_like_env_secret(value: str) -> bool:
    value = value[:_MAX_VALUE]
    literal = _strip_templates(value)
    if literal != value:
        return _random_literal_part(literal) and shannon_entropy(literal) >= 3.5
    if _is_placeholder(value) or _DOTTED_NAME.fullmatch(value):
        return False
    entropy = shannon_entropy(value)
    # A random token of 16+ characters mixes classes; its entropy may fall short of 3.5
    # (about one in twenty 16-character ones does, by repeats).
    return entropy >= 3.5 or (len(value) >= 16 and entropy >= 3.0 and _char_classes(value) >= 3)


def _looks_unquoted(value: str) -> bool:
    # An unquoted value may be an expression: `password: req.body.password,`.
    return _DOTTED_NAME.fullmatch(value) is None and looks_like_secret_value(value)


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
    found: list[tuple[int, str]] = []
    lowered = text.lower()
    if len(lowered) != len(text):
        # A few non-ASCII letters lowercase to two chars; offsets must match.
        lowered = text.translate(_ASCII_LOWER)
    for kind, pattern, on_lowered in _DETECTORS:
        for m in pattern.finditer(lowered if on_lowered else text):
            if kind != PRIVATE_KEY_KIND and _documented_token(text, m.start(), m.group(), kind):
                continue
            found.append((m.start(), kind))
    # A 40-character secret next to an AWS access key id is its secret access key.
    aws = any(kind == AWS_KEY_ID_KIND for _, kind in found)

    def generic(value: str) -> str:
        return AWS_SECRET_KIND if aws and _AWS_SECRET_VALUE.fullmatch(value) else GENERIC_KIND

    for m in _ASSIGN.finditer(lowered):
        group = next(g for g in (2, 3, 4) if m.start(g) >= 0)
        value = text[m.start(group) : m.end(group)]
        name = _name_start(lowered, m.start()) + m["name"]
        if not _is_reference(name, value) and looks_like_secret_value(value):
            found.append((m.start(), generic(value)))
    unquoted = (
        (_ENV_ASSIGN, _looks_like_env_secret),
        (_YAML_ASSIGN, _looks_unquoted),
        (_INI_ASSIGN, _looks_unquoted),
    )
    for pattern, judge in unquoted:
        for m in pattern.finditer(text):
            name, value = m.group(1).lower(), m.group(2)
            if _NAME_WORD.search(name) and not _is_reference(name, value) and judge(value):
                found.append((m.start(2), generic(value)))
    found.extend((offset, PRIVATE_KEY_KIND) for offset in _key_parts_without_header(text))
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
