"""Private keys: PEM and PuTTY files, any part of one a selection may hold, and keys
that were base64-encoded once more (a Kubernetes ``Secret``'s ``data:``, an
environment variable) or stored as bare DER.

A PEM private key is one credential from its BEGIN line to its END line. The BEGIN
line is the sure sign; a selection that starts inside the key is found by its END
line or by its body: a first line of exactly 64 (PEM) or 70 (OpenSSH) base64
characters, alone on its line (quoted or indented at most) and not inside a block
that a BEGIN line above opens (a certificate's body is left alone).
"""

from __future__ import annotations

import base64
import bisect
import re

from localroute.privacy.secrets import kinds

_PEM_BEGIN_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PUTTY = re.compile(r"PuTTY-User-Key-File-\d+: ")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{1,40}-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{1,40}-----")
_PEM_END_KEY = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(
    r"""^[ \t]*+["'`]?(?:[A-Za-z0-9+/]{70}|[A-Za-z0-9+/]{64})(?:\\n)?["'`]?[ \t,;+\\]*\r?$""",
    re.MULTILINE,
)


def base64_signatures(plain: bytes) -> tuple[str, ...]:
    """The base64 text that ``plain`` always becomes inside a longer base64 string,
    whatever its offset: one string for each of the three byte alignments.

    Output character i encodes input bits [6i, 6i + 6); with k unknown bytes before
    ``plain``, the characters that depend on ``plain`` alone are those whose bits lie
    within [8k, 8(k + len(plain))).
    """
    signatures = []
    for k in range(3):
        encoded = base64.b64encode(bytes(k) + plain).decode()
        first = -(-8 * k // 6)
        last = 8 * (k + len(plain)) // 6
        signatures.append(encoded[first:last])
    return tuple(signatures)


# Any PEM private key's BEGIN and END lines (" PRIVATE KEY-----", PGP's
# " PRIVATE KEY BLOCK-----") and a PuTTY key's first line, wherever they fall in a
# base64 string: a whole key file encoded once more. Built here rather than written
# out, so that this source holds no key-shaped text.
_BASE64_KEY_MARKERS = tuple(
    signature
    for marker in (b" PRIVATE KEY-----", b" PRIVATE KEY BLOCK-----", b"PuTTY-User-Key-File-")
    for signature in base64_signatures(marker)
)
_BASE64_KEY = re.compile("|".join(re.escape(s) for s in _BASE64_KEY_MARKERS))


def contains_any(text: str, literals: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``literals``: a substring search per literal is
    several times faster than a regex alternation of them, and they are rarely there."""
    return any(literal in text for literal in literals)


# The first bytes of private keys in DER, as base64 at the start of a string (the body
# of a PEM key, or a bare DER key pasted into code or configuration): PKCS#1 RSA
# (version 0, then a 2048- or 4096-bit modulus), PKCS#8 RSA, EC and Ed25519 / X25519
# (version 0, the algorithm, then an OCTET STRING; a public key has a BIT STRING
# there), SEC1 EC (version 1, then the 32-, 48- or 66-byte scalar), and OpenSSH's
# "openssh-key-v1". Each starts with a literal, which the regex engine scans for
# fast; the alternatives are split so that this source does not hold them whole, and
# a body goes on for 20 characters at least.
_DER_KEY = re.compile(
    r"M(?:"
    + "|".join(
        (
            r"II[A-Za-z0-9+/]{3}IBA(?:AKC[AQg]|" + r"DANBgkqhkiG9w0BAQEFAASC)",
            r"I[A-Za-z0-9+/]{2}AgEAMB[A-Za-z0-9+/]" + r"GByqGSM49AgEG",
            r"C4CAQAwBQYD" + r"K2V[a-z]BCIEI",
            r"HcCAQE" + "EI",
            r"IGkAgEB" + "BDD",
            r"IHcAgEB" + "BEI",
        )
    )
    + r")[A-Za-z0-9+/]{20}"
)
_OPENSSH_KEY = re.compile(r"b3BlbnNzaC1r" + r"ZXktdjE[A-Za-z0-9+/]{20}")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
# A JSON Web Key's private part (RFC 7518: `d`, the private exponent or scalar, of an
# RSA, EC or OKP key; `k`, an octet key's secret), in an object that says `"kty"`.
_JWK_PRIVATE = re.compile(r'"(?:d|k)"[ \t]*:[ \t]*"[A-Za-z0-9_\-]{32,}+"')
_JWK_WINDOW = 4096


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


def find_private_keys(text: str) -> list[tuple[int, str]]:
    """(offset, kind) of every private key, or part of one, in ``text``."""
    offsets = [m.start() for m in _PEM_BEGIN_KEY.finditer(text)]
    offsets += [m.start() for m in _PUTTY.finditer(text)]
    if contains_any(text, _BASE64_KEY_MARKERS):
        offsets += [m.start() for m in _BASE64_KEY.finditer(text)]
    # Not inside a longer base64 string (checked here: a lookbehind placed first would
    # defeat the engine's scan for the first character).
    offsets += [
        m.start()
        for pattern in (_DER_KEY, _OPENSSH_KEY)
        for m in pattern.finditer(text)
        if m.start() == 0 or text[m.start() - 1] not in _BASE64_CHARS
    ]
    offsets += _key_parts_without_header(text)
    if '"kty"' in text:
        offsets += [
            m.start()
            for m in _JWK_PRIVATE.finditer(text)
            if '"kty"' in text[max(m.start() - _JWK_WINDOW, 0) : m.end() + _JWK_WINDOW]
        ]
    return [(offset, kinds.PRIVATE_KEY) for offset in offsets]
