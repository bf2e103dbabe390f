"""Reviewing many files at once: each file (or chunk of a large file) is one pipeline
request; requests run in parallel up to `jobs`, and never more at once on a backend
than its `max_concurrency` (the pipeline's per-backend limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from localroute.bulk.chunks import Chunk, merge_findings, split_for_window
from localroute.bulk.sarif import FileResult
from localroute.pipeline import (
    DEFAULT_MAX_TOKENS,
    Pipeline,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.tasks.findings import Finding
from localroute.tasks.prompts import estimate_tokens

log = logging.getLogger(__name__)

LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".rb": "ruby",
    ".sh": "shellscript",
    ".lua": "lua",
}

ResultCallback = Callable[[FileResult], None]


def language_of(path: Path) -> str | None:
    return LANGUAGES.get(path.suffix.lower())


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def plan_chunks(pipeline: Pipeline, request: TaskRequest) -> list[Chunk]:
    """One chunk when the file fits the window of the backend that would take it first;
    otherwise chunks sized for that window, split at top-level definitions.

    Local first: a large file is cut to fit the local model rather than sent whole to a
    large-context cloud entry further down the route (and private code has no other way).
    """
    lines = request.text.splitlines()
    whole = [Chunk(0, max(len(lines) - 1, 0))]
    prompt = pipeline.prompt_for(request)
    target = pipeline.decide(request, prompt, fit=False).predicted(pipeline.health.state)
    window = pipeline.window(target) if target is not None else None
    if window is None:
        return whole
    answer = pipeline.config.tasks[request.task].max_tokens or DEFAULT_MAX_TOKENS
    prompt_tokens = estimate_tokens(prompt)
    if prompt_tokens + answer <= window:
        return whole
    # Scale the line count by the share of the prompt that fits, with a margin for the
    # prompt's own text and uneven line lengths.
    share = max(window - answer, 0) / prompt_tokens
    max_lines = max(20, int(len(lines) * share * 0.85))
    return split_for_window(lines, max_lines=max_lines, language=request.language)


def load_request(path: Path, *, task: str, root: Path, refresh: bool) -> TaskRequest | str:
    """The request for one file, or why it cannot be read (blocking: run in a thread)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    resolved = path.resolve()
    return TaskRequest(
        task=task,
        uri=resolved.as_uri(),
        path=str(resolved),
        text=text,
        workspace_roots=(str(root.resolve()),),
        language=language_of(path),
        refresh=refresh,
    )


async def review_file(
    pipeline: Pipeline, path: Path, *, task: str, root: Path, refresh: bool = False
) -> FileResult:
    label = relative(path, root)
    request = await asyncio.to_thread(load_request, path, task=task, root=root, refresh=refresh)
    if isinstance(request, str):
        return FileResult(label, task, None, None, None, (), request)
    chunks = plan_chunks(pipeline, request)
    if len(chunks) == 1:
        requests = [request]
    else:
        requests = [replace(request, start_line=c.start_line, end_line=c.end_line) for c in chunks]
    try:
        outcomes = await asyncio.gather(*(pipeline.run(r) for r in requests))
    except TaskError as exc:
        refused = isinstance(exc, RequestRefused)
        return FileResult(label, task, None, None, None, (), str(exc), refused=refused)
    findings = merge_findings(
        [(chunk, outcome.findings) for chunk, outcome in zip(chunks, outcomes, strict=True)]
    )
    return _result(label, task, outcomes, findings)


def _result(
    label: str, task: str, outcomes: Sequence[TaskOutcome], findings: Sequence[Finding]
) -> FileResult:
    backends = sorted({o.backend for o in outcomes})
    models = sorted({o.model for o in outcomes})
    localities = sorted({o.locality for o in outcomes})
    return FileResult(
        label,
        task,
        ", ".join(backends),
        ", ".join(models),
        ", ".join(localities),
        tuple(findings),
    )


async def review_files(
    pipeline: Pipeline,
    files: Sequence[Path],
    *,
    task: str,
    root: Path,
    jobs: int,
    on_result: ResultCallback | None = None,
    refresh: bool = False,
) -> list[FileResult]:
    """Review every file, at most `jobs` at once; results are reported as files finish.

    Cancelling the caller cancels every request in flight (their connections close).
    """
    slots = asyncio.Semaphore(max(1, jobs))
    results: list[FileResult] = []

    async def one(path: Path) -> None:
        async with slots:
            result = await review_file(pipeline, path, task=task, root=root, refresh=refresh)
        results.append(result)
        if on_result is not None:
            on_result(result)

    tasks = [asyncio.ensure_future(one(path)) for path in files]
    try:
        await asyncio.gather(*tasks)
    finally:
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return results
