"""The review's JSON Schema reaches each backend kind in the form its server decodes with,
checked on the request bodies the fakes record."""

from __future__ import annotations

import json

import pytest

from localroute.backends.anthropic import AnthropicBackend
from localroute.backends.base import ChatRequest
from localroute.backends.copilot import CopilotBackend
from localroute.backends.ollama import OllamaBackend
from localroute.backends.openai import OpenAIBackend, strict_schema
from localroute.config.models import backend_config
from localroute.tasks.review import FINDINGS_SCHEMA, build_review_prompt
from tests.fakes.anthropic_fake import FAKE_KEY, FakeAnthropic
from tests.fakes.copilot_fake import DEFAULT_MODELS, FakeCopilot
from tests.fakes.ollama_fake import OLD_FORMAT_MESSAGE, FakeOllama, ollama_error
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cleared import chat_request

PROMPT = build_review_prompt(path_label="a.py", language="python", lines=["x = 1"], first_line=0)


def review_request(model: str = "coder") -> ChatRequest:
    return chat_request(
        model=model, system=PROMPT.system, user=PROMPT.user, json_schema=PROMPT.json_schema
    )


def test_strict_schema_makes_optional_keys_nullable_and_required() -> None:
    strict = strict_schema(FINDINGS_SCHEMA)
    item = strict["properties"]["findings"]["items"]
    assert item["required"] == ["line", "end_line", "severity", "message", "suggestion"]
    assert item["properties"]["end_line"]["type"] == ["integer", "null"]
    assert item["properties"]["suggestion"]["type"] == ["string", "null"]
    assert item["properties"]["line"] == {"type": "integer"}
    assert item["properties"]["severity"]["enum"] == ["error", "warning", "info", "hint"]
    assert strict["additionalProperties"] is False and item["additionalProperties"] is False
    assert FINDINGS_SCHEMA["properties"]["findings"]["items"]["required"] == [
        "line",
        "severity",
        "message",
    ]  # the original is left alone


async def test_openai_strict_json_schema_first() -> None:
    """OpenAI, vLLM, llama.cpp's server and LM Studio read this form and decode to it."""
    with FakeOpenAI() as fake:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=fake.url), "local")
        try:
            result = await backend.chat(review_request())
        finally:
            await backend.aclose()
    [sent] = fake.chat_requests
    assert result.structured == "json_schema"
    form = sent.json["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["strict"] is True
    assert form["json_schema"]["schema"] == strict_schema(FINDINGS_SCHEMA)


def test_each_schema_is_made_strict_once_and_each_gets_its_own() -> None:
    """The strict form is kept per schema (made once, not per request), and a schema
    never gets another's strict form."""
    from localroute.backends.openai import _response_format

    other = {"type": "object", "properties": {"summary": {"type": "string"}}}
    first = _response_format("json_schema", FINDINGS_SCHEMA)
    again = _response_format("json_schema", FINDINGS_SCHEMA)
    assert first is not None and again is not None
    assert first["json_schema"]["schema"] is again["json_schema"]["schema"]
    assert first["json_schema"]["schema"] == strict_schema(FINDINGS_SCHEMA)
    mine = _response_format("json_schema", other)
    assert mine is not None and mine["json_schema"]["schema"] == strict_schema(other)
    assert mine["json_schema"]["schema"]["required"] == ["summary"]


async def test_llama_cpp_python_gets_the_schema_in_its_own_form() -> None:
    """llama-cpp-python answers the OpenAI form with HTTP 500; its grammar is built from
    ``{"type": "json_object", "schema": ...}``, which gets the schema as the task wrote it."""
    with FakeOpenAI(reject_json_schema=True) as fake:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=fake.url), "local")
        try:
            result = await backend.chat(review_request())
        finally:
            await backend.aclose()
    assert result.structured == "json_object+schema"
    assert fake.chat_requests[-1].json["response_format"] == {
        "type": "json_object",
        "schema": FINDINGS_SCHEMA,
    }


async def test_ollama_gets_the_schema_as_format() -> None:
    with FakeOllama() as fake:
        backend = OllamaBackend("homelab", backend_config(kind="ollama", url=fake.url), "local")
        try:
            result = await backend.chat(review_request())
            assert result.structured == "json_schema"
            assert fake.chat_requests[-1].json["format"] == FINDINGS_SCHEMA
            # An Ollama older than 0.5 refuses a schema there: JSON mode, and the prompt
            # describes the shape.
            fake.error, fake.error_times = ollama_error(OLD_FORMAT_MESSAGE), 1
            await backend.chat(review_request())
            assert fake.chat_requests[-1].json["format"] == "json"
        finally:
            await backend.aclose()


async def test_anthropic_gets_the_schema_in_the_system_prompt() -> None:
    """The Messages API has no schema-constrained decoding here: the schema is stated."""
    with FakeAnthropic() as fake:
        config = backend_config(kind="anthropic", url=fake.url)
        backend = AnthropicBackend("claude", config, "cloud", env={"ANTHROPIC_API_KEY": FAKE_KEY})
        try:
            await backend.chat(review_request("claude-haiku-4-5"))
        finally:
            await backend.aclose()
    [sent] = fake.message_requests
    assert PROMPT.system in sent.json["system"]
    assert json.dumps(FINDINGS_SCHEMA, separators=(",", ":")) in sent.json["system"]
    assert "response_format" not in sent.json


async def test_copilot_asks_for_json_where_the_model_supports_it(
    copilot_env: dict[str, str],
) -> None:
    structured = [
        m["id"]
        for m in DEFAULT_MODELS
        if m.get("capabilities", {}).get("supports", {}).get("structured_outputs")
    ]
    if not structured:
        pytest.skip("the Copilot fake lists no model with structured outputs")
    with FakeCopilot() as fake:
        config = backend_config(kind="copilot", token_url=fake.token_url)
        backend = CopilotBackend("copilot", config, "cloud", env=copilot_env)
        try:
            result = await backend.chat(review_request(structured[0]))
        finally:
            await backend.aclose()
    assert result.structured == "json_object"
    [sent] = fake.chat_requests
    assert sent.json["response_format"] == {"type": "json_object"}
    # No schema field: the prompt itself describes the findings shape in words.
    assert '"findings"' in sent.json["messages"][-1]["content"]
