"""Error bodies of OpenAI-compatible servers, and how they map onto the backend error tree.

Every shape in PROTOCOLS.md is understood: llama-swap plain text (v170), ``{"error":"msg"}``,
``{"src":"llama-swap","error":"msg"}``, ``{"src":"llama-swap","error":{...}}``, llama.cpp
``{"error":{"code","message","type"}}``, OpenAI ``{"error":{"message","type","param","code"}}``,
Ollama ``/v1`` ``not_found_error``, Google ``{"error":{"code","message","status"}}`` (also
wrapped in a JSON array), FastAPI ``{"detail":...}``, GitHub ``{"message":...}``, HTML and
plain text. Messages are one line, at most :data:`MAX_MESSAGE` characters, and have the API
key (if any) blanked out.
"""

from __future__ import annotations

import email.utils
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ContextOverflow,
)

MAX_MESSAGE = 300

# The patterns below are read only when a backend answers with an error. They are kept as
# text (flags inline) and go through `re`'s own cache of compiled patterns on first use:
# compiling all of them at import cost every start of the program about 1.5 ms.
_STRUCTURED_REJECTION = r"(?i)response_format|json_schema|json_object|schema"
_MODEL_MISSING = (
    r"(?i)could not find real modelID|no router for requested model|no model id could be"
    r"|model[^.;]{0,80}(not found|not exist|does not exist|not supported|unknown|not available)"
    r"|(unknown|invalid|unsupported) model|model_not_(found|supported)"
)
_MODEL_CODES = {"model_not_found", "model_not_supported", "not_found"}
_SERVER_WORDS = (
    r"(?i)server|unavailable|internal|overload|timeout|timed out|crash|exited|bad_gateway|"
    r"api_error|loading|unspecific|slot|stopped|unexpected"
)
_CLIENT_TYPES = (
    r"(?i)invalid_request|exceed_context|authentication|permission|not_found|not_supported|"
    r"INVALID_ARGUMENT|FAILED_PRECONDITION|PERMISSION_DENIED|UNAUTHENTICATED|NOT_FOUND"
)
_TAGS = r"<[^>]*>"
_TITLE = r"(?is)<title[^>]*>(.*?)</title>"
_SPACE = r"\s+"


_OVERFLOW_CODES = frozenset(
    {"context_length_exceeded", "exceed_context_size_error", "model_max_prompt_tokens_exceeded"}
)
"""OpenAI and llama-cpp-python, llama.cpp's server, Copilot."""
_OVERFLOW_RE = (
    r"(?i)context length|context window|context size|maximum context|prompt is too long|"
    r"input token count|prompt token count|tokens to keep from the initial prompt|"
    r"input length exceeds"
)
"""What servers say when the prompt does not fit: vLLM, LM Studio, Ollama, Anthropic, Gemini."""
_WINDOW_RES = (
    r"(?i)maximum context length is (\d+)",  # OpenAI, vLLM, llama-cpp-python
    r"(?i)context (?:window|size|length) (?:is |of )?\(?(\d+)",  # llama.cpp
    r"(?i)tokens? > (\d+) maximum",  # Anthropic
    r"(?i)exceeds the limit of (\d+)",  # Copilot
    r"(?i)maximum number of tokens allowed \((\d+)\)",  # Gemini
)
_PROMPT_RES = (
    r"(?i)\((\d+) in the messages",  # OpenAI, llama-cpp-python
    r"(?i)(?:resulted in|has|requested) (\d+) (?:input )?tokens",  # OpenAI, vLLM
    r"(?i)prompt is too long: (\d+) tokens",  # Anthropic
    r"(?i)prompt token count of (\d+)",  # Copilot
    r"(?i)input token count \((\d+)\)",  # Gemini
    r"(?i)requested tokens \((\d+)\)",  # llama-cpp-python's own words
)


@dataclass(frozen=True)
class ErrorInfo:
    """What an error body says: a one-line message, and its type and code when given."""

    message: str
    type: str | None = None
    code: str | int | None = None
    retry_after_s: float | None = None
    window: int | None = None
    """The context window, when the body states it (llama.cpp's ``n_ctx``)."""
    prompt_tokens: int | None = None
    """The prompt's size in tokens, when the body states it (llama.cpp's ``n_prompt_tokens``)."""


