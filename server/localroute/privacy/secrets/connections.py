"""Passwords in connection strings: a URL's user info (``postgres://app:...@db``,
``mongodb+srv://``, ``redis://:...@``, ``amqps://``, ``mysql+pymysql://``, and any other
scheme), ``password=`` / ``pwd=`` pairs of JDBC, ODBC, ADO.NET and libpq strings, and
Oracle's ``user/password@`` JDBC form.

The place says the value is a password, so it is judged leniently: any password that
is not a template, a demo one (``user:pass``, ``scott:tiger``) or the user name again
(``guest:guest``) counts, however short.
"""

from __future__ import annotations

import re

from localroute.privacy.secrets import kinds
from localroute.privacy.secrets.values import looks_like_connection_password

# `://user:password@` (the user may be empty). Neither part holds `/`, so a port and
# a path (`https://host:8080/a@b`) are not taken for them. A password may hold a raw
# `#` or `?` (generated ones do, and .env files are written by hand). A password of any
# length: none is cleared for its length (values.py judges a prefix).
_USERINFO = re.compile(r"""://([^\s:/@?#"'`<>\[\](){}]{0,128}+):([^\s@/"'`<>]++)@""")
_SCHEME_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}$")
# `password=` / `pwd=` in a key=value connection string, on the lowered text; the
# value is an ODBC `{braced}` or a libpq / ADO.NET 'quoted' one, or runs to the next
# separator.
_PASSWORD_PAIR = re.compile(
    r"(?:password|passwd|pwd)[ \t]*=[ \t]*"
    r"(?:\{([^}\n]*+)\}|'([^'\n]*+)'|([^;&\s\"'`,(){}\[\]<>]{1,256}))"
)
# libpq's `host=db user=app password=... dbname=app`: pairs separated by spaces.
_LIBPQ_PAIR = re.compile(r"(?:^|[\s\"'])(?:host|hostaddr|dbname|user|port|sslmode)=[^\s,()]+\s")
_LIBPQ_BLOCK = 512
_ORACLE_THIN = re.compile(r"""jdbc:oracle:thin:([^/\s:@"']{1,128}+)/([^@\s"']++)@""")
# `curl -u user:password` (also `--user`); a value that runs into code (`(`, `,`) is not one.
_USER_FLAG = re.compile(
    r"""-(?:u|-user)(?:=|[ \t]+)["']?([^\s:"'@<>$-][^\s:"'@<>]{0,127}+)"""
    r""":([^\s"'@<>(),\-][^\s"'@<>(),]*+)(?=[\s"'`]|\Z)"""
)


def _url_passwords(text: str) -> list[int]:
    found: list[int] = []
    for m in _USERINFO.finditer(text):
        if _SCHEME_BEFORE.search(text, max(m.start() - 32, 0), m.start()) is None:
            continue  # "://" in prose or code, not a URL
        user, password = m.group(1), m.group(2)
        if ":" in password:
            # Hosts and ports before the user info (`https://a.com:123,u:p@b.com`):
            # the password is after the last colon.
            user, password = password.rsplit(":", 1)
        if looks_like_connection_password(user, password):
            found.append(m.start(2))
    return found


def _in_connection_string(text: str, start: int, end: int, libpq_blocks: dict[int, bool]) -> bool:
    """Whether a ``password=`` pair is one of a connection string's (``;Password=...;``,
    ``?user=app&password=...``, libpq's space-separated pairs), not a call's keyword
    argument or a line of an env file (those are assignments)."""
    i = start
    while i > max(start - 16, 0) and text[i - 1] in " \t":
        i -= 1
    before = text[i - 1] if i else "\n"
    after = text[end] if end < len(text) else "\n"
    if before in ";&?":
        return True
    if before in "\"'`\n":
        return after == ";"
    if i < start:
        # libpq pairs nearby, looked for once per block of text however many
        # `password=` there are.
        block = start // _LIBPQ_BLOCK
        if block not in libpq_blocks:
            window = text[max(block - 1, 0) * _LIBPQ_BLOCK : (block + 2) * _LIBPQ_BLOCK]
            libpq_blocks[block] = _LIBPQ_PAIR.search(window) is not None
        return libpq_blocks[block]
    return False


def _password_pairs(text: str, lowered: str) -> list[int]:
    found: list[int] = []
    libpq_blocks: dict[int, bool] = {}
    for m in _PASSWORD_PAIR.finditer(lowered):
        if m.start() and (lowered[m.start() - 1].isalnum() or lowered[m.start() - 1] in "_.-$"):
            continue  # db_password=, spring.datasource.password=: an assignment
        group = next(g for g in (1, 2, 3) if m.start(g) >= 0)
        value = text[m.start(group) : m.end(group)]
        if group == 1:
            value = "{" + value + "}"  # judged with its braces: `{db_pw}` is a field
        if _in_connection_string(
            lowered, m.start(), m.end(), libpq_blocks
        ) and looks_like_connection_password("", value):
            found.append(m.start(group))
    return found


def find_connection_strings(text: str, lowered: str) -> list[tuple[int, str]]:
    """(offset, kind) of every password in a connection string in ``text`` (``lowered``
    is its ASCII-lowercased copy, of the same length)."""
    offsets: list[int] = []
    if "://" in text:
        offsets += _url_passwords(text)
    if "=" in text:
        offsets += _password_pairs(text, lowered)
    for m in _ORACLE_THIN.finditer(lowered):
        if looks_like_connection_password(m.group(1), text[m.start(2) : m.end(2)]):
            offsets.append(m.start(2))
    for m in _USER_FLAG.finditer(text):
        if looks_like_connection_password(m.group(1), m.group(2)):
            offsets.append(m.start(2))
    return [(offset, kinds.CONNECTION_STRING) for offset in offsets]
