"""Starting a backend's service with its `start_command`, and waiting until it answers.

The command (e.g. `systemctl --user start llama-swap`) runs in a session of its
own, so a long-running server it starts outlives this process. Success is not its
exit code but the backend's probe turning up within the budget.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from localroute.pipeline import Pipeline

log = logging.getLogger(__name__)

POLL_S = 0.5


@dataclass(frozen=True)
class StartOutcome:
    backend: str
    up: bool
    detail: str
    seconds: float


class StartError(Exception):
    """The backend has no start command, or it could not be run."""


async def start_backend(pipeline: Pipeline, name: str, *, wait_s: float = 120.0) -> StartOutcome:
    config = pipeline.config.backends.get(name)
    if config is None:
        raise StartError(f"no backend named '{name}'")
    if not config.start_command:
        raise StartError(f"backend '{name}' has no start_command in the user configuration")
    began = time.monotonic()
    argv = config.start_command
    pipeline.services[name] = "starting"
    # Popen rather than asyncio's subprocess: asyncio kills a child whose transport is
    # collected, and a server started in the foreground must keep running.
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(  # noqa: ASYNC220 (fork+exec only; reaped by a thread)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        log.info("started %s for backend %s (pid %s)", argv[0], name, process.pid)
        # A service started in the foreground is this process's child: reap it when it
        # exits (a `stop_command` that waits for it to be gone would wait on a zombie).
        threading.Thread(target=process.wait, name=f"reap-{name}", daemon=True).start()
        deadline = began + wait_s
        health = pipeline.health.health(name)
        while time.monotonic() < deadline:
            health = await pipeline.health.probe(name)
            if health.state == "up":
                pipeline.services[name] = "up"
                return StartOutcome(name, True, "up", time.monotonic() - began)
            if process.poll():
                errors.seek(0)
                lines = errors.read(4000).decode(errors="replace").strip().splitlines()
                last = f": {lines[-1]}" if lines else ""
                pipeline.services.pop(name, None)
                return StartOutcome(
                    name,
                    False,
                    f"{argv[0]} exited with code {process.returncode}{last}",
                    time.monotonic() - began,
                )
            await asyncio.sleep(POLL_S)
    pipeline.services.pop(name, None)
    return StartOutcome(
        name, False, f"still down after {wait_s:.0f} s: {health.detail}", time.monotonic() - began
    )


STOP_WAIT_S = 60.0


async def stop_backend(
    pipeline: Pipeline, name: str, *, wait_s: float = STOP_WAIT_S
) -> StartOutcome:
    """Run the backend's `stop_command` and mark the backend down at once, so the next
    request's route is known before anything is sent."""
    config = pipeline.config.backends.get(name)
    if config is None:
        raise StartError(f"no backend named '{name}'")
    if not config.stop_command:
        raise StartError(f"backend '{name}' has no stop_command in the user configuration")
    began = time.monotonic()
    argv = config.stop_command
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise StartError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
    try:
        async with asyncio.timeout(wait_s):
            _, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise StartError(f"{argv[0]} did not finish within {wait_s:.0f} s") from None
    pipeline.health.mark_down(name, "stopped by localroute")
    pipeline.services[name] = "stopped"
    if process.returncode:
        lines = stderr.decode(errors="replace").strip().splitlines()
        last = f": {lines[-1]}" if lines else ""
        detail = f"{argv[0]} exited with code {process.returncode}{last}"
    else:
        detail = "stopped"
    log.info("stopped backend %s: %s", name, detail)
    return StartOutcome(name, False, detail, time.monotonic() - began)
