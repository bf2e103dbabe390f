"""Command line: serve | review | route | status | start | stop | login | audit | config."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from localroute import __version__, gc_pause


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localroute",
        description="Local-first routing language server: review and explain code with a local "
        "model first, never sending private code to a cloud.",
    )
    parser.add_argument("--version", action="version", version=f"localroute {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on a socket instead of stdio")
    serve.add_argument("--log-level", default="INFO", help="logging level")
    serve.add_argument("--log-file", type=Path, help="write the log here instead of stderr")

    route = sub.add_parser("route", help="print where a file would go, and why; sends nothing")
    route.add_argument("file", type=Path)
    route.add_argument("--task", default="review")
    route.add_argument("--format", choices=["text", "json"], default="text")
    route.add_argument("--probe", action="store_true", help="probe the backends first")

    from localroute.exit_codes import EXIT_CODES_HELP

    review = sub.add_parser(
        "review",
        help="review files and folders in parallel",
        description="Review files and folders with the editor's routing and privacy. "
        "More than one file stays on local and private-network backends unless "
        "--allow-cloud is given.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review.add_argument(
        "paths", nargs="*", type=Path, help="files and folders (with --changed-since: to narrow)"
    )
    review.add_argument("--jobs", type=int, default=8, help="files reviewed at once (default 8)")
    review.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    review.add_argument(
        "--fail-on",
        choices=["error", "warning", "info", "hint"],
        default=None,
        help="exit 1 when a finding at or above this severity exists",
    )
    review.add_argument("--task", default="review", help="a diagnostics task (default review)")
    review.add_argument("--max-bytes", type=int, default=1_000_000, help="skip larger files")
    review.add_argument("--refresh", action="store_true", help="bypass the result cache")
    review.add_argument(
        "--allow-cloud",
        action="store_true",
        help="let a review of several files use cloud backends (code that is not private)",
    )
    review.add_argument(
        "--consent",
        action="store_true",
        help="one file: if it is refused for privacy, ask on the terminal whether to send it "
        "to the task's cloud backend this once",
    )
    review.add_argument(
        "--output", type=Path, help="write the SARIF report here (kept when interrupted)"
    )
    review.add_argument(
        "--changed-since",
        metavar="REF",
        help="review only what changed since this git ref (committed, staged, unstaged): "
        "the changed lines of each file with some context, new files whole",
    )
    review.add_argument(
        "--include-untracked",
        action="store_true",
        help="with --changed-since: also review untracked files (whole)",
    )
    review.add_argument(
        "--context",
        type=int,
        default=3,
        metavar="N",
        help="with --changed-since: lines of context around each change (default 3)",
    )

    status = sub.add_parser("status", help="probe every backend and print up/down, latency")
    status.add_argument("--format", choices=["text", "json"], default="text")

    start = sub.add_parser("start", help="run a backend's start_command and wait until it is up")
    start.add_argument("backend")
    start.add_argument("--wait", type=float, default=120.0, help="seconds to wait (default 120)")

    stop = sub.add_parser("stop", help="run a backend's stop_command (free the GPU)")
    stop.add_argument("backend")

    login = sub.add_parser("login", help="sign in to a service: copilot")
    login.add_argument("service", choices=["copilot"])
    login.add_argument("--backend", default="copilot", help="backend whose login_url to use")

    audit = sub.add_parser("audit", help="summarise the audit log: what left the machine")
    audit.add_argument("--since", default=None, help="only the last 7d, 12h, 30m …")
    audit.add_argument("--format", choices=["table", "json"], default="table")
    audit.add_argument("--path", type=Path, help="the audit log (default: from configuration)")

    from localroute.evaluation.command import add_parser as add_eval_parser

    add_eval_parser(sub)

    model = sub.add_parser("model", help="the embedded local model: serve")
    model_serve = model.add_subparsers(dest="model_command", required=True).add_parser(
        "serve", help="run the embedded model on 127.0.0.1 until Ctrl-C or SIGTERM"
    )
    model_serve.add_argument("--port", type=int, default=8080, help="default 8080")
    model_serve.add_argument("--context-tokens", type=int, default=4096, help="default 4096")
    model_serve.add_argument("--log", type=Path, help="default: $TMPDIR/localroute-model-PORT.log")

    config = sub.add_parser("config", help="configuration: schema | check")
    config_sub = config.add_subparsers(dest="config_command")
    config_sub.add_parser("schema", help="print the JSON Schema of the configuration file")
    check = config_sub.add_parser("check", help="validate a configuration file")
    check.add_argument("path", nargs="?", type=Path, help="default: the user file")
    return parser


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, as a shell reports a command whose reader went away (`| head`)."""


