"""The evaluation's output: a text table for people, JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from localroute.evaluation.corpus import Snippet
from localroute.evaluation.scoring import LINE_TOLERANCE, ModelScore

_COLUMNS = (
    ("model", "<"),
    ("bugs found", ">"),
    ("recall", ">"),
    ("false (clean)", ">"),
    ("invalid", ">"),
    ("failed", ">"),
    ("copied", ">"),
    ("median s", ">"),
    ("tokens in/out", ">"),
)

LEGEND = (
    f"bugs found: a finding within ±{LINE_TOLERANCE} line of the seeded bug. "
    "false (clean): findings on clean snippets (clean snippets flagged). "
    "invalid: answers that were no findings JSON, or were stopped as degenerate. "
    "failed: no answer (backend down, error, refused). "
    "copied: findings shown whose text was a template placeholder or a copy of the prompt. "
    "median s: median wall time of a review that got an answer. "
    "tokens: as the backend reported them (- when it reported none)."
)


def _row(score: ModelScore) -> list[str]:
    recall = "-" if score.recall is None else f"{score.recall * 100:.0f} %"
    latency = "-" if score.median_latency_s is None else f"{score.median_latency_s:.1f}"
    failed = score.count("failed") + score.count("refused")
    return [
        score.entry,
        f"{score.found}/{score.buggy}",
        recall,
        f"{score.false_findings} ({score.clean_flagged}/{score.clean})",
        str(score.count("invalid")),
        str(failed),
        str(score.copied),
        latency,
        _tokens(score.prompt_tokens, score.completion_tokens),
    ]


def _tokens(prompt: int | None, completion: int | None) -> str:
    if prompt is None and completion is None:
        return "-"
    shown = ["?" if n is None else str(n) for n in (prompt, completion)]
    return "/".join(shown)


def table(scores: Sequence[ModelScore]) -> str:
    """The scores as an aligned text table, one row per model, and a legend."""
    rows = [[name for name, _ in _COLUMNS]] + [_row(s) for s in scores]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(row, _COLUMNS, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n\n" + LEGEND


def as_json(scores: Sequence[ModelScore], snippets: Sequence[Snippet]) -> dict[str, Any]:
    """Everything: the corpus used, each model's scores and each snippet's result."""
    return {
        "corpus": [
            {"id": s.id, "language": s.language, "kind": s.kind, "bug_line": s.bug_line}
            for s in snippets
        ],
        "line_tolerance": LINE_TOLERANCE,
        "models": [
            {
                **score.summary(),
                "results": [
                    {**asdict(r), "found": r.found, "false_findings": r.false_findings}
                    for r in score.results
                ],
            }
            for score in scores
        ],
    }
