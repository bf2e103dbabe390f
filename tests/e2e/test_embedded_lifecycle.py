"""The embedded model server ends with the process that started it.

A demo, an evaluation or `localroute model serve` killed by SIGTERM (a terminal closed, a
service manager, a CI runner's timeout) or by SIGKILL must not leave a model server on its
port. The signal handling is tested with a stand-in child (Python's own HTTP server, which
would run forever); `localroute model serve` and a killed parent of the real model with the
model itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localroute import embedded

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 30.0
"""A deadline for the child to vanish, generous for a loaded machine (it is a bound on
waiting, not a measurement)."""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "server"), "PYTHONUNBUFFERED": "1"}


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper (PID 1 in a container may never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # not Linux: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_WITHIN_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def processes() -> Iterator[list[int]]:
    """Pids to kill at the end whatever happened, so a failing test leaves nothing."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _start_parent(code: str, processes: list[int]) -> tuple[subprocess.Popen[str], int]:
    """A Python process running ``code``, which prints its child's pid as ``child PID``."""
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(parent.pid)
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line.startswith("child "), f"the parent printed {line!r}"
    child = int(line.split()[1])
    processes.append(child)
    return parent, child


STAND_IN = """
    import threading, time
    from pathlib import Path
    from localroute import embedded

    log = Path({log!r})
    def spawn():
        global child
        child = embedded.spawn_tied("http.server", ["0", "--bind", "127.0.0.1"], log)
    {how}
    print("child", child.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_child_ends_when_its_parent_is_killed(
    signum: signal.Signals, tmp_path: Path, processes: list[int]
) -> None:
    code = STAND_IN.format(log=str(tmp_path / "child.log"), how="spawn()")
    parent, child = _start_parent(code, processes)
    assert _alive(child)
    parent.send_signal(signum)
    parent.wait(timeout=30)
    assert _wait_gone(child), f"the child {child} outlived its parent ({signum.name})"


def test_a_child_started_from_a_thread_outlives_the_thread_not_the_process(
    tmp_path: Path, processes: list[int]
) -> None:
    # The kernel's parent-death signal follows the thread that forked; from a worker thread
    # only the watchdog may end the child, and only once the whole process is gone.
    how = "t = threading.Thread(target=spawn); t.start(); t.join()"
    code = STAND_IN.format(log=str(tmp_path / "child.log"), how=how)
    parent, child = _start_parent(code, processes)
    time.sleep(1.0)  # the thread has ended: a parent-death signal would have come by now
    assert _alive(child), "the child ended with the thread that started it"
    parent.kill()
    parent.wait(timeout=30)
    assert _wait_gone(child), f"the child {child} outlived its parent"


def test_a_child_whose_parent_is_already_gone_does_not_start(
    tmp_path: Path, processes: list[int]
) -> None:
    # The launcher checks its parent after asking for the signal: a parent that died in
    # between would otherwise never send it.
    log = tmp_path / "child.log"
    argv = [
        sys.executable,
        "-P",
        str(Path(embedded.__file__).resolve()),
        "--child",
        "1",  # not this launcher's parent
        "1",
        "http.server",
        "0",
    ]
    with log.open("wb") as out:
        done = subprocess.run(argv, env=_env(), stdout=out, stderr=subprocess.STDOUT, timeout=30)
    assert done.returncode == 1
    assert "Serving HTTP" not in log.read_text()


def test_the_log_names_where_it_is_when_the_server_fails(tmp_path: Path) -> None:
    port = embedded.free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        with pytest.raises(embedded.EmbeddedModelError, match=f"port {port} .* is in use"):
            embedded.start(port=port, log_path=tmp_path / "model.log")


# -- the real model --------------------------------------------------------------------------


def _need_model() -> None:
    try:
        embedded.model_path()
        __import__("llama_cpp.server")
    except (embedded.EmbeddedModelError, ImportError) as exc:
        pytest.skip(f"the embedded model cannot run here: {exc}")


@pytest.mark.real_model
def test_model_serve_stops_the_model_on_sigterm(tmp_path: Path, processes: list[int]) -> None:
    _need_model()
    port = embedded.free_port()
    log = tmp_path / "model.log"
    argv = [sys.executable, "-m", "localroute", "model", "serve", "--port", str(port)]
    cli = subprocess.Popen(
        [*argv, "--log", str(log)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(cli.pid)
    assert cli.stdout is not None
    first = cli.stdout.readline()
    assert first == f"model server up at http://127.0.0.1:{port}/v1; its log: {log}\n", first
    assert cli.stdout.readline() == f"Ctrl-C or `kill {cli.pid}` stops it. As your local " + (
        "backend (~/.config/localroute/config.toml):\n"
    )
    model = _children(cli.pid)[0]
    processes.append(model)
    rest = "".join(cli.stdout.readline() for _ in range(8))  # a blank line, the table
    assert "context_tokens = 4096" in rest and "max_concurrency = 1" in rest
    cli.send_signal(signal.SIGTERM)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert "model server stopped" in err
    assert "Traceback" not in err
    assert not _alive(model)
    assert embedded.port_is_free(port)


@pytest.mark.real_model
def test_a_killed_parent_of_the_real_model_leaves_no_server(
    tmp_path: Path, processes: list[int]
) -> None:
    _need_model()
    code = f"""
        import time
        from pathlib import Path
        from localroute import embedded
        server = embedded.start(log_path=Path({str(tmp_path / "model.log")!r}))
        print("child", server.process.pid, server.port, flush=True)
        time.sleep(600)
    """
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    processes.append(parent.pid)
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line.startswith("child "), line
    model, port = (int(x) for x in line.split()[1:3])
    processes.append(model)
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    assert _wait_gone(model), "the model server outlived its parent"
    assert embedded.port_is_free(port)
