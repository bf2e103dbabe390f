"""Configuration fails closed: a source that does not validate never lowers privacy, its
backends and routes are not used, and the user is told once which file, key and why."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import textwrap
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.privacy_e2e import (
    assert_not_received,
    cloud_config,
    lsp_server,
    project,
    prompts,
    run_cli,
)

PLAN = "PLAN = 'MARK_CONFIDENTIAL'\n"
PUBLIC = "def ok():\n    return 'PUBLIC_OK'\n"


def with_privacy(config: str, *globs: str) -> str:
    return config + "\n[privacy]\nglobs = " + json.dumps(list(globs)) + "\n"


async def test_a_user_file_broken_while_the_server_runs_keeps_its_privacy(
    tmp_path: Path,
) -> None:
    ws = project(
        tmp_path / "ws",
        {"confidential/plan.py": PLAN, "restricted/new.py": PLAN, "public.py": PUBLIC},
    )
    home = tmp_path / "home"
    with FakeOpenAI() as cloud:
        valid = with_privacy(cloud_config(cloud), "confidential/**")
        async with lsp_server(home, valid, folders=[ws]) as s:
            plan = (ws / "confidential/plan.py").as_uri()
            public = (ws / "public.py").as_uri()
            await s.refused("localroute.review", {"uri": plan})
            await s.command("localroute.review", {"uri": public})
            assert len(cloud.chat_requests) == 1  # the cloud works for what may go there

            # A typo under a backend, and a new glob in the same edit.
            broken = valid.replace('locality = "cloud"', 'locality = "cloud"\ncolour = "blue"')
            broken = broken.replace('"confidential/**"]', '"confidential/**", "restricted"]')
            (home / "user-config.toml").write_text(broken)
            await s.refused("localroute.review", {"uri": plan})
            await s.refused("localroute.review", {"uri": (ws / "restricted/new.py").as_uri()})
            # The last valid backends and routes stay: the public file still reaches it.
            await s.command("localroute.review", {"uri": public, "refresh": True})
            assert len(cloud.chat_requests) == 2
            await s.refused("localroute.explain", {"uri": plan})
            shown = [m for m in s.messages() if "colour" in m]
            assert len(shown) == 1, s.messages()  # told once, not on every request
            assert "user-config.toml" in shown[0] and "backends.cloud.colour" in shown[0]
            assert "unknown key" in shown[0]
            status = await s.command("localroute.status", {})
            assert any("colour" in p for p in status["problems"]), status["problems"]
        assert_not_received(cloud, "MARK_CONFIDENTIAL")


async def test_editor_settings_with_bad_values_never_lower_privacy(tmp_path: Path) -> None:
    ws = project(
        tmp_path / "ws",
        {"internal/x.py": PLAN, "public.py": PUBLIC, "other/y.py": PLAN},
    )
    marker = tmp_path / "PWNED"
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud) + "\n[privacy]\nallow_consent = false\n"
        settings = {
            # A bad value beside a valid privacy glob: the glob holds, the backend change is
            # not used.
            "privacy": {"globs": ["internal"], "allow_consent": True},
            "backends": {
                "cloud": {"timeout_s": "soon"},
                "local": {"start_command": ["touch", str(marker)]},
                "evil": {"kind": "command", "argv": ["touch", str(marker)], "locality": "local"},
            },
            "tasks": {"review": {"route": ["evil:x", "local:coder", "cloud:big"]}},
        }
        async with lsp_server(tmp_path / "home", config, folders=[ws], settings=settings) as s:
            exc = await s.refused("localroute.review", {"uri": (ws / "internal/x.py").as_uri()})
            # allow_consent from the editor cannot turn on what the user file turned off.
            assert not (exc.data or {}).get("consent"), exc.data
            await s.command("localroute.review", {"uri": (ws / "public.py").as_uri()})
            assert any("PUBLIC_OK" in p for p in prompts(cloud))
            started = await s.error("localroute.startBackend", {"backend": "local"})
            assert "start_command" in started.message or "no start" in started.message.lower()
            await s.error("localroute.startBackend", {"backend": "evil"})
            messages = "\n".join(s.messages())
            for key in ("timeout_s", "allow_consent", "start_command", "backends.evil"):
                assert key in messages, (key, messages)
            # A privacy table that cannot be read: every document is private.
            s.client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(
                    settings={"localroute": {"privacy": {"detect_secrets": "maybe"}}}
                )
            )
            await s.wait_for(lambda: any("detect_secrets" in m for m in s.messages()))
            await s.refused("localroute.review", {"uri": (ws / "public.py").as_uri()})
        assert not marker.exists(), "a program named by editor settings was run"
        assert_not_received(cloud, "MARK_CONFIDENTIAL")
        assert len(cloud.chat_requests) == 1


async def test_workspace_file_with_a_typo_or_broken_toml_makes_its_files_private(
    tmp_path: Path,
) -> None:
    typo = project(tmp_path / "typo", {"a.py": PUBLIC, "sub/b.py": PUBLIC})
    (typo / ".localroute.toml").write_text('[privacy]\nglob = ["nothing/**"]\n')
    broken = project(tmp_path / "broken", {"c.py": PUBLIC})
    (broken / "localroute.toml").write_text("[privacy\nglobs = [\n")
    clean = project(tmp_path / "clean", {"d.py": PUBLIC})
    with FakeOpenAI() as cloud:
        folders = [typo, broken, clean]
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=folders) as s:
            for uri in (typo / "a.py", typo / "sub/b.py", broken / "c.py"):
                exc = await s.refused("localroute.review", {"uri": uri.as_uri()})
                assert "configuration error" in exc.message, exc.message
            await s.command("localroute.review", {"uri": (clean / "d.py").as_uri()})
            assert len(cloud.chat_requests) == 1
            messages = "\n".join(s.messages())
            assert "privacy.glob" in messages and "unknown key" in messages, messages
            assert "invalid TOML" in messages and "localroute.toml" in messages
        home = tmp_path / "home"
        for path, cwd in ((typo / "sub/b.py", typo), (broken / "c.py", tmp_path)):
            done = run_cli(home, cloud_config(cloud), "review", str(path), cwd=cwd)
            assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
            assert "configuration error" in done.stderr
        assert len(cloud.chat_requests) == 1


async def test_a_workspace_file_that_is_a_device_or_a_pipe_is_refused_at_once(
    tmp_path: Path,
) -> None:
    """A repository can hold `.localroute.toml` as a symlink to `/dev/zero` (read for ever)
    or to a pipe nobody writes to (read never returns). The server says it cannot read it,
    keeps the files there private, and goes on answering."""
    zero = project(tmp_path / "zero", {"a.py": PUBLIC})
    (zero / ".localroute.toml").symlink_to("/dev/zero")
    piped = project(tmp_path / "piped", {"b.py": PUBLIC})
    os.mkfifo(tmp_path / "fifo")
    (piped / ".localroute.toml").symlink_to(tmp_path / "fifo")
    clean = project(tmp_path / "clean", {"c.py": PUBLIC})
    with FakeOpenAI() as cloud:
        folders = [zero, piped, clean]
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=folders) as s:
            for uri in (zero / "a.py", piped / "b.py"):
                exc = await asyncio.wait_for(
                    s.refused("localroute.review", {"uri": uri.as_uri()}), 20
                )
                assert "configuration error" in exc.message, exc.message
            await s.command("localroute.review", {"uri": (clean / "c.py").as_uri()})
            assert len(cloud.chat_requests) == 1
            assert "not a regular file" in "\n".join(s.messages())


def test_the_cli_exits_2_on_a_configuration_error_and_sends_nothing(tmp_path: Path) -> None:
    repo = project(tmp_path / "repo", {"public.py": PUBLIC, "confidential/p.py": PLAN})
    home = tmp_path / "home"
    with FakeOpenAI() as cloud:
        valid = with_privacy(cloud_config(cloud), "confidential/")
        typo_route = valid.replace(
            'route = ["local:coder", "cloud:big"]\n[tasks.explain]',
            'route = ["locl:coder", "cloud:big"]\n[tasks.explain]',
        )
        unknown_key = valid.replace('locality = "cloud"', 'locality = "cloud"\ncolour = "x"')
        check = run_cli(home, typo_route, "config", "check", cwd=repo)
        assert check.returncode != 0 and "locl" in check.stderr, check
        route = run_cli(home, typo_route, "route", "public.py", cwd=repo)
        assert route.returncode == 2 and "locl" in route.stderr, route
        for config, key in ((typo_route, "tasks.review"), (unknown_key, "colour")):
            review = run_cli(home, config, "review", "public.py", "confidential", cwd=repo)
            assert review.returncode == 2, (review.stdout, review.stderr)
            assert key in review.stderr and "user-config.toml" in review.stderr
        status = run_cli(home, unknown_key, "status", "--format", "json", cwd=repo)
        assert status.returncode != 0
        assert any("colour" in p for p in json.loads(status.stdout)["problems"])
        assert cloud.chat_requests == []


async def test_a_typo_in_a_route_never_skips_to_the_cloud(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"public.py": PUBLIC})
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud).replace(
            'route = ["local:coder", "cloud:big"]', 'route = ["locl:coder", "cloud:big"]'
        )
        # Editor settings naming an undefined backend first do not skip to the cloud either.
        settings = {"tasks": {"explain": {"route": ["lcoal:coder", "cloud:big"]}}}
        user = textwrap.dedent(config)
        async with lsp_server(tmp_path / "home", user, folders=[ws], settings=settings) as s:
            uri = (ws / "public.py").as_uri()
            # Whatever answers (the built-in local URL may be served on this machine), the
            # cloud named after the typo must not.
            for command, extra in (("review", {}), ("explain", {}), ("explain", {"task": "ask"})):
                with contextlib.suppress(JsonRpcException):
                    await s.command(f"localroute.{command}", {"uri": uri, **extra})
            messages = "\n".join(s.messages())
            assert "locl" in messages and "not defined" in messages, messages
        assert cloud.chat_requests == []


async def test_a_user_file_broken_from_the_start_still_holds_its_globs(tmp_path: Path) -> None:
    """The cloud comes from a valid source (user-level editor settings); the broken user
    file's backends are dropped, its privacy globs are not."""
    ws = project(tmp_path / "ws", {"confidential/plan.py": PLAN, "public.py": PUBLIC})
    with FakeOpenAI() as cloud:
        broken = 'colour = "blue"\n[privacy]\nglobs = ["confidential/**"]\n'
        settings = {
            "backends": {"cloud": {"kind": "openai", "url": cloud.url, "locality": "cloud"}},
            "tasks": {"review": {"route": ["cloud:big"]}},
        }
        async with lsp_server(tmp_path / "home", broken, folders=[ws], settings=settings) as s:
            exc = await s.refused(
                "localroute.review", {"uri": (ws / "confidential/plan.py").as_uri()}
            )
            assert "confidential/**" in exc.message, exc.message
            await s.command("localroute.review", {"uri": (ws / "public.py").as_uri()})
            assert any("colour" in m and "unknown key" in m for m in s.messages()), s.messages()
        assert len(cloud.chat_requests) == 1
        assert_not_received(cloud, "MARK_CONFIDENTIAL")
