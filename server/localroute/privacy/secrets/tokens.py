"""Provider tokens, recognised by their prefixes and shapes (less documentation
placeholders), and the pairs whose parts are only secret together (a Twilio account
SID next to its auth token)."""

from __future__ import annotations

import hashlib
import re

from localroute.privacy.secrets import kinds


# Every token pattern starts with its literal prefix, then checks that it is
# not glued to a longer identifier (a lookbehind placed first would defeat
# the regex engine's literal-prefix scan and cost ~40x). Runs of name or
# token characters are bounded or possessive (`*+`, Python 3.11) so that
# adversarial text such as "tokentoken..." cannot make a scan quadratic.
def _token(prefix: str, width: int, rest: str) -> re.Pattern[str]:
    """``prefix`` (matching ``width`` chars), not preceded by a word char, then ``rest``."""
    return re.compile(rf"{prefix}(?<![\w\-]{'.' * width}){rest}")


OP = r"""["'\]\\]*+[ \t]*+(?::=|=>|=(?!=)|:(?!:))[ \t]*"""
"""An assignment operator, after a name and its closing quote or bracket (a quote may be
escaped: code inside a JSON string)."""

# (kind, pattern, run on the ASCII-lowercased text)
DETECTORS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    (
        kinds.AWS_KEY_ID,
        re.compile(r"A(?<![A-Z0-9]A)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16}(?![A-Z0-9])"),
        False,
    ),
    (
        # Case-blind throughout, so it runs on the lowered text: the name
        # needs both words, the value is 40 base64 chars, quoted or not.
        kinds.AWS_SECRET,
        re.compile(
            r"(?:aws[\w.\-]{0,40}?secret|secret[\w.\-]{0,40}?aws)[\w.\-]{0,64}+"
            + OP
            + r"""[rbu]?["'`]?[a-z0-9/+]{40}(?![a-z0-9/+])"""
        ),
        True,
    ),
    (kinds.GITHUB, _token("gh[pousr]_", 4, r"[A-Za-z0-9]{36,}"), False),
    (kinds.GITHUB, _token("github_pat_", 11, r"\w{22,}"), False),
    (
        # Personal, OAuth, deploy, runner, CI job, pipeline trigger, feed, mail, agent ...
        kinds.GITLAB,
        _token("gl", 2, r"(?:pat|oas|dt|rt|cbt|ptt|ft|imt|soat|agent|ffct)-[\w\-]{20,}"),
        False,
    ),
    (kinds.SLACK, _token("xox[abprs]-", 5, r"[A-Za-z0-9\-]{10,}"), False),
    (kinds.SLACK, _token("xapp-", 5, r"\d-[A-Za-z0-9\-]{10,}"), False),
    (
        kinds.SLACK,
        re.compile(r"hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
        False,
    ),
    (
        kinds.OPENAI,
        _token("sk-", 3, r"(?!ant-)(?:(?:proj|svcacct|admin)-[\w\-]{20,}|[A-Za-z0-9]{20,})"),
        False,
    ),
    (kinds.ANTHROPIC, _token("sk-ant-", 7, r"[\w\-]{20,}"), False),
    (kinds.GOOGLE, _token("AIza", 4, r"[\w\-]{35}"), False),
    (kinds.JWT, _token("eyJ", 3, r"[\w\-]{7,}+\.eyJ[\w\-]{7,}+\.[\w\-]{16,}"), False),
    # Secret and restricted keys, live and test mode, and webhook signing secrets.
    # Publishable keys (pk_live_) are public by design.
    (kinds.STRIPE, _token("sk_", 3, r"(?:live|test)_[A-Za-z0-9]{20,}"), False),
    (kinds.STRIPE, _token("rk_", 3, r"(?:live|test)_[A-Za-z0-9]{20,}"), False),
    (kinds.STRIPE, _token("whsec_", 6, r"[A-Za-z0-9+/]{32,}"), False),
    # An API key SID; an account SID (AC...) is an identifier, secret only with its token.
    (kinds.TWILIO, _token("SK", 2, r"[0-9a-fA-F]{32}(?![0-9A-Za-z])"), False),
    (kinds.SENDGRID, _token(r"SG\.", 3, r"[\w\-]{22}\.[\w\-]{43}(?![\w\-])"), False),
    (kinds.MAILGUN, _token("key-", 4, r"[0-9a-f]{32}(?![0-9A-Za-z])"), False),
    (kinds.NPM, _token("npm_", 4, r"[A-Za-z0-9]{36}(?![A-Za-z0-9])"), False),
    # .npmrc: `//registry.npmjs.org/:_authToken=...` (legacy tokens are UUIDs) and `_auth=`.
    (kinds.NPM, re.compile(r":_auth(?:Token)?[ \t]*=[ \t]*[\w+/=\-.]{20,}"), False),
    # A macaroon whose first bytes say "pypi.org" (or test.pypi.org).
    (kinds.PYPI, _token("pypi-AgE", 8, r"[\w\-]{50,}"), False),
    (kinds.DOCKER_HUB, _token("dckr_", 5, r"(?:pat|oat)_[\w\-]{20,}"), False),
    # Storage account keys and Service Bus / Event Hubs keys in connection strings,
    # and the signature of a shared access signature (a SAS URL grants access).
    (kinds.AZURE, re.compile(r"accountkey[ \t]*=[ \t]*[a-z0-9+/]{40,}={0,2}"), True),
    (kinds.AZURE, re.compile(r"sharedaccesskey[ \t]*=[ \t]*[a-z0-9+/]{40,}={0,2}"), True),
)


