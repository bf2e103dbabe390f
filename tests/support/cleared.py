"""Requests for backend unit tests: cleared by the real privacy gate, as the pipeline does."""

from __future__ import annotations

from typing import Any

from localroute.backends.base import ChatRequest
from localroute.config.models import Locality
from localroute.privacy.classify import classify
from localroute.privacy.gate import clear


def chat_request(
    *,
    model: str,
    system: str,
    user: str,
    backend: str = "test",
    locality: Locality = "local",
    **fields: Any,
) -> ChatRequest:
    """A request over ordinary (not private) text, cleared for ``backend``."""
    verdict = classify(path=None, workspace_roots=(), text=user, globs=(), detect_secrets=False)
    clearance = clear(
        verdict, backend=backend, locality=locality, system=system, user=user, task="review"
    )
    return ChatRequest(model=model, system=system, user=user, clearance=clearance, **fields)


FINDINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"findings": {"type": "array"}},
    "required": ["findings"],
}
"""A small schema of findings, for a request that asks for structured output."""


def short_request(
    model: str = "coder",
    json_schema: dict[str, Any] | None = None,
    *,
    user: str = "def f(): return 1",
    max_tokens: int = 256,
    temperature: float = 0.0,
) -> ChatRequest:
    """A review of a line of code (the system message ``You review code.``), cleared for the
    backend ``test``."""
    return chat_request(
        model=model,
        system="You review code.",
        user=user,
        json_schema=json_schema,
        max_tokens=max_tokens,
        temperature=temperature,
    )
