"""The configuration sources, their precedence, the trust rule, and failing closed.

Sources, later ones win key by key: built-in defaults, the user file, editor
settings (user level), then the untrusted ones — editor settings from the
workspace and the workspace files (`.localroute.toml`, `localroute.toml`). The
untrusted ones come with the repository: they may only make privacy stricter
(add globs, turn detection on, forbid private-network backends or consent) and
remove entries from routes; everything else they say is ignored with a warning.

**A source that does not validate never lowers privacy.** Its `[privacy]` table
is validated on its own and applied (stricter-only); its backends and routes are
not used — that source's last valid version stays, or none. If even its privacy
part cannot be read (unreadable file, broken TOML, an unknown or ill-typed
privacy key), every document in its scope is private until it is fixed
(:attr:`LoadedConfig.fail_closed`). Problems name the file, the key and why.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from localroute.config.models import BACKEND_MODELS, Config, PrivacyConfig, default_config
from localroute.config.paths import copilot_token_present, user_config_path

__all__ = [
    "WORKSPACE_FILE_NAMES",
    "ConfigProblem",
    "LoadedConfig",
    "RawSource",
    "check_file",
    "copilot_token_present",
    "editor_sources",
    "load",
    "read_toml",
    "resolve",
    "user_config_path",
    "workspace_sources",
]

WORKSPACE_FILE_NAMES = (".localroute.toml", "localroute.toml")

USER_FILE_ONLY_KEYS = ("start_command", "stop_command")
"""Backend keys that run or shape a program: read from the user file only."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a source: where, which key, and why."""

    source: str
    key: str
    reason: str
    severity: str = "error"  # "error": (part of) the source was not used; "warning": ignored key

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    problems: tuple[ConfigProblem, ...] = ()
    sources: tuple[str, ...] = ()
    fail_closed: tuple[str, ...] = ()
    """Why every document in this configuration's scope is private (a privacy part that
    could not be read); empty when none."""
    valid: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """Per source name, the data that validated (kept as that source's last valid version)."""

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
    """Problems reading the source at all: its privacy part is unreadable too."""
    warnings: list[ConfigProblem] = field(default_factory=list)


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
    data = copy.deepcopy(part)
    ignored: list[ConfigProblem] = []

    def ignore(key: str, why: str) -> None:
        ignored.append(ConfigProblem(name, key, f"ignored: {why}", "warning"))

    # What runs a program, and the user's own consent switch, come from the user file only.
    backends = data.get("backends")
    if isinstance(backends, dict):
        for backend_name, backend in list(backends.items()):
            if not isinstance(backend, dict):
                continue
            if backend.get("kind") == "command":
                del backends[backend_name]
                ignore(
                    f"backends.{backend_name}", "command backends are read from the user file only"
                )
                continue
            for key in USER_FILE_ONLY_KEYS:
                if backend.pop(key, None) is not None:
                    ignore(
                        f"backends.{backend_name}.{key}", f"{key} is read from the user file only"
                    )
    privacy = data.get("privacy")
    if isinstance(privacy, dict) and privacy.get("allow_consent") is True:
        del privacy["allow_consent"]
        ignore("privacy.allow_consent", "consent can only be allowed in the user file")
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
    privacy = data.get("privacy")
    new_globs = privacy.get("globs") if isinstance(privacy, dict) else None
    if isinstance(new_globs, list):
        merged["privacy"]["globs"] = base_globs + [g for g in new_globs if g not in base_globs]
    return merged


_UNTRUSTED_WHY = "a workspace file may only make privacy stricter"


def _stricter_privacy(
    privacy: dict[str, Any], value: Mapping[str, Any], ignore: Any
) -> dict[str, Any]:
    """Apply only what makes ``privacy`` stricter; report the rest through ``ignore``."""
    out = dict(privacy)
    for key, item in value.items():
        if key == "globs" and isinstance(item, list):
            globs = list(out.get("globs", []))
            globs += [g for g in item if isinstance(g, str) and g not in globs]
            out["globs"] = globs
        elif key in ("detect_secrets", "detect_personal_data") and item is True:
            out[key] = True
        elif key in ("allow_private_network", "allow_consent") and item is False:
            out[key] = False
        elif key in ("detect_secrets", "detect_personal_data", "allow_private_network"):
            if out.get(key, PrivacyConfig.model_fields[key].default) != item:
                ignore(f"privacy.{key}", _UNTRUSTED_WHY)
        elif key == "allow_consent":
            ignore("privacy.allow_consent", "consent can only be allowed in the user file")
        else:
            ignore(f"privacy.{key}", _UNTRUSTED_WHY)
    return out


