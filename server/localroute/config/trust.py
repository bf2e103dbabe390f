"""The trust rule: what each kind of source may say.

The user file and user-level editor settings are trusted. Workspace files and
workspace-level editor settings come with the repository: they may only make privacy
stricter (add globs, turn detection on, forbid private-network backends or consent)
and remove entries from routes; everything else they say is ignored with a warning.
Editor settings of any level never run a program or allow consent: commands and the
consent switch are read from the user file only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localroute.config.models import COPILOT, PrivacyConfig

USER_FILE_ONLY_KEYS = ("start_command", "stop_command")
"""Backend keys that run a program: read from the user file only."""


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


@dataclass
class RawSource:
    """A source's data before validation."""

    name: str
    data: dict[str, Any]
    trusted: bool
    problems: list[ConfigProblem] = field(default_factory=list)
    """Problems reading the source at all: its privacy part is unreadable too."""
    warnings: list[ConfigProblem] = field(default_factory=list)
    editor: bool = False
    """Editor settings: they never shape a program the server runs (see :func:`for_editor`)."""


def for_editor(
    current: Mapping[str, Any], data: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """``data`` without what editor settings may not change given the configuration so far:
    any key of a backend that is (or would become) a `command` backend — its argv, env,
    files and cwd decide what a CLI may do — and the user-file-only keys of any backend."""
    out = copy.deepcopy(dict(data))
    ignored: list[ConfigProblem] = []
    backends = out.get("backends")
    if not isinstance(backends, dict):
        return out, ignored
    known = current.get("backends", {})
    for name, backend in list(backends.items()):
        if not isinstance(backend, dict):
            continue
        existing = known.get(name) if isinstance(known, dict) else None
        kind = backend.get("kind") or (existing or {}).get("kind")
        if kind == "command":
            del backends[name]
            ignored.append(
                ConfigProblem(
                    source,
                    f"backends.{name}",
                    "ignored: command backends are read from the user file only",
                    "warning",
                )
            )
            continue
        for key in USER_FILE_ONLY_KEYS:
            if backend.pop(key, None) is not None:
                ignored.append(
                    ConfigProblem(
                        source,
                        f"backends.{name}.{key}",
                        f"ignored: {key} is read from the user file only",
                        "warning",
                    )
                )
    return out, ignored


def editor_sources(settings: Any, *, name: str = "editor settings") -> list[RawSource]:
    """Editor settings: ``{"user": {...}, "workspace": {...}}``, or one object (user level)."""
    if settings is None or settings == {}:
        return []
    if not isinstance(settings, dict):
        return [
            RawSource(
                name, {}, True, [ConfigProblem(name, "", "settings must be an object")], editor=True
            )
        ]
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
        return [
            RawSource(
                name, {}, trusted, [ConfigProblem(name, "", "must be an object")], editor=True
            )
        ]
    data = copy.deepcopy(part)
    ignored: list[ConfigProblem] = []
    # The user's own consent switch comes from the user file only.
    privacy = data.get("privacy")
    if isinstance(privacy, dict) and privacy.get("allow_consent") is True:
        del privacy["allow_consent"]
        ignored.append(
            ConfigProblem(
                name,
                "privacy.allow_consent",
                "ignored: consent can only be allowed in the user file",
                "warning",
            )
        )
    return [RawSource(name, data, trusted, warnings=ignored, editor=True)]


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_trusted(base: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Key-by-key merge; privacy globs add up instead of replacing."""
    base_globs = list(base.get("privacy", {}).get("globs", []))
    merged = deep_merge(base, data)
    privacy = data.get("privacy")
    new_globs = privacy.get("globs") if isinstance(privacy, dict) else None
    if isinstance(new_globs, list):
        merged["privacy"]["globs"] = base_globs + [g for g in new_globs if g not in base_globs]
    backends = data.get("backends")
    for name, backend in backends.items() if isinstance(backends, Mapping) else ():
        # `url` and `urls` say the same thing: the one a later source gives replaces the
        # other from earlier ones (the built-in `local` has a `url`).
        if isinstance(backend, Mapping) and ("url" in backend) != ("urls" in backend):
            merged["backends"][name].pop("urls" if "url" in backend else "url", None)
    return merged


_UNTRUSTED_WHY = "a workspace file may only make privacy stricter"


def stricter_privacy(
    privacy: dict[str, Any], value: Mapping[str, Any], ignore: Callable[[str, str], None]
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


def merge_untrusted(
    base: dict[str, Any], data: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Apply only what makes things stricter; report everything else as ignored."""
    merged = copy.deepcopy(base)
    ignored: list[ConfigProblem] = []

    def ignore(key: str, why: str) -> None:
        ignored.append(ConfigProblem(source, key, f"ignored: {why}", "warning"))

    for key, value in data.items():
        if key == "privacy" and isinstance(value, Mapping):
            merged["privacy"] = stricter_privacy(merged.setdefault("privacy", {}), value, ignore)
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
                    defined = merged.get("backends", {})
                    undefined = [
                        e
                        for e in added
                        if isinstance(e, str)
                        and e.partition(":")[0] not in defined
                        and e.partition(":")[0] != COPILOT
                    ]
                    if undefined:
                        # A typo (`locl:coder`) would read as "remove local:coder" and send
                        # code further down the route: an error, and the file's routes are
                        # not used.
                        ignored.append(
                            ConfigProblem(
                                source,
                                f"tasks.{tname}.{rkey}",
                                f"entries {undefined} name no defined backend",
                            )
                        )
                    elif added:
                        ignore(
                            f"tasks.{tname}.{rkey}",
                            f"entries {added} are not in the trusted route; "
                            "a workspace file may only remove entries",
                        )
                    tasks[tname][rkey] = kept
        else:
            ignore(key, _UNTRUSTED_WHY)
    return merged, ignored
