"""Secret detection: every kind is found, ordinary code and placeholders are not.

Fake credentials are assembled by concatenation so this file itself does not
trip secret scanners.
"""

from __future__ import annotations

import base64

import pytest

from localroute.privacy.redact import redact
from localroute.privacy.secrets import SecretHit, find_secrets, shannon_entropy
from localroute.privacy.secrets.keys import base64_signatures

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


# --- kinds added with the connection-string, provider and base64 detectors -------------

HEX32 = "9b1f0c4e7a2d5b8e3f6a9c0d1e2f3a4b"
PASSWORD = "Vq8" + "!mZ2#rT"
B64_KEY = "k7Q2" + "mR9vXw4ZpL1sT8yB3nF6cH0dJ5gA2eK9uW7iO4qV1xY="

NEW_TRUE_POSITIVES: list[tuple[str, str]] = [
    ("password in a connection string", f"DATABASE_URL=postgres://app:{PASSWORD}@db:5432/app"),
    ("password in a connection string", f'url = "postgresql+asyncpg://u:{PASSWORD}@h/db"'),
    ("password in a connection string", f"mongodb+srv://svc:{PASSWORD}@c0.x1.mongodb.net/p"),
    ("password in a connection string", f"REDIS_URL=rediss://:{PASSWORD}@cache:6380/0"),
    ("password in a connection string", f"amqp://worker:{PASSWORD}@mq:5672/jobs"),
    ("password in a connection string", f"jdbc:mysql://db/app?user=app&password={PASSWORD}"),
    ("password in a connection string", f'"Server=s;User Id=sa;Password={PASSWORD};"'),
    ("password in a connection string", f'"Driver={{x}};Uid=sa;Pwd={{{PASSWORD}}};"'),
    ("password in a connection string", f'"host=db user=app password={PASSWORD} dbname=a"'),
    ("Stripe key", "sk" + "_live_" + ALNUM[:24]),
    ("Stripe key", "rk" + "_test_" + ALNUM[:24]),
    ("Twilio credential", "SK" + HEX32),
    ("Twilio credential", 'Client("A' + "C" + HEX32 + '", "' + HEX32[::-1] + '")'),
    ("SendGrid API key", "SG" + "." + ALNUM[:22] + "." + ALNUM[:40] + "abc"),
    ("Mailgun API key", "key" + "-" + HEX32),
    ("npm token", "np" + "m_" + ALNUM[:36]),
    ("PyPI token", "pypi" + "-AgEIcHlwaS5vcmc" + ALNUM * 2),
    ("Docker Hub token", "dckr" + "_pat_" + ALNUM[:27]),
    ("Azure access key", "DefaultEndpointsProtocol=https;Account" + "Key=" + B64_KEY * 2),
    ("credential assignment", 'SIGNING_KEY = "' + HEX32 * 2 + '"'),
    ("credential assignment", "ENCRYPTION_KEY=" + B64_KEY),
    ("credential assignment", 'const hmacKey = "' + ALNUM[:20] + '";'),
    ("credential assignment", "export SMTP_PASS=" + ALNUM[5:21]),
    ("credential assignment", "db_pass: " + PASSWORD),
    ("credential assignment", "gpg_passphrase = '" + PASSWORD + "'"),
    ("credential assignment", "  - POSTGRES_PASSWORD=" + ALNUM[:20]),
    ("credential assignment", "POSTGRES_PASSWORD=" + "hunter42"),
    ("credential assignment", "MYSQL_ROOT_PASSWORD: " + "Tr0ub4dor"),
]


@pytest.mark.parametrize(("kind", "line"), NEW_TRUE_POSITIVES)
def test_every_new_kind_is_found(kind: str, line: str) -> None:
    assert find_secrets(line) == [SecretHit(kind, 1)]


