"""The request pipeline with in-memory fake backends (tests/support/backends.py): fallback,
privacy, cache, concurrency."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from localroute.backends.base import ChatRequest, ContextOverflow, ProbeResult
from localroute.config.models import (
    CacheConfig,
    Config,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.identity import identify
from localroute.pipeline import (
    Document,
    Pipeline,
    RequestFailed,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.policy import PolicyStore
from localroute.routing.router import Candidate
from localroute.tasks.findings import Finding
from tests.support.backends import Behaviour, FakeBackend, install_fakes, rejected, unavailable

LOCAL = "local:coder"
HOMELAB = "homelab:qwen3-coder:30b"
CLOUD = "copilot:claude-sonnet-4.5"
CLOUD_EXPLAIN = "copilot:claude-haiku-4.5"

AWS_KEY_ID = "AKIA" + "Q3T7WX2LPZK5N8RV"

TEN_LINES = "\n".join(f"line_{n} = {n}" for n in range(10)) + "\n"


# --- configuration and set-up ---------------------------------------------------------------


def make_config(
    *,
    review: list[str] | None = None,
    explain: list[str] | None = None,
    review_private: list[str] | None = None,
    allow_private_network: bool = True,
    max_concurrency: int = 2,
    cache_entries: int = 256,
) -> Config:
    return Config(
        backends={
            "local": backend_config(
                kind="openai", url="http://127.0.0.1:8080/v1", max_concurrency=max_concurrency
            ),
            "homelab": backend_config(kind="ollama", url="http://192.168.1.5:11434"),
            "copilot": backend_config(kind="copilot"),
        },
        tasks={
            "review": TaskConfig(
                route=review if review is not None else [LOCAL, CLOUD],
                route_private=review_private,
            ),
            "explain": TaskConfig(route=explain if explain is not None else [LOCAL, CLOUD_EXPLAIN]),
        },
        privacy=PrivacyConfig(allow_private_network=allow_private_network),
        cache=CacheConfig(max_entries=cache_entries),
    )


@dataclass
class Harness:
    pipeline: Pipeline
    fakes: dict[str, FakeBackend] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FakeBackend:
        return self.fakes[name]


Builder = Callable[..., Harness]


@pytest.fixture
async def build(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Builder]:
    """Build a pipeline whose backends are FakeBackends (one per configured backend)."""
    made: list[Pipeline] = []

    def _build(**config_kw: object) -> Harness:
        config = make_config(**config_kw)  # type: ignore[arg-type]
        harness = Harness(Pipeline(PolicyStore(fixed=config, workspace_folders=["/ws"])))
        CURRENT[:] = [harness.pipeline]
        for name, configured in config.backends.items():
            locality = harness.pipeline.localities()[name]
            harness.fakes[name] = FakeBackend(name, configured, locality)
        install_fakes(monkeypatch, harness.fakes)
        made.append(harness.pipeline)
        return harness

    yield _build
    for pipeline in made:
        await pipeline.aclose()


CURRENT: list[Pipeline] = []
"""The pipeline of the test's harness: requests are classified by it, as callers must."""


def request(
    *,
    task: str = "review",
    path: str | None = "/ws/src/app.py",
    text: str = TEN_LINES,
    start: int | None = None,
    end: int | None = None,
    refresh: bool = False,
) -> TaskRequest:
    uri = f"file://{path}" if path else "untitled:Untitled-1"
    document = Document(identify(uri), text, "python")
    return TaskRequest(
        task=task,
        document=CURRENT[0].classify(document),
        start_line=start,
        end_line=end,
        refresh=refresh,
    )


def findings_json(*findings: dict[str, object]) -> str:
    return json.dumps({"findings": list(findings)})


class RecordingObserver:
    def __init__(self) -> None:
        self.attempted: list[str] = []
        self.received_counts: list[int] = []

    def attempting(self, candidate: Candidate) -> None:
        self.attempted.append(candidate.entry)

    def received(self, characters: int) -> None:
        self.received_counts.append(characters)


# --- the happy path ------------------------------------------------------------------------


