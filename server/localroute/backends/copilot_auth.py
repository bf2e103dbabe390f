"""GitHub OAuth tokens for the Copilot backend: finding one, getting one, exchanging one.

:func:`find_oauth_token` looks where the Copilot editor plugins keep theirs
(``github-copilot/apps.json`` and the legacy ``hosts.json``), then in localroute's own file.
:func:`device_flow_login` runs GitHub's OAuth device flow (what ``localroute login copilot``
does) and writes that own file, readable by the user only. :func:`exchange_token` trades
the OAuth token for a short-lived Copilot session token. Nothing here ever prints, logs or
puts a token into an exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from localroute.backends.base import BackendError, BackendRequestError, BackendUnavailable
from localroute.backends.openai_errors import error_for_status, one_line, parse_error_body
from localroute.config.paths import own_token_path

COPILOT_CLIENT_ID = "Iv1.b507a08c87ecfe98"
"""The OAuth app of VS Code / copilot.vim; its tokens are accepted by the token exchange."""

DEFAULT_LOGIN_URL = "https://github.com"
_ERROR_BODY_LIMIT = 64 * 1024
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


LOGIN_HINT = "run `localroute login copilot`"
EDITOR_HEADERS: dict[str, str] = {
    "Editor-Version": "vscode/1.104.3",
    "Editor-Plugin-Version": "copilot-chat/0.26.7",
    "User-Agent": "GitHubCopilotChat/0.26.7",
    "X-GitHub-Api-Version": "2025-04-01",
}
"""Sent with the token exchange and every Copilot API request (PROTOCOLS.md §4)."""


class LoginError(Exception):
    """The device flow failed; ``str(err)`` is a message for the user (never a token)."""


def save_oauth_token(token: str, env: Mapping[str, str]) -> Path:
    """Write ``{"oauth_token": token}`` to :func:`own_token_path`, mode 0600, atomically.

    The directory is created with mode 0700. The file is written next to its final name
    (created with ``os.open(..., 0o600)``) and renamed over it, so a reader never sees half a
    file and the token is never readable by others, not even for a moment.
    """
    path = own_token_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump({"oauth_token": token}, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


@dataclass(frozen=True)
class CopilotSession:
    """A Copilot session token from the exchange (never shown anywhere)."""

    token: str
    expires_at: float
    """Epoch seconds."""
    api: str | None
    """``endpoints.api`` of the exchange answer, when given."""

    def __repr__(self) -> str:  # keep the token out of tracebacks and logs
        return f"CopilotSession(expires_at={self.expires_at!r}, api={self.api!r})"


def _exchange_error(
    backend: str, response: httpx.Response, oauth: str, where: str, token_url: str
) -> BackendError:
    status = response.status_code
    raw = response.content[:_ERROR_BODY_LIMIT]
    if status == 401:
        return BackendRequestError(
            backend,
            f"GitHub rejected the Copilot OAuth token (HTTP 401): {LOGIN_HINT} "
            f"(token from {where})",
            status=status,
        )
    if status == 404:
        return BackendRequestError(
            backend,
            "no Copilot subscription for this account, or a token from a non-Copilot app "
            f"(HTTP 404): {LOGIN_HINT} (token from {where})",
            status=status,
        )
    if status == 403:  # suspended, or rate limited
        info = parse_error_body(raw, response.headers.get("content-type", ""))
        return BackendRequestError(
            backend,
            "GitHub refused the Copilot token exchange (HTTP 403): "
            + one_line(info.message, oauth),
            status=status,
        )
    err = error_for_status(backend, "", status, response.headers, raw, secret=oauth, path=token_url)
    err.message = f"Copilot token exchange: {err.message}"
    err.args = (err.message,)
    return err


async def exchange_token(
    client: httpx.AsyncClient,
    token_url: str,
    oauth: str,
    *,
    backend: str,
    where: str,
    now: Callable[[], float] = time.time,
    timeout: httpx.Timeout | None = None,
) -> CopilotSession:
    """``GET token_url`` with ``Authorization: token <oauth>``: a Copilot session token.

    ``where`` (see :func:`find_oauth_token`) goes into the error messages. Raises
    :class:`BackendRequestError` for 401 (bad token), 404 (no subscription or a token of
    another app) and 403; :class:`BackendUnavailable` for 429, 5xx and an answer without a
    token; ``httpx.HTTPError`` for transport failures.
    """
    headers = {"Authorization": f"token {oauth}", "Accept": "application/json", **EDITOR_HEADERS}
    kwargs: dict[str, Any] = {"headers": headers}
    if timeout is not None:
        kwargs["timeout"] = timeout
    response = await client.get(token_url, **kwargs)
    if not response.is_success:
        raise _exchange_error(backend, response, oauth, where, token_url)
    try:
        data = response.json()
    except ValueError:
        data = None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(token, str) or not token:
        raise BackendUnavailable(backend, "the Copilot token exchange answered no token")
    expires_at = data.get("expires_at")
    if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
        expires_at = now() + _number(data.get("refresh_in"), 1500.0)
    endpoints = data.get("endpoints")
    api = endpoints.get("api") if isinstance(endpoints, dict) else None
    return CopilotSession(token, float(expires_at), api if isinstance(api, str) and api else None)


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, str]) -> dict[str, Any]:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise LoginError(f"cannot reach {url}: {type(exc).__name__}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise LoginError(f"{url} answered HTTP {response.status_code} without a JSON object")
    if not response.is_success and "error" not in data:
        message = data.get("message") or data.get("error_description") or "no details"
        raise LoginError(f"{url} answered HTTP {response.status_code}: {message}")
    return data


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


async def device_flow_login(
    *,
    login_url: str = DEFAULT_LOGIN_URL,
    client_id: str = COPILOT_CLIENT_ID,
    env: Mapping[str, str],
    out: Callable[[str], None],
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_wait_s: float = 900,
) -> Path:
    """GitHub's OAuth device flow; stores the token with :func:`save_oauth_token`.

    ``POST {login_url}/login/device/code``, then ``out`` gets the one-time code and the page
    to enter it on; ``POST {login_url}/login/oauth/access_token`` is polled every
    ``interval`` seconds (``slow_down`` adds 5 s, or uses the interval GitHub gives) until
    the user has authorised the app, at most ``max_wait_s`` (and the code's ``expires_in``)
    seconds of waiting. Returns the path of the token file; raises :class:`LoginError`.
    """
    base = login_url.rstrip("/")
    headers = {"Accept": "application/json", "User-Agent": "localroute"}
    timeout = httpx.Timeout(30.0, connect=10.0)
    async with httpx.AsyncClient(headers=headers, timeout=timeout, transport=transport) as client:
        code = await _post(
            client, f"{base}/login/device/code", {"client_id": client_id, "scope": "read:user"}
        )
        device_code = code.get("device_code")
        user_code = code.get("user_code")
        uri = code.get("verification_uri") or f"{base}/login/device"
        if "error" in code or not isinstance(device_code, str) or not isinstance(user_code, str):
            why = code.get("error_description") or code.get("error") or "no device code"
            raise LoginError(f"GitHub did not start the device flow: {why}")
        out(f"Open {uri} in a browser and enter the code {user_code}")
        out("Waiting for the authorisation…")
        interval = _number(code.get("interval"), 5.0)
        budget = min(max_wait_s, _number(code.get("expires_in"), max_wait_s))
        waited = 0.0
        poll = {"client_id": client_id, "device_code": device_code, "grant_type": DEVICE_GRANT}
        while True:
            if waited + interval > budget:
                raise LoginError(
                    f"the code was not entered within {budget:g} s: "
                    "run `localroute login copilot` again"
                )
            await sleep(interval)
            waited += interval
            answer = await _post(client, f"{base}/login/oauth/access_token", poll)
            token = answer.get("access_token")
            if isinstance(token, str) and token:
                path = save_oauth_token(token, env)
                out(f"Logged in; the GitHub token is stored in {path} (mode 0600)")
                return path
            error = answer.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval = _number(answer.get("interval"), interval + 5)
                continue
            if error == "expired_token":
                raise LoginError(
                    "the code expired before it was entered: run `localroute login copilot` again"
                )
            if error == "access_denied":
                raise LoginError("the authorisation was denied on GitHub")
            why = answer.get("error_description") or error or "no token in the answer"
            raise LoginError(f"GitHub did not grant a token: {why}")
