"""Large documents reviewed in chunks: a private document is private in every chunk, and
what the file's result says matches what the backends received, piece by piece.

Each document is a file on disk in a project, a few hundred lines of small functions
(every line carries its own marker ``L<n>``), with a credential in one place, or under a
private path, or neither. It is reviewed through ``bulk.runner.review_file`` with context
windows small enough that it is split; the backends (local, private-network, cloud)
answer or fail as scripted, and record every chunk they receive.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, note

from localroute.bulk.report import status_of, text_lines
from localroute.bulk.runner import plan_chunks, review_file
from localroute.bulk.sarif import FileResult
from localroute.config.models import (
    Config,
    Locality,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.identity import identify_path
from localroute.pipeline import Document, Pipeline, TaskRequest
from localroute.policy import PolicyStore
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import closed_port
from tests.property.common import SEEDS, Cases, planned
from tests.property.credentials import CREDENTIAL_MAKERS, make_credential
from tests.property.harness import scripted
from tests.property.serving import run_cli
from tests.support.backends import fakes_behind_the_registry

TRUTH: dict[str, Locality] = {"local": "local", "homelab": "private-network", "cloud": "cloud"}
URLS = {
    "local": "http://127.0.0.1:8080/v1",
    "homelab": "http://192.168.1.5:8080/v1",
    "cloud": "https://api.openai.com/v1",
}
ENTRIES = {"local": "local:coder", "homelab": "homelab:qwen", "cloud": "cloud:gpt"}
CHUNK_BEHAVIOURS = ("up", "up", "up", "refused", "timeout", "midstream", "rejecting", "garbage")
WINDOWS = (384, 768, 1024, 1536, 2048, 4096)
PLACES = ("src", "src", "src", "secrets", "internal")
"""Where the file is: ordinary code, or a private directory (built-in and user glob)."""
_SPAN = re.compile(r"^Review lines? (\d+)(?:-(\d+))? of ", re.MULTILINE)
_MARK = re.compile(r"\bL(\d+)\b")

_counter = itertools.count()


def big_document(rng: random.Random) -> tuple[list[str], int | None, str | None]:
    """Lines of small functions; maybe one credential at a random place.

    Returns the lines, the 0-based line of the credential (or None) and its secret.
    """
    lines: list[str] = []
    for block in range(rng.randint(8, 60)):
        lines.append(f"def f_{block}(x):  # L{len(lines)}")
        for _ in range(rng.randint(2, 9)):
            n = len(lines)
            lines.append(f"    x = x * {n % 7 + 2} + {n}  # L{n}")
        lines.append(f"    return x  # L{len(lines)}")
        lines.append("")
    if rng.random() < 0.5:
        credential = make_credential(rng.randrange(len(CREDENTIAL_MAKERS)), rng.getrandbits(32))
        at = rng.randint(0, len(lines))
        lines[at:at] = list(credential.lines)
        return lines, at, credential.secret
    return lines, None, None


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chunking") / "project"
    (root / ".git").mkdir(parents=True)
    return root


def request_span(text: str) -> tuple[int, int]:
    """The 0-based lines a review prompt covers, from its header."""
    m = _SPAN.search(text)
    assert m is not None, text[:200]
    first = int(m.group(1))
    return first - 1, int(m.group(2) or first) - 1


@planned(200)
@given(seed=SEEDS)
def test_no_chunk_of_a_private_document_reaches_a_cloud_and_the_result_is_true(
    project: Path, runner: asyncio.Runner, cases: Cases, seed: int
) -> None:
    rng = random.Random(seed)
    lines, secret_line, secret = big_document(rng)
    place = rng.choice(PLACES)
    path = project / place / f"f{next(_counter)}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    newline = rng.choice(["\n", "\r\n"])
    text = newline.join(lines) + newline
    path.write_text(text, newline="")
    names = rng.sample(sorted(TRUTH), rng.randint(1, 3))
    scripts = {n: [rng.choice(CHUNK_BEHAVIOURS) for _ in range(rng.randint(1, 4))] for n in TRUTH}
    allow_cloud = rng.random() < 0.7
    config = Config(
        backends={
            n: backend_config(kind="openai", url=URLS[n], context_tokens=rng.choice(WINDOWS))
            for n in TRUTH
        },
        tasks={"review": TaskConfig(route=[ENTRIES[n] for n in names], max_tokens=64)},
        privacy=PrivacyConfig(globs=["internal/**"], allow_private_network=rng.random() < 0.7),
    )
    note(f"{place=} {names=} {scripts=} {allow_cloud=} {len(lines)=} {secret_line=}")

    pipeline = Pipeline(PolicyStore(fixed=config))
    fakes = {n: scripted(n, config.backends[n], TRUTH[n], scripts[n]) for n in TRUTH}
    document = Document(identify_path(path), text, "python")
    classified = pipeline.classify(document)
    private = secret is not None or place != "src"
    assert classified.private == private, classified.verdict.summary
    chunks = plan_chunks(pipeline, TaskRequest("review", classified, allow_cloud=allow_cloud))

    async def review() -> object:
        try:
            return await review_file(
                pipeline, path, task="review", root=project, allow_cloud=allow_cloud
            )
        finally:
            await pipeline.aclose()

    with fakes_behind_the_registry(fakes):
        result = runner.run(review())
    assert isinstance(result, FileResult)
    cases(
        f"{'private' if private else 'not private'}: {status_of(result)}",
        f"chunks: {'1' if len(chunks) == 1 else '2-5' if len(chunks) <= 5 else 'more'}",
    )

    # No piece of a private document reaches a cloud, or a locality it may not go to.
    allowed = {"local", "private-network"} if config.privacy.allow_private_network else {"local"}
    for name, fake in fakes.items():
        if private and TRUTH[name] not in allowed:
            assert not fake.requests, f"{len(fake.requests)} chunk(s) of a private file to {name}"
        if not allow_cloud and TRUTH[name] == "cloud":
            assert not fake.requests, "a bulk run without --allow-cloud sent to the cloud"
        for request in fake.requests:
            assert secret is None or TRUTH[name] != "cloud" or secret not in request.user

    # Each request is one planned chunk, holding exactly that chunk's lines.
    spans = {(c.start_line, c.end_line) for c in chunks}
    answered: dict[tuple[int, int], set[str]] = {}
    for name, fake in fakes.items():
        for request in fake.requests:
            span = request_span(request.user)
            assert span in spans, f"{name} got lines {span}, not a planned chunk {sorted(spans)}"
            shown = {int(n) for n in _MARK.findall(request.user)}
            want = {int(n) for n in _MARK.findall("\n".join(lines[span[0] : span[1] + 1]))}
            assert shown == want, f"{name}: chunk {span} holds other lines"
        for request in fake.answered:
            answered.setdefault(request_span(request.user), set()).add(name)
    cases.figure("chunks sent", sum(len(f.requests) for f in fakes.values()))

    # What the result says, piece by piece.
    received = sorted({n for n, f in fakes.items() if f.received})
    failed = [s for s in spans if s not in answered]
    assert result.parts == len(chunks)
    assert result.failed_parts == len(failed), (result, sorted(answered))
    assert (result.error is None) == (not failed), result.error
    assert tuple(result.sent_to) == tuple(received), (result.sent_to, received)
    answering = sorted({n for names_ in answered.values() for n in names_})
    assert (result.backend or "") == ", ".join(answering)
    assert (result.locality or "") == ", ".join(sorted({TRUTH[n] for n in answering}))
    if result.refused:
        assert private, f"a file that is not private was refused: {result.error}"
    if not private:
        assert not result.refused, result.error
    report = "\n".join(text_lines(result))
    assert f": {status_of(result)}" in report or status_of(result) == "reviewed"
    if secret is not None:
        assert secret not in report and secret not in repr(result)
    if result.error is not None and "Nothing was sent." in result.error:
        assert not received, f"{received} received parts; the result says: {result.error}"


# --- the same through the real command line ------------------------------------------


def _cli_config(local_url: str, cloud_url: str) -> str:
    return f"""
