"""OpenAIBackend against a real HTTP server on loopback (tests/fakes/openai_fake.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ContextOverflow,
)
from localroute.backends.openai import OpenAIBackend
from localroute.backends.openai_errors import transport_error
from localroute.config.models import backend_config
from tests.fakes.openai_fake import (
    ERROR_SHAPES,
    BlackHole,
    ErrorSpec,
    FakeOpenAI,
    closed_port,
    openai_error,
)
from tests.support.cancelling import cancel_before_the_answer, cancel_mid_stream, eventually
from tests.support.cleared import FINDINGS_SCHEMA, short_request
from tests.unit.conftest import Closing

pytestmark = pytest.mark.timeout(15)

KEY = "sk-localroute-test-7f3a9c1e5b"
KEY_ENV = "LOCALROUTE_TEST_OPENAI_KEY"
SCHEMA = FINDINGS_SCHEMA

OPENAI_FORM = {
    "type": "json_schema",
    "json_schema": {
        "name": "localroute",
        "schema": {**SCHEMA, "additionalProperties": False},
        "strict": True,
    },
}
"""What the first structured-output form sends: OpenAI's strict mode, which is what makes
OpenAI decode to the schema."""

MakeBackend = Callable[..., OpenAIBackend]


def request(schema: dict[str, Any] | None = None, model: str = "coder") -> ChatRequest:
    return short_request(model, schema)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def make_backend(monkeypatch: pytest.MonkeyPatch, closing: Closing) -> MakeBackend:
    monkeypatch.setenv(KEY_ENV, KEY)

    def make(url: str, **settings: Any) -> OpenAIBackend:
        settings.setdefault("api_key_env", KEY_ENV)
        config = backend_config(kind="openai", url=url, **settings)
        return closing(OpenAIBackend("local", config, "local"))

    return make


# -- happy paths --------------------------------------------------------------------------------


async def test_streaming_tolerates_pings_loading_reasoning_and_empty_choices(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.answer = '{"findings": [{"line": 1, "message": "returns a constant"}]}'
    fake.ping_comments = True
    fake.event_lines = True
    fake.loading_chunks = 3
    fake.reasoning_chunks = 2
    fake.empty_choices_chunks = 2
    pieces: list[str] = []

    result = await make_backend(fake.url).chat(request(), pieces.append)

    assert result.text == fake.answer
    assert "".join(pieces) == fake.answer and len(pieces) > 3
    assert "loading" not in result.text and "thinking" not in result.text
    assert result.model == "coder"
    assert result.structured == "none"
    assert result.prompt_tokens == 7  # the fake counts words of the messages
    assert result.completion_tokens == len(pieces)
    [sent] = fake.chat_requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "coder",
        "messages": [
            {"role": "system", "content": "You review code."},
            {"role": "user", "content": "def f(): return 1"},
        ],
        "temperature": 0.0,
        "max_tokens": 256,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_stream_without_usage_and_without_done(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.usage = False
    fake.send_done = False  # finish_reason "stop" is enough
    result = await make_backend(fake.url).chat(request())
    assert result.text == fake.answer
    assert result.prompt_tokens is None and result.completion_tokens is None


async def test_non_streaming_json_answer(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.non_streaming = True
    pieces: list[str] = []
    result = await make_backend(fake.url).chat(request(), pieces.append)
    assert result.text == fake.answer
    assert pieces == [fake.answer]
    assert result.prompt_tokens == 7 and result.completion_tokens == 2


async def test_concurrent_requests_reach_the_server_together(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.latency_s = 0.3
    backend = make_backend(fake.url, max_concurrency=4)
    results = await asyncio.gather(*(backend.chat(request()) for _ in range(4)))
    assert [r.text for r in results] == [fake.answer] * 4
    assert fake.max_in_flight == 4


# -- structured output --------------------------------------------------------------------------


async def test_structured_output_openai_form_first(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    result = await make_backend(fake.url).chat(request(SCHEMA))
    assert result.structured == "json_schema"
    [sent] = fake.chat_requests
    assert sent.json["response_format"] == OPENAI_FORM


async def test_structured_output_falls_back_like_llama_cpp_python_and_remembers(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.reject_json_schema = True
    backend = make_backend(fake.url)
    pieces: list[str] = []

    first = await backend.chat(request(SCHEMA), pieces.append)

    assert first.structured == "json_object+schema"
    assert first.text == fake.answer == "".join(pieces)
    forms = [r.json["response_format"] for r in fake.chat_requests]
    assert forms == [
        OPENAI_FORM,
        {"type": "json_object", "schema": SCHEMA},
    ]

    second = await backend.chat(request(SCHEMA))

    assert second.structured == "json_object+schema"
    assert len(fake.chat_requests) == 3
    assert fake.chat_requests[2].json["response_format"] == {
        "type": "json_object",
        "schema": SCHEMA,
    }
    # another model on the same backend starts from the top again
    await backend.chat(request(SCHEMA, model="other"))
    assert fake.chat_requests[3].json["response_format"]["type"] == "json_schema"


async def test_structured_output_falls_back_down_to_none(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.reject_forms = {"json_schema", "json_object+schema", "json_object"}
    result = await make_backend(fake.url).chat(request(SCHEMA))
    assert result.structured == "none"
    sent = [r.json.get("response_format") for r in fake.chat_requests]
    assert sent == [
        OPENAI_FORM,
        {"type": "json_object", "schema": SCHEMA},
        {"type": "json_object"},
        None,
    ]


async def test_other_errors_do_not_try_another_form(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.error = ERROR_SHAPES["openai_server_error"]
    with pytest.raises(BackendUnavailable):
        await make_backend(fake.url).chat(request(SCHEMA))
    assert len(fake.chat_requests) == 1


# -- errors -------------------------------------------------------------------------------------

U, R = BackendUnavailable, BackendRequestError
MODEL_MISSING = "model 'coder' not found on backend 'local'"
AUTH = "authentication failed"

EXPECTED: dict[str, tuple[type[BackendError], list[str]]] = {
    "llamaswap_v170_unknown_model": (R, [MODEL_MISSING, "could not find real modelID"]),
    "llamaswap_v170_load_failed": (U, ["health check timed out after 120s"]),
    "llamaswap_v170_stopping": (U, ["Process can not ProxyRequest"]),
    "error_string_unknown_model": (R, [MODEL_MISSING, "could not find real modelID"]),
    "ollama_native_not_found": (R, [MODEL_MISSING, "model 'coder' not found"]),
    "llamaswap_src_string_unknown_model": (R, [MODEL_MISSING, "could not find real modelID"]),
    "llamaswap_object_unknown_model": (R, [MODEL_MISSING, "no router for requested model"]),
    "llamaswap_object_load_failed": (U, ["upstream command exited prematurely"]),
    "llamaswap_object_not_ready": (U, ["[coder] process is not ready"]),
    "llamaswap_429": (U, ["rate limited", "Too many requests"]),
    "llamacpp_loading": (U, ["Loading model"]),
    "llamacpp_exceed_context": (
        ContextOverflow,
        ["does not fit the model's context window", "exceeds the available context size"],
    ),
    "llamacpp_auth": (R, [AUTH, "Invalid API Key"]),
    "openai_invalid_key": (R, [AUTH, "Incorrect API key provided"]),
    "openai_model_not_found": (R, [MODEL_MISSING, "does not exist"]),
    "openai_server_error": (U, ["The server had an error"]),
    "copilot_model_not_supported": (R, [MODEL_MISSING, "The requested model is not supported."]),
    "copilot_forbidden_text": (R, [AUTH, "Access to this endpoint is forbidden"]),
    "ollama_v1_not_found": (R, [MODEL_MISSING, "model 'coder' not found"]),
    "google_invalid_argument": (R, ["request rejected", "Invalid JSON payload received."]),
    "google_array_unavailable": (U, ["The model is overloaded."]),
    "google_array_exhausted": (U, ["Resource has been exhausted"]),
    "html_bad_gateway": (U, ["502 Bad Gateway"]),
}


def test_every_error_shape_has_an_expectation() -> None:
    assert set(EXPECTED) == set(ERROR_SHAPES)


@pytest.mark.parametrize("shape", sorted(ERROR_SHAPES))
async def test_error_shapes(shape: str, fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    spec: ErrorSpec = ERROR_SHAPES[shape]
    status = spec[0]
    cls, fragments = EXPECTED[shape]
    fake.error = spec

    with pytest.raises(BackendError) as caught:
        await make_backend(fake.url).chat(request(SCHEMA))

    err = caught.value
    assert type(err) is cls
    assert err.status == status
    text = str(err)
    assert text.startswith("local: ")
    assert f"HTTP {status}" in text
    for fragment in fragments:
        assert fragment in text
    assert "\n" not in text and len(err.message) < 420
    assert KEY not in text and KEY not in repr(err)
    assert "def f()" not in text  # never the code that was sent
    assert fake.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
    if status == 429:
        assert isinstance(err, BackendUnavailable) and err.retry_after_s == 1.0
    assert len(fake.chat_requests) == 1  # errors are not retried with another form


async def test_429_retry_after(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.error = ERROR_SHAPES["llamaswap_429"]
    with pytest.raises(BackendUnavailable) as caught:
        await make_backend(fake.url).chat(request())
    assert caught.value.retry_after_s == 1
    assert caught.value.status == 429


async def test_a_key_echoed_by_the_server_is_blanked(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.error = openai_error(f"Incorrect API key provided: {KEY}.", 401, code="invalid_api_key")
    with pytest.raises(BackendRequestError) as caught:
        await make_backend(fake.url).chat(request())
    assert KEY not in str(caught.value)
    assert "Incorrect API key provided: ***" in str(caught.value)


async def test_missing_key_variable_is_named(
    fake: FakeOpenAI, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.api_key = KEY
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(BackendRequestError) as caught:
        await make_backend(fake.url).chat(request())
    assert "authentication failed (HTTP 401)" in str(caught.value)
    assert f"environment variable {KEY_ENV} is not set" in str(caught.value)
    assert "authorization" not in fake.chat_requests[0].headers


async def test_recovers_after_an_error(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.error = ERROR_SHAPES["llamacpp_loading"]
    fake.error_times = 1
    backend = make_backend(fake.url)
    with pytest.raises(BackendUnavailable):
        await backend.chat(request())
    assert (await backend.chat(request())).text == fake.answer


@pytest.mark.parametrize(
    ("error", "cls", "fragment"),
    [
        ({"code": 500, "message": "slot crashed", "type": "server_error"}, U, "HTTP 500"),
        (
            {"code": 400, "message": "context full", "type": "exceed_context_size_error"},
            ContextOverflow,
            "HTTP 400",
        ),
        ({"message": "upstream unavailable", "type": "api_error"}, U, "api_error"),
        ("model runner has unexpectedly stopped", U, "no status"),
        ("invalid character 'x' in format", R, "no status"),
    ],
)
async def test_mid_stream_error(
    error: Any,
    cls: type[BackendError],
    fragment: str,
    fake: FakeOpenAI,
    make_backend: MakeBackend,
) -> None:
    fake.mid_stream_error = error
    pieces: list[str] = []
    with pytest.raises(BackendError) as caught:
        await make_backend(fake.url).chat(request(), pieces.append)
    assert type(caught.value) is cls
    assert fragment in str(caught.value)
    message = error["message"] if isinstance(error, dict) else error
    assert message in str(caught.value)
    assert pieces == [fake.answer[: fake.chunk_size]]


async def test_stream_cut_off_is_unavailable(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.truncate_stream = True
    with pytest.raises(BackendUnavailable):
        await make_backend(fake.url).chat(request())


async def test_connection_refused_is_fast(make_backend: MakeBackend) -> None:
    backend = make_backend(f"http://127.0.0.1:{closed_port()}/v1")
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await backend.chat(request())
    assert time.monotonic() - start < 0.5
    assert "connection refused" in str(caught.value)


async def test_black_hole_times_out_at_the_connect_timeout(make_backend: MakeBackend) -> None:
    with BlackHole() as hole:
        backend = make_backend(hole.url, connect_timeout_s=0.5)
        start = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            await backend.chat(request())
        elapsed = time.monotonic() - start
    assert 0.4 < elapsed < 0.5 + 1.0
    assert "connect timeout after 0.5 s" in str(caught.value)


async def test_whole_request_budget(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.answer = "x" * 400
    fake.chunk_delay_s = 0.2  # data keeps coming: only the whole-request budget stops it
    backend = make_backend(fake.url, timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await backend.chat(request())
    assert time.monotonic() - start < 1.8
    assert "no answer within 1 s" in str(caught.value)


# -- probe --------------------------------------------------------------------------------------


async def test_probe_llama_swap(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.models = ["qwen-coder", "gemma"]
    fake.model_aliases = {"qwen-coder": ["coder"]}
    fake.model_status = "unloaded"
    result = await make_backend(fake.url).probe()
    assert result.up and result.detail == "ok"
    assert result.models == ("qwen-coder", "coder", "gemma")
    assert result.latency_ms is not None and result.latency_ms > 0
    # The window is asked of loaded models only (the fake's /running lists the first):
    # an upstream request would load the other.
    assert [r.path for r in fake.requests] == [
        "/health",
        "/v1/models",
        "/props",
        "/running",
        "/upstream/qwen-coder/props",
    ]


async def test_probe_llama_cpp_ready(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.health = "llamacpp"
    fake.n_ctx_train = 131072
    result = await make_backend(fake.url + "/").probe()
    assert result.up
    assert result.context_tokens == {"coder": 131072}


async def test_probe_llama_cpp_loading(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.health = "loading"
    result = await make_backend(fake.url).probe()
    assert not result.up
    assert result.detail == "loading model"


async def test_probe_without_health_uses_models(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.health = "missing"  # llama-cpp-python
    result = await make_backend(fake.url).probe()
    assert result.up and result.models == ("coder",)
    assert [r.path for r in fake.requests] == ["/health", "/v1/models"]


async def test_probe_auth_failure(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.health = "missing"
    fake.api_key = "sk-the-right-one"
    result = await make_backend(fake.url).probe()
    assert not result.up
    assert "authentication failed (HTTP 401)" in result.detail
    assert KEY not in result.detail


async def test_probe_refused(make_backend: MakeBackend) -> None:
    start = time.monotonic()
    result = await make_backend(f"http://127.0.0.1:{closed_port()}/v1").probe()
    assert time.monotonic() - start < 0.5
    assert not result.up and result.detail == "connection refused"


def test_a_url_without_an_http_scheme_sent_nothing() -> None:
    exc = httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol.")
    err = transport_error("local", exc, connect_s=1, read_s=1, pool_size=1)
    assert err.nothing_sent and err.message == "the URL is neither http:// nor https://"


async def test_probe_black_hole(make_backend: MakeBackend) -> None:
    with BlackHole() as hole:
        backend = make_backend(hole.url, connect_timeout_s=0.5)
        start = time.monotonic()
        result = await backend.probe()
        elapsed = time.monotonic() - start
    assert elapsed < 0.5 + 1.0
    assert not result.up and result.detail == "connect timeout after 0.5 s"


async def test_probe_hanging_health_is_bounded(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.health_latency_s = 10
    backend = make_backend(fake.url, timeout_s=0.5)  # probe read timeout: min(5, timeout_s)
    start = time.monotonic()
    result = await backend.probe()
    assert time.monotonic() - start < 1.5
    assert not result.up and "read timeout" in result.detail


# -- cancellation -------------------------------------------------------------------------------


async def test_cancel_closes_the_connection(fake: FakeOpenAI, make_backend: MakeBackend) -> None:
    fake.answer = "y" * 2000
    fake.chunk_delay_s = 0.5
    backend = make_backend(fake.url)
    pieces: list[str] = []
    assert await cancel_mid_stream(backend.chat(request(), pieces.append), fake) < 0.5
    assert pieces  # the stream had started

    assert await eventually(fake, lambda: fake.disconnects == 1)
    assert await eventually(fake, lambda: fake.in_flight == 0)
    # the backend still works afterwards
    fake.chunk_delay_s = 0
    fake.answer = "ok"
    assert (await backend.chat(request())).text == "ok"


async def test_cancel_while_waiting_for_the_first_byte(
    fake: FakeOpenAI, make_backend: MakeBackend
) -> None:
    fake.latency_s = 5
    await cancel_before_the_answer(make_backend(fake.url).chat(request()), fake)
    assert await eventually(fake, lambda: fake.disconnects == 1)


# -- odd servers (MockTransport) ----------------------------------------------------------------


async def test_unlabelled_sse_and_content_parts() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "he"}]}}]},
        {"model": "real-model", "choices": [{"index": 0, "delta": {"content": "llo"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1/chat/completions"
        return httpx.Response(200, text=body, headers={"content-type": "text/plain"})

    config = backend_config(kind="openai", url="http://llm.test/v1")
    backend = OpenAIBackend("odd", config, "cloud", transport=httpx.MockTransport(handler))
    try:
        result = await backend.chat(request())
    finally:
        await backend.aclose()
    assert result.text == "hello"
    assert result.model == "real-model"


async def test_retry_after_http_date_and_error_with_status_200() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
            return httpx.Response(429, text="quota exceeded", headers={"Retry-After": when})
        return httpx.Response(200, json={"error": {"message": "boom", "code": 503}})

    config = backend_config(kind="openai", url="http://llm.test/v1")
    backend = OpenAIBackend("odd", config, "cloud", transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await backend.chat(request())
        assert caught.value.retry_after_s is not None and 25 < caught.value.retry_after_s <= 30
        with pytest.raises(BackendUnavailable, match="boom"):
            await backend.chat(request())
    finally:
        await backend.aclose()
