"""Where localroute and the tools it reads keep their files.

The XDG base directories on every system, as the contract fixes them
(`$XDG_CONFIG_HOME/localroute/config.toml`, `$XDG_STATE_HOME/localroute/audit.jsonl`)
and as the Copilot editor plugins use them (`~/.config/github-copilot/` on macOS too).
`platformdirs` is not used for that reason: it maps to the system's own folders
(`~/Library/Application Support` on macOS), where neither the contract nor the Copilot
plugins look. Every function takes the environment as a mapping, so tests can point
the directories anywhere; an empty variable counts as unset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localroute.config.small_file import read_small_text

WORKSPACE_FILE_NAMES = (".localroute.toml", "localroute.toml")
"""The workspace files, at a project root or in any directory above a file."""

COPILOT_FILES = ("apps.json", "hosts.json")
"""Files of the Copilot plugins under ``$XDG_CONFIG_HOME/github-copilot/``, in lookup order."""


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def config_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME``, else ``$HOME/.config``."""
    env = _env(env)
    if xdg := env.get("XDG_CONFIG_HOME"):
        return Path(xdg)
    return _home(env) / ".config"


def state_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME``, else ``$HOME/.local/state``."""
    env = _env(env)
    if xdg := env.get("XDG_STATE_HOME"):
        return Path(xdg)
    return _home(env) / ".local" / "state"


def cache_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME``, else ``$HOME/.cache``."""
    env = _env(env)
    if xdg := env.get("XDG_CACHE_HOME"):
        return Path(xdg)
    return _home(env) / ".cache"


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The user file: ``$LOCALROUTE_CONFIG``, else ``$XDG_CONFIG_HOME/localroute/config.toml``."""
    env = _env(env)
    if explicit := env.get("LOCALROUTE_CONFIG"):
        return Path(explicit).expanduser()
    return config_home(env) / "localroute" / "config.toml"


def audit_path(env: Mapping[str, str] | None = None) -> Path:
    return state_home(env) / "localroute" / "audit.jsonl"


def own_token_path(env: Mapping[str, str] | None = None) -> Path:
    """localroute's own Copilot token file: ``$XDG_CONFIG_HOME/localroute/copilot.json``."""
    return config_home(env) / "localroute" / "copilot.json"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_small_text(path))
    except (OSError, ValueError):
        return None


def _token_in(data: Any) -> str | None:
    """``oauth_token`` of the first key containing ``github.com`` (apps.json / hosts.json)."""
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        if "github.com" in key and isinstance(value, dict):
            token = value.get("oauth_token")
            if isinstance(token, str) and token.strip():
                return token.strip()
    return None


def find_oauth_token(
    env: Mapping[str, str] | None = None, env_var: str | None = None
) -> tuple[str, str] | None:
    """The GitHub OAuth token to exchange for a Copilot session token, and where it was found.

    Order: the environment variable ``env_var`` (the backend's ``oauth_token_env``) when set
    and not empty; ``github-copilot/apps.json``, then ``hosts.json`` under the XDG config
    home; localroute's own file (:func:`own_token_path`). The description names the source
    (a variable name or a path), never the token. None when there is no token anywhere.
    """
    env = _env(env)
    if env_var:
        value = env.get(env_var, "").strip()
        if value:
            return value, f"environment variable {env_var}"
    base = config_home(env) / "github-copilot"
    for name in COPILOT_FILES:
        path = base / name
        token = _token_in(_read_json(path))
        if token:
            return token, str(path)
    own = own_token_path(env)
    data = _read_json(own)
    if isinstance(data, dict):
        token = data.get("oauth_token")
        if isinstance(token, str) and token.strip():
            return token.strip(), str(own)
    return None


def copilot_token_present(env: Mapping[str, str] | None = None) -> bool:
    """Whether a Copilot OAuth token is on disk or in the environment — no network."""
    return find_oauth_token(env) is not None
