"""Reports shared by the language server and the command line: routes and backend status."""

from __future__ import annotations

from localroute import contract
from localroute.config.locality import display_url, endpoint_localities
from localroute.config.models import BackendConfig
from localroute.pipeline import Pipeline, TaskRequest


def route_report(pipeline: Pipeline, request: TaskRequest) -> contract.RouteResult:
    """The routing decision for a request and its reasons; nothing is sent."""
    decision = pipeline.decide(request)
    predicted = pipeline.predicted(decision)
    candidates: list[contract.RouteCandidate] = [
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
        allowed = " or ".join(sorted(request.verdict.localities))
        summary = f"{request.task} → refused: private, no {allowed} backend available"
    else:
        summary = f"{request.task} → no backend available"
    root = request.document.policy.root
    return {
        "task": request.task,
        "uri": request.uri,
        "private": decision.private,
        "reasons": list(decision.verdict.reasons),
        "root": root.path if root else None,
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


def _cli_details(pipeline: Pipeline, name: str, kind: str) -> contract.CliDetails:
    """A command backend's executable and version, as its probe found them."""
    if kind != "command":
        return {"executable": None, "version": None}
    backend = pipeline.backend(name)
    backend = getattr(backend, "inner", backend)  # the privacy gate's wrapper
    return {
        "executable": getattr(backend, "executable", None),
        "version": getattr(backend, "version", None),
    }


def _endpoints(
    pipeline: Pipeline, name: str, config: BackendConfig
) -> list[contract.EndpointStatus]:
    """Each URL of a backend: what its last probe or request said, and its load now."""
    known = pipeline.health.endpoints(name)
    localities = endpoint_localities(config)
    in_flight = pipeline.pool.in_flight(name)
    endpoints: list[contract.EndpointStatus] = []
    for url in config.endpoints:
        health = known.get(url)
        endpoints.append(
            {
                "url": display_url(url),
                "locality": localities[url],
                "state": health.state if health else "unknown",
                "detail": health.detail if health else "not checked yet",
                "latency_ms": None
                if health is None or health.latency_ms is None
                else round(health.latency_ms, 1),
                "in_flight": in_flight.get(url, 0),
            }
        )
    return endpoints


async def status_report(pipeline: Pipeline) -> contract.StatusResult:
    """Probe every backend now (bounded by each connect timeout) and report."""
    config = pipeline.config
    localities = pipeline.localities()
    healths = await pipeline.health.probe_all(list(config.backends))

    def latency(name: str) -> float | None:
        value = healths[name].latency_ms
        return None if value is None else round(value, 1)

    backends: list[contract.BackendStatus] = []
    for name, backend in config.backends.items():
        up = healths[name].state == "up"
        service = pipeline.services.get(name)
        state = "up" if up else service if service in ("starting", "stopped") else "down"
        backends.append(
            {
                "name": name,
                "kind": backend.kind,
                "locality": localities[name],
                "url": display_url(backend.endpoint) if backend.endpoint else None,
                "endpoints": _endpoints(pipeline, name, backend),
                "up": up,
                "state": state,
                "detail": healths[name].detail,
                "latency_ms": latency(name),
                "models": list(healths[name].models),
                "start_command": backend.start_command,
                "stop_command": backend.stop_command,
                **_cli_details(pipeline, name, backend.kind),
            }
        )
    tasks: dict[str, contract.TaskRoute] = {
        name: {"route": list(task.route), "route_private": task.route_private}
        for name, task in config.tasks.items()
    }
    problems = [str(p) for p in pipeline.store.problems() if p.severity == "error"]
    return {"backends": backends, "tasks": tasks, "problems": problems}


def status_text(report: contract.StatusResult) -> str:
    """`localroute status` as text: a line per backend (with its endpoints, and what to do
    when it is down), then each task's route."""
    lines: list[str] = []
    for b in report["backends"]:
        latency = f"{b['latency_ms']:.0f} ms" if b["latency_ms"] is not None else "-"
        models = ", ".join(b["models"][:8]) or "-"
        lines.append(
            f"{b['name']:<12} {b['kind']:<9} {b['locality']:<16} {b['state']:<8} {latency:>8}  "
            f"{b['url'] or b['executable'] or ''}  models: {models}"
        )
        if b["version"]:
            lines.append(f"{'':<12} version: {b['version']}")
        for e in b["endpoints"] if len(b["endpoints"]) > 1 else ():
            took = f"{e['latency_ms']:.0f} ms" if e["latency_ms"] is not None else "-"
            load = f"{e['in_flight']} in flight"
            lines.append(f"{'':<12} {e['url']}  {e['state']} {took}  {load}  {e['detail']}")
        if not b["up"]:
            lines.append(f"{'':<12} {b['detail']}")
            if b["start_command"]:
                lines.append(f"{'':<12} start it: localroute start {b['name']}")
    lines += [f"task {name}: {' → '.join(task['route'])}" for name, task in report["tasks"].items()]
    return "\n".join(lines)
