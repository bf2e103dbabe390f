"""Credentials by their name: a value assigned to a secret-like name.

The name decides how hard the value is judged. A name holding ``password``,
``secret``, ``token``, ``api_key``, ``credential`` ... says what the value is, so any
value that is not a placeholder counts (:func:`values.looks_like_secret_value`). A
name that only ends like a secret's (``SIGNING_KEY``, ``signingKey``, ``SMTP_PASS``)
is as often a cache or sort key, so its value must look like key material: long hex,
or 16+ characters of high entropy (:func:`values.looks_like_key_material`).

The places: quoted values after any assignment operator (Python, JS, Go, Ruby, JSON,
YAML, TOML, shell), and unquoted ones alone on their line in .env / shell / Dockerfile,
YAML and INI files, Kubernetes / ECS / Terraform ``name``-``value`` pairs, command-line
flags (``--api-key VALUE``), URL query parameters (``?access_token=VALUE``), .netrc
lines, environment variables set on a command line (``PGPASSWORD=… psql``, ``-e``,
``--env``, ``config:set``, ``--from-literal``) and passwords given to commands
(``mysql -p`` with the password glued on, ``sshpass`` with ``-p``, PowerShell's
``ConvertTo-SecureString`` with ``-AsPlainText``); quoted values also between escaped
quotes (code inside a JSON string: a notebook's cells).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from localroute.privacy.secrets import values
from localroute.privacy.secrets.tokens import OP

_NAME_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token(?!i[sz])"
    r"|api[_\-]?key|auth(?!or(?:s|ed|ship)?(?![a-z]))"
    r"|credential|private[_\-]?key|access[_\-]?key|db_?pass"
)
_NAME_WORD = re.compile(_NAME_WORDS)
# Names that end like a secret key's, on the name as written: `_KEY`, `-key`, `.key`,
# `signingKey`. A bare `key` is too common a name to count.
_KEYISH_NAME = re.compile(r"(?:[_\-.]|(?<=[a-z0-9])(?=[A-Z]))(?i:key)$")
# ... less the keys that name a place or an order, not a secret.
_NOT_SECRET_KEY = re.compile(
    r"(?:cache|sort|primary|foreign|partition|row|range|hash|lookup|dict|map|object|s3"
    r"|idempotency|dedupe?|unique|group|index|cursor|registry|translation|i18n|message"
    r"|label|field|column|attr|property|config|settings?|header|query|path|file|item"
    r"|entry|state|event|metric|route|schema|type|name|id|redis|lock|pub|host|order"
    r"|hot|shortcut|bind)[_\-.]?key$"
    r"|(?:first|second|third|last|next|final|multi|single|one|two)[_\-.]?pass$"
)

# A quoted value after a secret-like name: `db_password = "..."`,
# `"apiKey": '...'`, `token := "..."`, `d["secret"] = b"..."`. Run on the
# lowered text; the value is then read from the original at the same span.
_ASSIGN = re.compile(
    rf"(?P<name>(?:{_NAME_WORDS}|key|pass)[\w.\-]{{0,64}}+){OP}"
    r"""(?:[rbuf]{1,2}|@)?(?:"([^"\n]*)"|'([^'\n]*)'|`([^`\n]*)`|\\"([^"\\\n]*+)\\")"""
)
# The last form is code inside a JSON string, its quotes escaped: a Jupyter notebook's
# cells (`"db_password = \"...\"\n"`), a JSON-encoded config or test fixture.
# The unquoted forms are alone on their line. Each pattern starts with the newline
# before the line and is run on "\n" + text: a literal first character is what the
# regex engine scans for fast (about twice as fast as `^` with re.MULTILINE).
#
# .env / shell / Dockerfile / docker-compose list style: `API_TOKEN=abc...` with no
# spaces around `=`, alone on its line (code rarely looks like that; kwargs end with
# `,`/`)`).
_ENV_ASSIGN = re.compile(
    r"""\n(?:[ \t]*(?:export|ENV|ARG|set|-)[ \t]+["']?)?([A-Za-z_][\w.\-]*+)="""
    r"""([^\s"'`#,;(){}\[\]<>][^\s"'`,;(){}\[\]<>]{5,})["']?(?:[ \t]+#.*)?[ \t\r]*$""",
    re.MULTILINE,
)
# YAML, docker-compose, Kubernetes, JS object literals: `password: s3cr3t...` unquoted,
# alone on its line (a trailing `,`/`;` or comment at most; a `#` not after a space is
# part of the value, as in YAML and .env files). Quoted values are _ASSIGN's.
_YAML_ASSIGN = re.compile(
    r"""\n[ \t]*+(?:-[ \t]+)?["']?([A-Za-z_$][\w.\-]*+)["']?[ \t]*:[ \t]+"""
    r"""([^\s"'`#,;(){}\[\]<>|&*!%@][^\s"'`,;(){}\[\]<>]{5,})[,;]?(?:[ \t]+#.*)?[ \t\r]*$""",
    re.MULTILINE,
)
# INI / my.cnf / .properties / .conf: `password = s3cr3t...` unquoted, spaces around `=`
# (code would quote the value or call something).
_INI_ASSIGN = re.compile(
    r"""\n[ \t]*+([A-Za-z_][\w.\-]*+)[ \t]+=[ \t]+"""
    r"""([^\s"'`#;,(){}\[\]<>][^\s"'`;,(){}\[\]<>]{5,})(?:[ \t]+[#;].*)?[ \t\r]*$""",
    re.MULTILINE,
)
# An environment variable given as a name and a value: Kubernetes and docker-compose
# `- name: DB_PASSWORD` / `value: ...`, ECS `{"name": "DB_PASSWORD", "value": "..."}`,
# Terraform `{ name = "DB_PASSWORD", value = "..." }`.
_NAME_VALUE = re.compile(
    r"""name["']?[ \t]*[:=][ \t]*["']?([A-Za-z_][\w.\-]{0,64}+)["']?[ \t]*,?[ \t]*"""
    r"""(?:\r?\n[ \t]*+(?:-[ \t]+)?)?["']?value["']?[ \t]*[:=][ \t]*"""
    r"""(?:"([^"\n]*+)"|'([^'\n]*+)'|([^\s"'#,}]{1,512}))"""
)

# Names that say password: their value is a password, a human one too.
_PASSWORD_NAME = re.compile(
    r"(?i:password|passwd|passphrase)$|(?:^|[_\-.]|(?<=[a-z0-9])(?=[A-Z]))(?i:pwd|pass)$"
)

# XML: Maven's settings.xml `<password>...</password>`, .NET appSettings
# `<add key="DbPassword" value="..." />`, Java properties files in XML.
# Values of any length: a long one is not cleared for its length (each run stops at a
# character that would end it, so the scan stays linear; values.py judges a prefix).
_XML_ELEMENT = re.compile(r"<([A-Za-z_][\w.\-:]{0,63}+)>([^<\s]++)</\1>")
# The attribute pair is found by its `value=` (a literal first is scanned for fast),
# then its name is read before it.
_XML_VALUE = re.compile(r"""value=["']([^"'\n]++)["']""")
_XML_NAME_BEFORE = re.compile(r"""(?:key|name)=["']([A-Za-z_][\w.\-:]{0,63}+)["'][ \t]+$""")

# Command lines and URLs: `--api-key VALUE`, `--token=VALUE` (a literal first, fast to
# scan for), `?access_token=VALUE&` (`?` and `&` are rare enough to scan for too); and
# .netrc's `machine H login U password P` wherever it is pasted.
_CLI_FLAG = re.compile(
    r"""--([A-Za-z][\w\-]{1,63}+)(?:=|[ \t]+)["']?([^\s"'`&#<>|;,()\-][^\s"'`&#<>|;,()]{5,}+)"""
)
_URL_PARAM = re.compile(r"""[?&]([A-Za-z][\w\-.]{1,63}+)=([^\s"'`&#<>]{6,}+)""")
_NETRC = re.compile(r"machine\s++\S++(?:\s++login\s++\S++)?\s++password\s++(\S++)")
# Environment variables set on a command line, upper case as shell convention has it:
# before the command (`PGPASSWORD=… psql`, run on "\n" + text like the forms above),
# after `-e`/`--env` (`docker run -e DB_PASSWORD=…`) and `config:set` (Heroku, Dokku);
# and `--from-literal=name=…`. Each starts with a literal, fast to scan for.
_ENV_PAIR = r"""[A-Z][A-Z0-9_]*+=[^\s"'`;&|()<>$][^\s"'`;&|()<>]*+"""
_ENV_BEFORE_COMMAND = re.compile(rf"\n[ \t]*+((?:{_ENV_PAIR}[ \t]++)+)[^\s#=]")
_ENV_OPTIONS = tuple(
    re.compile(rf"{option}[ \t=]++((?:{_ENV_PAIR}[ \t]*+)+)")
    for option in ("-e", "--env", "config:set")
)
_PAIR = re.compile(_ENV_PAIR)
_FROM_LITERAL = re.compile(r"""--from-literal=([\w.\-]{1,63}+)=["']?([^\s"'`;&|]{6,}+)""")
# Passwords that a command takes as an argument: `mysql -p…` (no space), `sshpass -p …`,
# PowerShell's `ConvertTo-SecureString "…" -AsPlainText`.
_PASSWORD_ARGUMENTS = (
    re.compile(r"""(?:mysql|mariadb)[\w\-]*+[^\n]{0,200}?[ \t]-p["']?([^\s"'\-][^\s"']*+)"""),
    re.compile(r"""sshpass[ \t]+-p[ \t]*["']?([^\s"'\-][^\s"']*+)"""),
    re.compile(
        r"""ConvertTo-SecureString[ \t]+(?:-String[ \t]+)?["']([^"'\n]++)["']"""
        r"""[^\n]{0,80}?-AsPlainText"""
    ),
)
Judge = Callable[[str], bool]


def _password_judge(value: str) -> bool:
    return values.looks_like_secret_value(value) or values.looks_like_password(value)


def _name_start(lowered: str, start: int) -> int:
    """Where the identifier that holds ``start`` begins (``publicKeyToken``), at most
    64 characters before it."""
    i = start
    while i > max(start - 64, 0) and (lowered[i - 1].isalnum() or lowered[i - 1] in "_.-"):
        i -= 1
    return i


def judge_for_name(name: str) -> Judge | None:
    """How a value assigned to ``name`` (as written) is judged; None: not a secret's name."""
    lowered = name.lower()
    if lowered.endswith("authenticate"):
        return None  # WWW-Authenticate: a challenge, not a credential
    if _PASSWORD_NAME.search(name) and not _NOT_SECRET_KEY.search(lowered):
        return _password_judge
    if _NAME_WORD.search(lowered):
        return values.looks_like_secret_value
    if _KEYISH_NAME.search(name) is None or _NOT_SECRET_KEY.search(lowered):
        return None
    # `_KEY` is as often a cache key as a secret one: its value must look like one.
    return values.looks_like_key_material


def _unquoted_judge(name: str, lenient: Judge) -> Judge | None:
    judge = judge_for_name(name)
    if judge is _password_judge:
        return lambda value: lenient(value) or values.looks_like_password(value)
    return lenient if judge is values.looks_like_secret_value else judge


def _holds_secret(name: str, value: str, judge: Judge | None) -> bool:
    return judge is not None and not values.is_reference(name.lower(), value) and judge(value)


def _found(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern``'s matches in ``text``: a miss is one search, cheaper than an empty
    ``finditer`` (a finding's message is scanned too, where most patterns miss)."""
    return pattern.finditer(text) if pattern.search(text) else iter(())


def find_assignments(text: str, lowered: str) -> list[tuple[int, str]]:
    """(offset, value) of every credential assigned to a secret-like name in ``text``
    (``lowered`` is its ASCII-lowercased copy, of the same length)."""
    found: list[tuple[int, str]] = []
    for m in _found(_ASSIGN, lowered):
        group = next(g for g in (2, 3, 4, 5) if m.start(g) >= 0)
        value = text[m.start(group) : m.end(group)]
        name = text[_name_start(lowered, m.start()) : m.end("name")]
        if _holds_secret(name, value, judge_for_name(name)):
            found.append((m.start(), value))
    unquoted: tuple[tuple[re.Pattern[str], Judge], ...] = (
        (_ENV_ASSIGN, values.looks_like_env_secret),
        (_YAML_ASSIGN, values.looks_unquoted),
        (_INI_ASSIGN, values.looks_unquoted),
    )
    lines = "\n" + text  # offsets one past the text's
    for pattern, lenient in unquoted:
        for m in _found(pattern, lines):
            name, value = m.group(1), m.group(2)
            if _holds_secret(name, value, _unquoted_judge(name, lenient)):
                found.append((m.start(2) - 1, value))
    if "<" in text:
        for m in _found(_XML_VALUE, text):
            named = _XML_NAME_BEFORE.search(text, max(m.start() - 80, 0), m.start())
            if named is not None and _holds_secret(
                named.group(1), m.group(1), _unquoted_judge(named.group(1), values.looks_unquoted)
            ):
                found.append((m.start(1), m.group(1)))
    for pattern in (_CLI_FLAG, _URL_PARAM):
        for m in _found(pattern, text):
            name, value = m.group(1), m.group(2)
            if _holds_secret(name, value, _unquoted_judge(name, values.looks_unquoted)):
                found.append((m.start(2), value))
    netrc = _unquoted_judge("password", values.looks_unquoted)
    for m in _found(_NETRC, text):
        if _holds_secret("password", m.group(1), netrc):
            found.append((m.start(1), m.group(1)))
    env = [(m.start(1) - 1, m.group(1)) for m in _found(_ENV_BEFORE_COMMAND, lines)]
    env += [
        (m.start(1), m.group(1))
        for pattern in _ENV_OPTIONS
        for m in _found(pattern, text)
        if pattern is not _ENV_OPTIONS[0] or m.start() == 0 or text[m.start() - 1] in " \t"
    ]
    # (offset of the value, name, value)
    given: list[tuple[int, str, str]] = []
    for start, run in env:
        for pair in _PAIR.finditer(run):
            name, value = pair.group().split("=", 1)
            given.append((start + pair.start() + len(name) + 1, name, value))
    given += [(m.start(2), m.group(1), m.group(2)) for m in _found(_FROM_LITERAL, text)]
    for offset, name, value in given:
        if _holds_secret(name, value, _unquoted_judge(name, values.looks_like_env_secret)):
            found.append((offset, value))
    for pattern in _PASSWORD_ARGUMENTS:
        for m in _found(pattern, text):
            if values.looks_like_connection_password("", m.group(1)):
                found.append((m.start(1), m.group(1)))
    pairs = (_XML_ELEMENT,) if "<" in text else ()
    for pattern in (*pairs, _NAME_VALUE):
        for m in _found(pattern, text):
            group = next(g for g in range(2, (m.lastindex or 2) + 1) if m.start(g) >= 0)
            name, value = m.group(1), m.group(group)
            if _holds_secret(name, value, _unquoted_judge(name, values.looks_unquoted)):
                found.append((m.start(group), value))
    return found