async def test_local_answers_with_findings_parsed_and_clamped_to_range(build: Builder) -> None:
    h = build()
    h["local"].default = findings_json(
        {"line": 4, "end_line": 9, "severity": "error", "message": "cut at range end"},
        {"line": 1, "severity": "warning", "message": "outside the range"},
        {"line": 2, "end_line": 4, "severity": "info", "message": "clamped start"},
    )
    outcome = await h.pipeline.run(request(start=2, end=4))

    assert outcome.backend == "local"
    assert outcome.model == "coder"
    assert outcome.locality == "local"
    assert outcome.cached is False
    assert (outcome.first_line, outcome.last_line) == (2, 4)
    assert outcome.findings == (
        Finding(3, 4, "error", "cut at range end"),
        Finding(2, 3, "info", "clamped start"),
    )
    assert outcome.markdown is None
    assert outcome.attempts == ()
    assert outcome.reason == "not private"
    assert h["copilot"].calls == 0
    assert h.pipeline.health.state("local") == "up"


async def test_local_receives_the_review_prompt_for_the_range_only(build: Builder) -> None:
    h = build()
    await h.pipeline.run(request(start=2, end=4))
    (sent,) = h["local"].requests
    assert sent.model == "coder"
    assert sent.json_schema is not None  # review asks for structured output
    assert "line_2 = 2" in sent.user and "line_4 = 4" in sent.user
    assert "line_1 = 1" not in sent.user and "line_5 = 5" not in sent.user
    # A prompt names the file relative to its project root, never the home directory.
    assert "src/app.py" in sent.user and "/ws/" not in sent.user


async def test_unparseable_review_answer_becomes_one_info_finding(build: Builder) -> None:
    h = build()
    h["local"].default = "The code looks fine to me."
    outcome = await h.pipeline.run(request(start=3, end=6))
    assert outcome.findings == (Finding(3, 3, "info", "The code looks fine to me."),)


async def test_observer_hears_attempts_and_received_characters(build: Builder) -> None:
    h = build()
    h["local"].script = [unavailable("local")]
    h["copilot"].default = "0123456789"
    observer = RecordingObserver()
    await h.pipeline.run(request(), observer)
    assert observer.attempted == [LOCAL, CLOUD]
    assert observer.received_counts == [5, 10]  # cumulative


# --- fallback ------------------------------------------------------------------------------


async def test_unavailable_local_is_marked_down_and_cloud_answers(build: Builder) -> None:
    h = build()
    h["local"].script = [unavailable("local", "connection refused")]
    h["copilot"].default = findings_json({"line": 1, "severity": "error", "message": "bug"})

    outcome = await h.pipeline.run(request())

    assert outcome.backend == "copilot"
    assert outcome.model == "claude-sonnet-4.5"
    assert outcome.locality == "cloud"
    assert outcome.findings == (Finding(0, 0, "error", "bug"),)
    assert "fell back after" in outcome.reason
    assert "local:coder: connection refused" in outcome.reason
    assert outcome.attempts == ("local:coder: connection refused",)
    assert h.pipeline.health.state("local") == "down"
    assert h.pipeline.health.health("local").detail == "connection refused"
    assert h.pipeline.health.state("copilot") == "up"
    assert h["local"].calls == 1


async def test_a_request_waits_out_a_probe_of_a_dead_host_that_set_up_slowly(
    build: Builder,
) -> None:
    """A probe to a black-holed local host ends after its set-up (first import, client) and
    its connect timeout; a request that arrives meanwhile takes its verdict to the end
    instead of connecting to the dead host itself, a second connect timeout."""
    h = build()
    connect_s = h.pipeline.config.backends["local"].connect_timeout_s
    h["local"].probe_result = ProbeResult(up=False, detail="connect timeout")
    h["local"].probe_delay = connect_s + 0.2
    h["copilot"].default = findings_json({"line": 1, "severity": "error", "message": "bug"})
    probing = asyncio.create_task(h.pipeline.health.probe("local"))
    await asyncio.sleep(0)  # the probe has begun; the request comes right after

    outcome = await h.pipeline.run(request())

    assert outcome.backend == "copilot"
    assert outcome.attempts == ("local:coder: down (connect timeout)",)
    assert h["local"].calls == 0
    await probing


