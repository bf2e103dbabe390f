"""The Emacs consent snippet of docs/editors/emacs.md, run as the doc shows it: a real Emacs
(batch mode) with Eglot starts the real server, reviews a private file while the local backend
is down, and answers the consent question no, then yes. The cloud fake must receive exactly one
request, and its finding must arrive as a Flymake diagnostic.

The snippet is read from the doc at test time, so the doc cannot drift from what was tried.
Needs Emacs 28+ with Eglot (Debian: `emacs-nox elpa-eglot`); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.ports import closed_port
from tests.support.cli import ROOT, localroute_env
from tests.vscode.local_fake import CLOUD_FINDING, cloud_answer

DOC = ROOT / "docs" / "editors" / "emacs.md"

DRIVER = r"""
(dolist (dir (append (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*")
                     (file-expand-wildcards (expand-file-name "~/.emacs.d/elpa/*"))))
  (add-to-list 'load-path dir))
(require 'eglot)
(require 'python)
SERVER_ENTRY
SNIPPET
(defvar lr-answers '(nil t))
(defvar lr-prompts nil)
(advice-add 'yes-or-no-p :override
            (lambda (prompt) (push prompt lr-prompts) (pop lr-answers)))
(find-file (getenv "LR_FILE"))
(python-mode)
(eglot-ensure)
(run-hooks 'post-command-hook)
(let ((deadline (+ (float-time) 30)))
  (while (and (not (eglot-current-server)) (< (float-time) deadline))
    (accept-process-output nil 0.1)))
(unless (eglot-current-server) (message "LR-RESULT no server") (kill-emacs 3))
(localroute-review)   ; answered no
(localroute-review)   ; answered yes
(let ((deadline (+ (float-time) 10)))
  (while (and (null (flymake-diagnostics)) (< (float-time) deadline))
    (accept-process-output nil 0.1)))
(let ((diagnostics (mapcar #'flymake-diagnostic-text (flymake-diagnostics))))
  (with-temp-file (getenv "LR_RESULT")
    (insert (json-encode (list (cons 'prompts (vconcat (reverse lr-prompts)))
                               (cons 'diagnostics (vconcat diagnostics)))))))
(kill-emacs 0)
"""


def elisp_blocks() -> list[str]:
    return re.findall(r"```elisp\n(.*?)```", DOC.read_text(), re.S)


def has_eglot(emacs: str) -> bool:
    probe = (
        '(progn (dolist (d (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*")) '
        "(add-to-list 'load-path d)) (require 'eglot))"
    )
    return (
        subprocess.run([emacs, "-Q", "--batch", "--eval", probe], capture_output=True).returncode
        == 0
    )


def test_emacs_consent_snippet(tmp_path: Path) -> None:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (Debian: apt-get install emacs-nox elpa-eglot)")
    if not has_eglot(emacs):
        pytest.skip("Eglot is not available to emacs (Debian: apt-get install elpa-eglot)")
    blocks = elisp_blocks()
    (snippet,) = [b for b in blocks if "(defun localroute-run" in b]
    (entry,) = [b for b in blocks if ":deliverResultsLater :json-false" in b]

    workspace = tmp_path / "workspace"
    (workspace / "secrets").mkdir(parents=True)
    (workspace / ".git").mkdir()  # the project root
    private = workspace / "secrets" / "db.py"
    private.write_text('def connect():\n    return open_session("db.internal")\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `localroute` on PATH, as the doc's server entry expects: this checkout's server
    launcher = bin_dir / "localroute"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m localroute "$@"\n')
    launcher.chmod(0o755)
    init = tmp_path / "driver.el"
    init.write_text(DRIVER.replace("SERVER_ENTRY", entry).replace("SNIPPET", snippet))
    result = tmp_path / "result.json"
    dead_port = closed_port()

    with FakeOpenAI() as cloud:
        cloud.answer_fn = cloud_answer
        config = tmp_path / "config.toml"
        config.write_text(
            f'[backends.local]\nkind = "openai"\nurl = "http://127.0.0.1:{dead_port}/v1"\n\n'
            f'[backends.cloud]\nkind = "openai"\nurl = "{cloud.url}"\nlocality = "cloud"\n\n'
            '[tasks.review]\nroute = ["local:coder", "cloud:gpt-cloud"]\n\n'
            '[privacy]\nglobs = ["secrets/**"]\n'
        )
        home = tmp_path / "home"
        env = localroute_env(
            config=config,
            config_home=home / ".config",
            state_home=home / ".state",
            cache_home=home / ".cache",
            home=home,
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            LR_FILE=str(private),
            LR_RESULT=str(result),
        )
        run = subprocess.run(
            [emacs, "-Q", "--batch", "-l", str(init)],
            env=env,
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=120,
        )
        chats = [request.json for request in cloud.chat_requests]

    output = f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    assert run.returncode == 0 and result.exists(), output
    seen = json.loads(result.read_text())
    assert len(seen["prompts"]) == 2, (seen, output)
    for prompt in seen["prompts"]:
        assert "secrets/db.py is private" in prompt, prompt
        assert prompt.endswith("Send to cloud anyway (this once)? "), prompt
    # no sent nothing, yes sent this one request
    assert len(chats) == 1, chats
    assert "open_session" in json.dumps(chats[0])
    assert seen["diagnostics"] == [f"localroute: {CLOUD_FINDING}"], (seen, output)
