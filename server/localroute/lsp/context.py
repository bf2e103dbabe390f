"""Values a command handler can read about the request it serves (set by the protocol)."""

from __future__ import annotations

import contextvars

WORK_DONE_TOKEN: contextvars.ContextVar[str | int | None] = contextvars.ContextVar(
    "localroute_work_done_token", default=None
)
"""The `workDoneToken` the client sent with the command being run."""
