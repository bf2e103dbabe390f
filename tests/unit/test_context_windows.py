"""Knowing a model's context window: learned from what servers say, and a prompt that does not
fit recognised as :class:`ContextOverflow` in every backend kind, with the window when given."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localroute.backends.anthropic import AnthropicBackend
from localroute.backends.base import BackendRequestError, ChatRequest, ContextOverflow
from localroute.backends.copilot import CopilotBackend
from localroute.backends.model_info import parse_models, props_window, ready_models
from localroute.backends.ollama import OllamaBackend, running_windows
from localroute.backends.openai import OpenAIBackend
from localroute.backends.openai_errors import context_overflow, parse_error_body
from localroute.config.models import Locality, backend_config
from tests.fakes.anthropic_fake import FAKE_KEY, FakeAnthropic
from tests.fakes.copilot_fake import OAUTH_TOKEN, FakeCopilot
from tests.fakes.ollama_fake import FakeOllama, ollama_error
from tests.fakes.openai_fake import ERROR_SHAPES, FakeOpenAI, openai_error
from tests.fakes.server import (
    JSON,
    TEXT,
    ChunkedBody,
    FakeHandler,
    LoopbackFake,
    RecordedRequest,
    chunked_head,
    send,
    sse,
)
from tests.support.cleared import chat_request

# What llama-cpp-python 0.3.36 answered, not streamed, to a prompt of 18,581 tokens with
# --n_ctx 4096 (streamed, the same request got HTTP 200 and a stream without one event).
LLAMA_CPP_PYTHON_OVERFLOW = (
    "This model's maximum context length is 4096 tokens. However, you requested 18582 tokens "
    "(18581 in the messages, 1 in the completion). Please reduce the length of the messages "
    "or completion."
)


def request(model: str = "coder") -> ChatRequest:
    return chat_request(model=model, system="You review code.", user="x = 1\n" * 10)


# --- recognising an overflow -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "window", "prompt"),
    [
        (400, {"error": {"code": 400, "message": "the request exceeds the available context "
                         "size, try increasing it", "type": "exceed_context_size_error",
                         "n_prompt_tokens": 5210, "n_ctx": 4096}}, 4096, 5210),
        (400, {"error": {"code": 400, "message": "the request exceeds the available context "
                         "size, try increasing it", "type": "exceed_context_size_error"}},
         None, None),
        (400, {"error": {"message": LLAMA_CPP_PYTHON_OVERFLOW, "type": "invalid_request_error",
                         "param": "messages", "code": "context_length_exceeded"}}, 4096, 18581),
        (400, {"error": {"message": "This model's maximum context length is 128000 tokens. "
                         "However, your messages resulted in 130512 tokens. Please reduce the "
                         "length of the messages.", "type": "invalid_request_error",
                         "param": "messages", "code": "context_length_exceeded"}}, 128000, 130512),
        (400, {"object": "error", "message": "This model's maximum context length is 32768 "
               "tokens. However, you requested 40000 tokens (39000 in the messages, 1000 in the "
               "completion).", "type": "BadRequestError", "code": 400}, 32768, 39000),
        (400, {"error": "The number of tokens to keep from the initial prompt is greater than "
               "the context length"}, None, None),
        (400, {"error": "input length exceeds the context length"}, None, None),
        (400, {"type": "error", "error": {"type": "invalid_request_error",
               "message": "prompt is too long: 212345 tokens > 200000 maximum"}}, 200000, 212345),
        (400, {"error": {"message": "prompt token count of 130409 exceeds the limit of 128000",
                         "code": "model_max_prompt_tokens_exceeded"}}, 128000, 130409),
        (400, [{"error": {"code": 400, "message": "The input token count (1234567) exceeds the "
                "maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}],
         1048576, 1234567),
    ],
    ids=["llama.cpp", "llama.cpp-old", "llama-cpp-python", "openai", "vllm", "lm-studio",
         "ollama", "anthropic", "copilot", "gemini"],
)  # fmt: skip
def test_overflow_bodies_are_recognised(
    status: int, body: Any, window: int | None, prompt: int | None
) -> None:
    info = parse_error_body(json.dumps(body).encode(), "application/json")
    overflow = context_overflow("local", status, info)
    assert isinstance(overflow, ContextOverflow) and isinstance(overflow, BackendRequestError)
    assert (overflow.window, overflow.prompt_tokens) == (window, prompt)
    assert overflow.message.startswith("the prompt does not fit the model's context window")
    if window:
        assert f"context window of {window} tokens" in overflow.message


@pytest.mark.parametrize(
    "name",
    ["openai_model_not_found", "llamacpp_auth", "openai_server_error", "llamacpp_loading",
     "google_invalid_argument", "copilot_model_not_supported"],
)  # fmt: skip
def test_other_errors_are_not_overflows(name: str) -> None:
    status, body, content_type, _ = ERROR_SHAPES[name]
    info = parse_error_body(body.encode(), content_type)
    assert context_overflow("local", status, info) is None


# --- through each backend ---------------------------------------------------------------------


async def test_openai_backend_raises_overflow_and_learns_the_window() -> None:
    body = openai_error(LLAMA_CPP_PYTHON_OVERFLOW, 400, code="context_length_exceeded")
    with FakeOpenAI(error=body, health="missing") as fake:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=fake.url), "local")
        try:
            with pytest.raises(ContextOverflow) as caught:
                await backend.chat(request())
            assert caught.value.window == 4096
            assert (await backend.probe()).context_tokens == {"coder": 4096}
        finally:
            await backend.aclose()


async def test_llama_cpp_exceed_context_is_an_overflow() -> None:
    with FakeOpenAI(error=ERROR_SHAPES["llamacpp_exceed_context"]) as fake:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=fake.url), "local")
        try:
            with pytest.raises(ContextOverflow, match="does not fit"):
                await backend.chat(request())
        finally:
            await backend.aclose()


async def test_ollama_overflow_at_status_and_in_the_stream() -> None:
    with FakeOllama(error=ollama_error("input length exceeds the context length")) as fake:
        backend = OllamaBackend("homelab", backend_config(kind="ollama", url=fake.url), "local")
        try:
            with pytest.raises(ContextOverflow):
                await backend.chat(request())
            fake.error = None
            fake.mid_stream_error = "the input length exceeds the context length of 4096"
            with pytest.raises(ContextOverflow) as caught:
                await backend.chat(request())
            assert caught.value.window == 4096
        finally:
            await backend.aclose()


async def test_anthropic_prompt_too_long_is_an_overflow() -> None:
    body = {"type": "error", "error": {"type": "invalid_request_error",
            "message": "prompt is too long: 212345 tokens > 200000 maximum"}}  # fmt: skip
    with FakeAnthropic(error=(400, json.dumps(body), JSON, {})) as fake:
        config = backend_config(kind="anthropic", url=fake.url)
        backend = AnthropicBackend("claude", config, "cloud", env={"ANTHROPIC_API_KEY": FAKE_KEY})
        try:
            with pytest.raises(ContextOverflow) as caught:
                await backend.chat(request("claude-haiku-4-5"))
            assert caught.value.window == 200000
        finally:
            await backend.aclose()


async def test_copilot_prompt_limit_is_an_overflow(copilot_env: dict[str, str]) -> None:
    error = openai_error(
        "prompt token count of 130409 exceeds the limit of 128000",
        400,
        code="model_max_prompt_tokens_exceeded",
    )
    with FakeCopilot(error=error) as fake:
        config = backend_config(kind="copilot", token_url=fake.token_url)
        backend = CopilotBackend("copilot", config, "cloud", env=copilot_env)
        try:
            with pytest.raises(ContextOverflow) as caught:
                await backend.chat(request("claude-haiku-4.5"))
            assert caught.value.window == 128000
            assert OAUTH_TOKEN not in caught.value.message
        finally:
            await backend.aclose()


# --- a server that tells only when asked: llama-cpp-python, llama.cpp, llama-swap, Ollama ------


class WindowServer(LoopbackFake):
    """A loopback server with fixed answers per path, and llama-cpp-python's chat: a stream
    that ends without one event when the prompt is too long, a 400 when not streamed."""

    def __init__(self, routes: dict[str, Any], *, fits: bool = False) -> None:
        super().__init__()
        self.routes = routes
        self.fits = fits

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        if request.method == "POST" and request.path == "/v1/chat/completions":
            self._chat(handler, request.json)
        elif request.path in self.routes:
            send(handler, 200, json.dumps(self.routes[request.path]))
        else:
            send(handler, 404, "404 page not found", TEXT)

    def _chat(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        if body.get("stream"):
            chunked_head(handler, "text/event-stream")
            out = ChunkedBody(handler)
            if self.fits:
                out.write(sse({"choices": [{"index": 0, "delta": {"content": "{}"}}]}))
            out.end()  # ends: no finish_reason, no [DONE]
            handler.close_connection = True
            return
        if self.fits:
            answer = {
                "choices": [{"index": 0, "message": {"content": "{"}, "finish_reason": "length"}]
            }
            send(handler, 200, json.dumps(answer))
            return
        error = {"message": LLAMA_CPP_PYTHON_OVERFLOW, "type": "invalid_request_error",
                 "param": "messages", "code": "context_length_exceeded"}  # fmt: skip
        send(handler, 400, json.dumps({"error": error}))

    def chats(self) -> list[Any]:
        return [r.json for r in self.requests if r.path == "/v1/chat/completions"]


def openai_backend(server: WindowServer, locality: Locality = "local") -> OpenAIBackend:
    return OpenAIBackend("local", backend_config(kind="openai", url=f"{server.root}/v1"), locality)


@pytest.fixture
def window_server() -> Iterator[Callable[..., WindowServer]]:
    servers: list[WindowServer] = []

    def make(routes: dict[str, Any] | None = None, **kwargs: Any) -> WindowServer:
        server = WindowServer(routes or {}, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


async def test_llama_cpp_python_stream_that_ends_at_once_is_asked_why(
    window_server: Callable[..., WindowServer],
) -> None:
    server = window_server({"/v1/models": {"data": [{"id": "coder", "object": "model"}]}})
    backend = OpenAIBackend(
        "local", backend_config(kind="openai", url=f"{server.root}/v1"), "local"
    )
    try:
        with pytest.raises(ContextOverflow) as caught:
            await backend.chat(request())
        assert (caught.value.window, caught.value.prompt_tokens) == (4096, 18581)
        streamed, asked = server.chats()
        assert streamed["stream"] is True
        assert asked["stream"] is False and asked["max_tokens"] == 1
        assert asked["messages"] == streamed["messages"]
        assert (await backend.probe()).context_tokens == {"coder": 4096}
    finally:
        await backend.aclose()


async def test_a_stream_cut_after_content_is_not_asked_again(
    window_server: Callable[..., WindowServer],
) -> None:
    server = window_server(fits=True)
    backend = OpenAIBackend(
        "local", backend_config(kind="openai", url=f"{server.root}/v1"), "local"
    )
    try:
        with pytest.raises(Exception, match="ended before it was complete"):
            await backend.chat(request())
        assert len(server.chats()) == 1
    finally:
        await backend.aclose()


async def test_a_cloud_stream_that_ends_at_once_is_not_asked_again(
    window_server: Callable[..., WindowServer],
) -> None:
    server = window_server()
    backend = openai_backend(server, "cloud")
    try:
        with pytest.raises(Exception, match="ended before it was complete"):
            await backend.chat(request())
        assert len(server.chats()) == 1
    finally:
        await backend.aclose()


LLAMA_CPP_PROPS = {
    "default_generation_settings": {"n_ctx": 8192, "temperature": 0.8},
    "total_slots": 2,
    "model_path": "/models/qwen.gguf",
}


async def test_llama_cpp_props_give_the_window_it_runs_with(
    window_server: Callable[..., WindowServer],
) -> None:
    models = {"data": [{"id": "qwen", "meta": {"n_ctx_train": 131072}}]}
    server = window_server({"/health": {"status": "ok"}, "/v1/models": models,
                            "/props": LLAMA_CPP_PROPS})  # fmt: skip
    backend = OpenAIBackend(
        "local", backend_config(kind="openai", url=f"{server.root}/v1"), "local"
    )
    try:
        probe = await backend.probe()
    finally:
        await backend.aclose()
    assert probe.up and probe.context_tokens == {"qwen": 8192}


async def test_llama_swap_windows_of_loaded_models_only(
    window_server: Callable[..., WindowServer],
) -> None:
    models = {
        "data": [
            {"id": "qwen-coder", "meta": {"llamaswap": {"aliases": ["coder"]}}},
            {"id": "gemma"},
        ]
    }
    running = {"running": [{"model": "qwen-coder", "state": "ready"},
                           {"model": "gemma", "state": "starting"}]}  # fmt: skip
    server = window_server({"/health": "OK", "/v1/models": models, "/running": running,
                            "/upstream/qwen-coder/props": LLAMA_CPP_PROPS})  # fmt: skip
    backend = openai_backend(server)
    try:
        probe = await backend.probe()
    finally:
        await backend.aclose()
    assert probe.context_tokens == {"qwen-coder": 8192, "coder": 8192}
    asked = [r.path for r in server.requests]
    assert "/upstream/gemma/props" not in asked  # that would start it


async def test_ollama_windows_from_ps_or_num_ctx(
    window_server: Callable[..., WindowServer],
) -> None:
    ps = {"models": [{"name": "qwen3:8b", "model": "qwen3:8b", "context_length": 16384}]}
    tags = {"models": [{"name": "qwen3:8b"}, {"name": "llama3.2:latest"}]}
    server = window_server({"/api/version": {"version": "0.12.3"}, "/api/tags": tags,
                            "/api/ps": ps})  # fmt: skip
    backend = OllamaBackend("homelab", backend_config(kind="ollama", url=server.root), "local")
    fixed = OllamaBackend(
        "homelab", backend_config(kind="ollama", url=server.root, num_ctx=32768), "local"
    )
    try:
        assert (await backend.probe()).context_tokens == {"qwen3:8b": 16384}
        assert (await fixed.probe()).context_tokens == {
            "qwen3:8b": 32768,
            "llama3.2:latest": 32768,
        }
    finally:
        await backend.aclose()
        await fixed.aclose()


def test_model_listing_windows() -> None:
    vllm = {"data": [{"id": "Qwen/Qwen3-8B", "object": "model", "max_model_len": 32768}]}
    assert parse_models(vllm) == (("Qwen/Qwen3-8B",), {"Qwen/Qwen3-8B": 32768})
    assert props_window({"n_ctx": 2048}) == 2048
    assert props_window({"default_generation_settings": {}}) is None
    assert ready_models({"running": [{"model": "a"}, {"model": "b", "state": "stopping"}]}) == ["a"]
    assert running_windows({"models": [{"name": "m", "context_length": "big"}]}) == {}
