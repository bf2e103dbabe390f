"""Reading a command's one object argument: every field checked, every error named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from localroute.contract import EXPLAIN, REQUEST_FAILED, REVIEW


class RequestFailedError(JsonRpcException):
    CODE = REQUEST_FAILED


@dataclass(frozen=True)
class Target:
    uri: str
    start_line: int | None
    end_line: int | None
    refresh: bool
    consent: str | None = None


def argument(args: tuple[Any, ...], command: str) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f'{command} takes one object argument, e.g. {{"uri": ...}}')
    return args[0]


def _line(value: Any, where: str) -> int:
    line_value = value.get("line") if isinstance(value, dict) else None
    if not isinstance(line_value, int) or isinstance(line_value, bool):
        raise JsonRpcInvalidParams(f"{where} must be a position {{line, character}}")
    line: int = value["line"]
    if line < 0:
        raise JsonRpcInvalidParams(f"{where}.line must not be negative")
    return line


def parse_target(args: tuple[Any, ...], command: str) -> Target:
    arg = argument(args, command)
    uri = arg.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams(f"{command}: 'uri' must be a non-empty string")
    refresh = arg.get("refresh", False)
    if not isinstance(refresh, bool):
        raise JsonRpcInvalidParams(f"{command}: 'refresh' must be true or false")
    consent = arg.get("consent")
    if consent is not None and (not isinstance(consent, str) or not consent):
        raise JsonRpcInvalidParams(f"{command}: 'consent' must be a token from a refusal")
    selection = arg.get("range")
    if selection is None:
        return Target(uri, None, None, refresh, consent)
    if not isinstance(selection, dict):
        raise JsonRpcInvalidParams(f"{command}: 'range' must be a Range or null")
    start = _line(selection.get("start"), "range.start")
    end = _line(selection.get("end"), "range.end")
    if end < start:
        start, end = end, start
    end_character = selection["end"].get("character", 0)
    # A selection that ends at the start of a line does not include that line.
    if end > start and end_character == 0:
        end -= 1
    return Target(uri, start, end, refresh, consent)


def task_name(tasks: dict[str, Any], args: tuple[Any, ...], command: str, output: str) -> str:
    """The task named in the argument (default: the command's own), checked for its output."""
    default = "review" if command == REVIEW else "explain"
    name = argument(args, command).get("task", default)
    task = tasks.get(name) if isinstance(name, str) else None
    if task is None:
        raise JsonRpcInvalidParams(f"{command}: unknown task {name!r}")
    if task.output_kind(name) != output:
        other = EXPLAIN if command == REVIEW else REVIEW
        raise JsonRpcInvalidParams(
            f"{command}: task {name!r} shows a {task.output_kind(name)}; use {other}"
        )
    return str(name)


def backend_name(args: tuple[Any, ...], command: str) -> str:
    name = argument(args, command).get("backend")
    if not isinstance(name, str) or not name:
        raise JsonRpcInvalidParams(f"{command}: 'backend' must be a backend name")
    return name
