"""Credentials and ordinary code for the privacy properties, assembled at run time so that
no file of this repository holds a credential.

:func:`contents` draws a document: ordinary lines, maybe one credential among them, maybe
a selection (in range or not). A document has one verdict, made on its whole text: a
credential anywhere in it makes every selection of it private.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from localroute.identity import lsp_lines
from tests.property.common import SEEDS
from tests.property.common import pick as _pick

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"
URLSAFE = string.ascii_letters + string.digits + "_-"


def _mixed(rng: random.Random, n: int) -> str:
    """A password-like value: every character class, no placeholder words."""
    core = [
        rng.choice(string.ascii_lowercase),
        rng.choice(string.ascii_uppercase),
        rng.choice(string.digits),
        rng.choice("!#%&*+-=@^~<>{}$"),
    ]
    core += [rng.choice(ALNUM + "!#%&*+-=@^~<>{}$") for _ in range(n - 4)]
    rng.shuffle(core)
    return "".join(core)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class Credential:
    kind: str
    lines: tuple[str, ...]  # the lines inserted; the first holds what is detected
    secret: str  # the part that must never be shown


def _jwt(rng: random.Random) -> str:
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps({"sub": _pick(rng, string.digits, 8), "n": rng.random()}).encode())
    return f"{head}.{body}.{_pick(rng, URLSAFE, 43)}"


def make_credential(kind_index: int, seed: int) -> Credential:
    rng = random.Random(seed)
    kinds = CREDENTIAL_MAKERS
    kind, make = kinds[kind_index % len(kinds)]
    secret, lines = make(rng)
    return Credential(kind, tuple(lines), secret)


def _private_key(rng: random.Random) -> tuple[str, list[str]]:
    label = rng.choice(["RSA ", "EC ", "OPENSSH ", "", "DSA ", "ENCRYPTED "])
    body = [_pick(rng, B64, 64) for _ in range(rng.randint(1, 3))]
    head = "-----BEGIN " + label + "PRIVATE" + " KEY-----"
    tail = "-----END " + label + "PRIVATE" + " KEY-----"
    return body[0], [rng.choice(["", 'KEY = """', "key: |"]) + head, *body, tail]


def _aws_id(rng: random.Random) -> tuple[str, list[str]]:
    value = rng.choice(["AK", "AS"]) + "IA" + _pick(rng, UPPER_DIGITS, 16)
    template = rng.choice(
        ["aws_access_key_id = {v}", '"AccessKeyId": "{v}",', "key = '{v}'", "    id: {v}"]
    )
    return value, [template.format(v=value)]


def _aws_secret(rng: random.Random) -> tuple[str, list[str]]:
    value = _pick(rng, B64, 40)
    template = rng.choice(
        [
            "aws_secret_access_key = {v}",
            'AWS_SECRET_ACCESS_KEY: "{v}"',
            "export AWS_SECRET_ACCESS_KEY={v}",
        ]
    )
    return value, [template.format(v=value)]


def _github(rng: random.Random) -> tuple[str, list[str]]:
    if rng.random() < 0.3:
        value = "github" + "_pat_" + _pick(rng, ALNUM, 22) + "_" + _pick(rng, ALNUM, 59)
    else:
        value = "gh" + rng.choice("pousr") + "_" + _pick(rng, ALNUM, 36)
    return value, [_context(rng, value, "GITHUB_TOKEN")]


def _gitlab(rng: random.Random) -> tuple[str, list[str]]:
    value = "gl" + "pat-" + _pick(rng, URLSAFE, 20)
    return value, [_context(rng, value, "gitlab_token")]


def _slack(rng: random.Random) -> tuple[str, list[str]]:
    if rng.random() < 0.5:
        value = (
            "https://hooks.slack.com/services/T"
            + _pick(rng, UPPER_DIGITS, 8)
            + "/B"
            + _pick(rng, UPPER_DIGITS, 8)
            + "/"
            + _pick(rng, ALNUM, 24)
        )
    else:
        digits = string.digits
        value = "xo" + "xb-" + _pick(rng, digits, 11) + "-" + _pick(rng, digits, 12) + "-"
        value += _pick(rng, ALNUM, 24)
    return value, [_context(rng, value, "webhook")]


def _openai(rng: random.Random) -> tuple[str, list[str]]:
    if rng.random() < 0.5:
        value = "sk" + "-proj-" + _pick(rng, URLSAFE, 48)
    else:
        value = "sk" + "-" + _pick(rng, ALNUM, 48)
    return value, [_context(rng, value, "OPENAI_API_KEY")]


def _anthropic(rng: random.Random) -> tuple[str, list[str]]:
    value = "sk" + "-ant-" + "api03-" + _pick(rng, URLSAFE, 80) + "AA"
    return value, [_context(rng, value, "anthropic_key")]


def _google(rng: random.Random) -> tuple[str, list[str]]:
    value = "AI" + "za" + _pick(rng, URLSAFE, 35)
    return value, [_context(rng, value, "maps_key")]


def _jwt_line(rng: random.Random) -> tuple[str, list[str]]:
    value = _jwt(rng)
    return value, [_context(rng, value, "session")]


def _assignment(rng: random.Random) -> tuple[str, list[str]]:
    value = _mixed(rng, rng.randint(12, 24))
    name = rng.choice(["password", "db_password", "apiKey", "client_secret", "auth_token"])
    template = rng.choice(
        [
            '{n} = "{v}"',
            '    "{n}": "{v}",',
            "{n}: '{v}'",
            '{n} := "{v}"',
            'settings["{n}"] = "{v}"',
            "const {n} = `{v}`;",
        ]
    )
    return value, [template.format(n=name, v=value)]


