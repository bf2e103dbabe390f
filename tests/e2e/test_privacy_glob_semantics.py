"""Globs mean what users expect (gitignore semantics: a pattern naming a directory covers
everything under it), and the built-in list covers the common credential files — in the
editor and in a bulk review from the shell."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.privacy_e2e import (
    assert_not_received,
    cloud_config,
    json_lines,
    lsp_server,
    project,
    prompts,
    run_cli,
)

# Negations never loosen: they match nothing rather than re-include a private file.
WORKSPACE_GLOBS = (
    '[privacy]\nglobs = ["internal", "confidential/", "/anchored", "!**/.env", "!secrets/"]\n'
)

# Private by the workspace file's globs.
BY_GLOB = [
    "internal/a/b.py",
    "internal/top.py",
    "sub/internal/deep.py",
    "confidential/x.py",
    "sub/confidential/y.py",
    "anchored/z.py",
    "INTERNAL/shout.py",
]
# Private by the built-in list (no credential in the text).
BUILT_IN = [
    ".envrc",
    "deploy/.envrc",
    "prod.tfvars",
    "prod.tfvars.json",
    ".kube/config",
    "home/.kube/config",
    ".pgpass",
    ".docker/config.json",
    "putty.ppk",
    ".htpasswd",
    "secrets.yaml",
    "helm/secrets.yml",
    "Secrets.YAML",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".env",
    ".env.production",
    "config/.ENV",
    "terraform.tfstate",
    ".git-credentials",
    "secrets/kept.py",
]
# Look alike, but not private: they must still be reviewed (the rules are not "refuse all").
PUBLIC = ["internal.py", "sub/anchored/z.py", "confidential.md", "envrc.py", "secrets_test.py"]


def marker(name: str) -> str:
    return "MARK_" + "".join(c if c.isalnum() else "_" for c in name).upper()


def content(name: str) -> str:
    return f"value = '{marker(name)}'\n"


def tree(base: Path) -> Path:
    files = {name: content(name) for name in (*BY_GLOB, *BUILT_IN, *PUBLIC)}
    ws = project(base, files)
    (ws / ".localroute.toml").write_text(WORKSPACE_GLOBS)
    return ws


async def test_in_the_editor_directory_globs_and_credential_files_are_private(
    tmp_path: Path,
) -> None:
    ws = tree(tmp_path / "ws")
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            wrong = []
            for name in (*BY_GLOB, *BUILT_IN):
                try:
                    await s.refused("localroute.review", {"uri": (ws / name).as_uri()})
                except AssertionError as exc:
                    wrong.append(f"{name}: {exc}")
            assert not wrong, "\n".join(wrong)
            for name in PUBLIC:
                await s.command("localroute.review", {"uri": (ws / name).as_uri()})
        assert_not_received(cloud, *(marker(n) for n in (*BY_GLOB, *BUILT_IN)))
        assert len(cloud.chat_requests) == len(PUBLIC)


def test_a_bulk_review_from_the_shell_refuses_them_file_by_file(tmp_path: Path) -> None:
    ws = tree(tmp_path / "ws")
    with FakeOpenAI() as cloud:
        done = run_cli(
            tmp_path / "home",
            cloud_config(cloud),
            "review",
            ".",
            "--allow-cloud",
            "--format",
            "json",
            cwd=ws,
        )
        assert done.returncode == 3, done.stderr
        status = {r["path"]: r["status"] for r in json_lines(done.stdout)}
        private = {n: status.get(n) for n in (*BY_GLOB, *BUILT_IN)}
        # A file may be skipped before review (never sent); none may be reviewed.
        assert not {n: st for n, st in private.items() if st not in ("refused", None)}, private
        assert sum(st == "refused" for st in private.values()) >= len(BY_GLOB) + 10, private
        assert all(status[n] == "reviewed" for n in PUBLIC), status
        assert_not_received(cloud, *(marker(n) for n in (*BY_GLOB, *BUILT_IN)))
        assert all(marker(n) in "".join(prompts(cloud)) for n in PUBLIC)


async def test_review_files_keeps_the_private_name_of_a_linked_file(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"data/blob.txt": "X = 'MARK_BLOB'\n"})
    os.symlink("data/blob.txt", ws / "deploy.key")
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            uri = (ws / "deploy.key").as_uri()
            await s.refused("localroute.review", {"uri": uri})  # the editor knows
            result = await s.command("localroute.reviewFiles", {"uris": [uri], "allowCloud": True})
        assert_not_received(cloud, "MARK_BLOB")
        assert result["refused"] == 1, result


def test_a_file_named_on_the_command_line_keeps_its_private_name(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"data/blob.txt": "X = 'MARK_BLOB'\n"})
    os.symlink("data/blob.txt", ws / "deploy.key")
    with FakeOpenAI() as cloud:
        home = tmp_path / "home"
        route = run_cli(home, cloud_config(cloud), "route", "deploy.key", cwd=ws)
        assert "**/*.key" in route.stdout, route.stdout  # the route report says private
        done = run_cli(home, cloud_config(cloud), "review", "deploy.key", cwd=ws)
        assert_not_received(cloud, "MARK_BLOB")
        assert done.returncode == 3 and "refused" in done.stdout
