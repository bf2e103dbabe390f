"""The Copilot backend and its token handling, against a loopback fake of GitHub + Copilot."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localroute.backends.base import (
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
)
from localroute.backends.copilot import NO_TOKEN, CopilotBackend
from localroute.backends.copilot_auth import (
    LoginError,
    device_flow_login,
)
from localroute.config.models import backend_config
from localroute.config.paths import find_oauth_token, own_token_path
from tests.fakes.copilot_fake import (
    FORBIDDEN,
    MODEL_NOT_SUPPORTED,
    OAUTH_TOKEN,
    USER_CODE,
    FakeCopilot,
    rate_limited,
)
from tests.fakes.openai_fake import closed_port, text_error
from tests.support.cancelling import cancel_mid_stream, eventually
from tests.support.cleared import short_request
from tests.unit.conftest import Closing

SCHEMA = {"type": "object", "properties": {"findings": {"type": "array"}}}
LOGIN = "run `localroute login copilot`"

MakeBackend = Callable[..., CopilotBackend]


def request(model: str = "claude-haiku-4.5", json_schema: Any = None) -> ChatRequest:
    return short_request(model, json_schema, max_tokens=1024)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def fake() -> Iterator[FakeCopilot]:
    with FakeCopilot() as server:
        yield server


@pytest.fixture
def make_backend(fake: FakeCopilot, copilot_env: dict[str, str], closing: Closing) -> MakeBackend:
    def make(
        *, environ: dict[str, str] | None = None, now: Any = None, **settings: Any
    ) -> CopilotBackend:
        settings.setdefault("token_url", fake.token_url)
        settings.setdefault("connect_timeout_s", 1.0)
        config = backend_config(kind="copilot", **settings)
        extra = {"now": now} if now is not None else {}
        return closing(
            CopilotBackend("copilot", config, "cloud", env=environ or copilot_env, **extra)
        )

    return make


def secrets_of(fake: FakeCopilot) -> list[str]:
    return [OAUTH_TOKEN, *fake.issued_tokens]


# -- exchange, headers, streaming ---------------------------------------------------------------


async def test_exchange_then_chat_with_copilot_headers(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.answer = '{"findings": [{"line": 1, "message": "constant"}]}'
    pieces: list[str] = []
    backend = make_backend()

    result = await backend.chat(request(), pieces.append)

    assert result.text == fake.answer and "".join(pieces) == fake.answer
    assert result.model == "claude-haiku-4.5"
    assert result.structured == "none"
    assert result.prompt_tokens == 11 and result.completion_tokens == len(pieces)
    assert fake.header_problems == []
    [exchange] = [r for r in fake.requests if r.path == "/copilot_internal/v2/token"]
    assert exchange.headers["authorization"] == f"token {OAUTH_TOKEN}"
    assert exchange.headers["accept"] == "application/json"
    [sent] = fake.chat_requests
    assert sent.headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"
    assert sent.headers["x-github-api-version"] == "2025-04-01"
    assert sent.headers["x-initiator"] == "user"
    assert sent.json == {
        "model": "claude-haiku-4.5",
        "messages": [
            {"role": "system", "content": "You review code."},
            {"role": "user", "content": "def f(): return 1"},
        ],
        "temperature": 0.0,
        "max_tokens": 1024,
        "stream": True,
    }
    # The session token is reused; every request has its own id.
    await backend.chat(request())
    assert fake.exchanges == 1
    assert len(set(fake.request_ids)) == 2


async def test_empty_choices_chunks_are_skipped(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.empty_choices_chunks = 5
    fake.chunk_size = 1
    result = await make_backend().chat(request())
    assert result.text == fake.answer


async def test_expired_session_token_is_refreshed_before_use(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.expires_at = 1_800_000_000
    clock = [1_800_000_000 - 600.0]
    backend = make_backend(now=lambda: clock[0])
    await backend.chat(request())
    clock[0] = 1_800_000_000 - 61
    await backend.chat(request())
    assert fake.exchanges == 1
    clock[0] = 1_800_000_000 - 60  # within the minute before expiry: exchange first
    await backend.chat(request())
    assert fake.exchanges == 2
    assert fake.chat_requests[-1].headers["authorization"] == f"Bearer {fake.issued_tokens[1]}"
    assert fake.header_problems == []


async def test_concurrent_requests_share_one_exchange(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await asyncio.gather(*(backend.chat(request()) for _ in range(4)))
    assert fake.exchanges == 1
    assert len(fake.chat_requests) == 4


async def test_401_mid_session_exchanges_again_and_retries_once(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await backend.chat(request())
    fake.revoke_tokens()
    result = await backend.chat(request())
    assert result.text == fake.answer
    assert fake.exchanges == 2
    assert len(fake.chat_requests) == 3
    assert fake.chat_requests[-1].headers["authorization"] == f"Bearer {fake.issued_tokens[1]}"


async def test_a_second_401_fails_clearly(
    fake: FakeCopilot, make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.always_unauthorized = True
    with pytest.raises(BackendRequestError) as failure:
        await make_backend().chat(request())
    assert "HTTP 401" in str(failure.value) and LOGIN in str(failure.value)
    assert fake.exchanges == 2 and len(fake.chat_requests) == 2
    assert not any(secret in str(failure.value) for secret in secrets_of(fake))
    assert "exchanging again" in caplog.text
    assert not any(secret in caplog.text for secret in secrets_of(fake))


# -- error statuses -----------------------------------------------------------------------------


async def test_403_is_refused_without_retry(fake: FakeCopilot, make_backend: MakeBackend) -> None:
    fake.error = FORBIDDEN
    with pytest.raises(BackendRequestError) as failure:
        await make_backend().chat(request())
    assert failure.value.message == (
        "Copilot refused access (HTTP 403): Access to this endpoint is forbidden. "
        "Please review our Terms of Service"
    )
    assert len(fake.chat_requests) == 1 and fake.exchanges == 1


async def test_429_is_unavailable_with_retry_after(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.error = rate_limited("7")
    with pytest.raises(BackendUnavailable) as failure:
        await make_backend().chat(request())
    assert failure.value.retry_after_s == 7.0
    assert "quota" in failure.value.message and "rate limit" in failure.value.message
    assert "HTTP 429" in failure.value.message


async def test_400_model_not_supported_names_the_model(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.error = MODEL_NOT_SUPPORTED
    with pytest.raises(BackendRequestError) as failure:
        await make_backend().chat(request("gpt-9"))
    assert failure.value.message == (
        "model 'gpt-9' is not available on Copilot for this account: "
        "pick one from `localroute status`"
    )


async def test_5xx_goes_through_the_openai_mapping(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.error = text_error(502, "upstream connect error")
    with pytest.raises(BackendUnavailable, match="server error \\(HTTP 502\\)"):
        await make_backend().chat(request())


async def test_tokens_echoed_by_the_server_are_blanked(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    fake.expires_at = 2_000_000_000
    session = "tid=fake1;exp=2000000000;sku=free;8kp=1:f"
    fake.error = text_error(403, f"token {OAUTH_TOKEN} / {session} is suspended")
    with pytest.raises(BackendRequestError) as failure:
        await make_backend().chat(request())
    assert fake.issued_tokens == [session]
    assert "suspended" in str(failure.value)
    assert OAUTH_TOKEN not in str(failure.value) and session not in str(failure.value)


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, BackendRequestError, "GitHub rejected the Copilot OAuth token (HTTP 401): " + LOGIN),
        (404, BackendRequestError, "no Copilot subscription for this account, or a token from "
         "a non-Copilot app (HTTP 404)"),
        (500, BackendUnavailable, "Copilot token exchange: server error (HTTP 500)"),
    ],
)  # fmt: skip
async def test_exchange_failures(
    fake: FakeCopilot, make_backend: MakeBackend, status: int, kind: type[BackendError], words: str
) -> None:
    fake.exchange_error = status
    backend = make_backend()
    with pytest.raises(kind) as failure:
        await backend.chat(request())
    assert words in failure.value.message
    assert OAUTH_TOKEN not in str(failure.value)
    assert fake.chat_requests == []
    probe = await backend.probe()
    assert probe.up is False and words in probe.detail


async def test_exchange_host_down_is_unavailable(make_backend: MakeBackend) -> None:
    backend = make_backend(token_url=f"http://127.0.0.1:{closed_port()}/copilot_internal/v2/token")
    with pytest.raises(BackendUnavailable, match="connection refused"):
        await backend.chat(request())
    probe = await backend.probe()
    assert probe.up is False and "connection refused" in probe.detail


async def test_api_url_overrides_the_token_endpoint(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    backend = make_backend(api_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(BackendUnavailable, match="connection refused"):
        await backend.chat(request())
    assert fake.exchanges == 1 and fake.chat_requests == []


# -- structured output, models, probe -----------------------------------------------------------


async def test_json_object_only_for_models_that_support_structured_output(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    capable = await backend.chat(request("gpt-4.1", json_schema=SCHEMA))
    plain = await backend.chat(request("claude-haiku-4.5", json_schema=SCHEMA))
    assert capable.structured == "json_object" and plain.structured == "none"
    first, second = (r.json for r in fake.chat_requests)
    assert first["response_format"] == {"type": "json_object"}
    assert "response_format" not in second
    assert len(fake.model_requests) == 1
    assert fake.header_problems == []


async def test_probe_lists_chat_models_and_their_context(
    fake: FakeCopilot, make_backend: MakeBackend
) -> None:
    probe = await make_backend().probe()
    assert probe.up is True and probe.detail == "ok"
    assert probe.models == ("claude-haiku-4.5", "gpt-4.1", "claude-sonnet-4.5")
    assert probe.context_tokens == {
        "claude-haiku-4.5": 128000,
        "gpt-4.1": 111000,
        "claude-sonnet-4.5": 144000,  # no max_prompt_tokens: the context window
    }
    assert probe.latency_ms is not None
    assert fake.exchanges == 1 and fake.header_problems == []


async def test_probe_without_a_token_is_down_and_sends_nothing(
    fake: FakeCopilot, make_backend: MakeBackend, tmp_path: Path
) -> None:
    empty = {"XDG_CONFIG_HOME": str(tmp_path / "nothing"), "HOME": str(tmp_path / "nobody")}
    backend = make_backend(environ=empty)
    probe = await backend.probe()
    assert probe.up is False
    assert probe.detail == NO_TOKEN == "no Copilot token found: " + LOGIN
    with pytest.raises(BackendUnavailable, match="no Copilot token found") as caught:
        await backend.chat(request())
    assert caught.value.nothing_sent  # the audit and the user are told nothing was sent
    assert fake.requests == []


async def test_cancellation_closes_the_stream(fake: FakeCopilot, make_backend: MakeBackend) -> None:
    fake.answer = "word " * 200
    fake.chunk_delay_s = 0.3
    await cancel_mid_stream(make_backend().chat(request()), fake)
    assert await eventually(fake, lambda: fake.disconnects == 1, 3)


# -- token discovery ----------------------------------------------------------------------------


def test_token_discovery_order(tmp_path: Path) -> None:
    config = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config), "HOME": str(tmp_path / "home"), "MY_TOKEN": "env-tok"}
    apps = config / "github-copilot/apps.json"
    hosts = config / "github-copilot/hosts.json"
    own = config / "localroute/copilot.json"
    write_json(apps, {"ghe.example.com:x": {"oauth_token": "other"}, "github.com:Iv1.x": {
        "user": "octocat", "oauth_token": "apps-tok"}})  # fmt: skip
    write_json(hosts, {"github.com": {"user": "octocat", "oauth_token": "hosts-tok"}})
    write_json(own, {"oauth_token": "own-tok"})

    assert find_oauth_token(env, "MY_TOKEN") == ("env-tok", "environment variable MY_TOKEN")
    assert find_oauth_token(env, "UNSET_VAR") == ("apps-tok", str(apps))
    assert find_oauth_token(env) == ("apps-tok", str(apps))
    write_json(apps, {"github.com:Iv1.x": {"user": "octocat"}})  # no token in it
    assert find_oauth_token(env) == ("hosts-tok", str(hosts))
    hosts.unlink()
    assert find_oauth_token(env) == ("own-tok", str(own))
    own.write_text("not json")
    assert find_oauth_token(env) is None
    assert own_token_path(env) == own


def test_token_discovery_falls_back_to_home_config(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": ""}
    hosts = tmp_path / ".config/github-copilot/hosts.json"
    write_json(hosts, {"github.com": {"oauth_token": "gho_x"}})
    assert find_oauth_token(env) == ("gho_x", str(hosts))
    assert own_token_path(env) == tmp_path / ".config/localroute/copilot.json"


async def test_oauth_token_env_is_used_for_the_exchange(
    fake: FakeCopilot, make_backend: MakeBackend, copilot_env: dict[str, str]
) -> None:
    fake.oauth_token = "gho_from_env"
    backend = make_backend(
        environ={**copilot_env, "COPILOT_OAUTH": "gho_from_env"}, oauth_token_env="COPILOT_OAUTH"
    )
    await backend.chat(request())
    assert fake.requests[0].headers["authorization"] == "token gho_from_env"


# -- device flow --------------------------------------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def test_device_flow_stores_the_token_privately(fake: FakeCopilot, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    lines: list[str] = []
    sleeps = Sleeps()
    path = await device_flow_login(login_url=fake.root, env=env, out=lines.append, sleep=sleeps)

    assert path == own_token_path(env) == tmp_path / "cfg/localroute/copilot.json"
    assert json.loads(path.read_text()) == {"oauth_token": fake.oauth_token}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert any(USER_CODE in line and f"{fake.root}/login/device" in line for line in lines)
    assert not any(fake.oauth_token in line for line in lines)
    assert sleeps.calls == [5, 5, 5] and fake.device_polls == 3
    assert fake.header_problems == []
    assert find_oauth_token(env) == (fake.oauth_token, str(path))
    assert [p.name for p in path.parent.iterdir()] == ["copilot.json"]  # no temp file left


async def test_device_flow_honours_slow_down_and_replaces_a_loose_file(
    fake: FakeCopilot, tmp_path: Path
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    old = own_token_path(env)
    write_json(old, {"oauth_token": "old"})
    old.chmod(0o644)
    fake.device_script = ["authorization_pending", "slow_down", "authorization_pending"]
    sleeps = Sleeps()
    path = await device_flow_login(login_url=fake.root, env=env, out=lambda _: None, sleep=sleeps)
    assert sleeps.calls == [5, 5, 10, 10]
    assert json.loads(path.read_text())["oauth_token"] == fake.oauth_token
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_slow_down_without_an_interval_adds_five_seconds(tmp_path: Path) -> None:
    polls = iter([{"error": "slow_down"}, {"access_token": "gho_mock"}])

    def answer(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/login/device/code":
            return httpx.Response(200, json={"device_code": "d", "user_code": "U-1",
                                             "verification_uri": "v", "interval": 2})  # fmt: skip
        return httpx.Response(200, json=next(polls))

    sleeps = Sleeps()
    path = await device_flow_login(
        login_url="http://127.0.0.1:9", env={"XDG_CONFIG_HOME": str(tmp_path)},
        out=lambda _: None, transport=httpx.MockTransport(answer), sleep=sleeps,
    )  # fmt: skip
    assert sleeps.calls == [2, 7]
    assert json.loads(path.read_text()) == {"oauth_token": "gho_mock"}


@pytest.mark.parametrize(
    ("outcome", "words"), [("expired_token", "expired"), ("access_denied", "denied")]
)
async def test_device_flow_stops_on_expiry_or_denial(
    fake: FakeCopilot, tmp_path: Path, outcome: str, words: str
) -> None:
    fake.device_outcome = outcome
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(LoginError, match=words):
        await device_flow_login(login_url=fake.root, env=env, out=lambda _: None, sleep=Sleeps())
    assert not own_token_path(env).exists()


async def test_device_flow_gives_up_after_max_wait(fake: FakeCopilot, tmp_path: Path) -> None:
    fake.device_script = ["authorization_pending"] * 10
    sleeps = Sleeps()
    with pytest.raises(LoginError, match="not entered within 12 s"):
        await device_flow_login(
            login_url=fake.root, env={"XDG_CONFIG_HOME": str(tmp_path)},
            out=lambda _: None, sleep=sleeps, max_wait_s=12,
        )  # fmt: skip
    assert sleeps.calls == [5, 5] and fake.device_polls == 2


async def test_device_flow_unreachable_host(tmp_path: Path) -> None:
    with pytest.raises(LoginError, match="cannot reach"):
        await device_flow_login(
            login_url=f"http://127.0.0.1:{closed_port()}", env={"XDG_CONFIG_HOME": str(tmp_path)},
            out=lambda _: None, sleep=Sleeps(),
        )  # fmt: skip
