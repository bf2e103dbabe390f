"""Tasks of the user's own: a prompt template, shown as diagnostics or as a hover."""

from __future__ import annotations

import re
from collections.abc import Sequence

from localroute.config.models import PROMPT_PLACEHOLDERS, TaskOutput
from localroute.tasks.explain import EXPLAIN_SYSTEM, fence_for
from localroute.tasks.findings import Prompt
from localroute.tasks.review import (
    FINDINGS_INSTRUCTIONS,
    FINDINGS_SCHEMA,
    REVIEW_SYSTEM,
    numbered_lines,
)

_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PROMPT_PLACEHOLDERS) + r")\}")


def build_custom_prompt(
    template: str,
    *,
    output: TaskOutput,
    path_label: str,
    language: str | None,
    lines: Sequence[str],
    first_line: int,
) -> Prompt:
    """Fill ``template``; only the known placeholders are replaced, other braces stay.

    A template without ``{code}`` or ``{numbered_code}`` gets the code appended, so a
    one-line prompt like "Is this thread-safe?" works. A ``diagnostics`` task always
    shows numbered lines and asks for the findings format, so findings land on lines.
    """
    code = "\n".join(line.rstrip("\r\n") for line in lines)
    fence = fence_for(code)
    lang = language or ""
    values = {
        "code": f"{fence}{lang}\n{code}\n{fence}",
        "numbered_code": f"{fence}{lang}\n{numbered_lines(lines, first_line)}\n{fence}",
        "path": path_label,
        "language": lang,
        "first_line": str(first_line + 1),
        "last_line": str(first_line + max(len(lines), 1)),
    }
    if output == "diagnostics":
        values["code"] = values["numbered_code"]
    user = _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template)
    if "{code}" not in template and "{numbered_code}" not in template:
        user += f"\n\n{values['code']}"
    if output == "diagnostics":
        return Prompt(
            system=REVIEW_SYSTEM,
            user=f"{user}\n\n{FINDINGS_INSTRUCTIONS}",
            json_schema=FINDINGS_SCHEMA,
        )
    return Prompt(system=EXPLAIN_SYSTEM, user=user, json_schema=None)