NEW_NEGATIVES = [
    "DATABASE_URL=postgres://app@db:5432/app",
    "postgres://user@host/db",
    'engine = create_engine("postgresql://localhost/app")',
    "postgresql://${DB_USER}:${DB_PASSWORD}@${DB_HOST}/app",
    "mongodb://<user>:<password>@localhost",
    "amqp://guest:guest@localhost:5672//",
    "redis://:password@localhost:6379",
    "mysql://root:changeme@localhost/db",
    'f"postgresql://{user}:{password}@{host}/{db}"',
    'httpx.URL("https://jo%40email.com:a%20secret@example.com")',
    '"Server=.;Database=app;User Id=sa;Password={0};"',
    '"Server=sql01;Database=app;Integrated Security=true"',
    "psycopg2.connect(host=host, user=user, password=password)",
    "https://registry.example.com:443/@scope/package",
    "STRIPE_PUBLISHABLE_KEY=pk_live_" + ALNUM[:24],
    'stripe.api_key = "sk_test_' + "x" * 24 + '"',
    "TWILIO_ACCOUNT_SID=A" + "C" + HEX32,
    "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
    '"AzureWebJobsStorage": "UseDevelopmentStorage=true"',
    "AccountKey=<account-key>;",
    'CACHE_KEY = "' + HEX32 * 2 + '"',
    'SIGNING_KEY_ID = "123e4567-e89b-12d3-a456-426614174000"',
    'sort_key = "created_at"',
    'key = "' + HEX32 * 2 + '"',
    'monkey = "' + ALNUM[:20] + '"',
    "SMTP_PASS=${SMTP_PASSWORD}",
    'first_pass = "' + ALNUM[:20] + '"',
    "DB_PASSWORD=postgres",
    '"ANTHROPIC_API_KEY": "sk' + '-ant-\u2026-123"',
    'API_TOKEN = "' + "a8Fk2Lq9..." + '"',
    "TEST_USER_PASSWORD=testpass1",
    "PASSWORD_MIN_LENGTH=12",
    "password: required",
    '    type_var_key = f"typevar={thing!r}"',
    '{"WWW-Authenticate": \'Basic realm="llama-swap"\'}',
    'FAKE_KEY = "sk' + '-ant-api03-localroute-fake-0123456789abcdef"',
]


@pytest.mark.parametrize("line", NEW_NEGATIVES)
def test_new_false_positives_are_not_flagged(line: str) -> None:
    assert find_secrets(line) == []


def test_a_url_password_next_to_a_provider_token_is_reported_as_the_token() -> None:
    line = "git clone https://x-access-token:" + GITHUB_CLASSIC + "@github.com/a/b.git"
    assert find_secrets(line) == [SecretHit("GitHub token", 1)]


def test_a_twilio_account_sid_alone_is_an_identifier_and_with_a_token_a_credential() -> None:
    sid = "TWILIO_ACCOUNT_SID=A" + "C" + HEX32
    assert find_secrets(sid) == []
    text = f"{sid}\nTWILIO_AUTH_TOKEN={HEX32[::-1]}\n"
    assert find_secrets(text) == [SecretHit("Twilio credential", 2)]


def _pem(label: str) -> str:
    body = "\n".join(ALNUM + ALNUM[:24] for _ in range(3))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


@pytest.mark.parametrize("prefix", ["", "x", "xy", "a certificate first\n"])
@pytest.mark.parametrize("label", ["RSA " + "PRIVATE KEY", "PRIVATE KEY", "PGP PRIVATE KEY BLOCK"])
def test_a_base64_encoded_private_key_is_found_at_any_offset(prefix: str, label: str) -> None:
    encoded = base64.b64encode((prefix + _pem(label)).encode()).decode()
    text = f"apiVersion: v1\nkind: Secret\ndata:\n  tls.key: {encoded}\n"
    assert find_secrets(text) == [SecretHit("private key", 4)]


def test_a_base64_encoded_certificate_is_not_a_key() -> None:
    encoded = base64.b64encode(_pem("CERTIFICATE").encode()).decode()
    text = f"kind: Secret\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {encoded}\n"
    assert find_secrets(text) == []


def test_base64_signatures_hold_for_every_alignment() -> None:
    marker = b" PRIVATE KEY-----"
    signatures = base64_signatures(marker)
    assert len(signatures) == 3
    for k in range(6):
        encoded = base64.b64encode(bytes(range(7, 7 + k)) + marker + b"tail").decode()
        assert any(s in encoded for s in signatures), k


