"""Prompt building and answer parsing for the review and explain tasks.

Everything here is pure: no I/O, no LSP types, no backend calls. The LSP layer builds a
:class:`~localroute.tasks.findings.Prompt`, sends it to a backend, and turns the answer into
:class:`~localroute.tasks.findings.Finding` objects (review) or hover markdown (explain).
"""

from __future__ import annotations

from localroute.tasks.explain import (
    attribution_line,
    build_explain_prompt,
    clean_explanation,
    explanation_markdown,
)
from localroute.tasks.findings import Finding, Prompt, Severity
from localroute.tasks.review import FINDINGS_SCHEMA, build_review_prompt, parse_findings

__all__ = [
    "FINDINGS_SCHEMA",
    "Finding",
    "Prompt",
    "Severity",
    "attribution_line",
    "build_explain_prompt",
    "build_review_prompt",
    "clean_explanation",
    "explanation_markdown",
    "parse_findings",
]