[backends.local]
kind = "openai"
url = "{local_url}"
connect_timeout_s = 0.5
context_tokens = 2048
[backends.cloud]
kind = "openai"
url = "{cloud_url}"
locality = "cloud"
context_tokens = 2048
[tasks.review]
route = ["local:coder", "cloud:gpt"]
max_tokens = 64
[privacy]
globs = ["internal/**"]
"""


@pytest.mark.parametrize("seed", [8])
def test_localroute_review_of_a_large_private_file_sends_no_chunk_to_the_cloud(
    tmp_path: Path, seed: int
) -> None:
    """`localroute review FILE` on generated large files, each private in one place: with
    the local model down every chunk is refused (exit 3) and the cloud gets nothing; with
    it up the file is reviewed locally in chunks; an ordinary file does reach the cloud."""
    rng = random.Random(seed)
    lines, _, secret = big_document(rng)
    while secret is None:
        lines, _, secret = big_document(rng)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    (project / "src" / "keys.py").write_text("\n".join(lines) + "\n")
    clean = [line for line in lines if "L" in line or not line.strip()]
    (project / "internal").mkdir()
    (project / "internal" / "plan.py").write_text("\n".join(clean) + "\n")
    (project / "src" / "ok.py").write_text("\n".join(clean) + "\n")
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    with FakeOpenAI() as cloud, FakeOpenAI() as local:
        for rel in ("src/keys.py", "internal/plan.py"):
            done = run_cli(
                tmp_path / "home", _cli_config(dead, cloud.url), "review", rel, cwd=project
            )
            assert done.returncode == 3, done.stdout + done.stderr
            assert "refused" in done.stdout, done.stdout
            assert not cloud.chat_requests, f"{rel}: {len(cloud.chat_requests)} chunk(s) to cloud"
            assert secret not in done.stdout + done.stderr

            done = run_cli(
                tmp_path / "home", _cli_config(local.url, cloud.url), "review", rel, cwd=project
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert not cloud.chat_requests
        assert len(local.chat_requests) > 2, "the files were not reviewed in chunks"

        done = run_cli(
            tmp_path / "home", _cli_config(dead, cloud.url), "review", "src/ok.py", cwd=project
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(cloud.chat_requests) > 1  # chunks of an ordinary file: the fake was reachable
