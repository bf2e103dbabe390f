"""The real pipeline with recording fake backends, and the ways the properties drive it.

The fakes are tests/support/backends.py's, put behind the backend registry so that the
registry still wraps each one in its privacy guard, as in production: a fake records only
what passed the gate and the guard. Here each behaves as a script of named behaviours
(:data:`BEHAVIOURS`) says. Every backend has a hand-labelled
``truth`` (where it really runs) that the properties check the fakes' records against,
independently of the locality the configuration derives.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from pydantic import ValidationError

from localroute.backends.base import BackendRequestError, BackendUnavailable, ProbeResult
from localroute.config.models import (
    COPILOT,
    BackendConfig,
    Config,
    Locality,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.identity import identify
from localroute.pipeline import (
    ClassifiedDocument,
    Document,
    Pipeline,
    RequestFailed,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.policy import PolicyStore
from tests.support.backends import Behaviour, FakeBackend, Midstream, unavailable


@dataclass(frozen=True)
class PoolBackend:
    config: BackendConfig
    truth: Locality  # where it really runs: hand-labelled, not derived


POOL: dict[str, PoolBackend] = {
    "local": PoolBackend(backend_config(kind="openai", url="http://127.0.0.1:8080/v1"), "local"),
    "lmstudio": PoolBackend(backend_config(kind="openai", url="http://localhost:1234/v1"), "local"),
    "sock": PoolBackend(backend_config(kind="openai", url="unix:/run/llama.sock"), "local"),
    "v6local": PoolBackend(backend_config(kind="openai", url="http://[::1]:8080/v1"), "local"),
    "tiny": PoolBackend(
        backend_config(kind="openai", url="http://127.0.0.1:8081/v1", context_tokens=256), "local"
    ),
    "cmd_local": PoolBackend(
        backend_config(kind="command", argv=["llm", "-m", "{model}"], locality="local"), "local"
    ),
    "homelab": PoolBackend(
        backend_config(kind="ollama", url="http://192.168.1.5:11434"), "private-network"
    ),
    "tailnet": PoolBackend(
        backend_config(kind="openai", url="http://100.85.116.57:8080/v1"), "private-network"
    ),
    "nas": PoolBackend(
        backend_config(kind="ollama", url="http://nas.local:11434"), "private-network"
    ),
    "ula": PoolBackend(
        backend_config(kind="openai", url="http://[fd12::1]:8080/v1"), "private-network"
    ),
    "copilot": PoolBackend(backend_config(kind="copilot"), "cloud"),
    "claude": PoolBackend(backend_config(kind="anthropic"), "cloud"),
    "openai": PoolBackend(backend_config(kind="openai", url="https://api.openai.com/v1"), "cloud"),
    "gemini": PoolBackend(
        backend_config(kind="command", argv=["gemini", "-m", "{model}"]), "cloud"
    ),
    "nip": PoolBackend(backend_config(kind="openai", url="http://127.0.0.1.nip.io/v1"), "cloud"),
    "lookalike": PoolBackend(
        backend_config(kind="openai", url="https://localhost.evil.example.com/v1"), "cloud"
    ),
    "mapped": PoolBackend(backend_config(kind="openai", url="http://[::ffff:8.8.8.8]/v1"), "cloud"),
    "userinfo": PoolBackend(
        backend_config(kind="openai", url="http://127.0.0.1@evil.example.com/v1"), "cloud"
    ),
    "sslip": PoolBackend(
        backend_config(kind="openai", url="https://10.0.0.5.sslip.io/v1"), "cloud"
    ),
    "copilot_local": PoolBackend(backend_config(kind="copilot", locality="local"), "cloud"),
    "claude_pn": PoolBackend(backend_config(kind="anthropic", locality="private-network"), "cloud"),
}
MODELS = ("coder", "qwen3-coder:30b", "claude-sonnet-4.5", "gpt-4o")
BEHAVIOURS = (
    "up",
    "refused",
    "timeout",
    "midstream",
    "rejecting",
    "busy",
    "garbage",
    "probe down",
)
ANSWER = '{"findings": [{"line": 1, "severity": "info", "message": "ok"}]}'


def behaviour(name: str, named: str) -> Behaviour:
    """What a backend called ``name`` does for one chat, by the name of the behaviour."""
    if named == "refused":
        return unavailable(name, nothing_sent=True)
    if named == "timeout":
        return unavailable(name, "no answer within 300 s")
    if named == "midstream":
        return Midstream(ANSWER[:17], unavailable(name, "connection reset mid-stream"))
    if named == "rejecting":
        return BackendRequestError(name, "unknown model", status=404)
    if named == "busy":
        return BackendUnavailable(name, "HTTP 429", status=429, retry_after_s=0.0)
    return "I think it is fine." if named == "garbage" else ANSWER


def scripted(
    name: str, config: BackendConfig, locality: Locality, script: Sequence[str]
) -> FakeBackend:
    """A fake that behaves as ``script`` names, one behaviour a chat, cycling through it."""
    named = itertools.cycle(list(script) or ["up"])
    return FakeBackend(
        name,
        config,
        locality,
        answer_fn=lambda _request: behaviour(name, next(named)),
        pieces=1,
        probe_result=ProbeResult(up=True, latency_ms=1.0, models=MODELS),
    )


@dataclass
class Scenario:
    backends: dict[str, list[str]]  # name → behaviour script
    review: list[str]
    review_private: list[str] | None
    explain: list[str]
    allow_private_network: bool
    detect_secrets: bool
    extra_globs: list[str] = field(default_factory=list)

    def typos(self) -> list[str]:
        """Route entries naming a backend no source defines (not even Copilot's)."""
        routes = [*self.review, *(self.review_private or []), *self.explain]
        return [e for e in routes if e.partition(":")[0] not in {*self.backends, COPILOT}]

    def without_typos(self) -> Scenario:
        typos = set(self.typos())
        keep = [e for e in self.review if e not in typos]
        private = None
        if self.review_private is not None:
            private = [e for e in self.review_private if e not in typos]
        explain = [e for e in self.explain if e not in typos]
        return Scenario(
            self.backends,
            keep,
            private,
            explain,
            self.allow_private_network,
            self.detect_secrets,
            self.extra_globs,
        )

    def config(self, globs: Sequence[str] = ()) -> Config:
        return Config(
            backends={name: POOL[name].config for name in self.backends},
            tasks={
                "review": TaskConfig(route=self.review, route_private=self.review_private),
                "explain": TaskConfig(route=self.explain),
            },
            privacy=PrivacyConfig(
                globs=[*globs, *self.extra_globs],
                detect_secrets=self.detect_secrets,
                allow_private_network=self.allow_private_network,
            ),
        )

    def valid_config(self, globs: Sequence[str] = ()) -> Config:
        """The configuration; a route naming an undefined backend is a configuration error
        (it was skipped at request time, which let a typo fall through to a cloud)."""
        if self.typos():
            with pytest.raises(ValidationError, match="which is not defined"):
                self.config(globs)
            return self.without_typos().config(globs)
        return self.config(globs)

    def fakes(self, pipeline: Pipeline) -> dict[str, FakeBackend]:
        localities = pipeline.localities()
        return {
            name: scripted(name, POOL[name].config, localities[name], script)
            for name, script in self.backends.items()
        }


POOL_NAMES = sorted(POOL)


def make_scenario(rng: random.Random) -> Scenario:
    names = rng.sample(POOL_NAMES, rng.randint(1, 7))
    backends = {name: [rng.choice(BEHAVIOURS) for _ in range(rng.randint(1, 3))] for name in names}
    targets = [*names, *names, "ghost", "unknown-cloud"]

    def route() -> list[str]:
        return [f"{rng.choice(targets)}:{rng.choice(MODELS)}" for _ in range(rng.randint(0, 6))]

    return Scenario(
        backends=backends,
        review=route(),
        review_private=route() if rng.random() < 0.4 else None,
        explain=route(),
        allow_private_network=rng.random() < 0.5,
        detect_secrets=rng.random() < 0.8,
    )


def allowed_truths(config: Config) -> set[str]:
    """Where private code may really go under ``config``."""
    return {"local", "private-network"} if config.privacy.allow_private_network else {"local"}


# --- classification as the server and the CLI do it -------------------------------------


class Classifier:
    """`Pipeline.classify` under a fixed configuration, for any workspace folders."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._pipelines: dict[tuple[object, ...], Pipeline] = {}

    def pipeline(self, folders: Sequence[str] = (), client_root: str | None = None) -> Pipeline:
        key = (tuple(folders), client_root)
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            pipeline = Pipeline(
                PolicyStore(
                    fixed=self.config,
                    workspace_folders=server_folders(folders),
                    client_root=None if client_root is None else identify(client_root).path,
                )
            )
            self._pipelines[key] = pipeline
        return pipeline

    def classify(
        self,
        uri: str,
        text: str,
        folders: Sequence[str] = (),
        *,
        client_root: str | None = None,
        owner_text: str | None = None,
    ) -> ClassifiedDocument:
        document = Document(identify(uri), text, "python", owner_text=owner_text)
        return self.pipeline(folders, client_root).classify(document)


def server_folders(folders: Sequence[str]) -> list[str]:
    """Workspace folders (URIs or paths) as the server keeps them: canonical paths."""
    paths = (identify(folder).path for folder in folders)
    return [p for p in paths if p]


# --- running requests -------------------------------------------------------------------


async def run_and_close(
    pipeline: Pipeline, request: TaskRequest
) -> tuple[TaskOutcome | None, TaskError | None]:
    try:
        return await pipeline.run(request), None
    except (RequestRefused, RequestFailed) as exc:
        return None, exc
    finally:
        await pipeline.aclose()
