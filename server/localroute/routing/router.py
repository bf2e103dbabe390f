"""The routing decision: which backends may see this code, in which order.

Pure: it takes the configuration, the privacy verdict and what is known of
availability, and returns a value. The fallback loop that acts on it is in
:mod:`localroute.pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from localroute.config.models import Config, Locality
from localroute.privacy import PrivacyVerdict

Availability = str  # "up" | "down" | "unknown"


@dataclass(frozen=True)
class Candidate:
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
    entry: str
    reason: str


@dataclass(frozen=True)
class RouteDecision:
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
) -> RouteDecision:
    """The ordered, privacy-filtered candidates for a task.

    ``localities`` maps each configured backend name to its effective locality.
    For private code only the localities private code may use are kept, whatever
    ``route_private`` says: that list can narrow the route, never widen it.
    """
    task_config = config.tasks.get(task)
    if task_config is None:
        return RouteDecision(task, verdict, (), (Skipped(task, "no such task configured"),))
    entries = task_config.route
    if verdict.private and task_config.route_private is not None:
        entries = task_config.route_private
    allowed = private_localities(config) if verdict.private else None

    candidates: list[Candidate] = []
    skipped: list[Skipped] = []
    for entry in entries:
        backend, _, model = entry.partition(":")
        locality = localities.get(backend)
        if locality is None:
            skipped.append(Skipped(entry, f"backend '{backend}' is not configured"))
        elif allowed is not None and locality not in allowed:
            skipped.append(Skipped(entry, f"{locality} backend may not receive private code"))
        elif any(c.entry == entry for c in candidates):
            continue
        else:
            candidates.append(Candidate(backend, model, locality))
    return RouteDecision(task, verdict, tuple(candidates), tuple(skipped))


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
