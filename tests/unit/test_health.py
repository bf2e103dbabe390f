"""Backend availability: TTL'd "up", persistent "down", deduplicated probes, the recheck loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from localroute.backends.base import ProbeResult
from localroute.routing.health import BackendHealth, HealthMonitor

TTL = 0.05  # seconds; tests sleep a little past it


class ScriptedProber:
    """A prober whose answers are set per backend; counts calls and can be held open."""

    def __init__(self, result: ProbeResult | None = None) -> None:
        self.results: dict[str, ProbeResult] = {}
        self.default = result or ProbeResult(up=True, latency_ms=3.0, models=("coder",))
        self.calls: list[str] = []
        self.delay = 0.0
        self.gate: asyncio.Event | None = None
        self.cancelled = 0

    async def __call__(self, name: str) -> ProbeResult:
        self.calls.append(name)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.results.get(name, self.default)


def monitor(prober: ScriptedProber, *, ttl: float = TTL, recheck: float = 10.0) -> HealthMonitor:
    return HealthMonitor(prober, ttl_s=ttl, recheck_s=recheck)


async def wait_for(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def settle() -> None:
    """Let background tasks started with create_task run to completion."""
    for _ in range(5):
        await asyncio.sleep(0)


# --- what is known -----------------------------------------------------------------------


def test_unknown_before_anything_is_learned() -> None:
    health = monitor(ScriptedProber())
    assert health.state("local") == "unknown"
    assert health.health("local") == BackendHealth("unknown", "not checked yet")


def test_mark_down_is_down_with_its_detail() -> None:
    health = monitor(ScriptedProber())
    health.mark_down("local", "connection refused")
    assert health.state("local") == "down"
    assert health.health("local").state == "down"
    assert health.health("local").detail == "connection refused"


async def test_mark_down_persists_past_ttl() -> None:
    health = monitor(ScriptedProber())
    health.mark_down("local", "connection refused")
    await asyncio.sleep(TTL * 3)
    assert health.state("local") == "down"
    assert health.health("local").detail == "connection refused"


async def test_mark_down_replaces_a_fresh_up() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    await health.probe("local")
    assert health.state("local") == "up"
    health.mark_down("local", "HTTP 503")
    assert health.state("local") == "down"
    await asyncio.sleep(TTL * 2)
    assert health.state("local") == "down"


async def test_probe_that_says_up_clears_down() -> None:
    prober = ScriptedProber(ProbeResult(up=True, latency_ms=7.0, models=("coder", "tiny")))
    health = monitor(prober, ttl=60)
    health.mark_down("local", "connection refused")
    result = await health.probe("local")
    assert result.state == "up"
    assert result.latency_ms == 7.0
    assert result.models == ("coder", "tiny")
    assert health.state("local") == "up"
    assert health.health("local") == result


async def test_probe_that_says_down_marks_down_with_detail() -> None:
    prober = ScriptedProber(ProbeResult(up=False, detail="connect timeout"))
    health = monitor(prober)
    result = await health.probe("local")
    assert result.state == "down"
    assert result.detail == "connect timeout"
    assert health.state("local") == "down"


async def test_probe_down_without_detail_gets_a_default_detail() -> None:
    health = monitor(ScriptedProber(ProbeResult(up=False)))
    result = await health.probe("local")
    assert result.state == "down"
    assert result.detail  # never empty


async def test_up_expires_into_unknown_after_ttl() -> None:
    health = monitor(ScriptedProber(ProbeResult(up=True, detail="ok")))
    await health.probe("local")
    assert health.state("local") == "up"
    await asyncio.sleep(TTL * 3)
    assert health.state("local") == "unknown"
    # the last detail is kept for display
    assert health.health("local").state == "unknown"
    assert health.health("local").detail == "ok"


async def test_mark_up_also_expires_after_ttl() -> None:
    health = monitor(ScriptedProber())
    health.mark_up("local", latency_ms=1.0)
    assert health.state("local") == "up"
    await asyncio.sleep(TTL * 3)
    assert health.state("local") == "unknown"


async def test_mark_up_clears_down() -> None:
    health = monitor(ScriptedProber(), ttl=60)
    health.mark_down("local", "reset")
    health.mark_up("local", latency_ms=42.0)
    assert health.state("local") == "up"
    assert health.health("local").latency_ms == 42.0
    assert health.health("local").detail == "answered"


async def test_mark_up_keeps_known_models_and_latency_when_not_given() -> None:
    prober = ScriptedProber(ProbeResult(up=True, latency_ms=9.0, models=("coder",)))
    health = monitor(prober, ttl=60)
    await health.probe("local")
    health.mark_up("local")
    assert health.health("local").latency_ms == 9.0
    assert health.health("local").models == ("coder",)
    health.mark_up("local", latency_ms=42.0)
    assert health.health("local").latency_ms == 42.0
    assert health.health("local").models == ("coder",)


async def test_mark_up_after_down_keeps_models_learned_by_the_last_probe() -> None:
    prober = ScriptedProber(ProbeResult(up=True, latency_ms=9.0, models=("coder",)))
    health = monitor(prober, ttl=60)
    await health.probe("local")
    health.mark_down("local", "reset")
    health.mark_up("local", latency_ms=42.0)
    assert health.health("local").models == ("coder",)


async def test_probes_are_per_backend() -> None:
    prober = ScriptedProber()
    prober.results["cloud"] = ProbeResult(up=False, detail="no token")
    health = monitor(prober, ttl=60)
    results = await health.probe_all(["local", "cloud"])
    assert results["local"].state == "up"
    assert results["cloud"].state == "down"
    assert health.state("local") == "up"
    assert health.state("cloud") == "down"


# --- probing -----------------------------------------------------------------------------


async def test_concurrent_probes_run_the_prober_once() -> None:
    prober = ScriptedProber()
    prober.gate = asyncio.Event()
    health = monitor(prober, ttl=60)
    waiting = [asyncio.create_task(health.probe("local")) for _ in range(5)]
    await settle()
    prober.gate.set()
    results = await asyncio.gather(*waiting)
    assert prober.calls == ["local"]
    assert all(r == results[0] for r in results)
    assert results[0].state == "up"


async def test_a_later_probe_runs_the_prober_again() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    await health.probe("local")
    await settle()
    await health.probe("local")
    assert prober.calls == ["local", "local"]


async def test_cancelling_one_waiter_does_not_cancel_the_shared_probe() -> None:
    prober = ScriptedProber()
    prober.gate = asyncio.Event()
    health = monitor(prober, ttl=60)
    first = asyncio.create_task(health.probe("local"))
    second = asyncio.create_task(health.probe("local"))
    await settle()
    first.cancel()
    await settle()
    prober.gate.set()
    assert (await second).state == "up"
    assert prober.cancelled == 0
    assert health.state("local") == "up"


async def test_a_request_joins_a_probe_in_flight_to_its_answer() -> None:
    prober = ScriptedProber(ProbeResult(up=False, detail="connect timeout"))
    prober.delay = 0.3
    health = monitor(prober, ttl=60)
    probing = asyncio.create_task(health.probe("local"))
    await asyncio.sleep(0.2)  # the request arrives late in the probe
    assert await health.settle("local", 0.5) == "down"
    await probing


async def test_the_wait_for_a_probe_is_counted_from_the_probes_start() -> None:
    """A probe that answers after the time allowed from its start is not waited for, even
    when it answers within that time counted from the request's arrival."""
    prober = ScriptedProber()
    prober.gate = asyncio.Event()  # a live host that does not answer the probe yet
    health = monitor(prober, ttl=60)
    probing = asyncio.create_task(health.probe("local"))
    await asyncio.sleep(0.1)
    # 0.15 s from the probe's start ends about 0.05 s from now; the probe answers 0.08 s
    # from now, within 0.15 s of this call: counted from the call, it would be "up".
    asyncio.get_running_loop().call_later(0.08, prober.gate.set)
    assert await health.settle("local", 0.15) == "unknown"
    assert (await probing).state == "up"
    assert await health.settle("local", 0.15) == "up"  # no probe in flight: what is known


