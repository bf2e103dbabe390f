"""The ``command`` backend: a CLI that reads the prompt on stdin and answers on stdout.

Made for agent CLIs such as ``opencode run``, ``gemini`` or ``copilot``, run so that they can
only answer (the ready entries in docs/backends.md deny every tool). Per request:

* the CLI runs in a fresh run directory with ``files`` written into it, the server's
  environment plus ``env``, ``PWD`` set to its working directory (see
  :mod:`localroute.backends.command_setup`);
* argv is ``config.argv`` with ``{model}`` replaced in every element by the route's model
  (and ``{run_dir}``, ``{file:NAME}``);
* stdin is the system message, a blank line, then the user message (just the user message
  when there is no system message), UTF-8, then closed;
* stdout is the answer: ``output = "text"`` takes all of it, stripped; ``"opencode-json"``
  reads opencode's JSON lines (``text`` events carry ``part.text``, ``error`` events an error;
  other types and lines that are not JSON are skipped);
* a stderr line matching ``stop_on_stderr`` stops the CLI at once: the backend is unavailable.

The child leads its own process group (``start_new_session``), and nothing of that group
outlives the request: when the CLI exits, leftovers in its group are killed; when the budget
(``timeout_s``) is spent, the group gets SIGTERM, then SIGKILL 2 s later; on cancellation it
gets SIGKILL at once. The child is always reaped, then the run directory is removed. stdout is
capped at :data:`MAX_OUTPUT_BYTES`. (A descendant that starts a session of its own is out of
reach.)

The probe runs ``probe_argv`` (default ``[argv[0], "--version"]``) once per executable file and
keeps the outcome: an installed but broken CLI is down with its error; :attr:`executable` and
:attr:`version` are what ``localroute status`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    StatusCallback,
    TextCallback,
)
from localroute.backends.command_output import UNAVAILABLE, Output, compose_prompt, tail
from localroute.backends.command_process import (
    READ_CHUNK,
    Stderr,
    discard,
    exit_code,
    feed,
    signal_group,
)
from localroute.backends.command_setup import Prober, Run, SetupError, prepared, spawn
from localroute.config.models import CommandBackendConfig, Locality

__all__ = ["KILL_GRACE_S", "MAX_OUTPUT_BYTES", "CommandBackend", "compose_prompt"]

log = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 4 * 1024 * 1024
"""The most stdout a CLI may write for one answer; more stops it with an error."""

KILL_GRACE_S = 2.0
"""How long a CLI whose budget is spent has between SIGTERM and SIGKILL."""

_DRAIN_S = 2.0


class CommandBackend:
    """A backend that runs ``config.argv`` once per request (see the module docstring)."""

    def __init__(
        self,
        name: str,
        config: CommandBackendConfig,
        locality: Locality,
        *,
        max_output_bytes: int = MAX_OUTPUT_BYTES,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        if not config.argv:
            raise ValueError(f"backend '{name}' needs argv")
        self.name = name
        self.config = config
        self.locality: Locality = locality
        self.argv: tuple[str, ...] = tuple(config.argv)
        """The argv template; ``argv[0]`` is the executable."""
        self.max_output_bytes = max_output_bytes
        self.kill_grace_s = kill_grace_s
        self._stop = re.compile(config.stop_on_stderr) if config.stop_on_stderr else None
        self._prober = Prober(config)
        self._running: set[asyncio.subprocess.Process] = set()

    @property
    def executable(self) -> str | None:
        """The executable the last probe found, if any."""
        last = self._prober.last
        return last.executable if last else None

    @property
    def version(self) -> str | None:
        """The first line the last successful probe printed (its ``--version``)."""
        last = self._prober.last
        return last.version if last and last.ok else None

    def argv_for(self, model: str) -> list[str]:
        """The argv run for ``model``: ``{model}`` replaced in every element."""
        return [part.replace("{model}", model) for part in self.argv]

    async def probe(self) -> ProbeResult:
        """Up when the probe argv runs and exits 0 (run once per executable file)."""
        outcome = await self._prober.probe()
        if not outcome.ok:
            return ProbeResult(up=False, detail=outcome.detail)
        detail = outcome.detail + (f" ({outcome.version})" if outcome.version else "")
        return ProbeResult(up=True, detail=detail)

    async def chat(
        self,
        request: ChatRequest,
        on_text: TextCallback | None = None,
        *,
        on_status: StatusCallback | None = None,
    ) -> ChatResult:
        """Run the CLI once; see :class:`localroute.backends.base.Backend` (a CLI says
        nothing of loading: ``on_status`` is not called)."""
        label = self.argv[0]
        try:
            with prepared(self.config, list(self.argv), model=request.model) as run:
                return await self._chat(run, request, on_text, label)
        except SetupError as exc:
            raise BackendUnavailable(self.name, exc.message, nothing_sent=True) from None

    async def _chat(
        self, run: Run, request: ChatRequest, on_text: TextCallback | None, label: str
    ) -> ChatResult:
        try:
            proc = await spawn(run, stdin=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise BackendUnavailable(
                self.name, f"cannot run `{label}`: {exc.strerror}", nothing_sent=True
            ) from None
        self._running.add(proc)
        output = Output(self.config.output, on_text)
        stderr = Stderr(self._stop, lambda: signal_group(proc, signal.SIGKILL))
        try:
            async with asyncio.timeout(self.config.timeout_s):
                code = await self._run(proc, compose_prompt(request), output, stderr, label)
        except TimeoutError:
            await self._stop_group(proc, graceful=True)
            raise BackendUnavailable(
                self.name, f"no answer within {self.config.timeout_s:g} s"
            ) from None
        except BaseException:
            await self._stop_group(proc, graceful=False)
            raise
        finally:
            self._running.discard(proc)
        if stderr.stopped_by is not None:
            raise BackendUnavailable(self.name, f"`{label}` reported: {tail(stderr.stopped_by)}")
        return self._result(request, label, code, output, stderr.text)

    async def _run(
        self,
        proc: asyncio.subprocess.Process,
        prompt: str,
        output: Output,
        stderr: Stderr,
        label: str,
    ) -> int:
        """Feed stdin and read stdout and stderr until the CLI exits and its pipes close."""
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = asyncio.create_task(feed(proc.stdin, prompt.encode("utf-8")))
        out = asyncio.create_task(self._read_stdout(proc.stdout, output, label))
        err = asyncio.create_task(stderr.read(proc.stderr))
        exited = asyncio.create_task(exit_code(proc))
        tasks = (feeder, out, err, exited)
        try:
            await asyncio.wait((out, exited), return_when=asyncio.FIRST_COMPLETED)
            if out.done():
                out.result()  # raises when the output cap was hit
            code = await exited
            # The CLI is gone: whatever it left running in its group goes too, which also
            # closes the pipes those leftovers inherited. What is already in the pipes is
            # still read; a descendant that left the group cannot hold the answer up.
            signal_group(proc, signal.SIGKILL)
            await asyncio.wait((out, err), timeout=_DRAIN_S)
            if out.done():
                out.result()
            output.feed(b"", final=True)
            return code
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_stdout(self, stream: asyncio.StreamReader, output: Output, label: str) -> None:
        size = 0
        while chunk := await stream.read(READ_CHUNK):
            size += len(chunk)
            if size > self.max_output_bytes:
                raise BackendRequestError(
                    self.name,
                    f"`{label}` wrote more than {self.max_output_bytes // 1024} KiB; stopped it",
                )
            output.feed(chunk)

    async def _stop_group(self, proc: asyncio.subprocess.Process, *, graceful: bool) -> None:
        """End the process group (SIGTERM then SIGKILL, or SIGKILL at once) and reap."""
        try:
            if graceful and proc.returncode is None:
                signal_group(proc, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.kill_grace_s):
                        await exit_code(proc)
        finally:
            # Also when cancelled during the grace period: the group must not outlive us.
            signal_group(proc, signal.SIGKILL)
        await exit_code(proc)
        await discard(proc)

    def _result(
        self, request: ChatRequest, label: str, code: int, output: Output, stderr: str
    ) -> ChatResult:
        answer = output.answer
        if output.error is not None and (code != 0 or not answer):
            message, passing = output.error
            if code != 0:
                message = f"`{label}` exited with code {code}: {message}"
            raise (BackendUnavailable if passing else BackendRequestError)(self.name, message)
        if code != 0:
            raise self._exit_error(label, code, stderr)
        if output.truncated:
            raise BackendUnavailable(self.name, f"`{label}` output ended mid-line (truncated)")
        if output.error is not None:
            log.warning("%s: answered despite an error event: %s", self.name, output.error[0])
        if not answer:
            detail = tail(stderr)
            raise BackendRequestError(
                self.name, f"`{label}` printed no answer" + (f": {detail}" if detail else "")
            )
        return ChatResult(text=answer, model=request.model, structured="none")

    def _exit_error(self, label: str, code: int, stderr: str) -> BackendError:
        detail = tail(stderr)
        if code < 0:
            by = signal.Signals(-code).name if -code in set(signal.Signals) else f"signal {-code}"
            return BackendUnavailable(self.name, f"`{label}` was killed by {by}")
        message = f"`{label}` exited with code {code}" + (f": {detail}" if detail else "")
        # The telling line may sit above a stack trace: all of the kept stderr counts.
        if UNAVAILABLE.search(stderr):
            return BackendUnavailable(self.name, message)
        return BackendRequestError(self.name, message)

    async def aclose(self) -> None:
        """Kill every CLI still running for this backend, and reap it."""
        for proc in list(self._running):
            signal_group(proc, signal.SIGKILL)  # the chat() running it reads what is left
            await exit_code(proc)
