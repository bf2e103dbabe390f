"""Code actions: review/explain with the predicted route in the title, and quick fixes.

Listing actions never waits on the network: the route is predicted from cached
availability (a background probe is started for what is not known yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute.contract import EXPLAIN, REVIEW, START_BACKEND, STOP_BACKEND
from localroute.lsp.publish import document_lines
from localroute.lsp.results import SOURCE
from localroute.lsp.text import UnreadableDocument, load_document
from localroute.pipeline import TaskRequest
from localroute.routing.router import RouteDecision

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

CODE_ACTION_KINDS = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.Refactor,
    types.CodeActionKind.Source,
]


def route_suffix(ls: LocalrouteServer, decision: RouteDecision) -> str:
    predicted = ls.pipeline.predicted(decision)
    if predicted is not None:
        return predicted.label()
    if decision.private:
        return "refused: private"
    return "no backend available"


def _selection(params: types.CodeActionParams) -> tuple[int, int] | None:
    start, end = params.range.start, params.range.end
    if (start.line, start.character) == (end.line, end.character):
        return None
    last = end.line - 1 if end.line > start.line and end.character == 0 else end.line
    return start.line, last


def code_action(ls: LocalrouteServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    try:
        document = load_document(ls, uri)
    except UnreadableDocument:
        return []
    # Privacy belongs to the whole document, not to the selection or the task: one verdict.
    classified = ls.pipeline.classify(document)
    base = TaskRequest(task="review", document=classified)
    found: list[types.CodeAction] = []
    selection = _selection(params)
    scopes: list[tuple[str, tuple[int, int] | None]] = []
    if selection is not None:
        scopes.append(("selection", selection))
    scopes.append(("file", None))
    file_decisions: list[RouteDecision] = []
    for scope, span in scopes:
        scoped = base.but(
            start_line=None if span is None else span[0],
            end_line=None if span is None else span[1],
        )
        for task_name, task in classified.policy.config.tasks.items():
            decision = ls.pipeline.decide(scoped.but(task=task_name))
            if span is None:
                file_decisions.append(decision)
            diagnostics = task.output_kind(task_name) == "diagnostics"
            # Selection actions show in the light bulb, file actions with source actions.
            group = types.CodeActionKind.Refactor if span else types.CodeActionKind.Source
            if task_name in ("review", "explain"):
                label = f"{task_name.capitalize()} {scope}"
            else:
                label = f"{task.title or task_name} ({scope})"
            title = f"{label} — {route_suffix(ls, decision)}"
            argument: dict[str, Any] = {
                "uri": uri,
                "range": None if span is None else _range_json(params.range),
            }
            if task_name not in ("review", "explain"):
                argument["task"] = task_name
            found.append(
                types.CodeAction(
                    title=title,
                    kind=f"{group.value}.localroute.{task_name}",
                    command=types.Command(
                        title=title,
                        command=REVIEW if diagnostics else EXPLAIN,
                        arguments=[argument],
                    ),
                )
            )
    found.extend(start_actions(ls, file_decisions))
    found.extend(stop_actions(ls, file_decisions))
    found.extend(quick_fixes(ls, params))
    return found


def start_actions(ls: LocalrouteServer, decisions: list[RouteDecision]) -> list[types.CodeAction]:
    """`Start local models (NAME)` for a backend in a route that is down and can be started."""
    return _service_actions(ls, decisions, "start", lambda state: state == "down")


def stop_actions(ls: LocalrouteServer, decisions: list[RouteDecision]) -> list[types.CodeAction]:
    """`Stop local models (NAME)` for a backend in a route that can be stopped and is not
    known to be down (the guide: free the GPU for something else)."""
    return _service_actions(ls, decisions, "stop", lambda state: state != "down")


def _service_actions(
    ls: LocalrouteServer,
    decisions: list[RouteDecision],
    verb: str,
    wanted: Callable[[str], bool],
) -> list[types.CodeAction]:
    names: list[str] = []
    for decision in decisions:
        for candidate in decision.candidates:
            backend = ls.config.backends[candidate.backend]
            command = backend.start_command if verb == "start" else backend.stop_command
            state = ls.pipeline.health.state(candidate.backend)
            if command and wanted(state) and candidate.backend not in names:
                names.append(candidate.backend)
    command_name = START_BACKEND if verb == "start" else STOP_BACKEND
    actions: list[types.CodeAction] = []
    for name in names:
        title = f"{verb.capitalize()} local models ({name})"
        actions.append(
            types.CodeAction(
                title=title,
                kind=f"{types.CodeActionKind.Source.value}.localroute.{verb}",
                command=types.Command(
                    title=title, command=command_name, arguments=[{"backend": name}]
                ),
            )
        )
    return actions


def _range_json(selection: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": selection.start.line, "character": selection.start.character},
        "end": {"line": selection.end.line, "character": selection.end.character},
    }


def quick_fixes(ls: LocalrouteServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    lines = document_lines(ls, uri)
    fixes: list[types.CodeAction] = []
    for diagnostic in params.context.diagnostics:
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        suggestion = data.get("suggestion")
        if diagnostic.source != SOURCE or not isinstance(suggestion, str) or not suggestion:
            continue
        start, end = diagnostic.range.start.line, diagnostic.range.end.line
        if start >= len(lines):
            continue
        end = min(end, len(lines) - 1)
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        new_text = "\n".join(
            (indent + line.lstrip()) if i == 0 and not line.startswith(indent) else line
            for i, line in enumerate(suggestion.rstrip("\n").split("\n"))
        )
        edit_range = types.Range(
            start=types.Position(line=start, character=0),
            end=types.Position(line=end, character=len(lines[end].rstrip("\r\n"))),
        )
        short = suggestion.strip().splitlines()[0][:60] if suggestion.strip() else suggestion
        fixes.append(
            types.CodeAction(
                title=f"Apply suggestion: {short}",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                edit=types.WorkspaceEdit(
                    changes={uri: [types.TextEdit(range=edit_range, new_text=new_text)]}
                ),
            )
        )
    return fixes