def _provider(prefix: str, width: int, rest: str) -> re.Pattern[str]:
    """:func:`_token`, and not followed by a character that would make it a longer one
    (every optional part possessive, so a shorter match is never tried instead)."""
    return _token(prefix, width, rf"{rest}(?![\w\-])")


# Tokens that their prefix alone gives away, in the providers' documented formats (as
# secret scanners such as gitleaks know them). One pattern each, every one starting with
# its literal (a pass over the text each, about 0.6 ms per MB: one pattern of them all
# has no literal to search for, and was six times slower).
PROVIDER_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (kinds.OPENROUTER, _provider("sk-or-v1-", 9, r"[0-9a-f]{64}")),
    (kinds.GROQ, _provider("gsk_", 4, r"[A-Za-z0-9]{52}")),
    (kinds.XAI, _provider("xai-", 4, r"[A-Za-z0-9]{80}")),
    (kinds.PERPLEXITY, _provider("pplx-", 5, r"[A-Za-z0-9]{48}")),
    (kinds.REPLICATE, _provider("r8_", 3, r"[A-Za-z0-9]{37}")),
    (kinds.HUGGING_FACE, _provider("hf_", 3, r"[A-Za-z0-9]{34}")),
    (kinds.HUGGING_FACE, _provider("api_org_", 8, r"[A-Za-z0-9]{34}")),
    (kinds.DIGITALOCEAN, _provider("do[opr]_v1_", 7, r"[0-9a-f]{64}")),
    (kinds.SHOPIFY, _provider("shp(?:at|ca|pa|ss)_", 6, r"[0-9a-fA-F]{32}")),
    (kinds.DATABRICKS, _provider("dapi", 4, r"[0-9a-f]{32}(?:-\d)?+")),
    (kinds.AGE, _provider("AGE-SECRET-KEY-1", 16, r"[0-9A-Z]{58}")),
    (kinds.VAULT, _provider(r"hv[sb]\.", 4, r"[\w\-]{90,}+")),
    (kinds.DOPPLER, _provider(r"dp\.", 3, r"(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,}+")),
    (kinds.LINEAR, _provider("lin_", 4, r"(?:api|oauth)_[A-Za-z0-9]{40}")),
    (kinds.POSTMAN, _provider("PMAK-", 5, r"[0-9a-fA-F]{24}-[0-9a-fA-F]{34}")),
    (kinds.GRAFANA, _provider("glsa_", 5, r"[A-Za-z0-9]{32}_[0-9a-fA-F]{8}")),
    (kinds.GRAFANA, _provider("glc_", 4, r"[A-Za-z0-9+/]{32,}+={0,2}+")),
    (kinds.NEW_RELIC, _provider("NR(?:AK|AA|II)-", 5, r"[A-Za-z0-9]{27}")),
    (kinds.HEROKU, _provider("HRKU-", 5, r"[\w\-]{58,}+")),
    (kinds.ATLASSIAN, _provider("ATATT3", 6, r"[A-Za-z0-9_\-=]{150,}+")),
    (kinds.SENTRY, _provider("sntry[us]_", 7, r"[A-Za-z0-9+/=_]{40,}+")),
    (kinds.SUPABASE, _provider("sbp_", 4, r"[0-9a-f]{40}")),
    (kinds.TAILSCALE, _provider("tskey-", 6, r"[a-z]{3,7}-\w{8,}+-[A-Za-z0-9]{16,}+")),
    (kinds.PULUMI, _provider("pul-", 4, r"[0-9a-f]{40}")),
    (kinds.GOOGLE_OAUTH, _provider("GOCSPX-", 7, r"[\w\-]{28}")),
    (kinds.GOOGLE_OAUTH, _provider(r"ya29\.", 5, r"[\w\-]{20,}+")),
    (kinds.SQUARE, _provider("sq0", 3, r"(?:atp-[\w\-]{22}|csp-[\w\-]{43})")),
    (kinds.BRAINTREE, _provider(r"access_token\$", 13, r"production\$[0-9a-z]{16}\$[0-9a-f]{32}")),
    (kinds.BITBUCKET, _provider("ATBB", 4, r"[A-Za-z0-9_=.\-]{28,}+")),
    (kinds.DROPBOX, _provider(r"sl\.", 3, r"(?:u\.)?[A-Za-z0-9\-=_]{130,}+")),
    (kinds.AIRTABLE, _provider("pat", 3, r"[A-Za-z0-9]{14}\.[0-9a-f]{64}")),
    (kinds.NOTION, _provider("ntn_", 4, r"[A-Za-z0-9]{40,}+")),
    (kinds.FIGMA, _provider("figd_", 5, r"[\w\-]{40,}+")),
    (kinds.FLY, _provider("fo1_", 4, r"[\w\-]{43}")),
    (kinds.FLY, _provider("fm2_", 4, r"[A-Za-z0-9+/]{100,}+={0,3}+")),
    (kinds.NETLIFY, _provider("nfp_", 4, r"[A-Za-z0-9]{36}")),
    (kinds.RENDER, _provider("rnd_", 4, r"[A-Za-z0-9]{32}")),
    (kinds.LANGSMITH, _provider("lsv2_", 5, r"(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}")),
    (kinds.PINECONE, _provider("pcsk_", 5, r"[A-Za-z0-9]{4,8}_[A-Za-z0-9]{40,}+")),
)

