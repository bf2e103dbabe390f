"""A slot freed by an answer goes to the waiting request first: it is written before the
answer's own work is done (localroute/backends/sent.py), and the wait is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from localroute.backends import sent
from localroute.backends.base import ChatRequest, ChatResult, TextCallback
from localroute.backends.openai import OpenAIBackend
from localroute.config.models import (
    CacheConfig,
    Config,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.identity import identify
from localroute.pipeline import Document, Pipeline, TaskRequest
from localroute.policy import PolicyStore
from tests.fakes.openai_fake import BlackHole, FakeOpenAI
from tests.support.backends import FakeBackend, install_fakes
from tests.support.cleared import short_request
from tests.unit.conftest import Closing

pytestmark = pytest.mark.timeout(15)


# -- the count ----------------------------------------------------------------------------------


async def test_out_returns_at_once_when_nothing_is_being_sent() -> None:
    sends = sent.SendsInFlight()
    done = sends.started()
    done()
    done()  # a second call changes nothing
    assert sends.sending == 0
    await asyncio.wait_for(sends.out(limit_s=10.0), timeout=1.0)


async def test_out_waits_for_the_requests_being_sent() -> None:
    sends = sent.SendsInFlight()
    first, second = sends.started(), sends.started()
    waiting = asyncio.ensure_future(sends.out(limit_s=10.0))
    await asyncio.sleep(0.01)
    first()
    await asyncio.sleep(0.01)
    assert not waiting.done()  # one is still being written
    second()
    await asyncio.wait_for(waiting, timeout=1.0)


async def test_out_gives_up_after_its_limit() -> None:
    sends = sent.SendsInFlight()
    sends.started()  # never written
    await asyncio.wait_for(sends.out(limit_s=0.02), timeout=1.0)
    assert sends.sending == 1


async def test_nobody_watches_a_backend_called_directly() -> None:
    assert sent.request_starting() is None
    sends = sent.SendsInFlight()
    with sent.watching(sends):
        done = sent.request_starting()
    assert done is not None and sends.sending == 1
    assert sent.request_starting() is None  # only within the block


# -- the HTTP backends say when the request is written -------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def openai(closing: Closing, url: str) -> OpenAIBackend:
    return closing(OpenAIBackend("local", backend_config(kind="openai", url=url), "local"))


async def test_an_http_request_counts_as_sent_once_written_not_once_answered(
    fake: FakeOpenAI, closing: Closing
) -> None:
    fake.latency_s = 1.0
    backend = openai(closing, fake.url)
    sends = sent.SendsInFlight()
    with sent.watching(sends):
        chat = asyncio.ensure_future(backend.chat(short_request("coder")))
    await asyncio.sleep(0)
    assert sends.sending == 1
    await asyncio.wait_for(sends.out(limit_s=10.0), timeout=0.8)  # long before the answer
    assert not chat.done()
    assert (await chat).text == fake.answer
    assert sends.sending == 0


async def test_an_http_request_that_cannot_connect_ends_its_sending(closing: Closing) -> None:
    with BlackHole() as hole:
        config = backend_config(kind="openai", url=hole.url, connect_timeout_s=0.1)
        backend = closing(OpenAIBackend("local", config, "local"))
        sends = sent.SendsInFlight()
        with sent.watching(sends):
            result = await asyncio.gather(
                backend.chat(short_request("coder")), return_exceptions=True
            )
    assert isinstance(result[0], Exception)
    assert sends.sending == 0


# -- the pool: the waiting request is written before the answer that freed its slot returns ------


class WritingBackend(FakeBackend):
    """A FakeBackend whose requests take ``write_s`` to write, and say so as HTTP does."""

    def __init__(self, *args: Any, log: list[str], write_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log = log
        self.write_s = write_s
        self.report_written = True
        self.writing = asyncio.Event()

    async def chat(
        self, request: ChatRequest, on_text: TextCallback | None = None, **kwargs: object
    ) -> ChatResult:
        label = request.user.split("value_", 1)[1][0]
        done = sent.request_starting()
        self.log.append(f"{label} writing")
        self.writing.set()
        await asyncio.sleep(self.write_s)
        if done is not None and self.report_written:
            done()
        self.log.append(f"{label} written")
        return await super().chat(request, on_text, **kwargs)


def one_slot_pipeline(
    monkeypatch: pytest.MonkeyPatch, log: list[str], write_s: float
) -> tuple[Pipeline, WritingBackend]:
    config = Config(
        backends={
            "local": backend_config(
                kind="openai", url="http://127.0.0.1:8080/v1", max_concurrency=1
            )
        },
        tasks={"review": TaskConfig(route=["local:coder"])},
        privacy=PrivacyConfig(),
        cache=CacheConfig(max_entries=0),
    )
    pipeline = Pipeline(PolicyStore(fixed=config, workspace_folders=["/ws"]))
    backend = WritingBackend("local", config.backends["local"], "local", log=log, write_s=write_s)
    install_fakes(monkeypatch, {"local": backend})
    return pipeline, backend


async def review(pipeline: Pipeline, label: str, log: list[str]) -> None:
    document = Document(identify(f"/ws/src/{label}.py"), f"value_{label} = 1\n", "python")
    await pipeline.run(TaskRequest("review", pipeline.classify(document)))
    log.append(f"{label} answered")


async def test_the_waiting_request_is_written_before_the_answer_that_freed_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sent, "WAIT_MAX_S", 10.0)  # however slow the machine
    log: list[str] = []
    pipeline, _ = one_slot_pipeline(monkeypatch, log, write_s=0.02)
    try:
        await asyncio.gather(review(pipeline, "a", log), review(pipeline, "b", log))
    finally:
        await pipeline.aclose()
    assert log[:4] == ["a writing", "a written", "b writing", "b written"]
    # a's slot went to b, and b went out before a's answer was parsed, stored and returned
    assert sorted(log[4:]) == ["a answered", "b answered"]


async def test_a_request_that_never_says_it_was_written_holds_back_no_answer_for_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []
    pipeline, backend = one_slot_pipeline(monkeypatch, log, write_s=0.0)
    try:
        first = asyncio.ensure_future(review(pipeline, "a", log))
        await asyncio.sleep(0)
        backend.write_s = 5.0  # b "writes" for 5 s ...
        backend.report_written = False  # ... and never says it is done
        second = asyncio.ensure_future(review(pipeline, "b", log))
        await asyncio.wait_for(first, timeout=2.0)  # a's answer waited at most WAIT_MAX_S
        assert log == ["a writing", "a written", "b writing", "a answered"]
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
    finally:
        await pipeline.aclose()


class RecordingAudit:
    def __init__(self) -> None:
        self.entries: list[Any] = []

    def record(self, entry: Any) -> None:
        self.entries.append(entry)

    def close(self) -> None:
        pass


async def test_an_answer_cancelled_while_it_lets_others_go_first_is_in_the_audit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sent, "WAIT_MAX_S", 10.0)  # a is still waiting when cancelled
    log: list[str] = []
    pipeline, backend = one_slot_pipeline(monkeypatch, log, write_s=0.0)
    audit = RecordingAudit()
    pipeline.audit = audit  # type: ignore[assignment]
    try:
        first = asyncio.ensure_future(review(pipeline, "a", log))
        await asyncio.sleep(0)
        backend.write_s = 5.0  # b takes a's slot and stays being written ...
        backend.report_written = False
        backend.writing = asyncio.Event()
        second = asyncio.ensure_future(review(pipeline, "b", log))
        await asyncio.wait_for(backend.writing.wait(), timeout=1.0)
        assert log[-1] == "b writing"
        first.cancel()  # ... while a waits for it: a's answer was in, and sent
        await asyncio.gather(first, return_exceptions=True)
        assert first.cancelled()
        assert [(e.file, e.outcome, e.bytes_sent > 0) for e in audit.entries] == [
            ("/ws/src/a.py", "ok", True)
        ]
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
    finally:
        await pipeline.aclose()
