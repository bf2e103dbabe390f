"""The configuration schema: pydantic models, frozen and fully defaulted.

This module is pure: it imports neither pygls nor httpx. The TOML files, the
editor settings and the trust rule live in :mod:`localroute.config.sources`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

Locality = Literal["local", "private-network", "cloud"]
BackendKind = Literal["openai", "ollama", "anthropic", "copilot", "command"]

COPILOT = "copilot"
"""The backend defined by default once a Copilot token is found."""

CONNECT_TIMEOUT_S: dict[str, float] = {"local": 0.25, "private-network": 1.0, "cloud": 5.0}
"""Default TCP connect timeouts by locality."""

LOCALITY_ORDER: dict[str, int] = {"local": 0, "private-network": 1, "cloud": 2}

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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _BackendBase(_Model):
    """Keys every backend kind has."""

    locality: Locality | None = Field(
        default=None,
        description="Where the backend runs. Derived from the URL when unset; only the user "
        "file and user-level editor settings may set it.",
    )
    max_concurrency: int = Field(
        default=4, ge=1, le=256, description="Parallel requests this backend accepts."
    )
    max_queue: int = Field(
        default=256,
        ge=0,
        le=100_000,
        description="Requests that may wait for a free slot; past that, a request moves to "
        "the next candidate with `queue full`.",
    )
    timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="Whole-request budget in seconds; long enough for llama-swap to load a model.",
    )
    connect_timeout_s: float = Field(
        default=CONNECT_TIMEOUT_S["cloud"],
        gt=0,
        le=60,
        description="TCP connect timeout in seconds: the most a dead host can cost a request. "
        "Default by locality: 0.25 s local (a loopback host that has not answered a SYN by "
        "then never will), 1 s private network, 5 s cloud.",
    )
    context_tokens: int | None = Field(
        default=None, ge=256, description="Context window of the backend's models, in tokens."
    )
    max_requests_per_hour: int | None = Field(
        default=None,
        ge=0,
        description="Cost guard: after this many requests in the last hour the backend is "
        "skipped, with that reason, until the hour has rolled on.",
    )
    max_tokens_per_hour: int | None = Field(
        default=None,
        ge=0,
        description="Cost guard: the same for tokens (prompt + answer, as the backend reports "
        "them, else estimated).",
    )
    start_command: list[str] | None = Field(
        default=None,
        description="argv that starts the backend's service, e.g. "
        '`["systemctl", "--user", "start", "llama-swap"]` (user file only).',
    )
    stop_command: list[str] | None = Field(
        default=None,
        description="argv that stops the backend's service, e.g. "
        '`["systemctl", "--user", "stop", "llama-swap"]` (user file only).',
    )

    @property
    def endpoint(self) -> str | None:
        """The URL shown in status reports, if the kind has one."""
        return None

    @model_validator(mode="before")
    @classmethod
    def _connect_timeout_by_locality(cls, data: Any) -> Any:
        if isinstance(data, dict) and "connect_timeout_s" not in data:
            from localroute.config.locality import locality_of_url

            locality = data.get("locality")
            url = data.get("url")
            if locality not in CONNECT_TIMEOUT_S:
                locality = "cloud"
                if data.get("kind") in ("openai", "ollama") and isinstance(url, str):
                    locality = locality_of_url(url)
            data = {**data, "connect_timeout_s": CONNECT_TIMEOUT_S[locality]}
        return data


def _check_url(url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://", "unix:")):
        raise ValueError(f"url must start with http://, https:// or unix: (got {url!r})")


class OpenAIBackendConfig(_BackendBase):
    """Any OpenAI-compatible server: llama-swap, llama.cpp, vLLM, LM Studio, Ollama's /v1,
    OpenAI, Gemini's OpenAI endpoint, a LiteLLM proxy."""

    kind: Literal["openai"] = Field(description="Protocol spoken by the backend.")
    url: str = Field(
        description="Base URL that `/chat/completions` is appended to "
        "(e.g. `http://127.0.0.1:8080/v1`).",
    )
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (never the key).",
    )

    @model_validator(mode="after")
    def _valid_url(self) -> OpenAIBackendConfig:
        _check_url(self.url)
        return self

    @property
    def endpoint(self) -> str | None:
        return self.url


class OllamaBackendConfig(_BackendBase):
    """Ollama's native API (`/api/chat`)."""

    kind: Literal["ollama"] = Field(description="Protocol spoken by the backend.")
    url: str = Field(description="The server root, e.g. `http://127.0.0.1:11434`.")
    num_ctx: int | None = Field(default=None, ge=256, description="`options.num_ctx` to request.")

    @model_validator(mode="after")
    def _valid_url(self) -> OllamaBackendConfig:
        _check_url(self.url)
        return self

    @property
    def endpoint(self) -> str | None:
        return self.url


class AnthropicBackendConfig(_BackendBase):
    """Anthropic's Messages API (always cloud)."""

    kind: Literal["anthropic"] = Field(description="Protocol spoken by the backend.")
    url: str | None = Field(
        default=None, description="API root; default `https://api.anthropic.com`."
    )
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key; default "
        "`ANTHROPIC_API_KEY`.",
    )

    @model_validator(mode="after")
    def _valid_url(self) -> AnthropicBackendConfig:
        _check_url(self.url)
        return self

    @property
    def endpoint(self) -> str | None:
        return self.url


