"""The configuration schema: pydantic models, frozen and fully defaulted.

This module is pure: it imports neither pygls nor httpx. The TOML files, the
editor settings and the trust rule live in :mod:`localroute.config.sources`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from localroute.config.backend_models import (
    BACKEND_MODELS,
    CONNECT_TIMEOUT_S,
    LOCALITY_ORDER,
    AnthropicBackendConfig,
    BackendConfig,
    BackendKind,
    CommandBackendConfig,
    CopilotBackendConfig,
    Locality,
    OllamaBackendConfig,
    OpenAIBackendConfig,
    _BackendBase,
    backend_config,
)
from localroute.config.backend_models import Model as _Model

__all__ = [  # the backend tables live in their own module; everything is importable here
    "BACKEND_MODELS",
    "BUILTIN_PRIVACY_GLOBS",
    "BUILTIN_TASK_OUTPUT",
    "CONNECT_TIMEOUT_S",
    "COPILOT",
    "DEFAULT_LOCAL_URL",
    "LOCALITY_ORDER",
    "PROMPT_PLACEHOLDERS",
    "AnthropicBackendConfig",
    "AuditConfig",
    "BackendConfig",
    "BackendKind",
    "CacheConfig",
    "CommandBackendConfig",
    "Config",
    "CopilotBackendConfig",
    "HealthConfig",
    "Locality",
    "OllamaBackendConfig",
    "OpenAIBackendConfig",
    "PrivacyConfig",
    "TaskConfig",
    "TaskOutput",
    "_BackendBase",
    "backend_config",
    "default_config",
    "default_config_data",
]

COPILOT = "copilot"
"""The backend defined by default once a Copilot token is found."""

BUILTIN_PRIVACY_GLOBS: tuple[str, ...] = (
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/.ssh/**",
    "**/.aws/**",
    "**/.gnupg/**",
    "**/secrets/**",
    "**/*.p12",
    "**/*.pfx",
    "**/*.keystore",
    "**/*.jks",
    "**/credentials*",
    "**/.netrc",
    "**/.npmrc",
    "**/.pypirc",
    "**/.git-credentials",
    "**/*.tfstate",
    "**/*.tfstate.*",
    "**/*.tfvars",
    "**/*.tfvars.json",
    "**/.envrc",
    "**/.kube/config",
    "**/kubeconfig",
    "**/.pgpass",
    "**/.my.cnf",
    "**/.docker/config.json",
    "**/*.ppk",
    "**/.htpasswd",
    "**/secrets.y*ml",
    "**/secret.y*ml",
    "**/.vault-token",
    "**/*.kdbx",
    "**/.s3cfg",
    "**/.boto",
    "**/*.ovpn",
    "**/.password-store/**",
    # The project's own privacy rules name its private places: they stay local too.
    "**/.localroute.toml",
    "**/localroute.toml",
)


TaskOutput = Literal["diagnostics", "hover"]
BUILTIN_TASK_OUTPUT: dict[str, TaskOutput] = {"review": "diagnostics", "explain": "hover"}
PROMPT_PLACEHOLDERS = ("code", "numbered_code", "path", "language", "first_line", "last_line")


def _empty_list() -> list[Any]:
    """A default factory for an empty list. pydantic asks every default factory for its
    signature; that of a builtin such as ``list`` is parsed from its text with
    ``tokenize``, which cost 2 ms of every start (the tokenizer's patterns compiled)."""
    return []


def _empty_dict() -> dict[str, Any]:
    """A default factory for an empty dict (see :func:`_empty_list`)."""
    return {}


class TaskConfig(_Model):
    """A task and the route its requests take: `review`, `explain`, or one of your own."""

    title: str | None = Field(
        default=None,
        description="Code action title, e.g. `Quick question` → `Quick question (selection) — "
        "gemma @ local`. Default: the task's name.",
    )
    prompt: str | None = Field(
        default=None,
        description="Custom tasks: the user prompt. Placeholders: "
        + ", ".join(f"`{{{p}}}`" for p in PROMPT_PLACEHOLDERS)
        + ". `diagnostics` tasks get the findings format appended.",
    )
    output: TaskOutput | None = Field(
        default=None,
        description="How the answer is shown: `diagnostics` (findings, like review) or `hover` "
        "(markdown, like explain). Default: review → diagnostics, explain and others → hover.",
    )
    max_tokens: int | None = Field(
        default=None, ge=16, le=65536, description="Most tokens the model may answer with."
    )
    route: list[str] = Field(
        default_factory=_empty_list,
        description="Candidates in order, each `backend:model` (the model is everything after "
        "the first colon).",
    )
    route_private: list[str] | None = Field(
        default=None,
        description="Route for private code; default: `route` filtered to the localities "
        "private code may use.",
    )

    @field_validator("route", "route_private")
    @classmethod
    def _entries_have_model(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            backend, sep, model = entry.partition(":")
            if not sep or not backend or not model:
                raise ValueError(f"route entry {entry!r} is not 'backend:model'")
        return value

    def output_kind(self, name: str) -> TaskOutput:
        return self.output or BUILTIN_TASK_OUTPUT.get(name, "hover")


class PrivacyConfig(_Model):
    """What makes a document private. Globs from every source add up."""

    globs: list[str] = Field(
        default_factory=_empty_list, description="Privacy globs, added to the built-in list."
    )
    detect_secrets: bool = Field(
        default=True, description="Content holding a credential is private too."
    )
    detect_personal_data: bool = Field(
        default=True,
        description="Content holding personal data (checksummed identifiers such as card "
        "numbers and IBANs, national ID numbers, runs of e-mail addresses or phone numbers) is "
        "private too.",
    )
    allow_private_network: bool = Field(
        default=True, description="Private code may go to `private-network` backends."
    )
    allow_consent: bool = Field(
        default=True,
        description="The user may allow one refused request to go to one named cloud backend "
        "(a one-time consent token; user file only).",
    )


class CacheConfig(_Model):
    """The result caches for identical requests: in memory, and on disk across restarts."""

    max_entries: int = Field(
        default=256, ge=0, le=100_000, description="Answers kept in memory; 0 disables it."
    )
    max_disk_bytes: int = Field(
        default=100_000_000,
        ge=0,
        le=100_000_000_000,
        description="Bound of the answers kept on disk "
        "(`$XDG_CACHE_HOME/localroute/answers.sqlite3`), shared by every localroute process; "
        "least recently used answers go first. 0 keeps answers in memory only. A language "
        "server reads this when it starts; a change applies after a restart.",
    )


class AuditConfig(_Model):
    """The audit log of every backend request (never the code)."""

    enabled: bool = Field(default=True, description="Write the audit log.")
    path: str | None = Field(
        default=None,
        description="Where; default `$XDG_STATE_HOME/localroute/audit.jsonl` "
        "(`~/.local/state/localroute/audit.jsonl`).",
    )
    max_bytes: int = Field(
        default=5_000_000, ge=10_000, description="Rotate the file when it grows past this size."
    )


class HealthConfig(_Model):
    """How backend availability is probed and cached."""

    ttl_s: float = Field(
        default=10.0, gt=0, le=3600, description="How long a probe result that says 'up' is kept."
    )
    recheck_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often a backend known to be down is probed again in the background.",
    )


class Config(_Model):
    """The whole configuration (the TOML file, or editor settings as JSON)."""

    backends: dict[str, BackendConfig] = Field(default_factory=_empty_dict)
    tasks: dict[str, TaskConfig] = Field(default_factory=_empty_dict)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)

    @model_validator(mode="after")
    def _custom_tasks_have_prompts(self) -> Config:
        for name, task in self.tasks.items():
            if name not in BUILTIN_TASK_OUTPUT and not task.prompt:
                raise ValueError(f"task '{name}' needs 'prompt' (only review and explain have one)")
        return self

    @model_validator(mode="after")
    def _routes_name_defined_backends(self) -> Config:
        # A typo such as `locl:coder` would otherwise skip silently to the next entry,
        # which may be a cloud. `copilot` exists once a Copilot token is found; until then
        # its entries are skipped with a hint to sign in.
        defined = ", ".join(sorted(self.backends)) or "none"
        for name, task in self.tasks.items():
            for key, entries in (("route", task.route), ("route_private", task.route_private)):
                for entry in entries or []:
                    backend = entry.partition(":")[0]
                    if backend not in self.backends and backend != COPILOT:
                        raise ValueError(
                            f"tasks.{name}.{key}: entry {entry!r} names backend {backend!r}, "
                            f"which is not defined (defined: {defined})"
                        )
        return self

    def all_privacy_globs(self) -> tuple[str, ...]:
        return BUILTIN_PRIVACY_GLOBS + tuple(
            g for g in self.privacy.globs if g not in BUILTIN_PRIVACY_GLOBS
        )


DEFAULT_LOCAL_URL = "http://127.0.0.1:8080/v1"


def default_config_data(*, copilot_available: bool) -> dict[str, Any]:
    """The configuration with no files and no editor settings, as raw data: sources are
    merged onto this (values computed at validation, such as a connect timeout derived from
    a URL, must follow the merged URL, not the default one)."""
    backends: dict[str, Any] = {"local": {"kind": "openai", "url": DEFAULT_LOCAL_URL}}
    if copilot_available:
        backends[COPILOT] = {"kind": "copilot"}
    return {
        "backends": backends,
        "tasks": {
            "review": {"route": ["local:coder", "copilot:claude-sonnet-4.5"]},
            "explain": {"route": ["local:coder", "copilot:claude-haiku-4.5"]},
        },
    }


def default_config(*, copilot_available: bool) -> Config:
    """The configuration with no files and no editor settings."""
    return Config.model_validate(default_config_data(copilot_available=copilot_available))
