"""Render bulk review results as a SARIF 2.1.0 log (one run), e.g. for GitHub code scanning.

Each finding becomes a ``result`` whose rule id names the task and the severity
(``localroute/review/warning``); its location is the file's path relative to the source
root (``uriBaseId`` ``%SRCROOT%``) with 1-based ``startLine``/``endLine``; its
``properties`` say which backend, model and locality produced it. Files that failed or
were refused, and files skipped before review, become ``toolExecutionNotifications`` of
the run's invocation, so no file is left out silently.

This module is pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from localroute.tasks.findings import Finding

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
SRCROOT = "%SRCROOT%"
TOOL_NAME = "localroute"

_LEVELS: dict[str, str] = {"error": "error", "warning": "warning", "info": "note", "hint": "note"}
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class FileResult:
    """The outcome of reviewing one file in a bulk run.

    ``path`` is the file's path relative to the source root, with ``/`` separators (see
    :func:`relative_path`); an absolute path is written as a ``file:`` URI. ``error``
    says why the file has no (or only partial) findings: a backend failure, or a refusal
    when ``refused`` is true (e.g. a private file whose local backends are all down).
    """

    path: str
    task: str
    backend: str | None
    model: str | None
    locality: str | None
    findings: tuple[Finding, ...]
    error: str | None = None
    refused: bool = False
    parts: int = 1
    """How many requests the file was reviewed in (chunks of a large file)."""
    failed_parts: int = 0
    """How many of them got no answer; findings are those of the others."""
    sent_to: tuple[str, ...] = ()
    """Every backend that received any part of the file, answered or not."""
    cached_parts: int = 0
    """How many of the answered parts came from the result cache (nothing sent)."""
    cloud_tokens: int = 0
    """Estimated prompt tokens sent to cloud backends for this file (cached parts cost
    nothing)."""
    lines: tuple[tuple[int, int], ...] = ()
    """The 1-based, inclusive line ranges reviewed; empty when the whole file was."""

    @property
    def reviewed(self) -> bool:
        """Every part was answered."""
        return self.error is None


def relative_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` with ``/`` separators, or absolute if outside it."""
    absolute = path.absolute()
    try:
        return absolute.relative_to(base.absolute()).as_posix()
    except ValueError:
        return absolute.as_posix()


def sarif_level(severity: str) -> str:
    """The SARIF level of a finding severity: error, warning, or note for info/hint."""
    return _LEVELS.get(severity, "note")


def rule_id(task: str, severity: str) -> str:
    """The stable rule id of a task's findings of one severity: ``localroute/TASK/SEV``."""
    return f"{TOOL_NAME}/{_id_part(task)}/{_id_part(severity)}"


def to_sarif(
    results: Sequence[FileResult],
    *,
    tool_version: str,
    information_uri: str | None = None,
    source_root: Path | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    interrupted: bool = False,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """Build a SARIF 2.1.0 log with one run from per-file ``results``.

    ``source_root``, when given, is recorded as the absolute URI of ``%SRCROOT%``.
    ``skipped`` lists ``(relative path, reason)`` pairs of files not reviewed at all
    (binary, too large…); they become ``note`` notifications. Results are ordered by
    path, then line; rules by id.
    """
    first_of_id: dict[str, tuple[str, str]] = {}
    for result in results:
        for finding in result.findings:
            key = (result.task, finding.severity)
            first_of_id.setdefault(rule_id(*key), key)
    rule_ids = sorted(first_of_id)
    rule_index = {rid: i for i, rid in enumerate(rule_ids)}
    rules = [_rule(*first_of_id[rid]) for rid in rule_ids]

    sarif_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for result in sorted(results, key=lambda r: r.path):
        for finding in sorted(result.findings, key=lambda f: (f.line, f.end_line)):
            rid = rule_id(result.task, finding.severity)
            sarif_results.append(_result(result, finding, rid, rule_index[rid]))
        if result.error is not None:
            notifications.append(_problem_notification(result))
    for path, reason in sorted(skipped):
        notifications.append(
            {
                "level": "note",
                "message": {"text": f"{path}: skipped ({reason})"},
                "descriptor": {"id": f"{TOOL_NAME}/skipped"},
                "locations": [_location(path)],
            }
        )

    driver: dict[str, Any] = {"name": TOOL_NAME, "version": tool_version, "rules": rules}
    if information_uri:
        driver["informationUri"] = information_uri
    # A file refused or not reviewed is not a successful run: CI must not go green on it.
    successful = all(result.error is None for result in results) and not interrupted
    invocation: dict[str, Any] = {
        "executionSuccessful": successful,
        "toolExecutionNotifications": notifications,
    }
    if exit_code is not None:
        invocation["exitCode"] = exit_code
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "invocations": [invocation],
        "results": sarif_results,
    }
    if source_root is not None:
        root_uri = source_root.absolute().as_uri()
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root_uri.rstrip("/") + "/"}}
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _id_part(text: str) -> str:
    return _UNSAFE_ID_CHARS.sub("-", text.strip()).strip("-") or "unknown"


def _rule(task: str, severity: str) -> dict[str, Any]:
    task_words = task.replace("_", " ").replace("-", " ").strip() or "unknown"
    name = "".join(part.capitalize() for part in task_words.split()) + severity.capitalize()
    return {
        "id": rule_id(task, severity),
        "name": _id_part(name),
        "shortDescription": {"text": f"{task_words.capitalize()} finding ({severity})"},
        "fullDescription": {
            "text": (
                f"A finding of severity '{severity}' reported by the localroute "
                f"'{task}' task, written by the model that reviewed the file."
            )
        },
        "defaultConfiguration": {"level": sarif_level(severity)},
        "properties": {"tags": [TOOL_NAME, task]},
    }


def _result(result: FileResult, finding: Finding, rid: str, index: int) -> dict[str, Any]:
    text = finding.message.strip() or "(no message)"
    properties: dict[str, Any] = {
        "backend": result.backend,
        "model": result.model,
        "locality": result.locality,
        "task": result.task,
    }
    if finding.suggestion:
        text = f"{text}\nSuggestion: {finding.suggestion.strip()}"
        properties["suggestion"] = finding.suggestion
    start = max(finding.line, 0) + 1
    end = max(finding.end_line + 1, start)
    location = _location(result.path)
    location["physicalLocation"]["region"] = {"startLine": start, "endLine": end}
    return {
        "ruleId": rid,
        "ruleIndex": index,
        "level": sarif_level(finding.severity),
        "message": {"text": text},
        "locations": [location],
        "properties": properties,
    }


def _problem_notification(result: FileResult) -> dict[str, Any]:
    kind = "refused" if result.refused else "not reviewed"
    return {
        "level": "error",
        "message": {"text": f"{result.path}: {kind}: {result.error}"},
        "descriptor": {"id": f"{TOOL_NAME}/{kind.replace(' ', '-')}"},
        "locations": [_location(result.path)],
        "properties": {
            "sentTo": list(result.sent_to),
            "backend": result.backend,
            "model": result.model,
            "locality": result.locality,
            "task": result.task,
        },
    }


def _location(path: str) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": _artifact_location(path)}}


def _artifact_location(path: str) -> dict[str, Any]:
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute() or PureWindowsPath(path).is_absolute():
        if PureWindowsPath(path).is_absolute() and not posix.startswith("/"):
            uri = PureWindowsPath(path).as_uri()
        else:
            uri = PurePosixPath(posix).as_uri()
        return {"uri": uri}
    relative = posix.removeprefix("./")
    return {"uri": quote(relative, safe="/"), "uriBaseId": SRCROOT}
