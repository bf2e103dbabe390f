"""The ``command`` backend: a CLI that reads the prompt on stdin and answers on stdout.

Made for agent CLIs such as ``opencode run -m github-copilot/{model} --format json`` or
``gemini -m gemini-2.5-pro``. Per request:

* argv is ``config.argv`` with ``{model}`` replaced in every element by the route's model;
* stdin is the system message, a blank line, then the user message (just the user message
  when there is no system message), UTF-8, then closed;
* stdout is the answer: ``output = "text"`` takes all of it, stripped; ``"opencode-json"``
  reads opencode's JSON lines (``text`` events carry ``part.text``, ``error`` events an error;
  other types and lines that are not JSON are skipped);
* the environment and working directory are the server's.

The child leads its own process group (``start_new_session``), and nothing of that group
outlives the request: when the CLI exits, leftovers in its group are killed; when the budget
(``timeout_s``) is spent, the group gets SIGTERM, then SIGKILL 2 s later; on cancellation it
gets SIGKILL at once. The child is always reaped. stdout is capped at
:data:`MAX_OUTPUT_BYTES`. (A descendant that starts a session of its own is out of reach.)
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import re
import shutil
import signal
from typing import Any

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.config.models import CommandBackendConfig, Locality

log = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 4 * 1024 * 1024
"""The most stdout a CLI may write for one answer; more stops it with an error."""

KILL_GRACE_S = 2.0
"""How long a CLI whose budget is spent has between SIGTERM and SIGKILL."""

MAX_MESSAGE = 300
_STDERR_KEEP = 64 * 1024
_READ_CHUNK = 64 * 1024
_EXIT_POLL_S = 0.02
_DRAIN_S = 2.0
_DISCARD_S = 0.5
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SPACE = re.compile(r"\s+")
_UNAVAILABLE = re.compile(
    r"rate.?limit|too many requests|\b429\b|quota|resource.?exhausted|overload|at capacity|"
    r"\b50[234]\b|service unavailable|bad gateway|gateway time|network|connection (refused|"
    r"reset|closed|error)|econn(refused|reset|aborted)|etimedout|enotfound|eai_again|"
    r"getaddrinfo|name resolution|socket hang up|fetch failed|timed out|timeout|offline",
    re.I,
)


def compose_prompt(request: ChatRequest) -> str:
    """The text written to the CLI's stdin: system message, blank line, user message."""
    return f"{request.system}\n\n{request.user}" if request.system else request.user


