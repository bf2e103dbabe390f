"""The JSON-RPC protocol, hardened where pygls' defaults would hang or leak.

- Command handlers run inside the request's own task, so `$/cancelRequest`
  reaches the HTTP stream (pygls runs them as tasks of their own).
- A request pygls cannot read (wrong types) is answered with -32602 instead of
  being dropped, which would leave the client waiting for ever.
- A request after `shutdown` is answered with -32600, as LSP asks.
- An unexpected exception is answered with its type and message, never with a
  traceback in `error.data`; the traceback goes to the log.
- The client's late answer to a server request whose command was cancelled is
  dropped quietly.
- Messages are told apart by their attributes: pygls does it with `isinstance`
  checks against runtime-checkable Protocols, which Python 3.11 makes walk the
  protocol's members on every check (10-40 µs a message, most of a request's
  dispatch; `bench/profile_server.py`).
"""

from __future__ import annotations

import contextvars
import inspect
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeGuard

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from localroute.lsp.context import WORK_DONE_TOKEN

log = logging.getLogger(__name__)

EXIT = "exit"


@dataclass(frozen=True)
class Unreadable:
    """A message that could not be structured; kept so that it can be answered."""

    data: dict[str, Any]
    reason: str


def _valid_id(msg_id: object) -> TypeGuard[int | str]:
    return isinstance(msg_id, int | str) and not isinstance(msg_id, bool)


_REQUEST = ("id", "method", "params", "jsonrpc")
_NOTIFICATION = ("method", "params", "jsonrpc")
_RESPONSE = ("id", "result", "jsonrpc")
"""The members of pygls' RPCRequest, RPCNotification and RPCResponse protocols, which its
``isinstance`` checks test for (every other message is an error response)."""


def message_kind(message: object) -> str:
    """``request``, ``notification``, ``response`` or ``error``, as pygls' checks say."""
    for kind, members in (
        ("request", _REQUEST),
        ("notification", _NOTIFICATION),
        ("response", _RESPONSE),
    ):
        if all(hasattr(message, member) for member in members):
            return kind
    return "error"


def _error(code: int, message: str) -> types.ResponseError:
    return types.ResponseError(code=code, message=message)


class LocalrouteProtocol(LanguageServerProtocol):
    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(  # type: ignore[override]
        self, params: types.ExecuteCommandParams
    ) -> Any:
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams(f"Command name {params.command!r} is not defined")
        # Arguments go to the handler as they came (JSON values): each command
        # validates its own one-object argument and names what is wrong.
        WORK_DONE_TOKEN.set(params.work_done_token)
        result = handler(*(params.arguments or []))
        if inspect.isawaitable(result):
            result = await result
        return result

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            # The object hook also sees nested objects; a failure inside one fails the
            # message around it too, so the outermost Unreadable is the message itself.
            cause = exc.__cause__ or exc
            return Unreadable(data, f"{type(cause).__name__}: {str(cause).splitlines()[0]}")

    def handle_message(self, message: Any) -> None:
        if isinstance(message, Unreadable):
            self._answer_unreadable(message)
            return
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method is not None and msg_id is not None and not _valid_id(msg_id):
            self._send_response(None, error=_error(-32600, "invalid request id"))  # type: ignore[arg-type]
            return
        if self._shutdown and method not in (None, EXIT) and msg_id is not None:
            error = JsonRpcInvalidRequest("the server is shutting down")
            self._send_response(msg_id, error=error.to_response_error())
            return
        self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        """pygls' ``handle_message``, its Protocol checks made on the attributes."""
        if message.jsonrpc != self.VERSION:
            log.warning("Unknown message %r", message)
            return
        if self._shutdown and getattr(message, "method", "") != EXIT:
            log.warning("Server shutting down. No more requests!")
            return
        ctx = contextvars.copy_context()  # each handler runs in its own context
        kind = message_kind(message)
        if kind == "request":
            ctx.run(self._handle_request, message.id, message.method, message.params)
        elif kind == "notification":
            ctx.run(self._handle_notification, message.method, message.params)
        elif kind == "response":
            ctx.run(self._handle_response, message.id, message.result)
        else:
            ctx.run(self._handle_response, message.id, None, message.error)

    def _answer_unreadable(self, message: Unreadable) -> None:
        data = message.data
        msg_id = data.get("id")
        method = data.get("method")
        log.warning("unreadable message (%s): %s", method, message.reason)
        if "method" not in data or "id" not in data:
            return  # a notification or a response: nobody waits for an answer
        if not _valid_id(msg_id):
            self._send_response(None, error=_error(-32600, "invalid request id"))  # type: ignore[arg-type]
            return
        text = f"invalid params for {method!r}: {message.reason}"[:300]
        self._send_response(msg_id, error=_error(JsonRpcInvalidParams.CODE, text))

    def _send_handler_result(self, future: Future[Any], *, msg_id: Any) -> None:
        if not future.cancelled():
            exc = future.exception()
            if exc is not None and not isinstance(exc, JsonRpcException):
                self._request_futures.pop(msg_id, None)
                log.error("request %s failed", msg_id, exc_info=exc)
                from localroute.privacy.redact import redact

                text = redact(f"internal error: {type(exc).__name__}: {exc}")[:300]
                self._send_response(msg_id, error=_error(-32603, text))
                return
        super()._send_handler_result(future, msg_id=msg_id)

    def _handle_response(
        self, msg_id: Any, result: Any | None = None, error: Any | None = None
    ) -> None:
        # A command cancelled while it waited for the client (progress creation) leaves
        # a cancelled future; the client's late answer to it is no error.
        future = self._request_futures.get(msg_id)
        if future is not None and future.cancelled():
            self._request_futures.pop(msg_id, None)
            return
        super()._handle_response(msg_id, result, error)
