"""`url` or `urls`: validation, connect timeouts per URL, and merging across sources."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from localroute.config import sources
from localroute.config.locality import effective_locality, endpoint_localities
from localroute.config.models import (
    Config,
    OllamaBackendConfig,
    OpenAIBackendConfig,
    backend_config,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "backends.md"

LOOPBACK = "http://127.0.0.1:8080/v1"
LAN = "http://192.168.1.5:8080/v1"
CLOUD = "https://gpu.example.com/v1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "`url` is required (or `urls`, a list of endpoints)"),
        ({"url": LOOPBACK, "urls": [LAN]}, "give either `url` or `urls`"),
        ({"urls": []}, "at least 1 item"),
        ({"urls": [LOOPBACK, LOOPBACK]}, f"urls: {LOOPBACK!r} is listed more than once"),
        ({"urls": [LOOPBACK, "ftp://gpu2/v1"]}, "url must start with http://, https://"),
        ({"urls": LOOPBACK}, "valid list"),
    ],
)
@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_exactly_one_of_url_and_urls(kind: str, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        backend_config(kind=kind, **fields)
    assert message in str(caught.value)


@pytest.mark.parametrize("kind", ["anthropic", "copilot", "command"])
def test_other_kinds_have_no_urls(kind: str) -> None:
    extra: dict[str, Any] = {"argv": ["cli"]} if kind == "command" else {}
    with pytest.raises(ValidationError, match="urls"):
        backend_config(kind=kind, urls=[CLOUD], **extra)


def test_one_url_is_one_endpoint() -> None:
    config = backend_config(kind="openai", url=LOOPBACK)
    assert isinstance(config, OpenAIBackendConfig)
    assert config.endpoints == (LOOPBACK,)
    assert config.for_endpoint(LOOPBACK) is config
    assert config.connect_timeout_s == 0.25


def test_each_url_connects_within_its_own_localitys_timeout() -> None:
    config = backend_config(kind="ollama", urls=[LOOPBACK, LAN, CLOUD])
    assert isinstance(config, OllamaBackendConfig)
    assert config.endpoints == (LOOPBACK, LAN, CLOUD)
    assert config.endpoint == LOOPBACK
    # The backend's own bound is the longest: the most one dead host can cost it.
    assert config.connect_timeout_s == 5.0
    each = {url: config.for_endpoint(url) for url in config.endpoints}
    assert {url: c.connect_timeout_s for url, c in each.items()} == {
        LOOPBACK: 0.25,
        LAN: 1.0,
        CLOUD: 5.0,
    }
    assert all(c.url == url and c.urls is None for url, c in each.items())
    assert effective_locality(config) == "cloud"
    assert endpoint_localities(config) == {
        LOOPBACK: "local",
        LAN: "private-network",
        CLOUD: "cloud",
    }


def test_a_configured_timeout_or_locality_holds_for_every_url() -> None:
    timed = backend_config(kind="openai", urls=[LOOPBACK, CLOUD], connect_timeout_s=0.7)
    assert [timed.for_endpoint(u).connect_timeout_s for u in timed.endpoints] == [0.7, 0.7]
    placed = backend_config(kind="openai", urls=[LOOPBACK, LAN], locality="private-network")
    assert placed.connect_timeout_s == 1.0
    assert [placed.for_endpoint(u).connect_timeout_s for u in placed.endpoints] == [1.0, 1.0]
    assert endpoint_localities(placed) == {LOOPBACK: "private-network", LAN: "private-network"}


def test_urls_of_a_later_source_replace_the_url_of_an_earlier_one(
    isolated_env: dict[str, str],
) -> None:
    env = isolated_env
    user = Path(env["LOCALROUTE_CONFIG"])
    # The built-in `local` has a url; the user file gives it urls instead.
    user.write_text(f'[backends.local]\nkind = "openai"\nurls = ["{LOOPBACK}", "{LAN}"]\n')
    loaded = sources.load(env=env)
    assert loaded.problems == ()
    local = loaded.config.backends["local"]
    assert local.endpoints == (LOOPBACK, LAN)
    assert effective_locality(local) == "private-network"
    # Editor settings (user level) give one url again: it replaces the list.
    settings = {"backends": {"local": {"url": "http://127.0.0.1:9000/v1"}}}
    again = sources.load(env=env, editor_settings=settings).config.backends["local"]
    assert again.endpoints == ("http://127.0.0.1:9000/v1",)


def test_both_in_one_source_is_an_error_naming_the_backend(isolated_env: dict[str, str]) -> None:
    env = isolated_env
    user = Path(env["LOCALROUTE_CONFIG"])
    user.write_text(f'[backends.gpu]\nkind = "openai"\nurl = "{LOOPBACK}"\nurls = ["{LAN}"]\n')
    loaded = sources.load(env=env)
    messages = [str(p) for p in loaded.problems]
    assert any("backends.gpu" in m and "either `url` or `urls`" in m for m in messages), messages
    assert "gpu" not in loaded.config.backends


def test_the_documented_configurations_are_valid() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Several endpoints") : text.index("## `anthropic`")]
    blocks = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2
    several = Config.model_validate(tomllib.loads(blocks[0]))
    assert effective_locality(several.backends["gpus"]) == "private-network"
    assert several.backends["homelab"].endpoints == (
        "http://100.85.116.57:11434",
        "http://100.85.116.58:11434",
    )
    fleet = Config.model_validate(tomllib.loads(blocks[1])).backends["fleet"]
    assert effective_locality(fleet) == "private-network"