def run() -> NoReturn:
    """The `localroute` program: :func:`main`, then out at once. A command-line run has
    nothing to tidy up after its last line (its files are closed, its output flushed
    here), and the interpreter's own shutdown costs a tenth of a second or more.

    The cycle collector is paused while the program starts (:mod:`localroute.gc_pause`):
    `review` resumes it once its configuration is read, every other command once its
    arguments are."""
    gc_pause.pause()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            code = EXIT_BROKEN_PIPE
        except (ValueError, OSError):
            pass  # closed already (the language server closes stdout when it exits)
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader closed the pipe (`localroute status | head -1`): no traceback, and
        # no second error when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "review":
        gc_pause.resume()
    if args.command == "serve":
        return _serve(args)
    if args.command == "review":
        return _run_review(args)
    if args.command == "route":
        return asyncio.run(_route(args))
    if args.command == "status":
        return asyncio.run(_status(args))
    if args.command == "start":
        return asyncio.run(_start(args))
    if args.command == "stop":
        return asyncio.run(_stop(args))
    if args.command == "login":
        return _login(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "config":
        return _config(args, parser)
    if args.command == "model":
        from localroute import embedded

        return embedded.serve_until_stopped(
            port=args.port, context_tokens=args.context_tokens, log_path=args.log
        )
    if args.command == "eval":
        from localroute.evaluation.command import run_eval

        return run_eval(args, _store().base())
    parser.print_help()
    return 0


def _serve(args: argparse.Namespace) -> int:
    from localroute.lsp.main import serve

    return serve(tcp=args.tcp, log_level=args.log_level, log_file=args.log_file)


def _store() -> Any:
    """The configuration of this run; every problem is printed (the caller decides whether
    one stops it)."""
    from localroute.policy import PolicyStore

    store = PolicyStore()
    for problem in store.problems():
        print(f"localroute: configuration: {problem}", file=sys.stderr)
    return store


def _config_errors(store: Any) -> bool:
    if any(p.severity == "error" for p in store.problems()):
        print("localroute: fix the configuration first (nothing was sent)", file=sys.stderr)
        return True
    return False


def _run_review(args: argparse.Namespace) -> int:
    from localroute.bulk.review_command import run_review

    return run_review(args, _store())


async def _route(args: argparse.Namespace) -> int:
    from localroute.identity import identify_path
    from localroute.pipeline import Document, Pipeline, TaskRequest
    from localroute.status import route_report

    path = args.file
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"localroute: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    store = _store()
    if _config_errors(store):
        return 2
    pipeline = Pipeline(store)
    try:
        if args.task not in pipeline.config.tasks:
            print(f"localroute: unknown task {args.task!r}", file=sys.stderr)
            return 2
        # The file's own project root decides its rules, not the current directory.
        classified = pipeline.classify(Document(identify_path(path), text))
        errors = [p for p in classified.policy.problems if p.severity == "error"]
        for problem in errors:
            print(f"localroute: configuration: {problem}", file=sys.stderr)
        if errors:
            return 2
        if args.probe:
            await pipeline.health.probe_all(list(pipeline.config.backends))
        report = route_report(pipeline, TaskRequest(args.task, classified))
    finally:
        await pipeline.aclose()
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    print(report["summary"])
    print(f"  privacy: {'private' if report['private'] else 'not private'}")
    for reason in report["reasons"]:
        print(f"    - {reason}")
    print(f"  project root: {report['root'] or 'none found'}")
    print("  candidates:")
    for c in report["candidates"]:
        print(f"    - {c['backend']}:{c['model']} ({c['locality']}, {c['state']})")
    for s in report["skipped"]:
        print(f"    - {s['entry']}: skipped, {s['reason']}")
    print("  nothing was sent")
    return 0


async def _status(args: argparse.Namespace) -> int:
    from localroute.pipeline import Pipeline
    from localroute.status import status_report, status_text

    store = _store()
    pipeline = Pipeline(store)
    try:
        report = await status_report(pipeline)
    finally:
        await pipeline.aclose()
    routed = {e.partition(":")[0] for t in report["tasks"].values() for e in t["route"]}
    any_up = any(b["up"] for b in report["backends"] if b["name"] in routed)
    code = 0 if any_up and not report["problems"] else 1
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return code
    text = status_text(report)
    if text:
        print(text)
    if not any_up:
        print("localroute: no backend of any task is up", file=sys.stderr)
    return code


async def _start(args: argparse.Namespace) -> int:
    from localroute.pipeline import Pipeline
    from localroute.starter import StartError, start_backend

    pipeline = Pipeline(_store())
    try:
        outcome = await start_backend(pipeline, args.backend, wait_s=args.wait)
    except StartError as exc:
        print(f"localroute: {exc}", file=sys.stderr)
        return 2
    finally:
        await pipeline.aclose()
    if outcome.up:
        print(f"{args.backend} is up ({outcome.seconds:.1f} s)")
        return 0
    print(f"localroute: {args.backend} did not come up: {outcome.detail}", file=sys.stderr)
    return 1


async def _stop(args: argparse.Namespace) -> int:
    from localroute.pipeline import Pipeline
    from localroute.starter import StartError, stop_backend

    pipeline = Pipeline(_store())
    try:
        outcome = await stop_backend(pipeline, args.backend)
    except StartError as exc:
        print(f"localroute: {exc}", file=sys.stderr)
        return 2
    finally:
        await pipeline.aclose()
    if outcome.detail == "stopped":
        print(f"{args.backend} stopped")
        return 0
    print(f"localroute: {args.backend}: {outcome.detail}", file=sys.stderr)
    return 1


def _login(args: argparse.Namespace) -> int:
    """GitHub's device flow; the token is stored with mode 0600 for the copilot backend."""
    from localroute.backends.copilot_auth import DEFAULT_LOGIN_URL, LoginError, device_flow_login

    backend = _store().base().config.backends.get(args.backend)
    login_url = (backend.login_url if backend else None) or DEFAULT_LOGIN_URL
    try:
        path = asyncio.run(device_flow_login(login_url=login_url, env=os.environ, out=print))
    except LoginError as exc:
        print(f"localroute: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"Signed in; token stored in {path}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from localroute import audit

    path = args.path
    if path is None:
        config = _store().base().config.audit
        path = Path(config.path).expanduser() if config.path else audit.default_path()
    try:
        since = audit.parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"localroute: {exc}", file=sys.stderr)
        return 2
    summary = audit.summarize(audit.read_entries(path, since=since))
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return 0
    print(audit.summary_text(summary, path, args.since))
    return 0


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from localroute.config import paths, sources
    from localroute.config.models import Config

    if args.config_command == "schema":
        print(json.dumps(Config.model_json_schema(), indent=2))
        return 0
    if args.config_command == "check":
        path = args.path or paths.user_config_path()
        problems = sources.check_file(path)
        for problem in problems:
            print(problem, file=sys.stderr)
        if any(p.severity == "error" for p in problems):
            return 1
        print(f"{path}: ok")
        return 0
    parser.print_help()
    return 0