def one_line(text: str, secret: str | None = None, limit: int = MAX_MESSAGE) -> str:
    """Collapse whitespace, blank out ``secret`` and truncate to ``limit`` characters."""
    if secret:
        text = text.replace(secret, "***")
    text = re.sub(_SPACE, " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _duration_s(value: Any) -> float | None:
    """Google ``retryDelay`` ("1s", "0.5s") or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*s?\s*", value)
        if m:
            return float(m.group(1))
    return None


def _from_error_object(obj: dict[str, Any]) -> ErrorInfo:
    message = obj.get("message")
    if not isinstance(message, str) or not message:
        message = json.dumps(obj, ensure_ascii=False)
    err_type = obj.get("type") or obj.get("status")
    code = obj.get("code")
    retry: float | None = None
    details = obj.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, dict) and "retryDelay" in detail:
                retry = _duration_s(detail["retryDelay"])
    return ErrorInfo(
        message=message,
        type=err_type if isinstance(err_type, str) else None,
        code=code if isinstance(code, str | int) and not isinstance(code, bool) else None,
        retry_after_s=retry,
        window=int_or_none(obj.get("n_ctx")),
        prompt_tokens=int_or_none(obj.get("n_prompt_tokens")),
    )


def info_from_json(data: Any) -> ErrorInfo | None:
    """The error described by a decoded JSON body, or None when it holds none."""
    if isinstance(data, list):
        for item in data:
            found = info_from_json(item)
            if found is not None:
                return found
        return None
    if not isinstance(data, dict):
        return None
    err = data.get("error")
    if isinstance(err, dict):
        return _from_error_object(err)
    if isinstance(err, str) and err:
        return ErrorInfo(message=err)
    detail = data.get("detail")
    if detail:
        if isinstance(detail, list):
            parts = [d.get("msg", "") if isinstance(d, dict) else str(d) for d in detail]
            return ErrorInfo(message="; ".join(p for p in parts if p) or str(detail))
        return ErrorInfo(message=str(detail))
    message = data.get("message")
    if isinstance(message, str) and message:
        return ErrorInfo(message=message)
    return None


def parse_error_body(body: bytes, content_type: str = "") -> ErrorInfo:
    """Whatever the server sent back with an error status, as an :class:`ErrorInfo`."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return ErrorInfo(message="(empty body)")
    if text[:1] in "{[":
        try:
            found = info_from_json(json.loads(text))
        except ValueError:
            found = None
        if found is not None:
            return found
    if "html" in content_type.lower() or text[:1] == "<":
        # Imported here: `html` loads its table of entities (0.5 MiB), and only a proxy
        # or a web server in front of the model answers with a page.
        import html

        title = re.search(_TITLE, text)
        stripped = html.unescape(re.sub(_TAGS, " ", title.group(1) if title else text))
        return ErrorInfo(message=stripped.strip() or "(HTML error page)")
    return ErrorInfo(message=text)


def retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds (either form), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _duration_s(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def rejects_structured_output(status: int, body: bytes) -> bool:
    """Did the server refuse the ``response_format`` we sent (so the next form may work)?"""
    if status not in (400, 422, 500):
        return False
    return bool(re.search(_STRUCTURED_REJECTION, body[:8192].decode("utf-8", errors="replace")))


def _first_number(patterns: tuple[str, ...], text: str) -> int | None:
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            return int(match.group(1))
    return None


def context_overflow(
    backend: str, status: int | None, info: ErrorInfo, *, secret: str | None = None
) -> ContextOverflow | None:
    """The :class:`ContextOverflow` an error describes, or None when it is another error.

    Recognised: llama.cpp's ``exceed_context_size_error``; OpenAI's and llama-cpp-python's
    ``context_length_exceeded``; Copilot's ``model_max_prompt_tokens_exceeded``; and the
    words of vLLM, LM Studio, Ollama, Anthropic and Gemini. The window and the prompt's
    size are taken from the body where it states them.
    """
    if status is not None and status not in (400, 413, 422):
        return None
    labels = {str(info.code or "").lower(), str(info.type or "").lower()}
    if not (labels & _OVERFLOW_CODES or re.search(_OVERFLOW_RE, info.message)):
        return None
    window = info.window or _first_number(_WINDOW_RES, info.message)
    prompt = info.prompt_tokens or _first_number(_PROMPT_RES, info.message)
    size = f" of {window} tokens" if window else ""
    needs = f"; the prompt has {prompt}" if prompt else ""
    label = f"HTTP {status}" if status is not None else "in the answer stream"
    return ContextOverflow(
        backend,
        f"the prompt does not fit the model's context window{size}{needs} "
        f"({label}): {one_line(info.message, secret)}",
        window=window,
        prompt_tokens=prompt,
        status=status,
    )


def _model_missing(status: int, info: ErrorInfo) -> bool:
    if isinstance(info.code, str) and info.code.lower() in _MODEL_CODES:
        return True
    if status == 404 and (info.type or "").lower() in ("not_found_error", "not_found"):
        return True
    return bool(re.search(_MODEL_MISSING, info.message))


def error_for_status(
    backend: str,
    model: str,
    status: int,
    headers: httpx.Headers,
    body: bytes,
    *,
    secret: str | None = None,
    path: str = "",
) -> BackendError:
    """The exception for a non-2xx answer."""
    info = parse_error_body(body, headers.get("content-type", ""))
    msg = one_line(info.message, secret)
    if status == 429:
        wait = retry_after(headers)
        if wait is None:
            wait = info.retry_after_s
        return BackendUnavailable(
            backend, f"rate limited (HTTP 429): {msg}", status=status, retry_after_s=wait
        )
    if status >= 500:
        return BackendUnavailable(backend, f"server error (HTTP {status}): {msg}", status=status)
    if status in (401, 403):
        return BackendRequestError(
            backend, f"authentication failed (HTTP {status}): {msg}", status=status
        )
    overflow = context_overflow(backend, status, info, secret=secret)
    if overflow is not None:
        return overflow
    if status in (404, 400) and _model_missing(status, info):
        return BackendRequestError(
            backend,
            f"model '{model}' not found on backend '{backend}' (HTTP {status}): {msg}",
            status=status,
        )
    if status == 404:
        return BackendRequestError(
            backend,
            f"endpoint not found (HTTP 404) at {path or 'the backend url'}: {msg}; "
            "check the backend's url",
            status=status,
        )
    if status in (408, 425):
        return BackendUnavailable(
            backend, f"request timed out (HTTP {status}): {msg}", status=status
        )
    return BackendRequestError(backend, f"request rejected (HTTP {status}): {msg}", status=status)


def error_in_stream(backend: str, error: Any, *, secret: str | None = None) -> BackendError:
    """The exception for ``{"error": ...}`` inside an answer that started with HTTP 200."""
    info = info_from_json({"error": error}) or ErrorInfo(message=str(error))
    msg = one_line(info.message, secret)
    code = info.code
    status: int | None = None
    if isinstance(code, int):
        status = code
    elif isinstance(code, str) and code.isdigit():
        status = int(code)
    overflow = context_overflow(backend, status, info, secret=secret)
    if overflow is not None:
        return overflow
    label = f"HTTP {status}" if status is not None else (info.type or "no status")
    text = f"error in the answer stream ({label}): {msg}"
    kind = f"{info.type or ''} {code if isinstance(code, str) else ''}"
    if status is not None:
        server = status >= 500 or status == 429
    elif re.search(_CLIENT_TYPES, kind):
        server = False
    else:
        server = bool(re.search(_SERVER_WORDS, kind) or re.search(_SERVER_WORDS, info.message))
    if server:
        return BackendUnavailable(backend, text, status=status)
    return BackendRequestError(backend, text, status=status)


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _root_os_error(exc: BaseException) -> OSError | None:
    """The innermost ``OSError`` with an errno behind an httpx exception (anyio wraps it)."""
    found: OSError | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            found = current
        current = current.__cause__ or current.__context__
    return found


_NO_CONNECTION = (  # failures before any connection to the server was made
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


def transport_error(
    backend: str,
    exc: httpx.HTTPError,
    *,
    connect_s: float,
    read_s: float,
    pool_size: int,
    secret: str | None = None,
) -> BackendUnavailable:
    """The exception for a failure below HTTP: refused, timeouts, resets, protocol errors."""
    if isinstance(exc, httpx.ConnectTimeout):
        detail = f"connect timeout after {connect_s:g} s"
    elif isinstance(exc, httpx.ConnectError):
        cause = _root_os_error(exc)
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(exc).lower():
            detail = "connection refused"
        elif isinstance(cause, socket.gaierror):
            detail = "cannot resolve the host name"
        else:
            why = cause.strerror if cause is not None and cause.strerror else str(exc)
            detail = f"cannot connect: {one_line(why, secret, 120) or type(exc).__name__}"
    elif isinstance(exc, httpx.ReadTimeout):
        detail = f"no data for {read_s:g} s (read timeout)"
    elif isinstance(exc, httpx.WriteTimeout):
        detail = "write timeout"
    elif isinstance(exc, httpx.PoolTimeout):
        detail = f"all {pool_size} connections busy"
    elif isinstance(exc, httpx.RemoteProtocolError):
        detail = "the server closed the connection mid-answer (protocol error)"
    elif isinstance(exc, httpx.NetworkError):
        detail = "connection reset"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        detail = "the URL is neither http:// nor https://"
    else:
        detail = f"HTTP client error ({type(exc).__name__})"
    # Without a connection (or a URL to make one to), not a byte of the request left.
    unsent = isinstance(exc, _NO_CONNECTION)
    return BackendUnavailable(backend, detail, nothing_sent=unsent)
