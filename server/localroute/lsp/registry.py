"""Everything the server answers, in one table: add a feature or a command here.

Handlers are plain functions in the modules named below, each taking the server and
the LSP params (commands: the server and the command's one argument). The commands'
arguments and results are defined in :mod:`localroute.contract`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute import contract
from localroute.lsp import bulk, code_actions, commands, hover, lifecycle, sync

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

Handler = Callable[..., Any]

FEATURES: list[tuple[str, Handler, object | None]] = [
    (types.INITIALIZE, lifecycle.initialize, None),
    (types.INITIALIZED, lifecycle.initialized, None),
    (types.SHUTDOWN, lifecycle.shutdown, None),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, lifecycle.did_change_configuration, None),
    (types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS, lifecycle.did_change_workspace_folders, None),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, lifecycle.did_change_watched_files, None),
    (types.TEXT_DOCUMENT_DID_SAVE, lifecycle.did_save, None),
    (types.TEXT_DOCUMENT_DID_CHANGE, sync.did_change, None),
    (types.TEXT_DOCUMENT_DID_CLOSE, sync.did_close, None),
    (
        types.TEXT_DOCUMENT_CODE_ACTION,
        code_actions.code_action,
        types.CodeActionOptions(code_action_kinds=code_actions.CODE_ACTION_KINDS),
    ),
    (types.TEXT_DOCUMENT_HOVER, hover.hover, None),
]
"""LSP method, handler, registration options."""

COMMANDS: dict[str, Handler] = {
    contract.REVIEW: commands.review,
    contract.EXPLAIN: commands.explain,
    contract.ROUTE: commands.route,
    contract.STATUS: commands.status,
    contract.CLEAR: commands.clear,
    contract.REVIEW_FILES: bulk.review_files,
    contract.START_BACKEND: commands.start_backend,
    contract.STOP_BACKEND: commands.stop_backend,
}
"""`workspace/executeCommand` names and their handlers (every name of the contract)."""


def register(ls: LocalrouteServer) -> None:
    for method, handler, options in FEATURES:
        ls.feature(method, options)(handler)
    for name, handler in COMMANDS.items():
        ls.command(name)(handler)
