"""AnthropicBackend against a real HTTP server on loopback (tests/fakes/anthropic_fake.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from localroute.backends.anthropic import AnthropicBackend
from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
)
from localroute.config.models import backend_config
from tests.fakes.anthropic_fake import (
    ERROR_SHAPES,
    FAKE_KEY,
    OVERLOADED_EVENT,
    FakeAnthropic,
    anthropic_error,
)
from tests.fakes.openai_fake import closed_port
from tests.support.cancelling import cancel_before_the_answer, cancel_mid_stream, eventually
from tests.support.cleared import FINDINGS_SCHEMA, short_request
from tests.unit.conftest import Closing

pytestmark = pytest.mark.timeout(15)

ENV = {"ANTHROPIC_API_KEY": FAKE_KEY}
SCHEMA = FINDINGS_SCHEMA

MakeBackend = Callable[..., AnthropicBackend]


def request(schema: dict[str, Any] | None = None, model: str = "claude-haiku-4-5") -> ChatRequest:
    return short_request(model, schema)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def make_backend(closing: Closing) -> MakeBackend:
    def make(
        url: str | None, env: dict[str, str] | None = None, **settings: Any
    ) -> AnthropicBackend:
        config = backend_config(kind="anthropic", url=url, **settings)
        return closing(AnthropicBackend("claude", config, "cloud", env=ENV if env is None else env))

    return make


# -- happy paths --------------------------------------------------------------------------------


async def test_streams_text_with_pings_and_usage(fake: FakeAnthropic, make_backend: MakeBackend):
    fake.answer = "The function returns one."
    fake.chunk_size = 4
    assert fake.pings  # `event: ping` after message_start and between every delta
    pieces: list[str] = []
    result = await make_backend(fake.url).chat(request(), pieces.append)

    assert result.text == "The function returns one."
    assert "".join(pieces) == result.text and len(pieces) == 7
    assert result.model == "claude-haiku-4-5"
    assert result.prompt_tokens == 21
    assert result.completion_tokens == 7
    assert result.structured == "none"

    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == FAKE_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "system": "You review code.",
        "messages": [{"role": "user", "content": "def f(): return 1"}],
        "stream": True,
        "temperature": 0.0,
    }


async def test_schema_goes_into_the_system_prompt(fake: FakeAnthropic, make_backend: MakeBackend):
    fake.pings = False
    result = await make_backend(fake.url).chat(request(SCHEMA))
    assert result.text == '{"findings": []}'
    body = fake.message_requests[0].json
    assert body["system"].startswith("You review code.\n\n")
    assert "JSON" in body["system"]
    assert json.dumps(SCHEMA, separators=(",", ":")) in body["system"]
    assert "tools" not in body and "tool_choice" not in body
    assert body["messages"] == [{"role": "user", "content": "def f(): return 1"}]


async def test_non_streamed_message(fake: FakeAnthropic, make_backend: MakeBackend) -> None:
    fake.non_streaming = True
    fake.answer = "plain answer"
    pieces: list[str] = []
    result = await make_backend(fake.url).chat(request(), pieces.append)
    assert result.text == "plain answer" and pieces == ["plain answer"]
    assert (result.prompt_tokens, result.completion_tokens) == (21, 2)


async def test_key_from_the_configured_environment_variable(
    fake: FakeAnthropic, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALROUTE_TEST_CLAUDE_KEY", FAKE_KEY)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    config = backend_config(
        kind="anthropic", url=fake.url, api_key_env="LOCALROUTE_TEST_CLAUDE_KEY"
    )
    backend = AnthropicBackend("claude", config, "cloud")  # reads os.environ
    try:
        assert (await backend.chat(request())).text == '{"findings": []}'
    finally:
        await backend.aclose()
    assert fake.requests[0].headers["x-api-key"] == FAKE_KEY


async def test_url_defaults_and_v1_suffix(make_backend: MakeBackend) -> None:
    assert make_backend(None).url == "https://api.anthropic.com"
    assert make_backend("http://127.0.0.1:9/v1/").url == "http://127.0.0.1:9"
    assert make_backend(None).key_env == "ANTHROPIC_API_KEY"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "error_class", "words"),
    [
        (
            "invalid_request",
            BackendRequestError,
            ["HTTP 400", "invalid_request_error", "non-empty"],
        ),
        ("authentication", BackendRequestError, ["HTTP 401", "ANTHROPIC_API_KEY"]),
        ("permission", BackendRequestError, ["HTTP 403", "permission_error", "ANTHROPIC_API_KEY"]),
        ("not_found", BackendRequestError, ["HTTP 404", "model 'claude-haiku-4-5' not found"]),
        ("rate_limit", BackendUnavailable, ["rate limited", "HTTP 429"]),
        ("api_error", BackendUnavailable, ["HTTP 500", "api_error"]),
        ("overloaded", BackendUnavailable, ["overloaded", "HTTP 529", "overloaded_error"]),
    ],
)
async def test_error_statuses(
    fake: FakeAnthropic,
    make_backend: MakeBackend,
    shape: str,
    error_class: type[BackendError],
    words: list[str],
) -> None:
    status, body, ctype, headers = ERROR_SHAPES[shape]
    # The server echoes the key: the message must not.
    echoed = json.loads(body)
    echoed["error"]["message"] += f" (key {FAKE_KEY})"
    fake.error = (status, json.dumps(echoed), ctype, headers)
    with pytest.raises(BackendError) as caught:
        await make_backend(fake.url).chat(request())
    err = caught.value
    assert type(err) is error_class
    assert err.status == status and err.backend == "claude"
    for word in words:
        assert word in str(err)
    assert FAKE_KEY not in str(err) and FAKE_KEY[-12:] not in str(err)
    if shape == "rate_limit":
        assert isinstance(err, BackendUnavailable) and err.retry_after_s == 7.0


async def test_529_is_unavailable_and_the_next_request_works(
    fake: FakeAnthropic, make_backend: MakeBackend
) -> None:
    fake.error, fake.error_times = ERROR_SHAPES["overloaded"], 1
    backend = make_backend(fake.url)
    with pytest.raises(BackendUnavailable, match="overloaded"):
        await backend.chat(request())
    assert (await backend.chat(request())).text == '{"findings": []}'


async def test_wrong_url_and_bad_key(fake: FakeAnthropic, make_backend: MakeBackend) -> None:
    with pytest.raises(
        BackendRequestError, match=r"endpoint .* not found.*check the backend's url"
    ):
        await make_backend(fake.url + "/api").chat(request())
    with pytest.raises(BackendRequestError, match=r"HTTP 401.*ANTHROPIC_API_KEY") as caught:
        await make_backend(fake.url, {"ANTHROPIC_API_KEY": "sk-ant-wrong-key-123"}).chat(request())
    assert "sk-ant-wrong-key-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("error", "error_class"),
    [
        (OVERLOADED_EVENT, BackendUnavailable),
        ({"type": "api_error", "message": "Internal server error"}, BackendUnavailable),
        ({"type": "invalid_request_error", "message": "prompt is too long"}, BackendRequestError),
    ],
)
async def test_mid_stream_error(
    fake: FakeAnthropic,
    make_backend: MakeBackend,
    error: dict[str, str],
    error_class: type[BackendError],
) -> None:
    fake.mid_stream_error = error
    pieces: list[str] = []
    with pytest.raises(BackendError) as caught:
        await make_backend(fake.url).chat(request(), pieces.append)
    assert type(caught.value) is error_class
    assert error["type"] in str(caught.value) and error["message"] in str(caught.value)
    assert pieces == ['{"findin']


async def test_stream_without_message_stop(fake: FakeAnthropic, make_backend: MakeBackend) -> None:
    fake.stop_early = True
    with pytest.raises(BackendUnavailable, match="ended before message_stop"):
        await make_backend(fake.url).chat(request())


async def test_missing_key_sends_nothing(fake: FakeAnthropic, make_backend: MakeBackend) -> None:
    with pytest.raises(BackendRequestError) as caught:
        await make_backend(fake.url, {}).chat(request())
    assert caught.value.message == "no API key: set ANTHROPIC_API_KEY"
    assert caught.value.nothing_sent  # the audit and the user are told nothing was sent
    custom = make_backend(fake.url, {"OTHER": "x"}, api_key_env="MY_CLAUDE_KEY")
    with pytest.raises(BackendRequestError, match="no API key: set MY_CLAUDE_KEY"):
        await custom.chat(request())
    assert fake.requests == []


async def test_connection_refused(make_backend: MakeBackend) -> None:
    with pytest.raises(BackendUnavailable, match="connection refused"):
        await make_backend(f"http://127.0.0.1:{closed_port()}").chat(request())


async def test_events_named_only_in_data_and_odd_payloads() -> None:
    events = [
        {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 3}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "some_future_event"},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {}},
        {"type": "message_stop"},
    ]
    text = ": comment\n\n" + "".join(f"data: {json.dumps(e)}\n\n" for e in events)

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    config = backend_config(kind="anthropic", url="http://claude.test")
    backend = AnthropicBackend(
        "claude", config, "cloud", transport=httpx.MockTransport(handler), env=ENV
    )
    try:
        result = await backend.chat(request())
    finally:
        await backend.aclose()
    assert (result.text, result.model, result.prompt_tokens) == ("hi", "claude-x", 3)
    assert result.completion_tokens is None


# -- probe --------------------------------------------------------------------------------------


async def test_probe(fake: FakeAnthropic, make_backend: MakeBackend) -> None:
    probe = await make_backend(fake.url).probe()
    assert probe.up is True and probe.latency_ms is not None
    assert probe.models == ("claude-haiku-4-5", "claude-sonnet-4-5")
    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("GET", "/v1/models")
    assert sent.headers["x-api-key"] == FAKE_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"


async def test_probe_failures_never_raise(fake: FakeAnthropic, make_backend: MakeBackend) -> None:
    no_key = await make_backend(fake.url, {}).probe()
    assert no_key.up is False and no_key.detail == "no API key in $ANTHROPIC_API_KEY"
    assert fake.requests == []

    fake.models_error = anthropic_error(401, "authentication_error", f"bad key {FAKE_KEY}")
    denied = await make_backend(fake.url).probe()
    assert denied.up is False and "HTTP 401" in denied.detail
    assert FAKE_KEY not in denied.detail

    fake.models_error = ERROR_SHAPES["overloaded"]
    assert "overloaded" in (await make_backend(fake.url).probe()).detail

    refused = await make_backend(f"http://127.0.0.1:{closed_port()}").probe()
    assert refused.up is False and refused.detail == "connection refused"


# -- cancellation -------------------------------------------------------------------------------


async def test_cancel_closes_the_connection(fake: FakeAnthropic, make_backend: MakeBackend):
    fake.answer = "y" * 2000
    fake.chunk_delay_s = 0.5
    backend = make_backend(fake.url)
    pieces: list[str] = []
    assert await cancel_mid_stream(backend.chat(request(), pieces.append), fake) < 0.5
    assert pieces

    assert await eventually(fake, lambda: fake.disconnects == 1)
    assert await eventually(fake, lambda: fake.in_flight == 0)
    fake.chunk_delay_s = 0
    fake.answer = "ok"
    assert (await backend.chat(request())).text == "ok"


async def test_cancel_before_the_first_byte(fake: FakeAnthropic, make_backend: MakeBackend):
    fake.latency_s = 5
    await cancel_before_the_answer(make_backend(fake.url).chat(request()), fake)
    assert await eventually(fake, lambda: fake.disconnects == 1)
