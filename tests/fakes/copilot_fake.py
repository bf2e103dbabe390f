"""A loopback fake of GitHub and the Copilot chat API (PROTOCOLS.md §4 and §7).

One server plays every host: the OAuth device flow (``/login/device/code``,
``/login/oauth/access_token``), the token exchange (``/copilot_internal/v2/token``, whose
``endpoints.api`` points back at the fake), ``/models`` and ``/chat/completions``::

    with FakeCopilot() as fake:
        config = backend_config(kind="copilot", token_url=fake.token_url)
        ...
        assert fake.header_problems == []

Every request's headers are checked against what Copilot expects; whatever is wrong is
appended to ``header_problems`` (the request is still answered). It builds on
:class:`~tests.fakes.openai_fake.FakeOpenAI` for the server thread, the records, the scripted
``error``/``error_times`` and the disconnect counting; the chat stream is Copilot's own: a
first ``choices: []`` chunk with ``prompt_filter_results`` (Azure content filter), extra
fields, ``usage`` in a final ``choices: []`` chunk whether asked or not, ``data: [DONE]``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.fakes.openai_fake import (
    REVIEW_ANSWER,
    ErrorSpec,
    FakeOpenAI,
    RecordedRequest,
    _Stream,
    openai_error,
    text_error,
)
from tests.fakes.server import TEXT, FakeHandler, chunked_head

OAUTH_TOKEN = "ghu_FakeOAuthToken0123456789abcdef"
CLIENT_ID = "Iv1.b507a08c87ecfe98"
DEVICE_CODE = "3584d83530557fdd1f46af8289938c8ef79f9dc5"
USER_CODE = "WDJB-MJHT"
TOKEN_PATH = "/copilot_internal/v2/token"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

FORBIDDEN: ErrorSpec = text_error(
    403, "Access to this endpoint is forbidden. Please review our Terms of Service"
)
"""Copilot's 403 (plain text)."""
MODEL_NOT_SUPPORTED: ErrorSpec = openai_error(
    "The requested model is not supported.", 400, "invalid_request_error",
    "model_not_supported", "model",
)  # fmt: skip
"""Copilot's 400 for a model the account may not use."""


def rate_limited(retry_after: str = "7") -> ErrorSpec:
    """Copilot's 429 (plain text) with ``Retry-After``."""
    return text_error(
        429,
        "Sorry, your request was rate-limited. Please wait and try again.",
        {"Retry-After": retry_after},
    )


def copilot_model(
    model_id: str,
    *,
    type_: str = "chat",
    picker: bool = True,
    prompt_tokens: int | None = 128000,
    window: int | None = 200000,
    structured: bool = False,
) -> dict[str, Any]:
    """One ``/models`` entry in the shape of PROTOCOLS.md §4."""
    limits: dict[str, int] = {"max_output_tokens": 16000}
    if window is not None:
        limits["max_context_window_tokens"] = window
    if prompt_tokens is not None:
        limits["max_prompt_tokens"] = prompt_tokens
    return {
        "id": model_id,
        "name": model_id.replace("-", " ").title(),
        "version": f"{model_id}-2025-10-01",
        "vendor": "Fake",
        "object": "model",
        "preview": False,
        "model_picker_enabled": picker,
        "capabilities": {
            "family": model_id,
            "type": type_,
            "tokenizer": "o200k_base",
            "limits": limits,
            "supports": {"streaming": True, "tool_calls": True, "structured_outputs": structured},
        },
        "policy": {"state": "enabled", "terms": "…"},
        "supported_endpoints": ["/chat/completions"],
        "billing": {"multiplier": 0.33},
    }


DEFAULT_MODELS: list[dict[str, Any]] = [
    copilot_model("claude-haiku-4.5"),
    copilot_model("gpt-4.1", prompt_tokens=111000, window=128000, structured=True),
    copilot_model("claude-sonnet-4.5", prompt_tokens=None, window=144000),
    copilot_model("gpt-4o-mini-2024-07-18", picker=False),
    copilot_model("text-embedding-3-small", type_="embeddings", picker=False),
]


