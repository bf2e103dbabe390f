"""OllamaBackend against a real HTTP server on loopback (tests/fakes/ollama_fake.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from localroute.backends.base import BackendRequestError, BackendUnavailable, ChatRequest
from localroute.backends.ollama import OllamaBackend, server_root
from localroute.backends.openai import OpenAIBackend
from localroute.config.models import backend_config
from tests.fakes.ollama_fake import (
    QUEUE_FULL_MESSAGE,
    RUNNER_CRASH_MESSAGE,
    FakeOllama,
    ollama_error,
    queue_full,
)
from tests.fakes.openai_fake import BlackHole, closed_port
from tests.support.cancelling import cancel_before_the_answer, cancel_mid_stream, eventually
from tests.support.cleared import FINDINGS_SCHEMA, short_request
from tests.unit.conftest import Closing

pytestmark = pytest.mark.timeout(15)

SCHEMA = FINDINGS_SCHEMA
USER_CODE = "def secret_sauce(): return 42"

MakeBackend = Callable[..., OllamaBackend]


def request(schema: dict[str, Any] | None = None, model: str = "coder") -> ChatRequest:
    return short_request(model, schema, user=USER_CODE)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


@pytest.fixture
def make_backend(closing: Closing) -> MakeBackend:
    def make(url: str, **settings: Any) -> OllamaBackend:
        settings.setdefault("connect_timeout_s", 0.5)
        config = backend_config(kind="ollama", url=url, **settings)
        return closing(OllamaBackend("homelab", config, "local"))

    return make


# -- happy paths --------------------------------------------------------------------------------


async def test_streaming_sends_schema_and_num_ctx(
    fake: FakeOllama, make_backend: MakeBackend
) -> None:
    fake.answer = '{"findings": [{"line": 1}]}'
    pieces: list[str] = []
    result = await make_backend(fake.url, num_ctx=16384).chat(request(SCHEMA), pieces.append)

    assert result.text == '{"findings": [{"line": 1}]}'
    assert "".join(pieces) == result.text and len(pieces) > 1
    assert result.model == "coder"
    assert result.structured == "json_schema"
    assert result.prompt_tokens == 7  # the fake counts words in the messages
    assert result.completion_tokens == len(pieces)
    (sent,) = fake.chat_requests
    body = sent.json
    assert body["model"] == "coder"
    assert body["stream"] is True
    assert body["format"] == SCHEMA
    assert body["options"] == {"temperature": 0.0, "num_predict": 256, "num_ctx": 16384}
    assert body["messages"] == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": USER_CODE},
    ]
    assert sent.headers["content-type"] == "application/json"


async def test_free_text_sends_no_format_and_no_num_ctx(
    fake: FakeOllama, make_backend: MakeBackend
) -> None:
    fake.answer = "It returns 42."
    result = await make_backend(fake.url + "/").chat(request())
    assert result.text == "It returns 42."
    assert result.structured == "none"
    body = fake.chat_requests[0].json
    assert "format" not in body
    assert "num_ctx" not in body["options"]


async def test_lines_split_at_newlines_only(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.answer = "caf\u00e9\u0085line\u2028sep\nnew"  # Go leaves U+0085 unescaped
    fake.chunk_size = 3
    assert (await make_backend(fake.url).chat(request())).text == fake.answer


async def test_non_streamed_object(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.non_streaming = True
    fake.answer = "whole"
    pieces: list[str] = []
    result = await make_backend(fake.url).chat(request(), pieces.append)
    assert (result.text, pieces, result.completion_tokens) == ("whole", ["whole"], 1)


async def test_old_server_gets_format_json_and_it_is_remembered(
    fake: FakeOllama, make_backend: MakeBackend
) -> None:
    fake.old_format = True
    backend = make_backend(fake.url)
    result = await backend.chat(request(SCHEMA))
    assert result.structured == "json_object"
    assert [r.json["format"] for r in fake.chat_requests] == [SCHEMA, "json"]
    await backend.chat(request(SCHEMA))
    assert [r.json["format"] for r in fake.chat_requests][2:] == ["json"]


def test_server_root() -> None:
    assert server_root("http://h:11434/") == "http://h:11434"
    assert server_root("http://h:11434/v1") == "http://h:11434"
    assert server_root("http://h:11434/api/") == "http://h:11434"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", [False, True])
async def test_model_not_pulled(
    scheduler: bool, fake: FakeOllama, make_backend: MakeBackend
) -> None:
    fake.scheduler_not_found = scheduler
    with pytest.raises(BackendRequestError) as failure:
        await make_backend(fake.url).chat(request(model="qwen2.5-coder:7b"))
    assert failure.value.status == 404
    assert failure.value.message == (
        "model qwen2.5-coder:7b is not pulled on backend homelab: "
        "run `ollama pull qwen2.5-coder:7b`"
    )


async def test_latest_tag_is_the_same_model(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.models = ["coder:latest"]
    assert (await make_backend(fake.url).chat(request(model="coder"))).text


@pytest.mark.parametrize(
    ("spec", "kind", "status", "text"),
    [
        (ollama_error("model is required"), BackendRequestError, 400, "model is required"),
        (ollama_error('invalid options: "num_gpu"'), BackendRequestError, 400, "num_gpu"),
        (queue_full(), BackendUnavailable, 503, QUEUE_FULL_MESSAGE.replace("  ", " ")),
        (ollama_error("llama runner process has terminated", 500), BackendUnavailable, 500, ""),
        (ollama_error("too many requests", 429), BackendUnavailable, 429, "rate limited"),
    ],
)
async def test_error_statuses(
    spec: Any,
    kind: type[Exception],
    status: int,
    text: str,
    fake: FakeOllama,
    make_backend: MakeBackend,
) -> None:
    fake.error = spec
    with pytest.raises(kind) as failure:
        await make_backend(fake.url).chat(request())
    err = failure.value
    assert type(err) is kind
    assert getattr(err, "status", None) == status
    assert text in str(err)
    assert "\n" not in str(err) and USER_CODE not in str(err)


async def test_missing_model_field_is_a_400(fake: FakeOllama, make_backend: MakeBackend) -> None:
    with pytest.raises(BackendRequestError, match="model is required"):
        await make_backend(fake.url).chat(request(model=""))


async def test_404_that_is_no_model_points_at_the_url(
    fake: FakeOllama, make_backend: MakeBackend
) -> None:
    with pytest.raises(BackendRequestError, match="check the backend's url"):
        await make_backend(fake.url + "/ollama").chat(request())


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RUNNER_CRASH_MESSAGE, BackendUnavailable),
        ("an error was encountered while running the model: unexpected EOF", BackendUnavailable),
        ("CUDA error: out of memory", BackendUnavailable),
        ('template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo', BackendRequestError),
    ],
)
async def test_mid_stream_error_line(
    error: str, kind: type[Exception], fake: FakeOllama, make_backend: MakeBackend
) -> None:
    fake.mid_stream_error = error
    pieces: list[str] = []
    with pytest.raises(kind) as failure:
        await make_backend(fake.url).chat(request(), pieces.append)
    assert type(failure.value) is kind
    assert "error in the answer stream" in str(failure.value)
    assert pieces  # the first piece came before the error


async def test_stream_ending_without_done(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.end_early = True
    with pytest.raises(BackendUnavailable, match="stream ended early"):
        await make_backend(fake.url).chat(request())


async def test_stream_cut_off(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.truncate_stream = True
    with pytest.raises(BackendUnavailable):
        await make_backend(fake.url).chat(request())


async def test_refused_port_is_fast(make_backend: MakeBackend) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="connection refused"):
        await make_backend(f"http://127.0.0.1:{closed_port()}").chat(request())
    assert time.monotonic() - started < 0.5


async def test_whole_request_budget(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.answer = "x" * 100
    fake.line_delay_s = 0.1  # every line comes within the read timeout, the whole does not
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"no answer within 0\.4 s"):
        await make_backend(fake.url, timeout_s=0.4).chat(request())
    assert time.monotonic() - started < 1.0


async def test_non_json_answer_mislabelled_as_json() -> None:
    lines = [
        {"model": "coder", "message": {"content": "a"}, "done": False},
        {"model": "coder", "message": {"content": "b", "thinking": "hmm"}, "done": False},
        {"model": "coder", "message": {"content": ""}, "done": True, "eval_count": 2},
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/api/chat"
        text = "\n".join(json.dumps(line) for line in lines) + "\n"
        return httpx.Response(200, text=text, headers={"content-type": "application/json"})

    config = backend_config(kind="ollama", url="http://ollama.test:11434")
    backend = OllamaBackend("odd", config, "cloud", transport=httpx.MockTransport(handler))
    try:
        result = await backend.chat(request())
    finally:
        await backend.aclose()
    assert (result.text, result.completion_tokens, result.prompt_tokens) == ("ab", 2, None)


# -- probe --------------------------------------------------------------------------------------


async def test_probe_up_with_models(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.models = ["coder", "qwen2.5-coder:7b"]
    result = await make_backend(fake.url, num_ctx=8192).probe()
    assert result.up is True
    assert result.models == ("coder:latest", "qwen2.5-coder:7b")
    assert result.detail == "ok (Ollama 0.5.1)"
    assert result.context_tokens == {"coder:latest": 8192, "qwen2.5-coder:7b": 8192}
    assert [r.path for r in fake.requests] == ["/api/version", "/api/tags"]


async def test_probe_of_a_server_that_is_not_ollama(make_backend: MakeBackend) -> None:
    with FakeOllama() as fake:
        result = await make_backend(fake.url + "/elsewhere").probe()
    assert result.up is False
    assert "HTTP 404 at /api/version" in result.detail and "Ollama server" in result.detail


async def test_probe_refused(make_backend: MakeBackend) -> None:
    started = time.monotonic()
    result = await make_backend(f"http://127.0.0.1:{closed_port()}").probe()
    assert (result.up, result.detail) == (False, "connection refused")
    assert time.monotonic() - started < 0.5


async def test_probe_black_hole(make_backend: MakeBackend) -> None:
    with BlackHole() as hole:
        started = time.monotonic()
        result = await make_backend(hole.root, connect_timeout_s=0.3).probe()
    assert (result.up, result.detail) == (False, "connect timeout after 0.3 s")
    assert time.monotonic() - started < 1.0


# -- cancellation -------------------------------------------------------------------------------


async def test_cancel_mid_stream_closes_the_connection(
    fake: FakeOllama, make_backend: MakeBackend
) -> None:
    fake.answer = "y" * 400
    fake.line_delay_s = 0.5
    backend = make_backend(fake.url)
    pieces: list[str] = []
    await cancel_mid_stream(backend.chat(request(), pieces.append), fake)
    assert pieces
    assert await eventually(fake, lambda: fake.disconnects == 1)
    assert await eventually(fake, lambda: fake.in_flight == 0)
    fake.line_delay_s = 0
    fake.answer = "ok"
    assert (await backend.chat(request())).text == "ok"


async def test_cancel_while_the_model_loads(fake: FakeOllama, make_backend: MakeBackend) -> None:
    fake.latency_s = 5
    await cancel_before_the_answer(make_backend(fake.url).chat(request()), fake)
    assert await eventually(fake, lambda: fake.disconnects == 1)


# -- the fake's OpenAI-compatible side ----------------------------------------------------------


def test_fake_read_endpoints(fake: FakeOllama) -> None:
    fake.models = ["coder", "llama3.2:3b"]
    with httpx.Client(base_url=fake.url, trust_env=False) as client:
        assert client.get("/").text == "Ollama is running"
        assert client.head("/").status_code == 200
        assert client.get("/api/version").json() == {"version": "0.5.1"}
        ps = client.get("/api/ps").json()["models"]
        assert [m["name"] for m in ps] == ["coder:latest"]
        assert client.get("/api/nothing").status_code == 404
        missing = client.post("/api/chat")
        assert (missing.status_code, missing.json()) == (400, {"error": "missing request body"})


async def test_fake_v1_shape_through_the_openai_backend() -> None:
    with FakeOllama(answer="hi") as fake:
        config = backend_config(kind="openai", url=fake.url + "/v1")
        backend = OpenAIBackend("ollama-v1", config, "local")
        try:
            assert (await backend.chat(request())).text == "hi"
            with pytest.raises(BackendRequestError, match="not found"):
                await backend.chat(request(model="missing"))
            assert (await backend.probe()).models == ("coder",)
        finally:
            await backend.aclose()
        assert len(fake.v1_chat_requests) == 2
