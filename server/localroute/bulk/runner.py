"""Reviewing many files at once: each file (or chunk of a large file) is one pipeline
request; requests run in parallel up to `jobs`, and never more at once on a backend
than its `max_concurrency` (the pipeline's per-backend limit).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from localroute.bulk.hunks import LineRange
from localroute.bulk.sarif import FileResult
from localroute.config.small_file import as_text_mode, read_small_text
from localroute.identity import identify_path
from localroute.pipeline import (
    DEFAULT_MAX_TOKENS,
    Document,
    Pipeline,
    RequestRefused,
    TaskError,
    TaskOutcome,
    TaskRequest,
)
from localroute.tasks.chunks import Chunk, merge_findings, split_for_window
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
    The document was classified whole before this: every chunk carries its verdict.
    """
    lines = request.selected_lines()
    whole = [Chunk(0, max(len(lines) - 1, 0))]
    prompt = pipeline.prompt_for(request)
    target = pipeline.decide(request, prompt, fit=False).predicted(pipeline.health.state)
    window = pipeline.window(target) if target is not None else None
    if window is None:
        return whole
    config = request.document.policy.config
    answer = config.tasks[request.task].max_tokens or DEFAULT_MAX_TOKENS
    prompt_tokens = estimate_tokens(prompt)
    if prompt_tokens + answer <= window:
        return whole
    # Scale the line count by the share of the prompt that fits, with a margin for the
    # prompt's own text and uneven line lengths.
    share = max(window - answer, 0) / prompt_tokens
    max_lines = max(20, int(len(lines) * share * 0.85))
    return split_for_window(lines, max_lines=max_lines, language=request.language)


def read_text(path: Path) -> str:
    """A file's text, line ends as text mode has them (blocking: run in a thread);
    OSError says why not. The file was chosen as a regular one of bounded size; one that
    is no longer regular (a pipe put in its place) is refused, not waited for."""
    return as_text_mode(read_small_text(path, limit=sys.maxsize, errors="replace"))


def plan_requests(
    pipeline: Pipeline, request: TaskRequest, ranges: Sequence[LineRange] | None = None
) -> list[TaskRequest]:
    """The requests that review ``request``'s document: the whole file, or each of
    ``ranges`` (changed hunks), each cut into window-sized chunks when too large.

    The document was classified whole before this; every range and chunk is a request over
    that one classified document and carries its verdict.
    """
    spans = (
        [request]
        if ranges is None
        else [request.but(start_line=r.start, end_line=r.end) for r in ranges]
    )
    planned: list[TaskRequest] = []
    seen: set[tuple[int, int]] = set()
    for span in spans:
        first, _ = span.line_span()
        chunks = plan_chunks(pipeline, span)
        if len(chunks) <= 1:
            parts = [span]
        else:
            parts = [
                span.but(start_line=first + c.start_line, end_line=first + c.end_line)
                for c in chunks
            ]
        for part in parts:
            # Ranges past the end of the file clamp to the same lines: review those once.
            if (where := part.line_span()) not in seen:
                seen.add(where)
                planned.append(part)
    return planned