async def test_a_request_right_after_the_health_watch_starts_joins_its_probe(
    build: Builder,
) -> None:
    """The server starts probing at `initialized`; a request handled at once (its message
    was read with `initialized`) joins that probe, even before the probe's task has run,
    instead of connecting to the dead host itself."""
    h = build()
    connect_s = h.pipeline.config.backends["local"].connect_timeout_s
    h["local"].probe_result = ProbeResult(up=False, detail="connect timeout")
    h["local"].probe_delay = connect_s
    h["copilot"].default = findings_json({"line": 1, "severity": "error", "message": "bug"})
    pipeline = h.pipeline
    pipeline.health.start(
        lambda: [n for n, where in pipeline.localities().items() if where != "cloud"]
    )

    outcome = await pipeline.run(request())

    assert outcome.backend == "copilot"
    assert outcome.attempts == ("local:coder: down (connect timeout)",)
    assert h["local"].calls == 0
    await pipeline.health.aclose()


async def test_next_run_skips_down_local_without_calling_it(build: Builder) -> None:
    h = build()
    h["local"].script = [unavailable("local", "connection refused")]
    await h.pipeline.run(request())
    assert h["local"].calls == 1

    outcome = await h.pipeline.run(request(text="other = 1\n"))
    assert h["local"].calls == 1  # not even tried
    assert h["copilot"].calls == 2
    assert outcome.backend == "copilot"
    assert outcome.attempts == ("local:coder: down (connection refused)",)


async def test_local_is_used_again_once_a_probe_says_up(build: Builder) -> None:
    h = build()
    h["local"].script = [unavailable("local")]
    await h.pipeline.run(request())
    await h.pipeline.health.probe("local")
    assert h["local"].probes == 1
    outcome = await h.pipeline.run(request(text="other = 1\n"))
    assert outcome.backend == "local"


async def test_retry_after_from_the_backend_delays_the_background_probe(build: Builder) -> None:
    h = build()
    h["local"].script = [unavailable("local", "HTTP 429", retry_after_s=60.0)]
    await h.pipeline.run(request())
    h.pipeline.health.refresh_soon("local")
    await asyncio.sleep(0.01)
    assert h["local"].probes == 0
    assert h.pipeline.health.state("local") == "down"


async def test_request_error_falls_back_without_marking_down(build: Builder) -> None:
    h = build()
    h["local"].script = [rejected("local", "unknown model 'coder'")]
    outcome = await h.pipeline.run(request())
    assert outcome.backend == "copilot"
    assert outcome.attempts == ("local:coder: unknown model 'coder'",)
    assert h.pipeline.health.state("local") != "down"

    # and the next request tries local again
    await h.pipeline.run(request(text="other = 1\n"))
    assert h["local"].calls == 2


async def test_fallback_goes_through_the_whole_route_in_order(build: Builder) -> None:
    h = build(review=[LOCAL, HOMELAB, CLOUD])
    h["local"].script = [unavailable("local")]
    h["homelab"].script = [rejected("homelab", "bad request")]
    outcome = await h.pipeline.run(request())
    assert outcome.backend == "copilot"
    assert [r.model for r in h["homelab"].requests] == ["qwen3-coder:30b"]
    assert outcome.attempts == (
        "local:coder: connection refused",
        "homelab:qwen3-coder:30b: bad request",
    )


async def test_every_candidate_failing_on_public_code_is_request_failed(build: Builder) -> None:
    h = build()
    h["local"].script = [unavailable("local", "connection refused")]
    h["copilot"].script = [unavailable("copilot", "HTTP 503")]
    with pytest.raises(RequestFailed) as caught:
        await h.pipeline.run(request())
    message = str(caught.value)
    assert "review" in message
    assert "local:coder: connection refused" in message
    assert "copilot:claude-sonnet-4.5: HTTP 503" in message
    assert not isinstance(caught.value, RequestRefused)


