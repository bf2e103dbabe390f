"""The command line's arguments: the parser of every command, or of the one a run names."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from localroute import __version__

COMMANDS = (
    "serve", "route", "review", "status", "start", "stop", "login", "audit", "eval", "model",
    "config",
)  # fmt: skip
"""Every command, in the order ``localroute --help`` lists them."""


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names first, or None (no command, an option such as ``--help``,
    or a word that is not a command: the whole parser says what is wrong)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only``, the parser of that command alone.

    Building every command's arguments costs about 10 ms (the ``eval`` command's corpus,
    argparse's own work), which every run paid before its first step; a run that names
    its command needs only that command's. The whole parser answers ``--help``, a missing
    or unknown command, and a command's help that lists the others."""

    def wanted(name: str) -> bool:
        return only is None or only == name

    root = argparse.ArgumentParser(
        prog="localroute",
        description="Local-first routing language server: review and explain code with a local "
        "model first, never sending private code to a cloud.",
    )
    root.add_argument("--version", action="version", version=f"localroute {__version__}")
    # A parser of one command alone still names every command in its usage line.
    every = None if only is None else "{" + ",".join(COMMANDS) + "}"
    sub = root.add_subparsers(dest="command", metavar=every)

    if wanted("serve"):
        serve = sub.add_parser("serve", help="run the language server (stdio by default)")
        serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on a socket instead of stdio")
        serve.add_argument("--log-level", default="INFO", help="logging level")
        serve.add_argument("--log-file", type=Path, help="write the log here instead of stderr")

    if wanted("route"):
        route = sub.add_parser("route", help="print where a file would go, and why; sends nothing")
        route.add_argument("file", type=Path)
        route.add_argument("--task", default="review")
        route.add_argument("--format", choices=["text", "json"], default="text")
        route.add_argument("--probe", action="store_true", help="probe the backends first")

    if wanted("review"):
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
            "paths",
            nargs="*",
            type=Path,
            help="files and folders (with --changed-since: to narrow)",
        )
        review.add_argument(
            "--jobs", type=int, default=8, help="files reviewed at once (default 8)"
        )
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

    if wanted("status"):
        status = sub.add_parser("status", help="probe every backend and print up/down, latency")
        status.add_argument("--format", choices=["text", "json"], default="text")

    if wanted("start"):
        start = sub.add_parser(
            "start", help="run a backend's start_command and wait until it is up"
        )
        start.add_argument("backend")
        start.add_argument(
            "--wait", type=float, default=120.0, help="seconds to wait (default 120)"
        )

    if wanted("stop"):
        stop = sub.add_parser("stop", help="run a backend's stop_command (free the GPU)")
        stop.add_argument("backend")

    if wanted("login"):
        login = sub.add_parser("login", help="sign in to a service: copilot")
        login.add_argument("service", choices=["copilot"])
        login.add_argument("--backend", default="copilot", help="backend whose login_url to use")

    if wanted("audit"):
        audit = sub.add_parser("audit", help="summarise the audit log: what left the machine")
        audit.add_argument("--since", default=None, help="only the last 7d, 12h, 30m …")
        audit.add_argument("--format", choices=["table", "json"], default="table")
        audit.add_argument("--path", type=Path, help="the audit log (default: from configuration)")

    if wanted("eval"):
        from localroute.evaluation.command import add_parser as add_eval_parser

        add_eval_parser(sub)

    if wanted("model"):
        model = sub.add_parser("model", help="the embedded local model: serve")
        model_serve = model.add_subparsers(dest="model_command", required=True).add_parser(
            "serve", help="run the embedded model on 127.0.0.1 until Ctrl-C or SIGTERM"
        )
        model_serve.add_argument("--port", type=int, default=8080, help="default 8080")
        model_serve.add_argument("--context-tokens", type=int, default=4096, help="default 4096")
        model_serve.add_argument(
            "--log", type=Path, help="default: $TMPDIR/localroute-model-PORT.log"
        )

    if wanted("config"):
        config = sub.add_parser("config", help="configuration: schema | check")
        config_sub = config.add_subparsers(dest="config_command")
        config_sub.add_parser("schema", help="print the JSON Schema of the configuration file")
        check = config_sub.add_parser("check", help="validate a configuration file")
        check.add_argument("path", nargs="?", type=Path, help="default: the user file")
    return root
