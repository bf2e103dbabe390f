"""A configuration source that does not validate never lowers privacy.

Random corruptions of the user file, a workspace file, or the editor settings (user or
workspace level) — unknown keys anywhere, wrong types, broken TOML, a typo'd route
backend, a privacy table with a bad key, settings that are not an object — are compared
with the same setup without that source, and with the valid source:

* no file is less private than with the source removed (nor, unless the corruption is
  in the privacy part, than with the valid source);
* when the privacy part cannot be read, every document in the source's scope is private
  (a workspace file's scope is its directory);
* reviews through the pipeline send no byte of those documents to the cloud fake, and
  `localroute review` refuses to run (exit 2) and sends nothing.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from localroute.config.models import BackendConfig, Locality
from localroute.identity import identify_path
from localroute.pipeline import Document, Pipeline, TaskError, TaskOutcome, TaskRequest
from localroute.policy import PolicyStore
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import closed_port
from tests.property.common import SEEDS, Cases, planned, to_toml
from tests.property.credentials import make_credential
from tests.property.harness import scripted
from tests.property.serving import run_cli
from tests.support.backends import FakeBackend, fakes_behind_the_registry

SECRET_LINE = make_credential(1, 7).lines[0]  # an AWS access key id
DOCS: dict[str, str] = {
    "proj/src/app.py": "plain",
    "proj/mine/a.py": "user glob",
    "proj/ws-private/b.py": "workspace glob",
    "proj/editor/c.py": "editor glob",
    "proj/wsedit/d.py": "workspace editor glob",
    "proj/src/keys.py": "credential",
    "other/x.py": "plain, another project",
    "other/mine/y.py": "user glob, another project",
}
IN_WORKSPACE_FILE_SCOPE = {d for d in DOCS if d.startswith("proj/")}


def valid_user(port: int) -> dict[str, Any]:
    return {
        "backends": {
            "local": {"kind": "openai", "url": f"http://127.0.0.1:{port}/v1"},
            "cloud": {"kind": "openai", "url": "https://api.openai.com/v1"},
        },
        "tasks": {"review": {"route": ["local:coder", "cloud:gpt"]}},
        "privacy": {"globs": ["mine/**"]},
    }


VALID_WORKSPACE: dict[str, Any] = {
    "privacy": {"globs": ["ws-private/**"], "detect_secrets": True},
    "tasks": {"review": {"route": ["local:coder", "cloud:gpt"]}},
}
VALID_EDITOR: dict[str, Any] = {
    "user": {"privacy": {"globs": ["editor/**"]}},
    "workspace": {"privacy": {"globs": ["wsedit/**"]}},
}


@dataclass(frozen=True)
class Corruption:
    name: str
    breaks_privacy: bool
    apply: Callable[[dict[str, Any], random.Random], Any]
    files_only: bool = False


def _set(path: str, value: Any) -> Callable[[dict[str, Any], random.Random], Any]:
    def apply(data: dict[str, Any], rng: random.Random) -> Any:
        keys = path.split(".")
        node = data
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
        return data

    return apply


def _unknown_anywhere(data: dict[str, Any], rng: random.Random) -> Any:
    tables = [data] + [v for v in data.values() if isinstance(v, dict) and v]
    tables += [v for t in list(tables) for v in t.values() if isinstance(v, dict)]
    table = rng.choice(tables)
    table[rng.choice(["oops", "Backends", "colour", "max_tokns"])] = rng.choice([1, "x", True])
    return data


def _broken_toml(data: dict[str, Any], rng: random.Random) -> Any:
    text = to_toml(data)
    cut = rng.randint(1, max(1, len(text) - 1))
    return text[:cut] + rng.choice(["= = 1\n", '"unterminated\n', "[privacy\n", "\x00"])


CORRUPTIONS = (
    Corruption("unknown key somewhere", False, _unknown_anywhere),
    Corruption("unknown privacy key", True, _set("privacy.Globs", ["x/**"])),
    Corruption("privacy is not a table", True, _set("privacy", 3)),
    Corruption("globs is a string", True, _set("privacy.globs", "secret/**")),
    Corruption("detect_secrets is not a bool", True, _set("privacy.detect_secrets", "maybe")),
    Corruption("ill-typed backend key", False, _set("backends.local.max_concurrency", "four")),
    Corruption("typo'd route backend", False, _set("tasks.review.route", ["locl:coder"])),
    Corruption("route is a string", False, _set("tasks.review.route", "local:coder")),
    Corruption("tasks is a number", False, _set("tasks", 3)),
    Corruption("broken TOML", True, _broken_toml, files_only=True),
)
TARGETS = ("user file", "workspace file", "editor user", "editor workspace")


@dataclass
class Setup:
    base: Path
    user: Any  # dict, text (broken TOML) or None (removed)
    workspace: Any
    editor: Any  # {"user": ..., "workspace": ...} with either level possibly broken

    def write(self) -> dict[str, str]:
        user_file = self.base / "user.toml"
        for path, data in (
            (user_file, self.user),
            (self.base / "proj/.localroute.toml", self.workspace),
        ):
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(data if isinstance(data, str) else to_toml(data))
                stat = path.stat()  # a new time, whatever the clock's resolution
                os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        return {"LOCALROUTE_CONFIG": str(user_file), "XDG_CONFIG_HOME": str(self.base / "xdg")}

    def store(self) -> PolicyStore:
        env = self.write()
        return PolicyStore(env=env, editor_settings=self.editor, workspace_folders=[])


def text_of(doc: str) -> str:
    body = f"def f(x):\n    return x  # marker {doc}\n"
    return body + SECRET_LINE + "\n" if DOCS[doc] == "credential" else body


def verdicts(store: PolicyStore, base: Path) -> dict[str, tuple[bool, frozenset[Locality]]]:
    pipeline = Pipeline(store)
    out = {}
    for doc in DOCS:
        v = pipeline.classify(Document(identify_path(base / doc), text_of(doc))).verdict
        out[doc] = (v.private, v.localities)
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("config-errors")
    for doc in DOCS:
        (root / doc).parent.mkdir(parents=True, exist_ok=True)
        (root / doc).write_text(text_of(doc))
    (root / "proj/.git").mkdir()
    (root / "other/.git").mkdir()
    return root


def corrupted(setup: Setup, target: str, corruption: Corruption, rng: random.Random) -> Setup:
    out = copy.deepcopy(setup)
    if target == "user file":
        out.user = corruption.apply(copy.deepcopy(setup.user), rng)
    elif target == "workspace file":
        out.workspace = corruption.apply(copy.deepcopy(setup.workspace), rng)
    else:
        level = target.split()[1]
        out.editor[level] = corruption.apply(copy.deepcopy(setup.editor[level]), rng)
    return out


def removed(setup: Setup, target: str) -> Setup:
    out = copy.deepcopy(setup)
    if target == "user file":
        out.user = None
    elif target == "workspace file":
        out.workspace = None
    else:
        out.editor[target.split()[1]] = {}
    return out


def in_scope(target: str, doc: str) -> bool:
    return target != "workspace file" or doc in IN_WORKSPACE_FILE_SCOPE


@planned(300)
@given(
    seed=SEEDS,
    target=st.sampled_from(TARGETS),
    corruption=st.sampled_from(CORRUPTIONS),
    seen_valid_first=st.booleans(),
)
def test_a_broken_source_never_makes_a_file_less_private(
    base: Path,
    runner: asyncio.Runner,
    cases: Cases,
    seed: int,
    target: str,
    corruption: Corruption,
    seen_valid_first: bool,
) -> None:
    rng = random.Random(seed)
    if corruption.files_only and target.startswith("editor"):
        corruption = CORRUPTIONS[2]  # settings are JSON: a broken value instead
    if target.startswith("editor") and rng.random() < 0.2:
        corruption = Corruption(
            "settings not an object", True, lambda d, r: ["not", "an", "object"]
        )
    valid = Setup(base, valid_user(closed_port()), VALID_WORKSPACE, copy.deepcopy(VALID_EDITOR))
    broken = corrupted(valid, target, corruption, rng)
    note(
        f"{target}: {corruption.name}\nuser={broken.user!r}\nworkspace={broken.workspace!r}\n"
        f"editor={broken.editor!r}"
    )
    cases(f"{target}: {corruption.name}")

    want_removed = verdicts(removed(valid, target).store(), base)
    want_valid = verdicts(valid.store(), base)
    if seen_valid_first:
        # The same store saw the valid source first: its last valid version is kept for
        # backends and routes, never for privacy.
        store = valid.store()
        verdicts(store, base)
        broken.write()
        store.set_editor_settings(broken.editor)
    else:
        store = broken.store()
    got = verdicts(store, base)

    for doc, (private, localities) in got.items():
        was_private, was_localities = want_removed[doc]
        context = f"{doc} ({DOCS[doc]}), {target}: {corruption.name}"
        if was_private:
            assert private, f"{context}: private with the source removed, not with it broken"
            assert localities <= was_localities, context
        if not corruption.breaks_privacy and want_valid[doc][0]:
            assert private, f"{context}: private with the valid source, not with it broken"
        if corruption.breaks_privacy and in_scope(target, doc):
            assert private, f"{context}: its privacy part is unreadable, yet it is not private"
    if corruption.breaks_privacy:
        cases.figure("privacy part unreadable: all in scope private")

    # Through the pipeline: the cloud fake receives nothing of a document private with
    # the source removed (the local model is down, so a wrong verdict would go there).
    pipeline = Pipeline(store)
    fakes: dict[str, FakeBackend] = {}

    def make(name: str, config: BackendConfig, locality: Locality) -> FakeBackend:
        # Hand-labelled: only the backend named `cloud` runs away from this machine.
        script = ["up"] if name == "cloud" else ["refused"]
        return fakes.setdefault(name, scripted(name, config, locality, script))

    requests = [
        TaskRequest("review", pipeline.classify(Document(identify_path(base / d), text_of(d))))
        for d in DOCS
    ]
    with fakes_behind_the_registry(make):
        for request in requests:
            outcome = runner.run(_run(pipeline, request))
            if request.verdict.private and outcome is not None:
                assert outcome.backend != "cloud", request.uri
        runner.run(pipeline.aclose())
    cloud = fakes.get("cloud")
    sent = "\n".join(r.user for r in cloud.requests) if cloud else ""
    cases.figure("documents sent to the cloud fake", sent.count("# marker"))
    for doc, (was_private, _) in want_removed.items():
        if was_private or got[doc][0]:
            assert f"marker {doc}" not in sent, f"LEAK: {doc} reached the cloud fake"


async def _run(pipeline: Pipeline, request: TaskRequest) -> TaskOutcome | None:
    try:
        return await pipeline.run(request)
    except TaskError:  # refused or failed: nothing to check here but what the fakes got
        return None


CLI_CASES = [
    ("user file", CORRUPTIONS[6], "tasks.review"),  # typo'd route backend
    ("user file", CORRUPTIONS[9], "invalid TOML"),
    ("workspace file", CORRUPTIONS[1], "privacy.Globs"),
    ("workspace file", CORRUPTIONS[2], "privacy"),
]


@pytest.mark.parametrize(
    ("target", "corruption", "named"), CLI_CASES, ids=[f"{t}: {c.name}" for t, c, _ in CLI_CASES]
)
def test_localroute_review_stops_on_a_broken_source_and_sends_nothing(
    tmp_path: Path, target: str, corruption: Corruption, named: str
) -> None:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("def f(x):\n    return x  # cli marker\n")
    with FakeOpenAI() as cloud:
        user = valid_user(closed_port())
        user["backends"]["cloud"] = {"kind": "openai", "url": cloud.url, "locality": "cloud"}
        workspace: Any = copy.deepcopy(VALID_WORKSPACE)
        rng = random.Random(3)
        if target == "user file":
            user = corruption.apply(user, rng)
        else:
            workspace = corruption.apply(workspace, rng)
        (project / ".localroute.toml").write_text(
            workspace if isinstance(workspace, str) else to_toml(workspace)
        )
        text = user if isinstance(user, str) else to_toml(user)
        done = run_cli(tmp_path / "home", text, "review", "src/app.py", cwd=project)
        assert done.returncode == 2, done.stdout + done.stderr
        assert named in done.stderr and "configuration" in done.stderr, done.stderr
        assert not cloud.chat_requests, "a broken configuration let a request out"
