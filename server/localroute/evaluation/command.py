"""``localroute eval BACKEND:MODEL...``: its arguments, and running it from the command line.

Cloud use is asked for, never assumed: the corpus is sample code, not the user's, but it
still leaves the machine. On a terminal the user confirms, naming the cloud backends;
without one the run is refused unless ``--allow-cloud`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localroute.evaluation.corpus import LANGUAGES

EMBEDDED_BACKEND = "embedded"
EMBEDDED_ENTRY = f"{EMBEDDED_BACKEND}:coder"


def add_parser(sub: Any) -> None:
    """Add the ``eval`` subcommand to ``sub`` (an argparse subparsers object)."""
    parser = sub.add_parser(
        "eval",
        help="score models on a corpus of seeded bugs: which one is good enough?",
        description="Review every snippet of the built-in corpus through each route entry "
        "and print per model: bugs found, false findings on clean snippets, invalid "
        "answers, median latency and tokens.",
    )
    parser.add_argument("entries", nargs="*", metavar="BACKEND:MODEL", help="route entries")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument(
        "--language", action="append", choices=LANGUAGES, help="only these (repeatable)"
    )
    parser.add_argument("--limit", type=int, help="at most this many snippets per language")
    parser.add_argument(
        "--allow-cloud", action="store_true", help="allow cloud backends without asking"
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help=f"start the embedded model as backend '{EMBEDDED_BACKEND}' "
        f"(default entry {EMBEDDED_ENTRY})",
    )
    parser.add_argument("--output", type=Path, help="also write the JSON result to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def cloud_refusal(
    cloud: list[str],
    *,
    count: int,
    allow_cloud: bool,
    interactive: bool,
    ask: Callable[[str], str] = input,
) -> str | None:
    """Why the run must not use ``cloud`` backends, or None when it may."""
    if not cloud or allow_cloud:
        return None
    names = ", ".join(cloud)
    if not interactive:
        return (
            f"{names} {'is a cloud backend' if len(cloud) == 1 else 'are cloud backends'}: "
            "pass --allow-cloud to send the corpus there"
        )
    question = (
        f"This sends {count} snippets of the evaluation corpus (sample code, none of yours) "
        f"to cloud backends: {names}. Continue? [y/N] "
    )
    try:
        answer = ask(question)
    except EOFError:
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return None
    return "cloud use not confirmed"


def run_eval(
    args: argparse.Namespace,
    loaded: Any,
    *,
    ask: Callable[[str], str] = input,
    interactive: bool | None = None,
) -> int:
    """Run ``localroute eval`` with the configuration ``loaded`` (a ``LoadedConfig``)."""
    from localroute.evaluation.corpus import CorpusError, load_corpus, select
    from localroute.evaluation.runner import EvalError, check_entries, cloud_backends

    try:
        snippets = select(load_corpus(), languages=args.language, limit=args.limit)
    except CorpusError as exc:
        return _fail(str(exc))
    if args.limit is not None and args.limit < 1:
        return _fail("--limit must be at least 1")
    config = loaded.config
    entries = list(args.entries) or ([EMBEDDED_ENTRY] if args.embedded else [])
    if args.embedded:
        # Checked against a stand-in first: nothing starts before the run is known to go ahead.
        config = _with_backend(config, {"kind": "openai", "url": "http://127.0.0.1:1/v1"})
    try:
        entries = check_entries(config, entries)
    except EvalError as exc:
        return _fail(str(exc))
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    refusal = cloud_refusal(
        cloud_backends(config, entries),
        count=len(snippets),
        allow_cloud=args.allow_cloud,
        interactive=interactive,
        ask=ask,
    )
    if refusal is not None:
        return _fail(f"{refusal}; nothing was sent")
    server = None
    try:
        if args.embedded:
            server = _start_embedded(quiet=args.quiet)
            config = _with_backend(config, server.backend_settings())
        return _run(args, config, entries, snippets)
    except KeyboardInterrupt:
        return 130
    finally:
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace, config: Any, entries: list[str], snippets: list[Any]) -> int:
    from localroute.audit import audit_log_for
    from localroute.evaluation.report import as_json, table
    from localroute.evaluation.runner import evaluate
    from localroute.evaluation.scoring import SnippetResult

    def progress(entry: str, snippet: Any, result: SnippetResult) -> None:
        if args.quiet:
            return
        verdict: str = result.status
        if result.status == "answered":
            verdict = "clean ok" if result.clean and not result.false_findings else verdict
            verdict = "found" if result.found else verdict
        took = "" if result.latency_s is None else f" ({result.latency_s:.1f} s)"
        print(f"[{entry}] {snippet.id}: {verdict}{took}", file=sys.stderr, flush=True)

    scores = asyncio.run(
        evaluate(config, entries, snippets, audit=audit_log_for(config.audit), progress=progress)
    )
    document = as_json(scores, snippets)
    if args.output is not None:
        args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        print(table(scores))
    return 0


def _start_embedded(*, quiet: bool) -> Any:
    from localroute import embedded

    if not quiet:
        print("starting the embedded model …", file=sys.stderr, flush=True)
    try:
        return embedded.start()
    except embedded.EmbeddedModelError as exc:
        raise SystemExit(f"localroute: {exc}") from None


def _with_backend(config: Any, settings: dict[str, Any]) -> Any:
    """``config`` with backend :data:`EMBEDDED_BACKEND` set to ``settings``."""
    from localroute.config.models import backend_config

    backends = {**config.backends, EMBEDDED_BACKEND: backend_config(**settings)}
    return config.model_copy(update={"backends": backends})


def _fail(message: str) -> int:
    print(f"localroute: {message}", file=sys.stderr)
    return 2
