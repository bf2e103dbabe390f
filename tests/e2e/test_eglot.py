"""Eglot end to end: a real Emacs with Eglot (Debian's emacs-nox and elpa-eglot) starts the
real server over stdio; the local backend is a loopback fake that answers after 15 s,
longer than the 10 s Eglot waits for `workspace/executeCommand`.

`eglot_driver.el` runs inside `emacs --batch` (Eglot's process filter and timers run there
as in an interactive Emacs): it opens a file, starts Eglot with the set-up documented in
docs/editors/emacs.md, runs the code actions as `M-x eglot-code-actions` does, and writes
what it saw (the command's outcome, Flymake's diagnostics, the echo-area messages, ElDoc's
hover text) as JSON. The assertions are made here, on that JSON.

Four Emacs sessions run at once, each with its own server, fake and workspace:

* ``later``: the documented entry (`deliverResultsLater` true): the commands come back at
  once, the finding, the message and the explanation follow;
* ``default``: the plain entry: the server recognises Eglot and delivers later by itself;
* ``sync``: the same server told `deliverResultsLater` false: Eglot gives up with
  "Timed out" — the failure the option exists for;
* ``consent``: a private file, no local backend: the server asks whether to send it to the
  cloud anyway (`window/showMessageRequest`), Eglot asks the user; RET sends nothing, the
  explicit choice sends one request.

Emacs and Eglot come from scripts/emacs-e2e-setup.sh (apt), run by the test when missing;
the test is skipped, with the reason, only when they cannot be installed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import closed_port_url
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cli import ROOT, localroute_env

DRIVER = Path(__file__).with_name("eglot_driver.el")
SETUP = ROOT / "scripts" / "emacs-e2e-setup.sh"
DOC = ROOT / "docs" / "editors" / "emacs.md"
EMACS = os.environ.get("EMACS", "emacs")
"""The Emacs to run, as scripts/emacs-e2e-setup.sh finds it."""

# apt may install Emacs first (about 20 s); the sessions take about 35 s together.
pytestmark = pytest.mark.timeout(900)

MODEL_LATENCY_S = 15.0
"""Longer than Eglot's 10 s for `workspace/executeCommand` (jsonrpc-default-request-timeout)."""

SOURCE = """\
def divide(a, b):
    total = a / b
    return total
"""

FINDING = "b may be zero"
REVIEW = json.dumps({"findings": [{"line": 2, "severity": "warning", "message": FINDING}]})
EXPLANATION = "Divides **a** by **b** and returns the quotient."

LOCAL_CONFIG = """\
[backends.local]
kind = "openai"
url = "{local}"
[tasks.review]
route = ["local:coder"]
[tasks.explain]
route = ["local:coder"]
"""

CONSENT_CONFIG = """\
[backends.local]
kind = "openai"
url = "{local}"
connect_timeout_s = 0.5
[backends.cloud]
kind = "openai"
url = "{cloud}"
locality = "cloud"
[privacy]
globs = ["private/**"]
[tasks.review]
route = ["local:coder", "cloud:big"]
"""


def answer(body: dict[str, Any]) -> str:
    """A review asks for findings as JSON (`response_format`); an explanation does not."""
    return REVIEW if body.get("response_format") else EXPLANATION


