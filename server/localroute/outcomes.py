"""What a request ends as: the answer turned into findings or markdown, or a message that
says why there is none, what was tried and what was sent — true piece by piece."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace

from localroute.audit import AuditEntry, safe_outcome
from localroute.backends.base import ChatResult
from localroute.config.models import Locality
from localroute.privacy.redact import redact
from localroute.requests import TaskOutcome, TaskRequest
from localroute.routing.router import Candidate, RouteDecision
from localroute.tasks.explain import explanation_markdown
from localroute.tasks.findings import Prompt
from localroute.tasks.review import parse_findings


def answer_outcome(
    request: TaskRequest,
    decision: RouteDecision,
    candidate: Candidate,
    result: ChatResult,
    span: tuple[int, int],
    attempts: Sequence[str],
    prompt: Prompt | None = None,
) -> TaskOutcome:
    """The outcome of an answered request (findings for diagnostics tasks, else markdown)."""
    first, last = span
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
    task = request.document.policy.config.tasks[request.task]
    if task.output_kind(request.task) == "diagnostics":
        # A model that read a credential may quote it: never show or store one.
        findings = [
            replace(
                f,
                message=redact(f.message),
                suggestion=None if f.suggestion is None else redact(f.suggestion),
            )
            for f in parse_findings(result.text, first_line=first, last_line=last, prompt=prompt)
        ]
        return replace(outcome, findings=tuple(findings))
    markdown = explanation_markdown(
        redact(result.text),
        model=candidate.model,
        backend=candidate.backend,
        locality=candidate.locality,
    )
    return replace(outcome, markdown=markdown)


def _sent(sent_to: Sequence[str], localities: Mapping[str, Locality]) -> str:
    if not sent_to:
        return "Nothing was sent."
    where = ", ".join(f"{b} ({localities.get(b, '?')})" for b in dict.fromkeys(sent_to))
    sent = f"Sent to {where} before it failed."
    if all(localities.get(b) != "cloud" for b in sent_to):
        sent += " Nothing was sent to a cloud backend."
    return sent


def _tried(attempts: Sequence[str]) -> str:
    return "; ".join(attempts) if attempts else "no backend in the route"


def failure_message(
    request: TaskRequest,
    decision: RouteDecision,
    attempts: Sequence[str],
    sent_to: Sequence[str],
    localities: Mapping[str, Locality],
) -> str:
    """No backend answered (privacy kept none out): what was tried and what was sent."""
    tried, sent = _tried(attempts), _sent(sent_to, localities)
    if not decision.private:
        return (
            f"no backend could answer the {request.task} request for {request.label}. "
            f"Tried: {tried}. {sent}"
        )
    allowed = " or ".join(sorted(request.verdict.localities))
    return (
        f"no {allowed} backend could answer the {request.task} request for "
        f"{request.label}, which is private ({decision.verdict.summary}). Tried: {tried}. {sent}"
    )


def refusal_message(
    request: TaskRequest,
    decision: RouteDecision,
    attempts: Sequence[str],
    sent_to: Sequence[str],
    localities: Mapping[str, Locality],
) -> str:
    """Private code that no allowed backend could take: why, what was tried, what was sent."""
    allowed = " or ".join(sorted(request.verdict.localities))
    return (
        f"refused: {request.label} is private ({decision.verdict.summary}) and no "
        f"{allowed} backend could take it. Tried: {_tried(attempts)}. "
        f"{_sent(sent_to, localities)}"
    )


def audit_entry(
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
) -> AuditEntry:
    """The audit line of one try (never the code, never a credential)."""
    return AuditEntry(
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
