"""The routing decision: which backends may see this code, in which order.

Pure: it takes the configuration, the privacy verdict and what is known of
availability, and returns a value. The fallback loop that acts on it is in
:mod:`localroute.pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from localroute.config.models import COPILOT, Config, Locality
from localroute.privacy.classify import PrivacyVerdict

Availability = str  # "up" | "down" | "unknown"


@dataclass(frozen=True)
class Candidate:
    """One entry of a route that may take the request: a backend and its model."""

    backend: str
    model: str
    locality: Locality

    @property
    def entry(self) -> str:
        return f"{self.backend}:{self.model}"

    def label(self) -> str:
        """`coder @ local`, or `claude-sonnet-4.5 @ copilot (cloud)` away from this machine."""
        where = "" if self.locality == "local" else f" ({self.locality})"
        return f"{self.model} @ {self.backend}{where}"


@dataclass(frozen=True)
class Skipped:
    """A route entry left out, and why."""

    entry: str
    reason: str
    privacy: bool = field(default=False, compare=False)
    """Left out because the code is private (not for availability or size)."""


@dataclass(frozen=True)
class RouteDecision:
    """Where a request may go, in order, and why the other entries were left out."""

    task: str
    verdict: PrivacyVerdict
    candidates: tuple[Candidate, ...]
    skipped: tuple[Skipped, ...]

    @property
    def private(self) -> bool:
        return self.verdict.private

    def predicted(self, availability: Callable[[str], Availability]) -> Candidate | None:
        """The first candidate not known to be down (unknown counts as up)."""
        for candidate in self.candidates:
            if availability(candidate.backend) != "down":
                return candidate
        return None

    def why(self) -> str:
        """Why these candidates, in one line (privacy first, then what was left out)."""
        head = f"private ({self.verdict.summary})" if self.private else "not private"
        if self.skipped:
            skipped = "; ".join(f"{s.entry}: {s.reason}" for s in self.skipped)
            return f"{head}; skipped {skipped}"
        return head


def private_localities(config: Config) -> frozenset[Locality]:
    if config.privacy.allow_private_network:
        return frozenset({"local", "private-network"})
    return frozenset({"local"})


def decide(
    config: Config,
    task: str,
    verdict: PrivacyVerdict,
    localities: Mapping[str, Locality],
    *,
    allow_cloud: bool = True,
    consent_backend: str | None = None,
) -> RouteDecision:
    """The ordered, privacy-filtered candidates for a task.

    ``localities`` maps each configured backend name to its effective locality. Private
    code goes only where its verdict allows (``verdict.localities``), whatever
    ``route_private`` says: that list can narrow the route, never widen it. Without
    ``allow_cloud`` (bulk runs) cloud backends are left out for any code. With
    ``consent_backend`` (the user allowed this one send) the only candidate is that
    backend's first entry in the task's route.
    """
    task_config = config.tasks.get(task)
    if task_config is None:
        return RouteDecision(task, verdict, (), (Skipped(task, "no such task configured"),))
    if consent_backend is not None:
        return _consented(task, verdict, task_config.route, localities, consent_backend)
    entries = task_config.route
    if verdict.private and task_config.route_private is not None:
        entries = task_config.route_private
    # Both what the verdict allows and what this configuration allows private code.
    allowed = verdict.localities & private_localities(config) if verdict.private else None

    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    for entry in entries:
        backend, _, model = entry.partition(":")
        locality = localities.get(backend)
        if locality is None and backend == COPILOT:
            skipped.append(Skipped(entry, "no Copilot token (run `localroute login copilot`)"))
        elif locality is None:
            skipped.append(Skipped(entry, f"backend '{backend}' is not configured"))
        elif allowed is not None and locality not in allowed:
            skipped.append(
                Skipped(entry, f"{locality} backend may not receive private code", privacy=True)
            )
        elif not allow_cloud and locality == "cloud":
            skipped.append(Skipped(entry, "bulk review stays local unless cloud is allowed"))
        elif any(c.entry == entry for c in candidates):
            continue
        else:
            candidates.append(Candidate(backend, model, locality))
    return RouteDecision(task, verdict, tuple(candidates), tuple(skipped))


def _consented(
    task: str,
    verdict: PrivacyVerdict,
    route: list[str],
    localities: Mapping[str, Locality],
    backend: str,
) -> RouteDecision:
    for entry in route:
        name, _, model = entry.partition(":")
        locality = localities.get(name)
        if name == backend and locality is not None:
            return RouteDecision(task, verdict, (Candidate(name, model, locality),), ())
    return RouteDecision(task, verdict, (), (Skipped(backend, "not in the task's route"),))


def first_cloud_backend(
    config: Config, task: str, localities: Mapping[str, Locality]
) -> str | None:
    """The first cloud backend of the task's route (what a consent offer names)."""
    task_config = config.tasks.get(task)
    for entry in task_config.route if task_config else []:
        name = entry.partition(":")[0]
        if localities.get(name) == "cloud":
            return name
    return None


def privacy_blocked(decision: RouteDecision) -> bool:
    """Whether privacy (not availability) kept a backend of the route out."""
    return any(s.privacy for s in decision.skipped)


def fit_window(
    decision: RouteDecision, needed_tokens: int, window: Callable[[Candidate], int | None]
) -> RouteDecision:
    """Skip candidates whose known context window cannot hold the prompt and the answer.

    A candidate whose window is unknown stays: the backend's own error is the answer.
    """
    kept: list[Candidate] = []
    skipped = list(decision.skipped)
    for candidate in decision.candidates:
        size = window(candidate)
        if size is not None and size < needed_tokens:
            skipped.append(
                Skipped(
                    candidate.entry,
                    f"prompt needs ~{needed_tokens} tokens, its context window is {size}",
                )
            )
        else:
            kept.append(candidate)
    if len(kept) == len(decision.candidates):
        return decision
    return RouteDecision(decision.task, decision.verdict, tuple(kept), tuple(skipped))