def _merge_untrusted(
    base: dict[str, Any], data: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Apply only what makes things stricter; report everything else as ignored."""
    merged = copy.deepcopy(base)
    ignored: list[ConfigProblem] = []

    def ignore(key: str, why: str) -> None:
        ignored.append(ConfigProblem(source, key, f"ignored: {why}", "warning"))

    for key, value in data.items():
        if key == "privacy" and isinstance(value, Mapping):
            merged["privacy"] = _stricter_privacy(merged.setdefault("privacy", {}), value, ignore)
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
            ignore(key, _UNTRUSTED_WHY)
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
        elif reason.startswith("Value error, "):
            reason = reason[len("Value error, ") :]
        problems.append(ConfigProblem(source, key, reason))
    return problems


def _privacy_problems(source: RawSource) -> list[ConfigProblem]:
    """Whether the source's privacy part can be read on its own (unknown keys included)."""
    privacy = source.data.get("privacy")
    if privacy is None:
        return []
    if not isinstance(privacy, dict):
        return [ConfigProblem(source.name, "privacy", "must be a table")]
    try:
        PrivacyConfig.model_validate(privacy)
    except ValidationError as exc:
        return [
            ConfigProblem(p.source, f"privacy.{p.key}" if p.key else "privacy", p.reason)
            for p in _validation_problems(source.name, exc)
        ]
    return []


class _Resolution:
    """The running merge of :func:`resolve`."""

    def __init__(self, copilot_available: bool, start: Config | None = None) -> None:
        defaults = start or default_config(copilot_available=copilot_available)
        self.current: dict[str, Any] = defaults.model_dump(exclude_defaults=False)
        self.config = defaults
        self.problems: list[ConfigProblem] = []
        self.used: list[str] = ["defaults"]
        self.fail_closed: list[str] = []
        self.valid: dict[str, dict[str, Any]] = {}

    def merge(
        self, source: RawSource, data: Mapping[str, Any], *, report: bool, commit: bool = True
    ) -> bool:
        """Merge ``data`` as ``source`` says; True when the result validated."""
        if source.trusted:
            candidate = _merge_trusted(self.current, data)
        else:
            candidate, ignored = _merge_untrusted(self.current, data, source.name)
            if report:
                self.problems.extend(ignored)
        try:
            validated = Config.model_validate(candidate)
        except ValidationError as exc:
            if report:
                self.problems.extend(_validation_problems(source.name, exc))
            return False
        if commit:
            self.current, self.config = candidate, validated
        return True

    def stricter_privacy(self, source: RawSource) -> None:
        privacy = source.data.get("privacy")
        if not isinstance(privacy, dict):
            return
        self.current["privacy"] = _stricter_privacy(
            self.current.setdefault("privacy", {}), privacy, lambda *_: None
        )
        self.config = Config.model_validate(self.current)


def resolve(
    sources: Sequence[RawSource],
    *,
    copilot_available: bool,
    last_valid: Mapping[str, Mapping[str, Any]] | None = None,
    start: Config | None = None,
) -> LoadedConfig:
    """Merge the sources in order onto the defaults (or ``start``), failing closed on any
    that is broken.

    ``last_valid`` holds, per source name, data that validated before: a source that is
    broken now falls back to it for its backends and routes.
    """
    run = _Resolution(copilot_available, start)
    for source in sources:
        run.problems.extend(source.problems)
        run.problems.extend(source.warnings)
        if source.problems:
            run.fail_closed.append(f"{source.name} cannot be read")
            previous = (last_valid or {}).get(source.name)
            if previous is not None and run.merge(source, previous, report=False):
                run.valid[source.name] = dict(previous)
            continue
        privacy_problems = _privacy_problems(source)
        if privacy_problems:
            run.problems.extend(privacy_problems)
            first = privacy_problems[0]
            run.fail_closed.append(f"{source.name}: {first.key}: {first.reason}")
        if not privacy_problems and run.merge(source, source.data, report=True):
            run.used.append(source.name)
            run.valid[source.name] = copy.deepcopy(source.data)
            continue
        if privacy_problems:
            # Nothing of the source is used; say what else is wrong with it too.
            rest = {k: v for k, v in source.data.items() if k != "privacy"}
            run.merge(source, rest, report=True, commit=False)
        previous = (last_valid or {}).get(source.name)
        if previous is not None and run.merge(source, previous, report=False):
            run.valid[source.name] = dict(previous)
        if not privacy_problems:
            run.stricter_privacy(source)
    return LoadedConfig(
        run.config,
        tuple(dict.fromkeys(run.problems)),
        tuple(run.used),
        tuple(run.fail_closed),
        run.valid,
    )


def user_sources(
    *, editor_settings: Any = None, env: Mapping[str, str] | None = None
) -> list[RawSource]:
    """The trusted sources and the workspace-level editor settings, in order."""
    found: list[RawSource] = []
    user = read_toml(user_config_path(env), trusted=True)
    if user is not None:
        found.append(user)
    found.extend(editor_sources(editor_settings))
    return found


def load(
    *,
    workspace_folders: Sequence[str] = (),
    editor_settings: Any = None,
    env: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read every source from disk and the editor, and resolve them."""
    found = user_sources(editor_settings=editor_settings, env=env)
    found.extend(workspace_sources(workspace_folders))
    return resolve(found, copilot_available=copilot_token_present(env))


def check_file(path: Path) -> list[ConfigProblem]:
    """Validate one file on its own (``localroute config check``)."""
    source = read_toml(path, trusted=True)
    if source is None:
        return [ConfigProblem(str(path), "", "file not found")]
    if source.problems:
        return source.problems
    loaded = resolve([source], copilot_available=False)
    return list(loaded.problems)
