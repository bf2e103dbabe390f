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
    # Popen rather than asyncio's subprocess: asyncio kills a child whose transport is
    # collected, and a server started in the foreground must keep running.
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(  # noqa: ASYNC220 (fork+exec only; never waited on)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        log.info("started %s for backend %s (pid %s)", argv[0], name, process.pid)
        deadline = began + wait_s
        health = pipeline.health.health(name)
        while time.monotonic() < deadline:
            health = await pipeline.health.probe(name)
            if health.state == "up":
                return StartOutcome(name, True, "up", time.monotonic() - began)
            if process.poll():
                errors.seek(0)
                lines = errors.read(4000).decode(errors="replace").strip().splitlines()
                last = f": {lines[-1]}" if lines else ""
                return StartOutcome(
                    name,
                    False,
                    f"{argv[0]} exited with code {process.returncode}{last}",
                    time.monotonic() - began,
                )
            await asyncio.sleep(POLL_S)
    return StartOutcome(
        name, False, f"still down after {wait_s:.0f} s: {health.detail}", time.monotonic() - began
    )
