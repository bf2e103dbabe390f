"""The four configuration sources, their precedence, and the trust rule.

Sources, later ones win key by key: built-in defaults, the user file, editor
settings (user level), the workspace file and workspace-level editor settings.
The last two come with the repository and are not trusted: they may only make
privacy stricter (add globs, turn secret detection on, forbid private-network
backends) and remove entries from routes. Everything else they say is ignored
with a warning.

A source that does not validate is reported (file, key, reason) and left out,
so the server keeps running on the sources that are valid.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from localroute.config.models import BACKEND_MODELS, Config, default_config

WORKSPACE_FILE_NAMES = (".localroute.toml", "localroute.toml")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a source: where, which key, and why."""

    source: str
    key: str
    reason: str
    severity: str = "error"  # "error": the source was left out; "warning": a key was ignored

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    problems: tuple[ConfigProblem, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[ConfigProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


@dataclass
class RawSource:
    """A source's data before validation."""

    name: str
    data: dict[str, Any]
    trusted: bool
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if explicit := env.get("LOCALROUTE_CONFIG"):
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "localroute" / "config.toml"


def copilot_token_present(env: Mapping[str, str] | None = None) -> bool:
    """Whether a Copilot OAuth token is on disk (apps.json, hosts.json, or the one
    `localroute login copilot` stored) — no network."""
    from localroute.backends.copilot_auth import find_oauth_token

    return find_oauth_token(os.environ if env is None else env) is not None


def read_toml(path: Path, *, trusted: bool) -> RawSource | None:
    """Read a TOML file; None when it does not exist, a source with a problem when unreadable."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return RawSource(name, {}, trusted, [ConfigProblem(name, "", f"cannot read: {exc}")])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return RawSource(name, {}, trusted, [ConfigProblem(name, "", f"invalid TOML: {exc}")])
    return RawSource(name, data, trusted)


def workspace_sources(folders: Sequence[str]) -> list[RawSource]:
    found: list[RawSource] = []
    for folder in folders:
        for file_name in WORKSPACE_FILE_NAMES:
            source = read_toml(Path(folder) / file_name, trusted=False)
            if source is not None:
                found.append(source)
    return found


def editor_sources(settings: Any, *, name: str = "editor settings") -> list[RawSource]:
    """Editor settings: ``{"user": {...}, "workspace": {...}}``, or one object (user level)."""
    if settings is None or settings == {}:
        return []
    if not isinstance(settings, dict):
        return [RawSource(name, {}, True, [ConfigProblem(name, "", "settings must be an object")])]
    if "user" in settings or "workspace" in settings:
        split: list[RawSource] = []
        for level, trusted in (("user", True), ("workspace", False)):
            part = settings.get(level)
            if part:
                split.extend(editor_sources_one(part, f"{name} ({level})", trusted))
        return split
    return editor_sources_one(settings, name, True)


def editor_sources_one(part: Any, name: str, trusted: bool) -> list[RawSource]:
    if not isinstance(part, dict):
        return [RawSource(name, {}, trusted, [ConfigProblem(name, "", "must be an object")])]
    # A command that the server runs comes from the user file only, never from an editor.
    data = copy.deepcopy(part)
    ignored: list[ConfigProblem] = []
    backends = data.get("backends")
    if isinstance(backends, dict):
        for backend_name, backend in backends.items():
            if isinstance(backend, dict) and backend.pop("start_command", None) is not None:
                ignored.append(
                    ConfigProblem(
                        name,
                        f"backends.{backend_name}.start_command",
                        "ignored: start_command is read from the user file only",
                        "warning",
                    )
                )
    return [RawSource(name, data, trusted, warnings=ignored)]


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_trusted(base: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Key-by-key merge; privacy globs add up instead of replacing."""
    base_globs = list(base.get("privacy", {}).get("globs", []))
    merged = _deep_merge(base, data)
    new_globs = (
        data.get("privacy", {}).get("globs") if isinstance(data.get("privacy"), dict) else None
    )
    if isinstance(new_globs, list):
        merged["privacy"]["globs"] = base_globs + [g for g in new_globs if g not in base_globs]
    return merged


def _merge_untrusted(
    base: dict[str, Any], data: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Apply only what makes things stricter; report everything else as ignored."""
    merged = copy.deepcopy(base)
    ignored: list[ConfigProblem] = []

    def ignore(key: str, why: str) -> None:
        ignored.append(ConfigProblem(source, key, f"ignored: {why}", "warning"))

    untrusted_why = "a workspace file may only make privacy stricter"
    for key, value in data.items():
        if key == "privacy" and isinstance(value, Mapping):
            privacy = merged.setdefault("privacy", {})
            for pkey, pvalue in value.items():
                if pkey == "globs" and isinstance(pvalue, list):
                    globs = list(privacy.get("globs", []))
                    globs += [g for g in pvalue if isinstance(g, str) and g not in globs]
                    privacy["globs"] = globs
                elif pkey == "detect_secrets" and pvalue is True:
                    privacy["detect_secrets"] = True
                elif pkey == "allow_private_network" and pvalue is False:
                    privacy["allow_private_network"] = False
                else:
                    ignore(f"privacy.{pkey}", untrusted_why)
        elif key == "tasks" and isinstance(value, Mapping):
            tasks = merged.setdefault("tasks", {})
            for tname, tvalue in value.items():
                if tname not in tasks or not isinstance(tvalue, Mapping):
                    ignore(f"tasks.{tname}", "a workspace file may not define tasks")
                    continue
                for rkey, rvalue in tvalue.items():
                    if rkey not in ("route", "route_private") or not isinstance(rvalue, list):
                        ignore(f"tasks.{tname}.{rkey}", "only routes may be narrowed")
                        continue
                    current = tasks[tname].get(rkey)
                    if current is None and rkey == "route_private":
                        current = tasks[tname].get("route", [])
                    kept = [entry for entry in current or [] if entry in rvalue]
                    added = [entry for entry in rvalue if entry not in (current or [])]
                    if added:
                        ignore(
                            f"tasks.{tname}.{rkey}",
                            f"entries {added} are not in the trusted route; "
                            "a workspace file may only remove entries",
                        )
                    tasks[tname][rkey] = kept
        else:
            ignore(key, untrusted_why)
    return merged, ignored


def _validation_problems(source: str, exc: ValidationError) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) > 2 and loc[0] == "backends" and loc[2] in BACKEND_MODELS:
            del loc[2]  # the union's tag (`kind`) is not a key the user wrote
        key = ".".join(str(part) for part in loc)
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown key"
        problems.append(ConfigProblem(source, key, reason))
    return problems


def resolve(sources: Sequence[RawSource], *, copilot_available: bool) -> LoadedConfig:
    """Merge the sources in order onto the defaults; leave out any that does not validate."""
    defaults = default_config(copilot_available=copilot_available)
    current: dict[str, Any] = defaults.model_dump(exclude_defaults=False)
    config = defaults
    problems: list[ConfigProblem] = []
    used: list[str] = ["defaults"]
    for source in sources:
        problems.extend(source.problems)
        problems.extend(source.warnings)
        if source.problems:
            continue
        if source.trusted:
            candidate = _merge_trusted(current, source.data)
        else:
            candidate, ignored = _merge_untrusted(current, source.data, source.name)
            problems.extend(ignored)
        try:
            validated = Config.model_validate(candidate)
        except ValidationError as exc:
            problems.extend(_validation_problems(source.name, exc))
            continue
        current, config = candidate, validated
        used.append(source.name)
    return LoadedConfig(config, tuple(problems), tuple(used))


def load(
    *,
    workspace_folders: Sequence[str] = (),
    editor_settings: Any = None,
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read every source from disk and the editor, and resolve them."""
    sources: list[RawSource] = []
    user = read_toml(user_config_path(env), trusted=True)
    if user is not None:
        sources.append(user)
    sources.extend(editor_sources(editor_settings))
    sources.extend(workspace_sources(workspace_folders))
    return resolve(sources, copilot_available=copilot_token_present(env))


def check_file(path: Path) -> list[ConfigProblem]:
    """Validate one file on its own (``localroute config check``)."""
    source = read_toml(path, trusted=True)
    if source is None:
        return [ConfigProblem(str(path), "", "file not found")]
    if source.problems:
        return source.problems
    loaded = resolve([source], copilot_available=False)
    return list(loaded.problems)
