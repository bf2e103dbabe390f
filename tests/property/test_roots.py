"""A file's verdict never depends on how the editor or the shell was opened.

Random trees hold nested `.git` directories and files and workspace files
(`.localroute.toml`, `localroute.toml`) with privacy globs; the editor is opened in any
way — on a project root, a sub-folder, a sibling, several folders, only a `rootUri`,
nothing — and the shell from any directory. For every file:

* the verdict is the model's: private when no project root is known; else when a glob
  (the user's, or one of a workspace file in the file's directory or above) matches the
  file relative to its workspace folder, client root or any marked directory above it;
* a workspace file's globs hold (relative to its own directory) however the file is
  reached, and opening the editor somewhere never makes a file less private than the
  command line finds it;
* `localroute route` gives the same verdict from any current directory.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import posixpath
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, note

from localroute import cli
from localroute.config.models import Config, PrivacyConfig
from localroute.identity import identify_path
from localroute.pipeline import Document, Pipeline
from localroute.policy import PolicyStore
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import closed_port
from tests.property.common import SEEDS, Cases, planned, to_toml
from tests.property.globs_reference import reference_match
from tests.property.serving import editor, user_config

USER_GLOBS = ("internal/**",)
GLOB_POOL = ("gen/**", "*.secret", "data", "/top.py", "notes.md", "pkg/x.py", "**/deep/*.py")
FILE_NAMES = ("x.py", "top.py", "a.secret", "gen/y.py", "data/z.py", "notes.md")
FILE_NAMES += ("internal/w.py", "deep/q.py")
DIR_NAMES = ("a", "b", "src", "pkg")
TEXT = "def f(x):\n    return x\n"

_counter = itertools.count()


@dataclass
class Dir:
    rel: str  # relative to the tree's base; "" is the base itself
    git: str | None = None  # "dir" | "file"
    config_files: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def marked(self) -> bool:
        return self.git is not None or bool(self.config_files)


@dataclass
class Layout:
    base: Path
    dirs: list[Dir]
    files: list[str]  # relative to base

    def abs(self, rel: str) -> str:
        return str(self.base / rel) if rel else str(self.base)

    def above(self, file: str) -> list[Dir]:
        """The directories of the tree that hold ``file``, outermost first."""
        parent = posixpath.dirname(file)
        return [
            d for d in self.dirs if d.rel == "" or parent == d.rel or parent.startswith(d.rel + "/")
        ]


def make_layout(rng: random.Random, base: Path) -> Layout:
    dirs = [Dir("")]
    for _ in range(rng.randint(1, 6)):
        parent = rng.choice(dirs)
        if parent.rel.count("/") >= 2:
            continue
        name = rng.choice(DIR_NAMES)
        rel = f"{parent.rel}/{name}".lstrip("/")
        if all(d.rel != rel for d in dirs):
            dirs.append(Dir(rel))
    for d in dirs[1:] if rng.random() < 0.7 else dirs:
        if rng.random() < 0.35:
            d.git = rng.choice(["dir", "file"])
        if rng.random() < 0.4:
            for name in rng.sample([".localroute.toml", "localroute.toml"], rng.randint(1, 2)):
                d.config_files[name] = tuple(rng.sample(GLOB_POOL, rng.randint(1, 2)))
    files = sorted(
        {
            f"{d.rel}/{name}".lstrip("/")
            for d in dirs
            for name in rng.sample(FILE_NAMES, rng.randint(0, 3))
        }
    )
    layout = Layout(base, dirs, files)
    for d in dirs:
        path = Path(layout.abs(d.rel))
        path.mkdir(parents=True, exist_ok=True)
        if d.git == "dir":
            (path / ".git").mkdir()
        elif d.git == "file":
            (path / ".git").write_text("gitdir: ../.git/worktrees/x\n")
        for name, globs in d.config_files.items():
            (path / name).write_text(to_toml({"privacy": {"globs": list(globs)}}))
    for rel in files:
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(TEXT)
    return layout


def _contains(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def model_private(
    layout: Layout, file: str, folders: Sequence[str], client_root: str | None
) -> bool:
    """The rule, written out independently of the server's code."""
    path = layout.abs(file)
    above = layout.above(file)
    given = [f for f in folders if _contains(f, path)]
    if client_root and _contains(client_root, path):
        given.append(client_root)
    marked = [layout.abs(d.rel) for d in above if d.marked]
    if not given and not marked:
        return True  # no project root: its rules cannot be known
    globs = [*USER_GLOBS, *(g for d in above for gs in d.config_files.values() for g in gs)]
    candidates = [path] + [path[len(b.rstrip("/")) + 1 :] for b in [*given, *marked]]
    return any(reference_match(g, c) for g in globs for c in candidates)


def workspace_rule_holds(layout: Layout, file: str) -> bool:
    """Whether a workspace file above ``file`` names it, relative to its own directory."""
    for d in layout.above(file):
        rel = file[len(d.rel) + 1 :] if d.rel else file
        if any(reference_match(g, rel) for gs in d.config_files.values() for g in gs):
            return True
    return False


CONFIG = Config(privacy=PrivacyConfig(globs=list(USER_GLOBS)))


def verdicts(
    layout: Layout, folders: Sequence[str] = (), client_root: str | None = None
) -> dict[str, bool]:
    pipeline = Pipeline(
        PolicyStore(fixed=CONFIG, workspace_folders=folders, client_root=client_root)
    )
    return {
        f: pipeline.classify(Document(identify_path(layout.abs(f)), TEXT)).private
        for f in layout.files
    }