# --- listeners ---------------------------------------------------------------------------


async def test_listeners_are_called_on_state_changes_only() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    events: list[tuple[str, str]] = []
    health.on_change(lambda name, h: events.append((name, h.state)))

    health.mark_down("local", "refused")
    health.mark_down("local", "refused again")
    assert events == [("local", "down")]

    await health.probe("local")  # down → up
    await settle()
    await health.probe("local")  # up → up
    health.mark_up("local")  # up → up
    assert events == [("local", "down"), ("local", "up")]

    prober.results["local"] = ProbeResult(up=False, detail="gone")
    await health.probe("local")  # up → down
    assert events[-1] == ("local", "down")
    health.mark_up("local")  # down → up
    assert events[-1] == ("local", "up")
    assert len(events) == 4


def test_a_failing_listener_does_not_break_the_others() -> None:
    health = monitor(ScriptedProber())
    seen: list[str] = []

    def broken(_name: str, _health: BackendHealth) -> None:
        raise RuntimeError("listener bug")

    health.on_change(broken)
    health.on_change(lambda name, _h: seen.append(name))
    health.mark_down("local", "refused")
    assert seen == ["local"]
    assert health.state("local") == "down"


# --- refresh_soon ------------------------------------------------------------------------


def test_refresh_soon_without_a_running_loop_is_a_no_op() -> None:
    prober = ScriptedProber()
    health = monitor(prober)
    health.refresh_soon("local")
    assert prober.calls == []


