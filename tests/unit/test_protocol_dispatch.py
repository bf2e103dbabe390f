"""The server tells requests, notifications, responses and errors apart as pygls does,
without its runtime-checkable Protocol checks (see :mod:`localroute.lsp.protocol`)."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    RPCNotification,
    RPCRequest,
    RPCResponse,
)

from localroute.lsp.protocol import LocalrouteProtocol, message_kind
from localroute.lsp.server import LocalrouteServer


def _pygls_kind(message: object) -> str:
    if isinstance(message, RPCRequest):
        return "request"
    if isinstance(message, RPCNotification):
        return "notification"
    if isinstance(message, RPCResponse):
        return "response"
    return "error"


MESSAGES = [
    types.ExecuteCommandRequest(id=1, params=types.ExecuteCommandParams(command="x")),
    types.HoverRequest(
        id="a",
        params=types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri="file:///a.py"),
            position=types.Position(line=0, character=0),
        ),
    ),
    types.ShutdownRequest(id=2),
    types.DidOpenTextDocumentNotification(
        params=types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri="file:///a.py", language_id="python", version=1, text=""
            )
        )
    ),
    types.InitializedNotification(params=types.InitializedParams()),
    types.ExitNotification(),
    types.WorkDoneProgressCreateResponse(id=3, result=None),
    types.ResponseErrorMessage(id=4, error=types.ResponseError(code=-1, message="no")),
    JsonRPCRequestMessage(id=5, method="custom/request", params={"a": 1}, jsonrpc="2.0"),
    JsonRPCNotification(method="custom/notification", params=None, jsonrpc="2.0"),
    JsonRPCResponseMessage(id=6, result={"ok": True}, jsonrpc="2.0"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_each_kind_of_message_is_told_apart_as_pygls_does(message: object) -> None:
    assert message_kind(message) == _pygls_kind(message)


def test_the_kinds_cover_requests_notifications_responses_and_errors() -> None:
    assert {message_kind(m) for m in MESSAGES} == {"request", "notification", "response", "error"}


def test_a_request_reaches_its_handler_and_a_response_its_future() -> None:
    server = LocalrouteServer()
    protocol = server.protocol
    assert isinstance(protocol, LocalrouteProtocol)
    seen: list[tuple[object, ...]] = []
    protocol._handle_request = lambda *args: seen.append(("request", *args))  # type: ignore[method-assign]
    protocol._handle_notification = lambda *args: seen.append(("notification", *args))  # type: ignore[method-assign]
    protocol._handle_response = lambda *args: seen.append(("response", *args))  # type: ignore[method-assign]
    request = types.ShutdownRequest(id=7)
    protocol.handle_message(request)
    protocol.handle_message(types.ExitNotification())
    protocol.handle_message(types.WorkDoneProgressCreateResponse(id=8, result=None))
    error = types.ResponseError(code=-1, message="no")
    protocol.handle_message(types.ResponseErrorMessage(id=9, error=error))
    assert seen == [
        ("request", 7, "shutdown", None),
        ("notification", "exit", None),
        ("response", 8, None),
        ("response", 9, None, error),
    ]
