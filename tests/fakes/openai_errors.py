"""The error answers of OpenAI-compatible servers (PROTOCOLS.md §1, §2, §3, §4, §6, §8).

Each is an :data:`~tests.fakes.server.ErrorSpec`, ``(status, body, content_type,
extra_headers)``, that a fake answers to a chat request; the functions build each shape the
protocols use, and :data:`ERROR_SHAPES` names a typical case of each.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import JSON, TEXT, ErrorSpec

LLAMA_CPP_PYTHON_JSON_SCHEMA_REJECTION = json.dumps(
    {
        "error": {
            "message": "1 validation error: ... Input should be 'text' or 'json_object' ...",
            "type": "internal_server_error",
        }
    }
)
"""llama-cpp-python 0.3.x answers ``response_format: {"type": "json_schema"}`` with HTTP 500 and
this body (PROTOCOLS.md §8, verbatim)."""


def text_error(status: int, message: str, headers: dict[str, str] | None = None) -> ErrorSpec:
    """A plain-text body: llama-swap v170, Copilot 403/429, proxies."""
    return (status, message, TEXT, dict(headers or {}))


def llamaswap_v170(
    message: str = "could not find real modelID for coder", status: int = 400
) -> ErrorSpec:
    """llama-swap v170: plain text (v170 sends JSON only to ``Accept: application/json``)."""
    return text_error(status, message)


def error_string(message: str, status: int = 400) -> ErrorSpec:
    """``{"error":"msg"}``: llama-swap v170 with ``Accept: application/json``, native Ollama."""
    return (status, json.dumps({"error": message}), JSON, {})


def llamaswap_src_string(
    message: str = "could not find real modelID for coder", status: int = 400
) -> ErrorSpec:
    """llama-swap after v170, before #1038: ``{"src":"llama-swap","error":"msg"}``."""
    return (status, json.dumps({"src": "llama-swap", "error": message}), JSON, {})


def llamaswap_object(
    message: str = "no router for requested model",
    status: int = 404,
    type_: str = "invalid_request_error",
    code: str = "not_found",
    headers: dict[str, str] | None = None,
) -> ErrorSpec:
    """Current llama-swap (#1038): ``{"src":"llama-swap","error":{message,type,param,code}}``."""
    body = {
        "src": "llama-swap",
        "error": {"message": message, "type": type_, "param": None, "code": code},
    }
    return (status, json.dumps(body), JSON, dict(headers or {}))


def llamacpp_error(
    message: str = "Loading model", status: int = 503, type_: str = "unavailable_error"
) -> ErrorSpec:
    """llama.cpp ``llama-server``: ``{"error":{"code","message","type"}}``."""
    body = {"error": {"code": status, "message": message, "type": type_}}
    return (status, json.dumps(body), JSON, {})


def openai_error(
    message: str,
    status: int = 400,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> ErrorSpec:
    """OpenAI (and Copilot): ``{"error":{"message","type","param","code"}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return (status, json.dumps(body), JSON, dict(headers or {}))


def ollama_v1_not_found(model: str = "coder") -> ErrorSpec:
    """Ollama ``/v1`` for a model that was not pulled."""
    return openai_error(f"model '{model}' not found", 404, "not_found_error")


def google_error(
    message: str = "Invalid JSON payload received.",
    status: int = 400,
    status_name: str = "INVALID_ARGUMENT",
    *,
    array: bool = False,
    details: list[dict[str, Any]] | None = None,
) -> ErrorSpec:
    """Gemini's OpenAI-compatible endpoint: ``{"error":{"code","message","status"}}``,
    optionally wrapped in a JSON array."""
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details is not None:
        error["details"] = details
    body: Any = [{"error": error}] if array else {"error": error}
    return (status, json.dumps(body), JSON, {})


def rate_limited(retry_after: str = "1") -> ErrorSpec:
    """Current llama-swap over ``concurrencyLimit``: 429, ``Retry-After: 1``."""
    return llamaswap_object(
        "Too many requests",
        429,
        "rate_limit_error",
        "concurrency_limit",
        headers={"Retry-After": retry_after},
    )


def html_error(status: int = 502, title: str = "502 Bad Gateway") -> ErrorSpec:
    """An HTML error page (a reverse proxy, or llama-swap with ``Accept: text/html``)."""
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>"
    )
    return (status, body, "text/html", {})


ERROR_SHAPES: dict[str, ErrorSpec] = {
    "llamaswap_v170_unknown_model": llamaswap_v170(),
    "llamaswap_v170_load_failed": llamaswap_v170(
        "unable to start process: health check timed out after 120s", 502
    ),
    "llamaswap_v170_stopping": llamaswap_v170(
        "Process can not ProxyRequest, state is stopping", 503
    ),
    "error_string_unknown_model": error_string("could not find real modelID for coder"),
    "ollama_native_not_found": error_string("model 'coder' not found", 404),
    "llamaswap_src_string_unknown_model": llamaswap_src_string(),
    "llamaswap_object_unknown_model": llamaswap_object(),
    "llamaswap_object_load_failed": llamaswap_object(
        "unspecific error: upstream command exited prematurely", 500, "server_error", "server_error"
    ),
    "llamaswap_object_not_ready": llamaswap_object(
        "[coder] process is not ready", 503, "server_error", "service_unavailable"
    ),
    "llamaswap_429": rate_limited(),
    "llamacpp_loading": llamacpp_error(),
    "llamacpp_exceed_context": llamacpp_error(
        "the request exceeds the available context size, try increasing it",
        400,
        "exceed_context_size_error",
    ),
    "llamacpp_auth": llamacpp_error("Invalid API Key", 401, "authentication_error"),
    "openai_invalid_key": openai_error(
        "Incorrect API key provided: sk-te****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        401,
        "invalid_request_error",
        "invalid_api_key",
    ),
    "openai_model_not_found": openai_error(
        "The model `coder` does not exist or you do not have access to it.",
        404,
        "invalid_request_error",
        "model_not_found",
    ),
    "openai_server_error": openai_error(
        "The server had an error while processing your request. Sorry about that!",
        500,
        "server_error",
    ),
    "copilot_model_not_supported": openai_error(
        "The requested model is not supported.",
        400,
        "invalid_request_error",
        "model_not_supported",
        "model",
    ),
    "copilot_forbidden_text": text_error(
        403, "Access to this endpoint is forbidden. Please review our Terms of Service"
    ),
    "ollama_v1_not_found": ollama_v1_not_found(),
    "google_invalid_argument": google_error(),
    "google_array_unavailable": google_error(
        "The model is overloaded. Please try again later.", 503, "UNAVAILABLE", array=True
    ),
    "google_array_exhausted": google_error(
        "Resource has been exhausted (e.g. check quota).",
        429,
        "RESOURCE_EXHAUSTED",
        array=True,
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
    ),
    "html_bad_gateway": html_error(),
}
"""One typical case of every error shape, by name."""