def test_a_route_naming_an_undefined_backend_is_a_configuration_error() -> None:
    # A typo such as `locl:coder` must not skip silently to the next (cloud) entry.
    with pytest.raises(ValueError, match="'ghost:x' names backend 'ghost', which is not defined"):
        make_config(review=["ghost:x", LOCAL])


async def test_unknown_task_is_a_task_error(build: Builder) -> None:
    h = build()
    with pytest.raises(TaskError, match="unknown task 'summarize'"):
        await h.pipeline.run(request(task="summarize"))
    assert all(fake.calls == 0 for fake in h.fakes.values())


# --- privacy -------------------------------------------------------------------------------


async def test_private_path_with_local_down_is_refused_and_nothing_reaches_cloud(
    build: Builder,
) -> None:
    h = build()
    h["local"].script = [unavailable("local", "connection refused")]
    with pytest.raises(RequestRefused) as caught:
        await h.pipeline.run(request(path="/ws/secrets/a.py"))
    message = str(caught.value)
    assert "private" in message
    assert "path matches privacy glob '**/secrets/**'" in message
    assert "local:coder: connection refused" in message
    assert "Nothing was sent" in message
    assert h["copilot"].requests == []
    assert h["copilot"].probes == 0


async def test_private_path_with_local_known_down_sends_nothing_at_all(build: Builder) -> None:
    h = build()
    h.pipeline.health.mark_down("local", "connection refused")
    with pytest.raises(RequestRefused) as caught:
        await h.pipeline.run(request(path="/ws/secrets/a.py"))
    assert str(caught.value).endswith("Nothing was sent.")
    assert "local:coder: down (connection refused)" in str(caught.value)
    assert h["local"].requests == []
    assert h["copilot"].requests == []


async def test_private_secret_content_is_refused_naming_the_kind_not_the_secret(
    build: Builder,
) -> None:
    h = build()
    h["local"].script = [unavailable("local")]
    text = f'import boto3\nKEY_ID = "{AWS_KEY_ID}"\n'
    with pytest.raises(RequestRefused) as caught:
        await h.pipeline.run(request(text=text))
    message = str(caught.value)
    assert "AWS access key id (line 2)" in message
    assert "Nothing was sent" in message
    assert AWS_KEY_ID not in message
    assert AWS_KEY_ID[4:] not in message
    assert h["copilot"].requests == []


async def test_private_code_is_refused_on_a_request_error_too(build: Builder) -> None:
    h = build()
    h["local"].script = [rejected("local")]
    with pytest.raises(RequestRefused):
        await h.pipeline.run(request(path="/ws/secrets/a.py"))
    assert h["copilot"].requests == []


async def test_private_code_with_local_up_is_answered_locally(build: Builder) -> None:
    h = build()
    h["local"].default = findings_json({"line": 1, "severity": "hint", "message": "ok"})
    outcome = await h.pipeline.run(request(path="/ws/secrets/a.py"))
    assert outcome.backend == "local"
    assert outcome.locality == "local"
    assert outcome.reason.startswith("private (path matches privacy glob '**/secrets/**')")
    assert "copilot:claude-sonnet-4.5: cloud backend may not receive private code" in (
        outcome.reason
    )
    assert h["copilot"].requests == []


async def test_route_private_naming_a_cloud_backend_still_never_reaches_it(
    build: Builder,
) -> None:
    h = build(review_private=[CLOUD, LOCAL])
    h["local"].script = [unavailable("local")]
    with pytest.raises(RequestRefused):
        await h.pipeline.run(request(path="/ws/secrets/a.py"))
    assert h["copilot"].requests == []


async def test_private_code_may_go_to_private_network_when_allowed(build: Builder) -> None:
    h = build(review=[LOCAL, HOMELAB, CLOUD])
    h["local"].script = [unavailable("local")]
    outcome = await h.pipeline.run(request(path="/ws/secrets/a.py"))
    assert outcome.backend == "homelab"
    assert outcome.locality == "private-network"
    assert h["copilot"].requests == []


