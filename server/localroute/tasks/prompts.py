"""Which prompt a task sends: review, explain, or a custom template."""

from __future__ import annotations

from collections.abc import Sequence

from localroute.config.models import TaskConfig
from localroute.tasks.custom import build_custom_prompt
from localroute.tasks.explain import build_explain_prompt
from localroute.tasks.findings import Prompt
from localroute.tasks.review import build_review_prompt


def build_prompt(
    name: str,
    task: TaskConfig,
    *,
    path_label: str,
    language: str | None,
    lines: Sequence[str],
    first_line: int,
    whole_file: bool,
) -> Prompt:
    """The prompt task ``name`` sends for ``lines`` (see the task modules for each kind)."""
    if task.prompt:
        return build_custom_prompt(
            task.prompt,
            output=task.output_kind(name),
            path_label=path_label,
            language=language,
            lines=lines,
            first_line=first_line,
        )
    if name == "review":
        return build_review_prompt(
            path_label=path_label, language=language, lines=lines, first_line=first_line
        )
    return build_explain_prompt(
        path_label=path_label,
        language=language,
        lines=lines,
        first_line=first_line,
        whole_file=whole_file,
    )


DEFAULT_MAX_TOKENS = 1024
"""The answer budget of a findings task whose configuration sets none."""

DEFAULT_HOVER_MAX_TOKENS = 512
"""The answer budget of an explanation (a hover task) whose configuration sets none: enough
for a few paragraphs and a short example, and a cap on what a model that rambles costs."""


def max_tokens_for(name: str, task: TaskConfig) -> int:
    """The most tokens task ``name`` lets a model answer with."""
    if task.max_tokens:
        return task.max_tokens
    if task.output_kind(name) == "diagnostics":
        return DEFAULT_MAX_TOKENS
    return DEFAULT_HOVER_MAX_TOKENS


def estimate_tokens(prompt: Prompt) -> int:
    """A conservative token count: code runs about 3–4 characters per token."""
    return (len(prompt.system) + len(prompt.user)) // 3 + 16
