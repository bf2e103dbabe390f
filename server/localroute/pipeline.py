"""The one path every request takes: policy → classify → route → gate → backend → parse.

Called by the language server and by the command line alike; it knows neither.
A document is classified once, on its whole text, under the policy found from its
own path (:meth:`Pipeline.classify`); every request over it — a selection, a chunk
— carries that verdict, and each candidate backend gets the prompt only through
the privacy gate (:func:`localroute.privacy.gate.clear`).
"""

from __future__ import annotations

import logging

from cachetools import LRUCache

from localroute.asking import Asker
from localroute.audit import AuditLog
from localroute.backends.base import (
    Backend,
    ProbeResult,
)
from localroute.config.locality import effective_locality
from localroute.config.models import Config, Locality
from localroute.identity import DocumentIdentity
from localroute.policy import PolicyStore
from localroute.privacy.classify import PrivacyVerdict, classify_document, content_hash
from localroute.privacy.consent import ConsentStore
from localroute.requests import (
    ClassifiedDocument,
    Document,
    Observer,
    RequestFailed,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.results_cache import ResultsCache
from localroute.routing.health import HealthMonitor
from localroute.routing.router import (
    Candidate,
    RouteDecision,
    decide,
    fit_window,
)
from localroute.sending import BackendPool
from localroute.tasks.findings import Prompt
from localroute.tasks.prompts import build_prompt, estimate_tokens, max_tokens_for

log = logging.getLogger(__name__)

__all__ = [
    "ClassifiedDocument",
    "Document",
    "Observer",
    "Pipeline",
    "RequestFailed",
    "RequestRefused",
    "TaskError",
    "TaskOutcome",
    "TaskRequest",
]

DEFAULT_MAX_TOKENS = 1024


class Pipeline:
    def __init__(
        self,
        source: PolicyStore | Config,
        *,
        audit: AuditLog | None = None,
        results: ResultsCache | None = None,
    ) -> None:
        self.store = source if isinstance(source, PolicyStore) else PolicyStore(fixed=source)
        self.config = self.store.base().config
        """The trusted configuration: backends, their health settings, the cache."""
        self.audit = audit
        self.consents = ConsentStore()
        self.health = HealthMonitor(
            self._probe, ttl_s=self.config.health.ttl_s, recheck_s=self.config.health.recheck_s
        )
        self.pool = BackendPool(dict(self.config.backends), self.health)
        self._cache: LRUCache[tuple[object, ...], TaskOutcome] | None = (
            LRUCache(maxsize=self.config.cache.max_entries)
            if self.config.cache.max_entries
            else None
        )
        self._verdicts: LRUCache[tuple[object, ...], PrivacyVerdict] = LRUCache(maxsize=512)
        self.results = results
        """Answers on disk, behind the in-memory cache (:mod:`localroute.results_cache`)."""
        self._asker = Asker(self)
        self.services: dict[str, str] = {}
        """What this process last did to a backend's service: starting, up or stopped."""

    # -- configuration --------------------------------------------------------------

    def localities(self) -> dict[str, Locality]:
        return {name: effective_locality(b) for name, b in self.config.backends.items()}

    @property
    def budget(self) -> object:
        return self.pool.budget

    def sync(self) -> bool:
        """Apply a changed trusted configuration (the user file, editor settings); True when
        something changed. Cheap: the store only stats the user file."""
        config = self.store.base().config
        if config is self.config or config == self.config:
            return False
        self._apply(config)
        return True

    def _apply(self, config: Config) -> None:
        old, self.config = self.config, config
        changed = self.pool.reconfigure(dict(config.backends))
        if self._cache is not None and (changed or old.tasks != config.tasks):
            self._cache.clear()

    async def reconfigure(self, config: Config) -> None:
        """Switch a pipeline made from a fixed configuration to another one."""
        self.store.set_fixed(config)
        self.sync()
        await self.pool.close_retired()

    def backend(self, name: str) -> Backend:
        return self.pool.backend(name)

    async def _probe(self, name: str) -> ProbeResult:
        if name not in self.config.backends:
            return ProbeResult(up=False, detail="not configured")
        return await self.pool.probe(name)

    async def aclose(self) -> None:
        await self.health.aclose()
        await self.pool.aclose()
        if self.results is not None:
            await self.results.aclose()
        if self.audit is not None:
            self.audit.close()

    # -- the decision -----------------------------------------------------------------

    def classify(self, document: Document) -> ClassifiedDocument:
        """The document's policy (found from its own path) and its verdict, made once on
        its whole text: every request over it carries this."""
        self.sync()
        identity = document.identity
        policy = self.store.policy_for(identity)
        owner = document.owner_text
        key = (
            document.content_hash,
            identity.path,
            identity.fs_path,
            identity.uri,
            policy.key,
            None if owner is None else content_hash(owner),
        )
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = classify_document(
                identity,
                document.text,
                globs=policy.config.all_privacy_globs(),
                bases=policy.bases,
                privacy=policy.config.privacy,
                forced_private=policy.forced_private,
                owner_text=owner,
            )
            self._verdicts[key] = verdict
        return ClassifiedDocument(document, policy, verdict)

    def classify_text(
        self, identity: DocumentIdentity, text: str, language: str | None = None
    ) -> ClassifiedDocument:
        return self.classify(Document(identity, text, language))

    def decide(
        self,
        request: TaskRequest,
        prompt: Prompt | None = None,
        *,
        fit: bool = True,
        consent_backend: str | None = None,
    ) -> RouteDecision:
        """The privacy-filtered candidates, less (with `fit`) those whose context window is
        too small for the prompt and the answer. Without a `prompt` its size is estimated
        from the text (cheap, for predictions)."""
        config = request.document.policy.config
        decision = decide(
            config,
            request.task,
            request.verdict,
            self.localities(),
            allow_cloud=request.allow_cloud,
            consent_backend=consent_backend,
        )
        task = config.tasks.get(request.task)
        if not fit or task is None or not decision.candidates:
            return decision
        if prompt is not None:
            prompt_tokens = estimate_tokens(prompt)
        else:
            prompt_tokens = sum(len(line) + 8 for line in request.selected_lines()) // 3 + 200
        needed = prompt_tokens + max_tokens_for(request.task, task)
        return fit_window(decision, needed, self.window)

    def window(self, candidate: Candidate) -> int | None:
        """The candidate's context window: configured, else learned from its probe."""
        configured = self.config.backends[candidate.backend].context_tokens
        return configured or self.health.context_tokens(candidate.backend, candidate.model)

    def budget_spent(self, name: str) -> str | None:
        return self.pool.budget_spent(name)

    def predicted(self, decision: RouteDecision) -> Candidate | None:
        """The candidate a request would go to now, from what is known; nothing waits.

        Local and private-network backends not known yet are probed in the background;
        cloud backends are not: listing actions sends nothing off this network.
        """
        for candidate in decision.candidates:
            if candidate.locality != "cloud":
                self.health.refresh_soon(candidate.backend)
        return decision.predicted(
            lambda name: "down" if self.budget_spent(name) else self.health.state(name)
        )

    # -- running ----------------------------------------------------------------------

    def prompt_for(self, request: TaskRequest) -> Prompt:
        start, _ = request.line_span()
        name = request.task
        return build_prompt(
            name,
            request.document.policy.config.tasks[name],
            path_label=request.label,
            language=request.language,
            lines=request.selected_lines(),
            first_line=start,
            whole_file=request.start_line is None,
        )

    async def run(self, request: TaskRequest, observer: Observer | None = None) -> TaskOutcome:
        """Ask the request's route in order, through the gate; see :mod:`localroute.asking`."""
        return await self._asker.run(request, observer)
