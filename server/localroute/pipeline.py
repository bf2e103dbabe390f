"""The one path every request takes: policy → classify → route → gate → backend → parse.

Called by the language server and by the command line alike; it knows neither.
A document is classified once, on its whole text, under the policy found from its
own path (:meth:`Pipeline.classify`); every request over it — a selection, a chunk
— carries that verdict, and each candidate backend gets the prompt only through
the privacy gate (:func:`localroute.privacy.gate.clear`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace

from cachetools import LRUCache

from localroute.audit import AuditEntry, AuditLog, safe_outcome
from localroute.backends.base import Backend, BackendError, ChatRequest, ChatResult, ProbeResult
from localroute.config.locality import effective_locality
from localroute.config.models import Config, Locality
from localroute.identity import DocumentIdentity
from localroute.outcomes import answer_outcome, failure_message, refusal_message
from localroute.policy import PolicyStore
from localroute.privacy.classify import PrivacyVerdict, classify_document, content_hash
from localroute.privacy.consent import Consent, ConsentError, ConsentOffer, ConsentStore
from localroute.privacy.gate import clear
from localroute.requests import (
    ClassifiedDocument,
    Document,
    NoObserver,
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
    first_cloud_backend,
    fit_window,
    privacy_blocked,
)
from localroute.sending import BackendPool
from localroute.tasks.findings import Prompt
from localroute.tasks.guard import AnswerGuard
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
        if config == self.config:
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
        return await self.pool.backend(name).probe()

    async def aclose(self) -> None:
        await self.health.aclose()
        await self.pool.aclose()
        if self.results is not None:
            await self.results.aclose()

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

    def _consent(self, request: TaskRequest) -> Consent | None:
        if request.consent is None:
            return None
        if not request.document.policy.config.privacy.allow_consent:
            raise TaskError("consent is turned off (privacy.allow_consent = false)")
        try:
            return self.consents.redeem(
                request.consent,
                content_hash=request.verdict.content_hash,
                task=request.task,
                span=(request.start_line, request.end_line),
            )
        except ConsentError as exc:
            raise TaskError(str(exc)) from exc

    async def run(self, request: TaskRequest, observer: Observer | None = None) -> TaskOutcome:
        config = request.document.policy.config
        if request.task not in config.tasks:
            known = ", ".join(config.tasks)
            raise TaskError(f"unknown task '{request.task}' (configured: {known})")
        self.sync()
        observer = observer or NoObserver()
        consent = self._consent(request)
        first, last = request.line_span()
        prompt = self.prompt_for(request)
        decision = self.decide(
            request, prompt, consent_backend=consent.backend if consent else None
        )
        key = self._cache_key(request, prompt, decision)
        if self._cache is not None and not request.refresh and consent is None:
            hit = self._cache.get(key)
            if hit is not None:
                return replace(hit, cached=True, sent_to=())
        if self.results is not None and not request.refresh and consent is None:
            stored = await self.results.lookup(request, prompt, decision)
            if stored is not None:
                if self._cache is not None:
                    self._cache[key] = stored
                return stored

        attempts: list[str] = [f"{s.entry}: {s.reason}" for s in decision.skipped]
        sent_to: list[str] = []
        for candidate in decision.candidates:
            if self.health.state(candidate.backend) == "unknown" and self.health.probing(
                candidate.backend
            ):
                # Join the probe already in flight (started at `initialized`): a dead host
                # then costs this request at most one connect timeout, shared.
                timeout = self.config.backends[candidate.backend].connect_timeout_s
                await self.health.settle(candidate.backend, timeout + 0.05)
            if self.health.state(candidate.backend) == "down" and consent is None:
                detail = self.health.health(candidate.backend).detail
                attempts.append(f"{candidate.entry}: down ({detail})")
                continue
            spent = self.budget_spent(candidate.backend)
            if spent is not None:
                attempts.append(f"{candidate.entry}: {spent}")
                continue
            observer.attempting(candidate)
            try:
                result = await self._send(candidate, prompt, request, decision, observer, consent)
            except BackendError as exc:
                if not exc.nothing_sent:
                    sent_to.append(candidate.backend)
                attempts.append(f"{candidate.entry}: {exc.message}")
                continue
            outcome = answer_outcome(
                request, decision, candidate, result, (first, last), attempts, prompt
            )
            outcome = replace(
                outcome,
                consented=consent is not None,
                sent_to=tuple(dict.fromkeys([*sent_to, candidate.backend])),
            )
            if self._cache is not None and consent is None:
                self._cache[key] = outcome
            if self.results is not None and consent is None:
                await self.results.remember(request, prompt, candidate, outcome)
            return outcome
        refused = decision.private and privacy_blocked(decision)
        self._audit(request, decision, prompt, None, "refused" if refused else "failed")
        if refused:
            raise RequestRefused(
                refusal_message(request, decision, attempts, tuple(sent_to), self.localities()),
                sent_to=tuple(sent_to),
                consent=self._offer(request),
            )
        raise RequestFailed(
            failure_message(request, decision, attempts, tuple(sent_to), self.localities()),
            sent_to=tuple(sent_to),
        )

    async def _send(
        self,
        candidate: Candidate,
        prompt: Prompt,
        request: TaskRequest,
        decision: RouteDecision,
        observer: Observer,
        consent: Consent | None,
    ) -> ChatResult:
        # The single gate: nothing reaches a backend without its clearance.
        clearance = clear(
            request.verdict,
            backend=candidate.backend,
            locality=candidate.locality,
            system=prompt.system,
            user=prompt.user,
            task=request.task,
            consent=consent,
        )
        task = request.document.policy.config.tasks[request.task]
        chat_request = ChatRequest(
            model=candidate.model,
            system=prompt.system,
            user=prompt.user,
            clearance=clearance,
            json_schema=prompt.json_schema,
            max_tokens=max_tokens_for(request.task, task),
        )
        received = 0
        guard = AnswerGuard(prompt, candidate.backend)

        def on_text(piece: str) -> None:
            nonlocal received
            received += len(piece)
            observer.received(received)
            guard.feed(piece)  # raises DegenerateAnswer: the backend stops reading

        def record(outcome: str, began: float, sent: bool, result: ChatResult | None) -> None:
            self._audit(
                request,
                decision,
                prompt,
                candidate,
                outcome,
                began,
                sent=sent,
                result=result,
                consented=clearance.consented,
            )

        return await self.pool.send(
            chat_request,
            on_text=on_text,
            record=record,
            estimated_tokens=estimate_tokens(prompt),
            check=lambda result: guard.finish(result.text),
        )

    def _audit(
        self,
        request: TaskRequest,
        decision: RouteDecision,
        prompt: Prompt,
        candidate: Candidate | None,
        outcome: str,
        began: float | None = None,
        *,
        sent: bool = False,
        result: ChatResult | None = None,
        consented: bool = False,
    ) -> None:
        if self.audit is None:
            return
        self.audit.record(
            AuditEntry(
                task=request.task,
                file=request.document.document.identity.label,
                privacy="private" if decision.private else "not private",
                privacy_reason=decision.verdict.summary,
                backend=candidate.backend if candidate else None,
                model=candidate.model if candidate else None,
                locality=candidate.locality if candidate else None,
                bytes_sent=len(f"{prompt.system}{prompt.user}".encode()) if sent else 0,
                outcome=safe_outcome(outcome),
                latency_ms=None if began is None else round((time.monotonic() - began) * 1000, 1),
                prompt_tokens=result.prompt_tokens if result else None,
                completion_tokens=result.completion_tokens if result else None,
                consent=consented,
            )
        )

    def _offer(self, request: TaskRequest) -> ConsentOffer | None:
        config = request.document.policy.config
        if not config.privacy.allow_consent or not request.allow_cloud:
            return None
        backend = first_cloud_backend(config, request.task, self.localities())
        if backend is None:
            return None
        return self.consents.offer(
            content_hash=request.verdict.content_hash,
            task=request.task,
            backend=backend,
            span=(request.start_line, request.end_line),
        )

    def _cache_key(
        self, request: TaskRequest, prompt: Prompt, decision: RouteDecision
    ) -> tuple[object, ...]:
        digest = hashlib.sha256(f"{prompt.system}\0{prompt.user}".encode()).hexdigest()
        return (request.task, digest, tuple(c.entry for c in decision.candidates))
