"""The routing decision: order, privacy filtering, skipped entries and predictions."""

from __future__ import annotations

import random

import pytest

from localroute.config.models import (
    Config,
    Locality,
    PrivacyConfig,
    TaskConfig,
    backend_config,
)
from localroute.privacy.classify import PrivacyVerdict
from localroute.routing.router import (
    Candidate,
    RouteDecision,
    Skipped,
    decide,
    private_localities,
)

PUBLIC = PrivacyVerdict(private=False)
PRIVATE = PrivacyVerdict(private=True, reasons=("path matches privacy glob '**/secrets/**'",))

LOCALITIES: dict[str, Locality] = {
    "local": "local",
    "homelab": "private-network",
    "copilot": "cloud",
    "gemini": "cloud",
}


def make_config(
    route: list[str],
    *,
    route_private: list[str] | None = None,
    allow_private_network: bool = True,
    task: str = "review",
) -> Config:
    named = {e.partition(":")[0] for e in [*route, *(route_private or [])]}
    return Config(
        backends={n: backend_config(kind="openai", url="http://127.0.0.1:1/v1") for n in named},
        tasks={task: TaskConfig(route=route, route_private=route_private)},
        privacy=PrivacyConfig(allow_private_network=allow_private_network),
    )


def entries(decision: RouteDecision) -> list[str]:
    return [c.entry for c in decision.candidates]


# --- Candidate -------------------------------------------------------------------------


def test_label_local_has_no_locality_suffix() -> None:
    assert Candidate("local", "coder", "local").label() == "coder @ local"


def test_label_cloud_and_private_network_name_their_locality() -> None:
    assert Candidate("copilot", "m", "cloud").label() == "m @ copilot (cloud)"
    assert Candidate("homelab", "q", "private-network").label() == "q @ homelab (private-network)"


def test_entry_joins_backend_and_model() -> None:
    assert Candidate("homelab", "qwen3-coder:30b", "private-network").entry == (
        "homelab:qwen3-coder:30b"
    )


# --- private_localities ----------------------------------------------------------------


def test_private_localities_follow_allow_private_network() -> None:
    assert private_localities(make_config([])) == frozenset({"local", "private-network"})
    assert private_localities(make_config([], allow_private_network=False)) == frozenset({"local"})


# --- decide: public code -----------------------------------------------------------------


def test_route_order_is_kept_for_public_code() -> None:
    route = ["copilot:claude-sonnet-4.5", "local:coder", "homelab:qwen3-coder:30b"]
    decision = decide(make_config(route), "review", PUBLIC, LOCALITIES)
    assert decision.candidates == (
        Candidate("copilot", "claude-sonnet-4.5", "cloud"),
        Candidate("local", "coder", "local"),
        Candidate("homelab", "qwen3-coder:30b", "private-network"),
    )
    assert decision.skipped == ()
    assert decision.task == "review"
    assert not decision.private


def test_model_is_everything_after_the_first_colon() -> None:
    decision = decide(make_config(["homelab:qwen3-coder:30b"]), "review", PUBLIC, LOCALITIES)
    assert decision.candidates[0].backend == "homelab"
    assert decision.candidates[0].model == "qwen3-coder:30b"


def test_unknown_backend_is_skipped_with_reason() -> None:
    route = ["local:coder", "nowhere:big", "copilot:m"]
    decision = decide(make_config(route), "review", PUBLIC, LOCALITIES)
    assert entries(decision) == ["local:coder", "copilot:m"]
    assert decision.skipped == (Skipped("nowhere:big", "backend 'nowhere' is not configured"),)


def test_duplicates_are_removed_keeping_first_position() -> None:
    route = ["local:coder", "copilot:m", "local:coder", "copilot:m", "local:other"]
    decision = decide(make_config(route), "review", PUBLIC, LOCALITIES)
    assert entries(decision) == ["local:coder", "copilot:m", "local:other"]
    assert decision.skipped == ()


def test_route_private_is_ignored_for_public_code() -> None:
    config = make_config(["copilot:m", "local:coder"], route_private=["local:tiny"])
    decision = decide(config, "review", PUBLIC, LOCALITIES)
    assert entries(decision) == ["copilot:m", "local:coder"]


def test_unknown_task_has_no_candidates_and_says_why() -> None:
    decision = decide(make_config(["local:coder"]), "summarize", PUBLIC, LOCALITIES)
    assert decision.candidates == ()
    assert decision.skipped == (Skipped("summarize", "no such task configured"),)
    assert "no such task configured" in decision.why()


def test_empty_route_gives_no_candidates() -> None:
    decision = decide(make_config([]), "review", PUBLIC, LOCALITIES)
    assert decision.candidates == ()
    assert decision.skipped == ()


# --- decide: private code ----------------------------------------------------------------


def test_private_code_keeps_local_and_private_network_when_allowed() -> None:
    route = ["copilot:m", "local:coder", "gemini:pro", "homelab:q"]
    decision = decide(make_config(route), "review", PRIVATE, LOCALITIES)
    assert entries(decision) == ["local:coder", "homelab:q"]
    assert decision.private
    assert [s.entry for s in decision.skipped] == ["copilot:m", "gemini:pro"]
    assert all(s.reason == "cloud backend may not receive private code" for s in decision.skipped)


def test_private_code_keeps_only_local_when_private_network_not_allowed() -> None:
    route = ["homelab:q", "local:coder", "copilot:m"]
    config = make_config(route, allow_private_network=False)
    decision = decide(config, "review", PRIVATE, LOCALITIES)
    assert entries(decision) == ["local:coder"]
    assert decision.skipped == (
        Skipped("homelab:q", "private-network backend may not receive private code"),
        Skipped("copilot:m", "cloud backend may not receive private code"),
    )


