"""The OpenAI-compatible chat backend: llama-swap, llama.cpp, llama-cpp-python, Ollama ``/v1``,
Gemini's compatibility endpoint and OpenAI itself.

Requests stream (``stream: true``), read as server-sent events; a server that answers with
one JSON document instead is understood too. Structured output is asked for in the form each
server accepts (see :data:`STRUCTURED_FORMS`); the form that worked is remembered per model.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import urllib.parse
from typing import Any, ClassVar

import httpx

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ContextOverflow,
    ProbeResult,
    TextCallback,
)
from localroute.backends.http import ERROR_BODY_LIMIT, HttpBackend
from localroute.backends.loading import LoadingWatch
from localroute.backends.model_info import (
    model_aliases,
    parse_models,
    props_window,
    ready_models,
    starting_models,
)
from localroute.backends.openai_errors import (
    error_for_status,
    one_line,
    parse_error_body,
    rejects_structured_output,
)
from localroute.backends.openai_stream import AnswerReader
from localroute.config.models import OpenAIBackendConfig

__all__ = ["ERROR_BODY_LIMIT", "STRUCTURED_FORMS", "OpenAIBackend", "strict_schema"]

log = logging.getLogger(__name__)

STRUCTURED_FORMS: tuple[str, ...] = ("json_schema", "json_object+schema", "json_object", "none")
"""Structured-output forms, best first. ``json_schema`` is OpenAI's nesting (OpenAI, vLLM,
llama.cpp's server, LM Studio), ``json_object+schema`` is llama.cpp / llama-cpp-python's,
``json_object`` asks for any JSON, ``none`` sends nothing. Where the schema goes, the server
constrains decoding to it (OpenAI only in strict mode, hence :func:`strict_schema`)."""

_MAX_UPSTREAMS = 2
_OVERFLOW_CHECK_S = 30.0
"""How long asking "did the prompt fit?" may take (see :meth:`OpenAIBackend._overflow`)."""
_RUNNING_CHECK_S = 2.0
"""How long asking llama-swap's ``/running`` whether a model is starting may take."""


class _FormRejected(Exception):
    """The server refused the ``response_format`` we sent; try the next form."""


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as OpenAI's strict mode wants it: every property of every object required,
    the optional ones allowed to be ``null``, no other properties.

    Strict mode is what makes OpenAI constrain decoding to the schema; other servers that
    read this form (vLLM, llama.cpp) constrain with or without it and accept the result.
    """
    out = dict(schema)
    if isinstance(out.get("items"), dict):
        out["items"] = strict_schema(out["items"])
    properties = out.get("properties")
    if out.get("type") == "object" and isinstance(properties, dict):
        required = set(out.get("required") or ())
        strict: dict[str, Any] = {}
        for name, prop in properties.items():
            prop = strict_schema(prop) if isinstance(prop, dict) else prop
            if name not in required and isinstance(prop, dict) and "type" in prop:
                types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
                prop = {**prop, "type": [*types, "null"] if "null" not in types else types}
            strict[name] = prop
        out["properties"] = strict
        out["required"] = list(strict)
        out["additionalProperties"] = False
    return out


_STRICT: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
"""Schemas made strict, by the identity of the schema (the tasks' schemas are constants)."""


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    kept = _STRICT.get(id(schema))
    if kept is None or kept[0] is not schema:
        if len(_STRICT) > 32:
            _STRICT.clear()
        kept = _STRICT[id(schema)] = (schema, strict_schema(schema))
    return kept[1]


def _response_format(form: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if form == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "localroute", "schema": _strict(schema), "strict": True},
        }
    if form == "json_object+schema":
        return {"type": "json_object", "schema": schema}
    if form == "json_object":
        return {"type": "json_object"}
    return None


