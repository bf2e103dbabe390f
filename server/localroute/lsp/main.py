"""`localroute serve`: the language server on stdio or a socket, with a quiet log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from localroute.contract import REQUEST_FAILED
from localroute.privacy.redact import RedactingFilter


class ExpectedErrorFilter(logging.Filter):
    """pygls logs every error answer with a traceback; a refusal or a bad argument is
    an answer, not a fault, and its message was already shown to the user."""

    EXPECTED = (REQUEST_FAILED, JsonRpcInvalidParams.CODE, -32800)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, JsonRpcException) and error.code in self.EXPECTED)


def serve(*, tcp: str | None, log_level: str, log_file: Path | None) -> int:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.addFilter(RedactingFilter())
    logging.basicConfig(
        handlers=[handler],
        level=getattr(logging, str(log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pygls logs every message, httpx every request (probes too) at INFO: too much for an
    # editor's server log, where clients show stderr lines as errors.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(ExpectedErrorFilter())

    from localroute.lsp.registry import register
    from localroute.lsp.server import LocalrouteServer

    server = LocalrouteServer()
    register(server)
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        from localroute.lsp.stdio import reads_on_loop, serve_pipe

        stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
        if reads_on_loop(stdin):
            serve_pipe(server, stdin, stdout)
        else:
            server.start_io()
    return 0
