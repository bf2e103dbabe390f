"""Every spelling of a file's URI gets the verdict of its plain path.

Spellings: percent-encoding of any character (``/`` and ``:`` included, upper- or
lower-case hex), ``file:``/``file://``/``file:///``/``file://localhost/``, names in NFD
or NFC, ``..`` detours and symlinks, ``git:`` with a JSON query, ``fugitive:`` and
``diffview:`` paths, notebook cells, and Windows drive forms. Each spelling is also
reviewed through the real pipeline (local model down, a cloud fake up): a private file
is refused and the cloud fake receives nothing; an ordinary one reaches it.
"""

from __future__ import annotations

import asyncio
import json
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from localroute.config.models import Config, PrivacyConfig, TaskConfig, backend_config
from localroute.identity import identify, identify_path
from localroute.pipeline import Document, Pipeline, RequestRefused, TaskRequest
from localroute.policy import PolicyStore
from tests.fakes.openai_fake import FakeOpenAI
from tests.property.common import SEEDS, Cases, planned, to_toml
from tests.property.harness import run_and_close, scripted
from tests.property.serving import editor, sent_texts, user_config
from tests.property.tree import globs_named
from tests.support.backends import fakes_behind_the_registry

NFC, NFD = "NFC", "NFD"
CAFE_NFD = unicodedata.normalize(NFD, "café")
MODULE_NFD = unicodedata.normalize(NFD, "Modulé")
USER_GLOBS = ["confidential"]
PROJECT_GLOBS = ["Ünïcode-dir/**", "café/**"]
"""proj/.localroute.toml, written in NFC; café/ is named in NFD on disk."""

# path under proj/ (as on disk) → private?
FILES: dict[str, bool] = {
    "src/app.py": False,
    "src/naïve.py": False,
    "src/%41.py": False,  # a literal percent sign in the name
    "dir with space/a:b.py": False,  # a colon in the name
    "dir with space/.env": True,
    "secrets/db.py": True,
    "secrets/nb.ipynb": True,
    "notebooks/nb.ipynb": False,
    "Ünïcode-dir/x.py": True,
    f"{CAFE_NFD}/menu.py": True,
    "docs/confidential/plan.md": True,
    f"{MODULE_NFD}/public.py": False,
}
NFD_RULED = f"{MODULE_NFD}/internal/x.py"
"""Private by the .localroute.toml of a directory named in NFD on disk: see
:func:`test_a_workspace_file_in_a_directory_named_in_nfd_applies` (a known leak)."""
LINKS = {"alias": "secrets", "link.py": "secrets/db.py"}
"""Symlinks inside proj/ (and ../elsewhere/in.py → proj/secrets/db.py)."""
SYMLINKED = {"secrets/db.py": ["alias/db.py", "link.py", "../elsewhere/in.py"]}
TEXT = "def f(x):\n    return x + 1\n"


@dataclass(frozen=True)
class Project:
    root: Path

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("uri-forms")
    root = base / "proj"
    (root / ".git").mkdir(parents=True)
    (root / ".localroute.toml").write_text(to_toml({"privacy": {"globs": PROJECT_GLOBS}}))
    for rel in [*FILES, NFD_RULED]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(TEXT)
    (root / MODULE_NFD / ".localroute.toml").write_text(
        to_toml({"privacy": {"globs": ["internal/**"]}})
    )
    for rel, target in LINKS.items():
        (root / rel).symlink_to(target)
    (base / "elsewhere").mkdir()
    (base / "elsewhere" / "in.py").symlink_to("../proj/secrets/db.py")
    return Project(root)


CONFIG = Config(
    backends={
        "local": backend_config(kind="openai", url="http://127.0.0.1:8080/v1"),
        "cloud": backend_config(kind="openai", url="https://api.openai.com/v1"),
    },
    tasks={"review": TaskConfig(route=["local:coder", "cloud:gpt"])},
    privacy=PrivacyConfig(globs=USER_GLOBS),
)


def encode(rng: random.Random, path: str) -> str:
    """Percent-encode any character of ``path`` (always the non-ASCII ones and the ones a
    URI cannot hold as they are), in upper- or lower-case hex."""
    out = []
    for ch in path:
        must = not ch.isascii() or ch in " %#?"
        if must or rng.random() < 0.25:
            hexes = "".join(f"%{b:02X}" for b in ch.encode())
            out.append(hexes.lower() if rng.random() < 0.5 else hexes)
        else:
            out.append(ch)
    return "".join(out)