class OpenAIBackend(HttpBackend):
    """A backend speaking ``/chat/completions`` and ``/models`` under ``config.url``."""

    probe_requests: ClassVar[int] = 6
    """/health, /models, /props, /running and two llama-swap upstreams' /props at most."""
    watches_loading: ClassVar[bool] = True
    serves_unix: ClassVar[bool] = True
    unix_http_path: ClassVar[str] = "/v1"
    config: OpenAIBackendConfig

    url: str
    """The configured URL (``…/v1``): ``/chat/completions`` and ``/models`` go under it."""
    root: str
    """The server root (the URL without ``/v1``): ``/health``, ``/props``, ``/running``."""

    def _setup(self) -> None:
        self.url = self._url().rstrip("/")
        self.root = self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url
        self.chat_url: str | httpx.URL = f"{self.url}/chat/completions"
        """Parsed once (httpx parses text every request); unparsable, it fails as a request."""
        with contextlib.suppress(httpx.InvalidURL):
            self.chat_url = httpx.URL(self.chat_url)
        self.structured_forms: dict[str, str] = {}
        """The structured-output form each model accepted last (model id → form)."""
        self.learned_windows: dict[str, int] = {}
        """Context windows the server stated when a prompt did not fit (model id → tokens);
        reported by the next probe, for servers that say it nowhere else."""
        self._has_running = True
        """Whether the server answers ``/running`` (llama-swap does, others do not)."""

    # -- helpers -----------------------------------------------------------------------------

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        return (os.environ.get(env) or None) if env else None

    def _secret(self) -> str | None:
        return self._api_key()

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _auth_hint(self, err: BackendError) -> BackendError:
        env = self.config.api_key_env
        if err.status in (401, 403) and env and not self._api_key():
            return BackendRequestError(
                self.name,
                f"{err.message} (environment variable {env} is not set)",
                status=err.status,
            )
        return err

    # -- probe -------------------------------------------------------------------------------

    async def probe(self) -> ProbeResult:
        """``GET /health`` (llama.cpp, llama-swap), else ``GET /models``. Never raises.

        Context windows come from what the server runs with where it says so (llama.cpp's
        ``/props``, each model llama-swap has loaded, vLLM's ``max_model_len``), else from
        ``/models`` metadata, and from what earlier overflow errors stated.
        """
        result = await super().probe()
        if self.learned_windows:
            context = {**result.context_tokens, **self.learned_windows}
            return dataclasses.replace(result, context_tokens=context)
        return result

    async def _probe(self, probe_timeout: httpx.Timeout, start: float) -> ProbeResult:
        headers = self._headers("application/json")
        health = await self._client.get(
            f"{self.root}/health", headers=headers, timeout=probe_timeout
        )
        latency = (time.perf_counter() - start) * 1000
        if health.is_success:
            models: tuple[str, ...] = ()
            context: dict[str, int] = {}
            data: Any = None
            with contextlib.suppress(httpx.HTTPError, ValueError):
                listing = await self._client.get(
                    f"{self.url}/models", headers=headers, timeout=probe_timeout
                )
                if listing.is_success:
                    data = listing.json()
                    models, context = parse_models(data)
            context.update(await self._runtime_windows(data, models, headers, probe_timeout))
            return ProbeResult(True, latency, models, "ok", context)
        if health.status_code == 503:
            info = parse_error_body(health.content, health.headers.get("content-type", ""))
            if "loading" in info.message.lower():
                return ProbeResult(False, latency, detail="loading model")
            return ProbeResult(
                False, latency, detail=f"HTTP 503: {one_line(info.message, None, 120)}"
            )
        listing = await self._client.get(
            f"{self.url}/models", headers=headers, timeout=probe_timeout
        )
        latency = (time.perf_counter() - start) * 1000
        if listing.is_success:
            try:
                models, context = parse_models(listing.json())
            except ValueError:
                return ProbeResult(False, latency, detail="/models did not answer JSON")
            return ProbeResult(True, latency, models, "ok", context)
        err = error_for_status(
            self.name, "", listing.status_code, listing.headers, listing.content,
            secret=self._api_key(), path="/models",
        )  # fmt: skip
        return ProbeResult(False, latency, detail=self._auth_hint(err).message)

    async def _runtime_windows(
        self, listing: Any, models: tuple[str, ...], headers: dict[str, str], timeout: httpx.Timeout
    ) -> dict[str, int]:
        """The windows the server runs with: llama.cpp's ``/props`` (its one model), else
        those of the models llama-swap has loaded (``/upstream/MODEL/props``). Only models
        ``/running`` lists as ready are asked: an upstream request would start one that is
        not. Empty when the server says nothing (llama-cpp-python, vLLM, OpenAI)."""
        with contextlib.suppress(httpx.HTTPError, ValueError):
            props = await self._client.get(f"{self.root}/props", headers=headers, timeout=timeout)
            if props.is_success and (window := props_window(props.json())):
                return dict.fromkeys(models, window)
        windows: dict[str, int] = {}
        with contextlib.suppress(httpx.HTTPError, ValueError):
            running = await self._client.get(
                f"{self.root}/running", headers=headers, timeout=timeout
            )
            if not running.is_success:
                return windows
            items = listing.get("data") if isinstance(listing, dict) else None
            aliases = {
                item["id"]: model_aliases(item)
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict) and isinstance(item.get("id"), str)
            }
            for model in ready_models(running.json())[:_MAX_UPSTREAMS]:
                path = urllib.parse.quote(model, safe="")
                props = await self._client.get(
                    f"{self.root}/upstream/{path}/props", headers=headers, timeout=timeout
                )
                if props.is_success and (window := props_window(props.json())):
                    windows.update(dict.fromkeys([model, *aliases.get(model, [])], window))
        return windows

    # -- chat --------------------------------------------------------------------------------

    async def _loading(self, model: str) -> bool:
        """llama-swap's ``/running`` lists a model as ``starting`` while it loads (one the
        request waits on, or one it waits behind); servers without it are not asked again."""
        if not self._has_running:
            return False
        response = await self._client.get(
            f"{self.root}/running",
            headers=self._headers("application/json"),
            timeout=_RUNNING_CHECK_S,
        )
        if not response.is_success:
            self._has_running = False
            return False
        return bool(starting_models(response.json()))

    async def _chat(
        self, request: ChatRequest, on_text: TextCallback | None, watch: LoadingWatch
    ) -> ChatResult:
        forms: tuple[str, ...] = ("none",)
        if request.json_schema is not None:
            start = self.structured_forms.get(request.model, STRUCTURED_FORMS[0])
            forms = STRUCTURED_FORMS[STRUCTURED_FORMS.index(start) :]
        try:
            for i, form in enumerate(forms):
                try:
                    result = await self._chat_once(
                        request, form, on_text, watch, may_reject=i < len(forms) - 1
                    )
                except _FormRejected:
                    log.info("%s: %s rejected response_format %s", self.name, request.model, form)
                    continue
                if request.json_schema is not None:
                    self.structured_forms[request.model] = form
                return result
        except ContextOverflow as err:
            if err.window:
                self.learned_windows[request.model] = err.window
            raise
        raise AssertionError("the last structured-output form is never rejected")

    def _body(self, request: ChatRequest, form: str) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.user})
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.json_schema is not None:
            response_format = _response_format(form, request.json_schema)
            if response_format is not None:
                body["response_format"] = response_format
        return body

    async def _chat_once(
        self,
        request: ChatRequest,
        form: str,
        on_text: TextCallback | None,
        watch: LoadingWatch,
        *,
        may_reject: bool,
    ) -> ChatResult:
        def error(response: httpx.Response, raw: bytes) -> Exception:
            if may_reject and rejects_structured_output(response.status_code, raw):
                return _FormRejected()
            err = error_for_status(
                self.name, request.model, response.status_code, response.headers, raw,
                secret=self._api_key(), path="/chat/completions",
            )  # fmt: skip
            return self._auth_hint(err)

        # Only a local or private-network server loads models on demand (llama-swap).
        loading = watch.loading if self.own_locality != "cloud" else None
        reader = AnswerReader(
            self.name, request.model, on_text, secret=self._api_key(), on_loading=loading
        )
        async with self._post(
            self.chat_url,
            self._body(request, form),
            self._headers("text/event-stream, application/json"),
            error,
        ) as response:
            await reader.read(response)
        try:
            return reader.result(form)
        except BackendUnavailable:
            if reader.events or reader.unreadable or self.locality == "cloud":
                raise
            overflow = await self._overflow(request, form)
            if overflow is not None:
                raise overflow from None
            raise

    async def _overflow(self, request: ChatRequest, form: str) -> ContextOverflow | None:
        """Whether the prompt did not fit, asked of a server whose stream ended before its
        first event: llama-cpp-python's way of saying so (it finds out after it answered
        200). The same request, not streamed and for one token, gets its error as a status
        when the prompt does not fit, and costs little more than reading the prompt when it
        does. Local and private-network servers only: a cloud says so before streaming."""
        body = {**self._body(request, form), "stream": False, "max_tokens": 1}
        body.pop("stream_options", None)
        try:
            async with asyncio.timeout(_OVERFLOW_CHECK_S):
                for retry in (True, False):
                    try:
                        response = await self._client.post(
                            f"{self.url}/chat/completions",
                            json=body,
                            headers=self._headers("application/json"),
                        )
                        break
                    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                        # The server dropped the kept-alive connection the stream ended
                        # on (llama-cpp-python does); a new one is made for the retry.
                        if not retry:
                            raise
        except (TimeoutError, httpx.HTTPError):
            return None
        if response.is_success:
            return None
        err = error_for_status(
            self.name, request.model, response.status_code, response.headers,
            response.content[:ERROR_BODY_LIMIT], secret=self._api_key(),
            path="/chat/completions",
        )  # fmt: skip
        return err if isinstance(err, ContextOverflow) else None
