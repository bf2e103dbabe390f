"""Explicit consent is the only way past a refusal: a single-use token bound to the
document's content, the task and the backend; off when the user file says so, whatever
the workspace says; every consented send audited; the CLI asks on a terminal only."""

from __future__ import annotations

import json
from pathlib import Path

from pygls.exceptions import JsonRpcException

from tests.fakes.openai_fake import FakeOpenAI, openai_error
from tests.support.privacy_e2e import (
    AWS_KEY,
    Lsp,
    assert_not_received,
    audit_entries,
    cloud_config,
    lsp_server,
    project,
    run_cli,
    run_cli_on_tty,
)

KEYS = f"def f():\n    return 'CONSENT_ME'\nK = '{AWS_KEY}'\n"
OTHER = f"def g():\n    return 'OTHER_DOC'\nK = '{AWS_KEY}'\n"


def two_clouds(cloud: FakeOpenAI, cloud2: FakeOpenAI, extra: str = "") -> str:
    config = cloud_config(cloud).replace(
        'route = ["local:coder", "cloud:big"]',
        'route = ["local:coder", "cloud:big", "cloud2:huge"]',
    )
    return config + (
        f'\n[backends.cloud2]\nkind = "openai"\nurl = "{cloud2.url}"\nlocality = "cloud"\n' + extra
    )


async def offer(s: Lsp, command: str, argument: dict[str, object]) -> str:
    exc = await s.refused(command, argument)
    consent = exc.data["consent"]
    assert set(consent) == {"token", "backend", "expires_in_s"}, consent
    assert consent["backend"] == "cloud" and consent["expires_in_s"] == 120
    assert consent["token"] not in exc.message  # the token is data, never in the text shown
    return str(consent["token"])


async def no_send(s: Lsp, command: str, argument: dict[str, object], why: str) -> None:
    exc = await s.error(command, argument)
    assert why in exc.message, exc.message


async def test_a_token_sends_one_request_to_one_backend_and_nothing_else(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"keys.py": KEYS, "other.py": OTHER})
    home = tmp_path / "home"
    with FakeOpenAI() as cloud, FakeOpenAI() as cloud2:
        async with lsp_server(home, two_clouds(cloud, cloud2), folders=[ws]) as s:
            keys = s.open((ws / "keys.py").as_uri(), KEYS)
            other = (ws / "other.py").as_uri()
            review = {"uri": keys}

            # Bound to the task, the content and the document; spent when tried.
            token = await offer(s, "localroute.review", review)
            await no_send(s, "localroute.explain", {**review, "consent": token}, "review task")
            await no_send(s, "localroute.review", {**review, "consent": token}, "already used")
            token = await offer(s, "localroute.review", review)
            await no_send(s, "localroute.review", {"uri": other, "consent": token}, "changed")
            token = await offer(s, "localroute.review", review)
            await no_send(
                s, "localroute.review", {**review, "task": "lint", "consent": token}, "review"
            )
            token = await offer(s, "localroute.review", review)
            s.replace(keys, KEYS + "# edited\n")
            await no_send(s, "localroute.review", {**review, "consent": token}, "changed")
            s.replace(keys, KEYS)
            await no_send(s, "localroute.review", {**review, "consent": "forged-token"}, "unknown")
            assert cloud.chat_requests == [] and cloud2.chat_requests == []

            # The real thing: once, to the named backend only.
            token = await offer(s, "localroute.review", review)
            result = await s.command("localroute.review", {**review, "consent": token})
            assert result["backend"] == "cloud" and result["consented"] is True
            assert len(cloud.chat_requests) == 1 and cloud2.chat_requests == []
            await no_send(s, "localroute.review", {**review, "consent": token}, "already used")
            # Not cached as an ordinary answer: the same request without a token is refused.
            await s.refused("localroute.review", review)

            # The named backend fails: the request fails, it never moves on to another cloud.
            cloud.error = openai_error("boom", 500, "server_error")
            token = await offer(s, "localroute.explain", review)
            exc = await s.error("localroute.explain", {**review, "consent": token})
            assert "cloud2" not in exc.message.split("Tried:")[-1]
            assert cloud2.chat_requests == []
        assert_not_received(cloud2, "CONSENT_ME", "OTHER_DOC", AWS_KEY)
        assert_not_received(cloud, "OTHER_DOC")

    consented = [e for e in audit_entries(home) if e["consent"]]
    assert [(e["backend"], e["outcome"] == "ok") for e in consented] == [
        ("cloud", True),
        ("cloud", False),
    ], consented
    assert all(e["bytes_sent"] > 0 for e in consented)
    assert not [e for e in audit_entries(home) if e["consent"] is False and e["bytes_sent"] > 0]
    summary = run_cli(home, None, "audit", "--format", "json", cwd=ws)
    items = json.loads(summary.stdout)["consented"]
    assert [(i["backend"], i["task"], i["file"].endswith("keys.py")) for i in items] == [
        ("cloud", "review", True),
        ("cloud", "explain", True),
    ], items
    text = run_cli(home, None, "audit", cwd=ws).stdout
    assert "sent to a cloud backend with your consent: 2" in text, text


