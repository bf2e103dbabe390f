"""Everything the server answers, in one table: add a feature or a command here.

Handlers are plain functions named ``module:function`` below, each taking the server
and the LSP params (commands: the server and the command's one argument). The
commands' arguments and results are defined in :mod:`localroute.contract`. A handler's
module is imported when it is first called, so that answering `initialize` loads only
what `initialize` needs (the configuration schema, the detectors and the HTTP stack come
after).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute import contract

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

Handler = Callable[..., Any]


def code_action_options() -> types.CodeActionOptions:
    return types.CodeActionOptions(
        code_action_kinds=[
            types.CodeActionKind.QuickFix,
            types.CodeActionKind.Refactor,
            types.CodeActionKind.Source,
        ]
    )


FEATURES: list[tuple[str, str, bool, object | None]] = [
    (types.INITIALIZE, "lifecycle:initialize", False, None),
    (types.INITIALIZED, "lifecycle:initialized", True, None),
    (types.SHUTDOWN, "lifecycle:shutdown", True, None),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, "lifecycle:did_change_configuration", True, None),
    (
        types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS,
        "lifecycle:did_change_workspace_folders",
        False,
        None,
    ),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, "lifecycle:did_change_watched_files", False, None),
    (types.TEXT_DOCUMENT_DID_SAVE, "lifecycle:did_save", False, None),
    (types.TEXT_DOCUMENT_DID_CHANGE, "sync:did_change", False, None),
    (types.TEXT_DOCUMENT_DID_CLOSE, "sync:did_close", False, None),
    (types.TEXT_DOCUMENT_CODE_ACTION, "code_actions:code_action", False, code_action_options()),
    (types.TEXT_DOCUMENT_HOVER, "hover:hover", False, None),
]
"""LSP method, handler (`module:function` in localroute.lsp), async or not, options."""

COMMANDS: dict[str, str] = {
    contract.REVIEW: "commands:review",
    contract.EXPLAIN: "commands:explain",
    contract.ROUTE: "commands:route",
    contract.STATUS: "commands:status",
    contract.CLEAR: "commands:clear",
    contract.REVIEW_FILES: "bulk:review_files",
    contract.START_BACKEND: "commands:start_backend",
    contract.STOP_BACKEND: "commands:stop_backend",
}
"""`workspace/executeCommand` names and their handlers (every name of the contract);
every command is async."""


def resolve(target: str) -> Handler:
    """The handler function named ``module:function`` (a module of localroute.lsp)."""
    module, _, name = target.partition(":")
    handler: Handler = getattr(importlib.import_module(f"localroute.lsp.{module}"), name)
    return handler


def _proxy(target: str, is_async: bool) -> Handler:
    """A stand-in that imports the handler on first call. pygls runs a handler by its kind
    (coroutine function or not) and passes the server as `ls`, so the stand-in has both."""
    if is_async:

        async def run_async(ls: LocalrouteServer, *args: Any) -> Any:
            return await resolve(target)(ls, *args)

        return run_async

    def run(ls: LocalrouteServer, *args: Any) -> Any:
        return resolve(target)(ls, *args)

    return run


def register(ls: LocalrouteServer) -> None:
    for method, target, is_async, options in FEATURES:
        ls.feature(method, options)(_proxy(target, is_async))
    for name, target in COMMANDS.items():
        ls.command(name)(_proxy(target, True))
