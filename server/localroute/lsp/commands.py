"""The five `workspace/executeCommand` commands of the contract."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from localroute.lsp import publish
from localroute.lsp.progress import CommandProgress
from localroute.lsp.results import ExplanationRecord, FindingRecord
from localroute.lsp.text import UnreadableDocument, document_text
from localroute.pipeline import TaskError, TaskOutcome, TaskRequest
from localroute.privacy import path_from_uri

if TYPE_CHECKING:
    from localroute.server import LocalrouteServer

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803

REVIEW = "localroute.review"
EXPLAIN = "localroute.explain"
ROUTE = "localroute.route"
STATUS = "localroute.status"
CLEAR = "localroute.clear"
START = "localroute.startBackend"
COMMANDS = (REVIEW, EXPLAIN, ROUTE, STATUS, CLEAR, START)


class RequestFailedError(JsonRpcException):
    CODE = REQUEST_FAILED


class ExpectedErrorFilter(logging.Filter):
    """pygls logs every error answer with a traceback; a refusal or a bad argument is
    an answer, not a fault, and its message was already shown to the user."""

    EXPECTED = (REQUEST_FAILED, JsonRpcInvalidParams.CODE, -32800)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, JsonRpcException) and error.code in self.EXPECTED)


@dataclass(frozen=True)
class Target:
    uri: str
    start_line: int | None
    end_line: int | None
    refresh: bool


def _argument(args: tuple[Any, ...], command: str) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f'{command} takes one object argument, e.g. {{"uri": ...}}')
    return args[0]


def _line(value: Any, where: str) -> int:
    line_value = value.get("line") if isinstance(value, dict) else None
    if not isinstance(line_value, int) or isinstance(line_value, bool):
        raise JsonRpcInvalidParams(f"{where} must be a position {{line, character}}")
    line: int = value["line"]
    if line < 0:
        raise JsonRpcInvalidParams(f"{where}.line must not be negative")
    return line


def parse_target(args: tuple[Any, ...], command: str) -> Target:
    arg = _argument(args, command)
    uri = arg.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams(f"{command}: 'uri' must be a non-empty string")
    refresh = arg.get("refresh", False)
    if not isinstance(refresh, bool):
        raise JsonRpcInvalidParams(f"{command}: 'refresh' must be true or false")
    selection = arg.get("range")
    if selection is None:
        return Target(uri, None, None, refresh)
    if not isinstance(selection, dict):
        raise JsonRpcInvalidParams(f"{command}: 'range' must be a Range or null")
    start = _line(selection.get("start"), "range.start")
    end = _line(selection.get("end"), "range.end")
    if end < start:
        start, end = end, start
    end_character = selection["end"].get("character", 0)
    # A selection that ends at the start of a line does not include that line.
    if end > start and end_character == 0:
        end -= 1
    return Target(uri, start, end, refresh)


def task_of(ls: LocalrouteServer, args: tuple[Any, ...], command: str, output: str) -> str:
    """The task named in the argument (default: the command's own), checked for its output."""
    default = "review" if command == REVIEW else "explain"
    name = _argument(args, command).get("task", default)
    task = ls.config.tasks.get(name) if isinstance(name, str) else None
    if task is None:
        raise JsonRpcInvalidParams(f"{command}: unknown task {name!r}")
    if task.output_kind(name) != output:
        other = EXPLAIN if command == REVIEW else REVIEW
        raise JsonRpcInvalidParams(
            f"{command}: task {name!r} shows a {task.output_kind(name)}; use {other}"
        )
    return str(name)


def snapshot(ls: LocalrouteServer, target: Target, task: str) -> TaskRequest:
    try:
        document = document_text(ls, target.uri)
    except UnreadableDocument as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    text = document.text
    if target.start_line is not None and target.start_line >= max(len(text.splitlines()), 1):
        raise JsonRpcInvalidParams(f"range starts past the end of {target.uri}")
    return TaskRequest(
        task=task,
        uri=target.uri,
        path=path_from_uri(target.uri),
        text=text,
        start_line=target.start_line,
        end_line=target.end_line,
        workspace_roots=ls.workspace_roots(),
        language=document.language,
        refresh=target.refresh,
    )


async def run_task(ls: LocalrouteServer, request: TaskRequest, title: str) -> TaskOutcome:
    progress = CommandProgress(ls, title)
    await progress.begin()
    try:
        outcome = await ls.pipeline.run(request, progress)
    except TaskError as exc:
        progress.end("failed")
        ls.show(str(exc))
        raise RequestFailedError(str(exc)) from exc
    except BaseException:
        progress.end("cancelled")
        raise
    progress.end(f"answered by {outcome.model} @ {outcome.backend}")
    if outcome.attempts and not outcome.cached:
        # Say so when the preferred backend did not answer: the user chose it first.
        ls.show(
            f"localroute: {title.lower()} answered by {outcome.model} @ {outcome.backend} "
            f"({outcome.locality}) after: {'; '.join(outcome.attempts)}",
            types.MessageType.Info,
        )
    return outcome


def register(ls: LocalrouteServer) -> None:
    @ls.command(REVIEW)
    async def review(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        target = parse_target(args, REVIEW)
        request = snapshot(ls, target, task_of(ls, args, REVIEW, "diagnostics"))
        revision = ls.findings.revision(request.uri)
        outcome = await run_task(ls, request, _title(ls, request.task, target))

        # Findings from an earlier review of the same lines are replaced; others stay.
        reviewed = ls.findings.map_span_since(
            request.uri, (outcome.first_line, outcome.last_line), revision
        )
        kept = [
            (span, record)
            for span, record in ls.findings.items(request.uri)
            if target.start_line is not None
            and not (reviewed and reviewed[0] <= span[0] and span[1] <= reviewed[1])
        ]
        placed = 0
        for finding in outcome.findings:
            where = ls.findings.map_span_since(
                request.uri, (finding.line, finding.end_line), revision
            )
            if where is not None:
                record = FindingRecord(finding, outcome.backend, outcome.model, outcome.locality)
                kept.append((where, record))
                placed += 1
        ls.findings.replace(request.uri, kept)
        publish.diagnostics(ls, request.uri)
        return _result(outcome) | {"findings": placed}

    @ls.command(EXPLAIN)
    async def explain(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        target = parse_target(args, EXPLAIN)
        request = snapshot(ls, target, task_of(ls, args, EXPLAIN, "hover"))
        revision = ls.explanations.revision(request.uri)
        outcome = await run_task(ls, request, _title(ls, request.task, target))
        markdown = outcome.markdown or ""
        where = ls.explanations.map_span_since(
            request.uri, (outcome.first_line, outcome.last_line), revision
        )
        if where is not None:
            record = ExplanationRecord(markdown, outcome.backend, outcome.model, outcome.locality)
            kept = [(s, r) for s, r in ls.explanations.items(request.uri) if s != where]
            ls.explanations.replace(request.uri, [*kept, (where, record)])
        return {"markdown": markdown, **_result(outcome)}

    @ls.command(ROUTE)
    async def route(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        arg = _argument(args, ROUTE)
        task = arg.get("task", "review")
        if not isinstance(task, str) or task not in ls.config.tasks:
            raise JsonRpcInvalidParams(f"{ROUTE}: unknown task {task!r}")
        target = parse_target(({k: v for k, v in arg.items() if k != "task"},), ROUTE)
        request = snapshot(ls, target, task)
        return describe_route(ls, request)

    @ls.command(STATUS)
    async def status(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        from localroute.status import status_report

        return await status_report(ls.pipeline)

    @ls.command(START)
    async def start(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        from localroute.starter import StartError, start_backend

        name = _argument(args, START).get("backend")
        if not isinstance(name, str):
            raise JsonRpcInvalidParams(f"{START}: 'backend' must be a backend name")
        progress = CommandProgress(ls, f"Starting {name}")
        await progress.begin()
        try:
            outcome = await start_backend(ls.pipeline, name)
        except StartError as exc:
            progress.end("failed")
            ls.show(f"localroute: {exc}")
            raise RequestFailedError(str(exc)) from exc
        except BaseException:
            progress.end("cancelled")
            raise
        progress.end(outcome.detail)
        if outcome.up:
            ls.show(f"localroute: {name} is up ({outcome.seconds:.1f} s)", types.MessageType.Info)
        else:
            ls.show(f"localroute: {name} did not come up: {outcome.detail}")
        return {"backend": name, "up": outcome.up, "detail": outcome.detail}

    @ls.command(CLEAR)
    async def clear(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        target = parse_target(args, CLEAR)
        ls.findings.clear(target.uri)
        ls.explanations.clear(target.uri)
        publish.diagnostics(ls, target.uri)
        return {"uri": target.uri, "cleared": True}


def _title(ls: LocalrouteServer, task: str, target: Target) -> str:
    what = "selection" if target.start_line is not None else "file"
    if task in ("review", "explain"):
        return f"{task.capitalize()} {what}"
    return f"{ls.config.tasks[task].title or task} ({what})"


def _result(outcome: TaskOutcome) -> dict[str, Any]:
    return {
        "backend": outcome.backend,
        "model": outcome.model,
        "locality": outcome.locality,
        "reason": outcome.reason,
        "cached": outcome.cached,
    }


def describe_route(ls: LocalrouteServer, request: TaskRequest) -> dict[str, Any]:
    from localroute.status import route_report

    return route_report(ls.pipeline, request)
