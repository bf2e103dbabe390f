"""Asking a request's route in order: each candidate through the privacy gate, the
fallback loop, parts for a prompt too large, the result cache, consent and the audit.

:class:`Asker` works on the state of a :class:`localroute.pipeline.Pipeline`
(configuration, health, backends, caches); :meth:`Pipeline.run` is its entry point.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from localroute.backends.base import BackendError, ChatRequest, ChatResult, ContextOverflow
from localroute.outcomes import answer_outcome, audit_entry, failure_message, refusal_message
from localroute.privacy.consent import Consent, ConsentError, ConsentOffer
from localroute.privacy.gate import clear
from localroute.requests import (
    NoObserver,
    Observer,
    RequestFailed,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.routing.router import Candidate, RouteDecision, first_cloud_backend, privacy_blocked
from localroute.splitting import ask_in_parts
from localroute.tasks.findings import Prompt
from localroute.tasks.guard import AnswerGuard
from localroute.tasks.prompts import estimate_tokens, max_tokens_for

if TYPE_CHECKING:
    from localroute.pipeline import Pipeline

PROBE_SETUP_S = 0.25
"""A probe's set-up before it connects (the backend's first import, its client), on a busy
machine. A request joins a probe in flight for twice the connect timeout plus this: a
connect timeout that fires late is tried once more (backends/connect_retry.py)."""


class Asker:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def _consent(self, request: TaskRequest) -> Consent | None:
        if request.consent is None:
            return None
        if not request.document.policy.config.privacy.allow_consent:
            raise TaskError("consent is turned off (privacy.allow_consent = false)")
        try:
            return self.pipeline.consents.redeem(
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
        self.pipeline.sync()
        observer = observer or NoObserver()
        consent = self._consent(request)
        first, last = request.line_span()
        prompt = self.pipeline.prompt_for(request)
        decision = self.pipeline.decide(
            request, prompt, consent_backend=consent.backend if consent else None
        )
        key = self._cache_key(request, prompt, decision)
        if self.pipeline._cache is not None and not request.refresh and consent is None:
            hit = self.pipeline._cache.get(key)
            if hit is not None:
                return replace(hit, cached=True, sent_to=())
        disk = self.pipeline.results
        if disk is not None and not request.refresh and consent is None:
            stored = await disk.lookup(request, prompt, decision)
            if stored is not None:
                if self.pipeline._cache is not None:
                    self.pipeline._cache[key] = stored
                return stored

        attempts: list[str] = [f"{s.entry}: {s.reason}" for s in decision.skipped]
        sent_to: list[str] = []
        for candidate in decision.candidates:
            if self.pipeline.health.state(
                candidate.backend
            ) == "unknown" and self.pipeline.health.probing(candidate.backend):
                # Join the probe already in flight (started at `initialized`): a dead host
                # then costs this request at most one connect timeout, shared. A probe not
                # done by then has reached a live host that answers slowly: go ahead.
                timeout = self.pipeline.config.backends[candidate.backend].connect_timeout_s
                await self.pipeline.health.settle(candidate.backend, 2 * timeout + PROBE_SETUP_S)
            if self.pipeline.health.state(candidate.backend) == "down" and consent is None:
                detail = self.pipeline.health.health(candidate.backend).detail
                attempts.append(f"{candidate.entry}: down ({detail})")
                continue
            spent = self.pipeline.budget_spent(candidate.backend)
            if spent is not None:
                attempts.append(f"{candidate.entry}: {spent}")
                continue
            observer.attempting(candidate)
            try:
                result = await self._send(candidate, prompt, request, decision, observer, consent)
            except ContextOverflow as exc:
                sent_to.append(candidate.backend)
                # Too large for this model: ask it again in parts rather than sending the
                # code down the route (a cloud, or for private code no way at all).
                parted = await self._in_parts(
                    candidate, request, exc, prompt, decision, observer, consent
                )
                if isinstance(parted, TaskOutcome):
                    outcome = replace(
                        parted,
                        consented=consent is not None,
                        sent_to=tuple(dict.fromkeys([*sent_to, *parted.sent_to])),
                    )
                    if self.pipeline._cache is not None and consent is None:
                        self.pipeline._cache[key] = outcome
                    if disk is not None and consent is None:
                        await disk.remember(request, prompt, candidate, outcome)
                    return outcome
                attempts.append(f"{candidate.entry}: {exc.message}{parted}")
                continue
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
            if self.pipeline._cache is not None and consent is None:
                self.pipeline._cache[key] = outcome
            if disk is not None and consent is None:
                await disk.remember(request, prompt, candidate, outcome)
            return outcome
        refused = decision.private and privacy_blocked(decision)
        self._audit(request, decision, prompt, None, "refused" if refused else "failed")
        if refused:
            raise RequestRefused(
                refusal_message(
                    request, decision, attempts, tuple(sent_to), self.pipeline.localities()
                ),
                sent_to=tuple(sent_to),
                consent=self._offer(request),
            )
        raise RequestFailed(
            failure_message(
                request, decision, attempts, tuple(sent_to), self.pipeline.localities()
            ),
            sent_to=tuple(sent_to),
        )

    async def _in_parts(
        self,
        candidate: Candidate,
        request: TaskRequest,
        overflow: ContextOverflow,
        prompt: Prompt,
        decision: RouteDecision,
        observer: Observer,
        consent: Consent | None,
    ) -> TaskOutcome | str:
        """The request asked of ``candidate`` in parts that fit its window, merged; or why
        not (appended to the attempt's message)."""

        async def ask(part: TaskRequest, part_prompt: Prompt) -> ChatResult:
            return await self._send(candidate, part_prompt, part, decision, observer, consent)

        task = request.document.policy.config.tasks[request.task]
        return await ask_in_parts(
            request,
            overflow,
            window=self.pipeline.window(candidate),
            prompt=prompt,
            answer_tokens=max_tokens_for(request.task, task),
            prompt_for=self.pipeline.prompt_for,
            ask=ask,
            finish=lambda part, result, part_prompt: answer_outcome(
                part, decision, candidate, result, part.line_span(), (), part_prompt
            ),
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

        def restart() -> None:  # another endpoint of the backend answers afresh
            nonlocal received, guard
            received, guard = 0, AnswerGuard(prompt, candidate.backend)

        def on_status(state: str) -> None:  # the server is loading the model
            observer.status(state)

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

        return await self.pipeline.pool.send(
            chat_request,
            on_text=on_text,
            record=record,
            estimated_tokens=estimate_tokens(prompt),
            check=lambda result: guard.finish(result.text),
            on_status=on_status,
            restart=restart,
        )

    def _audit(self, *args: Any, **fields: Any) -> None:
        """Record one try (the arguments of :func:`localroute.outcomes.audit_entry`)."""
        if self.pipeline.audit is not None:
            self.pipeline.audit.record(audit_entry(*args, **fields))

    def _offer(self, request: TaskRequest) -> ConsentOffer | None:
        config = request.document.policy.config
        if not config.privacy.allow_consent or not request.allow_cloud:
            return None
        backend = first_cloud_backend(config, request.task, self.pipeline.localities())
        if backend is None:
            return None
        return self.pipeline.consents.offer(
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
