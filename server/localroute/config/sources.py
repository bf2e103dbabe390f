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

from localroute.config.locality import ALWAYS_CLOUD_KINDS
from localroute.config.models import (
    BACKEND_MODELS,
    Config,
    PrivacyConfig,
    default_config,
    default_config_data,
)
from localroute.config.paths import (
    WORKSPACE_FILE_NAMES,
    copilot_token_present,
    user_config_path,
)
from localroute.config.small_file import read_small_text
from localroute.config.trust import (
    ConfigProblem,
    RawSource,
    editor_sources,
    for_editor,
    merge_trusted,
    merge_untrusted,
    stricter_privacy,
)

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


@dataclass(frozen=True)
class LoadedConfig:
    """A configuration as read from its sources, with the problems met on the way."""

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


def read_toml(path: Path, *, trusted: bool) -> RawSource | None:
    """Read a TOML file; None when it does not exist, a source with a problem when unreadable."""
    name = str(path)
    try:
        text = read_small_text(path)
    except FileNotFoundError:
        return None
    except OSError as exc:  # its scope then fails closed
        why = exc.strerror or str(exc)
        return RawSource(name, {}, trusted, [ConfigProblem(name, "", f"cannot read: {why}")])
    except UnicodeDecodeError as exc:
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


def _ignored_localities(
    source: str, data: Mapping[str, Any], config: Config
) -> list[ConfigProblem]:
    """A locality this source gives a backend that is a cloud service whatever it says:
    the backend stays cloud, and the user is told rather than left believing otherwise."""
    backends = data.get("backends")
    if not isinstance(backends, Mapping):
        return []
    problems: list[ConfigProblem] = []
    for name, spec in backends.items():
        backend = config.backends.get(name)
        said = spec.get("locality") if isinstance(spec, Mapping) else None
        if (
            backend is not None
            and backend.kind in ALWAYS_CLOUD_KINDS
            and said not in (None, "cloud")
        ):
            problems.append(
                ConfigProblem(
                    source,
                    f"backends.{name}.locality",
                    f"ignored: {backend.kind} backends are always cloud",
                    "warning",
                )
            )
    return problems


class _Resolution:
    """The running merge of :func:`resolve`."""

    def __init__(self, copilot_available: bool, start: Config | None = None) -> None:
        if start is not None:
            self.current: dict[str, Any] = start.model_dump(exclude_defaults=True)
            self.config = start
        else:
            self.current = default_config_data(copilot_available=copilot_available)
            self.config = default_config(copilot_available=copilot_available)
        self.problems: list[ConfigProblem] = []
        self.used: list[str] = ["defaults"]
        self.fail_closed: list[str] = []
        self.valid: dict[str, dict[str, Any]] = {}

    def merge(
        self, source: RawSource, data: Mapping[str, Any], *, report: bool, commit: bool = True
    ) -> bool:
        """Merge ``data`` as ``source`` says; True when the result validated."""
        if source.editor:
            data, ignored = for_editor(self.current, data, source.name)
            if report:
                self.problems.extend(ignored)
        if source.trusted:
            candidate = merge_trusted(self.current, data)
        else:
            candidate, ignored = merge_untrusted(self.current, data, source.name)
            if report:
                self.problems.extend(ignored)
            if any(problem.severity == "error" for problem in ignored):
                return False
        try:
            validated = Config.model_validate(candidate)
        except ValidationError as exc:
            if report:
                self.problems.extend(_validation_problems(source.name, exc))
            return False
        if report and source.trusted:  # an untrusted source's backends are ignored whole
            self.problems.extend(_ignored_localities(source.name, data, validated))
        if commit:
            self.current, self.config = candidate, validated
        return True

    def stricter_privacy(self, source: RawSource) -> None:
        privacy = source.data.get("privacy")
        if not isinstance(privacy, dict):
            return
        self.current["privacy"] = stricter_privacy(
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