# A shared access signature's signature; it is one when the URL also has a version
# (`sv=2022-11-02`) before it (checked in code: bounded work per match).
_SAS_SIGNATURE = re.compile(r"sig=(?<=[?&]sig=)[a-z0-9%+/]{30,}")
_SAS_VERSION = re.compile(r"sv=\d{4}-\d\d-\d\d&")
_SAS_WINDOW = 1024

# A token in docs: the documented AWS example ids end in EXAMPLE; placeholders end in
# a run of x, X, 0, * or . ("sk-xxxx...", "AKIAXXXX...").
_PLACEHOLDER_CHARS = frozenset("xX0*.")
# A word that a random token does not hold by chance (test fixtures, docs).
_TOKEN_PLACEHOLDER = re.compile(r"(?i:fake|dummy|example|placeholder|redacted|your[_\-]?)")
_AWS_EXAMPLE_ID = re.compile(r"A[KS]IA[A-Z0-9]{9}EXAMPLE")
_ASSIGNED_BEFORE = re.compile(r"""(?::=|=>|[:=])[ \t]*["'`]?$""")
# The storage emulator's (Azurite's) account key is published by Microsoft and is the
# same on every machine; it is kept here as a digest rather than as a key-shaped literal.
_AZURITE_KEY_SHA256 = "0011cc25eb4320717494d2703e8cba85743e71b500283c21c8b88147992f9059"