async def test_private_network_not_allowed_is_refused(build: Builder) -> None:
    h = build(review=[LOCAL, HOMELAB, CLOUD], allow_private_network=False)
    h["local"].script = [unavailable("local")]
    with pytest.raises(RequestRefused) as caught:
        await h.pipeline.run(request(path="/ws/secrets/a.py"))
    message = str(caught.value)
    assert "no local backend could take it" in message
    assert "private-network backend may not receive private code" in message
    assert h["homelab"].requests == []
    assert h["copilot"].requests == []


async def test_a_secret_outside_the_selection_makes_the_selection_private(
    build: Builder,
) -> None:
    # The verdict belongs to the whole document: no part of it goes to a cloud.
    h = build()
    h.pipeline.health.mark_down("local", "connection refused")
    text = f'KEY_ID = "{AWS_KEY_ID}"\n' + TEN_LINES
    with pytest.raises(RequestRefused, match="AWS access key id"):
        await h.pipeline.run(request(text=text, start=3, end=5))
    assert h["copilot"].calls == 0


# --- cache ---------------------------------------------------------------------------------


async def test_identical_request_is_answered_from_cache(build: Builder) -> None:
    h = build()
    h["local"].default = findings_json({"line": 1, "severity": "error", "message": "bug"})
    first = await h.pipeline.run(request())
    second = await h.pipeline.run(request())
    assert h["local"].calls == 1
    assert first.cached is False
    assert second.cached is True
    assert second.findings == first.findings
    assert (second.backend, second.model, second.reason) == (
        first.backend,
        first.model,
        first.reason,
    )


async def test_refresh_bypasses_the_cache(build: Builder) -> None:
    h = build()
    await h.pipeline.run(request())
    outcome = await h.pipeline.run(request(refresh=True))
    assert h["local"].calls == 2
    assert outcome.cached is False


async def test_different_range_is_not_cached(build: Builder) -> None:
    h = build()
    await h.pipeline.run(request(start=1, end=3))
    outcome = await h.pipeline.run(request(start=2, end=3))
    assert h["local"].calls == 2
    assert outcome.cached is False
    assert (outcome.first_line, outcome.last_line) == (2, 3)


async def test_different_text_or_task_is_not_cached(build: Builder) -> None:
    h = build()
    await h.pipeline.run(request())
    await h.pipeline.run(request(text=TEN_LINES + "extra = 1\n"))
    await h.pipeline.run(request(task="explain"))
    assert h["local"].calls == 3


async def test_cache_can_be_disabled(build: Builder) -> None:
    h = build(cache_entries=0)
    await h.pipeline.run(request())
    outcome = await h.pipeline.run(request())
    assert h["local"].calls == 2
    assert outcome.cached is False


async def test_failures_are_not_cached(build: Builder) -> None:
    h = build()
    h["local"].script = [rejected("local")]
    h["copilot"].script = [rejected("copilot")]
    with pytest.raises(RequestFailed):
        await h.pipeline.run(request())
    outcome = await h.pipeline.run(request())
    assert outcome.cached is False
    assert outcome.backend == "local"


# --- explain -------------------------------------------------------------------------------


async def test_explain_markdown_ends_with_the_attribution_line(build: Builder) -> None:
    h = build()
    h["local"].default = "```markdown\nIt assigns ten names.\n```"
    outcome = await h.pipeline.run(request(task="explain", start=0, end=2))
    assert outcome.markdown is not None
    assert outcome.markdown.startswith("It assigns ten names.")
    assert outcome.markdown.endswith("\n\n*— coder @ local (local)*")
    assert outcome.findings == ()
    (sent,) = h["local"].requests
    assert sent.json_schema is None
    assert "lines 1-3" in sent.user


async def test_explain_from_cloud_names_the_cloud_model(build: Builder) -> None:
    h = build()
    h.pipeline.health.mark_down("local", "connection refused")
    h["copilot"].default = "Explained."
    outcome: TaskOutcome = await h.pipeline.run(request(task="explain"))
    assert outcome.markdown == "Explained.\n\n*— claude-haiku-4.5 @ copilot (cloud)*"
    assert h["copilot"].requests[0].model == "claude-haiku-4.5"