class FakeCopilot(FakeOpenAI):
    """GitHub + Copilot on ``127.0.0.1``. Settable attributes (also while requests run):

    * ``oauth_token``: the GitHub OAuth token the exchange accepts (and the device flow hands
      out); ``exchange_error``: 401 / 404 / any status answered to every exchange instead.
    * ``expires_at`` (epoch s; None = now + ``token_lifetime_s``) and ``refresh_in`` of the
      session tokens handed out.
    * ``copilot_models``: the ``/models`` entries (default :data:`DEFAULT_MODELS`).
    * ``unauthorized_times``: that many chat requests get 401, and the token they carried is
      revoked (a re-exchange gets a working one); ``always_unauthorized``: every chat is 401.
    * ``error`` / ``error_times``: an :data:`ErrorSpec` for chat requests (:data:`FORBIDDEN`,
      :func:`rate_limited`, :data:`MODEL_NOT_SUPPORTED`); ``latency_s``, ``chunk_delay_s``,
      ``chunk_size``, ``empty_choices_chunks``, ``answer`` as in FakeOpenAI.
    * ``device_script``: answers to the device-flow polls before the last one
      (``authorization_pending`` / ``slow_down``); ``device_outcome``: ``grant``,
      ``expired_token`` or ``access_denied``; ``device_interval``: the ``interval`` handed out.

    Records: ``requests``, ``chat_requests``, ``exchanges`` (token requests), ``issued_tokens``,
    ``model_requests``, ``device_polls``, ``header_problems``, ``disconnects``, ``request_ids``.
    """

    def __init__(
        self,
        *,
        oauth_token: str = OAUTH_TOKEN,
        answer: str = REVIEW_ANSWER,
        exchange_error: int | None = None,
        expires_at: int | None = None,
        token_lifetime_s: int = 1800,
        refresh_in: int = 1500,
        copilot_models: list[dict[str, Any]] | None = None,
        unauthorized_times: int = 0,
        always_unauthorized: bool = False,
        error: ErrorSpec | None = None,
        error_times: int | None = None,
        chunk_delay_s: float = 0.0,
        empty_choices_chunks: int = 2,
        device_script: list[str] | None = None,
        device_outcome: str = "grant",
        device_interval: int = 5,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            answer=answer, error=error, error_times=error_times, chunk_delay_s=chunk_delay_s,
            empty_choices_chunks=empty_choices_chunks, host=host, port=port,
        )  # fmt: skip
        self.oauth_token = oauth_token
        self.exchange_error = exchange_error
        self.expires_at = expires_at
        self.token_lifetime_s = token_lifetime_s
        self.refresh_in = refresh_in
        self.copilot_models = list(copilot_models if copilot_models is not None else DEFAULT_MODELS)
        self.unauthorized_times = unauthorized_times
        self.always_unauthorized = always_unauthorized
        self.device_script = list(
            device_script if device_script is not None else ["authorization_pending"] * 2
        )
        self.device_outcome = device_outcome
        self.device_interval = device_interval
        self.header_problems: list[str] = []
        self.issued_tokens: list[str] = []
        self.device_polls = 0
        self._valid: set[str] = set()

    # -- records ----------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.root}{TOKEN_PATH}"

    def _paths(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    @property
    def exchanges(self) -> int:
        """Token exchange requests received (answered or refused)."""
        return len(self._paths("GET", TOKEN_PATH))

    @property
    def model_requests(self) -> list[RecordedRequest]:
        return self._paths("GET", "/models")

    @property
    def request_ids(self) -> list[str]:
        return [r.headers.get("x-request-id", "") for r in self.chat_requests]

    def revoke_tokens(self) -> None:
        """Every session token handed out so far stops working (chat answers 401)."""
        with self._lock:
            self._valid.clear()

    def _problem(self, text: str) -> None:
        with self._lock:
            self.header_problems.append(text)

    # -- dispatch ---------------------------------------------------------------------------

    def _route(self, handler: FakeHandler, request: RecordedRequest) -> None:
        method, path, headers = request.method, request.path, request.headers
        data = request.json if isinstance(request.json, dict) else {}
        if method == "GET" and path == TOKEN_PATH:
            self._token(handler, headers)
        elif method == "POST" and path == "/login/device/code":
            self._device_code(handler, headers, data)
        elif method == "POST" and path == "/login/oauth/access_token":
            self._access_token(handler, data)
        elif method == "GET" and path == "/models":
            if self._api_auth(handler, headers, path):
                self._send(handler, 200, json.dumps(self._models_doc()))
        elif method == "POST" and path == "/chat/completions":
            self._check_chat(headers, data)
            if self._api_auth(handler, headers, path, chat=True):
                self._chat(handler, data)
        else:
            self._send(handler, 404, json.dumps({"message": "Not Found"}))

    # -- GitHub: token exchange and device flow ---------------------------------------------

    def _editor_headers(self, headers: dict[str, str], where: str) -> None:
        for name, prefix in (
            ("editor-version", "vscode/"),
            ("editor-plugin-version", "copilot-chat/"),
            ("user-agent", "GitHubCopilotChat/"),
        ):
            if not headers.get(name, "").startswith(prefix):
                self._problem(f"{where}: {name} is {headers.get(name)!r}")
        if headers.get("x-github-api-version") != "2025-04-01":
            self._problem(
                f"{where}: x-github-api-version is {headers.get('x-github-api-version')!r}"
            )

    def _token(self, handler: FakeHandler, headers: dict[str, str]) -> None:
        self._editor_headers(headers, "token")
        if "application/json" not in headers.get("accept", ""):
            self._problem(f"token: accept is {headers.get('accept')!r}")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "token":
            self._problem(f"token: authorization scheme is {scheme!r}, not 'token'")
        bad = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        if self.exchange_error == 404:
            doc = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            self._send(handler, 404, json.dumps(doc))
        elif self.exchange_error == 401 or token != self.oauth_token:
            self._send(handler, 401, json.dumps(bad))
        elif self.exchange_error is not None:
            self._send(handler, self.exchange_error, "upstream trouble", TEXT)
        else:
            expires = self.expires_at or int(time.time()) + self.token_lifetime_s
            with self._lock:
                session = f"tid=fake{len(self.issued_tokens) + 1};exp={expires};sku=free;8kp=1:f"
                self.issued_tokens.append(session)
                self._valid.add(session)
            doc = {
                "token": session,
                "expires_at": expires,
                "refresh_in": self.refresh_in,
                "endpoints": {
                    "api": self.root,
                    "proxy": f"{self.root}/proxy",
                    "telemetry": f"{self.root}/telemetry",
                    "origin-tracker": f"{self.root}/origin-tracker",
                },
                "sku": "monthly_subscriber",
                "chat_enabled": True,
                "individual": True,
                "tracking_id": "fake",
            }
            self._send(handler, 200, json.dumps(doc))

    def _device_code(
        self, handler: FakeHandler, headers: dict[str, str], body: dict[str, Any]
    ) -> None:
        if "application/json" not in headers.get("accept", ""):
            self._problem(f"device code: accept is {headers.get('accept')!r}")
        if body.get("client_id") != CLIENT_ID or body.get("scope") != "read:user":
            self._problem(f"device code: body is {body!r}")
        doc = {
            "device_code": DEVICE_CODE,
            "user_code": USER_CODE,
            "verification_uri": f"{self.root}/login/device",
            "expires_in": 900,
            "interval": self.device_interval,
        }
        self._send(handler, 200, json.dumps(doc))

    def _access_token(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        expected = {
            "client_id": CLIENT_ID,
            "device_code": DEVICE_CODE,
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        }
        if body != expected:
            self._problem(f"access token: body is {body!r}")
        with self._lock:
            self.device_polls += 1
            step = self.device_script.pop(0) if self.device_script else self.device_outcome
            if step == "slow_down":
                self.device_interval += 5
        doc: dict[str, Any]
        if step == "grant":
            doc = {"access_token": self.oauth_token, "token_type": "bearer", "scope": ""}
        else:
            doc = {"error": step, "error_description": f"fake: {step}"}
            if step == "slow_down":
                doc["interval"] = self.device_interval
        self._send(handler, 200, json.dumps(doc))

    # -- Copilot API ------------------------------------------------------------------------

    def _api_auth(
        self, handler: FakeHandler, headers: dict[str, str], path: str, *, chat: bool = False
    ) -> bool:
        """Check the API headers; answer 401 (text, as Copilot does) for a bad token."""
        self._editor_headers(headers, path)
        if headers.get("copilot-integration-id") != "vscode-chat":
            self._problem(
                f"{path}: copilot-integration-id is {headers.get('copilot-integration-id')!r}"
            )
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer":
            self._problem(f"{path}: authorization scheme is {scheme!r}, not 'Bearer'")
        with self._lock:
            ok = token in self._valid and not (chat and self.always_unauthorized)
            if ok and chat and self.unauthorized_times > 0:
                self.unauthorized_times -= 1
                self._valid.discard(token)
                ok = False
        if not ok:
            self._send(handler, 401, "unauthorized: token expired", TEXT)
        return ok

    def _check_chat(self, headers: dict[str, str], body: dict[str, Any]) -> None:
        checks = {
            "openai-intent": headers.get("openai-intent") == "conversation-panel",
            "x-initiator": headers.get("x-initiator") in ("user", "agent"),
            "x-request-id": bool(_UUID.match(headers.get("x-request-id", ""))),
            "content-type": headers.get("content-type", "").startswith("application/json"),
        }
        for name, ok in checks.items():
            if not ok:
                self._problem(f"chat: {name} is {headers.get(name)!r}")
        if body.get("stream") is not True:
            self._problem("chat: the body does not say stream: true")
        rf = body.get("response_format")
        if rf is not None and rf != {"type": "json_object"}:
            self._problem(f"chat: response_format {rf!r} (Copilot types only json_object)")

    def _models_doc(self) -> dict[str, Any]:
        return {"object": "list", "data": self.copilot_models}

    def _chat_answer(self, handler: FakeHandler, body: dict[str, Any]) -> None:
        self._wait(handler, self.latency_s)
        error = self._scripted_error()
        if error is not None:
            self._send(handler, *error)
            return
        pieces = self._pieces(body)
        chunked_head(
            handler,
            "text/event-stream",
            [("Transfer-Encoding", "chunked"), ("X-Request-Id", "fake")],
        )
        out = _Stream(handler, self)
        # Copilot (Azure) opens with a chunk without choices, carrying filter results.
        out.event({"choices": [], "created": 0, "id": "", "prompt_filter_results": [{}]})
        model = str(body.get("model") or "unknown")
        head = {"id": "chatcmpl-fake", "created": 1, "model": model, "system_fingerprint": "fp"}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "padding": "abc"}
            return {**head, "choices": [choice]}

        for _ in range(max(0, self.empty_choices_chunks - 1)):
            out.event({**head, "choices": []})
        for i, piece in enumerate(pieces):
            if i:
                out.pause()
            out.event(chunk({"content": piece, "role": "assistant"}))
            self.stream_started.set()
        out.event(chunk({}, "stop"))
        usage: dict[str, Any] = {"prompt_tokens": 11, "completion_tokens": len(pieces)}
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
        out.event({**head, "choices": [], "usage": usage})
        out.event("[DONE]")
        out.finish()
