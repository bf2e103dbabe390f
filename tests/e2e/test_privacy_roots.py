"""Policy comes from the file: whatever the client says of its workspace (folders,
`rootUri`, `rootPath`, nothing, folders changing at run time) and wherever the shell
is, a file's project rules hold — and apply from the very next request after an edit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.privacy_e2e import (
    Lsp,
    assert_not_received,
    cloud_config,
    json_lines,
    lsp_server,
    project,
    prompts,
    run_cli,
)

SECRET_TEXT = "PLAN = 'MARK_PROJECT_PRIVATE'\n"
PUBLIC = "def ok():\n    return 'PUBLIC_OK'\n"
# A user-file glob with a slash: anchored at the project root, so it holds only when the
# root is known.
USER_GLOB = '\n[privacy]\nglobs = ["docs/private/**"]\n'


def markerless(base: Path) -> Path:
    """A project with no `.git` and no workspace file: only the client can say its root."""
    return project(
        base,
        {"docs/private/x.py": SECRET_TEXT, "public.py": PUBLIC},
        marker="",
    )


async def sent_after(s: Lsp, cloud: FakeOpenAI, uri: str) -> None:
    before = len(cloud.chat_requests)
    await s.command("localroute.review", {"uri": uri, "refresh": True})
    assert len(cloud.chat_requests) == before + 1


@pytest.mark.parametrize(
    "how",
    [
        pytest.param({"root_uri": "URI"}, id="rootUri only"),
        pytest.param({"root_uri": None, "root_path": "PATH"}, id="rootPath only"),
    ],
)
async def test_a_client_that_names_only_its_root(tmp_path: Path, how: dict[str, Any]) -> None:
    p = markerless(tmp_path / "p")
    params = {
        k: (p.as_uri() if v == "URI" else str(p) if v == "PATH" else v) for k, v in how.items()
    }
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud) + USER_GLOB
        async with lsp_server(tmp_path / "home", config, folders=None, **params) as s:
            exc = await s.refused("localroute.review", {"uri": (p / "docs/private/x.py").as_uri()})
            assert "docs/private/**" in exc.message
            await sent_after(s, cloud, (p / "public.py").as_uri())
            # The root is the client's: a prompt names the file relative to it.
            assert "public.py" in prompts(cloud)[-1] and str(p) not in prompts(cloud)[-1]
        assert_not_received(cloud, "MARK_PROJECT_PRIVATE")


async def test_no_root_at_all_and_folders_that_change_at_run_time(tmp_path: Path) -> None:
    # Files of `a` may go until a workspace file makes them private: their own markers.
    a = project(tmp_path / "a", {"later/x.py": "X = 'LATER_X'\n", "later2/y.py": "Y = 'LATER_Y'\n"})
    b = markerless(tmp_path / "b")
    c = project(tmp_path / "c", {"vault/v.py": SECRET_TEXT, "c.py": PUBLIC}, marker="")
    (c / ".localroute.toml").write_text('[privacy]\nglobs = ["vault"]\n')
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud) + USER_GLOB
        # A client that sends neither folders nor a root.
        async with lsp_server(tmp_path / "home0", config, folders=None, root_uri=None) as s:
            exc = await s.refused("localroute.review", {"uri": (b / "public.py").as_uri()})
            assert "no project root" in exc.message
            # A `.git` above the file is enough to know its rules.
            await sent_after(s, cloud, (a / "later/x.py").as_uri())

        async with lsp_server(tmp_path / "home", config, folders=[a]) as s:
            public_b = (b / "public.py").as_uri()
            await s.refused("localroute.review", {"uri": public_b})
            s.folders_changed(added=[b, c])
            await sent_after(s, cloud, public_b)
            await s.refused("localroute.review", {"uri": (b / "docs/private/x.py").as_uri()})

            # A workspace file created while the server runs applies to the next request,
            # with no notification from the client.
            (a / ".localroute.toml").write_text('[privacy]\nglobs = ["later/**"]\n')
            await s.refused("localroute.review", {"uri": (a / "later/x.py").as_uri()})
            private_since = len(cloud.chat_requests)
            await sent_after(s, cloud, (a / "later2/y.py").as_uri())
            (a / ".localroute.toml").write_text('[privacy]\nglobs = ["later/**", "later2"]\n')
            await s.refused("localroute.review", {"uri": (a / "later2/y.py").as_uri()})
            y_private_since = len(cloud.chat_requests)

            # Bulk review covers every root, each under its own rules.
            bulk = await s.command("localroute.reviewFiles", {"allowCloud": True})
            # a: later/x, later2/y, .localroute.toml; b: docs/private/x, public.py;
            # c: vault/v, c.py, .localroute.toml. Refused: the four under globs, and the two
            # workspace files (they name the project's private places: built-in globs).
            assert (bulk["files"], bulk["refused"], bulk["not_reviewed"]) == (8, 6, 0), bulk
            assert bulk["backends"] == {"cloud": 2}, bulk

            s.folders_changed(removed=[b])
            await s.refused("localroute.review", {"uri": public_b, "refresh": True})
        assert_not_received(cloud, "MARK_PROJECT_PRIVATE")
        assert not [p for p in prompts(cloud)[private_since:] if "LATER_X" in p]
        assert not [p for p in prompts(cloud)[y_private_since:] if "LATER_Y" in p]


async def test_a_folder_added_after_the_file_was_judged_applies_to_the_next_request(
    tmp_path: Path,
) -> None:
    """A glob written relative to a sub-folder holds once that sub-folder is opened as a
    workspace folder, even for a document judged (by listing its actions) before."""
    repo = project(tmp_path / "repo", {"sub/docs/private/x.py": SECRET_TEXT})
    sub = repo / "sub"
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud) + USER_GLOB
        async with lsp_server(tmp_path / "home", config, folders=[repo]) as s:
            uri = s.open((sub / "docs/private/x.py").as_uri(), SECRET_TEXT)
            titles = await s.action_titles(uri, 0, 0)
            assert not any("refused" in t for t in titles), titles  # not private under repo/
            s.folders_changed(added=[sub])
            await s.refused("localroute.review", {"uri": uri})
            await s.refused("localroute.explain", {"uri": uri, "range": None})
        assert_not_received(cloud, "MARK_PROJECT_PRIVATE")


def test_the_cli_finds_the_root_from_the_file_wherever_it_is_run(tmp_path: Path) -> None:
    p = project(
        tmp_path / "p",
        {"confidential/plan.py": SECRET_TEXT, "sub/keep.py": PUBLIC, "public.py": PUBLIC},
    )
    (p / ".localroute.toml").write_text('[privacy]\nglobs = ["confidential"]\n')
    q = project(tmp_path / "q", {"q_private/z.py": SECRET_TEXT, "q.py": PUBLIC})
    (q / "localroute.toml").write_text('[privacy]\nglobs = ["q_private/"]\n')
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    plan = str(p / "confidential/plan.py")
    home = tmp_path / "home"
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud)
        for cwd in (p / "sub", sibling, Path("/")):
            done = run_cli(home, config, "review", plan, "--format", "json", cwd=cwd)
            assert done.returncode == 3, (cwd, done.stdout, done.stderr)
            (result,) = json_lines(done.stdout)
            assert result["status"] == "refused" and "'confidential'" in result["error"], result
        # Two roots in one run, from a sibling folder, relative paths.
        both = run_cli(
            home, config, "review", "../p", "../q", "--allow-cloud", "--format", "json",
            cwd=sibling,
        )  # fmt: skip
        assert both.returncode == 3, both.stderr
        status = {os.path.basename(r["path"]): r["status"] for r in json_lines(both.stdout)}
        # The workspace files name the project's private places: they stay local too.
        assert status.pop(".localroute.toml") == status.pop("localroute.toml") == "refused"
        assert status == {
            "plan.py": "refused",
            "keep.py": "reviewed",
            "public.py": "reviewed",
            "z.py": "refused",
            "q.py": "reviewed",
        }, status
        assert len(cloud.chat_requests) == 3
        assert_not_received(cloud, "MARK_PROJECT_PRIVATE")


async def test_a_folder_removed_while_its_files_are_reviewed(tmp_path: Path) -> None:
    first = project(tmp_path / "first", {})  # the client's rootUri: b has only its folder
    b = markerless(tmp_path / "b")
    for i in range(4):
        (b / f"m{i}.py").write_text(PUBLIC)
    with FakeOpenAI() as cloud:
        cloud.latency_s = 0.3
        config = cloud_config(cloud) + USER_GLOB
        async with lsp_server(tmp_path / "home", config, folders=[first, b]) as s:
            run = asyncio.ensure_future(
                s.command(
                    "localroute.reviewFiles", {"glob": "**/*.py", "allowCloud": True, "jobs": 1}
                )
            )
            await s.wait_for(lambda: len(cloud.chat_requests) >= 1)
            s.folders_changed(removed=[b])
            result = await run
            # Every file has an outcome; those judged after the removal have no root and
            # are refused like the private one; none is lost or mislabelled.
            assert result["done"] == result["files"] == 6, result
            assert result["not_reviewed"] == 0, result
            assert result["refused"] + result["backends"].get("cloud", 0) == 6, result
            assert result["refused"] >= 2, result
        assert_not_received(cloud, "MARK_PROJECT_PRIVATE")