_TWILIO_ACCOUNT_SID = _token("AC", 2, r"[0-9a-f]{32}(?![0-9A-Za-z])")
_HEX32 = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])")
_TWILIO_WINDOW = 400


def _documented_token(text: str, start: int, token: str, kind: str) -> bool:
    """A placeholder ("sk-xxxx...", a token holding "fake" or "your_"), AWS's documented
    example id outside an assignment, or the storage emulator's published key.

    The example ids (``...EXAMPLE``) are public and inert, so prose and tables that show
    them are not private; assigned (``aws_access_key_id = ...EXAMPLE``) they are, as
    configuration shaped like a real one is where real keys are pasted over examples.
    """
    if set(token[-12:]) <= _PLACEHOLDER_CHARS:
        return True
    if kind not in (kinds.AWS_KEY_ID, kinds.AWS_SECRET) and _TOKEN_PLACEHOLDER.search(token):
        return True
    if kind == kinds.AWS_KEY_ID and _AWS_EXAMPLE_ID.fullmatch(token):
        line_start = text.rfind("\n", 0, start) + 1
        return _ASSIGNED_BEFORE.search(text, line_start, start) is None
    if kind == kinds.AZURE and "=" in token:
        value = text[start : start + len(token)].split("=", 1)[1].strip()
        return hashlib.sha256(value.encode()).hexdigest() == _AZURITE_KEY_SHA256
    return False


def _twilio_auth_tokens(text: str) -> list[int]:
    """Offsets of 32-hex values near a Twilio account SID: its auth token."""
    # The windows around the SIDs, merged, so that each character is scanned once.
    windows: list[list[int]] = []
    for sid in _TWILIO_ACCOUNT_SID.finditer(text):
        start, end = max(sid.start() - _TWILIO_WINDOW, 0), sid.end() + _TWILIO_WINDOW
        if windows and start <= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return [m.start() for start, end in windows for m in _HEX32.finditer(text, start, end)]


def _sas_signatures(lowered: str) -> list[int]:
    found: list[int] = []
    for m in _SAS_SIGNATURE.finditer(lowered):
        line_start = lowered.rfind("\n", max(m.start() - _SAS_WINDOW, 0), m.start()) + 1
        window_start = max(m.start() - _SAS_WINDOW, line_start)
        if _SAS_VERSION.search(lowered, window_start, m.start()):
            found.append(m.start())
    return found


_ALL_PATTERNS = (*DETECTORS, *((kind, pattern, False) for kind, pattern in PROVIDER_TOKENS))
"""Every pattern :func:`find_tokens` runs, made once: it also scans short texts (each
finding a model returns), where building this per call cost a tenth of the scan."""


def find_tokens(text: str, lowered: str) -> list[tuple[int, str]]:
    """(offset, kind) of every provider token in ``text`` (``lowered`` is its
    ASCII-lowercased copy, of the same length)."""
    found: list[tuple[int, str]] = []
    for kind, pattern, on_lowered in _ALL_PATTERNS:
        subject = lowered if on_lowered else text
        if pattern.search(subject) is None:  # a miss: cheaper than an empty finditer
            continue
        for m in pattern.finditer(subject):
            if not _documented_token(text, m.start(), m.group(), kind):
                found.append((m.start(), kind))
    if "AC" in text:
        found.extend((offset, kinds.TWILIO) for offset in _twilio_auth_tokens(text))
    if "sig=" in lowered:
        found.extend((offset, kinds.AZURE) for offset in _sas_signatures(lowered))
    return found