async def review_file(
    pipeline: Pipeline,
    path: Path,
    *,
    task: str,
    root: Path,
    refresh: bool = False,
    allow_cloud: bool = True,
    ranges: Sequence[LineRange] | None = None,
    names: tuple[Path, ...] = (),
) -> FileResult:
    """Review one file: classified whole first, then reviewed whole, or by ``ranges`` (the
    changed hunks), in chunks where a part is too large for the model's window.

    The result says what happened to every part: findings of the parts that were
    answered, and why the others were refused or not reviewed.
    """
    label = relative(path, root)
    try:
        text = await asyncio.to_thread(read_text, path)
    except OSError as exc:
        return FileResult(label, task, None, None, None, (), f"cannot read: {exc.strerror}")
    document = Document(identify_path(path, names), text, language_of(path))
    classified = pipeline.classify(document)
    request = TaskRequest(task, classified, refresh=refresh, allow_cloud=allow_cloud)
    requests = plan_requests(pipeline, request, ranges)
    answers = await asyncio.gather(*(pipeline.run(r) for r in requests), return_exceptions=True)
    outcomes: list[tuple[TaskRequest, TaskOutcome]] = []
    errors: list[TaskError] = []
    for part, answer in zip(requests, answers, strict=True):
        if isinstance(answer, TaskOutcome):
            outcomes.append((part, answer))
        elif isinstance(answer, TaskError):
            errors.append(answer)
        else:
            raise answer  # a bug or a cancellation, never a reason to report "reviewed"
    findings = merge_findings([(_chunk(part), outcome.findings) for part, outcome in outcomes])
    result = _result(label, task, [o for _, o in outcomes], findings, errors, len(requests))
    cloud_tokens = sum(
        estimate_tokens(pipeline.prompt_for(part))
        for part, outcome in outcomes
        if outcome.locality == "cloud" and not outcome.cached
    )
    return replace(
        result,
        cached_parts=sum(1 for _, outcome in outcomes if outcome.cached),
        cloud_tokens=cloud_tokens,
        lines=() if ranges is None else tuple(_one_based(p.line_span()) for p in requests),
    )


def _chunk(request: TaskRequest) -> Chunk:
    return Chunk(*request.line_span())


def _one_based(span: tuple[int, int]) -> tuple[int, int]:
    return span[0] + 1, span[1] + 1


def _result(
    label: str,
    task: str,
    outcomes: Sequence[TaskOutcome],
    findings: Sequence[Finding],
    errors: Sequence[TaskError],
    parts: int,
) -> FileResult:
    backends = sorted({o.backend for o in outcomes})
    models = sorted({o.model for o in outcomes})
    localities = sorted({o.locality for o in outcomes})
    sent = {b for o in outcomes for b in o.sent_to} | {b for e in errors for b in e.sent_to}
    error: str | None = None
    if errors:
        error = str(next((e for e in errors if e.sent_to), errors[0]))
        if parts > 1:
            # One part's "Nothing was sent." is not true of the file when others went out.
            if sent:
                error = error.removesuffix(" Nothing was sent.")
                error += f" Parts of the file were sent to {', '.join(sorted(sent))}."
            error = f"{len(errors)} of {parts} parts: {error}"
    return FileResult(
        label,
        task,
        ", ".join(backends) or None,
        ", ".join(models) or None,
        ", ".join(localities) or None,
        tuple(findings),
        error,
        refused=any(isinstance(e, RequestRefused) for e in errors),
        parts=parts,
        failed_parts=len(errors),
        sent_to=tuple(sorted(sent)),
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
    allow_cloud: bool = False,
    ranges: Mapping[Path, Sequence[LineRange] | None] | None = None,
    names: Mapping[Path, tuple[Path, ...]] | None = None,
) -> list[FileResult]:
    """Review every file, at most `jobs` at once; results are reported as files finish.

    Bulk work stays on local and private-network backends unless ``allow_cloud``.
    ``ranges`` maps a file to the line ranges to review (its changed hunks); a file not in
    it, or mapped to None, is reviewed whole. Cancelling the caller cancels every request
    in flight (their connections close).
    """
    results: list[FileResult] = []
    # A fixed set of workers over one iterator, not a task per file: memory stays flat
    # however many files there are.
    pending = iter(files)

    async def worker() -> None:
        for path in pending:
            result = await review_file(
                pipeline,
                path,
                task=task,
                root=root,
                refresh=refresh,
                allow_cloud=allow_cloud,
                ranges=None if ranges is None else ranges.get(path),
                names=(names or {}).get(path, ()),
            )
            results.append(result)
            if on_result is not None:
                on_result(result)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(max(1, jobs), len(files)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for running in workers:
            running.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return results
