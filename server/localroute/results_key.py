"""What the answer cache may hold, and the key an answer is stored under: pure functions
(no disk), described in :mod:`localroute.results_cache`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from localroute import __version__
from localroute.config.locality import effective_locality
from localroute.config.models import BackendConfig
from localroute.privacy.redact import redact
from localroute.requests import TaskOutcome, TaskRequest
from localroute.routing.router import Candidate
from localroute.tasks.findings import SEVERITIES, Finding, Prompt, Severity

FORMAT = 2
"""Bumped when the stored shape or the key changes, or what is stored must be made anew:
older entries then never match. 2: explanations are stored defused (no image, no raw
HTML), and ones stored before must not be shown."""

PRIVATE_LOCALITIES = frozenset({"local", "private-network"})

NOT_ANSWER_SETTINGS = frozenset(
    {
        "locality",  # the effective locality is part of the key on its own
        "max_concurrency",
        "max_queue",
        "timeout_s",
        "connect_timeout_s",
        "max_requests_per_hour",
        "max_tokens_per_hour",
        "start_command",
        "stop_command",
        "api_key_env",
        "oauth_token_env",
        "token_url",
        "login_url",
        "probe_argv",
        "cwd",
    }
)
"""Backend keys that change how or whether a request is sent, never what is answered.
Every other key — also one added later — is part of the key (a safe default)."""

# -- the rule and the key (pure) ----------------------------------------------------------


def may_store(request: TaskRequest, candidate: Candidate, outcome: TaskOutcome) -> bool:
    """Whether this answer may be written to disk (see the module docstring)."""
    if outcome.consented or request.consent is not None:
        return False
    if request.verdict.private:
        return (
            candidate.locality in PRIVATE_LOCALITIES
            and candidate.locality in request.verdict.localities
        )
    return True


def may_answer(request: TaskRequest, candidate: Candidate) -> bool:
    """Whether a stored answer of ``candidate`` may answer ``request`` (a second check on
    top of the decision, which already left out what the request may not use)."""
    if request.consent is not None or request.refresh:
        return False
    if request.verdict.private:
        return candidate.locality in PRIVATE_LOCALITIES & request.verdict.localities
    return request.allow_cloud or candidate.locality != "cloud"


_MEMO_SIZE = 64
_memo: dict[int, tuple[object, str]] = {}
"""Canonical JSON of recent backend configurations and JSON Schemas, by identity (the
object is kept, so its identity is not reused): they are the same objects request after
request, and dumping them for every key costs more than the rest of the key."""


def _remembered(value: object, make: Callable[[], str]) -> str:
    found = _memo.get(id(value))
    if found is not None and found[0] is value:
        return found[1]
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    text = make()
    _memo[id(value)] = (value, text)
    return text


def backend_fingerprint(config: BackendConfig) -> str:
    """The settings of a backend that can change its answers, as canonical JSON."""
    return _remembered(config, lambda: _fingerprint(config))


def _fingerprint(config: BackendConfig) -> str:
    settings = config.model_dump(mode="json", exclude=set(NOT_ANSWER_SETTINGS))
    if isinstance(settings.get("urls"), list):
        # Endpoints of one backend serve the same models: their order changes no answer.
        settings["urls"] = sorted(settings["urls"])
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def answer_key(request: TaskRequest, prompt: Prompt, candidate: Candidate) -> str | None:
    """The digest an answer of ``candidate`` to this prompt is stored under; None when the
    backend is not configured (nothing to key on)."""
    config = request.document.policy.config
    backend = config.backends.get(candidate.backend)
    task = config.tasks.get(request.task)
    if backend is None or task is None:
        return None
    fields: Sequence[str] = (
        str(FORMAT),
        __version__,
        request.task,
        task.output_kind(request.task),
        str(task.max_tokens),
        prompt.system,
        prompt.user,
        _remembered(prompt.json_schema, lambda: json.dumps(prompt.json_schema, sort_keys=True)),
        candidate.backend,
        candidate.model,
        effective_locality(backend),
        backend_fingerprint(backend),
    )
    digest = hashlib.sha256()
    for field in fields:
        data = field.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def encode(outcome: TaskOutcome) -> str:
    """The stored form of an answer: redacted, without the prompt or the code."""
    value: dict[str, Any] = {
        "task": outcome.task,
        "backend": outcome.backend,
        "model": outcome.model,
        "locality": outcome.locality,
        "reason": redact(outcome.reason),
        "first_line": outcome.first_line,
        "last_line": outcome.last_line,
        "findings": [
            {
                "line": f.line,
                "end_line": f.end_line,
                "severity": f.severity,
                "message": redact(f.message),
                "suggestion": None if f.suggestion is None else redact(f.suggestion),
            }
            for f in outcome.findings
        ],
        "markdown": None if outcome.markdown is None else redact(outcome.markdown),
    }
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def decode(text: str) -> TaskOutcome:
    """An answer read back (``cached`` set); ValueError/KeyError/TypeError if malformed."""
    value = json.loads(text)
    findings = tuple(
        Finding(
            line=int(f["line"]),
            end_line=int(f["end_line"]),
            severity=_severity(f["severity"]),
            message=str(f["message"]),
            suggestion=None if f["suggestion"] is None else str(f["suggestion"]),
        )
        for f in value["findings"]
    )
    if value["locality"] not in ("local", "private-network", "cloud"):
        raise ValueError("unknown locality")
    return TaskOutcome(
        task=str(value["task"]),
        backend=str(value["backend"]),
        model=str(value["model"]),
        locality=value["locality"],
        reason=str(value["reason"]),
        cached=True,
        first_line=int(value["first_line"]),
        last_line=int(value["last_line"]),
        findings=findings,
        markdown=None if value["markdown"] is None else str(value["markdown"]),
    )


def _severity(value: object) -> Severity:
    for severity in SEVERITIES:
        if value == severity:
            return severity
    raise ValueError(f"unknown severity {value!r}")
