"""`localroute review PATH...`: review from the shell, with the editor's routing and privacy.

Exit status (CI depends on it): 0 every file reviewed and no finding at or above
`--fail-on`; 1 such findings; 2 a usage or configuration error (nothing was sent);
3 some file was refused or not reviewed (takes precedence over 1); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from localroute import __version__, gc_pause
from localroute.audit import audit_log_for
from localroute.bulk.files import expand_paths
from localroute.bulk.hunks import LineRange
from localroute.bulk.report import (
    Progress,
    backend_summary,
    json_line,
    summary,
    text_lines,
    worst_at_least,
)
from localroute.bulk.runner import ResultCallback, relative, review_files
from localroute.bulk.sarif import FileResult, to_sarif
from localroute.exit_codes import (
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_NOT_REVIEWED,
    EXIT_OK,
    EXIT_USAGE,
)
from localroute.identity import identify_path
from localroute.pipeline import Pipeline
from localroute.policy import PolicyStore
from localroute.policy.store import disk_path
from localroute.results_cache import ResultsCache


def configuration_errors(store: PolicyStore, files: list[Path]) -> list[str]:
    """Every configuration error that applies to any of ``files`` (nothing runs then).

    A file's rules come from where it is on disk: the project root and workspace files
    found above its directory. Files of one directory share them, so one file stands for
    its directory here (a folder of a thousand files costs one look up the tree, not a
    thousand). Each file still gets its own rules when it is reviewed."""
    problems = [p for p in store.problems() if p.severity == "error"]
    directories: set[str] = set()
    for path in files:
        identity = identify_path(path)
        directory = os.path.dirname(disk_path(identity))
        if directory in directories:
            continue
        directories.add(directory)
        policy = store.policy_for(identity)
        problems += [p for p in policy.problems if p.severity == "error"]
    return [str(p) for p in dict.fromkeys(problems)]


@dataclass
class _Selection:
    """The files of a run, what was skipped, and the line ranges of changed files."""

    files: list[Path]
    skipped: list[tuple[Path, str]]
    ranges: Mapping[Path, Sequence[LineRange] | None] | None = None
    names: Mapping[Path, tuple[Path, ...]] = field(default_factory=dict)
    """Every name each file was reached by (privacy globs see them all)."""
    bulk: bool = False
    """Reviewed as a bulk run whatever the count (a change set): local unless asked."""


def _select(args: argparse.Namespace) -> _Selection | str:
    """The files to review, or the message of a usage error."""
    if args.changed_since is None:
        if not args.paths:
            return "name the files or folders to review, or give --changed-since REF"
        if args.include_untracked:
            return "--include-untracked goes with --changed-since"
        expansion = expand_paths(list(args.paths), root=Path.cwd(), max_bytes=args.max_bytes)
        return _Selection(list(expansion.files), list(expansion.skipped), names=expansion.names)
    # Asking git what changed is only for this kind of run: imported here.
    from localroute.bulk.changes import ChangesError, changed_since

    try:
        changes = changed_since(
            args.changed_since,
            list(args.paths),
            cwd=Path.cwd(),
            include_untracked=args.include_untracked,
            context=args.context,
        )
    except ChangesError as exc:
        return f"--changed-since: {exc}"
    # The same content checks as any other run: binary, too large, unreadable.
    expansion = expand_paths([f.path for f in changes.files], max_bytes=args.max_bytes)
    ranges = {f.path.resolve(): f.ranges for f in changes.files}
    by_lines = sum(1 for p in expansion.files if ranges.get(p) is not None)
    whole = len(expansion.files) - by_lines
    base = changes.base[:12]
    head = (
        f"localroute: {len(expansion.files)} file(s) changed since {changes.ref} ({base}): "
        f"{by_lines} by their changed lines, {whole} whole"
    )
    if changes.deleted:
        head += f"; {changes.deleted} deleted"
    print(head, file=sys.stderr)
    if changes.untracked:
        shown = ", ".join(relative(p, Path.cwd()) for p in changes.untracked[:5])
        more = f" and {len(changes.untracked) - 5} more" if len(changes.untracked) > 5 else ""
        print(
            f"localroute: {len(changes.untracked)} untracked file(s) left out: {shown}{more} "
            "(name them, or pass --include-untracked)",
            file=sys.stderr,
        )
    skipped = sorted([*changes.skipped, *expansion.skipped])
    return _Selection(list(expansion.files), skipped, ranges, expansion.names, bulk=True)


def _prepare(args: argparse.Namespace, store: PolicyStore) -> tuple[_Selection, bool] | int:
    """The files of the run and whether it may use cloud backends, or an exit status."""
    if args.context < 0:
        print("localroute: --context must not be negative", file=sys.stderr)
        return EXIT_USAGE
    selection = _select(args)
    if isinstance(selection, str):
        print(f"localroute: {selection}", file=sys.stderr)
        return EXIT_USAGE
    for path, why in selection.skipped:
        print(f"localroute: skipped {path}: {why}", file=sys.stderr)
    files = selection.files
    errors = configuration_errors(store, files)
    if errors:
        for error in errors:
            print(f"localroute: configuration error: {error}", file=sys.stderr)
        print("localroute: nothing was reviewed; fix the configuration first", file=sys.stderr)
        return EXIT_USAGE
    config = store.base().config
    task = config.tasks.get(args.task)
    if task is None or task.output_kind(args.task) != "diagnostics":
        print(f"localroute: {args.task!r} is not a diagnostics task", file=sys.stderr)
        return EXIT_USAGE
    if args.consent and (len(files) != 1 or selection.bulk):
        print("localroute: --consent works on one named file at a time", file=sys.stderr)
        return EXIT_USAGE
    if args.consent and not sys.stdin.isatty():
        print("localroute: --consent asks on a terminal; none is attached", file=sys.stderr)
        return EXIT_USAGE
    # Bulk work stays local unless asked; one named file follows its task's route.
    return selection, args.allow_cloud or (len(files) == 1 and not selection.bulk)


def run_review(args: argparse.Namespace, store: PolicyStore) -> int:
    # Start-up is over (the modules are imported, the configuration read): the collector
    # runs again before the files are listed, however many there are.
    gc_pause.resume()
    root = Path.cwd()
    try:
        prepared = _prepare(args, store)
    except KeyboardInterrupt:
        # Ctrl-C while the files are listed and checked: nothing was sent yet.
        print("localroute: interrupted before any file was reviewed", file=sys.stderr)
        _report(args, [], [], root, interrupted=True, code=EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    if isinstance(prepared, int):
        return prepared
    selection, allow_cloud = prepared
    files = selection.files
    results: list[FileResult] = []
    progress = Progress(len(files))

    def on_result(result: FileResult) -> None:
        results.append(result)
        progress.advance(result)
        if args.format == "text":
            progress.clear()
            print("\n".join(text_lines(result)), flush=True)
        elif args.format == "json":
            progress.clear()
            print(json_line(result), flush=True)

    progress.start(args.jobs)
    interrupted = asyncio.run(_run(args, store, selection, root, on_result, allow_cloud))
    progress.clear()
    code = _exit_code(results, len(files), interrupted, args.fail_on)
    _report(args, results, selection.skipped, root, interrupted=interrupted, code=code)
    print(summary(results, len(files), interrupted=interrupted), file=sys.stderr)
    backends = backend_summary(results)
    if backends is not None:
        print(backends, file=sys.stderr)
    return code


def _report(
    args: argparse.Namespace,
    results: list[FileResult],
    skipped: Sequence[tuple[Path, str]],
    root: Path,
    *,
    interrupted: bool,
    code: int,
) -> None:
    """The SARIF report, to ``--output`` or stdout (other formats streamed already)."""
    if args.format != "sarif":
        return
    sarif = to_sarif(
        results,
        tool_version=__version__,
        source_root=root,
        skipped=[(relative(path, root), why) for path, why in skipped],
        interrupted=interrupted,
        exit_code=code,
    )
    if not args.output:
        _dump(sarif, sys.stdout)
        return
    # A file cannot block: a Ctrl-C now waits the moment it takes, so the report of what
    # finished is always written whole.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        write_atomically(args.output, lambda out: _dump(sarif, out))
    finally:
        signal.signal(signal.SIGINT, previous)


def _dump(data: object, out: TextIO) -> None:
    # Streamed: a report of thousands of files is never held as one string.
    json.dump(data, out, indent=2)
    out.write("\n")
    out.flush()


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write a file through a temporary file and a rename: a reader (a CI upload step)
    sees the old file or the whole new one, never half of it."""
    path = path.absolute()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        os.fchmod(handle, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            write(out)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _exit_code(
    results: list[FileResult], total: int, interrupted: bool, fail_on: str | None
) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if len(results) < total or any(r.error is not None for r in results):
        return EXIT_NOT_REVIEWED
    if fail_on and worst_at_least(results, fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


async def _run(
    args: argparse.Namespace,
    store: PolicyStore,
    selection: _Selection,
    root: Path,
    on_result: ResultCallback,
    allow_cloud: bool,
) -> bool:
    """Run the review; Ctrl-C cancels every request in flight. True when interrupted."""
    config = store.base().config
    results = ResultsCache.open(config.cache)
    if results is not None:
        # Opened before the workers start. Opened in a thread beside them, it came no
        # sooner: the thread waited for the interpreter's lock the workers held.
        await results.ready()
    pipeline = Pipeline(store, audit=audit_log_for(config.audit), results=results)
    files = selection.files
    if args.consent:
        from localroute.bulk.consent import review_with_consent

        run = asyncio.ensure_future(
            review_with_consent(
                pipeline,
                files[0],
                task=args.task,
                root=root,
                on_result=on_result,
                names=selection.names.get(files[0], ()),
            )
        )
    else:
        run = asyncio.ensure_future(
            review_files(
                pipeline,
                files,
                task=args.task,
                root=root,
                jobs=args.jobs,
                on_result=on_result,
                refresh=args.refresh,
                allow_cloud=allow_cloud,
                ranges=selection.ranges,
                names=selection.names,
            )
        )
    loop = asyncio.get_running_loop()
    # Installed until the pipeline is closed: a second Ctrl-C while connections close
    # changes nothing, and the report of what finished is still written.
    loop.add_signal_handler(signal.SIGINT, run.cancel)
    try:
        await run
        return False
    except asyncio.CancelledError:
        return True
    finally:
        try:
            await pipeline.aclose()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
