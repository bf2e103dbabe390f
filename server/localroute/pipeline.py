"""The one path every request takes: classify → route → prompt → backend → parse.

Called by the language server and by the command line alike; it knows neither.
It owns the live state that follows from the configuration: the backend
instances, their health, their concurrency limits and the result cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from cachetools import LRUCache

from localroute.audit import AuditEntry, AuditLog, safe_outcome
from localroute.backends.base import (
    Backend,
    BackendError,
    BackendRequestError,
    BackendUnavailable,
    ChatRequest,
    ChatResult,
    ProbeResult,
)
from localroute.backends.registry import create_backend
from localroute.config.locality import effective_locality
from localroute.config.models import Config, Locality
from localroute.privacy import PrivacyVerdict, classify
from localroute.privacy.redact import redact
from localroute.requests import (
    NoObserver,
    Observer,
    RequestFailed,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.routing.budget import Budget
from localroute.routing.health import HealthMonitor
from localroute.routing.router import (
    Candidate,
    RouteDecision,
    decide,
    fit_window,
    private_localities,
)
from localroute.tasks.explain import explanation_markdown
from localroute.tasks.findings import Prompt
from localroute.tasks.guard import AnswerGuard
from localroute.tasks.prompts import build_prompt, estimate_tokens, max_tokens_for
from localroute.tasks.review import parse_findings

log = logging.getLogger(__name__)

__all__ = [
    "Observer",
    "Pipeline",
    "RequestFailed",
    "RequestRefused",
    "TaskError",
    "TaskOutcome",
    "TaskRequest",
]

DEFAULT_MAX_TOKENS = 1024
BUSY_RETRIES = 3
"""How often a backend that answers 429 with a short Retry-After is asked again."""
BUSY_WAIT_MAX_S = 5.0
DEADLINE_GRACE_S = 1.0


class Pipeline:
    def __init__(self, config: Config, *, audit: AuditLog | None = None) -> None:
        self.config = config
        self.audit = audit
        self.budget = Budget()
        self.health = HealthMonitor(
            self._probe, ttl_s=config.health.ttl_s, recheck_s=config.health.recheck_s
        )
        self._backends: dict[str, Backend] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._waiting: dict[str, int] = {}  # requests waiting for a slot, per backend
        self._cache: LRUCache[tuple[object, ...], TaskOutcome] | None = (
            LRUCache(maxsize=config.cache.max_entries) if config.cache.max_entries else None
        )

    # -- configuration --------------------------------------------------------------

    def localities(self) -> dict[str, Locality]:
        return {name: effective_locality(b) for name, b in self.config.backends.items()}

    async def reconfigure(self, config: Config) -> None:
        """Switch to a new configuration; backends whose settings changed start afresh."""
        old, self.config = self.config, config
        changed = {
            name
            for name in old.backends.keys() | config.backends.keys()
            if old.backends.get(name) != config.backends.get(name)
        }
        for name in changed:
            self.health.forget(name)
            self._limits.pop(name, None)
            backend = self._backends.pop(name, None)
            if backend is not None:
                await backend.aclose()
        if self._cache is not None and (changed or old.tasks != config.tasks):
            self._cache.clear()

    def backend(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is None:
            config = self.config.backends[name]
            backend = create_backend(name, config, effective_locality(config))
            self._backends[name] = backend
            self._limits[name] = asyncio.Semaphore(config.max_concurrency)
        return backend

    async def _probe(self, name: str) -> ProbeResult:
        if name not in self.config.backends:
            return ProbeResult(up=False, detail="not configured")
        return await self.backend(name).probe()

    async def aclose(self) -> None:
        await self.health.aclose()
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            await backend.aclose()

    # -- the decision -----------------------------------------------------------------

    def classify(self, request: TaskRequest) -> PrivacyVerdict:
        start, _ = request.line_span()
        return classify(
            path=request.path,
            workspace_roots=request.workspace_roots,
            text="\n".join(request.selected_lines()),
            globs=self.config.all_privacy_globs(),
            detect_secrets=self.config.privacy.detect_secrets,
            first_line=start + 1,
        )

    def decide(
        self,
        request: TaskRequest,
        prompt: Prompt | None = None,
        *,
        fit: bool = True,
        verdict: PrivacyVerdict | None = None,
    ) -> RouteDecision:
        """The privacy-filtered candidates, less (with `fit`) those whose context window is
        too small for the prompt and the answer.

        Without a `prompt` its size is estimated from the text (cheap, for predictions);
        a `verdict` already computed for the same document and range may be passed in.
        """
        verdict = verdict or self.classify(request)
        decision = decide(self.config, request.task, verdict, self.localities())
        task = self.config.tasks.get(request.task)
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
        return self.budget.exhausted(name, self.config.backends[name])

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
        return build_prompt(
            request.task,
            self.config.tasks[request.task],
            path_label=request.label,
            language=request.language,
            lines=request.selected_lines(),
            first_line=start,
            whole_file=request.start_line is None,
        )

    async def run(self, request: TaskRequest, observer: Observer | None = None) -> TaskOutcome:
        if request.task not in self.config.tasks:
            known = ", ".join(self.config.tasks)
            raise TaskError(f"unknown task '{request.task}' (configured: {known})")
        observer = observer or NoObserver()
        first, last = request.line_span()
        prompt = self.prompt_for(request)
        decision = self.decide(request, prompt)
        key = self._cache_key(request, prompt, decision)
        if self._cache is not None and not request.refresh and key in self._cache:
            hit = self._cache[key]
            return replace(hit, cached=True)

        attempts: list[str] = [f"{s.entry}: {s.reason}" for s in decision.skipped]
        sent = False
        for candidate in decision.candidates:
            if self.health.state(candidate.backend) == "down":
                detail = self.health.health(candidate.backend).detail
                attempts.append(f"{candidate.entry}: down ({detail})")
                continue
            spent = self.budget_spent(candidate.backend)
            if spent is not None:
                attempts.append(f"{candidate.entry}: {spent}")
                continue
            observer.attempting(candidate)
            try:
                result = await self._attempt(candidate, prompt, request, decision, observer)
            except BackendError as exc:
                sent = sent or not exc.nothing_sent
                attempts.append(f"{candidate.entry}: {exc.message}")
                continue
            sent = True
            outcome = self._outcome(
                request, decision, candidate, result, first, last, attempts, prompt
            )
            if self._cache is not None:
                self._cache[key] = outcome
            return outcome
        self._audit(request, decision, prompt, None, "refused" if decision.private else "failed")
        raise self._no_answer(request, decision, attempts, sent=sent)

    async def _attempt(
        self,
        candidate: Candidate,
        prompt: Prompt,
        request: TaskRequest,
        decision: RouteDecision,
        observer: Observer,
    ) -> ChatResult:
        """One candidate: a busy answer (429 with a short Retry-After, llama-swap's
        concurrencyLimit) is waited out rather than sent elsewhere; any other failure
        is audited and raised, marking the backend down when it is unavailable."""
        budget_s = self.config.backends[candidate.backend].timeout_s
        # The backend enforces its own budget and closes its connection when it expires;
        # this outer deadline only bounds waiting out busy answers, so it comes a little
        # later: two deadlines firing together could interrupt that close.
        deadline = time.monotonic() + budget_s + DEADLINE_GRACE_S
        delivered = False  # an earlier try (answered "busy") did receive the prompt
        for busy_retry in range(BUSY_RETRIES + 1):
            began = time.monotonic()
            try:
                # Waiting out a busy backend happens within its budget, not on top of it.
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    result = await self._chat(candidate, prompt, request, observer)
            except TimeoutError:
                exc = BackendUnavailable(
                    candidate.backend, f"no answer within {budget_s:g} s (busy)"
                )
                self._audit(
                    request,
                    decision,
                    prompt,
                    candidate,
                    f"unavailable: {exc.message}",
                    began,
                    sent=True,
                )
                self.health.mark_down(candidate.backend, exc.message)
                raise exc from None
            except BackendError as exc:
                unavailable = isinstance(exc, BackendUnavailable)
                kind = "unavailable" if unavailable else "rejected"
                outcome = f"{kind}: {exc.message}"
                self._audit(
                    request, decision, prompt, candidate, outcome, began, sent=not exc.nothing_sent
                )
                wait = exc.retry_after_s if isinstance(exc, BackendUnavailable) else None
                busy = exc.status == 429 and wait is not None and wait <= BUSY_WAIT_MAX_S
                fits = wait is not None and time.monotonic() + wait < deadline - DEADLINE_GRACE_S
                if busy and fits and wait is not None and busy_retry < BUSY_RETRIES:
                    delivered = delivered or not exc.nothing_sent
                    await asyncio.sleep(wait)
                    continue
                if isinstance(exc, BackendUnavailable):
                    self.health.mark_down(candidate.backend, exc.message, retry_after_s=wait)
                exc.nothing_sent = exc.nothing_sent and not delivered
                raise
            except asyncio.CancelledError:
                self._audit(request, decision, prompt, candidate, "cancelled", began, sent=True)
                raise
            self._audit(request, decision, prompt, candidate, "ok", began, sent=True, result=result)
            tokens = (result.prompt_tokens or 0) + (result.completion_tokens or 0)
            self.budget.record(candidate.backend, tokens or estimate_tokens(prompt))
            return result
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _chat(
        self, candidate: Candidate, prompt: Prompt, request: TaskRequest, observer: Observer
    ) -> ChatResult:
        backend = self.backend(candidate.backend)
        chat_request = ChatRequest(
            model=candidate.model,
            system=prompt.system,
            user=prompt.user,
            json_schema=prompt.json_schema,
            max_tokens=max_tokens_for(request.task, self.config.tasks[request.task]),
        )
        received = 0
        guard = AnswerGuard(prompt, candidate.backend)

        def on_text(piece: str) -> None:
            nonlocal received
            received += len(piece)
            observer.received(received)
            guard.feed(piece)  # raises DegenerateAnswer: the backend stops reading

        limit = self._limits[candidate.backend]
        config = self.config.backends[candidate.backend]
        waiting = self._waiting.get(candidate.backend, 0)
        if limit.locked() and waiting >= config.max_queue:
            raise BackendRequestError(
                candidate.backend,
                f"queue full: {waiting} requests already wait for its "
                f"{config.max_concurrency} slots",
                nothing_sent=True,
            )
        self._waiting[candidate.backend] = waiting + 1
        try:
            await limit.acquire()
        finally:
            self._waiting[candidate.backend] -= 1
        try:
            started = time.monotonic()
            result = await backend.chat(chat_request, on_text)
            guard.finish(result.text)
        finally:
            limit.release()
        self.health.mark_up(candidate.backend, latency_ms=(time.monotonic() - started) * 1000)
        return result

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
    ) -> None:
        if self.audit is None:
            return
        self.audit.record(
            AuditEntry(
                task=request.task,
                file=request.label,
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
            )
        )

    def _outcome(
        self,
        request: TaskRequest,
        decision: RouteDecision,
        candidate: Candidate,
        result: ChatResult,
        first: int,
        last: int,
        attempts: Sequence[str],
        prompt: Prompt,
    ) -> TaskOutcome:
        reason = decision.why()
        if attempts:
            reason += "; fell back after " + "; ".join(attempts)
        outcome = TaskOutcome(
            task=request.task,
            backend=candidate.backend,
            model=candidate.model,
            locality=candidate.locality,
            reason=reason,
            cached=False,
            first_line=first,
            last_line=last,
            attempts=tuple(attempts),
        )
        if self.config.tasks[request.task].output_kind(request.task) == "diagnostics":
            # A model that read a credential may quote it: never show or store one.
            findings = [
                replace(
                    f,
                    message=redact(f.message),
                    suggestion=None if f.suggestion is None else redact(f.suggestion),
                )
                for f in parse_findings(
                    result.text, first_line=first, last_line=last, prompt=prompt
                )
            ]
            return replace(outcome, findings=tuple(findings))
        markdown = explanation_markdown(
            redact(result.text),
            model=candidate.model,
            backend=candidate.backend,
            locality=candidate.locality,
        )
        return replace(outcome, markdown=markdown)

    def _no_answer(
        self,
        request: TaskRequest,
        decision: RouteDecision,
        attempts: Sequence[str],
        *,
        sent: bool,
    ) -> TaskError:
        tried = "; ".join(attempts) if attempts else "no backend in the route"
        if decision.private:
            allowed = " or ".join(sorted(private_localities(self.config)))
            nothing = "Nothing was sent to a cloud backend." if sent else "Nothing was sent."
            return RequestRefused(
                f"refused: {request.label} is private ({decision.verdict.summary}) and no "
                f"{allowed} backend could take it. Tried: {tried}. {nothing}"
            )
        return RequestFailed(f"no backend could answer the {request.task} request. Tried: {tried}.")

    def _cache_key(
        self, request: TaskRequest, prompt: Prompt, decision: RouteDecision
    ) -> tuple[object, ...]:
        digest = hashlib.sha256(f"{prompt.system}\0{prompt.user}".encode()).hexdigest()
        return (request.task, digest, tuple(c.entry for c in decision.candidates))


def _loop_deadline(monotonic_deadline: float) -> float:
    """A `time.monotonic()` deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