def _tail(text: str, limit: int = MAX_MESSAGE) -> str:
    """The last lines of ``text`` as one line of at most ``limit`` characters."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    line = _SPACE.sub(" ", " ".join(lines[-5:])).strip()
    return line if len(line) <= limit else "…" + line[-(limit - 1) :]


def _error_text(event: dict[str, Any]) -> tuple[str, bool]:
    """An opencode ``error`` event's message, and whether it reads like a passing failure.

    opencode's errors are ``{"name": ..., "data": {"message", "statusCode"?, "isRetryable"?}}``;
    a plain ``{"message": ...}`` object or a string is understood too.
    """
    error = event.get("error")
    if not isinstance(error, dict):
        error = {"message": error if isinstance(error, str) else event.get("message")}
    data = error.get("data")
    fields: dict[str, Any] = {**error, **data} if isinstance(data, dict) else error
    message = fields.get("message") if isinstance(fields.get("message"), str) else error.get("name")
    message = _tail(message if isinstance(message, str) else "") or "unknown error"
    status = fields.get("statusCode")
    passing = fields.get("isRetryable") is True or (
        isinstance(status, int) and (status == 429 or status >= 500)
    )
    return message, passing or bool(_UNAVAILABLE.search(message))


class _Output:
    """Collects one run's stdout: the answer pieces, and any opencode error event."""

    def __init__(self, mode: str, on_text: TextCallback | None) -> None:
        self.mode = mode
        self.on_text = on_text
        self.parts: list[str] = []
        self.error: tuple[str, bool] | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = b""
        self._texts = 0
        self.truncated = False
        """opencode-json output that ended inside an event (the CLI died mid-write)."""

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.mode == "text":
            self._emit(self._decoder.decode(data, final))
            return
        lines = (self._pending + data).split(b"\n")
        self._pending = b"" if final else lines.pop()
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace").strip())
        if final and lines and lines[-1].strip().startswith(b"{"):
            try:
                json.loads(lines[-1])
            except ValueError:
                self.truncated = True

    def _emit(self, piece: str) -> None:
        if piece:
            self.parts.append(piece)
            if self.on_text is not None:
                self.on_text(piece)

    def _line(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        if isinstance(event, dict) and event.get("type") == "text":
            part = event.get("part")
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and text:
                self._emit(("\n" if self._texts else "") + text)
                self._texts += 1
        elif isinstance(event, dict) and event.get("type") == "error":
            self.error = _error_text(event)

    @property
    def answer(self) -> str:
        return "".join(self.parts).strip()


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
        self._running: set[asyncio.subprocess.Process] = set()

    def argv_for(self, model: str) -> list[str]:
        """The argv run for ``model``: ``{model}`` replaced in every element."""
        return [part.replace("{model}", model) for part in self.argv]

    def _not_found(self, executable: str) -> str:
        where = "" if os.sep in executable else " on PATH"
        return f"`{executable}` not found{where}"

    async def probe(self) -> ProbeResult:
        """Up when ``argv[0]`` resolves to an executable; starts no process."""
        path = shutil.which(self.argv[0])
        if path is None:
            return ProbeResult(up=False, detail=self._not_found(self.argv[0]))
        return ProbeResult(up=True, detail=path)

    async def chat(self, request: ChatRequest, on_text: TextCallback | None = None) -> ChatResult:
        """Run the CLI once; see :class:`localroute.backends.base.Backend`."""
        argv = self.argv_for(request.model)
        label = argv[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise BackendUnavailable(self.name, self._not_found(label)) from None
        except OSError as exc:
            raise BackendUnavailable(self.name, f"cannot run `{label}`: {exc.strerror}") from None
        self._running.add(proc)
        output = _Output(self.config.output, on_text)
        stderr = bytearray()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                code = await self._run(proc, compose_prompt(request), output, stderr, label)
        except TimeoutError:
            await self._stop(proc, graceful=True)
            raise BackendUnavailable(
                self.name, f"no answer within {self.config.timeout_s:g} s"
            ) from None
        except BaseException:
            await self._stop(proc, graceful=False)
            raise
        finally:
            self._running.discard(proc)
        return self._result(request, label, code, output, stderr.decode("utf-8", "replace"))

    async def _run(
        self,
        proc: asyncio.subprocess.Process,
        prompt: str,
        output: _Output,
        stderr: bytearray,
        label: str,
    ) -> int:
        """Feed stdin and read stdout and stderr until the CLI exits and its pipes close."""
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = asyncio.create_task(_feed(proc.stdin, prompt.encode("utf-8")))
        out = asyncio.create_task(self._read_stdout(proc.stdout, output, label))
        err = asyncio.create_task(_read_tail(proc.stderr, stderr))
        exited = asyncio.create_task(_exit_code(proc))
        tasks = (feeder, out, err, exited)
        try:
            await asyncio.wait((out, exited), return_when=asyncio.FIRST_COMPLETED)
            if out.done():
                out.result()  # raises when the output cap was hit
            code = await exited
            # The CLI is gone: whatever it left running in its group goes too, which also
            # closes the pipes those leftovers inherited. What is already in the pipes is
            # still read; a descendant that left the group cannot hold the answer up.
            _signal_group(proc, signal.SIGKILL)
            await asyncio.wait((out, err), timeout=_DRAIN_S)
            if out.done():
                out.result()
            output.feed(b"", final=True)
            return code
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_stdout(self, stream: asyncio.StreamReader, output: _Output, label: str) -> None:
        size = 0
        while chunk := await stream.read(_READ_CHUNK):
            size += len(chunk)
            if size > self.max_output_bytes:
                raise BackendRequestError(
                    self.name,
                    f"`{label}` wrote more than {self.max_output_bytes // 1024} KiB; stopped it",
                )
            output.feed(chunk)

    async def _stop(self, proc: asyncio.subprocess.Process, *, graceful: bool) -> None:
        """End the process group (SIGTERM then SIGKILL, or SIGKILL at once) and reap."""
        try:
            if graceful and proc.returncode is None:
                _signal_group(proc, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.kill_grace_s):
                        await _exit_code(proc)
        finally:
            # Also when cancelled during the grace period: the group must not outlive us.
            _signal_group(proc, signal.SIGKILL)
        await _exit_code(proc)
        await _discard(proc)

    def _result(
        self, request: ChatRequest, label: str, code: int, output: _Output, stderr: str
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
            detail = _tail(stderr)
            raise BackendRequestError(
                self.name, f"`{label}` printed no answer" + (f": {detail}" if detail else "")
            )
        return ChatResult(text=answer, model=request.model, structured="none")

    def _exit_error(self, label: str, code: int, stderr: str) -> BackendError:
        detail = _tail(stderr)
        if code < 0:
            by = signal.Signals(-code).name if -code in set(signal.Signals) else f"signal {-code}"
            return BackendUnavailable(self.name, f"`{label}` was killed by {by}")
        message = f"`{label}` exited with code {code}" + (f": {detail}" if detail else "")
        if _UNAVAILABLE.search(detail):
            return BackendUnavailable(self.name, message)
        return BackendRequestError(self.name, message)

    async def aclose(self) -> None:
        """Kill every CLI still running for this backend, and reap it."""
        for proc in list(self._running):
            _signal_group(proc, signal.SIGKILL)  # the chat() running it reads what is left
            await _exit_code(proc)


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``proc`` leads; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _exit_code(proc: asyncio.subprocess.Process) -> int:
    """Wait for the child's exit (``proc.wait()`` on 3.11 also waits for its pipes to close)."""
    while proc.returncode is None:  # noqa: ASYNC110 - asyncio offers no exit-only event
        await asyncio.sleep(_EXIT_POLL_S)
    return proc.returncode


async def _discard(proc: asyncio.subprocess.Process) -> None:
    """Read what is left in the pipes of a stopped CLI so that asyncio can release them."""
    streams = [s for s in (proc.stdout, proc.stderr) if s is not None]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DISCARD_S):
            for stream in streams:
                while await stream.read(_READ_CHUNK):
                    pass


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the prompt and close stdin; a CLI that does not read it is not an error."""
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()


async def _read_tail(stream: asyncio.StreamReader, keep: bytearray) -> None:
    """Read ``stream`` to its end, keeping the last :data:`_STDERR_KEEP` bytes."""
    while chunk := await stream.read(_READ_CHUNK):
        keep.extend(chunk)
        if len(keep) > _STDERR_KEEP:
            del keep[: len(keep) - _STDERR_KEEP]