# --- cancellation and concurrency ----------------------------------------------------------


async def test_cancelling_run_propagates_and_does_not_mark_down(build: Builder) -> None:
    h = build(max_concurrency=1)
    h["local"].delay = 10.0
    running = asyncio.create_task(h.pipeline.run(request()))
    await asyncio.wait_for(h["local"].started.wait(), timeout=1.0)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert h["local"].cancelled == 1
    assert h.pipeline.health.state("local") != "down"
    assert h["copilot"].requests == []  # no fallback after a cancel

    # the concurrency slot was released: the next request runs
    h["local"].delay = 0.0
    outcome = await asyncio.wait_for(h.pipeline.run(request(text="x = 1\n")), timeout=1.0)
    assert outcome.backend == "local"


async def test_backend_semaphore_limits_parallel_chats(build: Builder) -> None:
    h = build(max_concurrency=2)
    h["local"].delay = 0.02
    runs = [h.pipeline.run(request(text=f"value = {n}\n")) for n in range(6)]
    outcomes = await asyncio.gather(*runs)
    assert h["local"].calls == 6
    assert h["local"].peak == 2  # never more than 2, and they did run in parallel
    assert all(o.backend == "local" for o in outcomes)


async def test_aclose_closes_created_backends(build: Builder) -> None:
    h = build()
    await h.pipeline.run(request())
    await h.pipeline.aclose()
    assert h["local"].closed
    assert not h["copilot"].closed  # never created


# --- prediction (code action titles) -------------------------------------------------------


async def test_predicted_skips_down_and_probes_in_the_background(build: Builder) -> None:
    h = build()
    h.pipeline.health.mark_down("local", "connection refused")
    h["local"].probe_result = ProbeResult(up=False, detail="still refused")
    public = h.pipeline.decide(request())
    private = h.pipeline.decide(request(path="/ws/secrets/a.py"))
    assert h.pipeline.predicted(public) == Candidate("copilot", "claude-sonnet-4.5", "cloud")
    assert h.pipeline.predicted(private) is None  # never predicts the cloud for private code
    await asyncio.sleep(0.01)
    assert h["local"].probes == 1  # one background probe, deduplicated
    # Cloud backends are not probed to predict a route: nothing leaves the network.
    assert "copilot" not in h.fakes or h["copilot"].probes == 0
    assert all(fake.calls == 0 for fake in h.fakes.values())  # nothing sent


# --- a prompt too large for the window -----------------------------------------------------


BIG = "".join(f"def f{i}(x):\n    y = x + {i}\n    return y * 2\n\n" for i in range(120))


async def test_a_prompt_too_large_is_asked_again_in_parts_of_the_same_local_model(
    build: Builder,
) -> None:
    h = build()

    def local(request: ChatRequest) -> Behaviour:
        numbered = re.findall(r"^\s*(\d+) \|", request.user, re.MULTILINE)
        if len(numbered) > 200:
            return ContextOverflow("local", "the request exceeds the context size", window=2048)
        first = int(numbered[0])
        return findings_json({"line": first, "severity": "info", "message": f"part at {first}"})

    h["local"].answer_fn = local
    outcome = await h.pipeline.run(request(text=BIG))
    assert outcome.backend == "local"
    assert h["copilot"].calls == 0  # not sent down the route to the cloud
    assert h["local"].calls >= 3  # the whole file once, then its parts
    assert "asked in" in outcome.reason and "parts" in outcome.reason
    starts = [f.line for f in outcome.findings]
    assert starts[0] == 0 and len(starts) == h["local"].calls - 1
    # Parts start at top-level definitions (every fourth line here).
    assert all(line % 4 == 0 for line in starts)


async def test_a_private_file_too_large_for_every_part_is_refused_not_sent_away(
    build: Builder,
) -> None:
    h = build()
    h["local"].default = ContextOverflow("local", "the request exceeds the context size")
    with pytest.raises(RequestRefused, match="one failed"):
        await h.pipeline.run(request(path="/ws/secrets/big.py", text=BIG))
    assert h["copilot"].calls == 0
