"""Answers on disk: the key, the rule of what may be stored, the bound, several writers,
and the pipeline answering from it after a restart — against a real loopback server."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from localroute.config.models import (
    CacheConfig,
    Config,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.identity import identify_path
from localroute.pipeline import Document, Pipeline, RequestRefused, TaskOutcome, TaskRequest
from localroute.policy import PolicyStore
from localroute.results_cache import FILE_NAME, ResultsCache
from localroute.results_key import answer_key, decode, encode
from localroute.results_store import AnswerStore
from localroute.routing.router import Candidate
from localroute.tasks.findings import Finding
from tests.fakes.openai_fake import FakeOpenAI

AWS_KEY_ID = "AKIA" + "Q3T7WX2LPZK5N8RV"
CODE = "def ratio(a, b):\n    return a / b  # code marker\n"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI() as local, FakeOpenAI() as cloud:
        local.answer = json.dumps(
            {"findings": [{"line": 2, "severity": "warning", "message": "b may be 0"}]}
        )
        cloud.answer = local.answer
        yield local, cloud


def make_config(local: FakeOpenAI, cloud: FakeOpenAI, **local_keys: Any) -> Config:
    where = {"url": local.url} if "urls" not in local_keys else {}
    return Config(
        backends={
            "local": backend_config(kind="openai", **where, **local_keys),
            "cloud": backend_config(kind="openai", url=cloud.url, locality="cloud"),
        },
        tasks={
            "review": TaskConfig(route=["local:coder", "cloud:big"]),
            "explain": TaskConfig(route=["local:coder"]),
        },
        privacy=PrivacyConfig(),
        cache=CacheConfig(max_entries=256, max_disk_bytes=10_000_000),
    )


class Runs:
    """Pipelines over one cache directory, as separate runs of the program would be."""

    def __init__(self, tmp_path: Path, config: Config) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        self.open: list[Pipeline] = []
        (tmp_path / "ws" / ".git").mkdir(parents=True, exist_ok=True)

    @property
    def db(self) -> Path:
        return self.tmp_path / "cache" / "localroute" / FILE_NAME

    def pipeline(self, config: Config | None = None) -> Pipeline:
        config = config or self.config
        store = PolicyStore(fixed=config, workspace_folders=[str(self.tmp_path / "ws")])
        pipeline = Pipeline(store, results=ResultsCache.open(config.cache, self.env))
        self.open.append(pipeline)
        return pipeline

    def request(self, pipeline: Pipeline, text: str = CODE, **kw: Any) -> TaskRequest:
        path = self.tmp_path / "ws" / "app.py"
        path.write_text(text)
        classified = pipeline.classify(Document(identify_path(path), text, "python"))
        return TaskRequest(kw.pop("task", "review"), classified, **kw)

    async def flush(self) -> None:
        """Wait for the writes of every pipeline, as their processes would at exit."""
        for pipeline in self.open:
            if pipeline.results is not None:
                await pipeline.results.flush()

    def stored_bytes(self) -> bytes:
        return b"".join(
            Path(f"{self.db}{suffix}").read_bytes()
            for suffix in ("", "-wal")
            if Path(f"{self.db}{suffix}").exists()
        )

    def last_used(self) -> float:
        with sqlite3.connect(self.db) as db:
            (used,) = db.execute("SELECT max(used) FROM answers").fetchone()
        return float(used)

    def entries(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as db:
            return [json.loads(v) for (v,) in db.execute("SELECT value FROM answers")]


@pytest.fixture
async def runs(tmp_path: Path, fakes: tuple[FakeOpenAI, FakeOpenAI]) -> AsyncIterator[Runs]:
    made = Runs(tmp_path, make_config(*fakes))
    yield made
    for pipeline in made.open:
        await pipeline.aclose()


# -- the pipeline, across restarts -----------------------------------------------------------


async def test_a_second_run_answers_from_disk_and_sends_nothing(
    runs: Runs, fakes: tuple[FakeOpenAI, FakeOpenAI], monkeypatch: pytest.MonkeyPatch
) -> None:
    import localroute.results_store as store_module

    local, cloud = fakes
    pipeline = runs.pipeline()
    first = await pipeline.run(runs.request(pipeline))
    assert first.cached is False and len(local.chat_requests) == 1
    await runs.flush()
    stored_at = runs.last_used()
    monkeypatch.setattr(store_module, "TOUCH_AFTER_S", 0.0)

    again = runs.pipeline()  # a new process: its memory cache is empty
    second = await again.run(runs.request(again))
    assert second.cached is True
    assert second.findings == first.findings == (Finding(1, 1, "warning", "b may be 0"),)
    assert (second.backend, second.model, second.locality) == ("local", "coder", "local")
    assert len(local.chat_requests) == 1 and cloud.chat_requests == []
    await runs.flush()
    assert runs.last_used() > stored_at  # a hit refreshes the entry's use (for eviction)

    fresh = await again.run(runs.request(again, refresh=True))
    assert fresh.cached is False and len(local.chat_requests) == 2

    changed = await again.run(runs.request(again, text=CODE + "# one more line\n"))
    assert changed.cached is False and len(local.chat_requests) == 3


async def test_a_flush_writes_at_once_without_waiting_for_a_batch_to_gather(
    runs: Runs, fakes: tuple[FakeOpenAI, FakeOpenAI], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end of a run (or of a server) does not wait out the batch window."""
    import localroute.results_cache as cache_module

    monkeypatch.setattr(cache_module, "BATCH_WAIT_S", 600.0)
    pipeline = runs.pipeline()
    await pipeline.run(runs.request(pipeline))
    assert pipeline.results is not None
    await pipeline.results.flush(timeout_s=10.0)
    assert [entry["findings"][0]["message"] for entry in runs.entries()] == ["b may be 0"]
    # A flush ends the hurry: later answers gather into a batch again.
    await pipeline.run(runs.request(pipeline, text=CODE + "# changed\n"))
    assert len(runs.entries()) == 1


