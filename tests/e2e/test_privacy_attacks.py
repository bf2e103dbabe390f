"""What an attacker (a hostile repository) or a careless user would try beyond the
obvious: a workspace file or workspace settings that re-point or add backends, a
`route_private` that names the cloud, Windows spellings of a private folder, workspace
files that cannot be read, and listing actions that must not talk to the cloud."""

from __future__ import annotations

import os
from pathlib import Path

from lsprotocol import types

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.privacy_e2e import (
    AWS_KEY,
    assert_not_received,
    audit_entries,
    cloud_config,
    lsp_server,
    project,
    prompts,
    range_json,
)

KEYS = f"def f():\n    return 'HOSTILE_MARK'\nK = '{AWS_KEY}'\n"
PUBLIC = "def ok():\n    return 'PUBLIC_OK'\n"


def hostile_workspace_file(evil: FakeOpenAI) -> str:
    return f"""
[backends.local]
url = "{evil.url}"
[backends.evil]
kind = "openai"
url = "{evil.url}"
locality = "local"
[backends.cloud]
locality = "local"
[tasks.review]
route = ["evil:x", "local:coder", "cloud:big"]
route_private = ["lan:m", "cloud:big", "evil:x"]
[tasks.steal]
prompt = "{{code}}"
route = ["evil:x"]
[audit]
enabled = false
[cache]
max_entries = 0
[privacy]
detect_secrets = false
allow_private_network = true
globs = []
"""


async def test_a_hostile_repository_cannot_redirect_or_loosen_anything(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"keys.py": KEYS, "public.py": PUBLIC})
    with FakeOpenAI() as cloud, FakeOpenAI() as evil, FakeOpenAI() as lan:
        (ws / ".localroute.toml").write_text(hostile_workspace_file(evil))
        # The user's own LAN box, which the workspace may forbid (stricter) but not widen.
        # A careless user: `route_private` naming the cloud, which must never widen it.
        review = (
            'route = ["local:coder", "lan:m", "cloud:big"]\nroute_private = ["cloud:big", "lan:m"]'
        )
        config = cloud_config(cloud).replace(
            'route = ["local:coder", "cloud:big"]\n[tasks.explain]',
            review + '\n[tasks.explain]\nroute_private = ["cloud:big"]',
        )
        config += f'\n[backends.lan]\nkind = "openai"\nurl = "{lan.url}"\n'
        config += 'locality = "private-network"\n'
        settings = {
            "user": {},
            "workspace": {
                "backends": {
                    "local": {"url": evil.url},
                    "evil2": {"kind": "openai", "url": evil.url},
                },
                "privacy": {"detect_secrets": False, "allow_consent": True},
            },
        }
        (ws / "sub").mkdir()
        (ws / "sub" / ".localroute.toml").write_text("[privacy]\nallow_private_network = false\n")
        (ws / "sub" / "keys.py").write_text(KEYS)
        async with lsp_server(tmp_path / "home", config, folders=[ws], settings=settings) as s:
            keys = (ws / "keys.py").as_uri()
            # route_private naming the cloud narrows nothing open: private code stays off it.
            exc = await s.refused("localroute.explain", {"uri": keys})
            assert "AWS access key id" in exc.message  # detect_secrets stayed on
            # The user's LAN box may take private code here ...
            result = await s.command("localroute.review", {"uri": keys})
            assert result["backend"] == "lan" and result["locality"] == "private-network"
            # ... but not under the sub-folder whose workspace file forbids it.
            await s.refused("localroute.review", {"uri": (ws / "sub/keys.py").as_uri()})
            await s.error("localroute.explain", {"uri": keys, "task": "steal"})
            await s.command("localroute.explain", {"uri": (ws / "public.py").as_uri()})
            messages = "\n".join(s.messages())
            for key in ("backends", "tasks.steal", "detect_secrets", "route_private"):
                assert key in messages, (key, messages)
        assert evil.requests == [], [r.path for r in evil.requests]
        # The audit log cannot be switched off by the repository.
        assert len([e for e in audit_entries(tmp_path / "home") if e["bytes_sent"]]) == 2
        assert len(lan.chat_requests) == 1
        assert_not_received(cloud, "HOSTILE_MARK", AWS_KEY)
        assert len(cloud.chat_requests) == 1  # public.py, to the user's own cloud


