"""`localroute.reviewFiles`: the shell's bulk review, from the editor; registered in
:mod:`localroute.lsp.registry`. Every workspace folder is covered, each file under the
policy of its own project root; bulk work stays local unless `allowCloud` is true."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from localroute import contract
from localroute.bulk.changes import ChangesError, changed_since
from localroute.bulk.files import expand_paths
from localroute.bulk.hunks import LineRange
from localroute.bulk.runner import relative
from localroute.bulk.runner import review_files as run_bulk
from localroute.bulk.sarif import FileResult
from localroute.identity import identify
from localroute.lsp.arguments import RequestFailedError
from localroute.lsp.placing import open_uri_for, place_findings
from localroute.lsp.progress import CommandProgress

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

DEFAULT_JOBS = 8
MAX_FILES = 2000

log = logging.getLogger(__name__)


@dataclass
class Selection:
    """The files to review, those skipped with why, every name a file was reached by, and
    (``changedSince``) their changed lines."""

    files: list[Path]
    skipped: list[tuple[Path, str]]
    names: dict[Path, tuple[Path, ...]] = field(default_factory=dict)
    ranges: dict[Path, tuple[LineRange, ...] | None] | None = None


def _files(argument: dict[str, Any], roots: Sequence[Path]) -> Selection:
    """The files to review, and those skipped (blocking: file system walks; a thread)."""
    name = contract.REVIEW_FILES
    uris = argument.get("uris")
    pattern = argument.get("glob")
    if uris is not None and (
        not isinstance(uris, list) or not all(isinstance(u, str) for u in uris)
    ):
        raise JsonRpcInvalidParams(f"{name}: 'uris' must be a list of file URIs")
    if pattern is not None and not isinstance(pattern, str):
        raise JsonRpcInvalidParams(f"{name}: 'glob' must be a string")
    if pattern is not None and (pattern.startswith(("/", "\\")) or ".." in Path(pattern).parts):
        raise JsonRpcInvalidParams(f"{name}: 'glob' is relative to the workspace folder")
    if uris:
        paths = [Path(p) for p in (identify(u).fs_path for u in uris) if p]
    elif pattern:
        paths = sorted({p for root in roots for p in root.glob(pattern) if p.is_file()})
    else:
        paths = list(roots)
    outside = [p for p in paths if not _inside(p, roots)]
    if outside:
        raise JsonRpcInvalidParams(f"{name}: {outside[0]} is outside the workspace")
    since = argument.get("changedSince")
    if since is not None:
        selection = _changed(since, paths, roots, named=bool(uris), glob=bool(pattern) and not uris)
    else:
        expansion = expand_paths(paths, root=roots[0])
        selection = Selection(list(expansion.files), list(expansion.skipped), expansion.names)
    if len(selection.files) > MAX_FILES:
        raise JsonRpcInvalidParams(
            f"{name}: {len(selection.files)} files; at most {MAX_FILES} at once (narrow the glob)"
        )
    return selection


def _changed(
    since: object, paths: Sequence[Path], roots: Sequence[Path], *, named: bool, glob: bool
) -> Selection:
    """The files changed since the ref ``since`` among ``paths``, per workspace folder.

    Files and folders from ``uris`` (``named``) are named to git, so an untracked file
    named is reviewed whole; otherwise each folder's changes are taken, and with a
    ``glob`` only the files it matched are kept (untracked and unchanged files are then
    not listed one by one).
    """
    name = contract.REVIEW_FILES
    if not isinstance(since, str) or not since.strip():
        raise JsonRpcInvalidParams(f"{name}: 'changedSince' must be a git ref, e.g. 'HEAD'")
    wanted = {p.resolve() for p in paths} if glob else None
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    ranges: dict[Path, tuple[LineRange, ...] | None] = {}
    names: dict[Path, tuple[Path, ...]] = {}
    failures: list[str] = []
    attempted = 0
    for root in roots:
        mine = [p for p in paths if _inside(p, [root])]
        if not mine:
            continue
        attempted += 1
        try:
            changes = changed_since(since, mine if named else [root], cwd=root)
        except ChangesError as exc:
            failures.append(str(exc))
            skipped.append((root, str(exc)))
            continue
        changed = [c for c in changes.files if wanted is None or c.path.resolve() in wanted]
        expansion = expand_paths([c.path for c in changed], root=root)
        kept = set(expansion.files)
        ranges.update((c.path.resolve(), c.ranges) for c in changed if c.path.resolve() in kept)
        files += expansion.files
        names.update(expansion.names)
        skipped += [
            (path, why)
            for path, why in [*changes.skipped, *expansion.skipped]
            if wanted is None or path.resolve() in wanted
        ]
    if failures and len(failures) == attempted:
        # Not one folder could answer: the request fails and says why.
        raise RequestFailedError(f"{name}: changedSince: {failures[0]}")
    return Selection(sorted(set(files)), sorted(skipped), names, ranges)


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def _argument(args: tuple[Any, ...]) -> dict[str, Any]:
    argument = args[0] if len(args) == 1 and isinstance(args[0], dict) else None
    if argument is None:
        raise JsonRpcInvalidParams(
            f"{contract.REVIEW_FILES} takes one object "
            "{uris?, glob?, jobs?, refresh?, allowCloud?, changedSince?}"
        )
    jobs = argument.get("jobs", DEFAULT_JOBS)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise JsonRpcInvalidParams(f"{contract.REVIEW_FILES}: 'jobs' must be a positive integer")
    if not isinstance(argument.get("allowCloud", False), bool):
        raise JsonRpcInvalidParams(f"{contract.REVIEW_FILES}: 'allowCloud' must be true or false")
    return argument


async def review_files(ls: LocalrouteServer, *args: Any) -> contract.ReviewFilesResult:
    argument = _argument(args)
    roots = [Path(p) for p in ls.workspace_paths()]
    if not roots:
        raise JsonRpcInvalidParams(f"{contract.REVIEW_FILES}: no workspace folder is open")
    try:
        selection = await asyncio.to_thread(_files, argument, roots)
    except RequestFailedError as exc:
        ls.show(f"localroute: {exc.message}")
        raise
    files, skipped = selection.files, selection.skipped
    display_root = roots[0]
    if skipped:
        shown = "; ".join(f"{relative(p, display_root)}: {why}" for p, why in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        ls.show(
            f"localroute: skipped {len(skipped)} file(s): {shown}{more}", types.MessageType.Info
        )
    uris = {relative(path, display_root): _uri(ls, path) for path in files}
    revisions = {uri: ls.findings.revision(uri) for uri in uris.values()}
    backends: Counter[str] = Counter()
    totals = {"done": 0, "findings": 0, "not_reviewed": 0, "refused": 0}
    progress = CommandProgress(ls, f"Review {len(files)} files")
    await progress.begin()

    def on_result(result: FileResult) -> None:
        totals["done"] += 1
        totals["findings"] += len(result.findings)
        if result.error is not None:
            totals["refused" if result.refused else "not_reviewed"] += 1
            # One line in the log per file; one message for the whole run, at the end.
            log.info("%s: %s: %s", result.path, _status(result), result.error)
        for name in (result.backend or "").split(", "):
            if name:
                backends[name] += 1
        uri = uris[result.path]
        place_findings(
            ls,
            uri,
            result.findings,
            backend=result.backend or "",
            model=result.model or "",
            locality=result.locality or "",
            revision=revisions[uri],
            reviewed=None,
        )
        used = ", ".join(f"{name} ×{n}" for name, n in backends.most_common())
        progress.report(
            f"{totals['done']}/{len(files)} files · {used}", force=totals["done"] == len(files)
        )

    try:
        await run_bulk(
            ls.pipeline,
            files,
            task="review",
            root=display_root,
            jobs=argument.get("jobs", DEFAULT_JOBS),
            on_result=on_result,
            refresh=argument.get("refresh") is True,
            allow_cloud=argument.get("allowCloud") is True,
            ranges=selection.ranges,
            names=selection.names,
        )
    except BaseException:
        progress.end(f"cancelled after {totals['done']}/{len(files)} files")
        raise
    unanswered = totals["not_reviewed"] + totals["refused"]
    progress.end(f"{totals['done'] - unanswered} of {len(files)} files reviewed")
    if unanswered:
        ls.show(
            f"localroute: {totals['refused']} file(s) refused and {totals['not_reviewed']} "
            f"not reviewed of {len(files)} (see the log)",
            types.MessageType.Warning,
        )
    return {
        "files": len(files),
        "done": totals["done"],
        "findings": totals["findings"],
        "not_reviewed": totals["not_reviewed"],
        "refused": totals["refused"],
        "backends": dict(backends),
    }


def _status(result: FileResult) -> str:
    return "refused" if result.refused else "not reviewed"


def _uri(ls: LocalrouteServer, path: Path) -> str:
    resolved = path.resolve()
    return open_uri_for(ls, str(identify(resolved.as_uri()).path), resolved.as_uri())
