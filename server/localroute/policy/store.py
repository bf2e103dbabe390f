"""`policy_for(document)`: the configuration and privacy rules that hold for one file.

One store serves the language server and the command line. It reads the user file,
the editor settings and the workspace files that apply to a file (see
:mod:`localroute.policy.roots`), re-reading a file whenever its size, time or inode
changed — a check of a few microseconds per request, so an edit or a new
`.localroute.toml` applies to the very next request whatever the client reports. A
source that does not validate fails closed (see :mod:`localroute.config.sources`);
its last valid version is remembered here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from localroute.config.models import Config
from localroute.config.paths import copilot_token_present, user_config_path
from localroute.config.sources import (
    ConfigProblem,
    LoadedConfig,
    RawSource,
    editor_sources,
    read_toml,
    resolve,
)
from localroute.identity import DocumentIdentity
from localroute.policy.roots import Placement, ProjectRoot, place

_Signature = tuple[int, int, int, int] | None

_USER_PATH_VARIABLES = ("LOCALROUTE_CONFIG", "XDG_CONFIG_HOME", "HOME")
"""What :func:`~localroute.config.paths.user_config_path` depends on."""


@dataclass(frozen=True)
class Policy:
    """What holds for one document."""

    config: Config
    """The effective configuration: tasks, routes and privacy for this file. Its backends
    are always the trusted ones (untrusted sources cannot define them)."""
    root: ProjectRoot | None
    bases: tuple[str, ...] = ()
    forced_private: tuple[str, ...] = ()
    """Why every document under this policy is private whatever it holds (fail closed)."""
    problems: tuple[ConfigProblem, ...] = ()
    key: tuple[object, ...] = field(default=(), compare=False)
    """Identifies the sources this policy was made of (for caches)."""

    def relative_label(self, identity: DocumentIdentity) -> str:
        """The document's name relative to its project root (what a prompt may name)."""
        path = identity.path
        if path is None:
            return identity.uri
        if self.root is not None:
            prefix = self.root.path.rstrip("/") + "/"
            if path.startswith(prefix):
                return path[len(prefix) :]
        return os.path.basename(path) or path


def disk_path(identity: DocumentIdentity) -> str:
    """The file's path as the file system spells it (symlinks resolved, but not normalised
    to NFC): directories named in NFD must be found by their own name."""
    if identity.disk is not None:  # resolved when the identity was made
        return identity.disk
    given = identity.fs_path
    if given and given.startswith("/") and not given.startswith("//"):
        try:
            return os.path.realpath(given)
        except (OSError, ValueError):
            pass
    return identity.path or ""


def other_names(path: str) -> int:
    """How many other names (hard links) the regular file at ``path`` has; 0 when it has
    none, is no regular file, or cannot be looked at. A file private under one of its
    names is that file under all of them, but only the name at hand can be matched."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return 0
    return info.st_nlink - 1 if stat.S_ISREG(info.st_mode) else 0


def _signature(path: Path) -> _Signature:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        try:  # a link that cannot be followed is still there: its own signature
            info = os.lstat(path)
        except (OSError, ValueError):
            return None
    return (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)


class _Files:
    """TOML files read once and again whenever they change on disk."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, bool], tuple[_Signature, RawSource | None]] = {}

    def read(self, path: Path, *, trusted: bool) -> tuple[_Signature, RawSource | None]:
        signature = _signature(path)
        key = (str(path), trusted)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == signature:
            return cached
        source = None if signature is None else read_toml(path, trusted=trusted)
        if source is None and signature is not None:
            # There is an entry by that name but nothing to read (a dangling or looping
            # link, raced away): unreadable, so its scope fails closed.
            name = str(path)
            problem = ConfigProblem(name, "", "cannot read: not a readable file")
            source = RawSource(name, {}, trusted, [problem])
        entry = (signature, source)
        self._cache[key] = entry
        return entry