def test_route_private_is_used_for_private_code() -> None:
    config = make_config(["local:coder", "homelab:q"], route_private=["local:tiny", "homelab:q"])
    decision = decide(config, "review", PRIVATE, LOCALITIES)
    assert entries(decision) == ["local:tiny", "homelab:q"]


def test_route_private_listing_a_cloud_backend_still_drops_it() -> None:
    config = make_config(["local:coder"], route_private=["copilot:m", "local:tiny"])
    decision = decide(config, "review", PRIVATE, LOCALITIES)
    assert entries(decision) == ["local:tiny"]
    assert decision.skipped == (Skipped("copilot:m", "cloud backend may not receive private code"),)


def test_route_private_cannot_widen_to_private_network_when_disallowed() -> None:
    config = make_config(["local:coder"], route_private=["homelab:q"], allow_private_network=False)
    decision = decide(config, "review", PRIVATE, LOCALITIES)
    assert decision.candidates == ()
    assert decision.skipped[0].reason == "private-network backend may not receive private code"


def test_private_code_with_only_cloud_route_has_no_candidates() -> None:
    decision = decide(make_config(["copilot:a", "gemini:b"]), "review", PRIVATE, LOCALITIES)
    assert decision.candidates == ()
    assert len(decision.skipped) == 2


def test_localities_mapping_decides_not_the_backend_name() -> None:
    # A backend called "local" that is really in the cloud is treated as cloud.
    localities: dict[str, Locality] = {"local": "cloud", "box": "local"}
    decision = decide(make_config(["local:coder", "box:m"]), "review", PRIVATE, localities)
    assert entries(decision) == ["box:m"]


# --- predicted -------------------------------------------------------------------------


def test_predicted_skips_known_down() -> None:
    decision = decide(make_config(["local:coder", "copilot:m"]), "review", PUBLIC, LOCALITIES)
    states = {"local": "down", "copilot": "up"}
    assert decision.predicted(lambda n: states[n]) == Candidate("copilot", "m", "cloud")


def test_predicted_treats_unknown_as_up() -> None:
    decision = decide(make_config(["local:coder", "copilot:m"]), "review", PUBLIC, LOCALITIES)
    assert decision.predicted(lambda n: "unknown") == Candidate("local", "coder", "local")


def test_predicted_is_none_when_all_down() -> None:
    decision = decide(make_config(["local:coder", "copilot:m"]), "review", PUBLIC, LOCALITIES)
    assert decision.predicted(lambda n: "down") is None


def test_predicted_never_offers_cloud_for_private_code_even_when_local_down() -> None:
    decision = decide(make_config(["local:coder", "copilot:m"]), "review", PRIVATE, LOCALITIES)
    assert decision.predicted(lambda n: "down" if n == "local" else "up") is None


# --- why -------------------------------------------------------------------------------


def test_why_for_public_code_without_skips() -> None:
    decision = decide(make_config(["local:coder"]), "review", PUBLIC, LOCALITIES)
    assert decision.why() == "not private"


def test_why_names_privacy_reason_and_skipped_entries() -> None:
    route = ["copilot:m", "local:coder", "ghost:x"]
    decision = decide(make_config(route), "review", PRIVATE, LOCALITIES)
    why = decision.why()
    assert why.startswith("private (path matches privacy glob '**/secrets/**')")
    assert "copilot:m: cloud backend may not receive private code" in why
    assert "ghost:x: backend 'ghost' is not configured" in why
    # privacy first, then the skipped entries
    assert why.index("private") < why.index("skipped")


# --- property: a private verdict never yields a cloud candidate --------------------------
# (hypothesis is not installed in the venv; a seeded random search stands in for it)

_NAMES = ["a", "b", "c", "d", "e"]
_LOCS: tuple[Locality, ...] = ("local", "private-network", "cloud")


def _random_case(rng: random.Random) -> tuple[Config, dict[str, Locality]]:
    localities: dict[str, Locality] = {
        name: rng.choice(_LOCS) for name in _NAMES if rng.random() < 0.8
    }

    def route() -> list[str]:
        return [
            f"{rng.choice(_NAMES)}:{rng.choice(['m', 'n:1'])}" for _ in range(rng.randint(0, 6))
        ]

    config = make_config(
        route(),
        route_private=route() if rng.random() < 0.5 else None,
        allow_private_network=rng.random() < 0.5,
    )
    return config, localities


@pytest.mark.parametrize("seed", range(5))
def test_private_verdict_never_yields_a_disallowed_candidate(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        config, localities = _random_case(rng)
        decision = decide(config, "review", PRIVATE, localities)
        allowed = private_localities(config)
        for candidate in decision.candidates:
            assert candidate.locality != "cloud"
            assert candidate.locality in allowed
            assert localities[candidate.backend] == candidate.locality
        # every entry is accounted for: a candidate, a skip, or a duplicate of a candidate
        task = config.tasks["review"]
        source = task.route_private if task.route_private is not None else task.route
        seen = {c.entry for c in decision.candidates} | {s.entry for s in decision.skipped}
        assert set(source) == seen
        states = {name: rng.choice(["up", "down", "unknown"]) for name in _NAMES}
        predicted = decision.predicted(states.__getitem__)
        assert predicted is None or predicted.locality != "cloud"


@pytest.mark.parametrize("seed", range(3))
def test_public_verdict_keeps_every_configured_entry_in_order(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(200):
        config, localities = _random_case(rng)
        decision = decide(config, "review", PUBLIC, localities)
        expected = list(
            dict.fromkeys(e for e in config.tasks["review"].route if e.split(":")[0] in localities)
        )
        assert entries(decision) == expected
