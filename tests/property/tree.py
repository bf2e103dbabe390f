"""A real directory tree with hand-labelled ground truth, and the forms a server receives
its documents in.

The tree (made once per session, see :func:`make_tree`)::

    ws/            the workspace folder (no marker of its own)
    ws2/           a second folder, a workspace folder in some cases only
    outside/       another project: `.git` and a `.localroute.toml` adding `reports/**`
    home/, loose/  no project root at all
    ws_link -> ws, and symlinks in and out of ws/ (see LINKS)

Ground truth changed with the privacy core (each change is deliberate, see the module
docstrings of ``localroute.identity`` and ``localroute.policy.roots``):

* a file with no project root (no workspace folder, client root, workspace file or
  `.git` above it) is private: ``home/``, ``loose/``, ``ws2/`` unless it is a folder;
* ``outside/`` is a project of its own, so the user glob ``internal/**`` holds at its
  root too (it was public as "outside every workspace");
* globs have gitignore directory semantics: ``confidential`` covers ``confidential/**``;
* ``.envrc`` joined the built-in globs (it was ordinary code).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from hypothesis import strategies as st

from localroute.config.models import BUILTIN_PRIVACY_GLOBS
from localroute.privacy.globs import match_privacy_glob
from tests.property.common import SEEDS, pick, to_toml

USER_GLOBS = ("internal/**", "confidential")
"""The user file's globs: one anchored at a project root, one naming a directory."""
OUTSIDE_GLOBS = ("reports/**",)
"""The globs of outside/.localroute.toml: they hold for files of that project only."""
SECRETS = ("**/secrets/**",)
_ENV = ("**/.env",)
_ENV_STAR = ("**/.env.*",)
ROOTLESS = "no project root found"


@dataclass(frozen=True)
class Entry:
    """A document in the tree (relative to the tree's base) and whether it is private.

    ``mode``: ``public``; ``lexical`` (private by the name it is opened under);
    ``resolved`` (private only once symlinks are followed). ``globs``: the globs that
    may be named as the reason. ``root_relative``: its glob holds only relative to a
    project root. ``real``: the file a symlinked entry stands for (its project decides).
    """

    rel: str
    mode: str = "public"
    globs: tuple[str, ...] = ()
    root_relative: bool = False
    real: str | None = None

    @property
    def private(self) -> bool:
        return self.mode != "public"

    def project(self, *, ws2_open: bool) -> str | None:
        """The project root of the file this entry stands for, relative to the base."""
        top = (self.real or self.rel).split("/", 1)[0]
        if top in ("ws", "outside") or (top == "ws2" and ws2_open):
            return top
        return None


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
    "ws/src/confidential/x.py",
    "ws/confidential.py",
    "ws/reports/q1.md",
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
    "outside/reports/q1.md",
    "home/.ssh/id_rsa",
    "home/.aws/config",
    "loose/a.py",
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

