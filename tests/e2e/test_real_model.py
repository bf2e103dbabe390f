"""The embedded default for real: llama-cpp-python serving the GGUF model as `coder`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from localroute import embedded
from tests.e2e.conftest import range_json

pytestmark = pytest.mark.real_model

SAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "sample.py").read_text()


@pytest.fixture(scope="module")
def model_server() -> Iterator[embedded.EmbeddedServer]:
    server = embedded.start(n_ctx=2048)
    try:
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None


async def test_review_and_explain_with_the_real_local_model(
    start_session: Any, model_server: embedded.EmbeddedServer
) -> None:
    config = f"""
        [backends.local]
        kind = "openai"
        url = "{model_server.url}"
        timeout_s = 240
        [tasks.review]
        route = ["local:coder"]
        [tasks.explain]
        route = ["local:coder"]
        """
    async with start_session(config) as s:
        uri = s.open("sample.py", SAMPLE)
        selection = range_json(10, 14)
        review = await s.command("localroute.review", {"uri": uri, "range": selection})
        assert review["backend"] == "local"
        assert review["model"] == "coder"
        assert review["cached"] is False
        # The tiny model's review is poor but real: whatever it said landed in the range.
        for diagnostic in s.diagnostics(uri):
            assert 10 <= diagnostic.range.start.line <= 14
            assert diagnostic.message.strip()
            assert diagnostic.data["backend"] == "local"

        try:
            explain = await s.command("localroute.explain", {"uri": uri, "range": selection})
        except JsonRpcException as exc:
            # The tiny base model mostly pastes the prompt back: that is refused, never shown.
            assert "gave no usable answer" in str(exc)
            assert await s.hover(uri, 11) is None
            return
        assert explain["backend"] == "local"
        body = explain["markdown"].rsplit("\n\n", 1)[0]
        assert body.strip() and body.strip() != "(the model returned no text)"
        assert "say what the code does" not in body  # never the prompt echoed
        hover = await s.hover(uri, 11)
        assert hover is not None
        assert "coder @ local" in hover.contents.value  # type: ignore[union-attr]
