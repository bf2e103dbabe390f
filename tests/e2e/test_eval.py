"""`localroute eval` end to end, as a user runs it, against a fake model and the embedded one;
and the embedded model's structured output, degenerate streams and context window for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localroute import embedded
from localroute.backends.base import ContextOverflow, DegenerateAnswer
from localroute.backends.openai import OpenAIBackend
from localroute.config.models import backend_config
from localroute.evaluation.corpus import CORPUS_DIR, load_corpus
from localroute.tasks.findings import Prompt
from localroute.tasks.guard import AnswerGuard
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cleared import chat_request
from tests.support.cli import env_in, run_localroute

# Prompts name a file relative to its project root: the corpus folder.
CORPUS = {s.path.relative_to(CORPUS_DIR).as_posix(): s for s in load_corpus()}


def run_eval(tmp_path: Path, config: str, *args: str, timeout: float = 120) -> Any:
    """``python -m localroute eval ARGS --format json`` with ``config`` as the user file."""
    done = run_localroute(
        "eval",
        *args,
        "--format",
        "json",
        env=env_in(tmp_path, config),
        cwd=tmp_path,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def seeded_answer(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    snippet = next(s for path, s in CORPUS.items() if f" of {path} (" in user)
    findings = [] if snippet.clean else [{"line": snippet.bug_line, "severity": "error",
                                          "message": snippet.note}]  # fmt: skip
    return json.dumps({"findings": findings})


def test_eval_scores_a_fake_model_from_the_command_line(tmp_path: Path) -> None:
    with FakeOpenAI(answer_fn=seeded_answer, chunk_size=64) as fake:
        config = f'[backends.fake]\nkind = "openai"\nurl = "{fake.url}"\n'
        document = run_eval(tmp_path, config, "fake:coder")
    [model] = document["models"]
    assert model["snippets"] == len(CORPUS) == len(document["corpus"])
    assert model["recall"] == 1.0 and model["false_findings"] == 0
    assert model["invalid"] == model["failed"] == model["copied"] == 0


def test_eval_refuses_a_cloud_backend_without_a_terminal(tmp_path: Path) -> None:
    with FakeOpenAI(answer_fn=seeded_answer) as fake:
        config = f'[backends.cloudy]\nkind = "openai"\nurl = "{fake.url}"\nlocality = "cloud"\n'
        done = run_localroute("eval", "cloudy:m", env=env_in(tmp_path, config), timeout=60)
        assert done.returncode == 2
        assert "--allow-cloud" in done.stderr and "nothing was sent" in done.stderr
        assert fake.chat_requests == []


# --- the embedded model, for real ------------------------------------------------------------


@pytest.fixture(scope="module")
def model_server() -> Iterator[embedded.EmbeddedServer]:
    try:
        server = embedded.start(n_ctx=2048)
    except embedded.EmbeddedModelError as exc:
        pytest.skip(f"the embedded model cannot run here: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def local(model_server: embedded.EmbeddedServer) -> Any:
    config = backend_config(**model_server.backend_settings())
    backend = OpenAIBackend("local", config, "local")
    yield backend
    await backend.aclose()


@pytest.mark.real_model
async def test_the_schema_reaches_the_embedded_models_decoder(local: OpenAIBackend) -> None:
    # An answer no model writes unless its decoder is held to the schema.
    schema = {
        "type": "object",
        "properties": {"verdict": {"type": "string", "enum": ["zebra-42"]}},
        "required": ["verdict"],
        "additionalProperties": False,
    }
    request = chat_request(model="coder", system="", user="Is 2 + 2 = 4?", json_schema=schema,
                          max_tokens=40)  # fmt: skip
    result = await local.chat(request)
    assert json.loads(result.text) == {"verdict": "zebra-42"}
    # llama-cpp-python refuses OpenAI's form with HTTP 500; its own form carries the schema.
    assert result.structured == "json_object+schema"


@pytest.mark.real_model
async def test_the_embedded_models_loop_is_cut_off(local: OpenAIBackend) -> None:
    prompt = Prompt(
        system="", user="Write the word 'la' one thousand times, separated by spaces.",
        json_schema=None,
    )  # fmt: skip
    guard = AnswerGuard(prompt, "local")
    received: list[str] = []

    def on_text(piece: str) -> None:
        received.append(piece)
        guard.feed(piece)

    request = chat_request(model="coder", system="", user=prompt.user, max_tokens=1024)
    with pytest.raises(DegenerateAnswer) as caught:
        await local.chat(request, on_text)
    assert caught.value.reason in ("repetition", "prompt echo")
    # Stopped long before the 1,024 tokens it was allowed (about 4 characters each).
    assert len("".join(received)) < 1500


@pytest.mark.real_model
async def test_a_prompt_larger_than_the_window_is_a_context_overflow(
    local: OpenAIBackend, model_server: embedded.EmbeddedServer
) -> None:
    code = "\n".join(f"value_{i} = compute({i}) + other({i} * 2)" for i in range(600))
    request = chat_request(model="coder", system="", user=f"Review:\n{code}", max_tokens=64)
    with pytest.raises(ContextOverflow) as caught:
        await local.chat(request)
    assert caught.value.window == model_server.n_ctx
    assert caught.value.prompt_tokens is not None and caught.value.prompt_tokens > 2048
    assert (await local.probe()).context_tokens.get("coder") == model_server.n_ctx


@pytest.mark.real_model
def test_eval_runs_on_the_embedded_model(tmp_path: Path) -> None:
    document = run_eval(
        tmp_path, "", "--embedded", "--language", "python", "--language", "go", "--limit", "2",
        timeout=600,
    )  # fmt: skip
    [model] = document["models"]
    assert model["entry"] == "embedded:coder" and model["snippets"] == 4
    assert model["failed"] == 0
    # Whatever the tiny model finds, nothing it copied is shown, and what it answered is
    # findings JSON (the scores themselves are in docs/evaluation.md, not asserted here).
    assert model["copied"] == 0
    for result in model["results"]:
        assert result["status"] in ("answered", "invalid"), result
        assert not any(f["unstructured"] for f in result["findings"]), result
