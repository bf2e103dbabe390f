"""No byte of a private document reaches a cloud backend, whatever the route, the
fallbacks and the failures; refusals name their reason and never the secret.

Documents come from the real tree (in every form a server receives) or are made from a
random glob put in the configuration; contents with and without credentials; routes
over local, private-network, cloud and undefined backends, each behaving as scripted.
"""

from __future__ import annotations

import asyncio
import random
from urllib.parse import quote

from hypothesis import given, note
from hypothesis import strategies as st

from localroute.identity import identify
from localroute.pipeline import Document, Pipeline, RequestRefused, TaskRequest
from localroute.policy import PolicyStore
from tests.property.common import SEEDS, Cases, planned
from tests.property.credentials import assert_never_shows, contents
from tests.property.globs_reference import instantiate, random_glob, reference_match
from tests.property.harness import (
    POOL,
    Scenario,
    allowed_truths,
    make_scenario,
    run_and_close,
    server_folders,
)
from tests.property.tree import (
    USER_GLOBS,
    Expected,
    Target,
    Tree,
    all_globs,
    expected,
    tree_targets,
)
from tests.support.backends import fakes_behind_the_registry


@st.composite
def pipeline_targets(
    draw: st.DrawFn, tree: Tree
) -> tuple[Target, Expected | None, tuple[str, ...], list[str]]:
    """A document: from the real tree, or a path made from a random glob put in the config."""
    if draw(st.integers(0, 3)) > 0:
        entry, target = draw(tree_targets(tree))
        return target, expected(entry, target), entry.globs, []
    rng = random.Random(draw(SEEDS))
    glob = random_glob(rng)
    rel = instantiate(glob, rng)
    if not reference_match(glob, rel) or "[" in rel or "?" in rel:
        rel, glob = "a.py", "**/a.py"
    path = f"/r/ws/{rel}"
    target = Target("file://" + quote(path), ("/r/ws",), "random glob", "exact")
    named = tuple(g for g in all_globs(glob) if reference_match(g, rel) or reference_match(g, path))
    return target, Expected(True, False, True), named, [glob]


@planned(3000)
@given(data=st.data())
def test_no_byte_of_a_private_document_reaches_a_cloud_backend(
    tree: Tree, runner: asyncio.Runner, cases: Cases, data: st.DataObject
) -> None:
    target, want, named_globs, extra_globs = data.draw(pipeline_targets(tree))
    content = data.draw(contents())
    scenario = make_scenario(random.Random(data.draw(SEEDS, label="scenario seed")))
    scenario.extra_globs = extra_globs
    note(repr(scenario))
    task = data.draw(st.sampled_from(["review", "explain"]))
    prime_down = {n for n, script in scenario.backends.items() if "probe down" in script[:1]}
    cases(f"form: {target.form}")

    if scenario.typos():
        cases.figure("route typo: a configuration error")
    config = scenario.valid_config(USER_GLOBS)
    pipeline = Pipeline(PolicyStore(fixed=config, workspace_folders=server_folders(target.folders)))
    localities = pipeline.localities()
    for name in scenario.backends:
        # Derived localities are never guessed upward: a cloud stays a cloud.
        if POOL[name].truth == "cloud":
            assert localities[name] == "cloud", name
    fakes = scenario.fakes(pipeline)
    for name in prime_down:
        pipeline.health.mark_down(name, "probe failed")
    classified = pipeline.classify(Document(identify(target.uri), content.text, "python"))
    verdict = classified.verdict
    request = TaskRequest(
        task=task,
        document=classified,
        start_line=None if content.selection is None else content.selection[0],
        end_line=None if content.selection is None else content.selection[1],
    )
    # The whole document is classified: a credential outside the selection counts too.
    content_private = scenario.detect_secrets and content.credential is not None
    expected_private = None if want is None else (want.private or content_private)
    if expected_private is not None:
        assert verdict.private == expected_private, f"{target.form} {target.uri!r}: {verdict}"
    if content_private:
        assert verdict.private

    with fakes_behind_the_registry(fakes):
        outcome, error = runner.run(run_and_close(pipeline, request))

    private = verdict.private or bool(expected_private)
    allowed = allowed_truths(config)
    attempted = {name: len(f.requests) for name, f in fakes.items() if f.requests}
    cases.figure("chat requests handed to fakes", sum(attempted.values()))
    cases.figure("private" if private else "not private")
    for name, fake in fakes.items():
        truth = POOL[name].truth
        if truth == "cloud":
            cases.figure("requests to cloud fakes", len(fake.requests))
        if private:
            assert truth in allowed or not fake.requests, (
                f"private document handed to {name} ({truth}): {verdict.summary}; "
                f"route={scenario.review if task == 'review' else scenario.explain}"
            )
        if content.credential is not None and scenario.detect_secrets and truth == "cloud":
            for sent in fake.requests:
                assert content.credential.secret not in sent.user + sent.system, name

    if outcome is not None:
        cases.figure("answered")
        assert not private or POOL[outcome.backend].truth in allowed
        assert_never_shows(content.credential if private else None, repr(outcome), "the outcome")
        return
    assert error is not None
    message = str(error)
    if isinstance(error, RequestRefused):
        cases.figure("refused")
        assert private, f"refused a document that is not private: {message}"
        assert verdict.summary in message
        if want is not None and want.glob_required:
            assert any(f"privacy glob '{g}'" in message for g in named_globs), message
        if content_private:
            assert content.secret_reason is not None
            assert content.secret_reason in message, message
        received = any(f.received for f in fakes.values())
        # When a local backend did receive the code, the refusal must not claim otherwise.
        assert not (received and "Nothing was sent." in message), message
        if not received:
            assert "Nothing was sent." in message, message
    else:
        cases.figure("failed")
        received = {name for name, f in fakes.items() if f.received}
        if not received:
            assert "Nothing was sent." in message, message
        for name in received:
            assert name in message, f"{name} received the prompt; the error does not say: {message}"
    assert_never_shows(content.credential, message, "the error")


# --- found by these properties in the pipeline, fixed since ------------------------------------


def test_a_refusal_after_a_busy_retry_does_not_say_nothing_was_sent(
    runner: asyncio.Runner,
) -> None:
    scenario = Scenario(
        backends={"local": ["busy", "refused"], "copilot": ["up"]},
        review=["local:coder", "copilot:claude-sonnet-4.5"],
        review_private=None,
        explain=[],
        allow_private_network=True,
        detect_secrets=True,
    )
    pipeline = Pipeline(PolicyStore(fixed=scenario.config(), workspace_folders=["/ws"]))
    fakes = scenario.fakes(pipeline)
    document = pipeline.classify(Document(identify("file:///ws/.env"), "DEBUG=1\n"))
    request = TaskRequest(task="review", document=document)
    with fakes_behind_the_registry(fakes):
        outcome, error = runner.run(run_and_close(pipeline, request))
    assert outcome is None and isinstance(error, RequestRefused)
    assert fakes["local"].received, "the local backend did receive the code (HTTP 429)"
    assert not fakes["copilot"].requests
    assert "Nothing was sent." not in str(error), str(error)