async def test_consent_off_in_the_user_file_cannot_be_turned_on_by_the_workspace(
    tmp_path: Path,
) -> None:
    ws = project(tmp_path / "ws", {"keys.py": KEYS})
    (ws / ".localroute.toml").write_text("[privacy]\nallow_consent = true\n")
    off = "\n[privacy]\nallow_consent = false\n"
    settings = {"user": {}, "workspace": {"privacy": {"allow_consent": True}}}
    with FakeOpenAI() as cloud, FakeOpenAI() as cloud2:
        config = two_clouds(cloud, cloud2, off)
        async with lsp_server(tmp_path / "home", config, folders=[ws], settings=settings) as s:
            keys = (ws / "keys.py").as_uri()
            for command in ("localroute.review", "localroute.explain"):
                exc = await s.refused(command, {"uri": keys})
                assert not (exc.data or {}).get("consent"), exc.data
            try:
                await s.command("localroute.review", {"uri": keys, "consent": "guess"})
                raise AssertionError("a guessed token was accepted")
            except JsonRpcException as exc:
                assert "turned off" in exc.message or "unknown" in exc.message, exc.message
            assert any("allow_consent" in m for m in s.messages()), s.messages()
        assert cloud.chat_requests == [] and cloud2.chat_requests == []


def test_the_cli_asks_on_a_terminal_and_never_without_one(tmp_path: Path) -> None:
    ws = project(tmp_path / "ws", {"keys.py": KEYS})
    home = tmp_path / "home"
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud)
        args = ("review", "keys.py", "--consent", "--format", "json")
        ci = run_cli(home, config, *args, cwd=ws)
        assert ci.returncode == 2 and "terminal" in ci.stderr, (ci.stdout, ci.stderr)
        no = run_cli_on_tty(home, config, *args, cwd=ws, answer="n\n")
        assert no.returncode == 3, (no.stdout, no.stderr)
        assert "anyway (this once)?" in no.stderr and json.loads(no.stdout)["status"] == "refused"
        assert cloud.chat_requests == []
        # Anything but yes is no.
        maybe = run_cli_on_tty(home, config, *args, cwd=ws, answer="sure\n")
        assert maybe.returncode == 3 and cloud.chat_requests == []
        yes = run_cli_on_tty(home, config, *args, cwd=ws, answer="y\n")
        assert yes.returncode == 0, (yes.stdout, yes.stderr)
        assert json.loads(yes.stdout)["backend"] == "cloud"
        assert len(cloud.chat_requests) == 1
        off = run_cli_on_tty(
            home, config + "\n[privacy]\nallow_consent = false\n", *args, cwd=ws, answer="y\n"
        )
        assert off.returncode == 3 and "this once" not in off.stderr
        assert len(cloud.chat_requests) == 1
    assert [e["consent"] for e in audit_entries(home) if e["bytes_sent"] > 0] == [True]
