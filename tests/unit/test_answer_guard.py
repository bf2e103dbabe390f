"""A degenerate answer is cut off at once in every backend kind, and fails its attempt.

Each fake streams a loop that would go on for minutes; the answer guard's ``feed`` raises
:class:`DegenerateAnswer` from ``on_text``, and the backend must pass that exception on
unchanged (not swallowed, not turned into a transport error) and close its connection
(or kill its process).
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from localroute.backends.anthropic import AnthropicBackend
from localroute.backends.base import ChatRequest, DegenerateAnswer
from localroute.backends.command import CommandBackend
from localroute.backends.copilot import CopilotBackend
from localroute.backends.ollama import OllamaBackend
from localroute.backends.openai import OpenAIBackend
from localroute.config.models import Config, TaskConfig, backend_config
from localroute.identity import identify
from localroute.pipeline import Document, Pipeline, RequestFailed, TaskRequest
from localroute.tasks.findings import Prompt
from localroute.tasks.guard import AnswerGuard
from localroute.tasks.review import FINDINGS_SCHEMA
from tests.fakes.anthropic_fake import FAKE_KEY, FakeAnthropic
from tests.fakes.copilot_fake import OAUTH_TOKEN, FakeCopilot
from tests.fakes.ollama_fake import FakeOllama
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cleared import chat_request as cleared_request

LOOP = "The ratio is the score divided by the total. " * 40_000  # ~1.8 MB, minutes at 1 ms/piece
HANG_GUARD_S = 60  # a stream that is not cut off would run for minutes
PROMPT = Prompt(system="You explain code.", user="Explain `average_ratio`.", json_schema=None)


def chat_request(model: str = "coder", schema: bool = False) -> ChatRequest:
    return cleared_request(
        model=model,
        system=PROMPT.system,
        user=PROMPT.user,
        json_schema=FINDINGS_SCHEMA if schema else None,
    )


class Recorder:
    """``on_text`` for a backend: the guard's feed, counting what arrived."""

    def __init__(self, backend: str) -> None:
        self.guard = AnswerGuard(PROMPT, backend)
        self.received = 0

    def __call__(self, piece: str) -> None:
        self.received += len(piece)
        self.guard.feed(piece)


async def cut_off(backend: Any, request: ChatRequest) -> tuple[DegenerateAnswer, Recorder]:
    on_text = Recorder(backend.name)
    with pytest.raises(DegenerateAnswer) as caught:
        async with asyncio.timeout(HANG_GUARD_S):
            await backend.chat(request, on_text)
    assert type(caught.value) is DegenerateAnswer
    assert caught.value.backend == backend.name
    assert str(caught.value) == f"{backend.name}: gave no usable answer (repetition)"
    # Stopped within the first few repetitions, not at the end of the stream.
    assert on_text.received < 20_000
    return caught.value, on_text


async def test_openai_backend_stops_reading_and_closes_the_connection() -> None:
    with FakeOpenAI(answer=LOOP, chunk_size=16, chunk_delay_s=0.001) as fake:
        config = backend_config(kind="openai", url=fake.url)
        backend = OpenAIBackend("local", config, "local")
        try:
            await cut_off(backend, chat_request(schema=True))
            assert fake.wait_for(lambda: fake.disconnects == 1, 5.0)
            assert fake.in_flight == 0
            # Not taken for a rejected structured-output form: one request, one form.
            assert len(fake.chat_requests) == 1
        finally:
            await backend.aclose()


async def test_ollama_backend_stops_reading_and_closes_the_connection() -> None:
    with FakeOllama(answer=LOOP, chunk_size=16, line_delay_s=0.001) as fake:
        config = backend_config(kind="ollama", url=fake.url)
        backend = OllamaBackend("homelab", config, "private-network")
        try:
            await cut_off(backend, chat_request(schema=True))
            assert fake.wait_for(lambda: fake.disconnects == 1, 5.0)
            assert backend.schema_format  # not mistaken for a refused schema
        finally:
            await backend.aclose()


async def test_anthropic_backend_stops_reading_and_closes_the_connection() -> None:
    with FakeAnthropic(answer=LOOP, chunk_size=16, chunk_delay_s=0.001) as fake:
        config = backend_config(kind="anthropic", url=fake.url)
        backend = AnthropicBackend("claude", config, "cloud", env={"ANTHROPIC_API_KEY": FAKE_KEY})
        try:
            await cut_off(backend, chat_request("claude-haiku-4-5"))
            assert fake.wait_for(lambda: fake.disconnects == 1, 5.0)
        finally:
            await backend.aclose()


