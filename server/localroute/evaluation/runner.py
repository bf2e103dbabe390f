"""Running the evaluation: one pipeline per route entry, the snippets one after another.

Snippets run one at a time so that latencies are those of one request, not of a queue.
Each entry gets the user's configuration with the review route replaced by that entry
alone, and the result cache off; privacy rules, cost guards and the audit log stay as
configured.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from localroute.audit import AuditEntry, AuditLog
from localroute.backends.base import NO_USABLE_ANSWER
from localroute.config.locality import effective_locality
from localroute.config.models import CacheConfig, Config, TaskConfig
from localroute.evaluation.adapter import TASK, AuditRecorder, open_pipeline, review_snippet
from localroute.evaluation.corpus import Snippet
from localroute.evaluation.scoring import ModelScore, ShownFinding, SnippetResult, Status, score
from localroute.requests import RequestRefused, TaskError
from localroute.tasks.copied import PromptText, is_placeholder
from localroute.tasks.findings import Finding

Progress = Callable[[str, Snippet, SnippetResult], None]

_LINE_PREFIX_RE = re.compile(r"\ALine \d+: ")


class EvalError(Exception):
    """A problem with what the user asked for; the message says which and why."""


def check_entries(config: Config, entries: Sequence[str]) -> list[str]:
    """The entries, each ``backend:model`` with a configured backend; else :class:`EvalError`."""
    if not entries:
        raise EvalError("name at least one route entry, e.g. `localroute eval local:coder`")
    checked: list[str] = []
    for entry in entries:
        backend, sep, model = entry.partition(":")
        if not sep or not backend or not model:
            raise EvalError(f"route entry {entry!r} is not 'backend:model'")
        if backend not in config.backends:
            known = ", ".join(sorted(config.backends)) or "none"
            raise EvalError(f"no backend named {backend!r} is configured (configured: {known})")
        if entry not in checked:
            checked.append(entry)
    return checked


def cloud_backends(config: Config, entries: Sequence[str]) -> list[str]:
    """The cloud backends among ``entries``' backends, in order."""
    names = dict.fromkeys(entry.partition(":")[0] for entry in entries)
    return [n for n in names if effective_locality(config.backends[n]) == "cloud"]


def eval_config(config: Config, entry: str) -> Config:
    """``config`` with the review route set to ``entry`` alone and the cache off."""
    review = config.tasks.get(TASK) or TaskConfig()
    task = review.model_copy(update={"route": [entry], "route_private": None})
    return config.model_copy(update={"tasks": {TASK: task}, "cache": CacheConfig(max_entries=0)})


async def evaluate(
    config: Config,
    entries: Sequence[str],
    snippets: Sequence[Snippet],
    *,
    audit: AuditLog | None = None,
    progress: Progress | None = None,
) -> list[ModelScore]:
    """Review every snippet through every entry; one score per entry, in order."""
    scores = []
    for entry in check_entries(config, entries):
        scores.append(await evaluate_entry(config, entry, snippets, audit=audit, progress=progress))
    return scores


async def evaluate_entry(
    config: Config,
    entry: str,
    snippets: Sequence[Snippet],
    *,
    audit: AuditLog | None = None,
    progress: Progress | None = None,
) -> ModelScore:
    """Review every snippet through ``entry`` alone."""
    recorder = AuditRecorder(audit)
    pipeline = open_pipeline(eval_config(config, entry), recorder)
    results: list[SnippetResult] = []
    try:
        for snippet in snippets:
            first = len(recorder.entries)
            began = time.perf_counter()
            try:
                reviewed = await review_snippet(pipeline, snippet)
            except TaskError as exc:
                seconds = time.perf_counter() - began
                result = _failure(snippet, exc, recorder.entries[first:], seconds)
            else:
                seconds = time.perf_counter() - began
                findings = tuple(
                    _shown(f, PromptText(reviewed.prompt_text)) for f in reviewed.outcome.findings
                )
                prompt_tokens, completion_tokens = _tokens(recorder.entries[first:])
                result = SnippetResult(
                    snippet=snippet.id,
                    bug_line=snippet.bug_line,
                    status="invalid" if any(f.unstructured for f in findings) else "answered",
                    findings=findings,
                    latency_s=seconds,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            results.append(result)
            if progress is not None:
                progress(entry, snippet, result)
    finally:
        await pipeline.aclose()
    return score(entry, results)


def _shown(finding: Finding, prompt: PromptText) -> ShownFinding:
    message = _LINE_PREFIX_RE.sub("", finding.message)
    suggestion = finding.suggestion
    copied = (
        is_placeholder(message)
        or prompt.echoes(message)
        or (suggestion is not None and is_placeholder(suggestion))
    )
    return ShownFinding(
        line=finding.line + 1,
        end_line=finding.end_line + 1,
        severity=finding.severity,
        message=finding.message,
        suggestion=suggestion,
        unstructured=getattr(finding, "unstructured", False),
        copied=copied,
    )


def _tokens(entries: Sequence[AuditEntry]) -> tuple[int | None, int | None]:
    answered = [e for e in entries if e.outcome == "ok"]
    if not answered:
        return None, None
    return answered[-1].prompt_tokens, answered[-1].completion_tokens


def _failure(
    snippet: Snippet, exc: TaskError, entries: Sequence[AuditEntry], seconds: float
) -> SnippetResult:
    status: Status
    if isinstance(exc, RequestRefused):
        status = "refused"
    elif any(NO_USABLE_ANSWER in e.outcome for e in entries):
        status = "invalid"
    else:
        status = "failed"
    return SnippetResult(
        snippet=snippet.id,
        bug_line=snippet.bug_line,
        status=status,
        latency_s=seconds if status == "invalid" else None,
        detail=str(exc),
    )
