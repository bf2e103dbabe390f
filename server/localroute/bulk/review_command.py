"""`localroute review PATH...`: review from the shell, with the editor's routing and privacy.

Exit status (CI depends on it): 0 every file reviewed and no finding at or above
`--fail-on`; 1 such findings; 2 a usage or configuration error (nothing was sent);
3 some file was refused or not reviewed (takes precedence over 1); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from localroute import __version__
from localroute.audit import audit_log_for
from localroute.bulk.files import expand_paths
from localroute.bulk.report import Progress, json_line, summary, text_lines, worst_at_least
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


def configuration_errors(store: PolicyStore, files: list[Path]) -> list[str]:
    """Every configuration error that applies to any of ``files`` (nothing runs then)."""
    problems = [p for p in store.problems() if p.severity == "error"]
    for path in files:
        policy = store.policy_for(identify_path(path))
        problems += [p for p in policy.problems if p.severity == "error"]
    return [str(p) for p in dict.fromkeys(problems)]


def run_review(args: argparse.Namespace, store: PolicyStore) -> int:
    expansion = expand_paths(list(args.paths), root=Path.cwd(), max_bytes=args.max_bytes)
    for path, why in expansion.skipped:
        print(f"localroute: skipped {path}: {why}", file=sys.stderr)
    files = list(expansion.files)
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
    if args.consent and len(files) != 1:
        print("localroute: --consent works on one file at a time", file=sys.stderr)
        return EXIT_USAGE
    if args.consent and not sys.stdin.isatty():
        print("localroute: --consent asks on a terminal; none is attached", file=sys.stderr)
        return EXIT_USAGE
    # Bulk work stays local unless asked; one file follows its task's route.
    allow_cloud = args.allow_cloud or len(files) == 1
    root = Path.cwd()
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
    interrupted = asyncio.run(
        _run(args, store, files, root, on_result, allow_cloud, expansion.names)
    )
    progress.clear()
    code = _exit_code(results, len(files), interrupted, args.fail_on)
    if args.format == "sarif":
        sarif = to_sarif(
            results,
            tool_version=__version__,
            source_root=root,
            skipped=[(relative(path, root), why) for path, why in expansion.skipped],
            interrupted=interrupted,
            exit_code=code,
        )
        text = json.dumps(sarif, indent=2)
        if args.output:
            args.output.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
    print(summary(results, len(files), interrupted=interrupted), file=sys.stderr)
    return code


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
    files: list[Path],
    root: Path,
    on_result: ResultCallback,
    allow_cloud: bool,
    names: dict[Path, tuple[Path, ...]],
) -> bool:
    """Run the review; Ctrl-C cancels every request in flight. True when interrupted."""
    config = store.base().config
    pipeline = Pipeline(store, audit=audit_log_for(config.audit))
    if args.consent:
        from localroute.bulk.consent import review_with_consent

        run = asyncio.ensure_future(
            review_with_consent(
                pipeline,
                files[0],
                task=args.task,
                root=root,
                on_result=on_result,
                names=names.get(files[0], ()),
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
                names=names,
            )
        )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, run.cancel)
    try:
        await run
        return False
    except asyncio.CancelledError:
        return True
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await pipeline.aclose()