ENTRIES: tuple[Entry, ...] = (
    Entry("ws/src/app.py"),
    Entry("ws/src/util/helpers.py"),
    Entry("ws/README.md"),
    Entry("ws/docs/guide.md"),
    Entry("ws/config/settings.py"),
    Entry("ws/env.py"),
    Entry("ws/secret.py"),
    Entry("ws/secrets.py"),
    Entry("ws/my_secrets/notes.md"),
    Entry("ws/keys/keys.py"),
    Entry("ws/pem.txt"),
    Entry("ws/internal_docs/a.md"),
    Entry("ws/src/internal/x.py"),  # internal/** is anchored at the project root
    Entry("ws/confidential.py"),
    Entry("ws/reports/q1.md"),  # reports/** is outside/'s rule, not ws/'s
    Entry("ws/notebooks/analysis.ipynb"),
    Entry("ws/dir with space/a b.py"),
    Entry("ws/ünïcode/ѕecrets/x.py"),
    Entry("ws/%2e%2e/lit.py"),
    Entry("ws/public_link.py", real="ws/src/app.py"),
    Entry("ws/outside_public/a.py", real="outside/public/a.py"),
    Entry("ws/loop.py"),
    Entry("ws/src/up/src/app.py", real="ws/src/app.py"),
    Entry("ws2/README.md"),
    Entry("outside/public/a.py"),
    Entry("loose/a.py"),
    Entry("ws/.envrc", "lexical", ("**/.envrc",)),
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
    Entry("ws/secrets/alias.py", "lexical", SECRETS, real="ws/src/app.py"),
    Entry("ws/SECRETS/upper.txt", "lexical", SECRETS),
    Entry("ws/src/up/secrets/db.py", "lexical", SECRETS, real="ws/secrets/db.py"),
    Entry("ws/src/credentials.json", "lexical", ("**/credentials*",)),
    Entry("ws/src/confidential/x.py", "lexical", ("confidential",)),
    Entry("ws/id_rsa", "lexical", ("**/id_rsa*",)),
    Entry("ws/id_ed25519.pub", "lexical", ("**/id_ed25519*",)),
    Entry("ws/.aws/credentials", "lexical", ("**/.aws/**", "**/credentials*")),
    Entry("ws/.ssh/config", "lexical", ("**/.ssh/**",)),
    Entry("ws/certs/client.p12", "lexical", ("**/*.p12",)),
    Entry("ws/.npmrc", "lexical", ("**/.npmrc",)),
    Entry("ws/infra/terraform.tfstate", "lexical", ("**/*.tfstate",)),
    Entry("ws/infra/terraform.tfstate.backup", "lexical", ("**/*.tfstate.*",)),
    Entry("ws/internal/plan.md", "lexical", ("internal/**",), root_relative=True),
    Entry("outside/secrets/token.txt", "lexical", SECRETS),
    Entry("outside/internal/x.md", "lexical", ("internal/**",), root_relative=True),
    Entry("outside/reports/q1.md", "lexical", OUTSIDE_GLOBS, root_relative=True),
    Entry("home/.ssh/id_rsa", "lexical", ("**/id_rsa*", "**/.ssh/**")),
    Entry("home/.aws/config", "lexical", ("**/.aws/**",)),
    Entry("ws/link_to_secrets/db.py", "resolved", SECRETS, real="ws/secrets/db.py"),
    Entry(
        "ws/link_to_secrets/nested/deep.yaml",
        "resolved",
        SECRETS,
        real="ws/secrets/nested/deep.yaml",
    ),
    Entry("ws/innocent.py", "resolved", SECRETS, real="ws/secrets/db.py"),
    Entry("ws/outside_secret/token.txt", "resolved", SECRETS, real="outside/secrets/token.txt"),
    # The kernel's "..": deep_link/.. is outside/secrets, not ws/.
    Entry("ws/deep_link/../token.txt", "resolved", SECRETS, real="outside/secrets/token.txt"),
    Entry(
        "ws/deep_link/../../reports/q1.md",
        "resolved",
        OUTSIDE_GLOBS,
        root_relative=True,
        real="outside/reports/q1.md",
    ),
    Entry(
        "ws/escape_key.txt",
        "resolved",
        ("**/id_rsa*", "**/.ssh/**"),
        real="home/.ssh/id_rsa",
    ),
    Entry("ws/dangling.py", "resolved", SECRETS, real="nowhere/secrets/x.py"),
    Entry(
        "ws/internal_link/plan.md",
        "resolved",
        ("internal/**",),
        root_relative=True,
        real="ws/internal/plan.md",
    ),
)


@dataclass(frozen=True)
class Tree:
    base: str  # absolute, no trailing slash

    def abs(self, rel: str) -> str:
        return f"{self.base}/{rel}"


def make_tree(base: Path) -> Tree:
    """The workspace tree: files, directories, markers and symlinks in and out of ws/."""
    for rel in FILES:
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("print('hello')\n")
    for rel, target in LINKS.items():
        link = base / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
    (base / "outside" / ".git").mkdir()
    (base / "outside" / ".localroute.toml").write_text(
        to_toml({"privacy": {"globs": list(OUTSIDE_GLOBS)}})
    )
    tree = Tree(str(base))
    # The tree itself must not sit under a private-looking directory or a project.
    assert match_privacy_glob(tree.abs("ws/src/app.py"), [], BUILTIN_PRIVACY_GLOBS) is None
    for parent in base.parents:
        assert not (parent / ".git").exists(), f"{parent} is a project: the tree needs another"
    return tree