def _env_assignment(rng: random.Random) -> tuple[str, list[str]]:
    value = _pick(rng, ALNUM, rng.randint(16, 32))
    name = rng.choice(["API_TOKEN", "DB_PASSWORD", "STRIPE_SECRET", "SESSION_SECRET"])
    prefix = rng.choice(["", "export ", "ENV "])
    return value, [f"{prefix}{name}={value}"]


def _context(rng: random.Random, value: str, name: str) -> str:
    """A token where code keeps it: an assignment, a header, a URL, a comment, bare."""
    template = rng.choice(
        [
            '{n} = "{v}"',
            "{n}={v}",
            '    headers = {{"Authorization": "Bearer {v}"}}',
            "# old token: {v}",
            "curl -H 'X-Token: {v}' https://api.example.com",
            "{v}",
            '  - "{v}"',
            "url = f'https://x.example.com/?key={v}'",
        ]
    )
    return template.format(n=name, v=value)


CREDENTIAL_MAKERS: tuple[tuple[str, Callable[[random.Random], tuple[str, list[str]]]], ...] = (
    ("private key", _private_key),
    ("AWS access key id", _aws_id),
    ("AWS secret access key", _aws_secret),
    ("GitHub token", _github),
    ("GitLab token", _gitlab),
    ("Slack token", _slack),
    ("OpenAI API key", _openai),
    ("Anthropic API key", _anthropic),
    ("Google API key", _google),
    ("JWT", _jwt_line),
    ("credential assignment", _assignment),
    ("credential assignment", _env_assignment),
)

# Ordinary code, including lines that look a little like credentials but are not.
CLEAN_LINES: tuple[str, ...] = (
    "import os",
    "from dataclasses import dataclass",
    "def handler(event, context):",
    "    return {'statusCode': 200}",
    "class Session:",
    "    token: str | None = None",
    "    user_id = '123e4567-e89b-12d3-a456-426614174000'",
    "commit = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'",
    "password = os.environ['DB_PASSWORD']",
    "api_key = os.getenv('OPENAI_API_KEY')",
    "api_key_env = 'OPENAI_API_KEY'",
    "token = get_token(session, scope='read')",
    "def authenticate(self, password: str) -> bool:",
    "    if not password:",
    "        raise PermissionError('not authenticated')",
    "color: #08547A;",
    "const message = t('auth.password.tooShort');",
    '  "integrity": "sha512-'
    + "Zm9vYmFyYmF6cXV4"
    + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQ"
    + '==",',
    "requests==2.32.3 --hash=sha256:"
    + "70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
    "DEBUG=1",
    "LOG_LEVEL=info",
    "    for line in lines:",
    "        total += len(line)",
    "SELECT id, name FROM users WHERE id = %s;",
    '<input type="password" name="password" autocomplete="current-password">',
    "password_file = '/run/secrets/db_password'",
    "token_url = 'https://github.com/login/oauth/access_token'",
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    "# TODO: rotate the key every 90 days",
    "if __name__ == '__main__':",
    "    main()",
    "",
)

# --- documents ------------------------------------------------------------------------

NEWLINES = ("\n", "\r\n", "\r")
"""LSP's three line endings: a detector must count and find lines the way the editor does."""


@dataclass(frozen=True)
class Content:
    text: str
    credential: Credential | None
    secret_line: int | None  # 0-based line holding the detected part (a key's BEGIN line)
    selection: tuple[int, int] | None  # 0-based inclusive, as asked (may be out of range)

    def lines(self) -> list[str]:
        return lsp_lines(self.text)

    @property
    def secret_reason(self) -> str | None:
        """What the verdict names (kind and 1-based file line) when secrets are detected.

        The whole document is classified, whatever the selection: ground truth changed
        from "the selection holds the secret" to "the document holds it".
        """
        if self.credential is None or self.secret_line is None:
            return None
        return f"{self.credential.kind} (line {self.secret_line + 1})"


KIND_ST = st.integers(0, len(CREDENTIAL_MAKERS) - 1)


@st.composite
def contents(draw: st.DrawFn, max_lines: int = 25) -> Content:
    """Ordinary lines, maybe a credential among them, maybe a selection (in range or not)."""
    has_secret = draw(st.booleans())
    kind_index = draw(KIND_ST)
    selected = draw(st.booleans())
    rng = random.Random(draw(SEEDS))
    lines = [rng.choice(CLEAN_LINES) for _ in range(rng.randint(0, max_lines))]
    credential = None
    secret_line = None
    if has_secret:
        credential = make_credential(kind_index, rng.getrandbits(32))
        secret_line = rng.randint(0, len(lines))
        lines[secret_line:secret_line] = list(credential.lines)
    newline = rng.choice(NEWLINES)
    text = newline.join(lines) + (newline if rng.random() < 0.5 else "")
    selection = None
    if selected:
        start = rng.randint(-2, len(lines) + 2)
        selection = (start, rng.randint(start - 2, len(lines) + 3))
    return Content(text, credential, secret_line, selection)


def assert_never_shows(credential: Credential | None, shown: str, where: str) -> None:
    if credential is None:
        return
    secret = credential.secret
    assert secret not in shown, f"{where} shows the secret"
    middle = secret[len(secret) // 3 : len(secret) // 3 + 12]
    assert middle not in shown, f"{where} shows part of the secret"
