"""Cancelling a backend's chat while a loopback fake answers it, as a user's editor does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from tests.fakes.server import LoopbackFake


async def cancel_mid_stream(chat: Coroutine[Any, Any, Any], fake: LoopbackFake) -> float:
    """Run ``chat`` until ``fake`` has streamed a first piece of the answer, then cancel it;
    the cancellation must propagate. The seconds the cancelled chat took to end."""
    task = asyncio.create_task(chat)
    assert await asyncio.to_thread(fake.stream_started.wait, 5)
    await asyncio.sleep(0.05)
    task.cancel()
    began = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    return time.monotonic() - began


async def cancel_before_the_answer(chat: Coroutine[Any, Any, Any], fake: LoopbackFake) -> None:
    """Run ``chat`` until ``fake`` is answering it (before a first byte), then cancel it;
    the cancellation must propagate."""
    task = asyncio.create_task(chat)
    assert await asyncio.to_thread(fake.wait_for, lambda: fake.in_flight == 1, 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def eventually(fake: LoopbackFake, predicate: Any, timeout_s: float = 2.0) -> bool:
    """Whether ``predicate`` comes to hold within ``timeout_s`` (polled off the event loop,
    so the fake's threads and the client's tasks both go on)."""
    return await asyncio.to_thread(fake.wait_for, predicate, timeout_s)
