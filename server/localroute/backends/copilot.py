"""The GitHub Copilot chat backend (PROTOCOLS.md §4).

The GitHub OAuth token (see :mod:`localroute.backends.copilot_auth`) is exchanged at
``token_url`` for a short-lived Copilot session token, which is cached and refreshed a minute
before it expires (one exchange at a time). Chat requests go to ``{endpoints.api}/chat/
completions`` in the OpenAI shape, with the editor headers Copilot expects, and stream; the
answer is read by the OpenAI backend's :class:`~localroute.backends.openai.AnswerReader`.

A 401 drops the session token, exchanges again and retries once. Tokens never appear in
messages or logs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
    TextCallback,
)
from localroute.backends.copilot_auth import (
    EDITOR_HEADERS,
    LOGIN_HINT,
    CopilotSession,
    exchange_token,
)
from localroute.backends.http import HttpBackend
from localroute.backends.loading import LoadingWatch
from localroute.backends.openai_errors import (
    error_for_status,
    int_or_none,
    one_line,
    parse_error_body,
    retry_after,
)
from localroute.backends.openai_stream import AnswerReader
from localroute.config.models import CopilotBackendConfig, Locality
from localroute.config.paths import find_oauth_token

log = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://api.github.com/copilot_internal/v2/token"
DEFAULT_API_URL = "https://api.githubcopilot.com"
NO_TOKEN = f"no Copilot token found: {LOGIN_HINT}"
REFRESH_MARGIN_S = 60.0
"""The session token is exchanged again this long before its ``expires_at``."""


class _Unauthorized(Exception):
    """The chat API answered 401 (the message is the first argument): the session token is
    no longer accepted."""


def _scrub(err: BackendError, *secrets: str | None) -> BackendError:
    """Blank every secret out of an error's message."""
    for secret in secrets:
        if secret and secret in err.message:
            err.message = err.message.replace(secret, "***")
            err.args = (err.message,)
    return err


def parse_copilot_models(data: Any) -> tuple[tuple[str, ...], dict[str, int], dict[str, Any]]:
    """Chat models of a ``/models`` answer: the picker-enabled chat model ids, their prompt
    limits (``max_prompt_tokens``, else ``max_context_window_tokens``), and every entry by id."""
    items = data.get("data") if isinstance(data, dict) else data
    ids: list[str] = []
    context: dict[str, int] = {}
    entries: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        entries[item["id"]] = item
        caps = item.get("capabilities")
        caps = caps if isinstance(caps, dict) else {}
        if caps.get("type") != "chat" or not item.get("model_picker_enabled"):
            continue
        ids.append(item["id"])
        limits = caps.get("limits")
        if isinstance(limits, dict):
            tokens = int_or_none(limits.get("max_prompt_tokens")) or int_or_none(
                limits.get("max_context_window_tokens")
            )
            if tokens:
                context[item["id"]] = tokens
    return tuple(ids), context, entries


def _supports_structured(entry: Any) -> bool:
    caps = entry.get("capabilities") if isinstance(entry, dict) else None
    supports = caps.get("supports") if isinstance(caps, dict) else None
    return isinstance(supports, dict) and supports.get("structured_outputs") is True