def openings(rng: random.Random, layout: Layout) -> tuple[list[str], str | None, str]:
    """How an editor might be opened on this tree."""
    places = [layout.abs(d.rel) for d in layout.dirs]
    sibling = str(layout.base.parent / "sibling")
    way = rng.choice(["root folder", "sub-folder", "sibling", "several", "only rootUri", "none"])
    if way == "root folder":
        return [layout.abs("")], None, way
    if way == "sub-folder":
        return [rng.choice(places)], rng.choice([None, layout.abs("")]), way
    if way == "sibling":
        return [sibling], rng.choice([None, sibling]), way
    if way == "several":
        return [*rng.sample(places, min(len(places), 2)), sibling], None, way
    if way == "only rootUri":
        return [], rng.choice(places), way
    return [], None, way


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("roots")
    (base / "sibling").mkdir()
    return base


@planned(300)
@given(seed=SEEDS)
def test_a_files_verdict_does_not_depend_on_how_the_editor_was_opened(
    trees: Path, cases: Cases, seed: int
) -> None:
    rng = random.Random(seed)
    layout = make_layout(rng, trees / f"t{next(_counter)}")
    folders, client_root, way = openings(rng, layout)
    note(f"{layout=}\n{folders=} {client_root=}")
    cases(f"opened: {way}")
    if not layout.files:
        return
    opened = verdicts(layout, folders, client_root)
    shell = verdicts(layout)
    for file in layout.files:
        want = model_private(layout, file, folders, client_root)
        assert opened[file] == want, f"{file} opened as {way}: {opened[file]}, model {want}"
        if workspace_rule_holds(layout, file):
            cases.figure("files named by a workspace file")
            assert opened[file], f"{file}: a workspace file above names it ({way})"
        if shell[file] and any(d.marked for d in layout.above(file)):
            # (A file with no marker above is private from the shell only because its rules
            # cannot be known there: opened on a folder that holds it, they are the folder's.)
            assert opened[file], f"{file} is private from the shell, not when opened as {way}"
        cases.figure("private" if opened[file] else "not private")


def cli_route(path: str, cwd: str, env: dict[str, str]) -> dict[str, object]:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.chdir(cwd)
        for key, value in env.items():
            mp.setenv(key, value)
        code = cli.main(["route", path, "--format", "json"])
    assert code == 0, out.getvalue()
    report: dict[str, object] = json.loads(out.getvalue())
    return report


@planned(150)
@given(seed=SEEDS)
def test_localroute_route_gives_the_same_verdict_from_any_directory(
    trees: Path, tmp_path_factory: pytest.TempPathFactory, cases: Cases, seed: int
) -> None:
    rng = random.Random(seed)
    layout = make_layout(rng, trees / f"t{next(_counter)}")
    if not layout.files:
        return
    home = trees / "home"
    home.mkdir(exist_ok=True)
    config = home / "config.toml"
    config.write_text(
        f'[backends.local]\nkind = "openai"\nurl = "http://127.0.0.1:{closed_port()}/v1"\n'
        '[tasks.review]\nroute = ["local:coder"]\n[privacy]\nglobs = ["internal/**"]\n'
    )
    env = {"LOCALROUTE_CONFIG": str(config), "XDG_CONFIG_HOME": str(home / "xdg")}
    file = rng.choice(layout.files)
    shell = verdicts(layout)[file]
    places = [layout.abs(d.rel) for d in layout.dirs] + [str(trees / "sibling"), "/"]
    cwd = rng.choice(places)
    absolute = layout.abs(file)
    path = rng.choice([absolute, os.path.relpath(absolute, cwd)])
    cases("relative path" if not path.startswith("/") else "absolute path")
    report = cli_route(path, cwd, env)
    assert report["private"] == shell, f"{path} from {cwd}: {report['reasons']}"
    assert report["private"] == model_private(layout, file, (), None)


async def test_a_real_server_opened_in_different_ways_agrees_with_the_model(
    trees: Path, tmp_path: Path
) -> None:
    """One generated tree, three editors: on a sub-folder, with only a `rootUri`, and on a
    sibling folder; a private file is refused and reaches no cloud however it was opened."""
    rng = random.Random(11)
    layout = make_layout(rng, trees / "served")
    for _ in range(100):  # a tree with a few files and a workspace file
        if len(layout.files) >= 4 and any(d.config_files for d in layout.dirs):
            break
        layout = make_layout(rng, trees / f"served{next(_counter)}")
    subs = [layout.abs(d.rel) for d in layout.dirs[1:]] or [layout.abs("")]
    ways = [
        ([Path(subs[0]).as_uri()], None),
        ([], layout.base.as_uri()),
        ([(trees / "sibling").as_uri()], (trees / "sibling").as_uri()),
    ]
    wrong: list[str] = []
    with FakeOpenAI(answer='{"findings": []}') as cloud:
        for n, (folders, root_uri) in enumerate(ways):
            folder_paths = [identify_path(Path(f[len("file://") :])).path or "" for f in folders]
            root_path = root_uri[len("file://") :] if root_uri else None
            async with editor(
                tmp_path / f"e{n}",
                user_config(cloud.url, globs=USER_GLOBS),
                root_uri=root_uri,
                folders=folders,
            ) as session:
                for file in layout.files:
                    want = model_private(layout, file, folder_paths, root_path)
                    before = len(cloud.chat_requests)
                    answer = await session.review(Path(layout.abs(file)).as_uri(), TEXT)
                    leaked = len(cloud.chat_requests) > before
                    if want and (answer.kind != "refused" or leaked):
                        wrong.append(f"{file} ({folders}, {root_uri}): {answer}, leaked={leaked}")
                    if not want and answer.kind != "answered":
                        wrong.append(f"{file} ({folders}, {root_uri}): {answer}")
    assert not wrong, "\n".join(wrong)
