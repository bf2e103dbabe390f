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

from localroute import gc_pause
from localroute.cli_parser import command_of, parser

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
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = parser(command_of(arguments)).parse_args(arguments)
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
        return _config(args)
    if args.command == "model":
        from localroute import embedded

        return embedded.serve_until_stopped(
            port=args.port, context_tokens=args.context_tokens, log_path=args.log
        )
    if args.command == "eval":
        from localroute.evaluation.command import run_eval

        return run_eval(args, _store().base())
    parser().print_help()
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


def _config(args: argparse.Namespace) -> int:
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
        # Warnings (a setting ignored) do not fail the file, but "ok" alone would hide them.
        warned = f" ({len(problems)} warning{'s' if len(problems) > 1 else ''} above)"
        print(f"{path}: ok{warned if problems else ''}")
        return 0
    parser().print_help()
    return 0
