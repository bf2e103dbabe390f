"""Whether a value found where credentials live looks like a real one.

Ordinary code is full of names like ``token``, ``auth`` and ``password``, and of
values that are placeholders, templates, paths, URLs, identifiers and digests. These
judges weigh a value (length, entropy, character classes) and drop the shapes that
are not credentials. They are pure functions of the value; the detectors decide
which judge a place deserves (a connection string's password is judged leniently, a
value under a name that merely ends in ``_KEY`` strictly).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from urllib.parse import unquote

_PLACEHOLDER_WORDS = (
    "example", "changeme", "change_me", "placeholder", "your_", "your-", "xxxx",
    "process.env", "os.environ", "getenv", "none", "null", "***", "redacted", "fake",
    "dummy", "...", "\u2026",
)  # fmt: skip
# Templates and interpolations: <your password>, ${VAR}, {{ var }}, f"{obj.attr}", {}, {0},
# {x!r:>8}, %(x)s, %s, $VAR, and a model's special tokens (<|im_end|>). Their insides look like
# names, so that a random password holding "<", "{" or "%s" is not taken for one.
_TEMPLATE = re.compile(
    r"<\|[\w .\-]*\|>|<[A-Za-z][\w .\-]*>|\$\{[A-Za-z_][^}]*\}|\{\{.*?\}\}"
    r"""|\{[A-Za-z_][\w.\[\]'"()]*(?:![rsa])?(?::[^{}]{0,16})?\}|\{\d*\}|%\(\w+\)[sd]|%[sd]|^\$\w+$"""
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
# Names of identifiers and digests, and the values they typically hold.
_ID_NAME = re.compile(r"(?:id|ids|uuid|guid|hash|digest|sha\d*|md5|checksum|etag)$")
_ID_VALUE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?:[0-9a-f]{8}){4,16}",
    re.IGNORECASE,
)
_HEX = re.compile(r"[0-9a-fA-F]+")
# Longer values are judged by their head: bounds the heuristics' cost, and
# long tokens are caught by the specific detectors anyway.
MAX_VALUE = 512
_AUTH_SCHEME = re.compile(r"^(?:bearer|basic|token|bot)\s+", re.IGNORECASE)
# host:port, dates, times, version numbers.
_HOST_PORT_OR_DATE = re.compile(r"[\w.\-]+:\d{1,5}|[\d:.\-/+TZ]+")
DOTTED_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
# Passwords of documentation and local development: a connection string holding
# one of these (or its user name again, "guest:guest") gives nothing away.
_DEMO_PASSWORDS = frozenset({
    "pass", "passwd", "pw", "pwd", "secret", "secrets", "test", "testing", "tests",
    "dummy", "fake", "sample", "demo", "foo", "bar", "baz", "qux", "guest", "admin",
    "root", "user", "username", "tiger", "pa55word", "p4ssword", "s3cret", "s3cr3t",
    "mysecret", "hunter2",
})  # fmt: skip
_WORDS = re.compile(r"[a-z]+(?: [a-z]+)+")
# What fixtures and docs put in a password; a person's real one seldom holds these.
_FIXTURE_PASSWORD_PARTS = (
    "pass", "secret", "test", "demo", "sample", "example", "dummy", "fake", "changeme",
    "your", "user",
)  # fmt: skip
_DEMO_PASSWORD_PARTS = ("password", "passwd", "your", "...", "…")


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value`` (0.0 for the empty string)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lower case, upper case, digits and symbols ``value`` holds."""
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digit = any(c.isdigit() for c in value)
    symbol = any(not c.isalnum() for c in value)
    return lower + upper + digit + symbol


_VOWELS = frozenset("aeiouyAEIOUY")
_LOWER_WORD = re.compile(r"[A-Z]?[a-z]+")


def _random_letters(value: str) -> bool:
    """Letters drawn at random rather than words run together: too few vowels, or a
    lower-case word of three letters or more without any (`Gfhz`). Identifiers such as
    `someVeryLongName`, `Authorization` or `my-release-postgresql` have neither."""
    letters = [c for c in value if c.isalpha()]
    if len(letters) < 12:
        return False
    if sum(c in _VOWELS for c in letters) < 0.25 * len(letters):
        return True
    for word in _LOWER_WORD.findall(value):
        lowered = word.lower()
        if len(lowered) >= 3 and not _VOWELS.intersection(lowered):
            return True
    return False


def _is_wordy(value: str) -> bool:
    # Identifiers, header names, env var names and words ("Authorization",
    # "OPENAI_API_KEY", "bert-base-uncased") rather than random characters.
    # Random strings have short humps ("aBcDeF") or digits inside; a couple
    # of trailing digits is a version ("auth0", "EC2") when there are pieces.
    pieces = [p for p in _WORD_SEPARATORS.split(value) if p]
    if not pieces or _random_letters(value):
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


def is_placeholder(value: str) -> bool:
    """Not a credential by its shape: a placeholder, a word, a path, a URL, a colour ..."""
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


def is_reference(name: str, value: str) -> bool:
    """Not a credential whatever the value: a public key or token (``publicKeyToken``),
    an identifier or digest (``token_id = "<uuid>"``, ``password_sha = "<hex>"``,
    ``password_hash = "$2b$..."``). ``name`` is lower case."""
    if "public" in name or "publishable" in name:
        return True
    return _ID_NAME.search(name) is not None and (
        _ID_VALUE.fullmatch(value) is not None or _HASH_FORMAT.match(value) is not None
    )


_CALL_CHARS = str.maketrans("", "", "()[]'\"")
# A format field's conversion and format spec: {value!r}, {width:>8}.
_FIELD_SUFFIX = re.compile(r"(?:![rsa])?(?::[^{}]*)?$")


def strip_templates(value: str) -> str:
    """``value`` less its template parts; ``{y1fpC}`` in a random password is not one."""

    def replace(m: re.Match[str]) -> str:
        part = m.group()
        if part[0] in "{<" and part[:2] not in ("{{", "<|"):
            # A name, maybe dotted, called or indexed: {self.scheme.title()}, {d['k']}.
            inner = _FIELD_SUFFIX.sub("", part[1:-1]).replace(" ", "_").translate(_CALL_CHARS)
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
        and char_classes(value) >= 3
        and shannon_entropy(value) >= 3.0
        and not is_placeholder(value)
    )


def looks_like_secret_value(value: str) -> bool:
    """Whether a quoted value assigned to a secret-like name looks like a real credential."""
    # "Bearer <token>" is a header value whose token is the secret.
    value = _AUTH_SCHEME.sub("", value[:MAX_VALUE])
    literal = strip_templates(value)
    if literal != value:
        return _random_literal_part(literal)
    if len(value) < 8 or is_placeholder(value):
        return False
    return shannon_entropy(value) >= 3.0 or char_classes(value) >= 3


def looks_like_env_secret(value: str) -> bool:
    """Whether an unquoted ``NAME=value`` value (.env, shell, Dockerfile) looks random."""
    if len(value) < 12:
        return False
    value = value[:MAX_VALUE]
    literal = strip_templates(value)
    if literal != value:
        return _random_literal_part(literal) and shannon_entropy(literal) >= 3.5
    if is_placeholder(value) or DOTTED_NAME.fullmatch(value):
        return False
    entropy = shannon_entropy(value)
    # A random token of 16+ characters mixes classes; its entropy may fall short of 3.5
    # (about one in twenty 16-character ones does, by repeats).
    return entropy >= 3.5 or (len(value) >= 16 and entropy >= 3.0 and char_classes(value) >= 3)


def looks_unquoted(value: str) -> bool:
    """An unquoted YAML / INI value; it may be an expression (``req.body.password,``)."""
    return DOTTED_NAME.fullmatch(value) is None and looks_like_secret_value(value)


def looks_like_key_material(value: str) -> bool:
    """The strict judge, for names that only end like a secret's (``SIGNING_KEY``,
    ``SMTP_PASS``): a long hex string, or 16+ characters of high entropy."""
    value = _AUTH_SCHEME.sub("", value[:MAX_VALUE])
    if len(value) < 16 or strip_templates(value) != value or DOTTED_NAME.fullmatch(value):
        return False
    if _HEX.fullmatch(value):
        # Hex digests and keys; a run of decimal digits is a number.
        return len(value) >= 32 and not value.isdigit() and shannon_entropy(value) >= 3.0
    if is_placeholder(value):
        return False
    entropy = shannon_entropy(value)
    return entropy >= 3.5 or (entropy >= 3.0 and char_classes(value) >= 3)


def looks_like_password(value: str) -> bool:
    """A value under a name that says password (``POSTGRES_PASSWORD``, ``smtpPass``):
    a human password counts too (``Tr0ub4dor``, ``hunter22``), six characters or more,
    unless it is a word, a number, a path, a template or a fixture's
    (``testpass1``, ``secret123``)."""
    value = value[:MAX_VALUE]
    lowered = value.lower()
    return (
        len(value) >= 6
        and looks_like_connection_password("", value)
        and not is_placeholder(value)
        and not any(part in lowered for part in _FIXTURE_PASSWORD_PARTS)
    )


def looks_like_connection_password(user: str, password: str) -> bool:
    """A password in a connection string or a URL's user info, judged leniently: the
    place says it is a password, so any real one counts, short or not; what is left
    out is a template, a demo password, words (``a%20secret``), regex source, or the
    user name again (``guest:guest``)."""
    password = password[:MAX_VALUE]
    literal = strip_templates(password)
    if literal != password:
        return _random_literal_part(literal)
    if _REGEX_SOURCE.search(password):
        return False
    lowered = unquote(password).lower()
    if (
        not lowered
        or lowered == unquote(user).lower()
        or lowered in _DEMO_PASSWORDS
        or any(part in lowered for part in _DEMO_PASSWORD_PARTS)
        or len(set(lowered)) == 1
        or _WORDS.fullmatch(lowered) is not None
        or DOTTED_NAME.fullmatch(password) is not None
    ):
        return False
    return not any(word in lowered for word in _PLACEHOLDER_WORDS)
