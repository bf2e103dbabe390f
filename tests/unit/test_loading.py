"""A model that loads is not a model that is down: the backends wait for it, say so through
``on_status``, and still close the connection at once on cancel (real loopback fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from localroute.backends.base import LOADING, ChatRequest
from localroute.backends.ollama import OllamaBackend
from localroute.backends.openai import OpenAIBackend
from localroute.config.models import backend_config
from tests.fakes.ollama_fake import FakeOllama
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cleared import chat_request

pytestmark = pytest.mark.timeout(30)

ANSWER = '{"findings": []}'


def request() -> ChatRequest:
    return chat_request(model="coder", system="You review code.", user="x = 1")


class Statuses(list[str]):
    """What ``on_status`` was told, and when the first word came."""

    def __init__(self) -> None:
        super().__init__()
        self.said = asyncio.Event()

    def __call__(self, state: str) -> None:
        self.append(state)
        self.said.set()


@pytest.fixture
def swap() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(answer=ANSWER, load_s=3.0) as fake:
        yield fake


@pytest.fixture
async def openai(swap: FakeOpenAI) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("local", backend_config(kind="openai", url=swap.url), "local")
    yield backend
    await backend.aclose()


async def test_llama_swap_loading_chunks_say_loading_at_once(
    swap: FakeOpenAI, openai: OpenAIBackend
) -> None:
    swap.send_loading_state = True
    statuses = Statuses()
    task = asyncio.create_task(openai.chat(request(), on_status=statuses))
    await asyncio.wait_for(statuses.said.wait(), 2.5)  # long before the model is loaded
    assert not task.done()
    result = await task
    assert statuses == [LOADING]
    assert result.text == ANSWER  # none of the loading text
    assert swap.loads == 1
    assert not [r for r in swap.requests if r.path == "/running"]  # the stream said it


async def test_llama_swap_running_says_starting(swap: FakeOpenAI, openai: OpenAIBackend) -> None:
    statuses = Statuses()
    result = await openai.chat(request(), on_status=statuses)
    assert result.text == ANSWER
    assert statuses == [LOADING]
    assert [r.path for r in swap.requests if r.path == "/running"] == ["/running"]


async def test_a_slow_model_that_is_loaded_is_not_loading() -> None:
    with FakeOpenAI(answer=ANSWER, latency_s=2.5) as slow:
        backend = OpenAIBackend("local", backend_config(kind="openai", url=slow.url), "local")
        try:
            statuses = Statuses()
            assert (await backend.chat(request(), on_status=statuses)).text == ANSWER
        finally:
            await backend.aclose()
    assert statuses == []
    assert any(r.path == "/running" for r in slow.requests)  # it was asked, and said ready


async def test_no_status_wanted_no_question_asked(swap: FakeOpenAI, openai: OpenAIBackend) -> None:
    assert (await openai.chat(request())).text == ANSWER
    assert not [r for r in swap.requests if r.path == "/running"]


async def test_a_failing_status_callback_does_not_fail_the_request(
    swap: FakeOpenAI, openai: OpenAIBackend
) -> None:
    swap.send_loading_state = True

    def broken(state: str) -> None:
        raise RuntimeError("the editor went away")

    assert (await openai.chat(request(), on_status=broken)).text == ANSWER


@pytest.mark.parametrize("loading_state", [True, False])
async def test_cancel_while_the_model_loads_closes_the_connection_at_once(
    loading_state: bool, swap: FakeOpenAI, openai: OpenAIBackend
) -> None:
    swap.load_s = 20.0
    swap.send_loading_state = loading_state
    statuses = Statuses()
    task = asyncio.create_task(openai.chat(request(), on_status=statuses))
    await asyncio.wait_for(statuses.said.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(swap.wait_for, lambda: swap.disconnects == 1, 2.0)
    assert swap.model_state() == "starting"  # the server goes on loading; we left at once


# -- Ollama -------------------------------------------------------------------------------------


@pytest.mark.parametrize("holds", [False, True])
async def test_ollama_loading_on_demand(holds: bool) -> None:
    with FakeOllama(answer=ANSWER, load_s=4.0, ps_holds_while_loading=holds) as fake:
        config = backend_config(kind="ollama", url=fake.url)
        backend = OllamaBackend("homelab", config, "local")
        try:
            statuses = Statuses()
            task = asyncio.create_task(backend.chat(request(), on_status=statuses))
            await asyncio.wait_for(statuses.said.wait(), 3.9)
            assert not task.done()
            assert (await task).text == ANSWER
            # Loaded now: the next slow answer is no load.
            fake.latency_s = 2.5
            again = Statuses()
            assert (await backend.chat(request(), on_status=again)).text == ANSWER
        finally:
            await backend.aclose()
    assert statuses == [LOADING]
    assert again == []
    assert [r.path for r in fake.requests].count("/api/ps") == 2


async def test_an_answer_that_starts_in_time_never_asks_and_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import localroute.backends.loading as loading

    monkeypatch.setattr(loading, "FIRST_CHECK_S", 0.05)
    asked: list[str] = []

    async def check() -> bool:
        asked.append("asked")
        return True

    statuses = Statuses()
    before = len(asyncio.all_tasks())
    watch = loading.LoadingWatch(statuses, check)
    async with watch.watching():
        on_text = watch.text(None)
        assert on_text is not None
        on_text("first words")
        assert len(asyncio.all_tasks()) == before  # a timer stood by, no task
    await asyncio.sleep(0.2)
    assert asked == [] and statuses == []

    # No text in time: the server is asked, once, and says it is loading.
    slow = loading.LoadingWatch(statuses, check)
    async with slow.watching():
        await asyncio.wait_for(statuses.said.wait(), 5)
    assert asked == ["asked"] and statuses == [LOADING]
