"""Backends at ``unix:`` URLs: the URL's forms, and real servers on socket files (the
loopback fakes, served on a unix socket) reached by the OpenAI-compatible and Ollama
backends; a missing or dead socket is down with its reason, and nothing was sent."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from localroute.backends.anthropic import AnthropicBackend
from localroute.backends.base import BackendUnavailable
from localroute.backends.http import UNIX_UNSUPPORTED
from localroute.backends.ollama import OllamaBackend
from localroute.backends.openai import OpenAIBackend
from localroute.backends.plain_http import connection_count
from localroute.config.locality import locality_of_url
from localroute.config.models import backend_config
from localroute.config.unix_url import UnixURL, parse_unix_url
from tests.fakes.ollama_fake import FakeOllama
from tests.fakes.openai_fake import REVIEW_ANSWER, FakeOpenAI
from tests.support.cleared import short_request
from tests.unit.conftest import Closing


@pytest.fixture
def sockets() -> Iterator[Path]:
    """A short folder for socket files (a socket's path is limited to 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="lr-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    ("url", "default", "expected"),
    [
        ("unix:/run/llama.sock", "/v1", UnixURL("/run/llama.sock", "/v1")),
        ("unix:/run/llama.sock", "", UnixURL("/run/llama.sock", "")),
        ("unix:/run/llama.sock:/v1", "", UnixURL("/run/llama.sock", "/v1")),
        ("unix:/run/llama.sock:/", "/v1", UnixURL("/run/llama.sock", "")),
        ("unix:/run/llama.sock:/api/v1/", "", UnixURL("/run/llama.sock", "/api/v1")),
        ("unix:///run/llama.sock", "/v1", UnixURL("/run/llama.sock", "/v1")),
        ("unix:/run/x/../llama.sock", "", UnixURL("/run/x/../llama.sock", "")),
    ],
)
def test_the_forms_of_a_unix_url(url: str, default: str, expected: UnixURL) -> None:
    assert parse_unix_url(url, default) == expected


def test_a_home_folder_socket_and_the_http_url_requests_are_built_on() -> None:
    unix = parse_unix_url("unix:~/llama.sock:/v1")
    assert unix.socket == os.path.join(os.path.expanduser("~"), "llama.sock")
    assert unix.http == "http://localhost/v1"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("unix:llama.sock", "must be an absolute path"),
        ("unix:", "names no socket file"),
        ("unix::/v1", "names no socket file"),
        ("unix:/run/llama.sock:/v1?x=1", "not a usable"),
    ],
)
def test_a_unix_url_that_cannot_be_used_is_a_configuration_error(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_unix_url(url)
    with pytest.raises(ValidationError, match=why):
        backend_config(kind="openai", url=url)


def test_a_unix_socket_is_local() -> None:
    assert locality_of_url("unix:/run/llama.sock:/v1") == "local"
    assert backend_config(kind="openai", url="unix:/run/llama.sock").connect_timeout_s == 0.25


@pytest.mark.parametrize("explicit_path", [True, False])
async def test_an_openai_backend_on_a_unix_socket_probes_and_answers(
    sockets: Path, closing: Closing[Any], explicit_path: bool
) -> None:
    path = str(sockets / "coder.sock")
    with FakeOpenAI(unix_socket=path) as fake:
        url = fake.url if explicit_path else f"unix:{path}"  # /v1 is the kind's default
        backend = closing(OpenAIBackend("local", backend_config(kind="openai", url=url), "local"))
        probed = await backend.probe()
        first = await backend.chat(short_request())
        second = await backend.chat(short_request())
        counted = connection_count(backend._client._transport)
    assert probed.up, probed.detail
    assert "coder" in probed.models
    assert first.text == second.text == REVIEW_ANSWER
    chats = fake.chat_requests
    assert [c.path for c in chats] == ["/v1/chat/completions"] * 2
    assert chats[0].headers["host"] == "localhost"
    assert counted == (1, 1)  # one connection to the socket, kept alive


async def test_an_ollama_backend_on_a_unix_socket_answers(
    sockets: Path, closing: Closing[Any]
) -> None:
    path = str(sockets / "ollama.sock")
    with FakeOllama(unix_socket=path) as fake:
        config = backend_config(kind="ollama", url=fake.url)
        backend = closing(OllamaBackend("lan", config, "local"))
        probed = await backend.probe()
        result = await backend.chat(short_request())
    assert probed.up, probed.detail
    assert result.text == REVIEW_ANSWER
    assert [r.path for r in fake.requests if r.method == "POST"] == ["/api/chat"]


async def test_a_missing_socket_file_is_down_and_nothing_was_sent(
    sockets: Path, closing: Closing[Any]
) -> None:
    url = f"unix:{sockets / 'absent.sock'}"
    backend = closing(OpenAIBackend("local", backend_config(kind="openai", url=url), "local"))
    probed = await backend.probe()
    assert not probed.up
    assert probed.detail == "cannot connect: No such file or directory"
    with pytest.raises(BackendUnavailable) as caught:
        await backend.chat(short_request())
    assert caught.value.nothing_sent


async def test_a_socket_nobody_listens_on_is_refused_and_nothing_was_sent(
    sockets: Path, closing: Closing[Any]
) -> None:
    path = str(sockets / "stale.sock")
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(path)  # the file of a server that is gone: bound, never listening
    try:
        url = f"unix:{path}"
        config = backend_config(kind="openai", url=url)
        backend = closing(OpenAIBackend("local", config, "local"))
        probed = await backend.probe()
        with pytest.raises(BackendUnavailable) as caught:
            await backend.chat(short_request())
    finally:
        left.close()
    assert not probed.up and probed.detail == "connection refused"
    assert caught.value.message == "connection refused"
    assert caught.value.nothing_sent


async def test_a_cloud_kind_at_a_unix_url_is_down_with_its_reason(
    closing: Closing[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    config = backend_config(kind="anthropic", url="unix:/run/claude.sock")
    backend = closing(AnthropicBackend("claude", config, "cloud"))
    probed = await backend.probe()
    assert not probed.up and probed.detail == UNIX_UNSUPPORTED
    with pytest.raises(BackendUnavailable) as caught:
        await backend.chat(short_request())
    assert caught.value.message == UNIX_UNSUPPORTED
    assert caught.value.nothing_sent
