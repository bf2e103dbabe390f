"""Reports shared by the language server and the command line: routes and backend status."""

from __future__ import annotations

from typing import Any

from localroute.pipeline import Pipeline, TaskRequest
from localroute.routing.router import private_localities


def route_report(pipeline: Pipeline, request: TaskRequest) -> dict[str, Any]:
    """The routing decision for a request and its reasons; nothing is sent."""
    decision = pipeline.decide(request)
    predicted = pipeline.predicted(decision)
    candidates = [
        {
            "backend": c.backend,
            "model": c.model,
            "locality": c.locality,
            "state": pipeline.health.state(c.backend),
        }
        for c in decision.candidates
    ]
    if predicted is not None:
        summary = f"{request.task} → {predicted.label()}"
    elif decision.private:
        allowed = " or ".join(sorted(private_localities(pipeline.config)))
        summary = f"{request.task} → refused: private, no {allowed} backend available"
    else:
        summary = f"{request.task} → no backend available"
    return {
        "task": request.task,
        "uri": request.uri,
        "private": decision.private,
        "reasons": list(decision.verdict.reasons),
        "candidates": candidates,
        "skipped": [{"entry": s.entry, "reason": s.reason} for s in decision.skipped],
        "predicted": None
        if predicted is None
        else {
            "backend": predicted.backend,
            "model": predicted.model,
            "locality": predicted.locality,
        },
        "reason": decision.why(),
        "summary": summary,
    }


async def status_report(pipeline: Pipeline) -> dict[str, Any]:
    """Probe every backend now (bounded by each connect timeout) and report."""
    config = pipeline.config
    localities = pipeline.localities()
    healths = await pipeline.health.probe_all(list(config.backends))

    def latency(name: str) -> float | None:
        value = healths[name].latency_ms
        return None if value is None else round(value, 1)

    backends = [
        {
            "name": name,
            "kind": backend.kind,
            "locality": localities[name],
            "url": backend.endpoint,
            "up": healths[name].state == "up",
            "detail": healths[name].detail,
            "latency_ms": latency(name),
            "models": list(healths[name].models),
            "start_command": backend.start_command,
        }
        for name, backend in config.backends.items()
    ]
    tasks = {
        name: {"route": list(task.route), "route_private": task.route_private}
        for name, task in config.tasks.items()
    }
    return {"backends": backends, "tasks": tasks}