# --- the forms a document reaches the server in ---------------------------------------


@dataclass(frozen=True)
class Target:
    """A document as the server receives it, and what this form can know.

    ``kind``: ``exact`` (names the file on this machine); ``lexical`` (names it, but
    symlinks cannot be followed: a case variant on this case-sensitive file system, a
    Windows or UNC path); ``rootless`` (a form whose file cannot be known: private by
    default, like a relative ``file:`` URI); ``text`` (no file: classified by its text).
    """

    uri: str
    folders: tuple[str, ...]  # workspace folders as the client sends them (URIs or paths)
    form: str
    kind: str
    in_ws_only: bool = False  # lexical forms: only files under ws/ have a root
    ws2_open: bool = False


DETOURS = ("src/../", "./", "zzz/../", "src/util/../../", "docs/./../")
FORMS = (
    "absolute",
    "via root symlink",
    "detour",
    "double slashes",
    "leading double slash",
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


def flip_case(rng: random.Random, text: str) -> str:
    return "".join(c.swapcase() if rng.random() < 0.5 else c for c in text)


def encode(rng: random.Random, path: str, *, slashes: float = 0.1) -> str:
    """Percent-encode a path as an editor would, then some more (hex case varies)."""
    out = []
    for ch in path:
        if (ch == "/" and rng.random() >= slashes) or (
            ch.isascii() and ch.isalnum() and rng.random() < 0.7
        ):
            out.append(ch)
        else:
            encoded = "".join(f"%{b:02X}" for b in ch.encode())
            out.append(encoded.lower() if rng.random() < 0.5 else encoded)
    return "".join(out)


def _folder_uri(rng: random.Random, path: str) -> str:
    return rng.choice(["file://" + quote(path), path])


def make_target(tree: Tree, entry: Entry, form: str, seed: int, extra_root: bool) -> Target:
    rng = random.Random(seed)
    base = tree.base
    in_ws = entry.rel.startswith("ws/")
    ws_rel = entry.rel[3:] if in_ws else "../" + entry.rel
    ws_form = rng.choice([f"{base}/ws", f"{base}/ws/", f"{base}//ws", f"{base}/ws_link"])
    folders = [_folder_uri(rng, ws_form)]
    if extra_root:
        folders.append(_folder_uri(rng, f"{base}/ws2"))
    folders_t = tuple(folders)
    absolute = f"{base}/{entry.rel}"

    def target(uri: str, kind: str = "exact", in_ws_only: bool = False) -> Target:
        return Target(uri, folders_t, form, kind, in_ws_only, extra_root)

    def plain(path: str, kind: str = "exact") -> Target:
        return target("file://" + quote(path), kind)

    if form == "absolute":
        return plain(absolute)
    if form == "via root symlink":
        return plain(f"{base}/ws_link/{ws_rel}")
    if form == "detour":
        return plain(f"{base}/ws/{rng.choice(DETOURS)}{ws_rel}")
    if form == "double slashes":
        # Not at the start: a path that starts with `//` is a UNC path (see below).
        doubled = absolute[1:].replace("/", "//", rng.randint(1, 4)).replace("/ws/", "/ws///")
        return plain("/" + doubled)
    if form == "leading double slash":
        # `file:////x` and `//x` name a UNC share, not this machine's /x: not a file here.
        return plain("/" + absolute, "rootless")
    if form == "trailing slash":
        return plain(absolute + "/")
    if form in ("relative", "relative detour"):
        # A relative file URI names no file: resolving it against the server's directory
        # would make the verdict depend on where the server was started.
        rel = ws_rel if form == "relative" else rng.choice(DETOURS) + ws_rel
        return target("file:" + quote(rel), "rootless")
    if form == "backslashes":
        # `\tmp\x` as the path of a file URI: a name this POSIX machine cannot follow.
        return plain(absolute.replace("/", "\\"), "rootless")
    if form == "case variant":
        # Only the part below the workspace varies; on this case-sensitive file system a
        # varied name cannot be resolved (on macOS it would be).
        varied = f"{base}/ws/{flip_case(rng, ws_rel)}" if in_ws else absolute
        return plain(varied, "exact" if varied == absolute else "lexical")
    if form.startswith("file uri"):
        if form == "file uri, extra encoding":
            uri = rng.choice(["file://", "FILE://", "File://"]) + encode(rng, absolute)
        elif form == "file uri, localhost":
            uri = rng.choice(["file://localhost", "file://LOCALHOST"]) + quote(absolute)
        else:
            uri = rng.choice(["file://", "file:"]) + quote(absolute)
        return target(uri)
    if form == "notebook cell":
        uri = rng.choice(["vscode-notebook-cell:", "vscode-notebook-cell://"])
        return target(uri + quote(absolute) + "#W" + pick(rng, "abcXYZ0123", 6) + "sZmlsZQ%3D%3D")
    if form.startswith("windows drive"):
        drive = rng.choice(["C:", "c:", "D:"])
        win_base = drive + "\\Users\\dev\\work"
        root = rng.choice([win_base + "\\ws", win_base.replace("\\", "/") + "/ws"])
        if rng.random() < 0.3:
            root = root.lower()
        windows = win_base + "\\" + entry.rel.replace("/", "\\")
        if form == "windows drive uri":
            posix = quote(windows.replace("\\", "/"), safe=":/")
            uri = "file:///" + rng.choice([posix, posix.replace(":", "%3A", 1)])
        else:
            uri = rng.choice([windows, "file:///" + quote(windows)])
        return Target(uri, (root,), form, "lexical", True)
    if form == "unc share":
        if rng.random() < 0.5:
            uri = "file://server/share/" + quote(entry.rel)
            return Target(uri, ("file://server/share/ws",), form, "lexical", True)
        unc = "\\\\server\\share\\" + entry.rel.replace("/", "\\")
        return Target("file:" + quote(unc), ("\\\\server\\share\\ws",), form, "lexical", True)
    if form == "untitled":
        if rng.random() < 0.5:
            return target("untitled:Untitled-1", "text")
        return target("untitled:" + quote(absolute))
    raise AssertionError(form)


@dataclass(frozen=True)
class Expected:
    private: bool
    rootless: bool
    glob_required: bool


def expected(entry: Entry, target: Target) -> Expected | None:
    """Ground truth for the entry in this form, or None when the form cannot know it."""
    if target.kind == "text":
        return Expected(False, False, False)  # an untitled buffer of clean text
    if target.kind == "rootless":
        # Its file cannot be known, but the name it was given is still matched (none is
        # left of `file://%5Cx`: the URI's path is empty, its host `\x`).
        named = entry.mode == "lexical" and not entry.root_relative
        return Expected(True, True, named and target.form != "backslashes")
    if target.kind == "lexical":
        if entry.mode == "resolved":
            return None
        # Only the workspace folder is known in these forms (a Windows or UNC copy of
        # ws/, or a case variant below ws/): files outside it have no project root.
        rootless = not entry.rel.startswith("ws/")
    else:
        rootless = entry.project(ws2_open=target.ws2_open) is None
    # A glob anchored at a project root cannot be matched without one.
    glob_required = entry.private and not (rootless and entry.root_relative)
    return Expected(entry.private or rootless, rootless, glob_required)


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


def globs_named(reasons: tuple[str, ...]) -> list[str]:
    """The globs a verdict names, in order."""
    out = []
    for reason in reasons:
        m = re.fullmatch(r"path matches privacy glob '(.*)'", reason, re.DOTALL)
        if m:
            out.append(m.group(1))
    return out


FORCED_MARKS = ("no project root found", "documents are not known to be any file")


def forced_reasons(reasons: tuple[str, ...]) -> list[str]:
    """Reasons that make a document private whatever it holds: its file cannot be known."""
    return [r for r in reasons if any(mark in r for mark in FORCED_MARKS)]
