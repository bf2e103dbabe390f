"""`localroute review FILE --consent`: after a refusal for privacy, the user on the
terminal may send this one file to the named cloud backend, once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from localroute.bulk.runner import ResultCallback, language_of, read_text, relative
from localroute.bulk.sarif import FileResult
from localroute.identity import identify_path
from localroute.pipeline import Document, Pipeline, RequestRefused, TaskError, TaskRequest


def ask(question: str) -> bool:
    """Ask on the terminal; anything but yes is no."""
    print(question, end=" ", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


async def review_with_consent(
    pipeline: Pipeline,
    path: Path,
    *,
    task: str,
    root: Path,
    on_result: ResultCallback,
    names: tuple[Path, ...] = (),
) -> list[FileResult]:
    label = relative(path, root)
    text = await asyncio.to_thread(read_text, path)
    identity = identify_path(path, names)
    classified = pipeline.classify(Document(identity, text, language_of(path)))
    request = TaskRequest(task, classified)
    try:
        outcome = await pipeline.run(request)
    except RequestRefused as refused:
        if refused.consent is None:
            return _failed(label, task, refused, on_result)
        print(f"localroute: {refused}", file=sys.stderr)
        question = (
            f"Send {label} to {refused.consent.backend} anyway (this once)? "
            f"It is private: {classified.verdict.summary}. [y/N]"
        )
        if not await asyncio.to_thread(ask, question):
            return _failed(label, task, refused, on_result)
        try:
            outcome = await pipeline.run(request.but(consent=refused.consent.token))
        except TaskError as exc:
            return _failed(label, task, exc, on_result)
    except TaskError as exc:
        return _failed(label, task, exc, on_result)
    result = FileResult(
        label,
        task,
        outcome.backend,
        outcome.model,
        outcome.locality,
        outcome.findings,
        sent_to=(outcome.backend,),
    )
    on_result(result)
    return [result]


def _failed(label: str, task: str, exc: TaskError, on_result: ResultCallback) -> list[FileResult]:
    result = FileResult(
        label,
        task,
        None,
        None,
        None,
        (),
        str(exc),
        refused=isinstance(exc, RequestRefused),
        sent_to=exc.sent_to,
    )
    on_result(result)
    return [result]
