"""The `localroute.*` LSP commands: their names, arguments and results, defined once.

Editor clients depend on these shapes. `scripts/gen_ts_contract.py` turns this module
into `client-vscode/src/common/contract.ts`, and a test fails when the two drift.
Each command takes one object argument; the handlers in :mod:`localroute.lsp.commands`
and :mod:`localroute.lsp.bulk` validate it and name the field that is wrong.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

REVIEW = "localroute.review"
EXPLAIN = "localroute.explain"
ROUTE = "localroute.route"
STATUS = "localroute.status"
CLEAR = "localroute.clear"
REVIEW_FILES = "localroute.reviewFiles"
START_BACKEND = "localroute.startBackend"
STOP_BACKEND = "localroute.stopBackend"

COMMANDS: dict[str, str] = {
    REVIEW: "Review a file or a selection; findings are published as diagnostics.",
    EXPLAIN: "Explain a file or a selection; the markdown also shows on hover.",
    ROUTE: "Where a request would go and why; nothing is sent.",
    STATUS: "Every backend (up or down, latency, models) and every task's route.",
    CLEAR: "Remove localroute's diagnostics and explanations from a file.",
    REVIEW_FILES: "Review many files (a folder, changed files) with the shell's rules.",
    START_BACKEND: "Run a backend's start_command and wait until it answers.",
    STOP_BACKEND: "Run a backend's stop_command; the backend is down at once.",
}
"""Every command the server answers, with what it does (the docs list is made from it)."""

REQUEST_FAILED = -32803
"""JSON-RPC error code of a refused or failed command (LSP's RequestFailed)."""

Locality = Literal["local", "private-network", "cloud"]


class Position(TypedDict):
    line: int
    character: int


class Range(TypedDict):
    start: Position
    end: Position


class TaskArgs(TypedDict):
    """`localroute.review`, `localroute.explain` (and custom tasks through them)."""

    uri: str
    range: NotRequired[Range | None]
    """null or absent: the whole file."""
    refresh: NotRequired[bool]
    """Skip the result cache."""
    task: NotRequired[str]
    """A custom task of the same output kind; default `review` / `explain`."""
    consent: NotRequired[str]
    """A token from a refusal's `data.consent`: send this one request anyway."""


class RouteArgs(TypedDict):
    uri: str
    task: NotRequired[str]
    range: NotRequired[Range | None]


class UriArgs(TypedDict):
    uri: str


class ReviewFilesArgs(TypedDict):
    uris: NotRequired[list[str]]
    """Files or folders; default: every workspace folder."""
    glob: NotRequired[str]
    """Relative to the workspace folder, instead of `uris`."""
    jobs: NotRequired[int]
    refresh: NotRequired[bool]
    allowCloud: NotRequired[bool]
    """Bulk review stays on local and private-network backends unless this is true."""
    changedSince: NotRequired[str]
    """A git ref: review only what changed since it."""


class BackendArgs(TypedDict):
    backend: str


class EmptyArgs(TypedDict):
    pass


class TaskResult(TypedDict):
    backend: str
    model: str
    locality: Locality
    reason: str
    cached: bool
    consented: bool


class ReviewResult(TaskResult):
    findings: int
    """How many findings were published."""


class ExplainResult(TaskResult):
    markdown: str


class Accepted(TypedDict):
    """The answer of `localroute.review`/`localroute.explain` when results are delivered
    later (`initializationOptions.deliverResultsLater`, on by default for clients without
    work-done progress): findings arrive as diagnostics, explanations as hover and a
    `window/showMessage`."""

    accepted: bool
    uri: str
    task: str
    delivery: Literal["diagnostics", "hover"]


class RouteCandidate(TypedDict):
    backend: str
    model: str
    locality: Locality
    state: str


class RouteSkipped(TypedDict):
    entry: str
    reason: str


class RoutePrediction(TypedDict):
    backend: str
    model: str
    locality: Locality


class RouteResult(TypedDict):
    task: str
    uri: str
    private: bool
    reasons: list[str]
    root: str | None
    candidates: list[RouteCandidate]
    skipped: list[RouteSkipped]
    predicted: RoutePrediction | None
    reason: str
    summary: str


class CliDetails(TypedDict):
    executable: str | None
    """A `command` backend's executable as its probe found it (None for other kinds)."""
    version: str | None
    """The first line its `--version` (or `probe_argv`) printed."""


class EndpointStatus(TypedDict):
    """One URL of a backend, as its last probe or request found it."""

    url: str
    locality: Locality
    """Where this URL runs; never more public than its backend's locality."""
    state: str
    """`up`, `down` or `unknown` (not probed nor used yet)."""
    detail: str
    latency_ms: float | None
    in_flight: int
    """Requests this server has running on it now."""


class BackendStatus(CliDetails):
    name: str
    kind: str
    locality: Locality
    url: str | None
    """The backend's URL (its first, with `urls`)."""
    endpoints: list[EndpointStatus]
    """Every URL of the backend (one, or those of `urls`); empty for kinds without."""
    up: bool
    state: str
    """`up`, `down`, `starting` or `stopped`."""
    detail: str
    latency_ms: float | None
    models: list[str]
    start_command: list[str] | None
    stop_command: list[str] | None


class TaskRoute(TypedDict):
    route: list[str]
    route_private: list[str] | None


class StatusResult(TypedDict):
    backends: list[BackendStatus]
    tasks: dict[str, TaskRoute]
    problems: list[str]
    """Configuration problems (file, key, reason)."""


class ClearResult(TypedDict):
    uri: str
    cleared: bool


class ReviewFilesResult(TypedDict):
    files: int
    done: int
    findings: int
    not_reviewed: int
    refused: int
    backends: dict[str, int]


class BackendResult(TypedDict):
    backend: str
    up: bool
    detail: str


class ConsentOfferData(TypedDict):
    token: str
    backend: str
    expires_in_s: int


class RefusalData(TypedDict):
    """`error.data` of a command refused for privacy (code :data:`REQUEST_FAILED`)."""

    consent: ConsentOfferData


ARGUMENTS: dict[str, type] = {
    REVIEW: TaskArgs,
    EXPLAIN: TaskArgs,
    ROUTE: RouteArgs,
    STATUS: EmptyArgs,
    CLEAR: UriArgs,
    REVIEW_FILES: ReviewFilesArgs,
    START_BACKEND: BackendArgs,
    STOP_BACKEND: BackendArgs,
}
"""The argument type of each command. (With ``from __future__ import annotations`` Python
3.11's ``__required_keys__`` counts ``NotRequired`` keys as required: read the fields with
``typing.get_type_hints(..., include_extras=True)``.)"""
