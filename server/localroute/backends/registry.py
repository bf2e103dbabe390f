"""Backends chosen by kind, imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from localroute.backends.base import (
    Backend,
    BackendRequestError,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.config.models import BackendConfig, Locality

# kind → "module:Class"; kinds not listed are not available in this version.
_IMPLEMENTATIONS: dict[str, str] = {
    "openai": "localroute.backends.openai:OpenAIBackend",
    "ollama": "localroute.backends.ollama:OllamaBackend",
    "anthropic": "localroute.backends.anthropic:AnthropicBackend",
    "copilot": "localroute.backends.copilot:CopilotBackend",
    "command": "localroute.backends.command:CommandBackend",
}


class UnavailableKind:
    """Stands in for a backend whose kind this version cannot speak: always down."""

    def __init__(
        self, name: str, config: BackendConfig, locality: Locality, why: str | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.locality = locality
        self._why = why or f"backends of kind '{config.kind}' are not supported in this version"

    async def probe(self) -> ProbeResult:
        return ProbeResult(up=False, detail=self._why)

    async def chat(self, request: ChatRequest, on_text: TextCallback | None = None) -> ChatResult:
        raise BackendRequestError(self.name, self._why)

    async def aclose(self) -> None:
        return None


def create_backend(name: str, config: BackendConfig, locality: Locality) -> Backend:
    target = _IMPLEMENTATIONS.get(config.kind)
    if target is None:
        return UnavailableKind(name, config, locality)
    module_name, _, class_name = target.partition(":")
    try:
        factory: Callable[..., Backend] = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        return UnavailableKind(
            name, config, locality, f"kind '{config.kind}' failed to load: {exc}"
        )
    return factory(name, config, locality)