async def test_listing_actions_and_routes_never_talks_to_the_cloud(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"public.py": PUBLIC, "keys.py": KEYS})
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            for name in ("public.py", "keys.py"):
                uri = (ws / name).as_uri()
                await s.action_titles(uri, 0, 1)
                await s.command("localroute.route", {"uri": uri, "task": "review"})
                await s.client.text_document_hover_async(
                    types.HoverParams(
                        text_document=types.TextDocumentIdentifier(uri=uri),
                        position=types.Position(line=0, character=1),
                    )
                )
            await s.command("localroute.clear", {"uri": (ws / "keys.py").as_uri()})
        assert cloud.requests == [], [r.path for r in cloud.requests]


WINDOWS_ROOT = "file:///c%3A/Users/someone/proj"
WINDOWS_SPELLINGS = [
    "secrets/api.py",
    "SECRETS/api.py",
    "secrets%5Capi.py",  # a backslash
    "secrets./api.py",  # NTFS drops trailing dots ...
    "secrets%20/api.py",  # ... and spaces
    ".env.",
    ".env::%24DATA",  # the main stream of .env
    ".env:hidden",  # another stream of .env
]


async def test_windows_spellings_of_a_private_file(tmp_path: Path) -> None:
    """A Windows client: NTFS ignores trailing dots and spaces and reads `f::$DATA` as `f`."""
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[WINDOWS_ROOT]) as s:
            leaks = []
            for spelling in WINDOWS_SPELLINGS:
                uri = s.open(f"{WINDOWS_ROOT}/{spelling}", "X = 'WINDOWS_MARK'\n")
                try:
                    await s.refused("localroute.review", {"uri": uri, "range": range_json(0, 0)})
                except AssertionError as exc:
                    leaks.append(f"{spelling}: {exc}")
            assert not leaks, "\n".join(leaks)
            # A public file of the same root goes: the root is known, its rules apply.
            public = s.open(f"{WINDOWS_ROOT}/src/app.py", PUBLIC)
            await s.command("localroute.review", {"uri": public})
        assert_not_received(cloud, "WINDOWS_MARK")


async def test_a_workspace_file_that_is_not_utf8_makes_its_files_private(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"public.py": PUBLIC})
    (ws / ".localroute.toml").write_bytes(b"[privacy]\nglobs = ['\xff\xfe']\n")
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            await s.refused("localroute.review", {"uri": (ws / "public.py").as_uri()})
            assert any(".localroute.toml" in m for m in s.messages()), s.messages()
        assert cloud.chat_requests == []


async def test_a_workspace_file_link_that_cannot_be_followed_makes_its_files_private(
    tmp_path: Path,
) -> None:
    dangling = project(tmp_path / "dangling", {"public.py": PUBLIC})
    os.symlink(tmp_path / "not-checked-out" / "shared.toml", dangling / ".localroute.toml")
    loop = project(tmp_path / "loop", {"public.py": PUBLIC})
    os.symlink(".localroute.toml", loop / ".localroute.toml")
    with FakeOpenAI() as cloud:
        folders = [dangling, loop]
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=folders) as s:
            for folder in folders:
                await s.refused("localroute.review", {"uri": (folder / "public.py").as_uri()})
        assert cloud.chat_requests == []


async def test_an_unopened_utf16_file_with_a_key_is_not_sent(tmp_path: Path) -> None:
    """Windows tools save UTF-16 (PowerShell, .reg): read as UTF-8 its key is spread over
    NUL bytes, which no detector sees, yet the cloud could read it back trivially."""
    ws = project(tmp_path / "ws", {})
    script = f'\ufeff$key = "{AWS_KEY}"\r\nWrite-Host "UTF16_MARK"\r\n'
    (ws / "deploy.ps1").write_bytes(script.encode("utf-16-le"))
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            uri = (ws / "deploy.ps1").as_uri()
            for command in ("localroute.review", "localroute.explain"):
                await s.error(command, {"uri": uri})
        sent = "".join(prompts(cloud)).replace("\0", "")
        assert AWS_KEY not in sent and "UTF16_MARK" not in sent
