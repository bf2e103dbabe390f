"""Registration of every LSP feature on the server: lifecycle, sync, actions, hover."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute.config.sources import WORKSPACE_FILE_NAMES
from localroute.lsp import bulk, code_actions, commands, hover, publish
from localroute.lsp.documents import LineEdit

if TYPE_CHECKING:
    from localroute.server import LocalrouteServer

log = logging.getLogger(__name__)

CODE_ACTION_KINDS = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.Refactor,
    types.CodeActionKind.Source,
]


def to_line_edits(
    changes: list[types.TextDocumentContentChangeEvent],
) -> list[LineEdit]:
    edits: list[LineEdit] = []
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            r = change.range
            edits.append(
                LineEdit(
                    start_line=r.start.line,
                    start_char=r.start.character,
                    end_line=r.end.line,
                    end_char=r.end.character,
                    new_text=change.text,
                )
            )
        else:
            edits.append(LineEdit.full_replace())
    return edits


def register(ls: LocalrouteServer) -> None:
    commands.register(ls)
    bulk.register(ls)

    @ls.feature(types.INITIALIZE)
    def initialize(ls: LocalrouteServer, params: types.InitializeParams) -> None:
        ls.init_settings = params.initialization_options
        ls.load_initial_config()

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: LocalrouteServer, params: types.InitializedParams) -> None:
        await pull_settings(ls)
        await ls.reload_config()
        ls.health_watch()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: LocalrouteServer, params: types.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("localroute"), dict):
            ls.pulled_settings = settings["localroute"]
        else:
            await pull_settings(ls)
        await ls.reload_config()

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: LocalrouteServer, params: types.DidSaveTextDocumentParams) -> None:
        if params.text_document.uri.rsplit("/", 1)[-1] in WORKSPACE_FILE_NAMES:
            await ls.reload_config()

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LocalrouteServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        edits = to_line_edits(list(params.content_changes))
        moved = ls.findings.apply_edits(uri, edits)
        ls.explanations.apply_edits(uri, edits)
        if moved:
            publish.diagnostics(ls, uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LocalrouteServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        had_findings = bool(ls.findings.items(uri))
        ls.findings.close(uri)
        ls.explanations.close(uri)
        if had_findings:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=CODE_ACTION_KINDS),
    )
    def code_action(ls: LocalrouteServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions.actions(ls, params)

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: LocalrouteServer, params: types.HoverParams) -> types.Hover | None:
        return hover.hover(ls, params)

    @ls.feature(types.SHUTDOWN)
    async def shutdown(ls: LocalrouteServer, params: Any) -> None:
        await ls.aclose()


async def pull_settings(ls: LocalrouteServer) -> None:
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.configuration):
        return
    try:
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="localroute")])
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return
    if result and isinstance(result[0], dict) and result[0]:
        ls.pulled_settings = result[0]