class CopilotBackend(HttpBackend):
    """GitHub Copilot's chat API, authenticated by exchanging the user's GitHub OAuth token."""

    config: CopilotBackendConfig

    def __init__(
        self,
        name: str,
        config: CopilotBackendConfig,
        locality: Locality,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, config, locality, transport=transport)
        self.token_url = config.token_url or DEFAULT_TOKEN_URL
        self._env = env
        self._now = now
        self._session: CopilotSession | None = None
        self._oauth: str | None = None
        self._lock = asyncio.Lock()
        self._models: dict[str, Any] | None = None
        """``/models`` entries by id, once fetched."""

    # -- tokens ------------------------------------------------------------------------------

    def find_token(self) -> tuple[str, str] | None:
        """The OAuth token and where it was found (see :func:`find_oauth_token`)."""
        env = os.environ if self._env is None else self._env
        return find_oauth_token(env, self.config.oauth_token_env)

    def _fresh(self, session: CopilotSession | None) -> bool:
        return session is not None and session.expires_at - REFRESH_MARGIN_S > self._now()

    async def _current(self, timeout: httpx.Timeout | None = None) -> CopilotSession:
        """A session token valid for at least another minute, exchanging one if needed."""
        session = self._session
        if session is not None and self._fresh(session):
            return session
        async with self._lock:
            session = self._session
            if session is None or not self._fresh(session):
                session = self._session = await self._exchange(timeout)
            return session

    async def _drop(self, session: CopilotSession) -> None:
        async with self._lock:
            if self._session is session:
                self._session = None

    async def _exchange(self, timeout: httpx.Timeout | None) -> CopilotSession:
        found = self.find_token()
        if found is None:
            raise BackendUnavailable(self.name, NO_TOKEN)
        self._oauth, where = found
        return await exchange_token(
            self._client, self.token_url, self._oauth,
            backend=self.name, where=where, now=self._now, timeout=timeout,
        )  # fmt: skip

    def _base(self, session: CopilotSession) -> str:
        return (self.config.api_url or session.api or DEFAULT_API_URL).rstrip("/")

    def _api_headers(self, session: CopilotSession, accept: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {session.token}",
            "Accept": accept,
            "Copilot-Integration-Id": "vscode-chat",
            **EDITOR_HEADERS,
            "Openai-Intent": "conversation-panel",
            "X-Request-Id": str(uuid.uuid4()),
            "X-Initiator": "user",
        }

    def _secret(self) -> str | None:
        return self._oauth

    # -- models ------------------------------------------------------------------------------

    async def _fetch_models(
        self, session: CopilotSession, timeout: httpx.Timeout | None = None
    ) -> tuple[tuple[str, ...], dict[str, int]]:
        kwargs: dict[str, Any] = {"headers": self._api_headers(session, "application/json")}
        if timeout is not None:
            kwargs["timeout"] = timeout
        response = await self._client.get(f"{self._base(session)}/models", **kwargs)
        if not response.is_success:
            raise _scrub(
                error_for_status(
                    self.name, "", response.status_code, response.headers, response.content,
                    secret=session.token, path="/models",
                ),
                self._oauth,
            )  # fmt: skip
        ids, context, entries = parse_copilot_models(response.json())
        self._models = entries
        return ids, context

    async def _structured(self, request: ChatRequest, session: CopilotSession) -> bool:
        """Whether to ask for ``json_object``: only models whose entry says they support it."""
        if request.json_schema is None:
            return False
        if self._models is None:
            try:
                await self._fetch_models(session)
            except (BackendError, httpx.HTTPError, ValueError) as exc:
                log.info("%s: /models unavailable (%s); no response_format", self.name, exc)
                return False
        return _supports_structured((self._models or {}).get(request.model))

    # -- probe -------------------------------------------------------------------------------

    def _not_ready(self) -> str | None:
        return NO_TOKEN if self.find_token() is None else None

    async def _probe(self, timeout: httpx.Timeout, start: float) -> ProbeResult:
        """Up when the token exchange works; lists the chat models."""
        session = await self._current(timeout)
        latency = (time.perf_counter() - start) * 1000
        try:
            models, context = await self._fetch_models(session, timeout)
        except (BackendError, httpx.HTTPError, ValueError) as exc:
            why = exc.message if isinstance(exc, BackendError) else type(exc).__name__
            return ProbeResult(True, latency, detail=f"ok; model list unavailable: {why}")
        return ProbeResult(True, latency, models, "ok", context)

    # -- chat --------------------------------------------------------------------------------

    async def _chat(
        self, request: ChatRequest, on_text: TextCallback | None, watch: LoadingWatch
    ) -> ChatResult:
        try:
            session = await self._current()
        except BackendError as exc:
            # No token, or the exchange for a session failed: the code goes only with
            # the chat request, which was not made.
            exc.nothing_sent = True
            raise
        except httpx.HTTPError as exc:
            error = self._transport_error(exc, self.config.timeout_s)
            error.nothing_sent = True
            raise error from exc
        try:
            return await self._chat_once(request, session, on_text)
        except _Unauthorized:
            log.info("%s: session token refused (HTTP 401); exchanging again", self.name)
            await self._drop(session)
        session = await self._current()
        try:
            return await self._chat_once(request, session, on_text)
        except _Unauthorized as exc:
            await self._drop(session)
            raise BackendRequestError(
                self.name,
                f"Copilot refused a fresh session token (HTTP 401): {exc}; {LOGIN_HINT}",
                status=401,
            ) from None

    def _body(self, request: ChatRequest, structured: bool) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.user})
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if structured:
            body["response_format"] = {"type": "json_object"}
        return body

    async def _chat_once(
        self, request: ChatRequest, session: CopilotSession, on_text: TextCallback | None
    ) -> ChatResult:
        structured = await self._structured(request, session)
        reader = AnswerReader(self.name, request.model, on_text, secret=session.token)

        def error(response: httpx.Response, raw: bytes) -> Exception:
            return self._chat_error(request.model, session, response, raw)

        async with self._post(
            f"{self._base(session)}/chat/completions",
            self._body(request, structured),
            self._api_headers(session, "text/event-stream, application/json"),
            error,
        ) as response:
            try:
                await reader.read(response)
            except BackendError as err:
                raise _scrub(err, self._oauth) from None
        return reader.result("json_object" if structured else "none")

    def _chat_error(
        self, model: str, session: CopilotSession, response: httpx.Response, raw: bytes
    ) -> Exception:
        status = response.status_code
        info = parse_error_body(raw, response.headers.get("content-type", ""))
        msg = one_line(info.message, session.token)
        if self._oauth:
            msg = msg.replace(self._oauth, "***")
        if status == 401:
            return _Unauthorized(msg)
        if status == 403:
            return BackendRequestError(
                self.name, f"Copilot refused access (HTTP 403): {msg}", status=status
            )
        if status == 429:
            return BackendUnavailable(
                self.name,
                f"Copilot quota exhausted or rate limit reached (HTTP 429): {msg}",
                status=status,
                retry_after_s=retry_after(response.headers),
            )
        if status == 400 and info.code == "model_not_supported":
            return BackendRequestError(
                self.name,
                f"model '{model}' is not available on Copilot for this account: "
                "pick one from `localroute status`",
                status=status,
            )
        err = error_for_status(
            self.name, model, status, response.headers, raw, secret=session.token,
            path="/chat/completions",
        )  # fmt: skip
        return _scrub(err, self._oauth)

    async def aclose(self) -> None:
        """Close the HTTP connections; the session token is forgotten."""
        self._session = None
        await super().aclose()
