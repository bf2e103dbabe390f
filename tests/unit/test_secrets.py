"""Secret detection: every kind is found, ordinary code and placeholders are not.

Fake credentials are assembled by concatenation so this file itself does not
trip secret scanners.
"""

from __future__ import annotations

import pytest

from localroute.privacy.secrets import SecretHit, find_secrets, shannon_entropy

ALNUM = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"

GITHUB_CLASSIC = "gh" + "p_" + ALNUM[:36]
AWS_KEY_ID = "AK" + "IA" + "Q3EGRPZ7KD2WXN5M"
AWS_SECRET = "wJalr" + "XUtnFEMI/K7MDENG/bPxRfiCY" + "Q3zd81Ab2c"

TRUE_POSITIVES: list[tuple[str, str]] = [
    ("private key", "-----BEGIN " + "RSA PRIVATE KEY-----"),
    ("private key", "-----BEGIN " + "PRIVATE KEY-----"),
    ("private key", "-----BEGIN " + "OPENSSH PRIVATE KEY-----"),
    ("private key", "-----BEGIN " + "EC PRIVATE KEY-----"),
    ("private key", "-----BEGIN " + "DSA PRIVATE KEY-----"),
    ("private key", "-----BEGIN " + "ENCRYPTED PRIVATE KEY-----"),
    ("private key", "-----BEGIN " + "PGP PRIVATE KEY BLOCK-----"),
    ("AWS access key id", f"aws_access_key_id = {AWS_KEY_ID}"),
    ("AWS access key id", "role = 'AS" + "IA" + "Q3EGRPZ7KD2WXN5M'"),
    ("AWS secret access key", f"aws_secret_access_key = {AWS_SECRET}"),
    ("AWS secret access key", f'AWS_SECRET_ACCESS_KEY: "{AWS_SECRET}"'),
    ("GitHub token", f'TOKEN = "{GITHUB_CLASSIC}"'),
    ("GitHub token", "gh" + "s_" + ALNUM[:36]),
    ("GitHub token", "github" + "_pat_" + "11ABCDEFG0" + ALNUM[:30]),
    ("GitLab token", "gl" + "pat-" + "xY9_kL2-mN4pQ7rS1tUv"),
    ("Slack token", "xo" + "xb-" + "1234567890-0987654321-" + ALNUM[:24]),
    ("Slack token", "https://hooks.slack.com/services/" + "T0A1B2C3D/B0D1E2F3G/" + ALNUM[:24]),
    ("OpenAI API key", "sk" + "-" + ALNUM[:48]),
    ("OpenAI API key", "sk" + "-proj-" + ALNUM[:20] + "_-" + ALNUM[:20]),
    ("OpenAI API key", "sk" + "-svcacct-" + ALNUM[:30]),
    ("Anthropic API key", "sk" + "-ant-" + "api03-" + ALNUM[:30] + "-_AA"),
    ("Google API key", "AI" + "za" + "SyD" + ALNUM[:32]),
    (
        "JWT",
        "eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    ("credential assignment", 'password = "' + "Tr0ub4dor&3" + '"'),
    ("credential assignment", 'db_password: "' + "hK8#qLz2!pW" + '"'),
    ("credential assignment", '{"apiKey": "' + "q8Zr2Lm4Xv9Tn1Bw" + '"}'),
    ("credential assignment", 'settings["client_secret"] = \'' + "9fG2kQ7zR4wX1vB8" + "'"),
    ("credential assignment", 'password := "' + "S3cr3t!Pass" + '"'),
    ("credential assignment", ':auth_token => "' + "Zp4mQ9rT2xV7" + '"'),
    ("credential assignment", "const authToken = `" + "mX8pL2qR9tZ4" + "`;"),
    ("credential assignment", '"Authorization": "Bearer ' + "q8Zr2Lm4Xv9Tn1Bw" + '"'),
    ("credential assignment", "API_TOKEN=" + "a8Fk2Lq9Zx7Pm3Vb"),
    ("credential assignment", "export DB_PASSWORD=" + "a8Fk2Lq9Zx7Pm3Vb"),
    ("credential assignment", "SLACK_BOT_TOKEN=" + "a8Fk2Lq9Zx7Pm3Vb  # prod"),
]


@pytest.mark.parametrize(("kind", "line"), TRUE_POSITIVES)
def test_every_kind_is_found(kind: str, line: str) -> None:
    assert find_secrets(line) == [SecretHit(kind, 1)]


def test_anthropic_key_is_not_also_an_openai_key() -> None:
    hits = find_secrets("key = " + "sk" + "-ant-" + "api03-" + ALNUM[:30])
    assert [h.kind for h in hits] == ["Anthropic API key"]


def test_line_numbers_follow_first_line() -> None:
    text = "\n".join(
        [
            "import os",
            "",
            f'GITHUB = "{GITHUB_CLASSIC}"',
            "def f():",
            f"    return '{AWS_KEY_ID}'",
        ]
    )
    assert find_secrets(text) == [SecretHit("GitHub token", 3), SecretHit("AWS access key id", 5)]
    assert find_secrets(text, first_line=40) == [
        SecretHit("GitHub token", 42),
        SecretHit("AWS access key id", 44),
    ]


def test_crlf_line_numbers() -> None:
    text = "a = 1\r\nb = 2\r\nkey = '" + AWS_KEY_ID + "'\r\n"
    assert find_secrets(text) == [SecretHit("AWS access key id", 3)]


def test_one_hit_per_kind_and_line_sorted() -> None:
    text = f"{GITHUB_CLASSIC} {GITHUB_CLASSIC}\nk = '{AWS_KEY_ID}'; t = '{GITHUB_CLASSIC}'\n"
    assert find_secrets(text) == [
        SecretHit("GitHub token", 1),
        SecretHit("AWS access key id", 2),
        SecretHit("GitHub token", 2),
    ]


def test_specific_kind_suppresses_generic_assignment_on_same_line() -> None:
    hits = find_secrets(f'github_token = "{GITHUB_CLASSIC}"')
    assert hits == [SecretHit("GitHub token", 1)]


def test_multiline_private_key_reports_its_header_line() -> None:
    text = "x = 1\nKEY = '''\n-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow...\n'''\n"
    assert find_secrets(text) == [SecretHit("private key", 3)]


def test_non_ascii_text_keeps_offsets() -> None:
    # "İ" lowercases to two code points; line numbers must not shift.
    text = "name = 'İİİİ'\n\npassword = '" + "Tr0ub4dor&3" + "'\n"
    assert find_secrets(text) == [SecretHit("credential assignment", 3)]


NEGATIVES = [
    'request_id = "123e4567-e89b-12d3-a456-426614174000"',
    'token_id = "123e4567-e89b-12d3-a456-426614174000"',
    'commit = "da39a3ee5e6b4b0d3255bfef95601890afd80709"',
    "sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
    '"integrity": "sha512-' + "Zm9vYmFyYmF6cXV4" * 5 + '=="',
    'password = "changeme"',
    'password = "' + "your_password_here" + '"',
    'password = "<your password>"',
    'api_key = "${OPENAI_API_KEY}"',
    'token: "{{ vault_token }}"',
    'secret = f"{settings.secret}"',
    'password = "********"',
    'AWS_SECRET = "xxxxxxxxxxxxxxxxxxxx"',
    'token = os.environ["X"]',
    'token = os.getenv("GITHUB_TOKEN")',
    "api_key = None",
    "api_key: str | None = None",
    'secret_name = "my_secret_name"',
    'api_key_env = "OPENAI_API_KEY"',
    'auth_header = "Authorization"',
    'token_url = "https://github.com/login/oauth/access_token"',
    'PASSWORD_HELP = "Must be at least 8 characters."',
    'password_file = "/run/secrets/db_password"',
    'tokenizer = "bert-base-uncased"',
    'token_pattern = r"(?u)\\b\\w\\w+\\b"',
    'author = "Jane Doe Smith"',
    'data = "SGVsbG8gV29ybGQhIFRoaXMgaXMgdGVzdCBkYXRh"',
    'fixture_b64 = "U29tZSBiYXNlNjQgdGVzdCBkYXRhIGZvciB1bml0cw=="',
    "if password == 'Tr0ub4dor&3x':",
    "    api_key=settings.openai_api_key",
    "API_KEY=settings.OPENAI_API_KEY",
    "SECRET_KEY=aaaaaaaaaaaaaaaa",
    "token = get_token(session, scope='read')",
    "def authenticate(self, password: str) -> bool:",
    'LOG.info("token refreshed for %s", user)',
    "':authority': 'localhost:8000',",
    'token_expires_at = "2024-01-01T00:00:00Z"',
]


@pytest.mark.parametrize("line", NEGATIVES)
def test_false_positives_are_not_flagged(line: str) -> None:
    assert find_secrets(line) == []


ORDINARY_CODE = '''
from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass
class Session:
    user: str
    token: str | None = None
    expires_at: float = 0.0


def hash_password(password: str, salt: bytes) -> str:
    """Hash a password with PBKDF2."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000)
    return digest.hex()


def authorize(session: Session, scopes: list[str]) -> bool:
    if session.token is None:
        raise PermissionError("not authenticated")
    return all(scope in ("read", "write") for scope in scopes)


TOKEN_TYPES = {"access": "accessToken", "refresh": "refreshToken"}
DEFAULT_AUTH_METHOD = "client_secret_basic"
'''


def test_ordinary_code_is_clean() -> None:
    assert find_secrets(ORDINARY_CODE * 20) == []


def test_shannon_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