def emacs_ready() -> str:
    """Emacs and Eglot's versions, installed first when missing; skip if they cannot be."""
    check = subprocess.run(["bash", str(SETUP), "--check"], capture_output=True, text=True)
    if check.returncode != 0:
        setup = subprocess.run(
            ["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False
        )
        if setup.returncode != 0:
            pytest.skip(
                f"Emacs with Eglot could not be installed by {SETUP.relative_to(ROOT)}:\n"
                f"{setup.stderr[-2000:]}"
            )
        check = subprocess.run(["bash", str(SETUP), "--check"], capture_output=True, text=True)
    return check.stderr.strip()


@dataclass
class Session:
    """One `emacs --batch` running the driver, and what it left behind."""

    name: str
    base: Path
    file: Path
    process: subprocess.Popen[str] | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""
    events: str = ""

    @property
    def messages(self) -> str:
        return str(self.observed.get("messages", ""))

    def calls(self) -> list[dict[str, Any]]:
        return list(self.observed.get("command_calls") or [])

    def explain_failure(self) -> str:
        return (
            f"--- {self.name}: observed ---\n{json.dumps(self.observed, indent=1)[-4000:]}\n"
            f"--- emacs stderr ---\n{self.stderr[-4000:]}\n"
            f"--- Eglot's JSON-RPC events ---\n{self.events[-6000:]}"
        )


def start(name: str, base: Path, config: str, relpath: str) -> Session:
    workspace = base / "ws"
    workspace.mkdir()
    # the project root Eglot finds; a real repository, where Eglot can list the files
    # whose directories it watches for the server
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    file = workspace / relpath
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(SOURCE)
    # `localroute` on PATH, as `make install` leaves it: this checkout's server.
    bin_dir = base / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "localroute"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m localroute "$@"\n')
    shim.chmod(0o755)
    (base / "config.toml").write_text(config)
    home = base / "home"
    env = localroute_env(
        config=base / "config.toml",
        config_home=home / ".config",
        state_home=home / ".state",
        home=home,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        LR_SCENARIO=name,
        LR_FILE=str(file),
        LR_OUT=str(base / "observed.json"),
        LR_EVENTS=str(base / "events.log"),
        LR_WAIT_S="90",
    )
    session = Session(name, base, file)
    session.process = subprocess.Popen(
        [EMACS, "--batch", "-l", str(DRIVER)],
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its server too is stopped if it hangs
    )
    return session


def finish(session: Session, deadline: float) -> None:
    assert session.process is not None
    try:
        _, session.stderr = session.process.communicate(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        os.killpg(session.process.pid, signal.SIGKILL)
        _, session.stderr = session.process.communicate()
    out = session.base / "observed.json"
    session.observed = json.loads(out.read_text()) if out.exists() else {}
    events = session.base / "events.log"
    session.events = events.read_text(errors="replace") if events.exists() else ""


@dataclass
class Runs:
    versions: str
    sessions: dict[str, Session]
    local: dict[str, FakeOpenAI]
    cloud: FakeOpenAI

    def __getitem__(self, name: str) -> Session:
        session = self.sessions[name]
        assert session.observed.get("status") == "ok", session.explain_failure()
        return session


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    versions = emacs_ready()
    local = {name: FakeOpenAI(models=["coder"]) for name in ("later", "default", "sync")}
    cloud = FakeOpenAI(models=["big"], answer=REVIEW)
    for fake in local.values():
        fake.latency_s = MODEL_LATENCY_S
        fake.answer_fn = answer
    fakes = [*local.values(), cloud]
    for fake in fakes:
        fake.__enter__()
    try:
        sessions = {
            name: start(
                name,
                tmp_path_factory.mktemp(f"eglot-{name}"),
                LOCAL_CONFIG.format(local=fake.url),
                "calc.py",
            )
            for name, fake in local.items()
        }
        sessions["consent"] = start(
            "consent",
            tmp_path_factory.mktemp("eglot-consent"),
            CONSENT_CONFIG.format(local=closed_port_url(), cloud=cloud.url),
            "private/calc.py",
        )
        deadline = time.time() + 240
        for session in sessions.values():
            finish(session, deadline)
        yield Runs(versions, sessions, local, cloud)
    finally:
        for fake in fakes:
            fake.__exit__(None, None, None)


def test_eglot_starts_the_server_and_lists_the_actions(runs: Runs) -> None:
    s = runs["later"]
    print(f"\n{runs.versions}")
    assert s.observed["server_name"] == "localroute"
    assert s.observed["project_root"] == f"{s.file.parent}/"
    # what Eglot sent in `initialize`, as its JSON-RPC log shows it
    sent = re.search(r":initializationOptions\s+\(:deliverResultsLater t\)", s.events)
    assert sent is not None, s.events[:3000]
    assert "localroute.review" in s.observed["commands"]
    assert "localroute.explain" in s.observed["commands"]
    assert "Review file — coder @ local" in s.observed["action_titles"]
    assert "Explain file — coder @ local" in s.observed["action_titles"]


def test_review_answers_at_once_and_the_finding_arrives_in_flymake(runs: Runs) -> None:
    s = runs["later"]
    print(f"\n{runs.versions}; review returned after {s.observed['review_returned_after_s']} s,")
    print(f"diagnostic after {s.observed['diagnostics_after_s']} s (model: {MODEL_LATENCY_S} s)")
    assert s.observed["review_error"] is None, s.explain_failure()
    review = s.calls()[0]
    assert review["command"] == "localroute.review" and "error" not in review
    assert json.loads(review["result"]) == {
        "accepted": True,
        "uri": s.file.as_uri(),
        "task": "review",
        "delivery": "diagnostics",
    }
    assert s.observed["diagnostics"] == [
        {"text": f"localroute: {FINDING}", "line": 2, "type": "eglot-warning"}
    ], s.explain_failure()
    assert (
        "[eglot] Server reports (type=3): localroute: review file of calc.py: 1 finding(s) "
        "(coder @ local (local))" in s.messages
    ), s.explain_failure()
    assert "Timed out" not in s.messages
    # one model request per command: nothing was retried behind Eglot's back
    assert len(runs.local["later"].chat_requests) == 2


def test_explain_answers_at_once_and_the_markdown_shows_in_messages_and_hover(
    runs: Runs,
) -> None:
    s = runs["later"]
    assert s.observed["explain_error"] is None, s.explain_failure()
    explain = s.calls()[1]
    assert explain["command"] == "localroute.explain" and "error" not in explain
    assert json.loads(explain["result"])["delivery"] == "hover"
    assert re.search(
        r"Server reports \(type=3\): localroute: explain file of calc\.py "
        r"\(coder @ local \(local\)\):\n\n" + re.escape(EXPLANATION),
        s.messages,
    ), s.explain_failure()
    # what ElDoc shows at a line of the explained file (M-x eldoc)
    assert s.observed["hover"] is not None and EXPLANATION in s.observed["hover"]


def test_the_plain_entry_delivers_later_too(runs: Runs) -> None:
    """Eglot announces no work-done progress: without initializationOptions the server
    answers at once by itself."""
    s = runs["default"]
    assert "deliverResultsLater" not in s.events
    assert s.observed["review_error"] is None, s.explain_failure()
    assert json.loads(s.calls()[0]["result"])["accepted"] is True
    assert [d["text"] for d in s.observed["diagnostics"]] == [f"localroute: {FINDING}"]
    assert "1 finding(s)" in s.messages


def test_without_delivery_later_eglot_times_out(runs: Runs) -> None:
    """deliverResultsLater false: the server answers when the model has, after Eglot gave up.
    This is what every Eglot user saw before the option, and why it is on for Eglot."""
    s = runs["sync"]
    print(f"\nEglot gave up after {s.calls()[0]['seconds']} s")
    error = s.observed["review_error"]
    assert error is not None and "Timed out" in error, s.explain_failure()
    assert s.calls()[0]["command"] == "localroute.review" and "Timed out" in s.calls()[0]["error"]
    assert "result" not in s.calls()[0]
    # the server still finished the review: its late reply is dropped by Eglot, but the
    # diagnostics it published arrive
    assert [d["text"] for d in s.observed["diagnostics"]] == [f"localroute: {FINDING}"]
    assert "finding(s)" not in s.messages  # no message says the review ended


def test_consent_is_asked_in_eglot_and_only_an_explicit_choice_sends(runs: Runs) -> None:
    """A refusal delivered later asks with `window/showMessageRequest`, which Eglot turns into
    a `completing-read` with the first action as its initial input: RET must not send."""
    s = runs["consent"]
    assert s.observed["first_review_error"] is None, s.explain_failure()
    assert s.observed["second_review_error"] is None, s.explain_failure()
    first, second = s.observed["consent_questions"]
    for question in (first, second):
        assert question["prompt"].startswith(
            "[eglot] Server reports (type=2): localroute: refused: private/calc.py is private"
        ), question
        assert sorted(question["choices"]) == ["Do not send", "Send to cloud anyway (this once)"]
    assert first["initial_input"] == "Do not send"
    assert first["answer"] == "Do not send"  # what RET gave
    assert second["answer"] == "Send to cloud anyway (this once)"
    assert ":token" not in first["prompt"] + second["prompt"]
    assert [d["text"] for d in s.observed["diagnostics"]] == [f"localroute: {FINDING}"]
    assert "review file of private/calc.py: 1 finding(s) (big @ cloud (cloud))" in s.messages
    assert len(runs.cloud.chat_requests) == 1, s.explain_failure()  # the explicit choice only


def test_the_documented_elisp_is_the_elisp_tested() -> None:
    driver = DRIVER.read_text()
    doc = DOC.read_text()
    match = re.search(r";; <user-setup>\n(.*?);; </user-setup>\n", driver, re.S)
    assert match is not None
    assert f"```elisp\n{match.group(1)}```" in doc, "docs/editors/emacs.md lacks the set-up"