def test_kubernetes_secret_values_are_decoded_and_judged() -> None:
    def secret(**data: str) -> str:
        lines = [f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in data.items()]
        return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n" + "\n".join(lines)

    assert find_secrets(secret(username="admin")) == []
    assert find_secrets(secret(password="changeme")) == []
    assert find_secrets(secret(username="app", password=PASSWORD)) == [
        SecretHit("Kubernetes secret value", 7)
    ]
    url = f"postgres://app:{PASSWORD}@db/app"
    assert find_secrets(secret(DATABASE_URL=url)) == [SecretHit("Kubernetes secret value", 6)]
    # The same values in a ConfigMap are not declared secret.
    config_map = secret(password=PASSWORD).replace("kind: Secret", "kind: ConfigMap")
    assert find_secrets(config_map) == [SecretHit("credential assignment", 6)]


def test_a_secret_value_too_long_to_scan_whole_is_a_credential() -> None:
    """Before: a Secret's config file with its password past the first 64 KiB decoded was
    judged on those 64 KiB, and the encoded text showed no detector the rest."""

    def secret(config: str) -> str:
        encoded = base64.b64encode(config.encode()).decode()
        return f"apiVersion: v1\nkind: Secret\ndata:\n  application.yml: {encoded}\n"

    settings = "".join(f"setting_{i}: value {i}\n" for i in range(4000))  # about 90 KiB
    late = settings + f"db_password: {PASSWORD}\n"
    assert find_secrets(secret(late)) == [SecretHit("Kubernetes secret value", 4)]
    assert find_secrets(secret(settings)) == [SecretHit("Kubernetes secret value", 4)]
    # Short enough to scan whole, it is judged by what it holds.
    few = "".join(f"setting_{i}: value {i}\n" for i in range(100))
    assert find_secrets(secret(few)) == []
    assert find_secrets(secret(few + f"db_password: {PASSWORD}\n")) == [
        SecretHit("Kubernetes secret value", 4)
    ]


def test_a_gcp_service_account_file_is_found_and_one_without_its_key_is_not() -> None:
    key = _pem("PRIVATE KEY").replace("\n", "\\n")
    doc = '{\n  "type": "service_account",\n  "private_key": "' + key + '"\n}'
    assert find_secrets(doc) == [
        SecretHit("GCP service account key", 3),
        SecretHit("private key", 3),
    ]
    empty = '{"type": "service_account", "private_key": "", "client_email": "a@b.c"}'
    assert find_secrets(empty) == []


def test_redaction_withholds_the_new_kinds() -> None:
    text = f"ok = 1\nDATABASE_URL=postgres://app:{PASSWORD}@db/app\n"
    assert redact(text) == "ok = 1\n[line withheld: it held a password in a connection string]\n"


def test_hits_never_carry_the_value() -> None:
    text = f"DATABASE_URL=postgres://app:{PASSWORD}@db/app\nSTRIPE=" + "sk" + "_live_" + ALNUM
    for hit in find_secrets(text):
        assert PASSWORD not in repr(hit) and ALNUM not in repr(hit)


LONG_VALUE = "".join(ALNUM[(i * 7) % len(ALNUM)] for i in range(1000))


@pytest.mark.parametrize(
    ("text", "kind", "line"),
    [
        (f"<password>{LONG_VALUE}</password>\n", "credential assignment", 1),
        (f'<add key="DbPassword" value="{LONG_VALUE}" />\n', "credential assignment", 1),
        (f'- name: DB_PASSWORD\n  value: "{LONG_VALUE}"\n', "credential assignment", 2),
        (f"postgres://app:{LONG_VALUE}@db/app\n", "password in a connection string", 1),
        (f"Server=db;Password='{LONG_VALUE}';\n", "password in a connection string", 1),
        (f"Driver={{x}};PWD={{{LONG_VALUE}}};\n", "password in a connection string", 1),
        (f"jdbc:oracle:thin:scott/{LONG_VALUE}@db:1521\n", "password in a connection string", 1),
    ],
)
def test_a_value_is_not_cleared_for_its_length(text: str, kind: str, line: int) -> None:
    """Before: these forms matched values of at most 256 (or 512) characters, so a longer
    password in them was no credential."""
    assert SecretHit(kind, line) in find_secrets(text)
