"""A prompt too large for a model's window, asked again in parts on the same model.

When a backend says the prompt does not fit (:class:`ContextOverflow`), the request is
not sent further down the route — which may be a cloud, and for private code is no
way at all — but cut at top-level definitions into parts sized for that window, each
part asked of the same backend, and the answers merged: findings on file lines, or the
explanations one after the other. Every part is a range of the same classified
document, so it carries the document's verdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from localroute.backends.base import BackendError, ChatResult, ContextOverflow
from localroute.requests import TaskOutcome, TaskRequest
from localroute.tasks.chunks import Chunk, merge_findings, split_for_window
from localroute.tasks.findings import Prompt
from localroute.tasks.prompts import estimate_tokens

MIN_PART_LINES = 20
"""Below this a selection is not split: a part would lose too much context."""
MAX_PARTS = 32
FALLBACK_SHARE = 0.5
"""Without the window's size, the first split halves the text."""


def split_request(
    request: TaskRequest,
    overflow: ContextOverflow,
    *,
    window: int | None,
    prompt_tokens: int,
    answer_tokens: int,
) -> list[TaskRequest] | None:
    """The parts to ask instead, or None when the request cannot usefully be split."""
    first, _ = request.line_span()
    lines = request.selected_lines()
    if len(lines) < 2 * MIN_PART_LINES:
        return None
    size = overflow.window or window
    needed = overflow.prompt_tokens or prompt_tokens
    if size is not None and size > answer_tokens and needed > 0:
        share = (size - answer_tokens) / needed
    else:
        share = FALLBACK_SHARE
    # A margin for the prompt's own text and uneven line lengths.
    max_lines = max(MIN_PART_LINES, int(len(lines) * min(share, FALLBACK_SHARE) * 0.85))
    chunks = split_for_window(lines, max_lines=max_lines, language=request.language)
    if len(chunks) < 2 or len(chunks) > MAX_PARTS:
        return None
    return [
        request.but(start_line=first + c.start_line, end_line=first + c.end_line) for c in chunks
    ]


def merge_outcomes(
    request: TaskRequest, parts: Sequence[TaskRequest], outcomes: Sequence[TaskOutcome]
) -> TaskOutcome:
    """One outcome for the whole request from the outcomes of its parts."""
    head = outcomes[0]
    first, last = request.line_span()
    chunks = [Chunk(p.line_span()[0], p.line_span()[1]) for p in parts]
    findings = merge_findings(
        [(chunk, outcome.findings) for chunk, outcome in zip(chunks, outcomes, strict=True)]
    )
    markdown: str | None = None
    if head.markdown is not None:
        sections = []
        for part, outcome in zip(parts, outcomes, strict=True):
            start, end = part.line_span()
            sections.append(f"**Lines {start + 1}–{end + 1}**\n\n{outcome.markdown or ''}")
        markdown = "\n\n".join(sections)
    where = f"{head.model} @ {head.backend}"
    reason = (
        f"{head.reason}; the prompt did not fit {where}'s context window, so it was asked "
        f"in {len(parts)} parts"
    )
    sent = tuple(dict.fromkeys(b for o in outcomes for b in o.sent_to))
    return replace(
        head,
        reason=reason,
        first_line=first,
        last_line=last,
        findings=tuple(findings),
        markdown=markdown,
        sent_to=sent,
    )


async def ask_in_parts(
    request: TaskRequest,
    overflow: ContextOverflow,
    *,
    window: int | None,
    prompt: Prompt,
    answer_tokens: int,
    prompt_for: Callable[[TaskRequest], Prompt],
    ask: Callable[[TaskRequest, Prompt], Awaitable[ChatResult]],
    finish: Callable[[TaskRequest, ChatResult, Prompt], TaskOutcome],
) -> TaskOutcome | str:
    """Ask ``request`` again in parts (through ``ask``, one after the other, on the same
    backend) and merge them; or say why not, as text to add to the attempt's message."""
    parts = split_request(
        request,
        overflow,
        window=window,
        prompt_tokens=estimate_tokens(prompt),
        answer_tokens=answer_tokens,
    )
    if parts is None:
        return " (too short to split)"
    outcomes: list[TaskOutcome] = []
    for part in parts:
        part_prompt = prompt_for(part)
        try:
            result = await ask(part, part_prompt)
        except BackendError as exc:
            return f"; asked in {len(parts)} parts, one failed: {exc.message}"
        outcome = finish(part, result, part_prompt)
        outcomes.append(replace(outcome, sent_to=(outcome.backend,)))
    return merge_outcomes(request, parts, outcomes)
