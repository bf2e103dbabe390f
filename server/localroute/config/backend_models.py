"""The backend tables of the configuration: one pydantic model per `kind`, a union on it.

Pure like :mod:`localroute.config.models`, which re-exports everything here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from localroute.config.unix_url import is_unix, parse_unix_url

Locality = Literal["local", "private-network", "cloud"]
BackendKind = Literal["openai", "ollama", "anthropic", "copilot", "command"]

CONNECT_TIMEOUT_S: dict[str, float] = {"local": 0.25, "private-network": 1.0, "cloud": 5.0}
"""Default TCP connect timeouts by locality."""

LOCALITY_ORDER: dict[str, int] = {"local": 0, "private-network": 1, "cloud": 2}


class Model(BaseModel):
    """A configuration table: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _BackendBase(Model):
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
        "then never will), 1 s private network, 5 s cloud. On a local or private-network "
        "backend, a timeout that the machine may have caused (the event loop held up over "
        "the whole wait, so a connection made in time went unnoticed) is tried once more.",
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

    _connect_timeout_given: bool = PrivateAttr(default=False)
    """Whether `connect_timeout_s` was configured (else it follows each URL's locality)."""

    @property
    def endpoint(self) -> str | None:
        """The URL shown in status reports, if the kind has one."""
        return None

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Every URL requests may go to: one, or those of `urls`; none for kinds without."""
        return (self.endpoint,) if self.endpoint else ()

    def for_endpoint(self, url: str) -> Self:
        """These settings for one of the backend's URLs (a kind with one URL: themselves)."""
        return self

    def connect_timeout_for(self, url: str) -> float:
        """The connect timeout of one of the backend's URLs: the configured one, else the
        default of the configured locality, else that of the URL's own locality."""
        if self._connect_timeout_given or self.locality is not None:
            return self.connect_timeout_s
        from localroute.config.locality import locality_of_url

        return CONNECT_TIMEOUT_S[locality_of_url(url)]

    @model_validator(mode="wrap")
    @classmethod
    def _remember_connect_timeout(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        given = isinstance(data, dict) and "connect_timeout_s" in data
        model = handler(data)
        if given and isinstance(model, _BackendBase):
            model._connect_timeout_given = True
        return model

    @model_validator(mode="before")
    @classmethod
    def _connect_timeout_by_locality(cls, data: Any) -> Any:
        if isinstance(data, dict) and "connect_timeout_s" not in data:
            from localroute.config.locality import locality_of_url

            locality = data.get("locality")
            if locality not in CONNECT_TIMEOUT_S:
                # The longest of the URLs' defaults: the most one dead host can cost.
                urls = data.get("urls")
                urls = urls if isinstance(urls, list) else [data.get("url")]
                found = [locality_of_url(u) for u in urls if isinstance(u, str)]
                locality = "cloud"
                if data.get("kind") in ("openai", "ollama") and found:
                    locality = max(found, key=LOCALITY_ORDER.__getitem__)
            data = {**data, "connect_timeout_s": CONNECT_TIMEOUT_S[locality]}
        return data


def _check_url(url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://", "unix:")):
        raise ValueError(f"url must start with http://, https:// or unix: (got {url!r})")
    if is_unix(url):
        parse_unix_url(url or "")  # its ValueError names what is wrong


def _urls_field() -> Any:
    return Field(
        default=None,
        min_length=1,
        description="Instead of `url`: several endpoints of the same backend (e.g. one per "
        "GPU box), each probed on its own; a request goes to the one with the fewest requests "
        "in flight, within `max_concurrency` each, and moves to another when one fails. The "
        "backend's locality is the least private of theirs.",
    )


class _UrlsBackend(_BackendBase):
    """Keys of the kinds that may have several endpoints: `url` or `urls`."""

    if TYPE_CHECKING:  # declared by each kind, after its `kind`, for the reference's order
        url: str | None
        urls: list[str] | None

    @model_validator(mode="after")
    def _one_of_url_and_urls(self) -> _UrlsBackend:
        if self.url is not None and self.urls is not None:
            raise ValueError("give either `url` or `urls` (a list of endpoints), not both")
        if self.url is None and not self.urls:
            raise ValueError("`url` is required (or `urls`, a list of endpoints)")
        for url in self.endpoints:
            _check_url(url)
        duplicates = {u for u in self.urls or () if (self.urls or []).count(u) > 1}
        if duplicates:
            raise ValueError(f"urls: {sorted(duplicates)[0]!r} is listed more than once")
        return self

    @property
    def endpoint(self) -> str | None:
        return self.url if self.url is not None else self.urls[0] if self.urls else None

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self.urls) if self.urls else (self.url,) if self.url else ()

    def for_endpoint(self, url: str) -> Self:
        """These settings for one endpoint: `url` set to it, its own connect timeout."""
        if self.urls is None and url == self.url:
            return self
        return self.model_copy(
            update={"url": url, "urls": None, "connect_timeout_s": self.connect_timeout_for(url)}
        )


class OpenAIBackendConfig(_UrlsBackend):
    """Any OpenAI-compatible server: llama-swap, llama.cpp, vLLM, LM Studio, Ollama's /v1,
    OpenAI, Gemini's OpenAI endpoint, a LiteLLM proxy."""

    kind: Literal["openai"] = Field(description="Protocol spoken by the backend.")
    url: str | None = Field(
        default=None,
        description="Base URL that `/chat/completions` is appended to "
        "(e.g. `http://127.0.0.1:8080/v1`), or a unix socket: `unix:/run/llama.sock` "
        "(the API at `/v1`; another path after a colon: `unix:/run/llama.sock:/api/v1`); "
        "required unless `urls` is given.",
    )
    urls: list[str] | None = _urls_field()
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (never the key).",
    )


class OllamaBackendConfig(_UrlsBackend):
    """Ollama's native API (`/api/chat`)."""

    kind: Literal["ollama"] = Field(description="Protocol spoken by the backend.")
    url: str | None = Field(
        default=None,
        description="The server root, e.g. `http://127.0.0.1:11434`, or a unix socket "
        "(`unix:/run/ollama.sock`); required unless `urls` is given.",
    )
    urls: list[str] | None = _urls_field()
    num_ctx: int | None = Field(default=None, ge=256, description="`options.num_ctx` to request.")


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


@functools.cache
def _backend_adapter() -> TypeAdapter[BackendConfig]:
    # Made on first use: only the evaluation and tests build a backend from loose fields,
    # and a validator of every kind costs start-up time and memory.
    return TypeAdapter(BackendConfig)


def backend_config(**fields: Any) -> BackendConfig:
    """A backend configuration of the kind named in ``fields`` (validated)."""
    return _backend_adapter().validate_python(fields)
