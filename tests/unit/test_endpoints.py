"""A backend with several endpoints (`urls`): the real pipeline and backends against several
loopback fakes, a fault proxy in front of some of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import localroute.routing.endpoints as endpoints_module
from localroute.audit import AuditLog
from localroute.config.locality import (
    check_endpoints,
    effective_locality,
    endpoint_localities,
    locality_of_url,
)
from localroute.config.models import LOCALITY_ORDER, Config, backend_config
from localroute.identity import identify
from localroute.pipeline import Document, Pipeline, RequestFailed, RequestRefused, TaskRequest
from localroute.policy import PolicyStore
from localroute.status import status_report
from tests.fakes.openai_fake import FakeOpenAI, closed_port
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.timeout(30)

CODE = "def divide(a, b):\n    return a / b\n"


def findings(message: str) -> str:
    return json.dumps({"findings": [{"line": 1, "severity": "info", "message": message}]})


@pytest.fixture
def fakes() -> Iterator[list[FakeOpenAI]]:
    servers = [FakeOpenAI(answer=findings(f"from fake {i}")).start() for i in range(3)]
    yield servers
    for server in servers:
        server.close()


Make = Callable[..., Pipeline]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    made: list[Pipeline] = []

    def _make(urls: list[str], *, fallback: str | None = None, **gpu: Any) -> Pipeline:
        backends = {"gpu": backend_config(kind="openai", urls=urls, **gpu)}
        route = ["gpu:coder"]
        if fallback is not None:
            backends["spare"] = backend_config(kind="openai", url=fallback)
            route.append("spare:coder")
        config = Config.model_validate(
            {
                "backends": backends,
                "tasks": {"review": {"route": route}},
                "cache": {"max_entries": 0},
            }
        )
        store = PolicyStore(fixed=config, workspace_folders=[str(tmp_path)])
        pipeline = Pipeline(store, audit=AuditLog(tmp_path / "audit.jsonl"))
        made.append(pipeline)
        return pipeline

    yield _make
    for pipeline in made:
        await pipeline.aclose()


def review(pipeline: Pipeline, tmp_path: Path, name: str = "calc.py", text: str = CODE) -> Any:
    document = Document(identify((tmp_path / name).as_uri()), text, "python")
    request = TaskRequest(task="review", document=pipeline.classify(document))
    return pipeline.run(request)


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- spreading the load -------------------------------------------------------------------------


async def test_requests_go_to_the_endpoint_with_the_fewest_in_flight(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    for fake in fakes:
        fake.latency_s = 0.5
    pipeline = make([f.url for f in fakes], max_concurrency=2)
    outcomes = await asyncio.gather(
        *(review(pipeline, tmp_path, f"f{i}.py", f"X = {i}\n") for i in range(6))
    )
    assert {o.backend for o in outcomes} == {"gpu"}
    # Six at once on three endpoints of two slots each: two each, never more.
    assert [len(f.chat_requests) for f in fakes] == [2, 2, 2]
    assert [f.max_in_flight for f in fakes] == [2, 2, 2]


async def test_one_after_the_other_they_take_turns(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    pipeline = make([f.url for f in fakes])
    for i in range(6):
        await review(pipeline, tmp_path, f"f{i}.py", f"X = {i}\n")
    assert [len(f.chat_requests) for f in fakes] == [2, 2, 2]


async def test_past_every_slot_requests_wait_then_run(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    two = fakes[:2]
    for fake in two:
        fake.latency_s = 0.3
    pipeline = make([f.url for f in two], max_concurrency=1)
    outcomes = await asyncio.gather(
        *(review(pipeline, tmp_path, f"f{i}.py", f"X = {i}\n") for i in range(5))
    )
    assert len(outcomes) == 5
    assert [f.max_in_flight for f in two] == [1, 1]
    assert sum(len(f.chat_requests) for f in two) == 5


# -- endpoints that fail ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_a_dead_endpoint_costs_nothing_after_the_first_failure(
    mode: str, fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    dead_fake, alive = fakes[0], fakes[1]
    with FaultProxy(dead_fake.port, mode) as dead:
        pipeline = make([f"{dead.root}/v1", alive.url], connect_timeout_s=0.3)
        first = await review(pipeline, tmp_path, "a.py", "A = 1\n")
        assert first.backend == "gpu"
        assert first.findings[0].message == "from fake 1"
        assert pipeline.health.endpoint_state("gpu", f"{dead.root}/v1") == "down"
        assert pipeline.health.state("gpu") == "up"
        # The dead endpoint comes back to life, but nothing knows it yet: the next request
        # does not even try it (the proxy would count a connection).
        dead.set_mode("pass")
        second = await review(pipeline, tmp_path, "b.py", "B = 2\n")
        assert second.findings[0].message == "from fake 1"
        assert dead.connections == 0
    assert dead_fake.chat_requests == []
    assert len(alive.chat_requests) == 2
    outcomes = [e["outcome"] for e in audit(tmp_path)]
    assert outcomes[0].startswith("unavailable: http://127.0.0.1:")
    assert outcomes[1:] == ["ok", "ok"]


@pytest.mark.parametrize("fault", ["reset_mid_stream", "http_500"])
async def test_a_failure_mid_run_is_retried_on_a_sibling(
    fault: str, fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    failing, sibling = fakes[0], fakes[1]
    failing.chunk_size = 4
    failing.chunk_delay_s = 0.05
    if fault == "http_500":
        failing.error = (500, '{"error": {"message": "slot crashed"}}', "application/json", {})
    with FaultProxy(failing.port) as proxy:
        if fault == "reset_mid_stream":
            proxy.set_mode("reset_mid_stream", body_bytes=150)
        pipeline = make([f"{proxy.root}/v1", sibling.url])
        outcome = await review(pipeline, tmp_path)
        assert outcome.backend == "gpu"
        # The sibling's answer only: nothing of the first try is lost into it or repeated.
        assert [f.message for f in outcome.findings] == ["from fake 1"]
        assert outcome.attempts == ()
        assert outcome.sent_to == ("gpu",)
        assert pipeline.health.endpoint_state("gpu", f"{proxy.root}/v1") == "down"
        assert pipeline.health.endpoint_state("gpu", sibling.url) == "up"
    assert len(failing.chat_requests) == 1
    assert len(sibling.chat_requests) == 1
    entries = audit(tmp_path)
    assert [e["outcome"].split(":")[0] for e in entries] == ["unavailable", "ok"]
    assert all(e["backend"] == "gpu" for e in entries)
    assert entries[0]["bytes_sent"] > 0  # the failed try did receive the prompt


async def test_when_every_endpoint_fails_the_next_candidate_answers(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    spare = fakes[2]
    urls = [f"http://127.0.0.1:{closed_port()}/v1", f"http://127.0.0.1:{closed_port()}/v1"]
    pipeline = make(urls, fallback=spare.url)
    outcome = await review(pipeline, tmp_path)
    assert outcome.backend == "spare"
    assert len(outcome.attempts) == 1
    assert outcome.attempts[0].startswith("gpu:coder: every endpoint failed: ")
    assert outcome.attempts[0].count("connection refused") == 2
    assert outcome.sent_to == ("spare",)  # a refused connection received nothing
    assert pipeline.health.state("gpu") == "down"


async def test_a_busy_endpoint_hands_the_request_to_a_sibling(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    busy, sibling = fakes[0], fakes[1]
    busy.error = (429, "Too many requests", "text/plain", {"Retry-After": "1"})
    pipeline = make([busy.url, sibling.url])
    outcome = await review(pipeline, tmp_path)
    assert outcome.findings[0].message == "from fake 1"
    # Busy is not down: the endpoint stays in use.
    assert pipeline.health.endpoint_state("gpu", busy.url) != "down"


# -- status -------------------------------------------------------------------------------------


async def test_status_shows_each_endpoint(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    dead = f"http://user:secret@127.0.0.1:{closed_port()}/v1"
    pipeline = make([fakes[0].url, dead])
    report = await status_report(pipeline)
    (gpu,) = report["backends"]
    assert gpu["up"] is True
    assert gpu["locality"] == "local"
    endpoints = gpu["endpoints"]
    assert [e["state"] for e in endpoints] == ["up", "down"]
    assert endpoints[0]["url"] == fakes[0].url
    assert "secret" not in json.dumps(report)  # a password in a URL is never shown
    assert endpoints[1]["detail"] == "connection refused"
    assert all(e["locality"] == "local" and e["in_flight"] == 0 for e in endpoints)
    assert "1 of 2 endpoints up" in gpu["detail"]


# -- privacy: a request cleared for a backend may go to any of its endpoints -------------------


@pytest.mark.parametrize(
    "urls",
    [
        ["http://127.0.0.1:8080/v1"],
        ["http://127.0.0.1:8080/v1", "http://192.168.1.5:8080/v1"],
        ["http://127.0.0.1:8080/v1", "https://gpu.example.com/v1"],
        ["http://10.0.0.2:8080/v1", "http://gpu.lan:8080/v1", "unix:/run/llama.sock"],
        ["https://api.example.com/v1", "http://[::1]:8080/v1"],
    ],
)
@pytest.mark.parametrize("locality", [None, "local", "private-network", "cloud"])
def test_no_endpoint_is_more_public_than_its_backend(urls: list[str], locality: str | None) -> None:
    config = backend_config(kind="openai", urls=urls, locality=locality)
    backend = effective_locality(config)
    mine = endpoint_localities(config)
    assert set(mine) == set(urls)
    assert all(LOCALITY_ORDER[own] <= LOCALITY_ORDER[backend] for own in mine.values())
    check_endpoints("gpu", backend, mine)  # raises otherwise
    if locality is None:  # derived: the least private of the URLs, never guessed upward
        assert backend == max(map(locality_of_url, urls), key=LOCALITY_ORDER.__getitem__)


def test_an_endpoint_more_public_than_its_backend_is_refused() -> None:
    with pytest.raises(ValueError, match=r"is local but its endpoint .* is cloud: not used") as e:
        check_endpoints("gpu", "local", {"https://u:p@gpu.example.com/v1": "cloud"})
    assert "u:p@" not in str(e.value)


async def test_a_backend_with_one_cloud_url_is_cloud_and_private_code_never_goes_there(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path
) -> None:
    pipeline = make([fakes[0].url, "https://gpu.example.com/v1"])
    assert pipeline.localities()["gpu"] == "cloud"
    with pytest.raises(RequestRefused):
        await review(pipeline, tmp_path, ".env", "API_TOKEN=abc\n")
    assert fakes[0].requests == []  # not even the loopback endpoint


async def test_private_network_endpoints_follow_the_private_network_rule(
    fakes: list[FakeOpenAI], tmp_path: Path
) -> None:
    config = Config.model_validate(
        {
            "backends": {
                "gpu": {"kind": "openai", "urls": [fakes[0].url, "http://192.168.1.5:1/v1"]}
            },
            "tasks": {"review": {"route": ["gpu:coder"]}},
            "privacy": {"allow_private_network": False},
        }
    )
    pipeline = Pipeline(PolicyStore(fixed=config, workspace_folders=[str(tmp_path)]))
    try:
        assert pipeline.localities()["gpu"] == "private-network"
        with pytest.raises(RequestRefused):
            await review(pipeline, tmp_path, ".env", "API_TOKEN=abc\n")
    finally:
        await pipeline.aclose()
    assert fakes[0].requests == []


async def test_an_endpoint_that_would_break_the_rule_is_never_used(
    fakes: list[FakeOpenAI], make: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: were an endpoint ever found more public than its backend, the
    backend's clearance would not cover it, and it is not used."""
    near, far = fakes[0], fakes[1]

    def wrong(config: Any) -> dict[str, Any]:
        return {near.url: "local", far.url: "cloud"}

    monkeypatch.setattr(endpoints_module, "endpoint_localities", wrong)
    pipeline = make([far.url, near.url])
    assert pipeline.localities()["gpu"] == "local"
    for i in range(3):
        outcome = await review(pipeline, tmp_path, f"f{i}.py", f"X = {i}\n")
        assert outcome.findings[0].message == "from fake 0"
    assert far.requests == []
    probe = await pipeline.pool.probe("gpu")
    assert "is local but its endpoint" in probe.endpoints[far.url].detail


async def test_a_request_that_no_endpoint_answers_says_so(make: Make, tmp_path: Path) -> None:
    pipeline = make(
        [f"http://127.0.0.1:{closed_port()}/v1", f"http://127.0.0.1:{closed_port()}/v1"]
    )
    with pytest.raises(RequestFailed, match="every endpoint failed"):
        await review(pipeline, tmp_path)
