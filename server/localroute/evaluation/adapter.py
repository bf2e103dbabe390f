"""The one place the evaluation calls the request pipeline.

Everything else in this package is independent of how a request is built and run; when the
pipeline's interface changes, :func:`review_snippet` (and :class:`AuditRecorder`) are what
changes with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from localroute.audit import AuditEntry, AuditLog
from localroute.config.models import Config
from localroute.evaluation.corpus import CORPUS_DIR, Snippet
from localroute.identity import identify_path
from localroute.pipeline import Pipeline
from localroute.policy import PolicyStore
from localroute.requests import Document, TaskOutcome, TaskRequest

TASK = "review"


class AuditRecorder(AuditLog):
    """Keeps every audit entry in memory (tokens, outcomes) and passes it on to the user's
    audit log when there is one, so what the evaluation sent is audited like any request."""

    def __init__(self, forward: AuditLog | None = None) -> None:
        super().__init__(forward.path if forward is not None else Path(os.devnull))
        self.forward = forward
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)
        if self.forward is not None:
            self.forward.record(entry)


@dataclass(frozen=True)
class Reviewed:
    """A finished review: the outcome, and the prompt text it answered."""

    outcome: TaskOutcome
    prompt_text: str


def open_pipeline(config: Config, recorder: AuditRecorder) -> Pipeline:
    """A pipeline for ``config`` whose audit entries go to ``recorder``. The corpus folder
    is the snippets' project root (installed, it sits in site-packages with no `.git`
    above it); the user's privacy rules apply to them like to any file."""
    store = PolicyStore(fixed=config, workspace_folders=[str(CORPUS_DIR)])
    return Pipeline(store, audit=recorder)


async def review_snippet(pipeline: Pipeline, snippet: Snippet) -> Reviewed:
    """Review the whole snippet through ``pipeline``'s review route, bypassing the cache.

    Raises :class:`localroute.requests.TaskError` (refused or failed) like any request.
    """
    document = Document(identify_path(snippet.path), snippet.text(), snippet.language)
    request = TaskRequest(task=TASK, document=pipeline.classify(document), refresh=True)
    prompt = pipeline.prompt_for(request)
    outcome = await pipeline.run(request)
    return Reviewed(outcome, f"{prompt.system}\n{prompt.user}")