class CopilotBackendConfig(_BackendBase):
    """GitHub Copilot's chat API (always cloud)."""

    kind: Literal["copilot"] = Field(description="Protocol spoken by the backend.")
    token_url: str | None = Field(default=None, description="Token exchange URL.")
    api_url: str | None = Field(
        default=None, description="Chat API base (default: the token's `endpoints.api`)."
    )
    oauth_token_env: str | None = Field(
        default=None, description="Environment variable holding the OAuth token."
    )
    login_url: str | None = Field(
        default=None,
        description="GitHub base URL for `localroute login copilot` "
        "(default `https://github.com`; GitHub Enterprise: your server).",
    )

    @property
    def endpoint(self) -> str | None:
        return self.api_url


class CommandBackendConfig(_BackendBase):
    """A CLI that reads the prompt on stdin and answers on stdout (cloud unless the user
    file says otherwise). Every key of this kind is read from the user file only."""

    kind: Literal["command"] = Field(description="Protocol spoken by the backend.")
    argv: list[str] = Field(
        min_length=1,
        description="argv template; `{model}` is replaced by the route's model, `{run_dir}` by "
        "the run directory, `{file:NAME}` by the path of the file NAME of `files`.",
    )
    output: Literal["text", "opencode-json"] = Field(
        default="text", description="How stdout is read."
    )
    env: dict[str, str] | None = Field(
        default=None,
        description="Environment variables to set for the CLI (on top of the server's); values "
        "may reference `${VAR}` of the server's environment (unset: the run fails, naming it), "
        "`{run_dir}` and `{file:NAME}`.",
    )
    cwd: str | None = Field(
        default=None,
        description="Working directory of the CLI (`PWD` matches it); default: the run "
        "directory, a fresh empty temporary directory per run (removed afterwards), never "
        "the workspace.",
    )
    files: dict[str, str] | None = Field(
        default=None,
        description="Files written into the run directory before every run, name → text (e.g. "
        "a CLI's deny-all policy or settings file); names are relative (subfolders allowed). "
        "The run fails when one cannot be written; `{file:NAME}` naming a file not listed here "
        "is a configuration error.",
    )
    stop_on_stderr: str | None = Field(
        default=None,
        description="Regular expression: when a line the CLI writes to stderr matches, the CLI "
        "is stopped at once and the backend counts as unavailable (ends a CLI's own retries of a "
        "dead model service, so that localroute's fallback decides).",
    )
    probe_argv: list[str] | None = Field(
        default=None,
        description="argv run once (no stdin, short timeout) to check the CLI works; its first "
        "line of output is the version shown by `localroute status`; default `[argv[0], "
        '"--version"]`.',
    )

    @model_validator(mode="after")
    def _valid_command(self) -> CommandBackendConfig:
        import re

        for name in self.files or {}:
            parts = name.replace("\\", "/").split("/")
            if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise ValueError(
                    f"files: {name!r} must be a relative path inside the run directory"
                )
        for var in self.env or {}:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
                raise ValueError(f"env: {var!r} is not a valid environment variable name")
        templates = [*self.argv, *(self.probe_argv or []), *(self.env or {}).values()]
        for text in templates:
            for name in re.findall(r"\{file:([^}]*)\}", text):
                if name not in (self.files or {}):
                    raise ValueError(f"{{file:{name}}} names no file of `files`")
        if self.stop_on_stderr is not None:
            try:
                re.compile(self.stop_on_stderr)
            except re.error as exc:
                raise ValueError(f"stop_on_stderr is not a regular expression: {exc}") from None
        return self


BackendConfig = Annotated[
    OpenAIBackendConfig
    | OllamaBackendConfig
    | AnthropicBackendConfig
    | CopilotBackendConfig
    | CommandBackendConfig,
    Field(discriminator="kind"),
]
"""One model server that requests may be routed to, one model per kind."""

BACKEND_MODELS: dict[str, type[_BackendBase]] = {
    "openai": OpenAIBackendConfig,
    "ollama": OllamaBackendConfig,
    "anthropic": AnthropicBackendConfig,
    "copilot": CopilotBackendConfig,
    "command": CommandBackendConfig,
}

_BACKEND_ADAPTER: TypeAdapter[BackendConfig] = TypeAdapter(BackendConfig)


def backend_config(**fields: Any) -> BackendConfig:
    """A backend configuration of the kind named in ``fields`` (validated)."""
    return _BACKEND_ADAPTER.validate_python(fields)


TaskOutput = Literal["diagnostics", "hover"]
BUILTIN_TASK_OUTPUT: dict[str, TaskOutput] = {"review": "diagnostics", "explain": "hover"}
PROMPT_PLACEHOLDERS = ("code", "numbered_code", "path", "language", "first_line", "last_line")


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
        default_factory=list,
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
        default_factory=list, description="Privacy globs, added to the built-in list."
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
        "least recently used answers go first. 0 keeps answers in memory only.",
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

    backends: dict[str, BackendConfig] = Field(default_factory=dict)
    tasks: dict[str, TaskConfig] = Field(default_factory=dict)
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
