"""The command line builds only the parser of the command it is given: what a user sees
(help, usage lines, errors, parsed arguments) is the same as from the whole parser."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from localroute import cli, cli_parser

# One ordinary command line per command, and a few that argparse refuses.
COMMAND_LINES = [
    ["serve", "--tcp", "127.0.0.1:2087", "--log-level", "DEBUG"],
    ["route", "a.py", "--format", "json", "--probe"],
    ["review", "src", "--format", "sarif", "--jobs", "3", "--changed-since", "HEAD~2"],
    ["status", "--format", "json"],
    ["start", "local", "--wait", "5"],
    ["stop", "local"],
    ["login", "copilot"],
    ["audit", "--since", "7d", "--format", "json"],
    ["eval", "local:coder", "--language", "python", "--limit", "2"],
    ["model", "serve", "--port", "8081"],
    ["config", "check", "c.toml"],
    ["config"],
]
REFUSED = [
    ["review", "--format", "xml"],
    ["review", "--bogus"],
    ["route"],
    ["login", "gitlab"],
    ["model"],
    ["start"],
]


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
    """What parsing ``argv`` gives: the namespace or the exit status, and the output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


def test_the_whole_parser_has_exactly_the_listed_commands() -> None:
    # A command added to the parser but not to COMMANDS would be built by no parser of
    # one command, and its first word would take the whole parser's path.
    sub = next(a for a in cli_parser.parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == cli_parser.COMMANDS


@pytest.mark.parametrize("argv", COMMAND_LINES + REFUSED, ids=" ".join)
def test_a_command_parses_as_with_the_whole_parser(argv: list[str]) -> None:
    only = cli_parser.command_of(argv)
    assert only == argv[0]
    assert _parse(cli_parser.parser(only), argv) == _parse(cli_parser.parser(), argv)


@pytest.mark.parametrize("command", cli_parser.COMMANDS)
def test_a_commands_help_is_the_same(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    argv = [command, "--help"]
    alone = _parse(cli_parser.parser(command), argv)
    assert alone == _parse(cli_parser.parser(), argv)
    assert alone[0] == ("exit", 0) and f"usage: localroute {command}" in alone[1]


def test_a_parser_of_one_command_names_every_command_in_its_usage() -> None:
    usage = cli_parser.parser("review").format_usage()
    assert usage == cli_parser.parser().format_usage()
    assert "{serve,route,review,status" in usage


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h", "review"], ["bogus"], ["--version"]])
def test_no_command_first_takes_the_whole_parser(argv: list[str]) -> None:
    assert cli_parser.command_of(argv) is None


@pytest.mark.parametrize("argv", [["config"], []])
def test_a_run_that_prints_the_whole_help_prints_all_of_it(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed == cli_parser.parser().format_help()
    assert "review files and folders in parallel" in printed  # each command's own line
