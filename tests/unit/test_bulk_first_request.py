"""A bulk review sends its first request as soon as its first file is classified, not
after every worker has read and classified a file of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localroute.backends.base import ChatRequest, ChatResult
from localroute.bulk.runner import review_files
from localroute.config.models import Config, TaskConfig, backend_config
from localroute.pipeline import Document, Pipeline
from localroute.policy import PolicyStore
from localroute.requests import ClassifiedDocument
from tests.support.backends import FakeBackend, install_fakes

FINDING = '{"findings": [{"line": 1, "severity": "info", "message": "seen"}]}'
FILES = 8


async def test_the_first_request_goes_out_before_the_other_files_are_classified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(
        backends={"local": backend_config(kind="openai", url="http://127.0.0.1:9/v1")},
        tasks={"review": TaskConfig(route=["local:coder"])},
    )
    pipeline = Pipeline(PolicyStore(fixed=config, workspace_folders=[str(tmp_path)]))
    classified: list[str] = []
    classify = pipeline.classify

    def counting(document: Document) -> ClassifiedDocument:
        done = classify(document)
        classified.append(document.identity.uri)
        return done

    monkeypatch.setattr(pipeline, "classify", counting)
    fake = FakeBackend("local", config.backends["local"], "local", default=FINDING)
    # When a request reaches the backend (where an HTTP backend writes it): how many files
    # had been classified by then.
    seen_at_chat: list[int] = []
    chat = fake.chat

    async def counting_chat(request: ChatRequest, *args: Any, **kwargs: Any) -> ChatResult:
        seen_at_chat.append(len(classified))
        return await chat(request, *args, **kwargs)

    monkeypatch.setattr(fake, "chat", counting_chat)
    install_fakes(monkeypatch, {"local": fake})
    files = []
    for i in range(FILES):
        path = tmp_path / f"m{i}.py"
        path.write_text(f"def f{i}():\n    return {i}\n")
        files.append(path)
    try:
        results = await review_files(pipeline, files, task="review", root=tmp_path, jobs=FILES)
    finally:
        await pipeline.aclose()
    assert sorted(r.path for r in results) == sorted(p.name for p in files)
    assert all(r.error is None and len(r.findings) == 1 for r in results)
    assert len(classified) == FILES
    assert seen_at_chat[0] == 1, seen_at_chat