class PolicyStore:
    """The configuration sources of one server or one command-line run."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        editor_settings: Any = None,
        workspace_folders: Sequence[str] = (),
        client_root: str | None = None,
        fixed: Config | None = None,
    ) -> None:
        """``fixed``: a configuration that replaces the user file and editor settings
        (tests, benchmarks, embedding); workspace files still apply on top of it."""
        self._env = env
        self._fixed = fixed
        self._files = _Files()
        self._settings: Any = None
        self._settings_sources: list[RawSource] = []
        self._settings_version = 0
        self._folders: tuple[str, ...] = ()
        self._client_root: str | None = None
        self._copilot = copilot_token_present(env)
        self._user_path_for: tuple[tuple[str | None, ...], Path] | None = None
        self._resolved: LRUCache[tuple[object, ...], LoadedConfig] = LRUCache(maxsize=64)
        self._last_valid: dict[str, dict[str, Any]] = {}
        self._reported: set[ConfigProblem] = set()
        self._pending: list[ConfigProblem] = []
        self.set_editor_settings(editor_settings)
        self.set_workspace(workspace_folders, client_root)

    # -- inputs ----------------------------------------------------------------------

    def set_editor_settings(self, settings: Any) -> None:
        if settings == self._settings and self._settings_version:
            return
        self._settings = settings
        self._settings_sources = editor_sources(settings)
        self._settings_version += 1

    def set_workspace(self, folders: Sequence[str], client_root: str | None = None) -> None:
        self._folders = tuple(f.rstrip("/") or "/" for f in folders if f)
        self._client_root = (client_root.rstrip("/") or "/") if client_root else None

    def set_fixed(self, config: Config) -> None:
        """Replace the fixed configuration (only for stores made with one)."""
        self._fixed = config
        self._settings_version += 1

    def refresh_copilot(self) -> None:
        """Look again for a Copilot token (after `localroute login copilot`)."""
        self._copilot = copilot_token_present(self._env)

    @property
    def workspace_folders(self) -> tuple[str, ...]:
        return self._folders

    # -- outputs ---------------------------------------------------------------------

    def base(self) -> LoadedConfig:
        """The trusted configuration (user file, user-level editor settings): backends."""
        return self._resolve(self._trusted_sources())

    def policy_for(self, identity: DocumentIdentity) -> Policy:
        """The rules for one document, from its own path (see :mod:`localroute.policy.roots`)."""
        forced: list[str] = []
        placement = Placement(None, (), ())
        if identity.path is not None:
            on_disk = disk_path(identity)
            placement = place(
                on_disk, workspace_folders=self._folders, client_root=self._client_root
            )
            if placement.root is None:
                forced.append(
                    "no project root found (no workspace folder, .localroute.toml or .git "
                    "above the file), so its project's rules cannot be known"
                )
            if (others := other_names(on_disk)) > 0:
                forced.append(
                    f"the file has {others} other name{'s' if others > 1 else ''} on disk "
                    "(hard links), which privacy rules cannot see: it may be private there"
                )
        elif identity.source == "unknown":
            forced.append(
                f"'{identity.scheme or '(none)'}:' documents are not known to be any file"
            )
        sources = self._trusted_sources() + self._untrusted_settings()
        for file in placement.config_files:
            signature, source = self._files.read(Path(file), trusted=False)
            sources.append((file, signature, source))
        loaded = self._resolve(sources)
        forced += [
            f"configuration error ({why}); every document is private until it is fixed"
            for why in loaded.fail_closed
        ]
        return Policy(
            config=loaded.config,
            root=placement.root,
            bases=placement.bases,
            forced_private=tuple(forced),
            problems=loaded.problems,
            # Where the file sits is part of what decided it (a folder added at run time
            # moves the root and the bases its globs are matched against).
            key=(
                tuple((s[0], s[1]) for s in sources),
                self._settings_version,
                self._copilot,
                placement,
                tuple(forced),
            ),
        )

    def problems(self) -> tuple[ConfigProblem, ...]:
        """The problems of the trusted sources (those of workspace files come per policy)."""
        return self.base().problems

    def new_problems(self) -> list[ConfigProblem]:
        """Problems not handed out before (each is shown to the user once)."""
        pending, self._pending = self._pending, []
        return pending

    # -- internals -------------------------------------------------------------------

    def _user_path(self) -> Path:
        """The user file's path, made again only when a variable it depends on changed
        (every request asks for it, and making a path costs more than reading three)."""
        env = os.environ if self._env is None else self._env
        names = tuple(env.get(name) for name in _USER_PATH_VARIABLES)
        if self._user_path_for is None or self._user_path_for[0] != names:
            self._user_path_for = (names, user_config_path(self._env))
        return self._user_path_for[1]

    def _trusted_sources(self) -> list[tuple[str, _Signature, RawSource | None]]:
        if self._fixed is not None:
            return []
        path = self._user_path()
        signature, user = self._files.read(path, trusted=True)
        out: list[tuple[str, _Signature, RawSource | None]] = [(str(path), signature, user)]
        for source in self._settings_sources:
            if source.trusted:
                out.append((source.name, (self._settings_version, 0, 0, 0), source))
        return out

    def _untrusted_settings(self) -> list[tuple[str, _Signature, RawSource | None]]:
        return [
            (s.name, (self._settings_version, 0, 0, 0), s)
            for s in self._settings_sources
            if not s.trusted
        ]

    def _resolve(self, sources: list[tuple[str, _Signature, RawSource | None]]) -> LoadedConfig:
        key = (
            tuple((name, sig) for name, sig, _ in sources),
            self._copilot,
            self._settings_version,
        )
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        present = [source for _, _, source in sources if source is not None]
        loaded = resolve(
            present,
            copilot_available=self._copilot,
            last_valid=self._last_valid,
            start=self._fixed,
        )
        self._last_valid.update(loaded.valid)
        for problem in loaded.problems:
            if problem not in self._reported:
                self._reported.add(problem)
                self._pending.append(problem)
        self._resolved[key] = loaded
        return loaded
