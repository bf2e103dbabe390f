"""The cycle collector is paused while the `localroute` program starts and runs again,
with start-up's objects frozen, before any review is sent; other commands (the server
among them) resume it once their arguments are read."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localroute import gc_pause
from tests.fakes.openai_fake import FakeOpenAI
from tests.support import cli

PROBED_PROGRAM = """
import asyncio, gc, json, os, sys
from localroute import cli, gc_pause

def note(what):
    line = json.dumps([what, gc.isenabled(), gc.get_freeze_count() > 0]) + "\\n"
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(line)

real_resume = gc_pause.resume
def resume(**kwargs):
    note("resume")
    real_resume(**kwargs)
gc_pause.resume = resume

real_run = asyncio.run
def run(main, **kwargs):
    note("asyncio.run")
    return real_run(main, **kwargs)
asyncio.run = run

sys.argv = ["localroute", *sys.argv[1:]]
cli.run()
"""


def run_probed(tmp_path: Path, config: str, *args: str) -> tuple[int, list[list[object]]]:
    """The real program (``cli.run``) with ``args``; what the probes noted, in order:
    [where, collector enabled, anything frozen]."""
    log = tmp_path / "probe.jsonl"
    env = cli.env_in(tmp_path, config, PROBE_LOG=str(log))
    done = subprocess.run(
        [sys.executable, "-c", PROBED_PROGRAM, *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    notes = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done.returncode, notes


@pytest.fixture
def paused() -> Iterator[None]:
    """The collector paused as the program pauses it; everything put back afterwards."""
    assert gc.isenabled()
    gc_pause.pause()
    try:
        yield
    finally:
        gc_pause.resume()
        gc.unfreeze()
        gc.enable()


def test_a_review_starts_paused_and_reviews_with_the_collector_on(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        fake.answer = '{"findings": []}'
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "a.py").write_text("def f(a, b):\n    return a / b\n")
        config = f"""
            [backends.local]
            kind = "openai"
            url = "{fake.url}"
            locality = "local"
            [tasks.review]
            route = ["local:coder"]
            """
        code, notes = run_probed(tmp_path, config, "review", "src", "--format", "sarif")
        assert code == 0
        assert len(fake.chat_requests) == 1
    # Paused through start-up (imports, the configuration); running,
    # with start-up's objects frozen, before the reviews begin.
    assert notes == [["resume", False, False], ["asyncio.run", True, True]]


def test_other_commands_resume_once_their_arguments_are_read(tmp_path: Path) -> None:
    code, notes = run_probed(tmp_path, "", "config", "schema")
    assert code == 0
    assert notes[0] == ["resume", False, False]


def test_the_server_resumes_once_its_arguments_are_read(tmp_path: Path) -> None:
    code, notes = run_probed(tmp_path, "", "serve")  # stdin at its end: it stops at once
    assert code == 0
    assert notes[:1] == [["resume", False, False]]


def test_resume_changes_nothing_unless_the_program_paused() -> None:
    frozen = gc.get_freeze_count()
    gc_pause.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_resume_freezes_what_start_up_made(paused: None) -> None:
    assert not gc.isenabled()
    gc_pause.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert not gc_pause.paused()
