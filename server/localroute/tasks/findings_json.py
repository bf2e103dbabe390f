"""Finding the list of findings in a model's answer: JSON alone, in a fence, in prose, as a
bare array, or broken (trailing commas, single quotes, cut off by a token limit).

Well-formed JSON is read with the standard library, left to right; what does not decode is
handed to ``json-repair``. Only findings that were complete in the answer are kept: the
last one of a list cut off mid-way is dropped rather than shown half-written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

FINDINGS_KEYS = ("findings", "issues", "problems", "results", "comments", "diagnostics")
LINE_KEYS = ("line", "line_number", "lineno", "line_no", "start_line", "line_start", "start")
END_KEYS = ("end_line", "line_end", "end_line_number", "endline", "end")
SEVERITY_KEYS = ("severity", "level", "priority", "type", "kind")
MESSAGE_KEYS = ("message", "text", "description", "issue", "comment", "msg", "problem")
SUGGESTION_KEYS = ("suggestion", "fix", "suggested_fix", "recommendation", "solution")

# Scanning for JSON is quadratic in the worst case; a review answer is a few thousand
# characters (the backends cap output tokens), so longer ones are read as truncated.
MAX_SCAN_CHARS = 20_000
# json-repair reads the rest of the text from each place it is tried at, and slows down
# badly on long text that is no JSON at all: it is tried only where findings seem to begin,
# at a few places, on a bounded stretch.
_MAX_REPAIR_STARTS = 4
_MAX_REPAIR_CHARS = 12_000

_FENCE_RE = re.compile(r"\A(`{3,}|~{3,})[^\n]*\n(?P<body>.*?)\n?\1\s*\Z", re.DOTALL)
_CAMEL_HUMP_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Where a repair may start: an object whose first key is one of a findings list or of a
# finding (quoted or not), or an array of objects.
_FINDINGS_START_RE = re.compile(
    r"""\{\s*["']?(?:"""
    + "|".join((*FINDINGS_KEYS, *LINE_KEYS, *MESSAGE_KEYS, *SEVERITY_KEYS))
    + r""")["']?\s*:|\[\s*\{""",
    re.IGNORECASE,
)
_TAIL_JUNK = " \t\r\n,`~"
_LIST_CLOSE_RE = re.compile(r"\}\s*\]")


def extract_raw_findings(text: str) -> list[Any] | None:
    """The raw findings list found in ``text``, or ``None`` when there is none."""
    text = text[:MAX_SCAN_CHARS]
    # A bare empty array counts only when it is the whole answer: "[]" inside prose is more
    # likely code than a verdict.
    if _strip_fence(text).strip() == "[]":
        return []
    found, single = _best_candidate(_decode_all(text))
    if found is not None:
        return found
    # A lone finding-shaped object ranks below a repaired findings list: the elements of
    # a list cut short decode as lone objects too.
    return _repaired(text) or single


def normalized(value: Mapping[Any, Any]) -> dict[str, Any]:
    """Keys in snake case: ``End-Line``, ``end line`` and ``endLine`` become ``end_line``."""
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if isinstance(key, str):
            snake = _CAMEL_HUMP_RE.sub("_", key.strip())
            out.setdefault(snake.lower().replace("-", "_").replace(" ", "_"), inner)
    return out


def looks_like_finding(value: Mapping[str, Any]) -> bool:
    keys = normalized(value)
    has_message = any(key in keys for key in MESSAGE_KEYS)
    return has_message and any(key in keys for key in (*LINE_KEYS, *SEVERITY_KEYS))


def _strip_fence(text: str) -> str:
    match = _FENCE_RE.match(text)
    return match.group("body") if match else text


def _decode_all(text: str) -> Iterator[Any]:
    """Every JSON object or array that decodes starting at some ``{``/``[``, left to right.

    A decoded value's inside is not searched again (its nested values are reachable through
    the value itself).
    """
    decoder = json.JSONDecoder()
    start = _next_open(text, 0)
    while start is not None:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = _next_open(text, start + 1)
            continue
        yield value
        start = _next_open(text, end)


def _best_candidate(values: Iterator[Any]) -> tuple[list[Any] | None, list[Any] | None]:
    """The findings of the first object with a findings key, else of the first array of
    findings; and separately the first lone finding-shaped object, as a one-item list."""
    array: list[Any] | None = None
    single: list[Any] | None = None
    for value in values:
        found = _findings_of(value)
        if found is not None:
            return found, single
        if array is None and isinstance(value, list) and _is_findings_array(value):
            array = value
        if single is None and isinstance(value, dict) and looks_like_finding(value):
            single = [value]
    return array, single


def _findings_of(value: Any, depth: int = 0) -> list[Any] | None:
    """The findings list of an object (or of an object nested one level down)."""
    if not isinstance(value, dict):
        return None
    keys = normalized(value)
    for key in FINDINGS_KEYS:
        if key in keys:
            inner = keys[key]
            if isinstance(inner, list):
                return inner
            if inner is None:
                return []
            if isinstance(inner, dict):
                return [inner]
    if depth == 0:
        for inner in value.values():
            found = _findings_of(inner, depth + 1)
            if found is not None:
                return found
    return None


def _is_findings_array(value: list[Any]) -> bool:
    return (
        bool(value)
        and all(isinstance(item, dict) for item in value)
        and any(looks_like_finding(item) for item in value)
    )


def _usable(found: list[Any]) -> bool:
    return any(
        isinstance(item, str) or (isinstance(item, dict) and looks_like_finding(item))
        for item in found
    )


def _repaired(text: str) -> list[Any] | None:
    """The findings of broken or truncated JSON, read by ``json-repair``.

    Only a result holding at least one finding-shaped object counts: repairing
    ``{"findings": [`` into an empty list would silently lose the answer.
    """
    # Imported here: most answers are well-formed JSON, and json-repair costs 1.5 MiB and
    # 23 modules that a server would otherwise hold from its start.
    import json_repair

    starts = _FINDINGS_START_RE.finditer(text)
    for match, _ in zip(starts, range(_MAX_REPAIR_STARTS), strict=False):
        region = text[match.start() : match.start() + _MAX_REPAIR_CHARS]
        try:
            value = json_repair.loads(region)
        except Exception:  # a repair that fails is one candidate less, never an error
            continue
        found = _findings_of(value)
        if found is None and isinstance(value, list) and _is_findings_array(value):
            found = value
        if not found:
            continue
        if _last_item_cut(region, found):
            found = found[:-1]
        # Repair turns stray words into strings; only objects are findings here.
        found = [item for item in found if isinstance(item, dict)]
        if _usable(found):
            return found
    return None


def _last_item_cut(region: str, found: list[Any]) -> bool:
    """Whether the answer ended inside the last finding (a token limit cut it off).

    The list was closed when some ``}`` is followed by ``]`` (the end of a list of objects);
    otherwise its last item is complete only if the text ends right after a ``}`` (trailing
    commas, whitespace and a closing fence aside).
    """
    if not found or not isinstance(found[-1], dict):
        return False
    if _LIST_CLOSE_RE.search(region):
        return False
    return not region.rstrip(_TAIL_JUNK).endswith("}")


def _next_open(text: str, pos: int) -> int | None:
    starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
    return min(starts) if starts else None
