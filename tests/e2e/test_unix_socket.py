"""A local model served on a unix socket file, from the shell: private code goes to it (a
socket is local), `localroute status` shows it up, and the audit names it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cli import audit_entries, env_in, run_localroute

pytestmark = pytest.mark.timeout(120)

ANSWER = json.dumps({"findings": [{"line": 1, "severity": "warning", "message": "key in code"}]})


@pytest.fixture
def socket_path() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="lr-", dir="/tmp")  # a socket's path is short
    try:
        yield f"{folder}/llama.sock"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def config_for(local: str, cloud: str) -> str:
    return textwrap.dedent(
        f"""
        [backends.local]
        kind = "openai"
        url = "{local}"

        [backends.cloud]
        kind = "openai"
        url = "{cloud}"
        locality = "cloud"

        [tasks.review]
        route = ["local:coder", "cloud:big"]
        """
    )


def test_private_code_goes_to_the_model_on_the_socket_and_never_to_the_cloud(
    tmp_path: Path, socket_path: str
) -> None:
    (tmp_path / ".git").mkdir()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "deploy.py").write_text("TOKEN = 'x'\n")
    with FakeOpenAI(unix_socket=socket_path, answer=ANSWER) as local, FakeOpenAI() as cloud:
        config = config_for(f"unix:{socket_path}", cloud.url)
        env = env_in(tmp_path, config)
        status = run_localroute("status", "--format", "json", env=env, cwd=tmp_path, timeout=60)
        done = run_localroute(
            "review", "secrets/deploy.py", "--format", "json", env=env, cwd=tmp_path, timeout=60
        )
        assert done.returncode == 0, done.stderr
        (result,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert result["backend"] == "local" and result["locality"] == "local"
        assert [f["message"] for f in result["findings"]] == ["key in code"]
        assert len(local.chat_requests) == 1
        assert cloud.chat_requests == []
    assert status.returncode == 0, status.stderr
    backends = {b["name"]: b for b in json.loads(status.stdout)["backends"]}
    assert backends["local"]["state"] == "up", backends["local"]
    assert backends["local"]["locality"] == "local"
    (entry,) = audit_entries(tmp_path / "state")
    assert (entry["backend"], entry["locality"], entry["outcome"]) == ("local", "local", "ok")
    assert entry["privacy"] == "private"


def test_a_socket_that_is_gone_falls_back_for_ordinary_code_and_refuses_private_code(
    tmp_path: Path, socket_path: str
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "app.py").write_text("def f():\n    return 1\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "deploy.py").write_text("TOKEN = 'x'\n")
    with FakeOpenAI(answer=ANSWER) as cloud:
        env = env_in(tmp_path, config_for(f"unix:{socket_path}", cloud.url))
        ordinary = run_localroute("review", "app.py", "--format", "json", env=env, cwd=tmp_path)
        private = run_localroute(
            "review", "secrets/deploy.py", "--format", "json", env=env, cwd=tmp_path
        )
        sent = [r.body.decode() for r in cloud.chat_requests]
    assert ordinary.returncode == 0, ordinary.stderr
    assert json.loads(ordinary.stdout.splitlines()[0])["backend"] == "cloud"
    assert private.returncode != 0
    refused = json.loads(private.stdout.splitlines()[0])
    assert refused["status"] == "refused" and refused["sent_to"] == []
    assert "local:coder: cannot connect: No such file or directory" in refused["error"]
    assert "Nothing was sent" in refused["error"]
    assert len(sent) == 1 and all("TOKEN" not in text for text in sent)


@pytest.mark.real_model
@pytest.mark.timeout(300)
def test_the_real_model_server_on_a_unix_socket_reviews_private_code(
    tmp_path: Path, socket_path: str
) -> None:
    """llama-cpp-python's server (uvicorn) on a socket file, with the embedded model: the
    probe finds it, and a private file is reviewed by it."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python's server is not installed")
    from localroute import embedded

    code = textwrap.dedent(
        f"""
        import uvicorn
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings

        from localroute import embedded

        embedded.keep_weights_off_amx()  # as the embedded server does (llama.cpp's AMX crash)
        model = ModelSettings(
            model={str(embedded.model_path())!r}, model_alias="coder", n_ctx=2048,
            chat_format="gemma",
        )
        app = create_app(
            server_settings=ServerSettings(interrupt_requests=False), model_settings=[model]
        )
        uvicorn.run(app, uds={socket_path!r}, log_level="warning")
        """
    )
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not Path(socket_path).exists():
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the model server did not start"
            time.sleep(0.2)
        (tmp_path / ".git").mkdir()
        (tmp_path / "secrets").mkdir()
        (tmp_path / "secrets" / "job.py").write_text(
            "def average(values):\n    return sum(values) / len(values)\n"
        )
        config = textwrap.dedent(
            f"""
            [backends.local]
            kind = "openai"
            url = "unix:{socket_path}"
            timeout_s = 240

            [tasks.review]
            route = ["local:coder"]
            """
        )
        env = env_in(tmp_path, config)
        status = run_localroute("status", "--format", "json", env=env, cwd=tmp_path, timeout=60)
        done = run_localroute(
            "review", "secrets/job.py", "--format", "json", env=env, cwd=tmp_path, timeout=240
        )
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    assert status.returncode == 0, status.stderr
    (local,) = [b for b in json.loads(status.stdout)["backends"] if b["name"] == "local"]
    assert local["state"] == "up", local
    assert "coder" in local["models"]
    assert done.returncode in (0, 1), done.stdout  # 1: findings
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (result["backend"], result["model"], result["locality"]) == ("local", "coder", "local")
    (entry,) = audit_entries(tmp_path / "state")
    assert entry["privacy"] == "private" and entry["outcome"] == "ok"
