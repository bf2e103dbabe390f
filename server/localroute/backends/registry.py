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
    StatusCallback,
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

    async def chat(
        self,
        request: ChatRequest,
        on_text: TextCallback | None = None,
        *,
        on_status: StatusCallback | None = None,
    ) -> ChatResult:
        raise BackendRequestError(self.name, self._why, nothing_sent=True)

    async def aclose(self) -> None:
        return None


class GuardedBackend:
    """A backend that sends only what the privacy gate cleared for it.

    Every backend the pipeline uses is made by :func:`create_backend`, so every request
    passes this check before any byte is written: the request's clearance must name this
    backend and its locality (the text was already checked when the request was made).
    """

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def config(self) -> BackendConfig:
        return self._inner.config

    @property
    def locality(self) -> Locality:
        return self._inner.locality

    @property
    def inner(self) -> Backend:
        return self._inner

    async def probe(self) -> ProbeResult:
        return await self._inner.probe()

    async def chat(
        self,
        request: ChatRequest,
        on_text: TextCallback | None = None,
        *,
        on_status: StatusCallback | None = None,
    ) -> ChatResult:
        request.clearance.check_backend(self.name, self.locality)
        request.clearance.check_text(request.system, request.user)
        if on_status is None:
            return await self._inner.chat(request, on_text)
        return await self._inner.chat(request, on_text, on_status=on_status)

    async def aclose(self) -> None:
        await self._inner.aclose()


def create_backend(name: str, config: BackendConfig, locality: Locality) -> Backend:
    return GuardedBackend(_implementation(name, config, locality))


def _implementation(name: str, config: BackendConfig, locality: Locality) -> Backend:
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
