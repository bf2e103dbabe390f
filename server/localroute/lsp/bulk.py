"""`localroute.reviewFiles`: the shell's bulk review, from the editor."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from localroute.bulk.files import expand_paths
from localroute.bulk.runner import relative, review_files
from localroute.bulk.sarif import FileResult
from localroute.lsp import publish
from localroute.lsp.progress import CommandProgress
from localroute.lsp.results import FindingRecord
from localroute.privacy import path_from_uri

if TYPE_CHECKING:
    from localroute.server import LocalrouteServer

REVIEW_FILES = "localroute.reviewFiles"
DEFAULT_JOBS = 8
MAX_FILES = 2000

log = logging.getLogger(__name__)


def _files(
    argument: dict[str, Any], root: Path, workspace_roots: Sequence[str]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files to review, and those skipped (blocking: file system walks; a thread)."""
    roots = [Path(r).resolve() for r in workspace_roots] or [root.resolve()]
    uris = argument.get("uris")
    pattern = argument.get("glob")
    if uris is not None and (
        not isinstance(uris, list) or not all(isinstance(u, str) for u in uris)
    ):
        raise JsonRpcInvalidParams(f"{REVIEW_FILES}: 'uris' must be a list of file URIs")
    if pattern is not None and not isinstance(pattern, str):
        raise JsonRpcInvalidParams(f"{REVIEW_FILES}: 'glob' must be a string")
    if pattern is not None and (pattern.startswith(("/", "\\")) or ".." in Path(pattern).parts):
        raise JsonRpcInvalidParams(f"{REVIEW_FILES}: 'glob' is relative to the workspace folder")
    if uris:
        paths = [Path(p) for p in (path_from_uri(u) for u in uris) if p]
    elif pattern:
        paths = sorted(p for p in root.glob(pattern) if p.is_file())
    else:
        paths = [root]
    outside = [p for p in paths if not _inside(p, roots)]
    if outside:
        raise JsonRpcInvalidParams(f"{REVIEW_FILES}: {outside[0]} is outside the workspace")
    expansion = expand_paths(paths, root=root)
    if len(expansion.files) > MAX_FILES:
        raise JsonRpcInvalidParams(
            f"{REVIEW_FILES}: {len(expansion.files)} files; at most {MAX_FILES} at once "
            "(narrow the glob)"
        )
    return list(expansion.files), list(expansion.skipped)


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def register(ls: LocalrouteServer) -> None:
    @ls.command(REVIEW_FILES)
    async def review_many(ls: LocalrouteServer, *args: Any) -> dict[str, Any]:
        argument = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
        if argument is None:
            raise JsonRpcInvalidParams(
                f"{REVIEW_FILES} takes one object {{uris?, glob?, jobs?, refresh?}}"
            )
        roots = ls.workspace_roots()
        root = Path(roots[0]) if roots else Path.cwd()
        jobs = argument.get("jobs", DEFAULT_JOBS)
        if not isinstance(jobs, int) or jobs < 1:
            raise JsonRpcInvalidParams(f"{REVIEW_FILES}: 'jobs' must be a positive integer")
        files, skipped = await asyncio.to_thread(_files, argument, root, roots)
        if skipped:
            shown = "; ".join(f"{relative(p, root)}: {why}" for p, why in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            ls.show(
                f"localroute: skipped {len(skipped)} file(s): {shown}{more}",
                types.MessageType.Info,
            )
        by_label = {relative(path, root): path for path in files}
        backends: Counter[str] = Counter()
        totals = {"done": 0, "findings": 0, "not_reviewed": 0}
        progress = CommandProgress(ls, f"Review {len(files)} files")
        await progress.begin()

        def on_result(result: FileResult) -> None:
            totals["done"] += 1
            totals["findings"] += len(result.findings)
            if result.error is not None:
                totals["not_reviewed"] += 1
                # One line in the log per file; one message for the whole run, at the end.
                log.info("%s: not reviewed: %s", result.path, result.error)
            else:
                backends[result.backend or "?"] += 1
                _publish(ls, by_label[result.path], result)
            used = ", ".join(f"{name} ×{n}" for name, n in backends.most_common())
            progress.report(f"{totals['done']}/{len(files)} files · {used}")

        try:
            await review_files(
                ls.pipeline,
                files,
                task="review",
                root=root,
                jobs=jobs,
                on_result=on_result,
                refresh=argument.get("refresh") is True,
            )
        except BaseException:
            progress.end(f"cancelled after {totals['done']}/{len(files)} files")
            raise
        progress.end(f"{totals['done']} files reviewed")
        if totals["not_reviewed"]:
            ls.show(
                f"localroute: {totals['not_reviewed']} of {len(files)} file(s) not reviewed "
                "(refused or failed; see the log)",
                types.MessageType.Warning,
            )
        return {"files": len(files), **totals, "backends": dict(backends)}


def _publish(ls: LocalrouteServer, path: Path, result: FileResult) -> None:
    uri = path.resolve().as_uri()
    records = [
        (
            (finding.line, finding.end_line),
            FindingRecord(finding, result.backend or "", result.model or "", result.locality or ""),
        )
        for finding in result.findings
    ]
    ls.findings.replace(uri, records)
    publish.diagnostics(ls, uri)
