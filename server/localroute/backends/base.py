"""What every backend offers, and the errors it raises.

Error tree::

    BackendError                  any failure talking to a backend; .backend names it
    ├── BackendUnavailable        refused, connect timeout, reset, 5xx, 429, budget spent:
    │                             the backend is marked down and the next candidate tried
    └── BackendRequestError       the backend answered but refused this request
        │                         (unknown model, bad key, bad request): the next candidate
        │                         is tried, the backend is not marked down
        ├── ContextOverflow       the prompt does not fit the model's context window;
        │                         .window holds the window when the server said it
        └── DegenerateAnswer      the answer was no answer (it repeated itself, echoed the
                                  prompt): stopped as soon as seen, next candidate tried

Messages never contain secrets or the code that was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from localroute.clearance import Clearance
from localroute.config.models import BackendConfig, Locality


class BackendError(Exception):
    """A backend failed; ``str(err)`` is a message for the user."""

    def __init__(
        self, backend: str, message: str, *, status: int | None = None, nothing_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.message = message
        self.status = status
        self.nothing_sent = nothing_sent
        """True when the request never left this machine (no connection was made)."""

    def __str__(self) -> str:
        return f"{self.backend}: {self.message}"


class BackendUnavailable(BackendError):
    """The backend could not serve any request now; mark it down."""

    def __init__(
        self,
        backend: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        nothing_sent: bool = False,
    ) -> None:
        super().__init__(backend, message, status=status, nothing_sent=nothing_sent)
        self.retry_after_s = retry_after_s


class BackendRequestError(BackendError):
    """The backend is up but rejected this request."""


class ContextOverflow(BackendRequestError):
    """The prompt (with room for the answer) is larger than the model's context window.

    ``window`` and ``prompt_tokens`` are the server's numbers when it gave them, else None.
    A smaller prompt (the file in chunks) may still fit the same model.
    """

    def __init__(
        self,
        backend: str,
        message: str,
        *,
        window: int | None = None,
        prompt_tokens: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(backend, message, status=status)
        self.window = window
        self.prompt_tokens = prompt_tokens


NO_USABLE_ANSWER = "gave no usable answer"
"""How a :class:`DegenerateAnswer` message begins."""


class DegenerateAnswer(BackendRequestError):
    """The answer was no answer: ``reason`` says why (``repetition``, ``prompt echo``).

    Raised from the ``on_text`` callback while the answer streams, which makes every backend
    stop reading and close the connection (or kill its process), or after the answer ended.
    """

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(backend, f"{NO_USABLE_ANSWER} ({reason})")
        self.reason = reason


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion: a system and a user message, optionally structured output.

    It carries the privacy gate's :class:`~localroute.clearance.Clearance` for exactly this
    text: without one no request can be made, and with one made for other text it fails.
    """

    model: str
    system: str
    user: str
    clearance: Clearance
    json_schema: dict[str, Any] | None = None
    max_tokens: int = 1024
    temperature: float = 0.0

    def __post_init__(self) -> None:
        self.clearance.check_text(self.system, self.user)


@dataclass(frozen=True)
class ChatResult:
    """A backend's complete answer to one chat request."""

    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    structured: str = "none"
    """The structured-output form the backend accepted (`json_schema`, `json_object+schema`,
    `json_object`, `none`)."""


@dataclass(frozen=True)
class ProbeResult:
    """A probe's answer: up or not, and what the backend told (models, context windows),
    per endpoint for a backend with several."""

    up: bool
    latency_ms: float | None = None
    models: tuple[str, ...] = ()
    detail: str = ""
    context_tokens: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, ProbeResult] = field(default_factory=dict)
    """Each endpoint's own result, by URL, for a backend with several (`urls`)."""


TextCallback = Callable[[str], None]

StatusCallback = Callable[[str], None]
"""Told what the server is doing while no answer arrives: one of the states below."""

LOADING = "loading"
"""The server is loading the model (llama-swap, Ollama): the first token may take a minute."""


class Backend(Protocol):
    """A configured backend. Implementations live in sibling modules, chosen by kind."""

    @property
    def name(self) -> str: ...
    @property
    def config(self) -> BackendConfig: ...
    @property
    def locality(self) -> Locality: ...

    async def probe(self) -> ProbeResult:
        """A cheap availability check, bounded by the connect timeout (plus a short read)."""
        ...

    async def chat(
        self,
        request: ChatRequest,
        on_text: TextCallback | None = None,
        *,
        on_status: StatusCallback | None = None,
    ) -> ChatResult:
        """Run one chat completion, streaming text pieces to ``on_text`` and what the server
        says it is doing before the first one (:data:`LOADING`) to ``on_status``.

        Raises :class:`BackendError`. Cancellation (``CancelledError``) closes the
        connection at once and propagates; so does a :class:`BackendError` raised by
        ``on_text`` (e.g. :class:`DegenerateAnswer`), unchanged.
        """
        ...

    async def aclose(self) -> None: ...