async def test_copilot_backend_stops_reading_and_closes_the_connection(
    copilot_env: dict[str, str],
) -> None:
    with FakeCopilot(answer=LOOP, chunk_delay_s=0.001) as fake:
        config = backend_config(kind="copilot", token_url=fake.token_url)
        backend = CopilotBackend("copilot", config, "cloud", env=copilot_env)
        try:
            error, _ = await cut_off(backend, chat_request("claude-haiku-4.5"))
            assert OAUTH_TOKEN not in str(error)
            assert fake.wait_for(lambda: fake.disconnects == 1, 5.0)
        finally:
            await backend.aclose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_command_backend_kills_the_cli(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        while True:
            sys.stdout.write("The ratio is the score divided by the total. ")
            sys.stdout.flush()
            time.sleep(0.001)
        """
    )
    config = backend_config(kind="command", argv=[sys.executable, "-c", script])
    backend = CommandBackend("cli", config, "cloud")
    try:
        await cut_off(backend, chat_request())
        pid = int(pid_file.read_text())
        assert not _alive(pid)
        assert not backend._running
    finally:
        await backend.aclose()


# --- through the pipeline --------------------------------------------------------------------

SAMPLE = """\
def average_ratio(scores, totals):
    result = 0
    for i in range(len(scores)):
        result += scores[i] / totals[i]
    return result / len(scores)
"""


def pipeline_for(
    fakes: dict[str, FakeOpenAI], route: list[str], explain_max_tokens: int | None = None
) -> Pipeline:
    return Pipeline(
        Config(
            backends={n: backend_config(kind="openai", url=f.url) for n, f in fakes.items()},
            tasks={
                "explain": TaskConfig(route=route, max_tokens=explain_max_tokens),
                "review": TaskConfig(route=route),
            },
        )
    )


def explain_request(pipeline: Pipeline, task: str = "explain") -> TaskRequest:
    document = Document(identify("file:///w/s.py"), SAMPLE)
    return TaskRequest(task=task, document=pipeline.classify(document))


async def test_a_looping_candidate_fails_and_the_next_one_answers() -> None:
    good = "It averages the ratios; an empty list divides by zero."
    with (
        FakeOpenAI(answer=LOOP, chunk_size=16, chunk_delay_s=0.001) as looping,
        FakeOpenAI(answer=good) as other,
    ):
        pipeline = pipeline_for({"local": looping, "homelab": other}, ["local:coder", "homelab:m"])
        try:
            async with asyncio.timeout(HANG_GUARD_S):
                outcome = await pipeline.run(explain_request(pipeline))
        finally:
            await pipeline.aclose()
    assert outcome.backend == "homelab"
    assert outcome.markdown is not None and outcome.markdown.startswith(good)
    assert outcome.attempts == ("local:coder: gave no usable answer (repetition)",)
    # A degenerate answer says nothing about the backend's health.
    assert pipeline.health.state("local") != "down"


async def test_with_no_other_candidate_the_request_fails_with_the_reason() -> None:
    with FakeOpenAI(answer=LOOP, chunk_size=16, chunk_delay_s=0.001) as looping:
        pipeline = pipeline_for({"local": looping}, ["local:coder"])
        try:
            with pytest.raises(RequestFailed, match=r"local:coder: gave no usable answer"):
                async with asyncio.timeout(HANG_GUARD_S):
                    await pipeline.run(explain_request(pipeline))
        finally:
            await pipeline.aclose()


@pytest.mark.parametrize(
    ("task", "answer", "reason"),
    [
        ("explain", "```python\n" + SAMPLE + "```\nThis is it.", "prompt echo"),
        ("review", '{"findings": [' + " " * 5000, "whitespace"),
    ],
)
async def test_echoes_and_blank_streams_fail_too(task: str, answer: str, reason: str) -> None:
    with FakeOpenAI(answer=answer) as fake:
        pipeline = pipeline_for({"local": fake}, ["local:coder"])
        try:
            with pytest.raises(RequestFailed, match=rf"gave no usable answer \({reason}\)"):
                await pipeline.run(explain_request(pipeline, task))
        finally:
            await pipeline.aclose()


@pytest.mark.parametrize("max_tokens", [None, 300])
async def test_explanations_get_a_default_answer_budget(max_tokens: int | None) -> None:
    with FakeOpenAI(answer="It averages ratios.") as fake:
        pipeline = pipeline_for({"local": fake}, ["local:coder"], max_tokens)
        try:
            await pipeline.run(explain_request(pipeline))
            await pipeline.run(explain_request(pipeline, "review"))
        finally:
            await pipeline.aclose()
    explain, review = (r.json["max_tokens"] for r in fake.chat_requests)
    assert explain == (max_tokens or 512)
    assert review == 1024


def test_pieces_are_judged_together_and_none_is_left_unjudged() -> None:
    """The guard judges the streamed pieces a batch at a time: a loop is stopped within
    a batch of where the detector sees it, and what is held when the answer ends is
    judged by ``finish``."""
    from localroute.tasks.degenerate import MAX_BLANK_CHARS, DegenerateDetector
    from localroute.tasks.guard import BATCH_CHARS

    pieces = [piece + " " for piece in LOOP[:20_000].split(" ")]
    detector, seen = DegenerateDetector(f"{PROMPT.system}\n{PROMPT.user}"), 0
    for piece in pieces:  # where the detector alone, fed piece by piece, stops the loop
        seen += len(piece)
        if detector.feed(piece) is not None:
            break
    guard, fed = AnswerGuard(PROMPT, "local"), 0
    with pytest.raises(DegenerateAnswer, match="repetition"):
        for piece in pieces:
            fed += len(piece)
            guard.feed(piece)
    assert seen <= fed < seen + BATCH_CHARS + max(len(p) for p in pieces)

    blank = AnswerGuard(PROMPT, "local")
    third = " " * (MAX_BLANK_CHARS // 3 + 1)
    assert 2 * len(third) >= BATCH_CHARS > len(third) and 2 * len(third) < MAX_BLANK_CHARS
    for _ in range(3):  # the third piece is held (less than a batch) when the answer ends
        blank.feed(third)
    with pytest.raises(DegenerateAnswer, match="whitespace"):
        blank.finish(third * 3)