def detour(rng: random.Random, rel: str) -> str:
    parts = rel.split("/")
    at = rng.randint(0, len(parts) - 1)
    parts.insert(at, rng.choice(["x/..", ".", "src/../docs/..", "./."]))
    return "/".join(parts)


FORMS = ("file", "encoded", "detour", "symlink", "git", "fugitive", "diffview", "notebook")


def spell(rng: random.Random, project: Project, rel: str, form: str) -> tuple[str, str | None]:
    """A URI for proj/``rel``, and the owner text a server would read (for views)."""
    form_nf = rng.choice([NFC, NFD])
    root = str(project.root)

    def name(r: str) -> str:
        return unicodedata.normalize(form_nf, f"{root}/{r}")

    prefix = rng.choice(["file://", "file://", "file:", "file://localhost", "FILE://"])

    def file_uri(path: str) -> str:
        # After a host, the path's first `/` stays: `file://localhost%2Fx` names the host
        # `localhost/x`, another URI.
        if prefix.endswith("localhost"):
            return prefix + "/" + encode(rng, path[1:])
        return prefix + encode(rng, path)

    if form == "file":
        return prefix + quote(name(rel)), None
    if form == "encoded":
        return file_uri(name(rel)), None
    if form == "detour":
        return file_uri(name(detour(rng, rel))), None
    if form == "symlink":
        other = rng.choice(SYMLINKED.get(rel, [rel]))
        return file_uri(name(other)), None
    if form == "git":
        path = name(rel)
        query = json.dumps({"path": path, "ref": rng.choice(["HEAD", "~", ""])})
        return "git:" + encode(rng, path) + "?" + quote(query, safe=""), TEXT
    if form == "fugitive":
        stage = rng.choice(["0", "2", "3", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"])
        return f"fugitive://{encode(rng, name('.git'))}//{stage}/{encode(rng, rel)}", TEXT
    if form == "diffview":
        sha = rng.choice(["4b825dc6", "HEAD", ":0:"])
        return f"diffview://{encode(rng, name('.git'))}/{sha}/{encode(rng, rel)}", TEXT
    if form == "notebook":
        if not rel.endswith(".ipynb"):
            return file_uri(name(rel)), None
        scheme = rng.choice(["vscode-notebook-cell:", "vscode-notebook-cell://"])
        return f"{scheme}{encode(rng, name(rel))}#W{rng.randint(0, 9)}sZmlsZQ%3D%3D", TEXT
    raise AssertionError(form)


WINDOWS_FILES = {"src\\app.py": False, "secrets\\db.py": True, "docs\\Confidential\\a.md": True}


def windows_spelling(rng: random.Random, rel: str) -> tuple[str, str]:
    """A Windows file's plain path and another spelling of it."""
    drive = rng.choice(["C", "c"])
    plain = f"{drive}:\\Users\\dev\\proj\\{rel}"
    posix = plain.replace("\\", "/")
    spelled = rng.choice(
        [
            "file:///" + quote(posix, safe="/:"),
            "file:///" + quote(posix, safe="/"),  # VS Code: c%3A
            "file:///" + encode(rng, posix).replace("%3A", rng.choice(["%3A", "%3a", ":"])),
            "file://" + quote(posix, safe="/:"),  # the drive as the host
            posix,
            plain,
        ]
    )
    return plain, spelled


def _review(pipeline: Pipeline, uri: str, owner: str | None) -> TaskRequest:
    document = pipeline.classify(Document(identify(uri), TEXT, "python", owner_text=owner))
    return TaskRequest("review", document)


@planned(600)
@given(seed=SEEDS, rel=st.sampled_from(sorted(FILES)), form=st.sampled_from(FORMS))
def test_every_spelling_of_a_file_gets_the_verdict_of_its_plain_path(
    project: Project, runner: asyncio.Runner, cases: Cases, seed: int, rel: str, form: str
) -> None:
    rng = random.Random(seed)
    folders = rng.choice([[], [str(project.root)], [f"{project.root}/src"]])
    uri, owner = spell(rng, project, rel, form)
    note(f"{uri=} {folders=}")
    pipeline = Pipeline(PolicyStore(fixed=CONFIG, workspace_folders=folders))
    plain = pipeline.classify(Document(identify_path(project.path(rel)), TEXT, "python"))
    assert plain.private == FILES[rel], f"{rel}: {plain.verdict.summary}"
    request = _review(pipeline, uri, owner)
    spelled = request.verdict
    cases(f"form: {form}", "private" if FILES[rel] else "not private")
    assert spelled.private == plain.private, f"{uri!r}: {spelled.summary} ≠ {plain.verdict.summary}"
    assert spelled.localities == plain.verdict.localities
    assert identify(uri).path == plain.document.identity.path, uri
    assert set(globs_named(spelled.reasons)) == set(globs_named(plain.verdict.reasons)), uri

    fakes = {
        "local": scripted("local", CONFIG.backends["local"], "local", ["refused"]),
        "cloud": scripted("cloud", CONFIG.backends["cloud"], "cloud", ["up"]),
    }
    with fakes_behind_the_registry(fakes):
        outcome, error = runner.run(run_and_close(pipeline, request))
    if FILES[rel]:
        assert isinstance(error, RequestRefused), (uri, outcome, error)
        assert not fakes["cloud"].requests, f"LEAK: {uri!r} reached the cloud fake"
    else:
        assert outcome is not None and outcome.backend == "cloud", (uri, error)


@planned(300)
@given(seed=SEEDS, rel=st.sampled_from(sorted(WINDOWS_FILES)))
def test_every_spelling_of_a_windows_file_gets_the_verdict_of_its_plain_path(
    cases: Cases, seed: int, rel: str
) -> None:
    rng = random.Random(seed)
    plain, spelled = windows_spelling(rng, rel)
    folder = rng.choice(
        ["C:\\Users\\dev\\proj", "file:///c%3A/Users/dev/proj", "c:/users/dev/proj"]
    )
    pipeline = Pipeline(PolicyStore(fixed=CONFIG, workspace_folders=[identify(folder).path or ""]))
    want = pipeline.classify(Document(identify(plain), TEXT)).verdict
    got = pipeline.classify(Document(identify(spelled), TEXT)).verdict
    cases("private" if WINDOWS_FILES[rel] else "not private")
    assert want.private == WINDOWS_FILES[rel], f"{plain}: {want.summary}"
    assert got.private == want.private, f"{spelled!r}: {got.summary} ≠ {want.summary}"
    assert identify(spelled).path == identify(plain).path, spelled


async def test_generated_spellings_through_a_real_server(project: Project, tmp_path: Path) -> None:
    """A sample of the spellings above, sent to a real server opened on the project."""
    rng = random.Random(7)
    samples = [
        (rel, *spell(rng, project, rel, form))
        for rel in sorted(FILES)
        for form in rng.sample(FORMS, 3)
    ]
    wrong: list[str] = []
    with FakeOpenAI(answer='{"findings": []}') as cloud:
        config = user_config(cloud.url, globs=USER_GLOBS)
        root_uri = project.root.as_uri()
        async with editor(tmp_path, config, root_uri=root_uri, folders=[root_uri]) as session:
            for rel, uri, _ in samples:
                before = len(cloud.chat_requests)
                answer = await session.review(uri, f"{TEXT}# marker {rel}\n")
                if FILES[rel] and (answer.kind != "refused" or len(cloud.chat_requests) > before):
                    wrong.append(f"{rel} as {uri}: {answer.kind} {answer.detail}")
                if not FILES[rel] and answer.kind != "answered":
                    wrong.append(f"{rel} as {uri}: {answer.kind} {answer.detail}")
    assert not wrong, "\n".join(wrong)
    sent = sent_texts(cloud)
    for rel, _, _ in samples:
        # Private files never reach the cloud fake; ordinary ones do (it was reachable).
        assert (f"marker {rel}" in sent) != FILES[rel], rel


def test_a_workspace_file_in_a_directory_named_in_nfd_applies(project: Project) -> None:
    # proj/Modulé/ (é as e + U+0301, as macOS writes names) holds a .localroute.toml with
    # `globs = ["internal/**"]`; proj/ is the project (.git). Expected: Modulé/internal/x.py
    # is private; found: not private, so it goes to a cloud backend.
    pipeline = Pipeline(PolicyStore(fixed=CONFIG))
    verdict = pipeline.classify(Document(identify_path(project.path(NFD_RULED)), TEXT)).verdict
    assert verdict.private, verdict.summary
