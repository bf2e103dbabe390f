"""`localroute review PATH...`: bulk review from the shell, with the editor's routing."""

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
from localroute.bulk.report import Progress, json_line, text_lines, worst_at_least
from localroute.bulk.runner import ResultCallback, relative, review_files
from localroute.bulk.sarif import FileResult, to_sarif
from localroute.config.models import Config
from localroute.config.sources import LoadedConfig
from localroute.pipeline import Pipeline

EXIT_INTERRUPTED = 130


def run_review(args: argparse.Namespace, loaded: LoadedConfig) -> int:
    config = loaded.config
    task = config.tasks.get(args.task)
    if task is None or task.output_kind(args.task) != "diagnostics":
        print(f"localroute: {args.task!r} is not a diagnostics task", file=sys.stderr)
        return 2
    root = Path.cwd()
    expansion = expand_paths(list(args.paths), root=root, max_bytes=args.max_bytes)
    for path, why in expansion.skipped:
        print(f"localroute: skipped {path}: {why}", file=sys.stderr)
    results: list[FileResult] = []
    progress = Progress(len(expansion.files))

    def on_result(result: FileResult) -> None:
        results.append(result)
        progress.advance(result)
        if args.format == "text":
            progress.clear()
            print("\n".join(text_lines(result)), flush=True)
        elif args.format == "json":
            progress.clear()
            print(json_line(result), flush=True)

    interrupted = asyncio.run(_run(args, config, expansion.files, root, on_result))
    progress.clear()
    if args.format == "sarif":
        sarif = to_sarif(
            results,
            tool_version=__version__,
            source_root=root,
            skipped=[(relative(path, root), why) for path, why in expansion.skipped],
        )
        print(json.dumps(sarif, indent=2))
    done = len(results)
    print(
        f"localroute: {done}/{len(expansion.files)} file(s) reviewed"
        + (", interrupted" if interrupted else ""),
        file=sys.stderr,
    )
    if interrupted:
        return EXIT_INTERRUPTED
    if args.fail_on and worst_at_least(results, args.fail_on):
        return 1
    return 0


async def _run(
    args: argparse.Namespace,
    config: Config,
    files: list[Path],
    root: Path,
    on_result: ResultCallback,
) -> bool:
    """Run the review; Ctrl-C cancels every request in flight. True when interrupted."""
    pipeline = Pipeline(config, audit=audit_log_for(config.audit))
    run = asyncio.ensure_future(
        review_files(
            pipeline,
            files,
            task=args.task,
            root=root,
            jobs=args.jobs,
            on_result=on_result,
            refresh=args.refresh,
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