async def test_only_the_answer_is_stored_never_the_prompt_or_a_credential(
    runs: Runs, fakes: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    local, _ = fakes
    local.answer = json.dumps(
        {"findings": [{"line": 1, "severity": "error", "message": f"hard-coded key {AWS_KEY_ID}"}]}
    )
    pipeline = runs.pipeline()
    text = f"KEY = '{AWS_KEY_ID}'\nVALUE = 'private marker'\n"
    outcome = await pipeline.run(runs.request(pipeline, text=text))
    assert outcome.locality == "local"
    await runs.flush()
    stored = runs.stored_bytes()
    assert b"private marker" not in stored and AWS_KEY_ID.encode() not in stored
    assert b"app.py" not in stored  # the path label is in the prompt, not in the entry
    (entry,) = runs.entries()
    assert "withheld" in entry["findings"][0]["message"]
    assert runs.db.stat().st_mode & 0o077 == 0
    assert runs.db.parent.stat().st_mode & 0o077 == 0


async def test_a_private_files_cloud_answer_given_with_consent_is_never_stored(
    runs: Runs, fakes: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path
) -> None:
    local, cloud = fakes
    local.error = (503, "down", "text/plain", {})
    pipeline = runs.pipeline()
    text = f"KEY = '{AWS_KEY_ID}'\n"
    with pytest.raises(RequestRefused) as refused:
        await pipeline.run(runs.request(pipeline, text=text))
    assert refused.value.consent is not None
    outcome = await pipeline.run(
        runs.request(pipeline, text=text, consent=refused.value.consent.token)
    )
    assert outcome.locality == "cloud" and outcome.consented
    await runs.flush()
    assert not runs.db.exists() or runs.entries() == []

    # Nor does a request with consent read from disk: it is sent, once, as asked.
    local.error = None
    await runs.pipeline().run(runs.request(runs.open[-1], text=text))
    await runs.flush()
    assert [e["locality"] for e in runs.entries()] == ["local"]  # the local answer is kept
    local.error = (503, "down", "text/plain", {})
    later = runs.pipeline()
    with pytest.raises(RequestRefused) as again:
        await later.run(runs.request(later, text=text, refresh=True))
    assert again.value.consent is not None
    before = len(cloud.chat_requests)
    sent = await later.run(runs.request(later, text=text, consent=again.value.consent.token))
    assert sent.cached is False and sent.locality == "cloud"
    assert len(cloud.chat_requests) == before + 1


async def test_a_bulk_request_never_gets_a_cloud_answer_from_disk(
    runs: Runs, fakes: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    local, cloud = fakes
    local.error = (503, "down", "text/plain", {})
    pipeline = runs.pipeline()
    single = await pipeline.run(runs.request(pipeline))
    assert single.locality == "cloud"  # one file follows the task's route
    await runs.flush()
    assert [e["locality"] for e in runs.entries()] == ["cloud"]

    local.error = None
    sent = len(local.chat_requests)
    bulk = runs.pipeline()
    outcome = await bulk.run(runs.request(bulk, allow_cloud=False))
    assert outcome.locality == "local" and outcome.cached is False
    assert len(local.chat_requests) == sent + 1 and len(cloud.chat_requests) == 1


async def test_settings_that_change_answers_change_the_key_others_do_not(
    runs: Runs, fakes: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    local, cloud = fakes
    base = runs.pipeline()
    request = runs.request(base)
    prompt = base.prompt_for(request)
    candidate = Candidate("local", "coder", "local")

    def key_with(config: Config, candidate: Candidate = candidate) -> str | None:
        pipeline = runs.pipeline(config)
        return answer_key(runs.request(pipeline), prompt, candidate)

    same = key_with(make_config(local, cloud))
    assert same == answer_key(request, prompt, candidate)
    assert key_with(make_config(local, cloud, max_concurrency=9, timeout_s=5)) == same
    assert key_with(make_config(local, cloud, api_key_env="OTHER_KEY")) == same
    assert key_with(make_config(cloud, cloud)) != same  # another server
    # Endpoints of one backend: their order does not matter, another one does.
    two = ["http://127.0.0.1:9001/v1", "http://127.0.0.1:9002/v1"]
    fleet = key_with(make_config(local, cloud, urls=two))
    assert fleet == key_with(make_config(local, cloud, urls=two[::-1]))
    assert fleet != key_with(make_config(local, cloud, urls=[*two, "http://127.0.0.1:9003/v1"]))
    assert key_with(make_config(local, cloud), Candidate("local", "other", "local")) != same
    assert answer_key(request.but(task="explain"), prompt, candidate) != same
    other_prompt = base.prompt_for(request.but(start_line=1, end_line=1))
    assert answer_key(request, other_prompt, candidate) != same


# -- the store --------------------------------------------------------------------------------


def outcome(n: int) -> TaskOutcome:
    return TaskOutcome(
        task="review",
        backend="local",
        model="coder",
        locality="local",
        reason="not private",
        cached=False,
        first_line=0,
        last_line=n,
        findings=(Finding(n, n, "info", f"finding {n} " + "x" * 200),),
    )


def test_the_stored_form_reads_back_and_bad_entries_are_refused() -> None:
    original = outcome(3)
    back = decode(encode(original))
    assert back.findings == original.findings and back.cached is True
    assert (back.first_line, back.last_line) == (0, 3)
    for broken in ("{", "{}", json.dumps({**json.loads(encode(original)), "locality": "moon"})):
        with pytest.raises((ValueError, KeyError)):
            decode(broken)
    bad_severity = json.loads(encode(original))
    bad_severity["findings"][0]["severity"] = "fatal"
    with pytest.raises(ValueError):
        decode(json.dumps(bad_severity))


def test_the_bound_evicts_the_least_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import localroute.results_store as module

    monkeypatch.setattr(module, "TOUCH_AFTER_S", 0.0)
    store = AnswerStore(tmp_path / "a.sqlite3", max_bytes=20_000)
    value = encode(outcome(0))
    for i in range(40):
        store.put(f"k{i}", value)
        if i >= 5:
            found = store.get_first(["k0"])
            assert found is not None and found[2] is True  # its use is to be refreshed
            store.write(touches=["k0"])  # as the cache does after a hit
    count, size = store.stats()
    assert size <= 20_000 and count < 40
    assert store.get_first(["k0"]) is not None  # used all along: kept
    assert store.get_first(["k1"]) is None  # the oldest unused went first
    assert store.get_first(["k39"]) is not None
    assert store.get_first(["missing", "k39", "k0"]) == ("k39", value, True)
    store.close()


def _writer(path: str, worker: int, n: int, queue: Any) -> None:
    try:
        store = AnswerStore(Path(path), max_bytes=10_000_000)
        value = encode(outcome(worker))
        for i in range(n):
            store.put(f"w{worker}-{i}", value)
            store.put("shared", value)
            assert store.get_first([f"w{worker}-{i}"]) is not None
        store.close()
        queue.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test, with where
        queue.put(f"{exc!r} at {traceback.extract_tb(exc.__traceback__)[-1].line}")


def test_several_processes_write_at_once_and_the_file_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_writer, args=(str(path), w, 150, queue)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [queue.get(timeout=5) for _ in workers] == ["ok"] * 4
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM answers").fetchone() == (4 * 150 + 1,)
        counted = db.execute("SELECT bytes FROM totals").fetchone()[0]
        assert counted == db.execute("SELECT sum(size) FROM answers").fetchone()[0]


async def test_a_damaged_file_is_started_afresh_and_zero_bytes_turns_the_disk_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    path = tmp_path / "localroute" / FILE_NAME
    path.parent.mkdir()
    path.write_bytes(b"this is not a database, just some bytes " * 100)
    cache = ResultsCache.open(CacheConfig(max_disk_bytes=1_000_000), env)
    assert cache is not None
    store = await cache.ready()
    assert store is not None
    assert "was damaged" in caplog.text
    store.put("k", encode(outcome(1)))
    assert store.get_first(["k"]) is not None
    await cache.aclose()
    assert ResultsCache.open(CacheConfig(max_disk_bytes=0), env) is None


async def test_an_unwritable_place_means_no_disk_cache_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    cache = ResultsCache.open(CacheConfig(), {"XDG_CACHE_HOME": str(blocker)})
    assert cache is not None
    assert await cache.ready() is None
    assert not cache.enabled
    assert caplog.text.count("answers are not cached on disk: cannot open") == 1
    # Off for good: asked again, it neither retries nor says it again.
    assert await cache.ready() is None
    assert caplog.text.count("answers are not cached on disk") == 1
    await cache.aclose()


async def test_nothing_is_opened_until_the_cache_is_first_used(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    cache = ResultsCache.open(CacheConfig(), env)
    assert cache is not None
    assert not (tmp_path / "localroute").exists()
    cache.open_soon()
    store = await cache.ready()
    assert store is not None and (tmp_path / "localroute" / FILE_NAME).exists()
    assert await cache.ready() is store
    await cache.aclose()


async def test_a_cache_closed_while_it_opens_closes_the_file(tmp_path: Path) -> None:
    cache = ResultsCache.open(CacheConfig(), {"XDG_CACHE_HOME": str(tmp_path)})
    assert cache is not None
    cache.open_soon()
    await cache.aclose()  # the opening is still under way in its thread
    assert cache.store is None and not cache.enabled
    with sqlite3.connect(tmp_path / "localroute" / FILE_NAME) as db:  # whole, not locked
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_new_file_another_process_is_writing_is_waited_for_not_failed(tmp_path: Path) -> None:
    """SQLite switches a file to WAL without its busy handler: while another connection
    holds a write lock on a file not in WAL mode yet (a second process creating the same
    cache), the switch failed at once with "database is locked"."""
    path = tmp_path / "new.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other (x)")  # a file in rollback mode, as one being made
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    began = time.monotonic()
    store = AnswerStore(path, max_bytes=10_000)
    waited = time.monotonic() - began
    store.put("k", "v")
    assert store.get_first(["k"]) == ("k", "v", False)
    store.close()
    other.close()
    assert waited >= 0.2  # it waited for the other writer instead of failing
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