async def test_refresh_soon_probes_an_unknown_backend_in_the_background() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    health.refresh_soon("local")
    assert health.state("local") == "unknown"  # it did not wait
    await wait_for(lambda: health.state("local") == "up")
    assert prober.calls == ["local"]


async def test_start_puts_the_first_probes_in_flight_before_returning() -> None:
    prober = ScriptedProber()
    prober.gate = asyncio.Event()
    health = monitor(prober)
    health.start(lambda: ["local", "lan"])
    # No task has run yet, and a request would already join these probes.
    assert health.probing("local") and health.probing("lan")
    prober.gate.set()
    await wait_for(lambda: health.state("local") == "up" and health.state("lan") == "up")
    assert sorted(prober.calls) == ["lan", "local"]
    await health.aclose()


async def test_refresh_soon_leaves_a_fresh_up_alone() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    health.mark_up("local")
    health.refresh_soon("local")
    await settle()
    assert prober.calls == []


async def test_refresh_soon_does_not_start_a_second_probe() -> None:
    prober = ScriptedProber()
    prober.gate = asyncio.Event()
    health = monitor(prober, ttl=60)
    health.refresh_soon("local")
    await settle()
    health.refresh_soon("local")
    health.refresh_soon("local")
    await settle()
    prober.gate.set()
    await wait_for(lambda: health.state("local") == "up")
    assert prober.calls == ["local"]


async def test_refresh_soon_reprobes_a_down_backend_without_retry_after() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    health.mark_down("local", "refused")
    health.refresh_soon("local")
    await wait_for(lambda: health.state("local") == "up")
    assert prober.calls == ["local"]


async def test_retry_after_delays_refresh_soon() -> None:
    prober = ScriptedProber()
    health = monitor(prober, ttl=60)
    health.mark_down("local", "HTTP 429", retry_after_s=0.15)
    health.refresh_soon("local")
    await asyncio.sleep(0.03)
    assert prober.calls == []
    assert health.state("local") == "down"
    await asyncio.sleep(0.15)
    health.refresh_soon("local")
    await wait_for(lambda: health.state("local") == "up")
    assert prober.calls == ["local"]


# --- the background loop -----------------------------------------------------------------


async def test_start_rechecks_down_backends_until_they_are_up() -> None:
    prober = ScriptedProber(ProbeResult(up=False, detail="refused"))
    health = monitor(prober, ttl=60, recheck=0.01)
    health.mark_down("local", "refused")
    health.start(lambda: ["local"])
    await wait_for(lambda: len(prober.calls) >= 2)
    assert health.state("local") == "down"
    prober.default = ProbeResult(up=True)
    await wait_for(lambda: health.state("local") == "up")
    calls = len(prober.calls)
    await asyncio.sleep(0.05)
    assert len(prober.calls) == calls  # fresh "up" is not probed again
    await health.aclose()


async def test_start_twice_runs_one_loop() -> None:
    health = monitor(ScriptedProber(), recheck=0.01)
    health.start(lambda: [])
    first = health._loop_task
    health.start(lambda: [])
    assert health._loop_task is first
    await health.aclose()


async def test_aclose_cancels_the_loop() -> None:
    prober = ScriptedProber(ProbeResult(up=False, detail="refused"))
    health = monitor(prober, recheck=0.01)
    health.start(lambda: ["local"])
    await wait_for(lambda: len(prober.calls) >= 1)
    loop_task = health._loop_task
    assert loop_task is not None
    await health.aclose()
    assert loop_task.cancelled()
    assert health._loop_task is None
    calls = len(prober.calls)
    await asyncio.sleep(0.05)
    assert len(prober.calls) == calls


async def test_aclose_cancels_running_probes() -> None:
    prober = ScriptedProber()
    prober.gate = asyncio.Event()  # never set: the probe hangs
    health = monitor(prober)
    health.refresh_soon("local")
    await settle()
    assert prober.calls == ["local"]
    await asyncio.wait_for(health.aclose(), timeout=1.0)
    assert prober.cancelled == 1
    assert health.state("local") == "unknown"


async def test_aclose_without_start_is_harmless_and_idempotent() -> None:
    health = monitor(ScriptedProber())
    await health.aclose()
    await health.aclose()
    assert health._loop_task is None
