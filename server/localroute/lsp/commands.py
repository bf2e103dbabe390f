"""The `localroute.*` commands (see :mod:`localroute.contract`); registered in
:mod:`localroute.lsp.registry`. Each handler turns its argument into a request,
calls the pipeline, and turns the outcome into diagnostics, hovers or an error."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from localroute import contract
from localroute.lsp import publish
from localroute.lsp.arguments import (
    RequestFailedError,
    Target,
    argument,
    backend_name,
    parse_target,
    task_name,
)
from localroute.lsp.placing import place_findings
from localroute.lsp.progress import CommandProgress
from localroute.lsp.results import ExplanationRecord
from localroute.lsp.text import UnreadableDocument, load_document
from localroute.pipeline import RequestRefused, TaskError, TaskOutcome, TaskRequest

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

log = logging.getLogger(__name__)


def snapshot(ls: LocalrouteServer, target: Target, task: str) -> TaskRequest:
    """The request for a command: the document classified whole, then the range."""
    try:
        document = load_document(ls, target.uri)
    except UnreadableDocument as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    if target.start_line is not None and target.start_line >= max(len(document.lines), 1):
        raise JsonRpcInvalidParams(f"range starts past the end of {target.uri}")
    classified = ls.pipeline.classify(document)
    ls.report_problems()
    return TaskRequest(
        task=task,
        document=classified,
        start_line=target.start_line,
        end_line=target.end_line,
        refresh=target.refresh,
        consent=target.consent,
    )


async def run_task(ls: LocalrouteServer, request: TaskRequest, title: str) -> TaskOutcome:
    progress = CommandProgress(ls, title)
    await progress.begin()
    try:
        outcome = await ls.pipeline.run(request, progress)
    except TaskError as exc:
        progress.end("refused" if isinstance(exc, RequestRefused) else "failed")
        ls.show(str(exc))
        data: dict[str, Any] | None = None
        if isinstance(exc, RequestRefused) and exc.consent is not None:
            data = {"consent": exc.consent.as_json()}
        raise RequestFailedError(str(exc), data=data) from exc
    except BaseException:
        progress.end("cancelled")
        raise
    progress.end(f"answered by {outcome.model} @ {outcome.backend}")
    if not outcome.attempts and not outcome.cached:
        ls.last_fallback = ()
    fallback = (*(a.split(":", 1)[0] for a in outcome.attempts), outcome.backend)
    if outcome.attempts and not outcome.cached and fallback != ls.last_fallback:
        # Say so when the preferred backend did not answer (the user chose it first) —
        # once per change, not for every request while the same backend stays down.
        ls.last_fallback = fallback
        ls.show(
            f"localroute: {title.lower()} answered by {outcome.model} @ {outcome.backend} "
            f"({outcome.locality}) after: {'; '.join(outcome.attempts)}",
            types.MessageType.Info,
        )
    return outcome


def _title(ls: LocalrouteServer, request: TaskRequest) -> str:
    what = "selection" if request.start_line is not None else "file"
    task = request.task
    if task in ("review", "explain"):
        return f"{task.capitalize()} {what}"
    return f"{request.document.policy.config.tasks[task].title or task} ({what})"


def _result(outcome: TaskOutcome) -> contract.TaskResult:
    return {
        "backend": outcome.backend,
        "model": outcome.model,
        "locality": outcome.locality,
        "reason": outcome.reason,
        "cached": outcome.cached,
        "consented": outcome.consented,
    }


async def review(ls: LocalrouteServer, *args: Any) -> contract.ReviewResult | contract.Accepted:
    target = parse_target(args, contract.REVIEW)
    task = task_name(ls.config.tasks, args, contract.REVIEW, "diagnostics")
    request = snapshot(ls, target, task)
    if ls.deliver_later:
        ls.run_task(_deliver(ls, lambda r: _review(ls, r, target), request), "review")
        return _accepted(request, "diagnostics")
    return await _review(ls, request, target)


async def _review(
    ls: LocalrouteServer, request: TaskRequest, target: Target
) -> contract.ReviewResult:
    revision = ls.findings.revision(request.uri)
    outcome = await run_task(ls, request, _title(ls, request))
    placed = place_findings(
        ls,
        request.uri,
        outcome.findings,
        backend=outcome.backend,
        model=outcome.model,
        locality=outcome.locality,
        revision=revision,
        reviewed=None if target.start_line is None else (outcome.first_line, outcome.last_line),
    )
    return {**_result(outcome), "findings": placed}


async def explain(ls: LocalrouteServer, *args: Any) -> contract.ExplainResult | contract.Accepted:
    target = parse_target(args, contract.EXPLAIN)
    task = task_name(ls.config.tasks, args, contract.EXPLAIN, "hover")
    request = snapshot(ls, target, task)
    if ls.deliver_later:
        ls.run_task(_deliver(ls, lambda r: _explain(ls, r), request), "explain")
        return _accepted(request, "hover")
    return await _explain(ls, request)


async def _explain(ls: LocalrouteServer, request: TaskRequest) -> contract.ExplainResult:
    revision = ls.explanations.revision(request.uri)
    outcome = await run_task(ls, request, _title(ls, request))
    markdown = outcome.markdown or ""
    where = ls.explanations.map_span_since(
        request.uri, (outcome.first_line, outcome.last_line), revision
    )
    if where is not None:
        record = ExplanationRecord(markdown, outcome.backend, outcome.model, outcome.locality)
        kept = [(s, r) for s, r in ls.explanations.items(request.uri) if s != where]
        ls.explanations.replace(request.uri, [*kept, (where, record)])
    return {**_result(outcome), "markdown": markdown}


def _accepted(request: TaskRequest, delivery: str) -> contract.Accepted:
    return {
        "accepted": True,
        "uri": request.uri,
        "task": request.task,
        "delivery": "diagnostics" if delivery == "diagnostics" else "hover",
    }


Work = Callable[[TaskRequest], Coroutine[Any, Any, contract.ReviewResult | contract.ExplainResult]]


async def _deliver(ls: LocalrouteServer, work: Work, request: TaskRequest) -> None:
    """Finish a command that was answered at once (a client that waits for
    `workspace/executeCommand` with a short timeout): the results arrive as diagnostics
    or hover, and a message says what came of it. A refusal that offers consent asks the
    user with `window/showMessageRequest`; only their answer sends anything."""
    try:
        result = await work(request)
    except RequestFailedError as exc:
        token = await _ask_consent(ls, exc, request)
        if token is None:
            return  # the reason was already shown with window/showMessage
        try:
            result = await work(request.but(consent=token))
        except RequestFailedError:
            return
    where = f"{result['model']} @ {result['backend']} ({result['locality']})"
    what = f"localroute: {_title(ls, request).lower()} of {request.label}"
    markdown = result.get("markdown")
    if isinstance(markdown, str):
        ls.show(f"{what} ({where}):\n\n{markdown}", types.MessageType.Info)
    else:
        ls.show(f"{what}: {result.get('findings', 0)} finding(s) ({where})", types.MessageType.Info)


async def _ask_consent(
    ls: LocalrouteServer, error: RequestFailedError, request: TaskRequest
) -> str | None:
    """The consent token when the user chose to send this one request anyway."""
    data = error.data if isinstance(error.data, dict) else {}
    offer = data.get("consent")
    if not isinstance(offer, dict) or not isinstance(offer.get("token"), str):
        return None
    send = f"Send to {offer.get('backend')} anyway (this once)"
    # "Do not send" first: Eglot pre-fills the first action, so RET picks it, and Helix
    # preselects it; sending must take an explicit choice.
    params = types.ShowMessageRequestParams(
        type=types.MessageType.Warning,
        message=f"localroute: {error.message}",
        actions=[types.MessageActionItem(title="Do not send"), types.MessageActionItem(title=send)],
    )
    try:
        chosen = await ls.window_show_message_request_async(params)
    except Exception as exc:  # a client without the request: nothing is sent
        log.info("consent not asked: %s", exc)
        return None
    return str(offer["token"]) if chosen is not None and chosen.title == send else None


async def route(ls: LocalrouteServer, *args: Any) -> contract.RouteResult:
    from localroute.status import route_report

    arg = argument(args, contract.ROUTE)
    task = arg.get("task", "review")
    if not isinstance(task, str) or task not in ls.config.tasks:
        raise JsonRpcInvalidParams(f"{contract.ROUTE}: unknown task {task!r}")
    target = parse_target(({k: v for k, v in arg.items() if k != "task"},), contract.ROUTE)
    return route_report(ls.pipeline, snapshot(ls, target, task))


async def status(ls: LocalrouteServer, *args: Any) -> contract.StatusResult:
    from localroute.status import status_report

    ls.pipeline.sync()
    return await status_report(ls.pipeline)


async def clear(ls: LocalrouteServer, *args: Any) -> contract.ClearResult:
    target = parse_target(args, contract.CLEAR)
    ls.findings.clear(target.uri)
    ls.explanations.clear(target.uri)
    publish.diagnostics(ls, target.uri)
    return {"uri": target.uri, "cleared": True}


async def start_backend(ls: LocalrouteServer, *args: Any) -> contract.BackendResult:
    from localroute.starter import StartError, start_backend

    name = backend_name(args, contract.START_BACKEND)
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


async def stop_backend(ls: LocalrouteServer, *args: Any) -> contract.BackendResult:
    from localroute.starter import StartError, stop_backend

    name = backend_name(args, contract.STOP_BACKEND)
    try:
        outcome = await stop_backend(ls.pipeline, name)
    except StartError as exc:
        ls.show(f"localroute: {exc}")
        raise RequestFailedError(str(exc)) from exc
    ls.show(f"localroute: {name}: {outcome.detail}", types.MessageType.Info)
    return {"backend": name, "up": outcome.up, "detail": outcome.detail}
